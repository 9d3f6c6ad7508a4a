//! Counters shared between the swarm task (which increments them) and handles (which read them).

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters; relaxed atomics, since they are monitoring data, not synchronisation.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub gossip_in: AtomicU64,
    pub gossip_out: AtomicU64,
    pub gossip_rejected: AtomicU64,
    pub requests_in: AtomicU64,
    pub requests_out: AtomicU64,
    pub requests_failed: AtomicU64,
    pub dropped_requests_other: AtomicU64,
    pub dropped_gossip_other: AtomicU64,
    pub dropped_closed_channel: AtomicU64,
    pub consensus_backpressure: AtomicU64,
    pub rejected_frames: AtomicU64,
    pub refused_connections: AtomicU64,
    pub dropped_requests_light: AtomicU64,
    pub over_peer_limit: AtomicU64,
    pub handshake_timeouts: AtomicU64,
    pub unresponsive_peers: AtomicU64,
}

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> P2pStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        P2pStats {
            gossip_in: g(&self.gossip_in),
            gossip_out: g(&self.gossip_out),
            gossip_rejected: g(&self.gossip_rejected),
            requests_in: g(&self.requests_in),
            requests_out: g(&self.requests_out),
            requests_failed: g(&self.requests_failed),
            dropped_requests_other: g(&self.dropped_requests_other),
            dropped_gossip_other: g(&self.dropped_gossip_other),
            dropped_closed_channel: g(&self.dropped_closed_channel),
            consensus_backpressure: g(&self.consensus_backpressure),
            rejected_frames: g(&self.rejected_frames),
            refused_connections: g(&self.refused_connections),
            dropped_requests_light: g(&self.dropped_requests_light),
            over_peer_limit: g(&self.over_peer_limit),
            handshake_timeouts: g(&self.handshake_timeouts),
            unresponsive_peers: g(&self.unresponsive_peers),
        }
    }
}

/// A snapshot of the network counters since start, for `/status` and metrics: each says where
/// traffic went or was lost, so an operator can tell an overloaded node from a quiet one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct P2pStats {
    /// Gossip messages received on a known topic and handed to the node (either channel).
    pub gossip_in: u64,
    /// Gossip messages this node published.
    pub gossip_out: u64,
    /// Gossip messages rejected here: unknown topic, missing author, non-ed25519 author, or a
    /// `Verdict::Reject` reported by the node.
    pub gossip_rejected: u64,
    /// Requests received from peers and handed to the node (either channel).
    pub requests_in: u64,
    /// Requests this node sent.
    pub requests_out: u64,
    /// Requests this node sent that failed (timeout, dial failure, closed connection, i/o).
    pub requests_failed: u64,
    /// Requests answered `ErrorReply{BUSY}` because the `other` channel was full.
    pub dropped_requests_other: u64,
    /// Gossip messages reported `Ignore` because the `other` channel was full.
    pub dropped_gossip_other: u64,
    /// Events discarded because the node dropped the receiving end of a channel.
    pub dropped_closed_channel: u64,
    /// Times the swarm task had to wait because the `consensus` channel was full.
    pub consensus_backpressure: u64,
    /// Request/response frames refused by the codec: over `max_message_bytes` or not protobuf.
    pub rejected_frames: u64,
    /// Connections refused (inbound or outbound) because the peer is banned, or closed at once
    /// because its identity is not an ed25519 key.
    pub refused_connections: u64,
    /// Light-node requests answered BUSY because the `light` channel was full.
    pub dropped_requests_light: u64,
    /// Requests answered BUSY because their peer already had its limit in flight
    /// (`P2pConfig::light_in_flight_per_peer`, `uploads_in_flight_per_peer`).
    pub over_peer_limit: u64,
    /// Peers disconnected because they were not admitted within the handshake timeout.
    pub handshake_timeouts: u64,
    /// Times a connected peer was reported unresponsive (no pong within
    /// `P2pConfig::unresponsive_after`).
    pub unresponsive_peers: u64,
}
