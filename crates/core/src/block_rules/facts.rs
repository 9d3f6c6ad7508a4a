//! What the predicate reads: the facts of a block (any block model) and a view of the chain
//! below it.

use super::BlockRuleError;
use crate::block::{ChainTip, VerifiedBlock};
use crate::event::EventKey;
use crate::hash::Hash32;

/// The facts of a block the chain rules need, whatever its model (a ledger block, the
/// simulator's fake block).
pub trait BlockFacts {
    /// How an event is named on the chain (one event, one key).
    type Key;
    /// The height the block is for.
    fn height(&self) -> u64;
    /// The id of the block it extends.
    fn previous(&self) -> Hash32;
    /// Its orderer time; `None` for a model without one (then time is not checked).
    fn orderer_timestamp_ms(&self) -> Option<u64>;
    /// Its events' keys, in block order.
    fn event_keys(&self) -> Vec<Self::Key>;
    /// Its number of events.
    fn event_count(&self) -> usize;
    /// Its size as proposed (what crosses the network), in bytes.
    fn encoded_len(&self) -> usize;
}

/// Where an event already is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inclusion {
    /// In a committed block at this height.
    Committed {
        /// The block's height.
        height: u64,
    },
    /// In a block decided (or otherwise settled below) but not yet committed here.
    Pending {
        /// The block's height.
        height: u64,
    },
}

/// The chain below a block, as the checking node knows it.
pub trait ChainBelow<K> {
    /// The block the chain holds at `height`, with its real orderer time, or `None` when this
    /// node does not know it (the predicate then refuses: it never assumes a time).
    fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError>;

    /// Whether an event with `key` is already in a block below `height` (committed, or
    /// pending in an earlier block this node has seen decided).
    fn included(&self, key: &K, height: u64) -> Result<Option<Inclusion>, BlockRuleError>;
}

impl BlockFacts for VerifiedBlock {
    type Key = EventKey;

    fn height(&self) -> u64 {
        self.header.height
    }

    fn previous(&self) -> Hash32 {
        VerifiedBlock::previous(self)
    }

    fn orderer_timestamp_ms(&self) -> Option<u64> {
        Some(self.block.orderer_timestamp_ms)
    }

    fn event_keys(&self) -> Vec<EventKey> {
        VerifiedBlock::event_keys(self).collect()
    }

    fn event_count(&self) -> usize {
        self.events.len()
    }

    fn encoded_len(&self) -> usize {
        super::proposal_len(&self.block)
    }
}
