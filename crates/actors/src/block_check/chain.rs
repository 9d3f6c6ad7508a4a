//! The chain below a proposal as an orderer knows it: its ledger (RocksDB) for what is
//! committed, and the blocks it has checked or seen decided above the ledger's tip, for the
//! orderer time of the block below and the events still pending in decided blocks.

use medblock_core::block::ChainTip;
use medblock_core::block_rules::{BlockRuleError, ChainBelow, Inclusion};
use medblock_core::codec::{decode_bounded, limits};
use medblock_core::{EventKey, Hash32, VerifiedBlock, wire};
use medblock_storage::Ledger;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Blocks remembered above the ledger's tip at most. Entries leave once committed; a ledger
/// that far behind makes the orderer refuse (the chain below is not known) until it catches up,
/// rather than vote on a guess.
const MAX_REMEMBERED: usize = 256;

/// A block the orderer checked or saw decided: enough to know its time and its events.
#[derive(Debug)]
struct Remembered {
    tip: ChainTip,
    previous: Hash32,
    keys: HashSet<EventKey>,
}

/// The orderer's memory of the chain for its block check. Filled while checking (a `&self`
/// call of the consensus machine), hence the `RefCell`: the orderer actor is its only user.
#[derive(Debug, Default)]
pub struct OrdererChain {
    ledger: Option<Arc<Ledger>>,
    blocks: RefCell<BTreeMap<Hash32, Remembered>>,
}

impl OrdererChain {
    /// A memory over the node's ledger.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        Self {
            ledger: Some(ledger),
            blocks: RefCell::default(),
        }
    }

    /// Remembers a block this orderer verified (its events parsed).
    pub(crate) fn remember_verified(&self, block: &VerifiedBlock) {
        self.remember(Remembered {
            tip: block.tip(),
            previous: block.previous(),
            keys: block.event_keys().collect(),
        });
    }

    /// Remembers a decided block from its certified bytes, reading the keys from its signature
    /// collection (hospital, department and sequence of each event) without parsing events.
    pub(crate) fn remember_certified(&self, block: &wire::Block) {
        let Ok(tip) = VerifiedBlock::tip_of(block) else {
            return;
        };
        let Ok(header) = decode_bounded::<wire::BlockHeader>(
            "block header",
            &block.header,
            limits::MAX_HEADER_BYTES,
        ) else {
            return;
        };
        let Ok(collection) = decode_bounded::<wire::SignatureCollection>(
            "signature collection",
            &block.signature_collection,
            limits::MAX_BLOCK_BYTES,
        ) else {
            return;
        };
        self.remember(Remembered {
            tip,
            previous: Hash32::from_slice(&header.previous_hash).unwrap_or(Hash32::ZERO),
            keys: collection
                .entries
                .iter()
                .map(|e| EventKey::new(&e.hospital, &e.department, e.sequence))
                .collect(),
        });
    }

    fn remember(&self, block: Remembered) {
        let mut blocks = self.blocks.borrow_mut();
        blocks.insert(block.tip.id, block);
        while blocks.len() > MAX_REMEMBERED {
            let Some(lowest) = blocks
                .iter()
                .min_by_key(|(_, b)| b.tip.height)
                .map(|(id, _)| *id)
            else {
                break;
            };
            blocks.remove(&lowest);
        }
    }

    /// Forgets blocks at or below `height`, now on the ledger.
    pub fn committed(&mut self, height: u64) {
        self.blocks.get_mut().retain(|_, b| b.tip.height > height);
    }

    /// The chain below a proposal whose block below consensus decided as `previous`.
    pub(crate) fn below<'a>(
        &'a self,
        previous: Hash32,
        tips: &'a BTreeMap<u64, ChainTip>,
    ) -> Below<'a> {
        Below {
            chain: self,
            previous,
            tips,
        }
    }
}

/// [`OrdererChain`] seen from one proposal.
pub(crate) struct Below<'a> {
    chain: &'a OrdererChain,
    /// The id consensus decided at the height below.
    previous: Hash32,
    /// Decided tips the orderer noted (by height).
    tips: &'a BTreeMap<u64, ChainTip>,
}

impl Below<'_> {
    fn ledger(&self) -> Result<&Ledger, BlockRuleError> {
        self.chain
            .ledger
            .as_deref()
            .ok_or_else(|| BlockRuleError::View("the orderer has no ledger".into()))
    }
}

fn view_err(e: medblock_storage::StorageError) -> BlockRuleError {
    BlockRuleError::View(e.to_string())
}

impl ChainBelow<EventKey> for Below<'_> {
    /// Only the block consensus decided below counts, with the time it was decided with:
    /// remembered, noted as decided, or read from the ledger. Never assumed.
    fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
        let is_it = |t: &ChainTip| t.height == height && t.id == self.previous;
        if height == 0 {
            return Ok(Some(ChainTip::GENESIS).filter(is_it));
        }
        if let Some(t) = self
            .chain
            .blocks
            .borrow()
            .get(&self.previous)
            .map(|b| b.tip)
            && is_it(&t)
        {
            return Ok(Some(t));
        }
        if let Some(t) = self.tips.get(&height).filter(|t| is_it(t)) {
            return Ok(Some(*t));
        }
        Ok(self
            .ledger()?
            .tip_at(height)
            .map_err(view_err)?
            .filter(is_it))
    }

    /// Pending: in a decided block between the ledger's tip and the proposal, found by walking
    /// back from the block below; every one of them must be known, or the check refuses.
    /// Committed: on the ledger (read after the walk, so a block committed meanwhile is seen
    /// in one place or the other).
    fn included(&self, key: &EventKey, _height: u64) -> Result<Option<Inclusion>, BlockRuleError> {
        let ledger = self.ledger()?;
        let ledger_height = ledger.tip().height;
        let blocks = self.chain.blocks.borrow();
        let mut cur = self.previous;
        loop {
            let Some(b) = blocks.get(&cur) else {
                // Not remembered: fine only if it is on the ledger already.
                if cur == Hash32::ZERO || ledger.block_skeleton(&cur).map_err(view_err)?.is_some() {
                    break;
                }
                return Err(BlockRuleError::View(format!(
                    "decided block {cur} above the ledger's tip {ledger_height} is not known"
                )));
            };
            if b.tip.height <= ledger_height {
                break;
            }
            if b.keys.contains(key) {
                return Ok(Some(Inclusion::Pending {
                    height: b.tip.height,
                }));
            }
            cur = b.previous;
        }
        drop(blocks);
        Ok(ledger
            .event_location(key)
            .map_err(view_err)?
            .map(|at| Inclusion::Committed { height: at.height }))
    }
}
