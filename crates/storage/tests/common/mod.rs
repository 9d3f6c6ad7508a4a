//! Shared fixtures: a synthetic world and a helper that appends blocks to a ledger.
#![allow(dead_code)]

use medblock_core::synthetic::World;
use medblock_core::{ChainTip, VerifiedBlock};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A block on `tip` of `n` events for patients chosen by `pick(i) -> (patient, department)`.
pub fn block_on(
    world: &mut World,
    tip: &ChainTip,
    n: usize,
    rng: &mut ChaCha20Rng,
    mut pick: impl FnMut(usize) -> (usize, usize),
) -> VerifiedBlock {
    let base = tip.timestamp_ms + 1;
    let events = (0..n)
        .map(|i| {
            let (p, d) = pick(i);
            world
                .event(p, d, base + i as u64, rng)
                .expect("fixture indexes are in range")
        })
        .collect();
    world
        .block(tip, events, base + n as u64)
        .expect("fixture blocks are valid")
}
