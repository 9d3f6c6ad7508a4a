//! What goes into the primary's block: as many pending events as fit both limits (count and
//! bytes), and, on a node in Byzantine test mode only, the block-level misbehaviours of issue 19
//! (duplicates, backdating, oversize), so tests can show the committee refusing them.

use crate::byzantine::ByzantineConfig;
use medblock_core::block_rules::{BLOCK_BASE_BYTES, BlockLimits, event_cost};
use medblock_core::{ChainTip, ParsedEvent, wire};
use medblock_storage::Ledger;
use prost::Message as _;

/// Counts the bytes of a block being packed, so the endorser stops at the byte limit as well
/// as the event limit: a block over it would be refused by every orderer (or, larger than the
/// network frame, never reach them), and the next turn would repack the same events.
#[derive(Debug)]
pub(super) struct ByteBudget {
    left: usize,
}

impl ByteBudget {
    /// The budget of one block under `limits`.
    pub(super) fn new(limits: &BlockLimits) -> Self {
        Self {
            left: limits.max_bytes.saturating_sub(BLOCK_BASE_BYTES),
        }
    }

    /// Takes `event`'s cost (its bytes and signature entry) if it still fits.
    pub(super) fn take(&mut self, event_bytes: usize, event: &ParsedEvent) -> bool {
        let cost = event_cost(event_bytes, event.signature_entry().encoded_len());
        match self.left.checked_sub(cost) {
            Some(left) => {
                self.left = left;
                true
            }
            None => false,
        }
    }
}

/// The Byzantine primary of the tests. It misbehaves on every other block it proposes, so its
/// region still commits between attacks and each attack is one refused proposal (and a wasted
/// turn) rather than a region that never commits.
#[derive(Debug, Default)]
pub(super) struct Misbehaviour {
    proposals: u64,
}

impl Misbehaviour {
    /// Whether the next block misbehaves (`cfg` has a block misbehaviour and it is its turn).
    pub(super) fn next(&mut self, cfg: &ByzantineConfig) -> bool {
        if !(cfg.propose_duplicates || cfg.propose_backdated || cfg.propose_oversized) {
            return false;
        }
        self.proposals += 1;
        self.proposals % 2 == 0
    }
}

/// `propose_duplicates`: the events of the ledger's tip block, already committed, to pack
/// again with the pending ones.
pub(super) fn committed_again(ledger: &Ledger) -> Vec<ParsedEvent> {
    let tip = ledger.tip();
    match ledger.block_at(tip.height) {
        Ok(Some(block)) => block
            .events
            .iter()
            .filter_map(|b| ParsedEvent::parse(b).ok())
            .collect(),
        _ => Vec::new(),
    }
}

/// `propose_backdated`: an orderer time before the previous block's.
pub(super) fn backdate(block: &mut wire::Block, tip: &ChainTip) {
    block.orderer_timestamp_ms = tip.timestamp_ms.saturating_sub(60_000);
}

/// `propose_oversized`: the block's bytes followed by an unknown protobuf field that takes
/// them past the byte limit. It still decodes to the same block (decoders skip unknown
/// fields) and stays under the network frame, so it reaches the committee, which must refuse
/// it by size.
pub(super) fn pad(payload: &mut Vec<u8>, limits: &BlockLimits) {
    let pad = (limits.max_bytes + 1024).saturating_sub(payload.len());
    // Field 15, wire type 2 (length-delimited): tag byte 0x7a, then the length as a varint.
    payload.push(0x7a);
    prost::encoding::encode_varint(pad as u64, payload);
    payload.resize(payload.len() + pad, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::block::decode_block;

    #[test]
    fn a_padded_block_decodes_to_the_same_block_and_is_over_the_limit() {
        let block = wire::Block {
            header: vec![1; 10],
            orderer_timestamp_ms: 5,
            ..Default::default()
        };
        let limits = BlockLimits {
            max_events: 10,
            max_bytes: 4096,
        };
        let mut payload = block.encode_to_vec();
        pad(&mut payload, &limits);
        assert!(payload.len() > limits.max_bytes);
        assert_eq!(decode_block(&payload).expect("decodes"), block);
    }

    #[test]
    fn misbehaves_on_every_other_block_only_when_asked() {
        let mut m = Misbehaviour::default();
        assert!(!m.next(&ByzantineConfig::default()));
        let cfg = ByzantineConfig {
            propose_backdated: true,
            ..Default::default()
        };
        let seq: Vec<bool> = (0..4).map(|_| m.next(&cfg)).collect();
        assert_eq!(seq, [false, true, false, true]);
    }
}
