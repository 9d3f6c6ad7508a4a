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
}

impl P2pConfig {
    /// A configuration with production defaults: 4 MiB messages, 10 s request timeout,
    /// 256 queued commands, 1024 queued events per channel, 60 s idle timeout, 30 s discovery
    /// interval, up to 64 dialled peers, 1024 concurrent request streams per connection, no bootstrap
    /// peers.
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
        Ok(())
    }
}
