//! How many connections the node accepts, in two pools. The network's members (the peers the
//! embedder lists in [`Members`]: the nodes certified on the ledger) are bounded per peer
//! only, so their number is bounded by the membership the CA decided; everyone else (light
//! nodes, visitors, nodes whose certificate is not decided yet) shares
//! `P2pConfig::max_connections`. With one pool for all, a hub of a 300-node network sat at its
//! 256 connections and 20 certified nodes never got a peer (they bootstrap through the hubs),
//! and a flood of anonymous connections could lock a hospital's own peers out.
//!
//! libp2p's `connection_limits` still keeps the pending-handshake and per-peer limits for
//! every connection; its bypass list cannot serve here, since a bypassed peer's connections
//! still count towards everyone else's total and escape the per-peer limit.

use super::*;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::behaviour::ConnectionEstablished;
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, FromSwarm, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use std::task::{Context, Poll};

/// The network's members, shared with the embedder (which keeps it in step with the
/// configuration in force). A connection keeps the pool it was counted in when it opened.
pub type Members = Arc<RwLock<HashSet<PublicKey>>>;

/// A connection refused because the pool of non-members is full.
#[derive(Debug, thiserror::Error)]
#[error("{limit} connections from peers that are not members are open already")]
pub(super) struct NonMembersFull {
    limit: u32,
}

/// `connection_limits` for everyone, plus the non-members' own total.
pub(super) struct Limits {
    inner: connection_limits::Behaviour,
    members: Option<Members>,
    max_non_members: u32,
    non_members: HashSet<ConnectionId>,
}

impl Limits {
    /// `max_non_members` bounds the connections of peers outside `members` (all peers when
    /// `members` is `None`); `pending_incoming` and `per_peer` apply to every connection.
    pub(super) fn new(
        members: Option<Members>,
        max_non_members: u32,
        per_peer: u32,
        pending_incoming: u32,
    ) -> Self {
        Self {
            inner: connection_limits::Behaviour::new(
                connection_limits::ConnectionLimits::default()
                    .with_max_established_per_peer(Some(per_peer))
                    .with_max_pending_incoming(Some(pending_incoming)),
            ),
            members,
            max_non_members,
            non_members: HashSet::new(),
        }
    }

    /// Whether `peer` is a member (a peer id that embeds no key is not).
    fn is_member(&self, peer: &PeerId) -> bool {
        let Some(set) = &self.members else {
            return false;
        };
        let Ok(key) = key_of(peer) else {
            return false;
        };
        set.read().unwrap_or_else(|e| e.into_inner()).contains(&key)
    }

    fn check(&self, peer: &PeerId) -> Result<(), ConnectionDenied> {
        if self.is_member(peer) || self.non_members.len() < self.max_non_members as usize {
            return Ok(());
        }
        Err(ConnectionDenied::new(NonMembersFull {
            limit: self.max_non_members,
        }))
    }
}

impl NetworkBehaviour for Limits {
    type ConnectionHandler = <connection_limits::Behaviour as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = <connection_limits::Behaviour as NetworkBehaviour>::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler = self
            .inner
            .handle_established_inbound_connection(id, peer, local, remote)?;
        self.check(&peer)?;
        Ok(handler)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let handler = self
            .inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)?;
        self.check(&peer)?;
        Ok(handler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                ..
            }) if !self.is_member(&peer_id) => {
                self.non_members.insert(connection_id);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.non_members.remove(&connection_id);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}
