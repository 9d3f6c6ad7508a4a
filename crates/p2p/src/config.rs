//! How to start the network layer.

use crate::P2pError;
use medblock_core::keys::SigningKey;
use std::time::Duration;

/// Everything `spawn` needs. Build with [`P2pConfig::new`] and override fields as needed.
#[derive(Debug, Clone)]
pub struct P2pConfig {
    /// The node's MedBlock signing key; it doubles as the libp2p identity, so the PeerId other
    /// nodes see authenticates exactly the key on the node's certificate.
    pub signing_key: SigningKey,
    /// Multiaddr to listen on, e.g. `/ip4/0.0.0.0/tcp/7000` (`/tcp/0` picks a free port; the
    /// actual address is in `NetworkHandle::listen_addrs`).
    pub listen: String,
    /// Multiaddrs of known nodes to join through, ideally with `/p2p/<peer id>` (then they also
    /// seed Kademlia at once); without it the peer is learned when identify completes.
    pub bootstrap: Vec<String>,
    /// Largest gossip message and request/response frame accepted or sent, in bytes; larger
    /// frames from peers are refused (and counted), larger local messages fail to send.
    pub max_message_bytes: usize,
    /// How long `NetworkHandle::request` waits for an answer before `P2pError::Timeout`.
    pub request_timeout: Duration,
    /// Capacity of the command channel from handles to the swarm task; when full, handle calls
    /// wait (back-pressure on the callers).
    pub command_capacity: usize,
    /// Capacity of each of the two event channels (`consensus` and `other`).
    pub event_capacity: usize,
    /// How long a connection with no open streams is kept before libp2p closes it.
    pub idle_timeout: Duration,
    /// How often Kademlia re-runs its bootstrap walk to discover newly joined nodes.
    pub discovery_interval: Duration,
    /// The node dials peers Kademlia discovers while it has fewer connected peers than this
    /// (MedBlock networks are small: a full mesh of hospitals is the goal).
    pub target_peers: usize,
    /// Requests in flight per connection, each way. A department uploads hundreds of events
    /// at once and a PBFT round sends a burst of messages; libp2p's default of 100 made the
    /// endorser drop uploads (the client then waited for its receipt timeout and retried). A
    /// stream costs a few KiB, so thousands are cheap next to dropping consensus traffic.
    pub max_concurrent_streams: usize,
    /// Whether this peer answers Kademlia queries (server mode) and so is advertised in peers'
    /// routing tables. A light node sets it to false: it still looks peers up, but nodes never
    /// add it to their tables or hand its address to others.
    pub kademlia_server: bool,
    /// Whether this peer takes part in gossip (subscribes to every topic). A light node does
    /// not: it sees the ledger only through the query protocol.
    pub gossip: bool,
    /// How long a peer may stay connected without being admitted ([`NetworkHandle::admit`],
    /// after the node's certificate handshake) or asking a light-node question; then its
    /// connections are closed. `None` turns the gate's timer off (a light node, which admits
    /// nobody). Unadmitted peers never receive or send gossip, whatever this is.
    ///
    /// [`NetworkHandle::admit`]: crate::NetworkHandle::admit
    pub handshake_timeout: Option<Duration>,
    /// Largest light-node request (challenge, query, headers, access upload) accepted, in bytes;
    /// far below `max_message_bytes`, so an anonymous peer cannot make the node read megabytes
    /// (never more than `max_message_bytes`, whatever this says).
    pub max_light_request_bytes: usize,
    /// Largest node-protocol request read from a peer not admitted yet (its Hello, with the
    /// certificate); admitted peers may send up to `max_message_bytes`.
    pub max_unadmitted_request_bytes: usize,
    /// Light-node requests one peer may have in flight; more are answered BUSY at once.
    pub light_in_flight_per_peer: usize,
    /// Uploads and receipt queries one peer may have in flight; more are answered BUSY.
    pub uploads_in_flight_per_peer: usize,
    /// Capacity of the light-node event channel (its own, so queries never starve uploads).
    pub light_capacity: usize,
    /// Established connections of peers outside `members` (light nodes, visitors, nodes not
    /// certified yet), in total.
    pub max_connections: u32,
    /// The network's members (its certified nodes), kept up to date by the embedder: their
    /// connections are bounded per peer only, never by `max_connections`, so outsiders cannot
    /// lock them out and a hub keeps every member however many there are. `None`: nobody is a
    /// member.
    pub members: Option<crate::Members>,
    /// Established connections per peer.
    pub max_connections_per_peer: u32,
    /// Incoming connections still in their noise/yamux handshake.
    pub max_pending_incoming: u32,
    /// How often every connection is pinged (libp2p's ping protocol; a 32-byte round trip on
    /// a stream kept open). Each pong proves the peer's process runs; see `unresponsive_after`.
    pub ping_interval: Duration,
    /// A connected peer whose last pong is older than this is reported
    /// [`NetworkEvent::PeerUnresponsive`](crate::NetworkEvent::PeerUnresponsive) (paused,
    /// wedged, or its host gone without closing the connection), and
    /// [`NetworkEvent::PeerResponsive`](crate::NetworkEvent::PeerResponsive) at its next pong.
    /// Must exceed `ping_interval` plus the round trip of a loaded peer: a pong later than
    /// `unresponsive_after - ping_interval` makes a live peer look lost. `None` turns
    /// detection off (pings are still answered).
    pub unresponsive_after: Option<Duration>,
    /// Peers whose connections this node does not ping (it answers their pings, and never
    /// judges them unresponsive); the embedder keeps the set up to date, and a connection
    /// keeps the choice made when it opened. `None`: every connection is pinged.
    pub unpinged: Option<crate::Unpinged>,
    /// Emulated one-way latency to some hosts (tests and benchmarks only; `None` in
    /// production, and then the transport is libp2p's TCP unwrapped).
    pub latency: Option<crate::latency::Latency>,
}

impl P2pConfig {
    /// Default [`P2pConfig::handshake_timeout`].
    pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Default [`P2pConfig::ping_interval`]: a ping every 2 s per connection, each way.
    /// Pings are the dearest thing an idle node does (each pong wakes the swarm): measured on
    /// an idle 20-node testnet, 500 ms doubled the nodes' CPU, 1 s added 60%; at 750 ms 100
    /// idle peers used 1.6 cores where they used 0.45 without pings, and on a machine that
    /// loaded, pongs came late enough to report live peers lost (stalling consensus at 100-150
    /// peers).
    pub const PING_INTERVAL: Duration = Duration::from_secs(2);
    /// Default [`P2pConfig::unresponsive_after`]: a paused peer is reported 3-5.7 s after it
    /// stopped (3-5 s to its pong deadline, 0.2 s to confirm, up to 0.5 s between checks),
    /// well before its turns would time out (turn timeout 10 s), while a live peer must be 3 s
    /// late with a pong to be mistaken for a lost one. A crashed peer's connections close, and
    /// it is lost at once; pings only find the ones that stop without closing them.
    pub const UNRESPONSIVE_AFTER: Duration = Duration::from_secs(5);
    /// Default [`P2pConfig::max_connections`].
    pub const MAX_CONNECTIONS: u32 = 256;
    /// Default [`P2pConfig::max_connections_per_peer`].
    pub const MAX_CONNECTIONS_PER_PEER: u32 = 2;
    /// Default [`P2pConfig::light_in_flight_per_peer`].
    pub const LIGHT_IN_FLIGHT_PER_PEER: usize = 8;
    /// Default [`P2pConfig::uploads_in_flight_per_peer`].
    pub const UPLOADS_IN_FLIGHT_PER_PEER: usize = 1024;

    /// A configuration with production defaults: 4 MiB messages, 10 s request timeout,
    /// 256 queued commands, 1024 queued events per channel, 60 s idle timeout, 30 s discovery
    /// interval, up to 64 dialled peers, 1024 concurrent request streams per connection, no bootstrap
    /// peers; gossip on, a 5 s handshake timeout, 128 KiB light requests, 64 KiB requests
    /// from unadmitted peers on the node protocol, 8 light requests
    /// and 1024 uploads in flight per peer, 256 connections of non-members (2 per peer, 64
    /// pending), no members; pings
    /// every 2 s, a peer without a pong for 5 s reported unresponsive.
    pub fn new(signing_key: SigningKey, listen: impl Into<String>) -> Self {
        Self {
            signing_key,
            listen: listen.into(),
            bootstrap: Vec::new(),
            max_message_bytes: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            command_capacity: 256,
            event_capacity: 1024,
            idle_timeout: Duration::from_secs(60),
            discovery_interval: Duration::from_secs(30),
            target_peers: 64,
            max_concurrent_streams: 1024,
            kademlia_server: true,
            gossip: true,
            handshake_timeout: Some(Self::HANDSHAKE_TIMEOUT),
            max_light_request_bytes: 128 * 1024,
            max_unadmitted_request_bytes: 64 * 1024,
            light_in_flight_per_peer: Self::LIGHT_IN_FLIGHT_PER_PEER,
            uploads_in_flight_per_peer: Self::UPLOADS_IN_FLIGHT_PER_PEER,
            light_capacity: 256,
            max_connections: Self::MAX_CONNECTIONS,
            max_connections_per_peer: Self::MAX_CONNECTIONS_PER_PEER,
            members: None,
            max_pending_incoming: 64,
            ping_interval: Self::PING_INTERVAL,
            unresponsive_after: Some(Self::UNRESPONSIVE_AFTER),
            unpinged: None,
            latency: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), P2pError> {
        let bad = |what: &str| Err(P2pError::InvalidConfig(format!("{what} must be positive")));
        if self.command_capacity == 0 {
            return bad("command_capacity");
        }
        if self.max_concurrent_streams == 0 {
            return bad("max_concurrent_streams");
        }
        if self.event_capacity == 0 {
            return bad("event_capacity");
        }
        if self.light_capacity == 0 {
            return bad("light_capacity");
        }
        if self.light_in_flight_per_peer == 0 {
            return bad("light_in_flight_per_peer");
        }
        if self.uploads_in_flight_per_peer == 0 {
            return bad("uploads_in_flight_per_peer");
        }
        if self.max_connections == 0 || self.max_connections_per_peer == 0 {
            return bad("max_connections and max_connections_per_peer");
        }
        if self.max_light_request_bytes < 1024 || self.max_unadmitted_request_bytes < 1024 {
            return Err(P2pError::InvalidConfig(
                "max_light_request_bytes and max_unadmitted_request_bytes must be at least 1024"
                    .into(),
            ));
        }
        if self.handshake_timeout.is_some_and(|t| t.is_zero()) {
            return bad("handshake_timeout");
        }
        if self.max_message_bytes < 1024 {
            return Err(P2pError::InvalidConfig(
                "max_message_bytes must be at least 1024".into(),
            ));
        }
        if u32::try_from(self.max_message_bytes).is_err() {
            return Err(P2pError::InvalidConfig(
                "max_message_bytes must fit in 32 bits".into(),
            ));
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout");
        }
        if self.discovery_interval.is_zero() {
            return bad("discovery_interval");
        }
        if self.ping_interval.is_zero() {
            return bad("ping_interval");
        }
        if self
            .unresponsive_after
            .is_some_and(|after| after <= self.ping_interval)
        {
            return Err(P2pError::InvalidConfig(
                "unresponsive_after must exceed ping_interval".into(),
            ));
        }
        Ok(())
    }
}
