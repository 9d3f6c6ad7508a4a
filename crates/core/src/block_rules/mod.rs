//! One validity predicate for blocks: what a committer would refuse, an orderer refuses before
//! voting. Orderers (`BlockCheck` in the actors), committers (the ledger's commit) and the
//! simulator's validator all call [`check_chain`]; a ledger block goes through
//! [`check_ledger_block`] (committers, whose certificate vouches for admission) or
//! [`check_proposal`] (orderers, which also check integrity, encoding, the clock and who wrote
//! it).
//!
//! Why one predicate: if an orderer votes for a block its committers then refuse (an event
//! already committed, a timestamp before the previous block's, a proposal too large to
//! deliver), the committee has decided a block nobody appends and the chain stops for good.
//! The chain rules therefore depend only on a [`ChainBelow`] view, which each caller backs with
//! what it knows (the ledger, plus an orderer's decided but not yet committed blocks).

mod config;
mod facts;
mod ledger_block;
mod limits;

pub use config::check_config;
pub use facts::{BlockFacts, ChainBelow, Inclusion};
pub use ledger_block::{Admission, check_ledger_block, check_proposal, proposal_len};
pub use limits::{BLOCK_BASE_BYTES, BlockLimits, event_cost, max_block_bytes};

use crate::block::ChainTip;
use crate::error::{BlockError, LedgerError};
use crate::hash::Hash32;

/// Why a block is refused by the predicate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockRuleError {
    /// More events than the genesis limit.
    #[error("block has {count} events, over the limit of {max}")]
    TooManyEvents {
        /// Events in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More bytes than the block byte limit (a proposal that large may not reach the
    /// committee, or a catch-up answer may not hold it).
    #[error("block is {bytes} bytes, over the limit of {max}")]
    TooManyBytes {
        /// The proposal's encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The block does not extend the chain below it: height, link or time.
    #[error(transparent)]
    Chain(BlockError),
    /// The block below is not known with its orderer time, so time cannot be checked.
    #[error("block {height} below this one is unknown: its time cannot be checked")]
    PreviousUnknown {
        /// Height of the block below.
        height: u64,
    },
    /// An event of the block is already on the ledger.
    #[error("event #{index} of the block is already committed at height {at}")]
    AlreadyCommitted {
        /// Its position in the block.
        index: usize,
        /// Height of the block that holds it.
        at: u64,
    },
    /// An event of the block is in an earlier block decided but not yet committed.
    #[error("event #{index} of the block is in the pending block at height {at}")]
    PendingBelow {
        /// Its position in the block.
        index: usize,
        /// Height of the pending block that holds it.
        at: u64,
    },
    /// The block does not verify (hashes, signatures, sizes, order).
    #[error("block does not verify: {0}")]
    Integrity(LedgerError),
    /// The bytes are not the block's canonical encoding (catch-up re-encodes stored blocks).
    #[error("block is not canonically encoded")]
    NotCanonical,
    /// A proposal carries a commit certificate (only decided blocks do).
    #[error("a proposed block carries no certificate")]
    CarriesCertificate,
    /// The orderer time is too far ahead of the checking orderer's clock.
    #[error(transparent)]
    Clock(BlockError),
    /// The endorser or an event's department is not certified for it.
    #[error("unauthorized: {0}")]
    Unauthorized(LedgerError),
    /// An event is recorded under an authorization revoked below.
    #[error("revoked: {0}")]
    Revoked(LedgerError),
    /// A configuration change the state below refuses.
    #[error("configuration change refused: {0}")]
    Config(crate::config::ConfigError),
    /// A membership or parameter change in a block that does not end its primary's turn:
    /// every block of a turn must be certified by the committee of one membership.
    #[error("a block that changes consensus membership or parameters must end its turn")]
    ConfigOutsideTurnEnd,
    /// The chain view could not be read (e.g. a storage error): refused rather than guessed.
    #[error("chain below unreadable: {0}")]
    View(String),
}

/// The chain rules every block obeys, whatever its model: at most `limits.max_events` events
/// and `limits.max_bytes` bytes, the next height on the block the chain holds below it, an
/// orderer time no earlier than that block's, and no event already committed or pending in a
/// block below. The block below must be known with its real time; when the view cannot tell,
/// the block is refused ([`BlockRuleError::PreviousUnknown`]): an orderer that votes on a guess
/// can decide a block every committer refuses.
pub fn check_chain<B, V>(block: &B, below: &V, limits: &BlockLimits) -> Result<(), BlockRuleError>
where
    B: BlockFacts,
    V: ChainBelow<B::Key> + ?Sized,
{
    let count = block.event_count();
    if count > limits.max_events {
        return Err(BlockRuleError::TooManyEvents {
            count,
            max: limits.max_events,
        });
    }
    let bytes = block.encoded_len();
    if bytes > limits.max_bytes {
        return Err(BlockRuleError::TooManyBytes {
            bytes,
            max: limits.max_bytes,
        });
    }
    let height = block.height();
    let Some(previous_height) = height.checked_sub(1) else {
        return Err(BlockRuleError::Chain(BlockError::HeightMismatch {
            expected: 1,
            found: 0,
        }));
    };
    // The view is asked even for genesis: a committer's view answers with its tip whatever
    // the height, so a block for a height already taken is refused as a mismatch.
    let previous = match below.tip_at(previous_height)? {
        Some(tip) => tip,
        None if previous_height == 0 => ChainTip::GENESIS,
        None => {
            return Err(BlockRuleError::PreviousUnknown {
                height: previous_height,
            });
        }
    };
    check_link(block, &previous)?;
    for (index, key) in block.event_keys().iter().enumerate() {
        match below.included(key, height)? {
            None => {}
            Some(Inclusion::Committed { height: at }) => {
                return Err(BlockRuleError::AlreadyCommitted { index, at });
            }
            Some(Inclusion::Pending { height: at }) => {
                return Err(BlockRuleError::PendingBelow { index, at });
            }
        }
    }
    Ok(())
}

/// The block's link to `previous`: the next height, its id, and time not going back.
fn check_link<B: BlockFacts>(block: &B, previous: &ChainTip) -> Result<(), BlockRuleError> {
    let height = block.height();
    if height != previous.height.saturating_add(1) {
        return Err(BlockRuleError::Chain(BlockError::HeightMismatch {
            expected: previous.height.saturating_add(1),
            found: height,
        }));
    }
    let found: Hash32 = block.previous();
    if found != previous.id {
        return Err(BlockRuleError::Chain(BlockError::PreviousHashMismatch {
            height,
            expected: previous.id,
            found,
        }));
    }
    if let Some(found) = block.orderer_timestamp_ms()
        && found < previous.timestamp_ms
    {
        return Err(BlockRuleError::Chain(BlockError::TimestampRegressed {
            found,
            previous: previous.timestamp_ms,
        }));
    }
    Ok(())
}
