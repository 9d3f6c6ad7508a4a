//! Membership changed on the ledger (issue 18), in the simulator: a seeded script of
//! memberships that primaries put in the last block of a turn, the validator that maps such a
//! block to its [`Reconfiguration`] (as a real node maps a block's configuration events), and
//! Byzantine orderers that number f of the membership in force.
//!
//! The script, from a pool of four orderers with committees of four:
//! 1. orderers 4, 5 and 6 join: seven, committees of seven (f = 2);
//! 2. committees shrink to four and the turn and view-change timeouts change (f = 1);
//! 3. two orderers leave (five);
//! 4. one more leaves (four, the least there may be) and region `r1` gets a third endorser
//!    candidate.
//!
//! Each change may ride in a turn's last block once the chain reached its trigger height
//! (seeded: a turn after the one before, one of them two turns). One Byzantine orderer, in the first pool, misbehaves throughout; a second one only
//! while membership 1 (seven orderers, f = 2) is in force on it. Its own node installs each
//! membership when it decides the block, before it enters the next turn, so what it sends in a
//! turn of membership 2 is sent as an honest node.

use crate::block::{SimBlock, SimValidator};
use crate::runner::SimConfig;
use medblock_core::Hash32;
use medblock_core::consensus::node::ChainValidator;
use medblock_core::consensus::{ConsensusConfig, InvalidProposal, Reconfiguration, RegionSetup};
use medblock_core::keys::PublicKey;
use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

/// Orderers in the first pool.
pub const FIRST_POOL: usize = 4;
/// Orderer nodes in a reconfiguration run (the pool grows to all of them).
pub const ORDERER_NODES: usize = 7;

/// The memberships a run goes through, when each may be proposed, and who is Byzantine when.
#[derive(Clone, Debug, Default)]
pub(crate) struct Script {
    /// Membership `k` (1-based, as blocks name it) is `memberships[k - 1]`.
    pub(crate) memberships: Vec<Reconfiguration>,
    /// The lowest height whose block may carry membership `k`: `triggers[k - 1]`.
    pub(crate) triggers: Vec<u64>,
    /// Per node, the memberships (bit `k`; bit 0 the first) under which it is Byzantine.
    pub(crate) byz_epochs: Vec<u64>,
}

impl Script {
    /// No changes; Byzantine nodes misbehave throughout (a run without reconfiguration).
    pub(crate) fn fixed(byz: &[bool]) -> Self {
        Self {
            memberships: Vec::new(),
            triggers: Vec::new(),
            byz_epochs: byz.iter().map(|b| if *b { u64::MAX } else { 0 }).collect(),
        }
    }

    /// Whether node `i` misbehaves while membership `epoch` is in force on it.
    pub(crate) fn byzantine(&self, i: usize, epoch: u8) -> bool {
        self.byz_epochs
            .get(i)
            .is_some_and(|m| m & (1u64 << epoch.min(63)) != 0)
    }

    /// Whether silent Byzantine node `i` also ignores what it receives while membership
    /// `epoch` is in force on it: only when it is Byzantine under every membership. One that
    /// is Byzantine under some must keep hearing the chain, or it would never learn the block
    /// that ends its Byzantine role and would stay silent in committees where it counts
    /// beyond f.
    pub(crate) fn deaf(&self, i: usize, epoch: u8) -> bool {
        self.byzantine(i, epoch) && self.byz_epochs.get(i) == Some(&u64::MAX)
    }

    /// The change a primary whose chain is at membership `epoch` puts in its last block of a
    /// turn at `height` (0: none).
    pub(crate) fn next_change(&self, epoch: u8, height: u64) -> u8 {
        let k = usize::from(epoch);
        match self.triggers.get(k) {
            Some(t) if height >= *t => u8::try_from(k + 1).unwrap_or(0),
            _ => 0,
        }
    }

    /// The membership in force after change `epoch` (`None` before any).
    pub(crate) fn membership(&self, epoch: u8) -> Option<&Reconfiguration> {
        usize::from(epoch)
            .checked_sub(1)
            .and_then(|k| self.memberships.get(k))
    }
}

/// Builds the script for a run whose orderer keys are `orderers` (all [`ORDERER_NODES`]) and
/// whose regions start as `regions`; picks the Byzantine orderers (marked in `byz`).
pub(crate) fn script(
    cfg: &SimConfig,
    orderers: &[PublicKey],
    regions: &[RegionSetup],
    byz: &mut [bool],
    rng: &mut ChaCha20Rng,
) -> Script {
    let n = orderers.len();
    // Always Byzantine: one of the first pool. Byzantine under membership 1 only: another.
    let a = (rng.next_u64() % FIRST_POOL.min(n) as u64) as usize;
    let mut b = (rng.next_u64() % n as u64) as usize;
    if b == a {
        b = (b + 1) % n;
    }
    let mut byz_epochs = vec![0u64; byz.len()];
    for (i, m) in [(a, u64::MAX), (b, 1u64 << 1)] {
        if let (Some(e), Some(f)) = (byz_epochs.get_mut(i), byz.get_mut(i)) {
            *e = m;
            *f = true;
        }
    }
    let pool = |ids: &[usize]| {
        ids.iter()
            .filter_map(|i| orderers.get(*i).copied())
            .collect()
    };
    let timeouts = ConsensusConfig {
        turn_timeout_ms: cfg.consensus.turn_timeout_ms + 500,
        view_change_timeout_ms: cfg.consensus.view_change_timeout_ms + 100,
        ..cfg.consensus.clone()
    };
    let all: Vec<usize> = (0..n).collect();
    // Two, then one more, leave; never the always-Byzantine one, so f stays 1 with it in.
    let mut stay: Vec<usize> = all.clone();
    let mut leave = || {
        let candidates: Vec<usize> = stay.iter().copied().filter(|i| *i != a).collect();
        let out = candidates[(rng.next_u64() % candidates.len() as u64) as usize];
        stay.retain(|i| *i != out);
        stay.clone()
    };
    let _ = leave();
    let five = leave();
    let four = leave();
    let mut grown = regions.to_vec();
    if let Some(r1) = grown.get_mut(1)
        && let Some(v) = r1
            .voters
            .iter()
            .find(|v| !r1.candidates.contains(v))
            .copied()
    {
        r1.candidates.push(v);
    }
    let membership =
        |ids: &[usize], size: usize, c: &ConsensusConfig, r: &[RegionSetup]| Reconfiguration {
            orderers: pool(ids),
            cfg: ConsensusConfig {
                committee_size: size,
                ..c.clone()
            },
            regions: r.to_vec(),
        };
    let memberships = vec![
        membership(&all, 7, &cfg.consensus, regions),
        membership(&all, 4, &timeouts, regions),
        membership(&five, 4, &timeouts, regions),
        membership(&four, 4, &timeouts, &grown),
    ];
    // Seeded points: each change two heights (a turn of two blocks) after the one before,
    // and one of them a turn later still.
    let late = rng.next_u64() % memberships.len() as u64;
    let mut at = 0;
    let triggers = (0..memberships.len() as u64)
        .map(|k| {
            at += if k == late { 4 } else { 2 };
            at
        })
        .collect();
    Script {
        memberships,
        triggers,
        byz_epochs,
    }
}

/// The simulator's validator with the run's script: a block's change `k` is membership `k`.
pub(crate) struct ScriptedValidator<'a> {
    pub(crate) script: &'a Script,
}

impl ChainValidator for ScriptedValidator<'_> {
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        ChainValidator::validate(&SimValidator, height, previous, payload, now_ms)
    }

    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal> {
        SimValidator.ends_turn(height, payload)
    }

    fn reconfiguration(
        &self,
        height: u64,
        payload: &[u8],
    ) -> Result<Option<Reconfiguration>, InvalidProposal> {
        let bad = |reason: &str| InvalidProposal {
            height,
            reason: reason.to_string(),
            blame: true,
        };
        let b = SimBlock::decode(payload).ok_or_else(|| bad("malformed block"))?;
        if b.config == 0 {
            return Ok(None);
        }
        self.script
            .membership(b.config)
            .cloned()
            .map(Some)
            .ok_or_else(|| bad("unknown membership change"))
    }
}
