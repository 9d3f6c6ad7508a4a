//! Picking a turn's orderer committee from the beacon seed: every node ranks the eligible
//! orderers by a hash of (seed, key) and takes the first 3f+1, so all compute the same set.

use crate::hash::{Hash32, tagged_hash};
use crate::keys::PublicKey;

/// One turn's PBFT committee, in rank order (which also fixes the PBFT leader rotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committee {
    members: Vec<PublicKey>,
}

impl Committee {
    /// A committee with the given members in leader order. Duplicates are removed (first kept)
    /// so a key can never vote twice.
    pub fn new(members: Vec<PublicKey>) -> Self {
        let mut seen = std::collections::BTreeSet::new();
        let members = members.into_iter().filter(|k| seen.insert(*k)).collect();
        Self { members }
    }

    /// The members in leader order.
    pub fn members(&self) -> &[PublicKey] {
        &self.members
    }

    /// Number of members n.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when nobody is eligible (consensus cannot run).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// How many Byzantine members it tolerates: f = (n - 1) / 3.
    pub fn f(&self) -> usize {
        self.members.len().saturating_sub(1) / 3
    }

    /// Votes needed for a quorum: 2f + 1.
    pub fn quorum(&self) -> usize {
        2 * self.f() + 1
    }

    /// Votes that guarantee one honest member: f + 1.
    pub fn weak_quorum(&self) -> usize {
        self.f() + 1
    }

    /// Whether `key` sits in the committee.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.members.contains(key)
    }

    /// The PBFT leader of `view`: members take turns in rank order.
    pub fn leader(&self, view: u64) -> Option<&PublicKey> {
        if self.members.is_empty() {
            return None;
        }
        let i = (view % self.members.len() as u64) as usize;
        self.members.get(i)
    }
}

/// Ranks `eligible` by `tagged_hash(seed, key)` and keeps the first `size`: deterministic on
/// every node, unpredictable before the seed is known, and different from turn to turn.
pub fn select_committee(seed: &Hash32, eligible: &[PublicKey], size: usize) -> Committee {
    let mut ranked: Vec<(Hash32, PublicKey)> = eligible
        .iter()
        .map(|k| {
            (
                tagged_hash(
                    "medblock/committee-rank/v1",
                    &[seed.as_bytes(), k.as_bytes()],
                ),
                *k,
            )
        })
        .collect();
    ranked.sort();
    ranked.dedup_by(|a, b| a.1 == b.1);
    Committee::new(ranked.into_iter().take(size).map(|(_, k)| k).collect())
}
