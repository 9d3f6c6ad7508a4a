//! Consensus parameters as a plain struct, so machines never depend on how genesis encodes them.

use crate::wire;

/// The knobs of the consensus machines; genesis fixes them network-wide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusConfig {
    /// Orderers per turn (3f+1); fewer eligible orderers shrink the committee to all of them.
    pub committee_size: usize,
    /// How long a primary may hold its turn without finishing before it loses it.
    pub turn_timeout_ms: u64,
    /// How long a committee member waits for progress before asking for a new PBFT view.
    pub view_change_timeout_ms: u64,
    /// Heights between PBFT checkpoints (log garbage collection).
    pub checkpoint_interval: u64,
    /// Messages for future views or heights kept per sender; beyond that they are dropped and
    /// counted, so a Byzantine sender cannot exhaust memory.
    pub future_buffer_per_sender: usize,
    /// Decided values asked for per catch-up request.
    pub catch_up_batch: u32,
    /// Largest consensus message accepted, in bytes.
    pub max_message_bytes: usize,
}

impl Default for ConsensusConfig {
    fn default() -> Self {
        Self {
            committee_size: 4,
            turn_timeout_ms: 10_000,
            view_change_timeout_ms: 2_000,
            checkpoint_interval: 10,
            future_buffer_per_sender: 64,
            catch_up_batch: 32,
            max_message_bytes: 4 << 20,
        }
    }
}

impl From<&wire::ConsensusParams> for ConsensusConfig {
    fn from(p: &wire::ConsensusParams) -> Self {
        let d = Self::default();
        let or = |v: u64, def: u64| if v == 0 { def } else { v };
        Self {
            committee_size: if p.committee_size == 0 {
                d.committee_size
            } else {
                p.committee_size as usize
            },
            turn_timeout_ms: or(p.turn_timeout_ms, d.turn_timeout_ms),
            view_change_timeout_ms: or(p.view_change_timeout_ms, d.view_change_timeout_ms),
            checkpoint_interval: or(p.checkpoint_interval, d.checkpoint_interval),
            max_message_bytes: if p.max_message_bytes == 0 {
                d.max_message_bytes
            } else {
                p.max_message_bytes as usize
            },
            ..d
        }
    }
}
