//! Whom a node behind asks for blocks, so that a liar cannot starve it.
//!
//! Peers announce their height in signed ledger claims (and in the Hello of the authenticated
//! connection). The node asks the highest claim first, as before; but a claim is only a
//! claim: a peer that claimed the heights asked for and then served none of them (the request
//! failed or timed out, it answered with nothing, or nothing it sent could be applied) is
//! demoted: not asked again until its backoff ends, doubling with each repeat, and the next
//! best peer is asked at once. A peer that serves is forgiven its strikes. So a certified
//! insider claiming `u64::MAX` and answering nothing costs one request per backoff, not every
//! catch-up the node will ever make.

use std::collections::HashMap;
use std::hash::Hash;

/// Backoff of a first demotion.
pub const DEMOTION_BASE_MS: u64 = 5_000;
/// Longest backoff: a peer that lied once may have been restarted honest since.
pub const DEMOTION_MAX_MS: u64 = 5 * 60_000;

/// A peer demoted for a false height: for the counter and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demoted {
    /// Its demotions in a row (1 for the first).
    pub strikes: u32,
    /// When it may be asked again.
    pub until_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Demotion {
    strikes: u32,
    until_ms: u64,
}

/// The demoted peers and their backoffs.
#[derive(Debug, Clone)]
pub struct CatchUpPeers<K> {
    demoted: HashMap<K, Demotion>,
}

impl<K> Default for CatchUpPeers<K> {
    fn default() -> Self {
        Self {
            demoted: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + Hash + Ord> CatchUpPeers<K> {
    /// Whether `peer` is in its backoff at `now_ms`.
    pub fn is_demoted(&self, peer: &K, now_ms: u64) -> bool {
        self.demoted.get(peer).is_some_and(|d| now_ms < d.until_ms)
    }

    /// Whether `peer` was demoted and has not served since (its backoff may be over): its
    /// claims are not to be vouched for.
    pub fn has_lied(&self, peer: &K) -> bool {
        self.demoted.contains_key(peer)
    }

    /// The peer to ask for heights from `from_height`: of `claims` (peer, claimed height), the
    /// highest claim at or above `from_height` whose peer is not demoted (ties: the smallest
    /// key, so the choice is deterministic).
    pub fn choose(
        &self,
        from_height: u64,
        claims: impl IntoIterator<Item = (K, u64)>,
        now_ms: u64,
    ) -> Option<K> {
        claims
            .into_iter()
            .filter(|(k, h)| *h >= from_height && !self.is_demoted(k, now_ms))
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(k, _)| k)
    }

    /// What asking `peer` for heights from `from_height` gave: `applied` blocks appended.
    /// `claimed` is the height it claimed when asked. A peer that claimed those heights and
    /// served none is demoted (returned); one that served is forgiven.
    pub fn served(
        &mut self,
        peer: K,
        claimed: u64,
        from_height: u64,
        applied: u64,
        now_ms: u64,
    ) -> Option<Demoted> {
        if applied > 0 {
            self.demoted.remove(&peer);
            return None;
        }
        if claimed < from_height {
            // It never claimed them (a gossip neighbour asked as a hint): not a lie.
            return None;
        }
        let strikes = self.demoted.get(&peer).map_or(0, |d| d.strikes) + 1;
        let backoff = DEMOTION_BASE_MS
            .saturating_mul(1u64 << (strikes - 1).min(16))
            .min(DEMOTION_MAX_MS);
        let until_ms = now_ms.saturating_add(backoff);
        self.demoted.insert(peer, Demotion { strikes, until_ms });
        Some(Demoted { strikes, until_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_claim_is_asked_first() {
        let p = CatchUpPeers::<u8>::default();
        assert_eq!(p.choose(5, [(1, 9), (2, u64::MAX), (3, 4)], 0), Some(2));
        // Nobody claims the heights: nobody to ask.
        assert_eq!(p.choose(10, [(1, 9), (3, 4)], 0), None);
        // Equal claims: the smallest key.
        assert_eq!(p.choose(5, [(3, 9), (1, 9)], 0), Some(1));
    }

    #[test]
    fn a_liar_is_demoted_the_next_best_is_asked_and_the_backoff_doubles() {
        let mut p = CatchUpPeers::<u8>::default();
        let claims = [(1, 9), (2, u64::MAX)];
        assert_eq!(p.choose(5, claims, 0), Some(2));
        let d = p.served(2, u64::MAX, 5, 0, 0).expect("demoted");
        assert_eq!((d.strikes, d.until_ms), (1, DEMOTION_BASE_MS));
        assert_eq!(p.choose(5, claims, 1), Some(1));
        // Back after its backoff, asked, lies again: twice as long.
        assert_eq!(p.choose(5, claims, DEMOTION_BASE_MS), Some(2));
        let d = p
            .served(2, u64::MAX, 5, 0, DEMOTION_BASE_MS)
            .expect("demoted");
        assert_eq!(d.strikes, 2);
        assert_eq!(d.until_ms, 3 * DEMOTION_BASE_MS);
        // The backoff is capped.
        for _ in 0..40 {
            p.served(2, u64::MAX, 5, 0, 0);
        }
        assert!(p.is_demoted(&2, DEMOTION_MAX_MS - 1));
        assert!(!p.is_demoted(&2, DEMOTION_MAX_MS));
    }

    #[test]
    fn serving_forgives_and_a_peer_that_claimed_nothing_is_not_a_liar() {
        let mut p = CatchUpPeers::<u8>::default();
        p.served(2, 9, 5, 0, 0).expect("demoted");
        assert!(p.has_lied(&2));
        assert_eq!(p.served(2, 9, 5, 3, 1), None);
        assert!(!p.is_demoted(&2, 1));
        assert!(!p.has_lied(&2));
        // Asked as a hint below the heights it claimed: no demotion.
        assert_eq!(p.served(3, 4, 5, 0, 0), None);
        assert!(!p.is_demoted(&3, 0));
    }
}
