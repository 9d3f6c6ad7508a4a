//! Event admission: every way an event can be refused, each with its own typed error.

mod common;

use common::*;
use medblock_core::cert::CertificateAuthority;
use medblock_core::codec::limits;
use medblock_core::error::{CertificateError, LedgerError};
use medblock_core::event::{EventKey, ParsedEvent, admit_event, verify_event_signatures};
use medblock_core::hash::sha256;
use medblock_core::keys::{KeyError, PublicKey, SigningKey, purpose};
use medblock_core::sealing;
use medblock_core::wire::{self, Role};
use prost::Message;

fn body(e: &wire::Event) -> wire::EventBody {
    wire::EventBody::decode(e.body.as_slice()).unwrap()
}

/// Re-encodes `body` into `e` and has the fixture's patient and department sign it again, so a
/// test changes one field and keeps both signatures valid.
fn resign_event(fx: &Fixture, e: &mut wire::Event, body: &wire::EventBody) {
    e.body = body.encode_to_vec();
    e.patient_signature = fx.patient.signing.sign(purpose::EVENT, &e.body).to_vec();
    e.provider_signature = fx.dept.signing.sign(purpose::EVENT, &e.body).to_vec();
}

/// A 32-byte string that is not the encoding of a curve point.
fn not_a_point() -> Vec<u8> {
    (2u8..=255)
        .map(|y| {
            let mut b = vec![0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| {
            matches!(
                PublicKey::from_slice(b),
                Err(KeyError::MalformedPublicKey { len: 32 })
            )
        })
        .expect("some y has no x on the curve")
}

/// The encoding of the identity point: a valid point of small order (a "weak" key).
fn identity_point() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
}

#[test]
fn a_valid_event_is_admitted_and_opens_for_the_patient() {
    let mut fx = Fixture::new(1);
    let e = fx.event(7);
    let parsed = admit_event(&e.encode_to_vec(), &fx.trust, NOW).expect("admitted");
    assert_eq!(parsed.body.sequence, 7);
    assert_eq!(parsed.body.hospital, HOSPITAL);
    assert_eq!(parsed.body.department, DEPARTMENT);
    assert_eq!(parsed.patient, fx.patient.signing.public());
    assert_eq!(parsed.provider, fx.dept.signing.public());
    assert_eq!(parsed.event_hash, sha256(&e.encrypted_summary));
    assert_eq!(parsed.key(), EventKey::new(HOSPITAL, DEPARTMENT, 7));
    let opened =
        sealing::open(&e.encrypted_summary, &parsed.binding(), &fx.patient.sealing).unwrap();
    assert_eq!(opened, summary(7));
}

#[test]
fn event_keys_name_hospital_department_and_sequence() {
    let k = EventKey::new(HOSPITAL, DEPARTMENT, 1);
    assert_eq!(k, EventKey::new(HOSPITAL, DEPARTMENT, 1));
    assert_ne!(k, EventKey::new(HOSPITAL, DEPARTMENT, 2));
    assert_ne!(k, EventKey::new(HOSPITAL, OTHER_DEPARTMENT, 1));
    assert_ne!(k, EventKey::new("other", DEPARTMENT, 1));
    // Length-prefixed parts: moving a character between hospital and department changes it.
    assert_ne!(
        EventKey::new("ab", "c", 1),
        EventKey::new("a", "bc", 1),
        "hospital/department boundary must be unambiguous"
    );
}

#[test]
fn bad_patient_signature() {
    let mut fx = Fixture::new(2);
    let mut e = fx.event(3);
    let impostor = SigningKey::generate(&mut fx.rng);
    e.patient_signature = impostor.sign(purpose::EVENT, &e.body).to_vec();
    let parsed = ParsedEvent::parse(&e.encode_to_vec()).expect("structure is fine");
    assert_eq!(
        parsed.verify_signatures(),
        Err(LedgerError::BadPatientSignature {
            sequence: 3,
            hospital: HOSPITAL.into(),
            department: DEPARTMENT.into(),
        })
    );
    assert!(matches!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW),
        Err(LedgerError::BadPatientSignature { sequence: 3, .. })
    ));
}

#[test]
fn bad_provider_signature() {
    let mut fx = Fixture::new(3);
    let mut e = fx.event(4);
    // The right key, but signing for another purpose: domain separation must refuse it.
    e.provider_signature = fx.dept.signing.sign(purpose::RECEIPT, &e.body).to_vec();
    let parsed = ParsedEvent::parse(&e.encode_to_vec()).unwrap();
    assert_eq!(
        parsed.verify_signatures(),
        Err(LedgerError::BadProviderSignature {
            sequence: 4,
            hospital: HOSPITAL.into(),
            department: DEPARTMENT.into(),
        })
    );
}

#[test]
fn signatures_swapped_between_patient_and_provider_fail() {
    let mut fx = Fixture::new(4);
    let mut e = fx.event(5);
    std::mem::swap(&mut e.patient_signature, &mut e.provider_signature);
    let parsed = ParsedEvent::parse(&e.encode_to_vec()).unwrap();
    assert!(matches!(
        parsed.verify_signatures(),
        Err(LedgerError::BadPatientSignature { .. })
    ));
}

#[test]
fn event_hash_mismatch() {
    let mut fx = Fixture::new(5);
    let mut e = fx.event(1);
    let other = fx.event(1);
    let claimed = sha256(&e.encrypted_summary);
    e.encrypted_summary = other.encrypted_summary.clone();
    assert_eq!(
        ParsedEvent::parse(&e.encode_to_vec()).unwrap_err(),
        LedgerError::EventHashMismatch {
            claimed,
            actual: sha256(&other.encrypted_summary),
        }
    );
}

#[test]
fn event_hash_of_wrong_length() {
    let mut fx = Fixture::new(6);
    let mut e = fx.event(1);
    let mut b = body(&e);
    b.event_hash.pop();
    resign_event(&fx, &mut e, &b);
    assert!(matches!(
        ParsedEvent::parse(&e.encode_to_vec()),
        Err(LedgerError::Malformed {
            what: "event body",
            ..
        })
    ));
}

#[test]
fn malformed_keys_and_signatures() {
    let mut fx = Fixture::new(7);
    let e = fx.event(1);

    let mut short = e.clone();
    let mut b = body(&e);
    b.patient_key.truncate(31);
    short.body = b.encode_to_vec();
    assert_eq!(
        ParsedEvent::parse(&short.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "patient key",
            source: KeyError::MalformedPublicKey { len: 31 },
        }
    );

    let mut off_curve = e.clone();
    let mut b = body(&e);
    b.provider_key = not_a_point();
    off_curve.body = b.encode_to_vec();
    assert_eq!(
        ParsedEvent::parse(&off_curve.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "provider key",
            source: KeyError::MalformedPublicKey { len: 32 },
        }
    );

    let mut sig = e.clone();
    sig.patient_signature.pop();
    assert_eq!(
        ParsedEvent::parse(&sig.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "patient signature",
            source: KeyError::MalformedSignature { len: 63 },
        }
    );

    let mut sig = e.clone();
    sig.provider_signature.clear();
    assert_eq!(
        ParsedEvent::parse(&sig.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "provider signature",
            source: KeyError::MalformedSignature { len: 0 },
        }
    );
}

#[test]
fn missing_hospital_or_department() {
    let mut fx = Fixture::new(8);
    let mut e = fx.event(1);
    let mut b = body(&e);
    b.hospital.clear();
    resign_event(&fx, &mut e, &b);
    assert_eq!(
        ParsedEvent::parse(&e.encode_to_vec()).unwrap_err(),
        LedgerError::MissingField {
            what: "event body",
            field: "hospital",
        }
    );
    let mut b = body(&e);
    b.hospital = HOSPITAL.into();
    b.department.clear();
    resign_event(&fx, &mut e, &b);
    assert_eq!(
        ParsedEvent::parse(&e.encode_to_vec()).unwrap_err(),
        LedgerError::MissingField {
            what: "event body",
            field: "department",
        }
    );
}

#[test]
fn truncated_event_is_malformed() {
    let mut fx = Fixture::new(9);
    let bytes = fx.event(1).encode_to_vec();
    // Cut in the middle of the encrypted summary (the last, length-delimited field).
    let cut = &bytes[..bytes.len() - 10];
    assert!(matches!(
        ParsedEvent::parse(cut),
        Err(LedgerError::Malformed { what: "event", .. })
    ));
    // Every proper prefix is refused, whatever the reason.
    for len in 0..bytes.len() {
        let r = ParsedEvent::parse(&bytes[..len]).and_then(|p| p.verify_signatures());
        assert!(r.is_err(), "prefix of {len} bytes accepted");
    }
}

#[test]
fn oversized_event_is_refused_before_decoding() {
    let mut fx = Fixture::new(10);
    let mut bytes = fx.event(1).encode_to_vec();
    bytes.resize(limits::MAX_EVENT_BYTES + 1, 0);
    assert_eq!(
        ParsedEvent::parse(&bytes).unwrap_err(),
        LedgerError::TooLarge {
            what: "event",
            len: limits::MAX_EVENT_BYTES + 1,
            max: limits::MAX_EVENT_BYTES,
        }
    );
}

#[test]
fn sealed_summary_structure_is_checked_at_parse() {
    let mut fx = Fixture::new(11);
    let mut e = fx.event(1);
    let mut sealed = wire::SealedSummary::decode(e.encrypted_summary.as_slice()).unwrap();
    sealed.version = 2;
    e.encrypted_summary = sealed.encode_to_vec();
    let mut b = body(&e);
    b.event_hash = sha256(&e.encrypted_summary).0.to_vec();
    resign_event(&fx, &mut e, &b);
    assert_eq!(
        ParsedEvent::parse(&e.encode_to_vec()).unwrap_err(),
        LedgerError::UnsupportedVersion {
            what: "sealed summary",
            version: 2,
            expected: sealing::SEALED_SUMMARY_VERSION,
        }
    );
}

#[test]
fn small_order_patient_key_is_refused() {
    // The identity point decodes as a curve point, but it is nobody's key: with it, the
    // "signature" (R = identity, s = 0) satisfies the unbatched-cofactorless equation for every
    // message. Strict single verification refuses it; parsing must refuse it too, or a block
    // (verified in an ed25519 batch, which does not check for small-order keys) would accept an
    // event no patient signed.
    let mut fx = Fixture::new(12);
    let mut e = fx.event(1);
    let mut b = body(&e);
    b.patient_key = identity_point().to_vec();
    e.body = b.encode_to_vec();
    e.patient_signature = identity_point().into_iter().chain([0u8; 32]).collect();
    e.provider_signature = fx.dept.signing.sign(purpose::EVENT, &e.body).to_vec();
    assert_eq!(
        ParsedEvent::parse(&e.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "patient key",
            source: KeyError::MalformedPublicKey { len: 32 },
        }
    );
}

#[test]
fn batch_verification_names_the_bad_event() {
    let mut fx = Fixture::new(13);
    let mut events = fx.parsed_events(1, 5);
    assert_eq!(verify_event_signatures(&events), Ok(()));
    let impostor = SigningKey::generate(&mut fx.rng);
    let mut bad = events[3].event.clone();
    bad.provider_signature = impostor.sign(purpose::EVENT, &bad.body).to_vec();
    events[3] = ParsedEvent::from_wire(bad).unwrap();
    assert_eq!(
        verify_event_signatures(&events),
        Err((
            3,
            LedgerError::BadProviderSignature {
                sequence: 4,
                hospital: HOSPITAL.into(),
                department: DEPARTMENT.into(),
            }
        ))
    );
}

// ---------------------------------------------------------------------------------------------
// The department's certificate.

#[test]
fn provider_certificate_window() {
    let mut fx = Fixture::new(20);
    let bytes = fx.event(1).encode_to_vec();
    assert!(
        admit_event(&bytes, &fx.trust, NOW - DAY).is_ok(),
        "window start is inclusive"
    );
    assert!(
        admit_event(&bytes, &fx.trust, NOW + 365 * DAY).is_ok(),
        "window end is inclusive"
    );
    assert_eq!(
        admit_event(&bytes, &fx.trust, NOW + 365 * DAY + 1).unwrap_err(),
        LedgerError::Certificate(CertificateError::Expired {
            serial: 10,
            name: "cardiology desk".into(),
            not_after_ms: NOW + 365 * DAY,
            at_ms: NOW + 365 * DAY + 1,
        })
    );
    assert_eq!(
        admit_event(&bytes, &fx.trust, NOW - DAY - 1).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotYetValid {
            serial: 10,
            name: "cardiology desk".into(),
            not_before_ms: NOW - DAY,
            at_ms: NOW - DAY - 1,
        })
    );
}

#[test]
fn provider_certificate_revoked() {
    let mut fx = Fixture::new(21);
    let bytes = fx.event(1).encode_to_vec();
    let list = fx.ca.revocation_list(1, [10].into(), NOW);
    fx.trust.apply_revocations(&list).unwrap();
    assert_eq!(
        admit_event(&bytes, &fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::Revoked {
            serial: 10,
            name: "cardiology desk".into(),
        })
    );
}

#[test]
fn provider_certificate_without_client_role() {
    let mut fx = Fixture::new(22);
    // The endorser's key signs as a department: certified, but not as CLIENT.
    let endorser = fx.endorser.clone();
    let patient = fx.patient.clone();
    let e = fx.event_with(1, &patient, &endorser, DEPARTMENT, &summary(1), true);
    assert_eq!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::MissingRole {
            serial: 20,
            name: "endorser-1".into(),
            role: "client",
        })
    );
}

#[test]
fn provider_certificate_for_another_department_or_hospital() {
    let mut fx = Fixture::new(23);
    // The oncology desk writes an event claiming to be cardiology.
    let other = fx.other_dept.signing.clone();
    let patient = fx.patient.clone();
    let e = fx.event_with(1, &patient, &other, DEPARTMENT, &summary(1), true);
    assert_eq!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::WrongAffiliation {
            serial: 11,
            cert_hospital: HOSPITAL.into(),
            cert_department: OTHER_DEPARTMENT.into(),
            hospital: HOSPITAL.into(),
            department: DEPARTMENT.into(),
        })
    );

    // The cardiology desk claims another hospital.
    let mut e = fx.event(2);
    let mut b = body(&e);
    b.hospital = "st-john".into();
    resign_event(&fx, &mut e, &b);
    assert_eq!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::WrongAffiliation {
            serial: 10,
            cert_hospital: HOSPITAL.into(),
            cert_department: DEPARTMENT.into(),
            hospital: "st-john".into(),
            department: DEPARTMENT.into(),
        })
    );
}

#[test]
fn provider_certificate_unknown() {
    let mut fx = Fixture::new(24);
    let stranger = SigningKey::generate(&mut fx.rng);
    let patient = fx.patient.clone();
    let e = fx.event_with(1, &patient, &stranger, DEPARTMENT, &summary(1), true);
    assert_eq!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW).unwrap_err(),
        LedgerError::Certificate(CertificateError::Unknown {
            key: stranger.public().to_hex(),
        })
    );
}

#[test]
fn provider_certified_by_another_ca_is_unknown_here() {
    let mut fx = Fixture::new(25);
    let rogue_ca = CertificateAuthority::new(SigningKey::generate(&mut fx.rng));
    let rogue = SigningKey::generate(&mut fx.rng);
    let cert = rogue_ca.issue(cert_body(
        10,
        "rogue desk",
        &rogue,
        &[Role::Client],
        HOSPITAL,
        DEPARTMENT,
    ));
    assert_eq!(
        fx.trust.add(&cert).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotSignedByCa { serial: 10 })
    );
    let patient = fx.patient.clone();
    let e = fx.event_with(1, &patient, &rogue, DEPARTMENT, &summary(1), true);
    assert!(matches!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW),
        Err(LedgerError::Certificate(CertificateError::Unknown { .. }))
    ));
}

#[test]
fn a_batch_of_uploads_is_judged_event_by_event() {
    use medblock_core::authorization::{AuthorizationCache, RevokedAuthorizations};
    use medblock_core::event::{Admission, admit_events};
    let revoked = RevokedAuthorizations::default();
    let mut cache = AuthorizationCache::default();
    fn admission<'a>(
        revoked: &'a RevokedAuthorizations,
        cache: &'a mut AuthorizationCache,
    ) -> Admission<'a> {
        Admission {
            revoked,
            cache,
            height: 1,
        }
    }
    let mut fx = Fixture::new(41);
    let good: Vec<wire::Event> = (1..=4).map(|i| fx.event(i)).collect();
    let mut bad_sig = fx.event(5);
    bad_sig.patient_signature = fx.patient.signing.sign(purpose::EVENT, b"other").to_vec();
    // A key with a certificate, but not for this hospital's department.
    let stranger = medblock_core::keys::Identity::generate(&mut fx.rng);
    let patient = fx.patient.clone();
    let uncertified = fx.event_with(
        6,
        &patient,
        &stranger.signing,
        DEPARTMENT,
        &summary(6),
        true,
    );
    let oversized = wire::Event {
        encrypted_summary: vec![0; limits::MAX_EVENT_BYTES + 1],
        ..fx.event(7)
    };
    let malformed = wire::Event {
        body: vec![0xff; 20],
        ..fx.event(8)
    };
    let mut batch = good.clone();
    batch.insert(1, bad_sig);
    batch.insert(3, uncertified);
    batch.push(oversized);
    batch.push(malformed);
    let out = admit_events(batch, &fx.trust, NOW, admission(&revoked, &mut cache));
    assert_eq!(out.len(), 8);
    let accepted: Vec<u64> = out
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|p| p.body.sequence))
        .collect();
    assert_eq!(accepted, vec![1, 2, 3, 4], "the good events, in order");
    assert!(matches!(
        out[1],
        Err(LedgerError::BadPatientSignature { sequence: 5, .. })
    ));
    assert!(
        matches!(out[3], Err(LedgerError::Certificate(_))),
        "{:?}",
        out[3]
    );
    assert!(matches!(
        out[6],
        Err(LedgerError::Malformed { what: "event", .. })
    ));
    assert!(out[7].is_err());
    // A batch of good events only is admitted whole, as one by one.
    let again: Vec<_> = admit_events(
        good.clone(),
        &fx.trust,
        NOW,
        admission(&revoked, &mut cache),
    )
    .into_iter()
    .map(|r| r.map(|p| p.key()))
    .collect();
    let alone: Vec<_> = good
        .iter()
        .map(|e| admit_event(&e.encode_to_vec(), &fx.trust, NOW).map(|p| p.key()))
        .collect();
    assert_eq!(again, alone);
    assert!(admit_events(Vec::new(), &fx.trust, NOW, admission(&revoked, &mut cache)).is_empty());
}
