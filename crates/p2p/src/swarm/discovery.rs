//! Identify and Kademlia: learning peers' addresses and dialling the ones discovered.

use super::*;

impl SwarmTask {
    pub(super) fn on_identify(&mut self, event: identify::Event) {
        if let identify::Event::Received { peer_id, info, .. } = event {
            let speaks_kad = info.protocols.contains(&KAD_PROTOCOL);
            if speaks_kad {
                for addr in &info.listen_addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, addr.clone());
                }
            }
            if let Some(state) = self.peers.get_mut(&peer_id) {
                state.listen = info.listen_addrs;
            }
        }
    }

    pub(super) fn on_kad(&mut self, event: kad::Event) {
        if let kad::Event::OutboundQueryProgressed {
            id,
            result: kad::QueryResult::GetClosestPeers(result),
            step,
            ..
        } = &event
        {
            let Some((target, _)) = self.pending_finds.get(id) else {
                return;
            };
            let target = *target;
            let found = match result {
                Ok(ok) => &ok.peers,
                Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
            };
            let addrs: Vec<Multiaddr> = found
                .iter()
                .filter(|p| p.peer_id == target)
                .flat_map(|p| p.addrs.iter().cloned())
                .collect();
            if addrs.is_empty() && !step.last {
                return;
            }
            if let Some((_, reply)) = self.pending_finds.remove(id) {
                let mut out = Vec::with_capacity(addrs.len());
                for a in addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&target, a.clone());
                    out.push(with_peer(a, target).to_string());
                }
                debug!(peer = %target, found = out.len(), "Kademlia lookup finished");
                let _ = reply.send(out);
            }
            return;
        }
        if let kad::Event::RoutingUpdated {
            peer, is_new_peer, ..
        } = event
        {
            // Small permissioned network: connect to every node we learn about, up to the target.
            let wanted = is_new_peer
                && peer != self.local_peer
                && !self.peers.contains_key(&peer)
                && self.peers.len() < self.target_peers
                && !self.is_banned(&peer);
            if wanted {
                debug!(%peer, "dialling peer discovered through Kademlia");
                if let Err(e) = self.swarm.dial(DialOpts::peer_id(peer).build()) {
                    debug!(%peer, error = %e, "could not dial discovered peer");
                }
            }
        }
    }
}
