//! Every decoder of untrusted bytes, fed garbage, truncations, mutations and oversized input,
//! returns a typed error and never panics.

mod common;

use common::*;
use medblock_core::block::{VerifiedBlock, block_id, decode_block};
use medblock_core::cert::{TrustStore, decode_certificate, verify_certificate};
use medblock_core::codec::{decode_bounded, limits};
use medblock_core::error::LedgerError;
use medblock_core::event::ParsedEvent;
use medblock_core::genesis::{GenesisSpec, build_genesis, default_params, verify_genesis};
use medblock_core::keys::PublicKey;
use medblock_core::sealing::{SummaryBinding, decode_sealed, open};
use medblock_core::wire;
use proptest::prelude::*;
use prost::Message;
use std::sync::LazyLock;

/// Valid encodings of every kind, and what is needed to check them.
struct Samples {
    ca: PublicKey,
    event: Vec<u8>,
    block: wire::Block,
    certificate: Vec<u8>,
    revocations: Vec<u8>,
    genesis: Vec<u8>,
    sealed: Vec<u8>,
    binding: SummaryBinding,
    patient: medblock_core::keys::SealingSecret,
}

static SAMPLES: LazyLock<Samples> = LazyLock::new(|| {
    let mut fx = Fixture::new(600);
    let e = fx.event(1);
    let (patient, dept) = (fx.patient.clone(), fx.dept.signing.clone());
    let patient_only = fx.event_with(2, &patient, &dept, DEPARTMENT, &summary(2), false);
    let patient_only = ParsedEvent::from_wire(patient_only).unwrap();
    let genesis = build_genesis(
        &fx.ca,
        &GenesisSpec {
            network: "fuzz".into(),
            regions: vec![REGION.into()],
            certificates: vec![fx.dept_cert.clone(), fx.endorser_cert.clone()],
            regulator: Some((fx.regulator.signing.public(), fx.regulator.sealing.public())),
            params: default_params(),
            created_at_ms: NOW,
        },
    );
    Samples {
        ca: fx.ca.public(),
        event: e.encode_to_vec(),
        block: fx.block(2),
        certificate: fx.dept_cert.encode_to_vec(),
        revocations: fx
            .ca
            .revocation_list(1, [3, 4, 5].into(), NOW)
            .encode_to_vec(),
        genesis: genesis.encode_to_vec(),
        binding: patient_only.binding(),
        sealed: patient_only.event.encrypted_summary.clone(),
        patient: fx.patient.sealing.clone(),
    }
});

fn revocations(ca: &PublicKey, bytes: &[u8]) -> Result<u64, LedgerError> {
    let list: wire::RevocationList =
        decode_bounded("revocation list", bytes, limits::MAX_REVOCATION_BYTES)?;
    TrustStore::new(*ca).apply_revocations(&list)
}

fn block_with_header(header: Vec<u8>) -> Result<VerifiedBlock, LedgerError> {
    let mut b = SAMPLES.block.clone();
    b.header = header;
    VerifiedBlock::verify(b, MAX_EVENTS)
}

/// Every decoder on the same bytes; returns which accepted them.
fn all_decoders(bytes: &[u8]) -> Vec<(&'static str, bool)> {
    let s = &*SAMPLES;
    vec![
        (
            "event",
            ParsedEvent::parse(bytes)
                .and_then(|p| p.verify_signatures())
                .is_ok(),
        ),
        (
            "block",
            VerifiedBlock::from_bytes(bytes, MAX_EVENTS).is_ok(),
        ),
        ("header", block_with_header(bytes.to_vec()).is_ok()),
        ("certificate", decode_certificate(&s.ca, bytes).is_ok()),
        (
            "certificate body",
            verify_certificate(
                &s.ca,
                &wire::Certificate {
                    body: bytes.to_vec(),
                    signature: vec![0; 64],
                },
            )
            .is_ok(),
        ),
        ("revocation list", revocations(&s.ca, bytes).is_ok()),
        ("genesis", verify_genesis(bytes).is_ok()),
        (
            "sealed summary",
            open(bytes, &s.binding, &s.patient).is_ok(),
        ),
    ]
}

fn assert_all_refuse(bytes: &[u8]) -> Result<(), TestCaseError> {
    for (what, accepted) in all_decoders(bytes) {
        prop_assert!(
            !accepted,
            "{} accepted {} arbitrary bytes",
            what,
            bytes.len()
        );
    }
    // Structure-only decoders: must not panic, whatever they return.
    let _ = decode_block(bytes);
    let _ = decode_sealed(bytes);
    Ok(())
}

/// Replaces `bytes[at..at+len]` with `with`.
fn splice(bytes: &[u8], at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let at = at.min(bytes.len());
    let end = (at + len).min(bytes.len());
    [&bytes[..at], with, &bytes[end..]].concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        assert_all_refuse(&bytes)?;
    }

    /// Valid encodings with a random range replaced by random bytes: refused, or (when the
    /// splice only touched bytes the decoder drops, e.g. an unknown field) decoded to exactly
    /// the original message.
    #[test]
    fn spliced_valid_encodings(
        kind in 0usize..6,
        at in any::<prop::sample::Index>(),
        len in 0usize..16,
        with in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let s = &*SAMPLES;
        let block = s.block.encode_to_vec();
        let original: &[u8] = match kind {
            0 => &s.event,
            1 => &block,
            2 => &s.certificate,
            3 => &s.revocations,
            4 => &s.genesis,
            _ => &s.sealed,
        };
        let mutated = splice(original, at.index(original.len() + 1), len, &with);
        prop_assume!(mutated != original);
        match kind {
            0 => if let Ok(p) = ParsedEvent::parse(&mutated).and_then(|p| p.verify_signatures().map(|_| p)) {
                prop_assert_eq!(p.event, wire::Event::decode(original).unwrap());
            },
            1 => if let Ok(v) = VerifiedBlock::from_bytes(&mutated, MAX_EVENTS) {
                // Either the orderer time changed (and with it the id), or nothing did.
                let mut same_time = v.block.clone();
                same_time.orderer_timestamp_ms = s.block.orderer_timestamp_ms;
                prop_assert_eq!(same_time, s.block.clone());
                prop_assert_eq!(v.id == block_id(&s.block), v.block == s.block);
                prop_assert_eq!(
                    v.events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
                    s.block.events.iter().map(|e| wire::Event::decode(e.as_slice()).unwrap()).collect::<Vec<_>>()
                );
            },
            2 => if let Ok(c) = decode_certificate(&s.ca, &mutated) {
                prop_assert_eq!(c.raw, wire::Certificate::decode(original).unwrap());
            },
            3 => if revocations(&s.ca, &mutated).is_ok() {
                let list = wire::RevocationList::decode(mutated.as_slice()).unwrap();
                prop_assert_eq!(list, wire::RevocationList::decode(original).unwrap());
            },
            4 => if let Ok(g) = verify_genesis(&mutated) {
                let body = wire::GenesisBody::decode(wire::Genesis::decode(original).unwrap().body.as_slice()).unwrap();
                prop_assert_eq!(g.body, body);
            },
            _ => if let Ok(summary_) = open(&mutated, &s.binding, &s.patient) {
                // The AEAD authenticates the ciphertext; a recipient list edit that keeps the
                // patient's wrap intact still opens to the same summary.
                prop_assert_eq!(summary_, summary(2));
            },
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let s = &*SAMPLES;
    let block = s.block.encode_to_vec();
    for len in 0..block.len() {
        assert!(
            VerifiedBlock::from_bytes(&block[..len], MAX_EVENTS).is_err(),
            "block prefix {len}"
        );
    }
    for len in 0..s.block.header.len() {
        assert!(block_with_header(s.block.header[..len].to_vec()).is_err());
    }
    for len in 0..s.event.len() {
        assert!(
            ParsedEvent::parse(&s.event[..len])
                .and_then(|p| p.verify_signatures())
                .is_err(),
            "event prefix {len}"
        );
    }
    for len in 0..s.certificate.len() {
        assert!(decode_certificate(&s.ca, &s.certificate[..len]).is_err());
    }
    for len in 0..s.revocations.len() {
        assert!(revocations(&s.ca, &s.revocations[..len]).is_err());
    }
    for len in 0..s.genesis.len() {
        assert!(
            verify_genesis(&s.genesis[..len]).is_err(),
            "genesis prefix {len}"
        );
    }
    for len in 0..s.sealed.len() {
        assert!(
            open(&s.sealed[..len], &s.binding, &s.patient).is_err(),
            "sealed prefix {len}"
        );
    }
    // And the full encodings are accepted (so the loops above test something).
    assert!(VerifiedBlock::from_bytes(&block, MAX_EVENTS).is_ok());
    assert!(block_with_header(s.block.header.clone()).is_ok());
    assert!(ParsedEvent::parse(&s.event).is_ok());
    assert!(decode_certificate(&s.ca, &s.certificate).is_ok());
    assert!(revocations(&s.ca, &s.revocations).is_ok());
    assert!(verify_genesis(&s.genesis).is_ok());
    assert!(open(&s.sealed, &s.binding, &s.patient).is_ok());
}

fn too_large(r: Result<impl std::fmt::Debug, LedgerError>, what: &'static str, max: usize) {
    match r {
        Err(LedgerError::TooLarge {
            what: w,
            len,
            max: m,
        }) => {
            assert_eq!((w, m), (what, max));
            assert!(len > max);
        }
        other => panic!("{what}: expected TooLarge, got {other:?}"),
    }
}

#[test]
fn oversized_inputs_are_refused_before_decoding() {
    let s = &*SAMPLES;
    // Valid prefixes padded past the limit: size is checked before a byte is parsed.
    let pad = |bytes: &[u8], max: usize| {
        let mut v = bytes.to_vec();
        v.resize(max + 1, 0);
        v
    };
    too_large(
        ParsedEvent::parse(&pad(&s.event, limits::MAX_EVENT_BYTES)),
        "event",
        limits::MAX_EVENT_BYTES,
    );
    too_large(
        decode_block(&pad(&s.block.encode_to_vec(), limits::MAX_BLOCK_BYTES)),
        "block",
        limits::MAX_BLOCK_BYTES,
    );
    too_large(
        block_with_header(pad(&s.block.header, limits::MAX_HEADER_BYTES)),
        "block header",
        limits::MAX_HEADER_BYTES,
    );
    too_large(
        decode_certificate(
            &s.ca,
            &pad(&s.certificate, limits::MAX_CERTIFICATE_BYTES + 128),
        ),
        "certificate",
        limits::MAX_CERTIFICATE_BYTES + 128,
    );
    too_large(
        verify_certificate(
            &s.ca,
            &wire::Certificate {
                body: vec![0; limits::MAX_CERTIFICATE_BYTES + 1],
                signature: vec![0; 64],
            },
        ),
        "certificate",
        limits::MAX_CERTIFICATE_BYTES,
    );
    too_large(
        TrustStore::new(s.ca).apply_revocations(&wire::RevocationList {
            body: vec![0; limits::MAX_REVOCATION_BYTES + 1],
            signature: vec![0; 64],
        }),
        "revocation list",
        limits::MAX_REVOCATION_BYTES,
    );
    too_large(
        verify_genesis(&pad(&s.genesis, limits::MAX_GENESIS_BYTES)),
        "genesis",
        limits::MAX_GENESIS_BYTES,
    );
    too_large(
        decode_sealed(&pad(&s.sealed, limits::MAX_SEALED_SUMMARY_BYTES)),
        "sealed summary",
        limits::MAX_SEALED_SUMMARY_BYTES,
    );
    // An event whose sealed summary is over its own limit (but the event within its limit).
    let mut fx = Fixture::new(601);
    let mut e = fx.event(1);
    e.encrypted_summary = vec![0; limits::MAX_SEALED_SUMMARY_BYTES + 1];
    let mut body = wire::EventBody::decode(e.body.as_slice()).unwrap();
    body.event_hash = medblock_core::hash::sha256(&e.encrypted_summary).0.to_vec();
    e.body = body.encode_to_vec();
    too_large(
        ParsedEvent::parse(&e.encode_to_vec()),
        "sealed summary",
        limits::MAX_SEALED_SUMMARY_BYTES,
    );
}
