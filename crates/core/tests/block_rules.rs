//! The one validity predicate (`block_rules`): each rule a committer would refuse, refused with
//! its typed error, on real signed blocks over an in-memory chain view.

mod common;

use common::*;
use medblock_core::authorization::RevokedAuthorizations;
use medblock_core::block::{ChainTip, VerifiedBlock, pack_block};
use medblock_core::block_rules::{
    Admission, BLOCK_BASE_BYTES, BlockLimits, BlockRuleError, ChainBelow, Inclusion, check_chain,
    check_ledger_block, check_proposal, event_cost, max_block_bytes, proposal_len,
};
use medblock_core::config::ConfigState;
use medblock_core::error::BlockError;
use medblock_core::event::EventKey;
use medblock_core::hash::Hash32;
use medblock_core::wire;
use prost::Message;
use std::collections::HashMap;

/// A chain view in memory: tips by height, committed and pending event keys.
#[derive(Default)]
struct Below {
    tips: HashMap<u64, ChainTip>,
    committed: HashMap<EventKey, u64>,
    pending: HashMap<EventKey, u64>,
}

impl ChainBelow<EventKey> for Below {
    fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
        Ok(self.tips.get(&height).copied())
    }

    fn included(&self, key: &EventKey, height: u64) -> Result<Option<Inclusion>, BlockRuleError> {
        if let Some(at) = self.committed.get(key) {
            return Ok(Some(Inclusion::Committed { height: *at }));
        }
        Ok(self
            .pending
            .get(key)
            .filter(|at| **at < height)
            .map(|at| Inclusion::Pending { height: *at }))
    }
}

const LIMITS: BlockLimits = BlockLimits {
    max_events: MAX_EVENTS,
    max_bytes: 4 << 20,
};

/// A chain whose block 1 holds events 1..=3 at time NOW + 2_000, and block 2 built on it with
/// events `first..first+n`, dated `at`.
fn second_block(fx: &mut Fixture, first: u64, n: usize, at: u64) -> (Below, wire::Block) {
    let b1 = VerifiedBlock::verify(fx.block(3), MAX_EVENTS).expect("block 1");
    let mut below = Below::default();
    below.tips.insert(1, b1.tip());
    for k in b1.event_keys() {
        below.committed.insert(k, 1);
    }
    let events = fx.parsed_events(first, n);
    let mut b2 = pack_block(&fx.pack_request(b1.tip()), events);
    b2.orderer_timestamp_ms = at;
    (below, b2)
}

fn admission(config: &ConfigState) -> Admission<'_> {
    Admission {
        config,
        now_ms: NOW + 10_000,
        max_skew_ms: 30_000,
    }
}

fn proposal_err(
    fx: &Fixture,
    below: &Below,
    block: &wire::Block,
    limits: &BlockLimits,
) -> BlockRuleError {
    let config = fx.config();
    match check_proposal(
        &block.encode_to_vec(),
        below,
        &RevokedAuthorizations::default(),
        limits,
        &admission(&config),
    ) {
        Err(e) => e,
        Ok((b, _)) => panic!("block {} was accepted", b.id),
    }
}

#[test]
fn a_valid_block_passes_every_caller() {
    let mut fx = Fixture::new(900);
    let (below, b2) = second_block(&mut fx, 4, 3, NOW + 3_000);
    let revoked = RevokedAuthorizations::default();
    let config = fx.config();
    let (v, next) = check_proposal(
        &b2.encode_to_vec(),
        &below,
        &revoked,
        &LIMITS,
        &admission(&config),
    )
    .expect("orderer accepts");
    assert!(next.is_none(), "no configuration change in the block");
    check_ledger_block(&v, &below, &revoked, Some(&config), &LIMITS).expect("committer accepts");
}

#[test]
fn each_rule_refuses_with_its_error() {
    // Table: (what, block 2's first sequence, events, orderer time, limits, expected error).
    type Expect = fn(&BlockRuleError) -> bool;
    let cases: Vec<(&str, u64, usize, u64, BlockLimits, Expect)> = vec![
        (
            "duplicate of a committed event",
            3,
            2,
            NOW + 3_000,
            LIMITS,
            |e| matches!(e, BlockRuleError::AlreadyCommitted { index: 0, at: 1 }),
        ),
        ("backdated before block 1", 4, 2, NOW + 1_999, LIMITS, |e| {
            matches!(
                e,
                BlockRuleError::Chain(BlockError::TimestampRegressed { .. })
            )
        }),
        (
            "too many events",
            4,
            3,
            NOW + 3_000,
            BlockLimits {
                max_events: 2,
                max_bytes: 4 << 20,
            },
            |e| {
                matches!(
                    e,
                    BlockRuleError::TooManyEvents { .. } | BlockRuleError::Integrity(_)
                )
            },
        ),
        (
            "too many bytes",
            4,
            3,
            NOW + 3_000,
            BlockLimits {
                max_events: MAX_EVENTS,
                max_bytes: 1_000,
            },
            |e| matches!(e, BlockRuleError::TooManyBytes { max: 1_000, .. }),
        ),
        (
            "dated too far ahead of the clock",
            4,
            1,
            NOW + 60_000,
            LIMITS,
            |e| matches!(e, BlockRuleError::Clock(BlockError::TimestampAhead { .. })),
        ),
    ];
    for (i, (what, first, n, at, limits, expect)) in cases.into_iter().enumerate() {
        let mut fx = Fixture::new(910 + i as u64);
        let (below, b2) = second_block(&mut fx, first, n, at);
        let err = proposal_err(&fx, &below, &b2, &limits);
        assert!(expect(&err), "{what}: unexpected {err:?}");
    }
}

#[test]
fn an_event_pending_in_an_earlier_decided_block_is_refused() {
    let mut fx = Fixture::new(920);
    let (mut below, b2) = second_block(&mut fx, 4, 2, NOW + 3_000);
    // Block 2's first event (sequence 4) is also in block 1, decided but not committed here.
    let again = fx.parsed_events(4, 1);
    below.pending.insert(again[0].key(), 1);
    let err = proposal_err(&fx, &below, &b2, &LIMITS);
    assert_eq!(err, BlockRuleError::PendingBelow { index: 0, at: 1 });
}

#[test]
fn an_unknown_block_below_is_refused_not_assumed() {
    let mut fx = Fixture::new(930);
    let (mut below, b2) = second_block(&mut fx, 4, 2, NOW + 3_000);
    below.tips.clear();
    let err = proposal_err(&fx, &below, &b2, &LIMITS);
    assert_eq!(err, BlockRuleError::PreviousUnknown { height: 1 });
}

#[test]
fn a_wrong_link_is_refused() {
    let mut fx = Fixture::new(940);
    let (mut below, b2) = second_block(&mut fx, 4, 2, NOW + 3_000);
    let tip = below.tips.get_mut(&1).expect("tip 1");
    tip.id = Hash32([7; 32]);
    let err = proposal_err(&fx, &below, &b2, &LIMITS);
    assert!(
        matches!(
            err,
            BlockRuleError::Chain(BlockError::PreviousHashMismatch { height: 2, .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_non_canonical_or_certified_proposal_is_refused() {
    let mut fx = Fixture::new(950);
    let (below, b2) = second_block(&mut fx, 4, 2, NOW + 3_000);
    // An unknown field appended: the same block decodes, but not from its canonical bytes.
    let mut bytes = b2.encode_to_vec();
    bytes.extend_from_slice(&[0x78, 0x01]);
    let err = check_proposal(
        &bytes,
        &below,
        &RevokedAuthorizations::default(),
        &LIMITS,
        &admission(&fx.config()),
    )
    .expect_err("non-canonical");
    assert_eq!(err, BlockRuleError::NotCanonical);
    let mut certified = b2.clone();
    certified.certificate = Some(wire::CommitCertificate::default());
    let err = proposal_err(&fx, &below, &certified, &LIMITS);
    assert_eq!(err, BlockRuleError::CarriesCertificate);
}

#[test]
fn an_unauthorized_endorser_is_refused() {
    let mut fx = Fixture::new(960);
    let (below, b2) = second_block(&mut fx, 4, 2, NOW + 3_000);
    let stranger = medblock_core::keys::SigningKey::generate(&mut fx.rng);
    let mut forged = b2.clone();
    let h = header(&forged);
    let mut h2 = h.clone();
    h2.endorser_key = stranger.public().as_bytes().to_vec();
    resign(&mut forged, &h2, &stranger);
    let err = proposal_err(&fx, &below, &forged, &LIMITS);
    assert!(matches!(err, BlockRuleError::Unauthorized(_)), "{err:?}");
}

#[test]
fn the_byte_limit_is_a_quarter_of_the_frame_and_packing_costs_stay_under_it() {
    assert_eq!(max_block_bytes(16 << 20), 4 << 20);
    // The node clamps frames to 1..64 MiB; so does the block limit.
    assert_eq!(max_block_bytes(0), 256 << 10);
    assert_eq!(max_block_bytes(u64::MAX), 16 << 20);
    // A block packed by the cost rule is within its proposal size.
    let mut fx = Fixture::new(970);
    let events = fx.parsed_events(1, 20);
    let cost: usize = BLOCK_BASE_BYTES
        + events
            .iter()
            .map(|e| event_cost(e.event.encoded_len(), e.signature_entry().encoded_len()))
            .sum::<usize>();
    let block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    assert!(
        proposal_len(&block) <= cost,
        "{} > {cost}",
        proposal_len(&block)
    );
    // The certificate of a decided block does not count.
    let mut decided = block.clone();
    decided.certificate = Some(wire::CommitCertificate {
        block_id: vec![1; 32],
        ..Default::default()
    });
    assert_eq!(proposal_len(&decided), proposal_len(&block));
}

/// The chain rules hold for any block model (the simulator's has no time and its own keys).
#[test]
fn check_chain_is_generic_over_the_block_model() {
    struct Toy {
        height: u64,
        previous: Hash32,
        keys: Vec<u32>,
    }
    impl medblock_core::block_rules::BlockFacts for Toy {
        type Key = u32;
        fn height(&self) -> u64 {
            self.height
        }
        fn previous(&self) -> Hash32 {
            self.previous
        }
        fn orderer_timestamp_ms(&self) -> Option<u64> {
            None
        }
        fn event_keys(&self) -> Vec<u32> {
            self.keys.clone()
        }
        fn event_count(&self) -> usize {
            self.keys.len()
        }
        fn encoded_len(&self) -> usize {
            8 * self.keys.len()
        }
    }
    struct ToyBelow;
    impl ChainBelow<u32> for ToyBelow {
        fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
            Ok(Some(ChainTip {
                height,
                id: Hash32([height as u8; 32]),
                timestamp_ms: 0,
            }))
        }
        fn included(&self, key: &u32, _: u64) -> Result<Option<Inclusion>, BlockRuleError> {
            Ok((*key == 7).then_some(Inclusion::Committed { height: 1 }))
        }
    }
    let ok = Toy {
        height: 3,
        previous: Hash32([2; 32]),
        keys: vec![1, 2],
    };
    check_chain(&ok, &ToyBelow, &LIMITS).expect("valid toy block");
    let dup = Toy {
        keys: vec![1, 7],
        ..ok
    };
    assert_eq!(
        check_chain(&dup, &ToyBelow, &LIMITS),
        Err(BlockRuleError::AlreadyCommitted { index: 1, at: 1 })
    );
}
