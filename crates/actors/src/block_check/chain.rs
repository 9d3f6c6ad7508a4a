//! The chain below a proposal as an orderer knows it: its ledger (RocksDB) for what is
//! committed, and the blocks it has checked or seen decided above the ledger's tip, for the
//! orderer time of the block below and the events still pending in decided blocks.

use medblock_core::block::ChainTip;
use medblock_core::block_rules::{BlockRuleError, ChainBelow, Inclusion};
use medblock_core::codec::{decode_bounded, limits};
use medblock_core::config::ConfigState;
use medblock_core::keys::PublicKey;
use medblock_core::{EventKey, Hash32, VerifiedBlock, wire};
use medblock_storage::Ledger;
use prost::Message as _;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// Blocks remembered above the ledger's tip at most. Entries leave once committed; a ledger
/// that far behind makes the orderer refuse (the chain below is not known) until it catches up,
/// rather than vote on a guess.
const MAX_REMEMBERED: usize = 256;

/// A block the orderer checked or saw decided: enough to know its time, its events and whose
/// they are (the access-record rule asks whether a patient or a record is on the chain).
#[derive(Debug)]
struct Remembered {
    tip: ChainTip,
    previous: Hash32,
    keys: HashSet<EventKey>,
    owners: HashMap<EventKey, PublicKey>,
    /// The configuration after this block, when the block changed it.
    config: Option<Arc<ConfigState>>,
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

    /// The id of the block this node's ledger holds at `height`, if any.
    pub(super) fn committed_id_at(&self, height: u64) -> Option<Hash32> {
        self.ledger.as_ref()?.block_id_at(height).ok().flatten()
    }

    /// Remembers a block this orderer verified (its events parsed).
    /// Remembers a proposal this orderer checked, with the configuration it leaves (`None`
    /// when it changes none).
    pub(crate) fn remember_verified(&self, block: &VerifiedBlock, config: Option<ConfigState>) {
        self.remember(Remembered {
            tip: block.tip(),
            previous: block.previous(),
            keys: block.event_keys().collect(),
            owners: block.events.iter().map(|e| (e.key(), e.patient)).collect(),
            config: config.map(Arc::new),
        });
    }

    /// The configuration after block `id`: the newest decided block above the ledger's tip
    /// that changed it, else the ledger's configuration as of `id`'s height.
    pub(crate) fn config_after(&self, id: Hash32) -> Result<Arc<ConfigState>, BlockRuleError> {
        let ledger = self
            .ledger
            .as_deref()
            .ok_or_else(|| BlockRuleError::View("the orderer has no ledger".into()))?;
        let ledger_height = ledger.tip().height;
        let blocks = self.blocks.borrow();
        let mut cur = id;
        // Decided blocks above the ledger's tip, newest first: the newest that changed it.
        while let Some(b) = blocks.get(&cur) {
            if b.tip.height <= ledger_height {
                break;
            }
            if let Some(c) = &b.config {
                return Ok(c.clone());
            }
            cur = b.previous;
        }
        // At or below the ledger's tip (which may be ahead of the block asked about, when the
        // committer caught up first): the configuration as of that block's height.
        let height = if cur == Hash32::ZERO {
            0
        } else if let Some(b) = blocks.get(&cur) {
            b.tip.height
        } else {
            let skeleton = ledger
                .block_skeleton(&cur)
                .map_err(view_err)?
                .ok_or_else(|| {
                    BlockRuleError::View(format!(
                        "block {cur} below the proposal is neither decided here nor on the ledger"
                    ))
                })?;
            VerifiedBlock::tip_of(&skeleton)
                .map_err(|e| BlockRuleError::View(e.to_string()))?
                .height
        };
        ledger
            .config_at(height)
            .ok_or_else(|| BlockRuleError::View("the orderer's ledger has no configuration".into()))
    }

    pub(crate) fn remember_certified(&self, block: &wire::Block) {
        let Ok(tip) = VerifiedBlock::tip_of(block) else {
            return;
        };
        // Its configuration changes, folded on the state below (the certificate vouches for the
        // block; the CA signatures and the rules are checked again all the same).
        let config = if block.config_changes.is_empty() {
            None
        } else {
            let previous = decode_bounded::<wire::BlockHeader>(
                "block header",
                &block.header,
                limits::MAX_HEADER_BYTES,
            )
            .ok()
            .and_then(|h| Hash32::from_slice(&h.previous_hash));
            match previous.map(|p| self.config_after(p)) {
                Some(Ok(below)) => match below.check_block(tip.height, &block.config_changes) {
                    Ok((_, next)) => Some(Arc::new(next)),
                    Err(e) => {
                        tracing::error!(height = tip.height, error = %e, "a decided block's configuration changes do not apply here");
                        None
                    }
                },
                _ => None,
            }
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
        // Whose each event is: its body's patient key (certified bytes: decoded, not verified).
        let owners = block
            .events
            .iter()
            .filter_map(|bytes| {
                let event: wire::Event =
                    decode_bounded("event", bytes, limits::MAX_EVENT_BYTES).ok()?;
                let body = wire::EventBody::decode(event.body.as_slice()).ok()?;
                let patient = PublicKey::from_slice(&body.patient_key).ok()?;
                Some((
                    EventKey::new(&body.hospital, &body.department, body.sequence),
                    patient,
                ))
            })
            .collect();
        self.remember(Remembered {
            tip,
            owners,
            config,
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
    /// Calls `f` on each decided block between the ledger's tip and the proposal, walking back
    /// from the block below, until `f` returns true (then `Ok(true)`); a block there that is
    /// neither remembered nor on the ledger is an error.
    pub(super) fn any_pending(
        &self,
        mut f: impl FnMut(&HashMap<EventKey, PublicKey>) -> bool,
    ) -> Result<bool, BlockRuleError> {
        let ledger = self.ledger()?;
        let ledger_height = ledger.tip().height;
        let blocks = self.chain.blocks.borrow();
        let mut cur = self.previous;
        loop {
            let Some(b) = blocks.get(&cur) else {
                if cur == Hash32::ZERO || ledger.block_skeleton(&cur).map_err(view_err)?.is_some() {
                    return Ok(false);
                }
                return Err(BlockRuleError::View(format!(
                    "decided block {cur} above the ledger's tip {ledger_height} is not known"
                )));
            };
            if b.tip.height <= ledger_height {
                return Ok(false);
            }
            if f(&b.owners) {
                return Ok(true);
            }
            cur = b.previous;
        }
    }

    pub(super) fn ledger(&self) -> Result<&Ledger, BlockRuleError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::synthetic::World;
    use medblock_storage::OpenCheck;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// A ledger (RocksDB in a temporary directory) holding block 1, and block 2 on it, decided
    /// but not committed.
    fn fixture() -> (tempfile::TempDir, Arc<Ledger>, VerifiedBlock, VerifiedBlock) {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = Arc::new(Ledger::open(dir.path(), OpenCheck::HashChain, 100).expect("ledger"));
        let mut rng = StdRng::seed_from_u64(7);
        let mut world = World::generate(&mut rng, 1, 2);
        let block = |world: &mut World, rng: &mut StdRng, tip: &ChainTip, first: u64| {
            let events = (0..2)
                .map(|i| world.event(0, 0, first + i, rng).expect("event"))
                .collect();
            world.block(tip, events, first + 10).expect("block")
        };
        let b1 = block(&mut world, &mut rng, &ChainTip::GENESIS, 1_000);
        ledger.commit(&b1).expect("commit block 1");
        let b2 = block(&mut world, &mut rng, &b1.tip(), 2_000);
        (dir, ledger, b1, b2)
    }

    #[test]
    fn the_block_below_is_read_from_the_ledger_with_its_real_time() {
        let (_dir, ledger, b1, _) = fixture();
        let chain = OrdererChain::new(ledger);
        let tips = BTreeMap::new();
        let below = chain.below(b1.id, &tips);
        // Neither remembered nor noted as decided: the ledger answers, time and all.
        assert_eq!(below.tip_at(1), Ok(Some(b1.tip())));
        assert!(b1.tip().timestamp_ms > 0);
        let key = b1.event_keys().next().expect("an event");
        assert_eq!(
            below.included(&key, 2),
            Ok(Some(Inclusion::Committed { height: 1 }))
        );
    }

    #[test]
    fn a_decided_block_not_yet_committed_holds_its_events_pending() {
        let (_dir, ledger, _, b2) = fixture();
        let chain = OrdererChain::new(ledger.clone());
        chain.remember_certified(&b2.block);
        let tips = BTreeMap::new();
        let below = chain.below(b2.id, &tips);
        assert_eq!(below.tip_at(2), Ok(Some(b2.tip())));
        let key = b2.event_keys().next().expect("an event");
        assert_eq!(
            below.included(&key, 3),
            Ok(Some(Inclusion::Pending { height: 2 }))
        );
        // Once committed, it is the ledger's.
        ledger.commit(&b2).expect("commit block 2");
        let mut chain = chain;
        chain.committed(2);
        let below = chain.below(b2.id, &tips);
        assert_eq!(
            below.included(&key, 3),
            Ok(Some(Inclusion::Committed { height: 2 }))
        );
        assert_eq!(below.tip_at(2), Ok(Some(b2.tip())));
    }

    #[test]
    fn an_unknown_block_below_is_not_guessed() {
        let (_dir, ledger, _, b2) = fixture();
        let chain = OrdererChain::new(ledger);
        let tips = BTreeMap::new();
        // Block 2 was decided, but this orderer has neither seen it nor committed it.
        let below = chain.below(b2.id, &tips);
        assert_eq!(below.tip_at(2), Ok(None));
        let key = b2.event_keys().next().expect("an event");
        assert!(matches!(
            below.included(&key, 3),
            Err(BlockRuleError::View(_))
        ));
        // And an orderer without a ledger refuses rather than guesses.
        let none = OrdererChain::default();
        assert!(none.below(b2.id, &tips).tip_at(2).is_err());
    }

    #[test]
    fn a_late_proposal_of_the_committed_block_checks_and_another_is_refused_uncounted() {
        use medblock_core::consensus::node::ChainValidator;
        let (_dir, ledger, b1, b2) = fixture();
        let chain = OrdererChain::new(ledger.clone());
        // The committer appended block 2 (from gossip) before this orderer checked its
        // proposal.
        ledger.commit(&b2).expect("commit block 2");
        let counters = crate::shared::Counters::default();
        let revoked = Default::default();
        let tips = BTreeMap::new();
        let check = super::super::BlockCheck {
            revoked: &revoked,
            tips: &tips,
            chain: &chain,
            limits: medblock_core::block_rules::BlockLimits {
                max_events: 100,
                max_bytes: 1 << 20,
            },
            max_skew_ms: 60_000,
            counters: &counters,
            regulator: None,
        };
        let now = b2.tip().timestamp_ms;
        let same = b2.block.encode_to_vec();
        assert_eq!(check.validate(2, &b1.id, &same, now).ok(), Some(b2.id));
        let other = b1.block.encode_to_vec();
        assert!(check.validate(2, &b1.id, &other, now).is_err());
        assert_eq!(
            crate::shared::Counters::get(&counters.invalid_proposals),
            0,
            "a late proposal is not an invalid one"
        );
    }
}
