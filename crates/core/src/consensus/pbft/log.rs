//! The PBFT message log: per (height, view), the accepted pre-prepare and the votes for it.
//! Only the current height's current view takes new entries (future ones wait in the
//! [`super::buffer::FutureBuffer`]); decided heights stay until a stable checkpoint covers them.

use super::messages::{CheckedPrePrepare, CheckedVote};
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature};
use std::collections::BTreeMap;

/// Everything known about one (height, view).
#[derive(Clone, Debug, Default)]
pub struct Slot {
    /// The leader's pre-prepare, once accepted.
    pub pre_prepare: Option<CheckedPrePrepare>,
    /// First prepare per member.
    pub prepares: BTreeMap<PublicKey, CheckedVote>,
    /// First commit per member.
    pub commits: BTreeMap<PublicKey, CheckedVote>,
    /// Whether this member already sent its commit here.
    pub sent_commit: bool,
}

impl Slot {
    /// Prepares that match `digest`.
    pub fn prepares_for(&self, digest: &Hash32) -> Vec<&CheckedVote> {
        self.prepares
            .values()
            .filter(|v| &v.digest == digest)
            .collect()
    }

    /// (member, signature) of commits that match `digest`.
    pub fn commits_for(&self, digest: &Hash32) -> Vec<(PublicKey, Signature)> {
        self.commits
            .values()
            .filter(|v| &v.digest == digest)
            .map(|v| (v.voter, v.signature))
            .collect()
    }
}

/// The log, keyed by (height, view).
#[derive(Clone, Debug, Default)]
pub struct MessageLog {
    slots: BTreeMap<(u64, u64), Slot>,
}

impl MessageLog {
    /// The slot of (height, view), created when missing.
    pub fn slot_mut(&mut self, height: u64, view: u64) -> &mut Slot {
        self.slots.entry((height, view)).or_default()
    }

    /// The slot of (height, view), if any.
    pub fn slot(&self, height: u64, view: u64) -> Option<&Slot> {
        self.slots.get(&(height, view))
    }

    /// Records a vote (first per member wins; a second, different vote is ignored).
    pub fn record_vote(&mut self, v: CheckedVote) {
        let slot = self.slot_mut(v.height, v.view);
        let map = match v.kind {
            crate::consensus::statement::VoteKind::Prepare => &mut slot.prepares,
            crate::consensus::statement::VoteKind::Commit => &mut slot.commits,
            crate::consensus::statement::VoteKind::Checkpoint => return,
        };
        map.entry(v.voter).or_insert(v);
    }

    /// Drops the slots of views below `view` at `height` (superseded by a view change).
    pub fn drop_views_below(&mut self, height: u64, view: u64) {
        self.slots.retain(|(h, v), _| *h != height || *v >= view);
    }

    /// Garbage collection after a stable checkpoint: forgets every height up to `stable`.
    pub fn collect_garbage(&mut self, stable: u64) {
        self.slots.retain(|(h, _), _| *h > stable);
    }

    /// Number of slots held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}
