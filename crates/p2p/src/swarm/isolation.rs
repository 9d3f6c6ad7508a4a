//! Cutting this node off from every peer, or from every peer but a kept few (one side of a
//! partition), and letting it back (fault injection, `testnet perturb NODE
//! disconnect|reconnect` and `testnet partition`, through the node's admin API).
//!
//! Built on the ban list the swarm already runs (`libp2p::allow_block_list`): isolating blocks
//! every peer the node knows (connected, in Kademlia's routing table, bootstrap), which closes
//! their connections and makes the behaviour deny every new connection to or from them in
//! both directions; a peer that is not known yet and connects while the node is isolated is
//! blocked the moment its identity is known (before the node hears of it). The peers blocked
//! this way are kept apart from real bans ([`Command::Disconnect`]): rejoining lifts only them,
//! then redials every address remembered when the node was cut off, and the bootstrap peers.
//! The kept peers (the other nodes on this side of a partition) are never blocked: their
//! connections stay, and they may connect and be dialled meanwhile.

use super::*;

/// What the node was cut off from, to undo it.
#[derive(Default)]
pub(super) struct Isolation {
    /// Peers blocked by the isolation (not banned for cause).
    blocked: HashSet<PeerId>,
    /// Where the peers were reachable when the node was cut off.
    redial: HashMap<PeerId, Vec<Multiaddr>>,
    /// Peers left reachable (this node's side of a partition).
    keep: HashSet<PeerId>,
}

impl SwarmTask {
    /// Cuts the node off from every peer but `keep`; returns how many connected peers were
    /// cut off. Isolating again replaces the kept set (a peer no longer kept is blocked).
    pub(super) fn isolate(&mut self, keep: HashSet<PeerId>) -> usize {
        let connected = self.peers.keys().filter(|p| !keep.contains(p)).count();
        let mut iso = self.isolation.take().unwrap_or_default();
        // Peers blocked by an earlier cut and kept now are let back.
        for peer in keep.iter().filter(|p| iso.blocked.contains(p)) {
            self.swarm.behaviour_mut().ban.unblock_peer(*peer);
        }
        iso.blocked.retain(|p| !keep.contains(p));
        iso.keep = keep;
        let mut known: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
        for (peer, state) in &self.peers {
            let addrs = if state.listen.is_empty() {
                state.connected_on.clone()
            } else {
                state.listen.clone()
            };
            known.entry(*peer).or_default().extend(addrs);
        }
        for bucket in self.swarm.behaviour_mut().kad.kbuckets() {
            for entry in bucket.iter() {
                known
                    .entry(*entry.node.key.preimage())
                    .or_default()
                    .extend(entry.node.value.iter().cloned());
            }
        }
        for addr in &self.bootstrap {
            if let Some(Protocol::P2p(peer)) = addr.iter().last() {
                known.entry(peer).or_default().push(addr.clone());
            }
        }
        for (peer, addrs) in known {
            if peer == self.local_peer || iso.keep.contains(&peer) {
                continue;
            }
            self.block_for_isolation(&mut iso, peer);
            let kept = iso.redial.entry(peer).or_default();
            for a in addrs {
                if !kept.contains(&a) {
                    kept.push(a);
                }
            }
        }
        info!(
            peers = connected,
            blocked = iso.blocked.len(),
            kept = iso.keep.len(),
            "p2p: cut off from every peer{}",
            if iso.keep.is_empty() {
                ""
            } else {
                " but the kept ones (a partition)"
            }
        );
        let alone = iso.keep.is_empty();
        self.isolation = Some(iso);
        self.shared.isolated.store(alone, Ordering::Relaxed);
        self.shared.cut.store(true, Ordering::Relaxed);
        connected
    }

    fn block_for_isolation(&mut self, iso: &mut Isolation, peer: PeerId) {
        if self.is_banned(&peer) {
            return; // banned for cause, or already blocked: stays as it is
        }
        // Closes its connections; denied both ways from now on.
        self.swarm.behaviour_mut().ban.block_peer(peer);
        iso.blocked.insert(peer);
    }

    /// A connection from or to a peer nobody knew was established while the node is cut off:
    /// blocks the peer (closing it) unless it is kept. Returns whether the connection is to
    /// be ignored.
    pub(super) fn refuse_while_isolated(&mut self, peer: PeerId) -> bool {
        if self.may_reach(&peer) {
            return false;
        }
        let Some(mut iso) = self.isolation.take() else {
            return false;
        };
        self.block_for_isolation(&mut iso, peer);
        let _ = self.swarm.disconnect_peer_id(peer);
        self.isolation = Some(iso);
        true
    }

    /// A peer banned for cause while the node is cut off stays banned when it rejoins.
    pub(super) fn keep_banned(&mut self, peer: &PeerId) {
        if let Some(iso) = self.isolation.as_mut() {
            iso.blocked.remove(peer);
            iso.redial.remove(peer);
        }
    }

    /// Lets the node back: lifts the isolation's blocks and redials the peers it was cut off
    /// from. Returns how many peers it dials.
    pub(super) fn rejoin(&mut self) -> usize {
        let Some(iso) = self.isolation.take() else {
            return 0;
        };
        self.shared.isolated.store(false, Ordering::Relaxed);
        self.shared.cut.store(false, Ordering::Relaxed);
        for peer in &iso.blocked {
            self.swarm.behaviour_mut().ban.unblock_peer(*peer);
        }
        let mut dialled = 0;
        for (peer, addrs) in iso.redial {
            if self.is_banned(&peer) || addrs.is_empty() {
                continue;
            }
            for a in &addrs {
                let plain = strip_peer(a.clone());
                self.swarm.behaviour_mut().kad.add_address(&peer, plain);
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs.into_iter().map(strip_peer).collect())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => dialled += 1,
                Err(e) => debug!(%peer, error = %e, "could not redial peer after rejoining"),
            }
        }
        let anonymous: Vec<Multiaddr> = self
            .bootstrap
            .iter()
            .filter(|a| !matches!(a.iter().last(), Some(Protocol::P2p(_))))
            .cloned()
            .collect();
        for a in anonymous {
            if self.swarm.dial(a).is_ok() {
                dialled += 1;
            }
        }
        let _ = self.swarm.behaviour_mut().kad.bootstrap();
        info!(dialled, "p2p: rejoined the network");
        dialled
    }

    /// Whether the node may be connected to `peer`: it is not cut off, or `peer` is on its
    /// side of the partition.
    pub(super) fn may_reach(&self, peer: &PeerId) -> bool {
        self.isolation
            .as_ref()
            .is_none_or(|iso| iso.keep.contains(peer))
    }
}

/// `addr` without a trailing `/p2p/<peer>`.
fn strip_peer(mut addr: Multiaddr) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}
