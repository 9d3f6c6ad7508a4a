//! What goes into the primary's block: as many pending events as fit both limits (count and
//! bytes), and, on a node in Byzantine test mode only, the block-level misbehaviours of issue 19
//! (duplicates, backdating, oversize), so tests can show the committee refusing them.

use crate::byzantine::ByzantineConfig;
use medblock_core::block_rules::{BLOCK_BASE_BYTES, BlockLimits, event_cost};
use medblock_core::keys::{SigningKey, purpose};
use medblock_core::{ChainTip, ParsedEvent, sha256, wire};
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
        self.proposals.is_multiple_of(2)
    }

    /// The block [`Misbehaviour::next`] chose had nothing to spoil with: the next one will.
    pub(super) fn missed(&mut self) {
        self.proposals = self.proposals.saturating_sub(1);
    }
}

/// `propose_duplicates`: the events of the ledger's newest block that has any, already
/// committed, to pack again with the pending ones. It looks a few blocks down because the tip
/// may be empty or genesis (whose configuration events are not uploads); none found means
/// nothing to duplicate yet.
pub(super) fn committed_again(ledger: &Ledger) -> Vec<ParsedEvent> {
    let tip = ledger.tip().height;
    (tip.saturating_sub(32)..=tip)
        .rev()
        .map(|h| match ledger.block_at(h) {
            Ok(Some(block)) => block
                .events
                .iter()
                .filter_map(|b| ParsedEvent::parse(b).ok())
                .collect(),
            _ => Vec::new(),
        })
        .find(|events: &Vec<ParsedEvent>| !events.is_empty())
        .unwrap_or_default()
}

/// `propose_backdated`: an orderer time before the previous block's.
pub(super) fn backdate(block: &mut wire::Block, tip: &ChainTip) {
    block.orderer_timestamp_ms = tip.timestamp_ms.saturating_sub(60_000);
}

/// `propose_oversized`: a block past the byte limit that is otherwise valid and canonical.
/// The primary cannot forge events, but it signs the header, which commits to the signature
/// collection only by hash: it appends an unknown protobuf field to the collection (decoders
/// skip it, so every entry still matches its event), re-hashes and re-signs the header. The
/// block stays under the network frame, so it reaches the committee, which must refuse it by
/// size; a committee that did not would decide a block every committer refuses.
pub(super) fn pad(block: &mut wire::Block, endorser: &SigningKey, limits: &BlockLimits) {
    let Ok(mut header) = wire::BlockHeader::decode(block.header.as_slice()) else {
        return;
    };
    let pad = (limits.max_bytes + 1024).saturating_sub(block.encoded_len());
    // Field 15, wire type 2 (length-delimited): tag byte 0x7a, then the length as a varint.
    block.signature_collection.push(0x7a);
    prost::encoding::encode_varint(pad as u64, &mut block.signature_collection);
    block
        .signature_collection
        .resize(block.signature_collection.len() + pad, 0);
    header.signature_collection_hash = sha256(&block.signature_collection).0.to_vec();
    block.header = header.encode_to_vec();
    block.endorser_signature = endorser.sign(purpose::BLOCK_HEADER, &block.header).to_vec();
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::block::decode_block;

    #[test]
    fn a_padded_block_verifies_is_canonical_and_is_over_the_limit() {
        let endorser = SigningKey::from_bytes(&[3; 32]).expect("key");
        let header = wire::BlockHeader {
            version: medblock_core::block::BLOCK_VERSION,
            ..Default::default()
        };
        let mut block = wire::Block {
            header: header.encode_to_vec(),
            orderer_timestamp_ms: 5,
            ..Default::default()
        };
        let limits = BlockLimits {
            max_events: 10,
            max_bytes: 4096,
        };
        pad(&mut block, &endorser, &limits);
        let bytes = block.encode_to_vec();
        assert!(bytes.len() > limits.max_bytes);
        let decoded = decode_block(&bytes).expect("decodes");
        assert_eq!(decoded.encode_to_vec(), bytes, "canonical");
        let collection = wire::SignatureCollection::decode(decoded.signature_collection.as_slice())
            .expect("the padded collection decodes");
        assert!(collection.entries.is_empty());
        let h = wire::BlockHeader::decode(decoded.header.as_slice()).expect("header");
        assert_eq!(
            h.signature_collection_hash,
            sha256(&decoded.signature_collection).0
        );
        let sig = medblock_core::Signature::from_slice(&decoded.endorser_signature).expect("sig");
        endorser
            .public()
            .verify(purpose::BLOCK_HEADER, &decoded.header, &sig)
            .expect("re-signed");
    }

    #[test]
    fn the_byte_budget_stops_packing_at_the_limit_and_what_it_took_fits() {
        use medblock_core::block::{PackRequest, pack_block};
        use medblock_core::block_rules::proposal_len;
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let mut world = medblock_core::synthetic::World::generate(&mut rng, 1, 2);
        let events: Vec<ParsedEvent> = (0..40)
            .map(|i| world.event(0, 0, 1_000 + i, &mut rng).expect("event"))
            .collect();
        let one = event_cost(events[0].event.encoded_len(), 0);
        // Room for about ten events besides the block's own bytes.
        let limits = BlockLimits {
            max_events: 1000,
            max_bytes: BLOCK_BASE_BYTES + 10 * 2 * one,
        };
        let mut budget = ByteBudget::new(&limits);
        let taken: Vec<ParsedEvent> = events
            .iter()
            .take_while(|e| budget.take(e.event.encoded_len(), e))
            .cloned()
            .collect();
        assert!(
            (1..40).contains(&taken.len()),
            "stopped by bytes: {}",
            taken.len()
        );
        let endorser = SigningKey::from_bytes(&[5; 32]).expect("key");
        let block = pack_block(
            &PackRequest {
                tip: ChainTip::GENESIS,
                endorser: &endorser,
                region: "region-1",
                policy: wire::AccessPolicy::default(),
                packed_at_ms: 2_000,
                last_of_turn: false,
            },
            taken,
        );
        assert!(proposal_len(&block) <= limits.max_bytes);
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
