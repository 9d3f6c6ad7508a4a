//! Which connections this node pings. Every connection used to be pinged from both ends every
//! `P2pConfig::ping_interval`, and pings were half of what an idle network cost (100 idle
//! peers: 0.96 of a core with them, 0.45 without). Only some peers' liveness matters: the
//! nodes with a consensus role, whose pause stalls turns and rounds. So a node pings only the
//! connections to peers outside [`Unpinged`] (the embedder lists the certified peers whose
//! pause nobody waits for) and answers every ping it gets: a department pings its endorser,
//! and the endorser answers without pinging the department back.
//!
//! libp2p's ping behaviour pings every connection it has; this wraps it and gives the
//! connections to unpinged peers a handler that only answers.

use super::*;
use futures::future::BoxFuture;
use futures::{AsyncReadExt, AsyncWriteExt, FutureExt};
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, FromSwarm, SubstreamProtocol,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use std::convert::Infallible;
use std::task::{Context, Poll};

/// The peers this node does not ping, shared with the embedder (which updates it as the
/// membership changes; a connection keeps the choice made when it opened).
pub type Unpinged = Arc<RwLock<HashSet<PublicKey>>>;

/// libp2p's ping on the connections to pinged peers, an answering handler on the others.
pub(super) struct Pings {
    inner: ping::Behaviour,
    unpinged: Option<Unpinged>,
}

impl Pings {
    pub(super) fn new(inner: ping::Behaviour, unpinged: Option<Unpinged>) -> Self {
        Self { inner, unpinged }
    }

    /// Whether this node pings `peer` (a peer id that embeds no key is pinged).
    fn pings(&self, peer: &PeerId) -> bool {
        let Some(set) = &self.unpinged else {
            return true;
        };
        let Ok(key) = crate::identity::key_of(peer) else {
            return true;
        };
        !set.read().unwrap_or_else(|e| e.into_inner()).contains(&key)
    }
}

type Inner = <ping::Behaviour as NetworkBehaviour>::ConnectionHandler;

impl NetworkBehaviour for Pings {
    type ConnectionHandler = either::Either<Inner, Answerer>;
    type ToSwarm = ping::Event;

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.pings(&peer) {
            return Ok(either::Either::Right(Answerer::default()));
        }
        self.inner
            .handle_established_inbound_connection(id, peer, local, remote)
            .map(either::Either::Left)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.pings(&peer) {
            return Ok(either::Either::Right(Answerer::default()));
        }
        self.inner
            .handle_established_outbound_connection(id, peer, addr, role_override, port_use)
            .map(either::Either::Left)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {
            either::Either::Left(e) => self.inner.on_connection_handler_event(peer, id, e),
            either::Either::Right(never) => match never {},
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx).map(|e| e.map_in(either::Either::Left))
    }
}

/// A connection handler that answers pings (libp2p's ping protocol: the 32 bytes sent back on
/// the stream the peer keeps open) and sends none. It keeps nothing alive.
#[derive(Default)]
pub(super) struct Answerer {
    answering: Option<BoxFuture<'static, std::io::Result<libp2p::Stream>>>,
}

/// Reads one ping and writes it back.
async fn pong(mut stream: libp2p::Stream) -> std::io::Result<libp2p::Stream> {
    let mut payload = [0u8; 32];
    stream.read_exact(&mut payload).await?;
    stream.write_all(&payload).await?;
    stream.flush().await?;
    Ok(stream)
}

impl ConnectionHandler for Answerer {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(ping::PROTOCOL_NAME), ())
    }

    fn on_behaviour_event(&mut self, never: Infallible) {
        match never {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(fut) = self.answering.as_mut() {
            match fut.poll_unpin(cx) {
                Poll::Pending => {}
                // The peer closed its stream or broke it: wait for its next one.
                Poll::Ready(Err(_)) => self.answering = None,
                // Answered: the same stream carries the peer's next ping.
                Poll::Ready(Ok(stream)) => self.answering = Some(pong(stream).boxed()),
            }
        }
        Poll::Pending
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: mut stream,
            ..
        }) = event
        {
            stream.ignore_for_keep_alive();
            self.answering = Some(pong(stream).boxed());
        }
    }
}
