//! A serving peer's challenge nonces: single use, expiring, and bounded in number, so a visitor
//! cannot replay a signed query and nobody can grow the peer's memory by asking for challenges.
//! The caller passes the random bytes and the clock.

use super::error::AccessError;
use std::collections::{HashMap, VecDeque};

/// Issued nonces and whether each was used. Used nonces are kept until they expire, so that a
/// replay is told apart from a nonce never issued.
#[derive(Debug)]
pub struct NonceBook {
    ttl_ms: u64,
    capacity: usize,
    entries: HashMap<[u8; 32], Entry>,
    order: VecDeque<[u8; 32]>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    expires_at_ms: u64,
    used: bool,
}

impl NonceBook {
    /// A book whose nonces live `ttl_ms` and that holds at most `capacity` of them (the oldest
    /// is forgotten first when full).
    pub fn new(ttl_ms: u64, capacity: usize) -> Self {
        Self {
            ttl_ms: ttl_ms.max(1),
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Records `nonce` (fresh random bytes from the caller) as issued at `now_ms`; returns its
    /// expiry time.
    pub fn issue(&mut self, nonce: [u8; 32], now_ms: u64) -> u64 {
        self.prune(now_ms);
        while self.entries.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.entries.remove(&old);
                }
                None => break,
            }
        }
        let expires_at_ms = now_ms.saturating_add(self.ttl_ms);
        self.entries.insert(
            nonce,
            Entry {
                expires_at_ms,
                used: false,
            },
        );
        self.order.push_back(nonce);
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

    /// Forgets nonces that expired well before `now_ms` (kept one more TTL so a late replay is
    /// still reported as a replay rather than an unknown nonce).
    fn prune(&mut self, now_ms: u64) {
        while let Some(front) = self.order.front() {
            let stale = self
                .entries
                .get(front)
                .is_none_or(|e| e.expires_at_ms.saturating_add(self.ttl_ms) < now_ms);
            if !stale {
                break;
            }
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}
