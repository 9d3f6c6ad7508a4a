//! Errors the network layer reports to the rest of the node.

/// Why a network operation failed. Every variant says what to check or retry; libp2p's own
/// error types never leave this crate, so callers match on these instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// A configuration value cannot be used (zero capacity, bad key, ...).
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// A string that should be a multiaddr (e.g. `/ip4/10.0.0.1/tcp/7000/p2p/12D3...`) is not one.
    #[error("invalid multiaddr {addr:?}: {reason}")]
    InvalidAddress {
        /// What was given.
        addr: String,
        /// Why it was refused.
        reason: String,
    },
    /// Bytes that should be a libp2p peer id of an ed25519 key are not one.
    #[error("invalid peer id: {0}")]
    InvalidPeerId(String),
    /// The TCP/noise/yamux transport could not be built (e.g. the system DNS configuration is unreadable).
    #[error("could not build the network transport: {0}")]
    Transport(String),
    /// The node could not listen on its configured address (port taken, address not local...).
    #[error("could not listen on {addr}: {reason}")]
    Listen {
        /// The configured listen address.
        addr: String,
        /// What the operating system or libp2p said.
        reason: String,
    },
    /// No connected peer is subscribed to the topic yet, so a publish would reach nobody.
    /// Retry after peers connect (see `NetworkEvent::Subscribed`).
    #[error("no connected peer is subscribed to topic {topic}; retry once peers have joined")]
    InsufficientPeers {
        /// The topic's wire name.
        topic: &'static str,
    },
    /// The message is larger than `P2pConfig::max_message_bytes` allows.
    #[error("message of {size} bytes exceeds the configured maximum of {max} bytes")]
    MessageTooLarge {
        /// Size of the message.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// Gossipsub refused the publish for another reason (duplicate, all send queues full...).
    #[error("gossip publish failed: {0}")]
    Publish(String),
    /// The peer did not answer within `P2pConfig::request_timeout`.
    #[error("peer {peer} did not answer within the request timeout")]
    Timeout {
        /// The peer's key (hex).
        peer: String,
    },
    /// No connection could be made to the peer or address (unknown address, refused, unreachable, banned by it).
    #[error("could not connect to {target}: {reason}")]
    DialFailure {
        /// The peer key (hex) or address dialled.
        target: String,
        /// Why the dial failed.
        reason: String,
    },
    /// The connection closed before the exchange completed; the peer may have gone away or disconnected us.
    #[error("connection to {peer} closed before the exchange completed")]
    ConnectionClosed {
        /// The peer's key (hex).
        peer: String,
    },
    /// The peer does not speak the MedBlock request protocol (`/medblock/req/1`): wrong software or version.
    #[error("peer {peer} does not support the MedBlock request protocol")]
    UnsupportedProtocol {
        /// The peer's key (hex).
        peer: String,
    },
    /// Reading or writing a frame failed (oversized or undecodable frame, reset stream...).
    #[error("i/o error talking to {peer}: {reason}")]
    Io {
        /// The peer's key (hex).
        peer: String,
        /// What failed.
        reason: String,
    },
    /// The response could not be delivered: the requester timed out or disconnected, or the
    /// token was already answered.
    #[error("the requester is no longer waiting for this response (timed out or disconnected)")]
    ResponseChannelClosed,
    /// The peer is on this node's ban list (see `NetworkHandle::disconnect`).
    #[error("peer {peer} is banned on this node")]
    Banned {
        /// The peer's key (hex).
        peer: String,
    },
    /// The network task has stopped (shutdown was requested or it failed); restart the node's network.
    #[error("the network task has shut down")]
    Shutdown,
}
