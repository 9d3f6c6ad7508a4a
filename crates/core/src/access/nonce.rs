//! A serving peer's challenge nonces: single use, expiring, and bounded in number, so a visitor
//! cannot replay a signed query and nobody can grow the peer's memory by asking for challenges.
//! The caller passes the random bytes, the requesting peer's key and the clock.
//!
//! The bound is per requesting key first: each key holds at most `per_key` nonces (its own
//! oldest forgotten first), and when the whole book is full the nonce forgotten is the oldest
//! of the key holding the most. So one key asking for challenges as fast as it can only ever
//! evicts its own, never another visitor's challenge.

use super::error::AccessError;
use std::collections::{HashMap, VecDeque};

/// Who asked for a nonce: the requesting peer's key (its 32 bytes).
pub type Requester = [u8; 32];

/// Issued nonces and whether each was used. Used nonces are kept until they expire, so that a
/// replay is told apart from a nonce never issued.
#[derive(Debug)]
pub struct NonceBook {
    ttl_ms: u64,
    capacity: usize,
    per_key: usize,
    entries: HashMap<[u8; 32], Entry>,
    /// Each requester's nonces, oldest first.
    by_key: HashMap<Requester, VecDeque<[u8; 32]>>,
    next_prune_ms: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    expires_at_ms: u64,
    used: bool,
}

impl NonceBook {
    /// A book whose nonces live `ttl_ms`, holding at most `capacity` of them in all and
    /// `per_key` for any one requester.
    pub fn new(ttl_ms: u64, capacity: usize, per_key: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            ttl_ms: ttl_ms.max(1),
            capacity,
            per_key: per_key.clamp(1, capacity),
            entries: HashMap::new(),
            by_key: HashMap::new(),
            next_prune_ms: 0,
        }
    }

    /// Records `nonce` (fresh random bytes from the caller) as issued at `now_ms` to
    /// `requester`; returns its expiry time. The requester's own oldest nonce is forgotten when
    /// it holds `per_key`; the book's oldest of its largest holder when the book is full.
    pub fn issue(&mut self, nonce: [u8; 32], requester: Requester, now_ms: u64) -> u64 {
        if now_ms >= self.next_prune_ms || self.entries.len() >= self.capacity {
            self.prune(now_ms);
            self.next_prune_ms = now_ms.saturating_add((self.ttl_ms / 8).max(1));
        }
        if self.by_key.get(&requester).map_or(0, VecDeque::len) >= self.per_key {
            self.evict_oldest_of(&requester);
        }
        while self.entries.len() >= self.capacity {
            let Some(largest) = self
                .by_key
                .iter()
                .max_by_key(|(_, q)| q.len())
                .map(|(k, _)| *k)
            else {
                break;
            };
            if !self.evict_oldest_of(&largest) {
                break;
            }
        }
        let expires_at_ms = now_ms.saturating_add(self.ttl_ms);
        let entry = Entry {
            expires_at_ms,
            used: false,
        };
        if self.entries.insert(nonce, entry).is_some() {
            // The same random bytes twice (never, in practice): keep one entry per nonce.
            for q in self.by_key.values_mut() {
                q.retain(|n| *n != nonce);
            }
            self.by_key.retain(|_, q| !q.is_empty());
        }
        self.by_key.entry(requester).or_default().push_back(nonce);
        expires_at_ms
    }

    /// Uses `nonce` once: refused when unknown, already used or expired.
    pub fn consume(&mut self, nonce: &[u8], now_ms: u64) -> Result<(), AccessError> {
        let key: [u8; 32] = nonce.try_into().map_err(|_| AccessError::UnknownNonce)?;
        let entry = self
            .entries
            .get_mut(&key)
            .ok_or(AccessError::UnknownNonce)?;
        if entry.used {
            return Err(AccessError::Replayed);
        }
        if now_ms > entry.expires_at_ms {
            return Err(AccessError::Expired);
        }
        entry.used = true;
        Ok(())
    }

    /// How many nonces are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no nonce is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many nonces `requester` holds.
    pub fn held_by(&self, requester: &Requester) -> usize {
        self.by_key.get(requester).map_or(0, VecDeque::len)
    }

    /// Forgets `requester`'s oldest nonce; false when it holds none.
    fn evict_oldest_of(&mut self, requester: &Requester) -> bool {
        let Some(q) = self.by_key.get_mut(requester) else {
            return false;
        };
        let evicted = q.pop_front();
        if q.is_empty() {
            self.by_key.remove(requester);
        }
        match evicted {
            Some(old) => {
                self.entries.remove(&old);
                true
            }
            None => false,
        }
    }

    /// Forgets nonces that expired well before `now_ms` (kept one more TTL so a late replay is
    /// still reported as a replay rather than an unknown nonce). Each requester's nonces are in
    /// issue order, so only the front of each is looked at.
    fn prune(&mut self, now_ms: u64) {
        let ttl = self.ttl_ms;
        let entries = &mut self.entries;
        self.by_key.retain(|_, q| {
            while let Some(front) = q.front() {
                let stale = entries
                    .get(front)
                    .is_none_or(|e| e.expires_at_ms.saturating_add(ttl) < now_ms);
                if !stale {
                    break;
                }
                if let Some(old) = q.pop_front() {
                    entries.remove(&old);
                }
            }
            !q.is_empty()
        });
    }
}
