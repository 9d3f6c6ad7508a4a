//! Stored bytes: events and blocks round-trip through their encoding, and no byte of a stored
//! event or block can change unnoticed.
//!
//! What "noticed" means, precisely:
//! - An event's receipt time is set by the endorser and signed by neither the patient nor the
//!   department; it is covered by the endorser's signature through the block's signature
//!   collection. So for a stored event *without* receipt time, every flip must make
//!   `parse` + `verify_signatures` fail; for one *with* a receipt time, a flip may instead decode
//!   to the same event with another receipt time (and the block test shows the block refuses
//!   that).
//! - A block's orderer timestamp is chosen by the committee after the endorser signed; it is not
//!   checked by `VerifiedBlock::verify` but is part of the block id. So every flip of a stored
//!   block must make `VerifiedBlock::from_bytes` fail, or decode to the same block with another
//!   orderer timestamp *and* another block id. The commit certificate is evidence about a block,
//!   outside its id and checked by consensus; the blocks here carry none.

mod common;

use common::*;
use medblock_core::block::{VerifiedBlock, block_id};
use medblock_core::event::ParsedEvent;
use medblock_core::sealing;
use medblock_core::wire;
use proptest::prelude::*;
use prost::Message;
use std::sync::LazyLock;

/// Stored events: with and without the regulator, short and long summaries, with and without
/// receipt time.
static EVENTS: LazyLock<Vec<wire::Event>> = LazyLock::new(|| {
    let mut fx = Fixture::new(500);
    let (patient, dept) = (fx.patient.clone(), fx.dept.signing.clone());
    let long = wire::Summary {
        diagnosis: "x".repeat(2000),
        ..summary(3)
    };
    let mut events = vec![
        fx.event(1),
        fx.event_with(2, &patient, &dept, DEPARTMENT, &summary(2), false),
        fx.event_with(3, &patient, &dept, DEPARTMENT, &long, true),
        fx.event_with(
            4,
            &patient,
            &dept,
            DEPARTMENT,
            &wire::Summary::default(),
            false,
        ),
    ];
    let mut with_receipt = fx.event(5);
    with_receipt.received_at_ms = NOW + 7;
    events.push(with_receipt);
    events
});

/// Stored blocks: one event, and several.
static BLOCKS: LazyLock<Vec<wire::Block>> = LazyLock::new(|| {
    let mut fx = Fixture::new(501);
    vec![fx.block(1), fx.block(3)]
});

fn strategy_summary() -> impl Strategy<Value = wire::Summary> {
    (
        ".{0,40}",
        ".{0,40}",
        ".{0,40}",
        proptest::option::of(("[a-z-]{0,12}", "[a-z0-9-]{0,12}")),
        proptest::collection::vec(any::<u8>(), 0..=32),
    )
        .prop_map(|(d, e, t, p, h)| wire::Summary {
            diagnosis: d,
            examination_results: e,
            treatment_plan: t,
            pointer: p.map(|(hospital, record_id)| wire::RecordPointer {
                hospital,
                record_id,
            }),
            emr_sha256: h,
        })
}

/// The event check a holder of stored bytes runs: structure, hash and both signatures.
fn check_event(bytes: &[u8]) -> Result<ParsedEvent, medblock_core::LedgerError> {
    let p = ParsedEvent::parse(bytes)?;
    p.verify_signatures()?;
    Ok(p)
}

/// Asserts the flipped event bytes are refused, or (only when the original carries a receipt
/// time) decode to the same event with another receipt time.
fn assert_event_flip_detected(original: &wire::Event, flipped: &[u8]) -> Result<(), String> {
    match check_event(flipped) {
        Err(_) => Ok(()),
        Ok(p) => {
            let mut same_but_time = p.event.clone();
            same_but_time.received_at_ms = original.received_at_ms;
            if original.received_at_ms != 0
                && same_but_time == *original
                && p.event.received_at_ms != original.received_at_ms
            {
                Ok(())
            } else {
                Err(format!("flip accepted: {:?}", p.event))
            }
        }
    }
}

/// Asserts the flipped block bytes are refused, or decode to the same block with another
/// orderer timestamp and therefore another id.
fn assert_block_flip_detected(original: &wire::Block, flipped: &[u8]) -> Result<(), String> {
    match VerifiedBlock::from_bytes(flipped, MAX_EVENTS) {
        Err(_) => Ok(()),
        Ok(v) => {
            let mut same_but_time = v.block.clone();
            same_but_time.orderer_timestamp_ms = original.orderer_timestamp_ms;
            if same_but_time == *original && v.id != block_id(original) {
                Ok(())
            } else {
                Err(format!(
                    "flip accepted with id {} (original {})",
                    v.id,
                    block_id(original)
                ))
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn event_round_trip(
        s in strategy_summary(),
        sequence in any::<u64>(),
        with_regulator in any::<bool>(),
        received in any::<u64>(),
        seed in 0u64..4,
    ) {
        let mut fx = Fixture::new(510 + seed);
        let (patient, dept) = (fx.patient.clone(), fx.dept.signing.clone());
        let mut e = fx.event_with(sequence, &patient, &dept, DEPARTMENT, &s, with_regulator);
        e.received_at_ms = received;
        let bytes = e.encode_to_vec();
        let p = check_event(&bytes).expect("round trip");
        prop_assert_eq!(&p.event, &e);
        prop_assert_eq!(p.event.encode_to_vec(), bytes);
        prop_assert_eq!(p.body.sequence, sequence);
        prop_assert_eq!(p.patient, patient.signing.public());
        prop_assert_eq!(p.provider, dept.public());
        prop_assert_eq!(
            sealing::open(&p.event.encrypted_summary, &p.binding(), &patient.sealing).unwrap(),
            s.clone()
        );
        let regulator = sealing::open(&p.event.encrypted_summary, &p.binding(), &fx.regulator.sealing);
        prop_assert_eq!(regulator.is_ok(), with_regulator);
        p.authorize_provider(&fx.trust, NOW).unwrap();
    }

    #[test]
    fn block_round_trip(n in 1usize..6, seed in 0u64..4, timestamp in any::<u64>()) {
        let mut fx = Fixture::new(520 + seed);
        let mut block = fx.block(n);
        block.orderer_timestamp_ms = timestamp;
        let bytes = block.encode_to_vec();
        let v = VerifiedBlock::from_bytes(&bytes, MAX_EVENTS).expect("round trip");
        prop_assert_eq!(&v.block, &block);
        prop_assert_eq!(v.block.encode_to_vec(), bytes);
        prop_assert_eq!(v.id, block_id(&block));
        prop_assert_eq!(v.events.len(), n);
        for (parsed, raw) in v.events.iter().zip(&block.events) {
            prop_assert_eq!(&parsed.event.encode_to_vec(), raw);
        }
    }

    /// Any byte of a stored event, XORed with any non-zero mask.
    #[test]
    fn event_byte_flip_is_detected(
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let e = &EVENTS[which.index(EVENTS.len())];
        let bytes = e.encode_to_vec();
        let flipped = flip(&bytes, pos.index(bytes.len()), mask);
        prop_assert!(assert_event_flip_detected(e, &flipped).is_ok(), "{:?}", assert_event_flip_detected(e, &flipped));
    }

    /// Any byte of a stored block, XORed with any non-zero mask.
    #[test]
    fn block_byte_flip_is_detected(
        which in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let b = &BLOCKS[which.index(BLOCKS.len())];
        let bytes = b.encode_to_vec();
        let flipped = flip(&bytes, pos.index(bytes.len()), mask);
        let r = assert_block_flip_detected(b, &flipped);
        prop_assert!(r.is_ok(), "{:?}", r);
    }
}

/// Exhaustive over positions: every byte of every stored event, with a low and a high bit.
#[test]
fn every_event_byte_flip_is_detected() {
    for e in EVENTS.iter() {
        let bytes = e.encode_to_vec();
        assert!(check_event(&bytes).is_ok());
        for pos in 0..bytes.len() {
            for mask in [0x01, 0x80] {
                if let Err(msg) = assert_event_flip_detected(e, &flip(&bytes, pos, mask)) {
                    panic!("byte {pos} ^ {mask:#x}: {msg}");
                }
            }
        }
    }
}

/// Exhaustive over positions: every byte of the one-event block, with a low and a high bit.
#[test]
fn every_block_byte_flip_is_detected() {
    let b = &BLOCKS[0];
    let bytes = b.encode_to_vec();
    assert!(VerifiedBlock::from_bytes(&bytes, MAX_EVENTS).is_ok());
    for pos in 0..bytes.len() {
        for mask in [0x01, 0x80] {
            if let Err(msg) = assert_block_flip_detected(b, &flip(&bytes, pos, mask)) {
                panic!("byte {pos} ^ {mask:#x}: {msg}");
            }
        }
    }
}

/// The receipt time of a stored event is not covered by the event's own signatures (the
/// endorser sets it after they were made): the test above relies on that being the only gap.
#[test]
fn receipt_time_is_the_only_unsigned_event_field() {
    let e = &EVENTS[4];
    let mut changed = e.clone();
    changed.received_at_ms += 1;
    assert!(check_event(&changed.encode_to_vec()).is_ok());
}
