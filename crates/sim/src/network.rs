//! The simulated network: seeded delay, loss, duplication, reordering and partitions, all in
//! virtual milliseconds.

use rand_chacha::ChaCha20Rng;
use rand_core::Rng;

/// How the network misbehaves before and after it heals.
#[derive(Clone, Debug)]
pub struct NetworkModel {
    /// Until this time the network is lossy and possibly partitioned.
    pub heal_at_ms: u64,
    /// Loss probability (per mille) before healing.
    pub loss_permille: u32,
    /// Duplication probability (per mille), always.
    pub dup_permille: u32,
    /// Delay range (ms).
    pub min_delay_ms: u64,
    /// Delay range (ms); large spreads reorder messages.
    pub max_delay_ms: u64,
    /// A partition: from, until, and which side each node is on.
    pub partition: Option<(u64, u64, Vec<bool>)>,
}

impl NetworkModel {
    /// The delivery delays of one message (empty when lost; two when duplicated).
    pub fn deliveries(&self, rng: &mut ChaCha20Rng, now: u64, from: usize, to: usize) -> Vec<u64> {
        let healed = now >= self.heal_at_ms;
        if let Some((a, b, side)) = &self.partition
            && now >= *a
            && now < *b
            && side.get(from) != side.get(to)
        {
            return Vec::new();
        }
        if !healed && rng.next_u32() % 1000 < self.loss_permille {
            return Vec::new();
        }
        let spread = self.max_delay_ms.saturating_sub(self.min_delay_ms) + 1;
        let max_spread = if healed { spread.min(20) } else { spread };
        let mut out = vec![self.min_delay_ms + rng.next_u64() % max_spread];
        if rng.next_u32() % 1000 < self.dup_permille {
            out.push(self.min_delay_ms + rng.next_u64() % max_spread);
        }
        out
    }
}
