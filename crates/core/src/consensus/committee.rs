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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::beacon::Beacon;
    use crate::keys::SigningKey;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn keys(seed: u64, n: usize) -> Vec<PublicKey> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| SigningKey::generate(&mut rng).public())
            .collect()
    }

    proptest! {
        #[test]
        fn every_node_computes_the_same_committee(seed in any::<u64>(), n in 4usize..40, rot in 0usize..40) {
            let eligible = keys(seed, n);
            let s = tagged_hash("t", &[&seed.to_be_bytes()]);
            let a = select_committee(&s, &eligible, 7);
            // Another node may list the orderers in another order.
            let mut other = eligible.clone();
            other.rotate_left(rot % n);
            let b = select_committee(&s, &other, 7);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.len(), n.min(7));
            prop_assert!(a.members().iter().all(|k| eligible.contains(k)));
        }
    }

    #[test]
    fn committee_changes_from_turn_to_turn() {
        let eligible = keys(1, 31);
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let primary = SigningKey::generate(&mut rng);
        let mut chain = Hash32([0; 32]);
        let mut committees = Vec::new();
        for turn in 0..10u64 {
            let b = Beacon::sign(&primary, turn, chain, turn * 5 + 1);
            committees.push(select_committee(&b.seed(), &eligible, 7));
            chain = tagged_hash("block", &[chain.as_bytes()]);
        }
        for w in committees.windows(2) {
            assert_ne!(w[0], w[1], "consecutive turns drew the same committee");
        }
        // And the beacon is deterministic: the same primary, turn and chain give the same seed.
        let b1 = Beacon::sign(&primary, 4, chain, 9);
        let b2 = Beacon::sign(&primary, 4, chain, 9);
        assert_eq!(b1.seed(), b2.seed());
        assert_eq!(Beacon::from_wire(&b1.to_wire()), Ok(b1));
    }

    #[test]
    fn quorums() {
        let c = Committee::new(keys(3, 7));
        assert_eq!((c.f(), c.quorum(), c.weak_quorum()), (2, 5, 3));
        let dup = keys(3, 2);
        let c = Committee::new(vec![dup[0], dup[1], dup[0]]);
        assert_eq!(c.len(), 2);
    }
}
