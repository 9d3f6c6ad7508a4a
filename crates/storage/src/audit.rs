//! The ledger hash committers gossip, computed from what is on disk.
//!
//! The tip id alone would not reveal an event rewritten on disk (the id covers the header, and
//! the header is checked at open, but events are only checked by a full audit). So the claimed
//! ledger hash chains a digest of every stored byte of every block: header, endorser signature,
//! orderer timestamp, signature collection and each event. A node whose disk was tampered with
//! claims a different hash at the same height, and its peers flag it.

use crate::error::StorageError;
use crate::ledger::Ledger;
use medblock_core::{Hash32, tagged_hash, wire};
use std::collections::BTreeMap;

/// Digest of one stored block's bytes.
pub fn block_content_digest(block: &wire::Block) -> Hash32 {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(4 + block.events.len());
    let ts = block.orderer_timestamp_ms.to_be_bytes();
    parts.push(&block.header);
    parts.push(&block.endorser_signature);
    parts.push(&ts);
    parts.push(&block.signature_collection);
    let event_hashes: Vec<Hash32> = block
        .events
        .iter()
        .map(|e| tagged_hash("medblock/audit-event/v1", &[e]))
        .collect();
    for h in &event_hashes {
        parts.push(h.as_bytes());
    }
    tagged_hash("medblock/audit-block/v1", &parts)
}

/// One chain step: the ledger hash at a height from the one before and the block's digest.
pub fn chain_step(previous: &Hash32, digest: &Hash32) -> Hash32 {
    tagged_hash(
        "medblock/ledger-hash/v1",
        &[previous.as_bytes(), digest.as_bytes()],
    )
}

/// The ledger hashes of the most recent heights, kept so a claim from a peer at a slightly
/// lower height can still be compared.
#[derive(Debug, Clone)]
pub struct LedgerHashes {
    by_height: BTreeMap<u64, Hash32>,
    keep: usize,
    latest: (u64, Hash32),
}

impl LedgerHashes {
    /// Recomputes the chain from every block on disk (one pass over the ledger at start-up),
    /// keeping the last `keep` heights. `progress` is called every 1,000 blocks.
    pub fn rebuild(
        ledger: &Ledger,
        keep: usize,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Self, StorageError> {
        let tip = ledger.tip();
        let mut me = Self {
            by_height: BTreeMap::new(),
            keep: keep.max(1),
            latest: (0, Hash32::ZERO),
        };
        for h in 1..=tip.height {
            let block = ledger
                .block_at(h)?
                .ok_or_else(|| StorageError::NoSuchBlock {
                    what: format!("at height {h}"),
                })?;
            me.push(h, &block_content_digest(&block));
            if h % 1000 == 0 {
                progress(h, tip.height);
            }
        }
        Ok(me)
    }

    /// Appends the block committed at `height`.
    pub fn push(&mut self, height: u64, digest: &Hash32) {
        let next = chain_step(&self.latest.1, digest);
        self.latest = (height, next);
        self.by_height.insert(height, next);
        while self.by_height.len() > self.keep {
            self.by_height.pop_first();
        }
    }

    /// The latest (height, ledger hash).
    pub fn latest(&self) -> (u64, Hash32) {
        self.latest
    }

    /// The ledger hash at `height`, if still kept.
    pub fn at(&self, height: u64) -> Option<Hash32> {
        if height == 0 {
            return Some(Hash32::ZERO);
        }
        self.by_height.get(&height).copied()
    }
}
