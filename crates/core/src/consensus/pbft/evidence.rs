//! The first prepare and commit each member signed per (view, height), kept apart from the
//! message log: the log drops a view's slot when a new view starts, and an equivocation sent
//! after that (a restarted member's second vote, a late Byzantine one) would go unseen. Bounded
//! by heights near the replica's and by a total cap, so a Byzantine member cannot grow it.

use super::messages::CheckedVote;
use crate::consensus::statement::VoteKind;
use crate::hash::Hash32;
use crate::keys::PublicKey;
use std::collections::BTreeMap;

/// Votes remembered at most (a few heights of a four-to-seven member committee over many
/// views fit many times over).
const CAP: usize = 8192;

/// (height, view, kind, voter) → digest of the first vote seen.
#[derive(Clone, Debug, Default)]
pub(super) struct VoteMemory {
    first: BTreeMap<(u64, u64, u32, PublicKey), Hash32>,
}

impl VoteMemory {
    /// Remembers `v` if it is the voter's first for its slot; true when the voter already
    /// signed another digest there.
    pub(super) fn conflicts(&mut self, v: &CheckedVote) -> bool {
        if v.kind == VoteKind::Checkpoint {
            return false;
        }
        let key = (v.height, v.view, v.kind as u32, v.voter);
        match self.first.get(&key) {
            Some(d) => *d != v.digest,
            None => {
                if self.first.len() >= CAP {
                    self.first.pop_first();
                }
                self.first.insert(key, v.digest);
                false
            }
        }
    }

    /// Forgets heights below `height`.
    pub(super) fn forget_below(&mut self, height: u64) {
        self.first.retain(|(h, _, _, _), _| *h >= height);
    }
}
