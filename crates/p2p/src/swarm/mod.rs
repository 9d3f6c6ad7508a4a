//! The one task that owns the libp2p `Swarm`: it runs the behaviours, turns their events into
//! `NetworkEvent`s and executes `Command`s from handles. One `SwarmTask`, its methods split by
//! concern: [`build`] makes the swarm, [`gossip`] and [`requests`] handle what peers send,
//! [`discovery`] identify and Kademlia, [`liveness`] peers that stop answering pings,
//! [`commands`] what the node asks.

mod build;
mod commands;
mod discovery;
mod gossip;
mod isolation;
mod limits;
mod liveness;
mod pings;
mod requests;

pub use build::spawn;
use commands::{dial_error, is_ban_denial};
pub use limits::Members;
pub use pings::Unpinged;

use crate::P2pError;
use crate::admission::{ADMITTED_SCORE, Class, Gate, UNADMITTED_SCORE};
use crate::bound::PeerBound;
use crate::codec::{LIGHT_PROTOCOL, PROTOCOL, ProstCodec, Roles};
use crate::config::P2pConfig;
use crate::handle::{
    Command, GossipId, NetworkEvent, NetworkEvents, NetworkHandle, PeerInfo, ResponseToken, Shared,
    Verdict, Via,
};
use crate::identity::{key_of, keypair, to_peer_id};
use crate::stats::Counters;
use crate::topic::Topic;
use futures::StreamExt;
use libp2p::allow_block_list::{self, BlockedPeers};
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{
    self, MessageAcceptance, MessageAuthenticity, PublishError, ValidationMode,
};
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{
    self, InboundRequestId, OutboundFailure, OutboundRequestId, ProtocolSupport,
};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionId, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, connection_limits, identify, kad, noise, ping, tcp,
    yamux,
};
use medblock_core::keys::PublicKey;
use medblock_core::wire::{
    ErrorReply, NetRequest, NetResponse, error_reply, net_request, net_response,
};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Kademlia protocol name: a private DHT, so MedBlock nodes never mix with the public IPFS DHT.
const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/medblock/kad/1");
/// Identify protocol version string; peers with another value are still identified.
const IDENTIFY_VERSION: &str = "/medblock/1";
/// Room for gossipsub's envelope (topic, framing) above the payload limit.
const GOSSIP_OVERHEAD: usize = 4096;
/// Peers each node keeps in its gossip mesh per topic (gossipsub's D; its default is 6).
const GOSSIP_MESH: usize = 4;
/// Peers outside the mesh each node tells, at each heartbeat, which messages it has (IHAVE):
/// gossipsub's repair path for a message the mesh lost. Its defaults (6 peers, or a quarter of
/// the non-mesh peers if more, each message told over 3 heartbeats) made IHAVE most of an idle
/// network's packets: every turn's few messages were advertised by each hub to 23 of its 100
/// peers, three times over, and each advertisement woke a process that already had them. Here
/// the mesh delivers, a node that misses a block catches up by request-response, and a few
/// advertisements, once, still repair a lost forward.
const GOSSIP_LAZY: usize = 3;
/// How long `spawn` waits for the listener to report its address.
const LISTEN_WAIT: Duration = Duration::from_secs(5);
/// Longest sleep between checks of the handshake and pong deadlines when no deadline is
/// near (detection off, no unadmitted peer).
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// How long one ping waits for its pong before libp2p gives it up (see `build`).
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// All protocols, composed into one behaviour; the ban list and the connection limits come
/// first so refused connections are turned away before the other protocols set anything up.
#[derive(NetworkBehaviour)]
struct Behaviour {
    ban: allow_block_list::Behaviour<BlockedPeers>,
    limits: limits::Limits,
    gossipsub: gossipsub::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    reqres: PeerBound,
    light: request_response::Behaviour<ProstCodec>,
    ping: pings::Pings,
}

/// What we know about a connected peer.
#[derive(Default)]
struct PeerState {
    /// Remote addresses of the open connections.
    connected_on: Vec<Multiaddr>,
    /// Listen addresses the peer announced through identify.
    listen: Vec<Multiaddr>,
}

fn parse_addr(text: &str) -> Result<Multiaddr, P2pError> {
    text.parse()
        .map_err(|e: libp2p::multiaddr::Error| P2pError::InvalidAddress {
            addr: text.to_string(),
            reason: e.to_string(),
        })
}

fn with_p2p(addr: &Multiaddr, peer: PeerId) -> String {
    let mut a = addr.clone();
    if !matches!(a.iter().last(), Some(Protocol::P2p(_))) {
        a.push(Protocol::P2p(peer));
    }
    a.to_string()
}

fn error_response(code: error_reply::Code, message: &str) -> NetResponse {
    NetResponse {
        kind: Some(net_response::Kind::Error(ErrorReply {
            code: code as i32,
            message: message.to_string(),
        })),
    }
}

fn hex_of(peer: &PeerId) -> String {
    key_of(peer)
        .map(|k| k.to_hex())
        .unwrap_or_else(|_| peer.to_string())
}

/// Where the answer to one of our requests goes.
type ReplyTo = oneshot::Sender<Result<NetResponse, P2pError>>;

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    local_peer: PeerId,
    commands: mpsc::Receiver<Command>,
    consensus: mpsc::Sender<NetworkEvent>,
    other: mpsc::Sender<NetworkEvent>,
    light: mpsc::Sender<NetworkEvent>,
    shared: Arc<Shared>,
    /// Admission and per-peer in-flight counts.
    gate: Gate,
    /// Inbound requests not answered yet, with the limit each counts against.
    inbound: HashMap<(Via, InboundRequestId), (PeerId, Class)>,
    /// Admitted peers, as the node protocol's codecs see them (their request limit).
    admitted: Arc<RwLock<HashSet<PeerId>>>,
    /// Outbound requests by protocol and id (each protocol numbers its own).
    pending_requests: HashMap<(Via, OutboundRequestId), (PublicKey, ReplyTo)>,
    pending_dials: HashMap<ConnectionId, (String, oneshot::Sender<Result<(), P2pError>>)>,
    /// Kademlia walks looking for one peer's addresses ([`Command::FindPeer`]).
    pending_finds: HashMap<kad::QueryId, (PeerId, oneshot::Sender<Vec<String>>)>,
    peers: HashMap<PeerId, PeerState>,
    target_peers: usize,
    /// The bootstrap addresses (redialled when the node rejoins after being cut off).
    bootstrap: Vec<Multiaddr>,
    /// Pong deadlines: which connected peers stopped answering.
    liveness: liveness::Liveness,
    /// A deadline that came up since the checks were last planned (a new peer's handshake
    /// deadline): the loop moves its check timer earlier if it is.
    check_by: Option<Instant>,
    /// Set while the node is cut off from its peers ([`Command::Isolate`]).
    isolation: Option<isolation::Isolation>,
    /// Set by a shutdown command: the task stops and then acknowledges.
    stop: Option<oneshot::Sender<()>>,
}

impl SwarmTask {
    fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    fn is_banned(&self, peer: &PeerId) -> bool {
        self.swarm.behaviour().ban.blocked_peers().contains(peer)
    }

    /// When the handshake and pong deadlines are next checked.
    fn next_check(&self, now: Instant) -> Instant {
        [self.gate.next_deadline(), self.liveness.next_check(now)]
            .into_iter()
            .flatten()
            .fold(now + IDLE_CHECK, Instant::min)
    }

    async fn run(mut self) {
        // One timer for the handshake deadlines and the pong deadlines, set to the first one
        // due rather than ticking: each wakeup of an idle node's swarm thread costs more than
        // the checks it runs, and a fixed 500 ms tick was a tenth of an idle node's wakeups.
        let check = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(check);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                () = &mut check => {
                    self.close_expired();
                    self.check_liveness().await;
                    let now = Instant::now();
                    check.as_mut().reset(self.next_check(now).into());
                }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    // Every handle is gone: nobody can use the network any more.
                    None => break,
                },
            }
            // A peer that connected since may have the earliest deadline now.
            if let Some(at) = self.check_by.take()
                && at < check.deadline().into_std()
            {
                check.as_mut().reset(at.into());
            }
            if self.stop.is_some() {
                break;
            }
        }
        info!(peer = %self.shared.local_key, "p2p task stopping");
        let ack = self.stop.take();
        // Dropping the swarm closes the connections; dropping the pending senders fails the
        // waiting requests and dials with `Shutdown`.
        drop(self);
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }

    /// Delivers a consensus-critical event, waiting for room if the channel is full. While it
    /// waits it keeps executing commands (but reads nothing from the network), so a consumer
    /// that responds or reports from its receive loop cannot deadlock against us.
    async fn deliver_consensus(&mut self, event: NetworkEvent) {
        let event = match self.consensus.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Counters::inc(&self.counters().dropped_closed_channel);
                return;
            }
            Err(mpsc::error::TrySendError::Full(event)) => event,
        };
        Counters::inc(&self.counters().consensus_backpressure);
        let reserve = self.consensus.clone().reserve_owned();
        tokio::pin!(reserve);
        loop {
            tokio::select! {
                permit = &mut reserve => {
                    match permit {
                        Ok(permit) => { permit.send(event); }
                        Err(_) => Counters::inc(&self.counters().dropped_closed_channel),
                    }
                    return;
                }
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        self.on_command(cmd);
                        if self.stop.is_some() {
                            return;
                        }
                    }
                    // No handles left; the main loop will notice and stop.
                    None => return,
                },
            }
        }
    }

    async fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(ev)) => self.on_gossipsub(ev).await,
            SwarmEvent::Behaviour(BehaviourEvent::Reqres(ev)) => {
                self.on_reqres(ev, Via::Node).await
            }
            SwarmEvent::Behaviour(BehaviourEvent::Light(ev)) => {
                self.on_reqres(ev, Via::Light).await
            }
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Identify(ev)) => self.on_identify(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(ev)) => self.on_kad(ev),
            SwarmEvent::Behaviour(BehaviourEvent::Ban(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Ping(ev)) => self.on_ping(ev).await,
            SwarmEvent::NewListenAddr { address, .. } => {
                info!(addr = %address, "p2p listening");
                let text = with_p2p(&address, self.local_peer);
                let mut addrs = self
                    .shared
                    .listen_addrs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if !addrs.contains(&text) {
                    addrs.push(text);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                info!(addr = %address, "p2p listen address expired");
                let text = with_p2p(&address, self.local_peer);
                self.shared
                    .listen_addrs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .retain(|a| *a != text);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => {
                if let Some((_, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Ok(()));
                }
                if self.refuse_while_isolated(peer_id) {
                    return;
                }
                let Ok(key) = key_of(&peer_id) else {
                    // Cannot happen with ed25519-only identities, but never keep a peer whose
                    // key we cannot name.
                    Counters::inc(&self.counters().refused_connections);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                };
                let addr = remote_addr(&endpoint);
                let state = self.peers.entry(peer_id).or_default();
                state.connected_on.push(addr.clone());
                if num_established.get() == 1 {
                    debug!(peer = %key, %addr, "peer connected");
                    // Out of gossip until admitted: set before anything is read from it.
                    let now = Instant::now();
                    self.gate.connected(peer_id, now);
                    self.check_by = self.gate.next_deadline();
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_application_score(&peer_id, UNADMITTED_SCORE);
                    self.deliver_consensus(NetworkEvent::PeerConnected {
                        key,
                        addr: addr.to_string(),
                    })
                    .await;
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                cause,
                ..
            } => {
                let addr = remote_addr(&endpoint);
                if let Some(state) = self.peers.get_mut(&peer_id)
                    && let Some(pos) = state.connected_on.iter().position(|a| *a == addr)
                {
                    state.connected_on.swap_remove(pos);
                }
                if num_established == 0 {
                    self.gate.disconnected(&peer_id);
                    self.liveness.forget(&peer_id);
                    self.set_admitted(peer_id, false);
                }
                if num_established == 0
                    && self.peers.remove(&peer_id).is_some()
                    && let Ok(key) = key_of(&peer_id)
                {
                    debug!(peer = %key, cause = ?cause, "peer disconnected");
                    self.deliver_consensus(NetworkEvent::PeerDisconnected { key })
                        .await;
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                debug!(peer = ?peer_id, error = %error, "outgoing connection failed");
                let banned = is_ban_denial(&error);
                if banned {
                    Counters::inc(&self.counters().refused_connections);
                }
                if let Some((target, reply)) = self.pending_dials.remove(&connection_id) {
                    let _ = reply.send(Err(dial_error(target, peer_id, &error)));
                }
            }
            SwarmEvent::IncomingConnectionError { peer_id, error, .. } => {
                if let ListenError::Denied { cause } = &error
                    && cause.downcast_ref::<allow_block_list::Blocked>().is_some()
                {
                    Counters::inc(&self.counters().refused_connections);
                }
                debug!(peer = ?peer_id, error = %error, "incoming connection refused or failed");
            }
            SwarmEvent::ListenerError { error, .. } => warn!(error = %error, "p2p listener error"),
            _ => {}
        }
    }
}

/// `addr` ending in `/p2p/<peer>` (added when absent).
fn with_peer(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr
    } else {
        addr.with(Protocol::P2p(peer))
    }
}

fn remote_addr(endpoint: &ConnectedPoint) -> Multiaddr {
    endpoint.get_remote_address().clone()
}
