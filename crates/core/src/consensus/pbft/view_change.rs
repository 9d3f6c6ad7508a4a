//! View-change bookkeeping: the checked view changes received, per view, one per member.
//! Only views within a window above the current one are kept, so memory stays bounded.

use super::messages::CheckedViewChange;
use crate::keys::PublicKey;
use std::collections::{BTreeMap, BTreeSet};

/// How far above the current view a view change may ask; beyond, it is ignored.
pub const VIEW_WINDOW: u64 = 64;

/// Received view changes.
#[derive(Clone, Debug, Default)]
pub struct ViewChanges {
    by_view: BTreeMap<u64, BTreeMap<PublicKey, CheckedViewChange>>,
    new_view_sent: BTreeSet<u64>,
}

impl ViewChanges {
    /// Keeps `vc` unless its sender already has one for that view.
    pub fn insert(&mut self, vc: CheckedViewChange) {
        self.by_view
            .entry(vc.new_view)
            .or_default()
            .entry(vc.sender)
            .or_insert(vc);
    }

    /// The view changes for `view`.
    pub fn for_view(&self, view: u64) -> Vec<CheckedViewChange> {
        self.by_view
            .get(&view)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The smallest view above `current` that at least `weak_quorum` members asked for (or
    /// above): f+1 members means one honest one, so joining cannot be forced by the faulty.
    pub fn joinable(&self, current: u64, weak_quorum: usize) -> Option<u64> {
        let mut highest: BTreeMap<PublicKey, u64> = BTreeMap::new();
        for (v, m) in self.by_view.range(current + 1..) {
            for k in m.keys() {
                highest.insert(*k, *v);
            }
        }
        let mut views: Vec<u64> = highest.into_values().collect();
        views.sort_unstable_by(|a, b| b.cmp(a));
        views.get(weak_quorum.checked_sub(1)?).copied()
    }

    /// Marks that this member sent the new view for `view`; false if it already had.
    pub fn mark_new_view_sent(&mut self, view: u64) -> bool {
        self.new_view_sent.insert(view)
    }

    /// Forgets views at or below `view` (entered or superseded).
    pub fn forget_through(&mut self, view: u64) {
        self.by_view.retain(|v, _| *v > view);
        self.new_view_sent.retain(|v| *v > view);
    }
}
