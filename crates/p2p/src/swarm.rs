//! The one task that owns the libp2p `Swarm`: it runs the behaviours, turns their events into
//! `NetworkEvent`s and executes `Command`s from handles.

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
    Multiaddr, PeerId, StreamProtocol, Swarm, connection_limits, identify, kad, noise, tcp, yamux,
};
use medblock_core::keys::PublicKey;
use medblock_core::wire::{
    ErrorReply, NetRequest, NetResponse, error_reply, net_request, net_response,
};
use std::collections::{HashMap, HashSet};
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
/// How long `spawn` waits for the listener to report its address.
const LISTEN_WAIT: Duration = Duration::from_secs(5);
/// How often unadmitted peers' deadlines are checked.
const GATE_TICK: Duration = Duration::from_millis(500);

/// All protocols, composed into one behaviour; the ban list and the connection limits come
/// first so refused connections are turned away before the other protocols set anything up.
#[derive(NetworkBehaviour)]
struct Behaviour {
    ban: allow_block_list::Behaviour<BlockedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    identify: identify::Behaviour,
    reqres: PeerBound,
    light: request_response::Behaviour<ProstCodec>,
}

/// What we know about a connected peer.
#[derive(Default)]
struct PeerState {
    /// Remote addresses of the open connections.
    connected_on: Vec<Multiaddr>,
    /// Listen addresses the peer announced through identify.
    listen: Vec<Multiaddr>,
}

/// Starts the network: builds the swarm, starts listening, dials the bootstrap peers and
/// spawns the swarm task on the current tokio runtime. Returns once the listener is up (its
/// address is in `NetworkHandle::listen_addrs`). Must be called within a tokio runtime.
pub async fn spawn(cfg: P2pConfig) -> Result<(NetworkHandle, NetworkEvents), P2pError> {
    cfg.validate()?;
    let listen: Multiaddr = parse_addr(&cfg.listen)?;
    let bootstrap = cfg
        .bootstrap
        .iter()
        .map(|a| parse_addr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let key = keypair(&cfg.signing_key)?;
    let local_key = cfg.signing_key.public();
    let local_peer = key.public().to_peer_id();
    let counters = Arc::new(Counters::default());

    // Unsigned, content-addressed gossip: every MedBlock gossip payload carries its own
    // signature (blocks a commit certificate, ledger claims and consensus messages their
    // signer's, revocation lists the CA's), so gossipsub's per-message signature only repeated
    // that work: every receiver re-hashed every copy of every block to check it (a fifth of a
    // loaded testnet's CPU). Authorship is the payload's business; the forwarding neighbour is
    // known from the noise handshake.
    let gossip_cfg = gossipsub::ConfigBuilder::default()
        .max_transmit_size(cfg.max_message_bytes.saturating_add(GOSSIP_OVERHEAD))
        .validate_messages()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(content_id)
        .heartbeat_interval(Duration::from_secs(1))
        // A block is published by each replica of its committee: flooding each copy to every
        // peer sent a loaded 10-node network up to 4 × 9 copies of each block before the mesh
        // even forwarded it. Publishing to the mesh and a mesh of 4 (a permissioned network of
        // tens of nodes, every one a known, scored peer) still reach everyone within a few
        // hops, and a node that misses a block catches up by request-response anyway.
        .flood_publish(false)
        .mesh_n(GOSSIP_MESH)
        .mesh_n_low(GOSSIP_MESH - 1)
        .mesh_n_high(2 * GOSSIP_MESH)
        .mesh_outbound_min(GOSSIP_MESH / 2 - 1)
        // Peers we already have a block from are told not to send it again.
        .idontwant_on_publish(true)
        .build()
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub: {e}")))?;
    let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, gossip_cfg)
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub: {e}")))?;
    gossipsub
        .with_peer_score(score_params(), gossipsub::PeerScoreThresholds::default())
        .map_err(|e| P2pError::InvalidConfig(format!("gossipsub scoring: {e}")))?;

    let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
    kad_cfg.set_periodic_bootstrap_interval(Some(cfg.discovery_interval));
    kad_cfg.set_query_timeout(Duration::from_secs(30));
    let mut kad = kad::Behaviour::with_config(
        local_peer,
        kad::store::MemoryStore::new(local_peer),
        kad_cfg,
    );
    kad.set_mode(Some(if cfg.kademlia_server {
        kad::Mode::Server
    } else {
        kad::Mode::Client
    }));

    let identify = identify::Behaviour::new(
        identify::Config::new(IDENTIFY_VERSION.into(), key.public())
            .with_agent_version(format!("medblock/{}", env!("CARGO_PKG_VERSION")))
            .with_push_listen_addr_updates(true),
    );

    // The node protocol reads up to `max_message_bytes` from admitted peers and only a Hello's
    // worth from anyone else (see `bound`).
    let admitted: Arc<RwLock<HashSet<PeerId>>> = Arc::default();
    let binding = Arc::new(Mutex::new(None));
    let roles = Roles {
        admitted: admitted.clone(),
        unadmitted_max: cfg.max_unadmitted_request_bytes,
        binding: binding.clone(),
    };
    let reqres = PeerBound::new(
        request_response::Behaviour::with_codec(
            ProstCodec::new(cfg.max_message_bytes, counters.clone()).with_roles(roles),
            [(PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(cfg.max_concurrent_streams),
        ),
        binding,
    );

    // Light nodes and visitors speak only this one: small requests, its own limits and channel.
    let light = request_response::Behaviour::with_codec(
        ProstCodec::with_limits(
            cfg.max_light_request_bytes.min(cfg.max_message_bytes),
            cfg.max_message_bytes,
            counters.clone(),
        ),
        [(LIGHT_PROTOCOL, ProtocolSupport::Full)],
        request_response::Config::default()
            .with_request_timeout(cfg.request_timeout)
            .with_max_concurrent_streams(cfg.light_in_flight_per_peer.saturating_mul(4)),
    );
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(cfg.max_connections))
            .with_max_established_per_peer(Some(cfg.max_connections_per_peer))
            .with_max_pending_incoming(Some(cfg.max_pending_incoming)),
    );

    let behaviour = Behaviour {
        ban: allow_block_list::Behaviour::default(),
        limits,
        gossipsub,
        kad,
        identify,
        reqres,
        light,
    };
    let idle = cfg.idle_timeout;
    let streams = cfg.max_concurrent_streams;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            move || {
                // Room for every request-response stream both ways, plus gossipsub, Kademlia
                // and identify; yamux's own default (512) would otherwise refuse streams first.
                let mut y = yamux::Config::default();
                y.set_max_num_streams(streams.saturating_mul(2).saturating_add(256));
                y
            },
        )
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_dns()
        .map_err(|e| P2pError::Transport(format!("dns: {e}")))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
        .build();

    if cfg.gossip {
        for topic in Topic::ALL {
            swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&topic.ident())
                .map_err(|e| P2pError::InvalidConfig(format!("subscribe {topic}: {e}")))?;
        }
    }

    let listen_err = |reason: String| P2pError::Listen {
        addr: cfg.listen.clone(),
        reason,
    };
    swarm
        .listen_on(listen)
        .map_err(|e| listen_err(e.to_string()))?;
    let first = tokio::time::timeout(LISTEN_WAIT, async {
        loop {
            match swarm.select_next_some().await {
                SwarmEvent::NewListenAddr { address, .. } => return Ok(address),
                SwarmEvent::ListenerClosed { reason, .. } => {
                    return Err(match reason {
                        Err(e) => e.to_string(),
                        Ok(()) => "listener closed".to_string(),
                    });
                }
                SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                _ => {}
            }
        }
    })
    .await
    .map_err(|_| listen_err("no listen address reported in time".into()))?
    .map_err(listen_err)?;
    info!(addr = %first, peer = %local_key, "p2p listening");
    let listen_addrs = vec![with_p2p(&first, local_peer)];

    for addr in bootstrap {
        if let Some(Protocol::P2p(peer)) = addr.iter().last() {
            let mut plain = addr.clone();
            plain.pop();
            swarm.behaviour_mut().kad.add_address(&peer, plain);
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(%addr, error = %e, "could not dial bootstrap peer");
        }
    }
    // Fails only when no bootstrap peer had a /p2p/ id; identify seeds Kademlia later then.
    let _ = swarm.behaviour_mut().kad.bootstrap();

    let (cmd_tx, cmd_rx) = mpsc::channel(cfg.command_capacity);
    let (consensus_tx, consensus_rx) = mpsc::channel(cfg.event_capacity);
    let (other_tx, other_rx) = mpsc::channel(cfg.event_capacity);
    let (light_tx, light_rx) = mpsc::channel(cfg.light_capacity);
    let shared = Arc::new(Shared {
        local_key,
        listen_addrs: Mutex::new(listen_addrs),
        counters,
        max_message_bytes: cfg.max_message_bytes,
        request_timeout: cfg.request_timeout,
    });
    let task = SwarmTask {
        swarm,
        local_peer,
        commands: cmd_rx,
        consensus: consensus_tx,
        other: other_tx,
        light: light_tx,
        shared: shared.clone(),
        gate: Gate::new(
            cfg.handshake_timeout,
            cfg.light_in_flight_per_peer,
            cfg.uploads_in_flight_per_peer,
        ),
        inbound: HashMap::new(),
        admitted,
        pending_requests: HashMap::new(),
        pending_dials: HashMap::new(),
        pending_finds: HashMap::new(),
        peers: HashMap::new(),
        target_peers: cfg.target_peers,
        stop: None,
    };
    tokio::spawn(task.run());
    Ok((
        NetworkHandle {
            commands: cmd_tx,
            shared,
        },
        NetworkEvents {
            consensus: consensus_rx,
            other: other_rx,
            light: light_rx,
        },
    ))
}

/// Gossipsub peer scoring that only punishes what the node reports: each `Verdict::Reject`
/// counts as an invalid delivery (score -10 x count², decaying by 10% a second), so a peer
/// stops receiving our gossip after one rejection, cannot publish to us after three and is
/// ignored entirely (graylisted) soon after. Delivery-rate and mesh-time terms are off, since
/// MedBlock topics are legitimately quiet for long stretches; IP colocation is off, since
/// membership is controlled by certificates and several nodes may share a hospital NAT.
/// A gossip message's id is a hash of its topic and payload, so the same payload published by
/// several nodes (or re-published) travels as one message and is forwarded once.
fn content_id(message: &gossipsub::Message) -> gossipsub::MessageId {
    let id = medblock_core::hash::tagged_hash(
        "medblock/gossip-id/v1",
        &[message.topic.as_str().as_bytes(), &message.data],
    );
    gossipsub::MessageId::new(id.as_bytes())
}

fn score_params() -> gossipsub::PeerScoreParams {
    let topic = gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.9,
        ..Default::default()
    };
    gossipsub::PeerScoreParams {
        topics: Topic::ALL
            .into_iter()
            .map(|t| (t.ident().hash(), topic.clone()))
            .collect(),
        ip_colocation_factor_weight: 0.0,
        ..Default::default()
    }
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

    async fn run(mut self) {
        let mut tick = tokio::time::interval(GATE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event).await,
                _ = tick.tick() => self.close_expired(),
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    // Every handle is gone: nobody can use the network any more.
                    None => break,
                },
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
                    self.gate.connected(peer_id, Instant::now());
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

    async fn on_gossipsub(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let id = GossipId {
                    id: message_id,
                    from: propagation_source,
                };
                let topic = Topic::from_hash(&message.topic);
                let neighbour = key_of(&propagation_source).ok();
                let (Some(topic), Some(propagated_by)) = (topic, neighbour) else {
                    debug!(from = %propagation_source, topic = %message.topic, "rejecting gossip: unknown topic or neighbour");
                    self.report(id, Verdict::Reject);
                    return;
                };
                let event = NetworkEvent::Gossip {
                    propagated_by,
                    topic,
                    id: id.clone(),
                    data: message.data,
                };
                if topic.is_consensus_critical() {
                    Counters::inc(&self.counters().gossip_in);
                    self.deliver_consensus(event).await;
                    return;
                }
                match self.other.try_send(event) {
                    Ok(()) => Counters::inc(&self.counters().gossip_in),
                    Err(e) => {
                        let counter = match e {
                            mpsc::error::TrySendError::Full(_) => {
                                &self.counters().dropped_gossip_other
                            }
                            mpsc::error::TrySendError::Closed(_) => {
                                &self.counters().dropped_closed_channel
                            }
                        };
                        Counters::inc(counter);
                        self.report(id, Verdict::Ignore);
                    }
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                if let (Some(topic), Ok(key)) = (Topic::from_hash(&topic), key_of(&peer_id)) {
                    self.deliver_consensus(NetworkEvent::Subscribed { key, topic })
                        .await;
                }
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                debug!(peer = %peer_id, "peer does not support gossipsub");
            }
            gossipsub::Event::SlowPeer { peer_id, .. } => {
                debug!(peer = %peer_id, "slow gossipsub peer");
            }
            _ => {}
        }
    }

    async fn on_reqres(
        &mut self,
        event: request_response::Event<NetRequest, NetResponse>,
        via: Via,
    ) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request_id,
                    request,
                    channel,
                } => {
                    self.on_request(peer, request_id, request, ResponseToken { channel, via })
                        .await
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some((_, reply)) = self.pending_requests.remove(&(via, request_id)) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(peer = %peer, error = %error, "request failed");
                Counters::inc(&self.counters().requests_failed);
                if let Some((key, reply)) = self.pending_requests.remove(&(via, request_id)) {
                    let peer = key.to_hex();
                    let err = match error {
                        OutboundFailure::DialFailure => P2pError::DialFailure {
                            target: peer,
                            reason: "no reachable address for this peer".into(),
                        },
                        OutboundFailure::Timeout => P2pError::Timeout { peer },
                        OutboundFailure::ConnectionClosed => P2pError::ConnectionClosed { peer },
                        OutboundFailure::UnsupportedProtocols => {
                            P2pError::UnsupportedProtocol { peer }
                        }
                        OutboundFailure::Io(e) => P2pError::Io {
                            peer,
                            reason: e.to_string(),
                        },
                    };
                    let _ = reply.send(Err(err));
                }
            }
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                debug!(peer = %peer, error = %error, "inbound request failed");
                self.finish_inbound(via, request_id);
            }
            request_response::Event::ResponseSent { request_id, .. } => {
                self.finish_inbound(via, request_id);
            }
        }
    }

    fn set_admitted(&self, peer: PeerId, admitted: bool) {
        let mut set = self.admitted.write().unwrap_or_else(|e| e.into_inner());
        if admitted {
            set.insert(peer);
        } else {
            set.remove(&peer);
        }
    }

    fn finish_inbound(&mut self, via: Via, id: InboundRequestId) {
        if let Some((peer, class)) = self.inbound.remove(&(via, id)) {
            self.gate.finish(&peer, class);
        }
    }

    fn respond_now(&mut self, token: ResponseToken, code: error_reply::Code, message: &str) {
        let resp = error_response(code, message);
        let behaviour = self.swarm.behaviour_mut();
        let _ = match token.via {
            Via::Node => behaviour.reqres.inner.send_response(token.channel, resp),
            Via::Light => behaviour.light.send_response(token.channel, resp),
        };
    }

    /// Disconnects the unadmitted peers whose handshake time is up.
    fn close_expired(&mut self) {
        for peer in self.gate.expired(Instant::now()) {
            Counters::inc(&self.counters().handshake_timeouts);
            debug!(%peer, "not admitted within the handshake timeout; disconnecting");
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    async fn on_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: NetRequest,
        token: ResponseToken,
    ) {
        let Ok(from) = key_of(&peer) else {
            self.respond_now(
                token,
                error_reply::Code::Unauthorized,
                "peer id is not an ed25519 key",
            );
            return;
        };
        let Some(kind) = &request.kind else {
            self.respond_now(
                token,
                error_reply::Code::Malformed,
                "request without a kind",
            );
            return;
        };
        let class = class_of(kind);
        // Each protocol carries its own kinds: a light request never rides the node protocol's
        // large frames, and the light protocol never reaches consensus or uploads.
        let expected = if class == Class::Light {
            Via::Light
        } else {
            Via::Node
        };
        if token.via != expected {
            let msg = match expected {
                Via::Light => "light-node requests go on the light protocol",
                Via::Node => "only light-node requests go on the light protocol",
            };
            self.respond_now(token, error_reply::Code::Malformed, msg);
            return;
        }
        if !self.gate.start(&peer, class, Instant::now()) {
            Counters::inc(&self.counters().over_peer_limit);
            self.respond_now(
                token,
                error_reply::Code::Busy,
                "too many requests in flight from this peer, retry later",
            );
            return;
        }
        self.inbound.insert((token.via, request_id), (peer, class));
        let event = NetworkEvent::Request {
            from,
            request: Box::new(request),
            token,
        };
        let (channel, dropped) = match class {
            Class::Consensus => {
                Counters::inc(&self.counters().requests_in);
                self.deliver_consensus(event).await;
                return;
            }
            Class::Upload => (&self.other, &self.shared.counters.dropped_requests_other),
            Class::Light => (&self.light, &self.shared.counters.dropped_requests_light),
        };
        match channel.try_send(event) {
            Ok(()) => Counters::inc(&self.counters().requests_in),
            Err(e) => {
                let event = match e {
                    mpsc::error::TrySendError::Full(ev) => {
                        Counters::inc(dropped);
                        ev
                    }
                    mpsc::error::TrySendError::Closed(ev) => {
                        Counters::inc(&self.shared.counters.dropped_closed_channel);
                        ev
                    }
                };
                if let NetworkEvent::Request { token, .. } = event {
                    self.respond_now(
                        token,
                        error_reply::Code::Busy,
                        "node overloaded, retry later",
                    );
                }
            }
        }
    }

    fn on_identify(&mut self, event: identify::Event) {
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

    fn on_kad(&mut self, event: kad::Event) {
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

    fn report(&mut self, id: GossipId, verdict: Verdict) {
        let acceptance = match verdict {
            Verdict::Accept => MessageAcceptance::Accept,
            Verdict::Reject => {
                Counters::inc(&self.counters().gossip_rejected);
                MessageAcceptance::Reject
            }
            Verdict::Ignore => MessageAcceptance::Ignore,
        };
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(&id.id, &id.from, acceptance);
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Publish { topic, data, reply } => {
                let size = data.len();
                let res = match self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.ident(), data)
                {
                    Ok(_) => {
                        Counters::inc(&self.counters().gossip_out);
                        Ok(())
                    }
                    Err(PublishError::NoPeersSubscribedToTopic) => {
                        Err(P2pError::InsufficientPeers {
                            topic: topic.as_str(),
                        })
                    }
                    Err(PublishError::MessageTooLarge) => Err(P2pError::MessageTooLarge {
                        size,
                        max: self.shared.max_message_bytes,
                    }),
                    Err(e) => Err(P2pError::Publish(e.to_string())),
                };
                let _ = reply.send(res);
            }
            Command::Request { to, request, reply } => {
                let peer = match to_peer_id(&to) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = reply.send(Err(e));
                        return;
                    }
                };
                if self.is_banned(&peer) {
                    let _ = reply.send(Err(P2pError::Banned { peer: to.to_hex() }));
                    return;
                }
                if peer == self.local_peer {
                    let _ = reply.send(Err(P2pError::DialFailure {
                        target: to.to_hex(),
                        reason: "that is this node's own key".into(),
                    }));
                    return;
                }
                let via = match &request.kind {
                    Some(kind) if class_of(kind) == Class::Light => Via::Light,
                    _ => Via::Node,
                };
                let behaviour = self.swarm.behaviour_mut();
                let id = match via {
                    Via::Node => behaviour.reqres.inner.send_request(&peer, *request),
                    Via::Light => behaviour.light.send_request(&peer, *request),
                };
                Counters::inc(&self.counters().requests_out);
                self.pending_requests.insert((via, id), (to, reply));
            }
            Command::Respond {
                token,
                response,
                reply,
            } => {
                let behaviour = self.swarm.behaviour_mut();
                let res = match token.via {
                    Via::Node => behaviour
                        .reqres
                        .inner
                        .send_response(token.channel, response),
                    Via::Light => behaviour.light.send_response(token.channel, response),
                }
                .map_err(|_| P2pError::ResponseChannelClosed);
                let _ = reply.send(res);
            }
            Command::Report { id, verdict } => self.report(id, verdict),
            Command::Dial { addr, reply } => self.dial(addr, reply),
            Command::Disconnect { peer } => {
                debug!(%peer, "banning and disconnecting peer");
                let behaviour = self.swarm.behaviour_mut();
                behaviour.ban.block_peer(peer);
                behaviour.kad.remove_peer(&peer);
                behaviour.gossipsub.blacklist_peer(&peer);
                self.set_admitted(peer, false);
            }
            Command::Admit { peer } => {
                if self.gate.admit(&peer) {
                    debug!(%peer, "peer admitted to gossip");
                    self.set_admitted(peer, true);
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .set_application_score(&peer, ADMITTED_SCORE);
                }
            }
            Command::Peers { reply } => {
                let peers = self
                    .peers
                    .iter()
                    .filter_map(|(peer, state)| {
                        let key = key_of(peer).ok()?;
                        let addrs = if state.listen.is_empty() {
                            &state.connected_on
                        } else {
                            &state.listen
                        };
                        Some(PeerInfo {
                            key,
                            addrs: addrs.iter().map(|a| a.to_string()).collect(),
                        })
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::FindPeer { peer, reply } => {
                if let Some(state) = self.peers.get(&peer) {
                    let addrs = if state.listen.is_empty() {
                        &state.connected_on
                    } else {
                        &state.listen
                    };
                    let out = addrs
                        .iter()
                        .map(|a| with_peer(a.clone(), peer).to_string())
                        .collect();
                    let _ = reply.send(out);
                } else {
                    let id = self.swarm.behaviour_mut().kad.get_closest_peers(peer);
                    self.pending_finds.insert(id, (peer, reply));
                }
            }
            Command::Shutdown { reply } => self.stop = Some(reply),
        }
    }

    fn dial(&mut self, text: String, reply: oneshot::Sender<Result<(), P2pError>>) {
        let addr = match parse_addr(&text) {
            Ok(a) => a,
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => {
                if self.is_banned(&peer) {
                    let _ = reply.send(Err(P2pError::Banned {
                        peer: hex_of(&peer),
                    }));
                    return;
                }
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::Always)
                    .build()
            }
            _ => DialOpts::unknown_peer_id().address(addr).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.pending_dials.insert(id, (text, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(dial_error(text, None, &e)));
            }
        }
    }
}

/// Which per-peer limit (and which protocol and channel) a request kind belongs to.
fn class_of(kind: &net_request::Kind) -> Class {
    use net_request::Kind;
    match kind {
        Kind::Hello(_) | Kind::Consensus(_) | Kind::CatchUp(_) => Class::Consensus,
        Kind::Upload(_) | Kind::UploadBatch(_) | Kind::Receipts(_) => Class::Upload,
        Kind::Challenge(_) | Kind::Query(_) | Kind::Headers(_) | Kind::AccessUpload(_) => {
            Class::Light
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

/// Whether a dial failed because the peer is on our ban list.
fn is_ban_denial(error: &DialError) -> bool {
    matches!(error, DialError::Denied { cause } if cause.downcast_ref::<allow_block_list::Blocked>().is_some())
}

fn dial_error(target: String, peer: Option<PeerId>, error: &DialError) -> P2pError {
    if is_ban_denial(error) {
        return P2pError::Banned {
            peer: peer.map(|p| hex_of(&p)).unwrap_or(target),
        };
    }
    P2pError::DialFailure {
        target,
        reason: error.to_string(),
    }
}
