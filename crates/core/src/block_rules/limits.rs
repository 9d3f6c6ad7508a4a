//! How large a block may be: events by count (genesis `max_block_events`) and bytes (a quarter
//! of the network's frame limit).

use crate::codec::limits::{MAX_BLOCK_EVENTS, MAX_HEADER_BYTES};
use crate::wire;

/// Smallest and largest network frame the node runs with (`start.rs` clamps genesis'
/// `max_message_bytes` to this range for libp2p; the block limit follows the same frame).
const FRAME_RANGE: (u64, u64) = (1 << 20, 64 << 20);

/// The block byte limit for a network whose frame limit is `max_message_bytes` (genesis;
/// 16 MiB by default, giving 4 MiB blocks). A quarter of the frame because a block crosses
/// the network wrapped: in a signed proposal inside a consensus message, in a decided value
/// with a commit certificate on the blocks topic, and in catch-up answers, which stop adding
/// blocks after 4 MiB (one more block must still fit the frame). A quarter leaves room for
/// each wrapper with margin; a block near the frame itself could never be delivered and its
/// turn would be skipped again and again with the same events.
pub fn max_block_bytes(max_message_bytes: u64) -> usize {
    let frame = max_message_bytes.clamp(FRAME_RANGE.0, FRAME_RANGE.1);
    usize::try_from(frame / 4).unwrap_or(usize::MAX)
}

/// Bytes of a block besides its events and their signature entries: the header (bounded by
/// the codec), the endorser's signature, the orderer time and the protobuf framing.
pub const BLOCK_BASE_BYTES: usize = MAX_HEADER_BYTES + 256;

/// What one event adds to a proposed block: its bytes and its signature entry, each with
/// protobuf framing (a tag and a length of at most ten bytes). The endorser packs while the sum
/// of these plus [`BLOCK_BASE_BYTES`] stays within the limit, so its blocks always pass.
pub fn event_cost(event_bytes: usize, entry_bytes: usize) -> usize {
    event_bytes
        .saturating_add(entry_bytes)
        .saturating_add(2 * 11)
}

/// The limits a block is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// Events per block at most.
    pub max_events: usize,
    /// Encoded bytes per proposed block at most.
    pub max_bytes: usize,
}

impl BlockLimits {
    /// The limits genesis sets: `max_block_events` (capped by the codec's) and
    /// [`max_block_bytes`] of `max_message_bytes`.
    pub fn from_params(params: &wire::ConsensusParams) -> Self {
        Self {
            max_events: (params.max_block_events as usize).min(MAX_BLOCK_EVENTS),
            max_bytes: max_block_bytes(u64::from(params.max_message_bytes)),
        }
    }
}
