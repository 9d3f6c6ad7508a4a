//! What the rest of the node holds: a cloneable handle that sends commands to the swarm task,
//! and the two event receivers the swarm task feeds.

use crate::P2pError;
use crate::identity::to_peer_id;
use crate::stats::{Counters, P2pStats};
use crate::topic::Topic;
use libp2p::PeerId;
use libp2p::gossipsub::MessageId;
use libp2p::request_response::ResponseChannel;
use medblock_core::keys::PublicKey;
use medblock_core::wire::{NetRequest, NetResponse};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The node's verdict on a gossip message after checking it (signatures, certificate, rules).
/// Gossipsub holds every message until it gets one, and only forwards accepted messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: forward it to the rest of the mesh.
    Accept,
    /// Invalid (bad signature, forged content): drop it and penalise the peer that sent it.
    Reject,
    /// Not invalid but not worth forwarding (stale, duplicate, overloaded): drop without penalty.
    Ignore,
}

/// Identifies a received gossip message for [`NetworkHandle::report_gossip`]. Opaque: it holds
/// the gossipsub message id and the peer it came from, which libp2p needs for the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GossipId {
    pub(crate) id: MessageId,
    pub(crate) from: PeerId,
}

/// The way back to a peer that sent a request; pass it to [`NetworkHandle::respond`] exactly
/// once. Opaque and not `Clone` because a request has exactly one answer; dropping it without
/// responding makes the requester see a closed stream.
pub struct ResponseToken {
    pub(crate) channel: ResponseChannel<NetResponse>,
    pub(crate) via: Via,
}

/// Which request-response protocol a request came on (the answer goes back on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Via {
    /// The node protocol: certified peers.
    Node,
    /// The light protocol: light nodes and anyone else.
    Light,
}

impl std::fmt::Debug for ResponseToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseToken")
    }
}

/// A connected peer, as reported by [`NetworkHandle::peers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's node key (authenticated by the noise handshake; its certificate is checked by
    /// the node's Hello exchange, not here).
    pub key: PublicKey,
    /// The addresses the peer listens on (from identify), or else those we are connected on.
    pub addrs: Vec<String>,
}

/// Something the network delivers to the node.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A gossip message, held by gossipsub until the node calls
    /// [`NetworkHandle::report_gossip`] with `id` (unreported messages are not forwarded).
    Gossip {
        /// The neighbour that forwarded it to us (the one penalised on `Verdict::Reject`).
        /// Gossip is unsigned at this layer: the payload names and proves its own author.
        propagated_by: PublicKey,
        /// The topic it arrived on.
        topic: Topic,
        /// Pass back to `report_gossip`.
        id: GossipId,
        /// The payload (a `wire::GossipMessage`, unparsed: the node decides how to check it).
        data: Vec<u8>,
    },
    /// A request from a peer; answer with [`NetworkHandle::respond`] and `token`.
    Request {
        /// The authenticated key of the requesting node.
        from: PublicKey,
        /// The decoded request (its `kind` is always set; empty requests are answered MALFORMED
        /// here). Boxed so that every queued event is not as large as the largest request.
        request: Box<NetRequest>,
        /// Where the answer goes.
        token: ResponseToken,
    },
    /// The first connection to a peer opened: time to send it a Hello.
    PeerConnected {
        /// The peer's key.
        key: PublicKey,
        /// The remote address of that connection.
        addr: String,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer's key.
        key: PublicKey,
    },
    /// A connected peer stopped answering pings for `P2pConfig::unresponsive_after` (paused,
    /// wedged, or gone without closing its connections). Its connections stay open: it is
    /// either disconnected later or answers again ([`NetworkEvent::PeerResponsive`]).
    PeerUnresponsive {
        /// The peer.
        key: PublicKey,
    },
    /// A peer reported [`NetworkEvent::PeerUnresponsive`] answered a ping again.
    PeerResponsive {
        /// The peer.
        key: PublicKey,
    },
    /// A peer subscribed to a topic (a publish on it can now reach someone).
    Subscribed {
        /// The peer's key.
        key: PublicKey,
        /// The topic.
        topic: Topic,
    },
}

/// The two receivers out of the swarm task. Both are bounded (`P2pConfig::event_capacity`).
#[derive(Debug)]
pub struct NetworkEvents {
    /// Consensus-critical events, never dropped: requests of kind `hello`, `consensus` and
    /// `catch_up`; gossip on `Topic::Consensus` and `Topic::Blocks`; `PeerConnected`,
    /// `PeerDisconnected`, `PeerUnresponsive`, `PeerResponsive` and `Subscribed`. When this
    /// channel is full the swarm task stops reading the network and waits (back-pressure;
    /// counted in `P2pStats::consensus_backpressure`)
    /// while still executing handle commands, so `respond`, `publish` and `report_gossip` from the
    /// consumer never deadlock. Do not await `NetworkHandle::request` in the loop that drains this
    /// channel: its answer needs the network to be read again; spawn it instead.
    pub consensus: mpsc::Receiver<NetworkEvent>,
    /// Everything else: requests of kind `upload` and `receipts`, gossip on `Topic::Ledger` and
    /// `Topic::Config`. When full, a request is answered at once with
    /// `ErrorReply{code: BUSY}` (counted in `P2pStats::dropped_requests_other`) and gossip is
    /// reported `Ignore` (counted in `P2pStats::dropped_gossip_other`).
    pub other: mpsc::Receiver<NetworkEvent>,
    /// Light-node requests (`challenge`, `query`, `headers`, `access_upload`), which anyone may
    /// send: their own channel (`P2pConfig::light_capacity`), so a flood of them never delays
    /// a department's uploads. When full, a request is answered BUSY at once (counted in
    /// `P2pStats::dropped_requests_light`).
    pub light: mpsc::Receiver<NetworkEvent>,
}

/// Commands from handles to the swarm task.
pub(crate) enum Command {
    Publish {
        topic: Topic,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Request {
        to: PublicKey,
        request: Box<NetRequest>,
        /// Dial the peer when not connected (else fail with `ConnectionClosed`).
        dial: bool,
        reply: oneshot::Sender<Result<NetResponse, P2pError>>,
    },
    Respond {
        token: ResponseToken,
        response: NetResponse,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Report {
        id: GossipId,
        verdict: Verdict,
    },
    Dial {
        addr: String,
        reply: oneshot::Sender<Result<(), P2pError>>,
    },
    Disconnect {
        peer: PeerId,
    },
    Close {
        peer: PeerId,
    },
    Admit {
        peer: PeerId,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerInfo>>,
    },
    Isolate {
        keep: HashSet<PeerId>,
        reply: oneshot::Sender<usize>,
    },
    Rejoin {
        reply: oneshot::Sender<usize>,
    },
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Vec<String>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// State shared by handles and the swarm task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub local_key: PublicKey,
    pub listen_addrs: Mutex<Vec<String>>,
    pub counters: Arc<Counters>,
    pub max_message_bytes: usize,
    pub request_timeout: Duration,
    /// Cut off from every peer ([`NetworkHandle::isolate`] with nobody kept).
    pub isolated: AtomicBool,
    /// Cut off from every peer or from all but a kept few ([`NetworkHandle::isolate`]).
    pub cut: AtomicBool,
    /// `P2pConfig::target_peers`.
    pub target_peers: usize,
}

/// The node's way to use the network. Cheap to clone (a channel sender and an `Arc`), `Send`
/// and `Sync`; every clone talks to the same swarm task. The command channel is bounded
/// (`P2pConfig::command_capacity`): when it is full, calls wait until the task catches up.
/// After shutdown every call returns `P2pError::Shutdown` (or does nothing, for calls without
/// a result).
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
}

impl NetworkHandle {
    async fn send(&self, cmd: Command) -> Result<(), P2pError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| P2pError::Shutdown)
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx)).await?;
        rx.await.map_err(|_| P2pError::Shutdown)
    }

    /// This node's key, which is also its network identity.
    pub fn local_key(&self) -> PublicKey {
        self.shared.local_key
    }

    /// The addresses this node listens on, each ending in `/p2p/<peer id>` so another node can
    /// use it directly as a bootstrap address.
    pub fn listen_addrs(&self) -> Vec<String> {
        self.shared
            .listen_addrs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Publishes `data` (an encoded `wire::GossipMessage`) on `topic`. Not queued: if no
    /// connected peer is subscribed to the topic yet, this fails with
    /// `P2pError::InsufficientPeers` and the caller decides whether to retry (e.g. after a
    /// `NetworkEvent::Subscribed`). Messages over `max_message_bytes` fail with `MessageTooLarge`.
    pub async fn publish(&self, topic: Topic, data: Vec<u8>) -> Result<(), P2pError> {
        let max = self.shared.max_message_bytes;
        if data.len() > max {
            return Err(P2pError::MessageTooLarge {
                size: data.len(),
                max,
            });
        }
        self.call(|reply| Command::Publish { topic, data, reply })
            .await?
    }

    /// Sends `request` to the node with key `to` and waits for its answer, dialling it if needed
    /// (through addresses learned from bootstrap, identify or Kademlia). Fails with `Timeout`,
    /// `DialFailure` (unknown or unreachable peer), `ConnectionClosed`, `UnsupportedProtocol`,
    /// `Io` (e.g. oversized frame), `Banned` or `Shutdown`.
    pub async fn request(
        &self,
        to: PublicKey,
        request: NetRequest,
    ) -> Result<NetResponse, P2pError> {
        self.send_request(to, request, true).await
    }

    /// [`NetworkHandle::request`] over a connection that is open now, never dialling: fails
    /// with `ConnectionClosed` when there is none. For the certificate handshake, which a
    /// connection opens: a peer that closed that connection (beyond its peer budget, say)
    /// would otherwise be dialled again by the handshake's own request, admitted, closed
    /// again, and so on; a restarted node saw each of its 99 peers connect up to 15 times in
    /// two seconds.
    pub async fn request_connected(
        &self,
        to: PublicKey,
        request: NetRequest,
    ) -> Result<NetResponse, P2pError> {
        self.send_request(to, request, false).await
    }

    async fn send_request(
        &self,
        to: PublicKey,
        request: NetRequest,
        dial: bool,
    ) -> Result<NetResponse, P2pError> {
        let request = Box::new(request);
        let fut = self.call(|reply| Command::Request {
            to,
            request,
            dial,
            reply,
        });
        // libp2p times out the exchange itself; this outer bound also covers a dial that hangs.
        let limit = self.shared.request_timeout.saturating_mul(2);
        match tokio::time::timeout(limit, fut).await {
            Ok(res) => res?,
            Err(_) => Err(P2pError::Timeout { peer: to.to_hex() }),
        }
    }

    /// Answers the request that came with `token`. Fails with `ResponseChannelClosed` if the
    /// requester has gone (timed out, disconnected).
    pub async fn respond(
        &self,
        token: ResponseToken,
        response: NetResponse,
    ) -> Result<(), P2pError> {
        self.call(|reply| Command::Respond {
            token,
            response,
            reply,
        })
        .await?
    }

    /// Reports the node's verdict on a gossip message: `Accept` forwards it, `Reject` drops it
    /// and lowers the forwarding peer's score, `Ignore` drops it. Unknown or expired ids are
    /// ignored by gossipsub; after shutdown this does nothing.
    pub async fn report_gossip(&self, id: GossipId, verdict: Verdict) {
        let _ = self.send(Command::Report { id, verdict }).await;
    }

    /// Connects to `addr` (a multiaddr, optionally ending in `/p2p/<peer id>`) and returns once
    /// the connection is established (or at once if that peer is already connected).
    pub async fn dial(&self, addr: String) -> Result<(), P2pError> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Closes every connection to `peer` and bans it for the life of this network task: it is
    /// refused on reconnection, in both directions (e.g. it failed the certificate handshake,
    /// or its certificate was revoked).
    pub async fn disconnect(&self, peer: PublicKey) {
        match to_peer_id(&peer) {
            Ok(peer) => {
                let _ = self.send(Command::Disconnect { peer }).await;
            }
            Err(e) => tracing::warn!(%peer, error = %e, "cannot ban a key without a peer id"),
        }
    }

    /// Closes every connection to `peer` without banning it: it may connect again, and a
    /// request to it dials it again (a node keeping fewer peers than it meets; see
    /// `P2pConfig::target_peers`).
    pub async fn close(&self, peer: PublicKey) {
        if let Ok(peer) = to_peer_id(&peer) {
            let _ = self.send(Command::Close { peer }).await;
        }
    }

    /// Admits `peer` after the node checked its certificate: it joins gossip (until then it is
    /// neither sent nor heard on any topic) and is no longer disconnected at the handshake
    /// timeout. Does nothing when the peer is not connected (it is admitted again on its next
    /// connection's handshake).
    pub async fn admit(&self, peer: PublicKey) {
        match to_peer_id(&peer) {
            Ok(peer) => {
                let _ = self.send(Command::Admit { peer }).await;
            }
            Err(e) => tracing::warn!(%peer, error = %e, "cannot admit a key without a peer id"),
        }
    }

    /// The currently connected peers; empty after shutdown.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.call(|reply| Command::Peers { reply })
            .await
            .unwrap_or_default()
    }

    /// Looks `peer` up in the Kademlia DHT (a closest-peers walk towards its id) and returns
    /// the addresses found for it, each ending in `/p2p/<peer id>` (empty when no node knows
    /// it); Kademlia keeps them, so a later [`NetworkHandle::request`] to `peer` can dial it.
    /// A connected peer's addresses are returned at once.
    pub async fn find_peer(&self, peer: PublicKey) -> Result<Vec<String>, P2pError> {
        let peer = to_peer_id(&peer)?;
        self.call(|reply| Command::FindPeer { peer, reply }).await
    }

    /// Cuts this node off from every peer but `keep` (fault injection; `keep` empty: from
    /// every peer, else this node's side of a partition): closes their connections and
    /// refuses new ones, both ways, until [`NetworkHandle::rejoin`]. Peers are blocked with
    /// libp2p's block list, apart from peers banned for cause, which stay banned. Returns how
    /// many connected peers were cut off.
    pub async fn isolate(&self, keep: &[PublicKey]) -> Result<usize, P2pError> {
        let keep = keep
            .iter()
            .map(to_peer_id)
            .collect::<Result<HashSet<_>, _>>()?;
        self.call(|reply| Command::Isolate { keep, reply }).await
    }

    /// Undoes [`NetworkHandle::isolate`]: lifts its blocks and redials the peers the node was
    /// connected to or knew (and the bootstrap peers). Returns how many peers it dials (0 when
    /// the node was not cut off).
    pub async fn rejoin(&self) -> Result<usize, P2pError> {
        self.call(|reply| Command::Rejoin { reply }).await
    }

    /// How many peers the node dials on its own (`P2pConfig::target_peers`): in a larger
    /// network it is connected to those and to whoever dialled it, not to everyone.
    pub fn target_peers(&self) -> usize {
        self.shared.target_peers
    }

    /// Whether the node is cut off from every peer ([`NetworkHandle::isolate`] keeping
    /// nobody).
    pub fn is_isolated(&self) -> bool {
        self.shared.isolated.load(Ordering::Relaxed)
    }

    /// Whether the node is cut off from some or all of its peers ([`NetworkHandle::isolate`]).
    pub fn is_cut_off(&self) -> bool {
        self.shared.cut.load(Ordering::Relaxed)
    }

    /// A snapshot of the network counters.
    pub fn stats(&self) -> P2pStats {
        self.shared.counters.snapshot()
    }

    /// Stops the swarm task and closes every connection; returns once it has stopped. Pending
    /// requests fail with `Shutdown`, the event channels close after their queued events.
    pub async fn shutdown(&self) {
        let _ = self.call(|reply| Command::Shutdown { reply }).await;
    }
}
