//! Block packing and validation: every rule of `VerifiedBlock` and its typed error.

mod common;

use common::*;
use medblock_core::block::{ChainTip, VerifiedBlock, block_id, pack_block};
use medblock_core::crumbs::{DepartmentId, pseudonym};
use medblock_core::error::{BlockError, CertificateError, LedgerError};
use medblock_core::event::{EventKey, ParsedEvent};
use medblock_core::hash::{Hash32, sha256, tagged_hash};
use medblock_core::keys::{KeyError, SigningKey, purpose};
use medblock_core::wire;
use prost::Message;
use std::collections::HashSet;

fn block_err(block: wire::Block) -> BlockError {
    match VerifiedBlock::verify(block, MAX_EVENTS) {
        Err(LedgerError::Block(e)) => e,
        Err(other) => panic!("expected a block error, got {other:?}"),
        Ok(v) => panic!("expected a block error, block {} verified", v.id),
    }
}

#[test]
fn packed_block_verifies() {
    let mut fx = Fixture::new(100);
    let block = fx.block(5);
    let v = VerifiedBlock::from_bytes(&block.encode_to_vec(), MAX_EVENTS).expect("valid block");
    assert_eq!(v.height(), 1);
    assert_eq!(v.previous(), Hash32::ZERO);
    assert_eq!(v.id, block_id(&block));
    assert_eq!(v.events.len(), 5);
    assert_eq!(v.entries.len(), 5);
    assert_eq!(v.endorser, fx.endorser.public());
    assert_eq!(v.header.event_count, 5);
    assert_eq!(v.header.region, REGION);
    assert_eq!(v.header.access_policy, Some(policy()));
    let keys: Vec<EventKey> = v.event_keys().collect();
    assert_eq!(
        keys,
        (1..=5)
            .map(|s| EventKey::new(HOSPITAL, DEPARTMENT, s))
            .collect::<Vec<_>>()
    );
    v.check_extends(&ChainTip::GENESIS).expect("first block");
    v.authorize(&fx.trust, NOW + 1_000).expect("authorised");
    assert_eq!(
        v.tip(),
        ChainTip {
            height: 1,
            id: v.id,
            timestamp_ms: NOW + 2_000,
        }
    );
}

#[test]
fn pack_block_sorts_by_upload_time() {
    let mut fx = Fixture::new(101);
    let mut events = fx.parsed_events(1, 6);
    events.reverse();
    let block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    let v = VerifiedBlock::verify(block, MAX_EVENTS).unwrap();
    let received: Vec<u64> = v.events.iter().map(|e| e.event.received_at_ms).collect();
    assert_eq!(received, (0..6).map(|i| NOW + i).collect::<Vec<_>>());
}

#[test]
fn block_id_covers_header_signature_and_orderer_time_only() {
    let mut fx = Fixture::new(102);
    let block = fx.block(2);
    let id = block_id(&block);
    let mut b = block.clone();
    b.orderer_timestamp_ms += 1;
    assert_ne!(block_id(&b), id);
    let mut b = block.clone();
    b.header[0] ^= 1;
    assert_ne!(block_id(&b), id);
    let mut b = block.clone();
    b.endorser_signature[0] ^= 1;
    assert_ne!(block_id(&b), id);
    // The commit certificate is evidence about the block, not part of it.
    let mut b = block.clone();
    b.certificate = Some(wire::CommitCertificate {
        height: 1,
        block_id: id.0.to_vec(),
        ..Default::default()
    });
    assert_eq!(block_id(&b), id);
}

#[test]
fn wrong_endorser_signature() {
    let mut fx = Fixture::new(103);
    let block = fx.block(3);

    let impostor = SigningKey::generate(&mut fx.rng);
    let mut b = block.clone();
    b.endorser_signature = impostor.sign(purpose::BLOCK_HEADER, &b.header).to_vec();
    assert_eq!(block_err(b), BlockError::BadEndorserSignature { height: 1 });

    let mut b = block.clone();
    b.endorser_signature = fx.endorser.sign(purpose::EVENT, &b.header).to_vec();
    assert_eq!(block_err(b), BlockError::BadEndorserSignature { height: 1 });

    let mut b = block.clone();
    b.endorser_signature[10] ^= 0x40;
    assert_eq!(block_err(b), BlockError::BadEndorserSignature { height: 1 });

    let mut b = block;
    b.endorser_signature.truncate(32);
    assert_eq!(
        VerifiedBlock::verify(b, MAX_EVENTS).unwrap_err(),
        LedgerError::Key {
            what: "endorser signature",
            source: KeyError::MalformedSignature { len: 32 },
        }
    );
}

#[test]
fn block_hash_mismatch() {
    let mut fx = Fixture::new(104);
    let mut block = fx.block(3);
    let mut h = header(&block);
    h.block_hash[0] ^= 1;
    resign(&mut block, &h, &fx.endorser);
    assert_eq!(
        block_err(block),
        BlockError::BlockHashMismatch { height: 1 }
    );
}

#[test]
fn merkle_root_mismatch() {
    let mut fx = Fixture::new(105);
    let mut block = fx.block(3);
    let mut h = header(&block);
    h.merkle_root = sha256(b"another root").0.to_vec();
    resign(&mut block, &h, &fx.endorser);
    assert_eq!(
        block_err(block),
        BlockError::MerkleRootMismatch { height: 1 }
    );
}

#[test]
fn signature_collection_mismatch() {
    let mut fx = Fixture::new(106);
    let mut block = fx.block(3);
    let mut c = collection(&block);
    c.entries[1].received_at_ms += 1;
    block.signature_collection = c.encode_to_vec();
    assert_eq!(
        block_err(block),
        BlockError::SignatureCollectionMismatch { height: 1 }
    );
}

#[test]
fn entry_mismatch() {
    let mut fx = Fixture::new(107);
    // The entry changed and the header recommitted to it: the entry no longer matches its event.
    let mut block = fx.block(3);
    let mut c = collection(&block);
    c.entries[2].received_at_ms += 1;
    block.signature_collection = c.encode_to_vec();
    let mut h = header(&block);
    h.signature_collection_hash = sha256(&block.signature_collection).0.to_vec();
    resign(&mut block, &h, &fx.endorser);
    assert_eq!(
        block_err(block),
        BlockError::EntryMismatch {
            height: 1,
            index: 2
        }
    );

    // The event's receipt time changed (it is signed by neither patient nor department, and
    // is not in the event hash): the endorser-signed entry catches it.
    let mut block = fx.block(3);
    let mut e = wire::Event::decode(block.events[1].as_slice()).unwrap();
    e.received_at_ms += 1;
    block.events[1] = e.encode_to_vec();
    assert_eq!(
        block_err(block),
        BlockError::EntryMismatch {
            height: 1,
            index: 1
        }
    );
}

#[test]
fn duplicate_sequence_in_a_block() {
    let mut fx = Fixture::new(108);
    let mut a = fx.event(1);
    a.received_at_ms = NOW;
    let mut b = fx.event(1); // same (hospital, department, sequence), another ciphertext
    b.received_at_ms = NOW + 1;
    let events = vec![
        ParsedEvent::from_wire(a).unwrap(),
        ParsedEvent::from_wire(b).unwrap(),
    ];
    let block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    assert_eq!(
        block_err(block),
        BlockError::DuplicateSequence {
            hospital: HOSPITAL.into(),
            department: DEPARTMENT.into(),
            sequence: 1,
        }
    );
}

#[test]
fn not_sorted() {
    let mut fx = Fixture::new(109);
    let mut events = fx.parsed_events(1, 4);
    events.swap(1, 2);
    let block = block_in_order(&events, &fx.endorser, ChainTip::GENESIS);
    assert_eq!(block_err(block), BlockError::NotSorted { index: 2 });

    // Equal receipt times are ordered by event key; the wrong tie-break is refused too.
    let mut a = fx.event(1);
    let mut b = fx.event(2);
    a.received_at_ms = NOW;
    b.received_at_ms = NOW;
    let mut pair = vec![
        ParsedEvent::from_wire(a).unwrap(),
        ParsedEvent::from_wire(b).unwrap(),
    ];
    pair.sort_by_key(|e| std::cmp::Reverse(e.key()));
    let block = block_in_order(&pair, &fx.endorser, ChainTip::GENESIS);
    assert_eq!(block_err(block), BlockError::NotSorted { index: 1 });
    pair.reverse();
    let block = block_in_order(&pair, &fx.endorser, ChainTip::GENESIS);
    assert!(VerifiedBlock::verify(block, MAX_EVENTS).is_ok());
}

#[test]
fn too_many_events() {
    let mut fx = Fixture::new(110);
    let block = fx.block(5);
    assert!(VerifiedBlock::verify(block.clone(), 5).is_ok());
    assert_eq!(
        match VerifiedBlock::verify(block, 4) {
            Err(LedgerError::Block(e)) => e,
            other => panic!("{other:?}"),
        },
        BlockError::TooManyEvents { count: 5, max: 4 }
    );
}

#[test]
fn empty_block() {
    let fx = Fixture::new(111);
    let block = pack_block(&fx.pack_request(ChainTip::GENESIS), Vec::new());
    assert_eq!(block_err(block), BlockError::Empty);
}

#[test]
fn count_mismatch() {
    let mut fx = Fixture::new(112);
    let mut block = fx.block(5);
    let mut h = header(&block);
    h.event_count = 4;
    resign(&mut block, &h, &fx.endorser);
    assert_eq!(
        block_err(block),
        BlockError::CountMismatch {
            header: 4,
            collection: 5,
            events: 5,
        }
    );

    let mut block = fx.block(5);
    block.events.pop();
    assert_eq!(
        block_err(block),
        BlockError::CountMismatch {
            header: 5,
            collection: 5,
            events: 4,
        }
    );
}

#[test]
fn unsupported_header_version() {
    let mut fx = Fixture::new(113);
    let mut block = fx.block(1);
    let mut h = header(&block);
    h.version = 2;
    resign(&mut block, &h, &fx.endorser);
    assert_eq!(
        VerifiedBlock::verify(block, MAX_EVENTS).unwrap_err(),
        LedgerError::UnsupportedVersion {
            what: "block header",
            version: 2,
            expected: 1,
        }
    );
}

#[test]
fn bad_event_inside_a_block_is_named() {
    let mut fx = Fixture::new(114);
    let mut events = fx.parsed_events(1, 4);
    let impostor = SigningKey::generate(&mut fx.rng);
    let mut e = events[2].event.clone();
    e.patient_signature = impostor.sign(purpose::EVENT, &e.body).to_vec();
    events[2] = ParsedEvent::from_wire(e).unwrap();
    let block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    assert_eq!(
        block_err(block),
        BlockError::BadEvent {
            height: 1,
            index: 2,
            reason: Box::new(LedgerError::BadPatientSignature {
                sequence: 3,
                hospital: HOSPITAL.into(),
                department: DEPARTMENT.into(),
            }),
        }
    );

    // An event that does not parse.
    let mut block = fx.block(2);
    block.events[0].truncate(20);
    assert!(matches!(
        block_err(block),
        BlockError::BadEvent { height: 1, index: 0, reason }
            if matches!(*reason, LedgerError::Malformed { what: "event", .. })
    ));
}

#[test]
fn event_with_small_order_patient_key_is_refused_in_a_block() {
    // (R = identity, s = 0) under the identity "key" passes the ed25519 batch equation for any
    // message, although no patient ever signed. The block must refuse it as admit_event does.
    let mut fx = Fixture::new(115);
    let good = fx.parsed_events(1, 2);
    let mut weak = fx.event(3);
    weak.received_at_ms = NOW + 5;
    let mut body = wire::EventBody::decode(weak.body.as_slice()).unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    body.patient_key = identity.to_vec();
    weak.body = body.encode_to_vec();
    weak.patient_signature = identity.into_iter().chain([0u8; 32]).collect();
    weak.provider_signature = fx.dept.signing.sign(purpose::EVENT, &weak.body).to_vec();
    let weak_entry = wire::SignatureEntry {
        pseudonym: tagged_hash("medblock/patient-pseudonym/v1", &[&identity])
            .0
            .to_vec(),
        hospital: HOSPITAL.into(),
        department: DEPARTMENT.into(),
        sequence: 3,
        event_hash: sha256(&weak.encrypted_summary).0.to_vec(),
        patient_signature: weak.patient_signature.clone(),
        provider_signature: weak.provider_signature.clone(),
        received_at_ms: weak.received_at_ms,
    };
    let mut events: Vec<wire::Event> = good.iter().map(|e| e.event.clone()).collect();
    let mut entries: Vec<wire::SignatureEntry> =
        good.iter().map(ParsedEvent::signature_entry).collect();
    events.push(weak);
    entries.push(weak_entry);
    let block = block_from_parts(events, entries, &fx.endorser, ChainTip::GENESIS);
    assert_eq!(
        block_err(block),
        BlockError::BadEvent {
            height: 1,
            index: 2,
            reason: Box::new(LedgerError::Key {
                what: "patient key",
                source: KeyError::MalformedPublicKey { len: 32 },
            }),
        }
    );
}

#[test]
fn check_extends() {
    let mut fx = Fixture::new(116);
    let first = VerifiedBlock::verify(fx.block(2), MAX_EVENTS).unwrap();
    first.check_extends(&ChainTip::GENESIS).unwrap();

    // Height.
    let tip1 = first.tip();
    assert_eq!(
        first.check_extends(&tip1).unwrap_err(),
        BlockError::HeightMismatch {
            expected: 2,
            found: 1
        }
    );

    // The second block follows the first.
    let events = fx.parsed_events(10, 2);
    let mut second = pack_block(&fx.pack_request(tip1), events);
    second.orderer_timestamp_ms = tip1.timestamp_ms + 1;
    let second = VerifiedBlock::verify(second, MAX_EVENTS).unwrap();
    second.check_extends(&tip1).unwrap();
    assert_eq!(second.previous(), first.id);

    // Previous hash: same height, another block id.
    let forged_tip = ChainTip {
        id: sha256(b"another first block"),
        ..tip1
    };
    assert_eq!(
        second.check_extends(&forged_tip).unwrap_err(),
        BlockError::PreviousHashMismatch {
            height: 2,
            expected: forged_tip.id,
            found: first.id,
        }
    );

    // Orderer time going back; equal time is allowed.
    let later_tip = ChainTip {
        timestamp_ms: second.block.orderer_timestamp_ms + 1,
        ..tip1
    };
    assert_eq!(
        second.check_extends(&later_tip).unwrap_err(),
        BlockError::TimestampRegressed {
            found: second.block.orderer_timestamp_ms,
            previous: second.block.orderer_timestamp_ms + 1,
        }
    );
    let same_time_tip = ChainTip {
        timestamp_ms: second.block.orderer_timestamp_ms,
        ..tip1
    };
    second.check_extends(&same_time_tip).unwrap();
}

#[test]
fn check_time_refuses_a_block_dated_into_the_future() {
    let mut fx = Fixture::new(117);
    let mut block = fx.block(2);
    block.orderer_timestamp_ms = 1_000_000;
    let block = VerifiedBlock::verify(block, MAX_EVENTS).unwrap();
    // Within the skew, or in the past (a proposal re-sent after a view change): accepted.
    block.check_time(1_000_000 - 5_000, 5_000).unwrap();
    block.check_time(9_000_000, 5_000).unwrap();
    // Further ahead of the orderer's clock: refused, with the figures.
    assert_eq!(
        block.check_time(1_000_000 - 5_001, 5_000).unwrap_err(),
        BlockError::TimestampAhead {
            found: 1_000_000,
            ahead_ms: 5_001,
            allowed_ms: 5_000,
        }
    );
}

#[test]
fn authorize_refuses_a_non_endorser() {
    let mut fx = Fixture::new(117);
    let events = fx.parsed_events(1, 2);
    // Packed and signed by the cardiology desk (role CLIENT).
    let mut req = fx.pack_request(ChainTip::GENESIS);
    req.endorser = &fx.dept.signing;
    let block = pack_block(&req, events.clone());
    let v = VerifiedBlock::verify(block, MAX_EVENTS).expect("integrity is fine");
    assert_eq!(
        v.authorize(&fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::MissingRole {
            serial: 10,
            name: "cardiology desk".into(),
            role: "endorser",
        })
    );

    // Packed by a key nobody certified.
    let stranger = SigningKey::generate(&mut fx.rng);
    let mut req = fx.pack_request(ChainTip::GENESIS);
    req.endorser = &stranger;
    let v = VerifiedBlock::verify(pack_block(&req, events), MAX_EVENTS).unwrap();
    assert_eq!(
        v.authorize(&fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::Unknown {
            key: stranger.public().to_hex(),
        })
    );
}

#[test]
fn authorize_checks_every_department() {
    let mut fx = Fixture::new(118);
    let v = VerifiedBlock::verify(fx.block(3), MAX_EVENTS).unwrap();
    v.authorize(&fx.trust, NOW).unwrap();
    let list = fx.ca.revocation_list(1, [10].into(), NOW);
    fx.trust.apply_revocations(&list).unwrap();
    assert_eq!(
        v.authorize(&fx.trust, NOW).unwrap_err(),
        LedgerError::Block(BlockError::BadEvent {
            height: 1,
            index: 0,
            reason: Box::new(LedgerError::Certificate(CertificateError::Revoked {
                serial: 10,
                name: "cardiology desk".into(),
            })),
        })
    );
}

#[test]
fn crumbs_one_per_patient_and_department() {
    let mut fx = Fixture::new(119);
    let (p1, p2) = (fx.patient.clone(), fx.patient2.clone());
    let (cardio, onco) = (fx.dept.signing.clone(), fx.other_dept.signing.clone());
    let plan: [(u64, &_, &SigningKey, &str); 6] = [
        (1, &p1, &cardio, DEPARTMENT),
        (2, &p1, &cardio, DEPARTMENT),
        (1, &p1, &onco, OTHER_DEPARTMENT),
        (3, &p2, &cardio, DEPARTMENT),
        (4, &p2, &cardio, DEPARTMENT),
        (2, &p2, &onco, OTHER_DEPARTMENT),
    ];
    let events: Vec<ParsedEvent> = plan
        .iter()
        .enumerate()
        .map(|(i, (seq, patient, key, dept))| {
            let mut e = fx.event_with(*seq, patient, key, dept, &summary(*seq), false);
            e.received_at_ms = NOW + i as u64;
            ParsedEvent::from_wire(e).unwrap()
        })
        .collect();
    let mut block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    block.orderer_timestamp_ms = NOW + 10;
    let v = VerifiedBlock::verify(block, MAX_EVENTS).unwrap();
    v.authorize(&fx.trust, NOW).unwrap();
    let crumbs = v.crumbs();
    assert_eq!(crumbs.len(), 4, "{crumbs:?}");
    let got: HashSet<_> = crumbs
        .iter()
        .map(|c| (c.pseudonym, c.department.clone()))
        .collect();
    let dept = |d: &str| DepartmentId {
        hospital: HOSPITAL.into(),
        department: d.into(),
    };
    let want: HashSet<_> = [
        (pseudonym(&p1.signing.public()), dept(DEPARTMENT)),
        (pseudonym(&p1.signing.public()), dept(OTHER_DEPARTMENT)),
        (pseudonym(&p2.signing.public()), dept(DEPARTMENT)),
        (pseudonym(&p2.signing.public()), dept(OTHER_DEPARTMENT)),
    ]
    .into();
    assert_eq!(got, want);
    for c in &crumbs {
        assert_eq!(c.height, 1);
        assert_eq!(c.block_id, v.id);
    }
    // The pseudonym is not the key.
    assert_ne!(
        pseudonym(&p1.signing.public()).0.0,
        *p1.signing.public().as_bytes()
    );
}

#[test]
fn a_certified_block_skips_event_signatures_but_nothing_else() {
    let mut fx = Fixture::new(118);
    let mut events = fx.parsed_events(1, 4);
    let impostor = SigningKey::generate(&mut fx.rng);
    let mut e = events[1].event.clone();
    e.patient_signature = impostor.sign(purpose::EVENT, &e.body).to_vec();
    events[1] = ParsedEvent::from_wire(e).unwrap();
    let forged = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    // A full check finds the forged signature; the certified path trusts the committee for it.
    assert!(matches!(
        VerifiedBlock::verify(forged.clone(), MAX_EVENTS).unwrap_err(),
        LedgerError::Block(BlockError::BadEvent { index: 1, .. })
    ));
    let certified = VerifiedBlock::certified(forged.clone(), MAX_EVENTS).unwrap();
    assert_eq!(certified.id, block_id(&forged));
    assert_eq!(
        VerifiedBlock::tip_of(&forged).unwrap(),
        certified.tip(),
        "the header alone gives the same tip"
    );

    // Everything else is still checked: the Merkle root, the endorser's header signature.
    let mut block = fx.block(3);
    let mut h = header(&block);
    h.merkle_root[0] ^= 1;
    resign(&mut block, &h, &fx.endorser);
    assert!(matches!(
        VerifiedBlock::certified(block, MAX_EVENTS).unwrap_err(),
        LedgerError::Block(BlockError::MerkleRootMismatch { height: 1 })
    ));
    let mut block = fx.block(3);
    block.endorser_signature[0] ^= 1;
    assert!(VerifiedBlock::certified(block, MAX_EVENTS).is_err());
}
