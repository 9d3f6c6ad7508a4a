//! Checkpoints: every `interval` heights members sign the id they decided; 2f+1 matching votes
//! make the height stable and let the log forget everything up to it.

use super::messages::CheckedVote;
use crate::hash::Hash32;
use crate::keys::PublicKey;
use std::collections::BTreeMap;

/// Checkpoint votes and the stable checkpoint.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    interval: u64,
    stable: u64,
    votes: BTreeMap<u64, BTreeMap<PublicKey, Hash32>>,
}

impl Checkpoints {
    /// Starts with `stable` (the height before the turn) as the stable checkpoint.
    pub fn new(interval: u64, stable: u64) -> Self {
        Self {
            interval: interval.max(1),
            stable,
            votes: BTreeMap::new(),
        }
    }

    /// Whether `height` is a checkpoint height.
    pub fn is_checkpoint(&self, height: u64) -> bool {
        height.is_multiple_of(self.interval)
    }

    /// The stable checkpoint height.
    pub fn stable(&self) -> u64 {
        self.stable
    }

    /// Records a vote; returns the new stable (height, id) when it reaches `quorum`. Votes far
    /// beyond `horizon` or at/below the stable height are ignored, which bounds memory.
    pub fn record(
        &mut self,
        v: &CheckedVote,
        quorum: usize,
        horizon: u64,
    ) -> Option<(u64, Hash32)> {
        if v.height <= self.stable || v.height > horizon || !self.is_checkpoint(v.height) {
            return None;
        }
        let at = self.votes.entry(v.height).or_default();
        at.entry(v.voter).or_insert(v.digest);
        let agreeing = at.values().filter(|d| **d == v.digest).count();
        if agreeing >= quorum {
            self.stable = v.height;
            self.votes.retain(|h, _| *h > v.height);
            return Some((v.height, v.digest));
        }
        None
    }
}
