//! The node protocol's request-response behaviour, with codecs that know their peer.
//!
//! libp2p's request-response codec is never told which peer a stream belongs to, yet the limit
//! on a request depends on it: an admitted peer may send a multi-megabyte pre-prepare, a peer
//! that has not shown a certificate only a Hello. This wrapper delegates everything to
//! `request_response::Behaviour`, except that while the inner behaviour builds a connection's
//! handler (the moment it copies its codec for that connection) it publishes the connection's
//! peer in the codec's binding slot, so that copy, and every per-stream copy made from it, reads
//! with that peer's limit. `tests/gate.rs` (`node_protocol_requests_are_limited_by_the_senders_role`)
//! checks, on real sockets, the copying pattern this relies on.

use crate::codec::ProstCodec;
use libp2p::core::Endpoint;
use libp2p::core::transport::PortUse;
use libp2p::request_response;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

type Inner = request_response::Behaviour<ProstCodec>;

/// `request_response::Behaviour<ProstCodec>` whose per-connection codecs are bound to their peer.
pub(crate) struct PeerBound {
    pub(crate) inner: Inner,
    binding: Arc<Mutex<Option<PeerId>>>,
}

/// Clears the binding slot when dropped, whatever the inner behaviour returned.
struct Bind(Arc<Mutex<Option<PeerId>>>);

impl Drop for Bind {
    fn drop(&mut self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl PeerBound {
    /// Wraps `inner`, whose codec was built with `binding` as its roles' binding slot.
    pub(crate) fn new(inner: Inner, binding: Arc<Mutex<Option<PeerId>>>) -> Self {
        Self { inner, binding }
    }

    fn bind(&self, peer: PeerId) -> Bind {
        *self.binding.lock().unwrap_or_else(|e| e.into_inner()) = Some(peer);
        Bind(self.binding.clone())
    }
}

impl NetworkBehaviour for PeerBound {
    type ConnectionHandler = <Inner as NetworkBehaviour>::ConnectionHandler;
    type ToSwarm = <Inner as NetworkBehaviour>::ToSwarm;

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
        let _bind = self.bind(peer);
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner
            .handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let _bind = self.bind(peer);
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner.on_connection_handler_event(peer, id, event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}
