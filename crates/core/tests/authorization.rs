//! Recording authorizations and enrolment: a department records a patient's visit with his
//! consent and without his private key; every rule that makes such an event valid, and every way
//! it can be refused (by endorsers on admission, by orderers and committers in a block).

mod common;

use common::*;
use medblock_core::LedgerError;
use medblock_core::authorization::{
    AuthorizationError, AuthorizationId, AuthorizationTerms, RevokedAuthorizations,
    VerifiedAuthorization, sign_authorization, sign_enrolment, validate_patient_id,
    verify_enrolment,
};
use medblock_core::block::{VerifiedBlock, pack_block};
use medblock_core::event::{NewAuthorizedEvent, ParsedEvent, admit_event, build_authorized_event};
use medblock_core::keys::Identity;
use medblock_core::sealing::open;
use medblock_core::wire;
use medblock_core::{ChainTip, Hash32};
use prost::Message;

fn terms(hospital: &str, departments: &[&str]) -> AuthorizationTerms {
    AuthorizationTerms {
        hospital: hospital.into(),
        departments: departments.iter().map(|d| d.to_string()).collect(),
        serial: 7,
        not_before_ms: NOW - DAY,
        not_after_ms: NOW + 30 * DAY,
    }
}

fn authorize(patient: &Identity, t: &AuthorizationTerms) -> VerifiedAuthorization {
    VerifiedAuthorization::from_signed(sign_authorization(
        &patient.signing,
        &patient.sealing.public(),
        t,
    ))
    .expect("own authorization verifies")
}

fn authorized_event(
    fx: &mut Fixture,
    auth: &VerifiedAuthorization,
    sequence: u64,
    department: &str,
    created_at_ms: u64,
) -> wire::Event {
    let s = summary(sequence);
    let regulator = fx.regulator.sealing.public();
    let provider = if department == DEPARTMENT {
        fx.dept.signing.clone()
    } else {
        fx.other_dept.signing.clone()
    };
    build_authorized_event(
        &NewAuthorizedEvent {
            summary: &s,
            sequence,
            hospital: HOSPITAL,
            department,
            authorization: auth,
            provider: &provider,
            regulator: Some(&regulator),
            created_at_ms,
        },
        &mut fx.rng,
    )
}

#[test]
fn a_department_records_under_the_patients_authorization_without_his_key() {
    let mut fx = Fixture::new(1);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let e = authorized_event(&mut fx, &auth, 1, DEPARTMENT, NOW);
    let parsed = admit_event(&e.encode_to_vec(), &fx.trust, NOW).expect("admitted");
    assert_eq!(parsed.patient, fx.patient.signing.public());
    assert_eq!(
        parsed.authorization.as_ref().map(|a| a.id()),
        Some(AuthorizationId {
            patient: fx.patient.signing.public(),
            hospital: HOSPITAL.into(),
            serial: 7
        })
    );
    // Sealed to the patient's key named in the authorization: he opens it.
    let sealed = parsed.event.encrypted_summary.as_slice();
    let opened = open(sealed, &parsed.binding(), &fx.patient.sealing).expect("patient opens");
    assert_eq!(opened, summary(1));
}

#[test]
fn a_hospital_cannot_open_another_hospitals_summary_of_the_same_patient() {
    let mut fx = Fixture::new(2);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let e = authorized_event(&mut fx, &auth, 1, DEPARTMENT, NOW);
    let parsed = ParsedEvent::from_wire(e).unwrap();
    let sealed = parsed.event.encrypted_summary.as_slice();
    // Another hospital's node holds only its own keys (and the patient's public keys).
    let other_hospital_node = Identity::generate(&mut rng(99));
    assert!(open(sealed, &parsed.binding(), &other_hospital_node.sealing).is_err());
    assert!(open(sealed, &parsed.binding(), &fx.other_dept.sealing).is_err());
    assert!(open(sealed, &parsed.binding(), &fx.patient.sealing).is_ok());
}

#[test]
fn an_authorization_covers_only_its_hospital_departments_and_window() {
    let mut fx = Fixture::new(3);
    let only_cardiology = authorize(&fx.patient, &terms(HOSPITAL, &[DEPARTMENT]));
    let e = authorized_event(&mut fx, &only_cardiology, 1, OTHER_DEPARTMENT, NOW);
    assert!(matches!(
        ParsedEvent::from_wire(e),
        Err(LedgerError::Authorization(
            AuthorizationError::WrongDepartment { .. }
        ))
    ));

    let elsewhere = authorize(&fx.patient, &terms("st-elsewhere", &[]));
    let e = authorized_event(&mut fx, &elsewhere, 2, DEPARTMENT, NOW);
    assert!(matches!(
        ParsedEvent::from_wire(e),
        Err(LedgerError::Authorization(
            AuthorizationError::WrongHospital { .. }
        ))
    ));

    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    for at in [NOW - DAY - 1, NOW + 30 * DAY + 1] {
        let e = authorized_event(&mut fx, &auth, 3, DEPARTMENT, at);
        assert!(matches!(
            ParsedEvent::from_wire(e),
            Err(LedgerError::Authorization(
                AuthorizationError::OutsideWindow { .. }
            ))
        ));
    }
    for at in [NOW - DAY, NOW + 30 * DAY] {
        let e = authorized_event(&mut fx, &auth, 4, DEPARTMENT, at);
        assert!(
            ParsedEvent::from_wire(e).is_ok(),
            "edge of the window at {at}"
        );
    }
}

#[test]
fn a_swapped_or_forged_authorization_is_refused() {
    let mut fx = Fixture::new(4);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let other = authorize(&fx.patient2, &terms(HOSPITAL, &[]));

    // Another patient's authorization under this body: the body's hash names the first one.
    let mut e = authorized_event(&mut fx, &auth, 1, DEPARTMENT, NOW);
    e.authorization = other.signed.body.clone();
    assert!(matches!(
        ParsedEvent::from_wire(e),
        Err(LedgerError::Authorization(AuthorizationError::HashMismatch))
    ));

    // The department claims a consent the patient never signed: the signature is another key's.
    let forged = sign_authorization(
        &fx.patient2.signing,
        &fx.patient.sealing.public(),
        &terms(HOSPITAL, &[]),
    );
    let mut body = wire::RecordingAuthorizationBody::decode(forged.body.as_slice()).unwrap();
    body.patient_key = fx.patient.signing.public().as_bytes().to_vec();
    let forged_body = body.encode_to_vec();
    assert!(matches!(
        VerifiedAuthorization::new(forged_body.clone(), forged.signature.as_bytes()),
        Err(AuthorizationError::BadSignature { .. })
    ));
    // Even built into an event that parses, the signature check refuses it.
    let parsed_auth =
        medblock_core::authorization::ParsedAuthorization::parse(&forged_body).unwrap();
    let fake = VerifiedAuthorization {
        signed: medblock_core::authorization::SignedAuthorization {
            body: forged_body,
            signature: forged.signature,
        },
        parsed: parsed_auth,
    };
    let e = authorized_event(&mut fx, &fake, 2, DEPARTMENT, NOW);
    assert!(matches!(
        admit_event(&e.encode_to_vec(), &fx.trust, NOW),
        Err(LedgerError::BadPatientSignature { .. })
    ));

    // An access record never rides on an authorization.
    let mut e = authorized_event(&mut fx, &auth, 3, DEPARTMENT, NOW);
    let mut b = wire::EventBody::decode(e.body.as_slice()).unwrap();
    b.hospital = medblock_core::access::record::ACCESS_HOSPITAL.into();
    e.body = b.encode_to_vec();
    assert!(ParsedEvent::from_wire(e).is_err());
}

#[test]
fn a_block_under_a_revoked_authorization_is_refused_from_the_revocation_on() {
    let mut fx = Fixture::new(5);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let mut e = authorized_event(&mut fx, &auth, 1, DEPARTMENT, NOW);
    e.received_at_ms = NOW;
    let events = vec![ParsedEvent::from_wire(e).unwrap()];
    let mut block = pack_block(&fx.pack_request(ChainTip::GENESIS), events);
    block.orderer_timestamp_ms = NOW + 2_000;
    let verified = VerifiedBlock::verify(block, MAX_EVENTS).expect("block verifies");

    let mut revoked = RevokedAuthorizations::default();
    assert!(verified.check_revocations(&revoked).is_ok());
    // Revoked in the block at height 1 itself: this block (height 1) stays valid.
    revoked.insert(auth.parsed.id(), 1);
    assert!(verified.check_revocations(&revoked).is_ok());
    // Revoked below it: refused.
    let mut earlier = RevokedAuthorizations::default();
    earlier.insert(auth.parsed.id(), 0);
    let err = verified.check_revocations(&earlier).unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");
    // Another serial of the same patient is not affected.
    let mut other = RevokedAuthorizations::default();
    other.insert(
        AuthorizationId {
            serial: 8,
            ..auth.parsed.id()
        },
        0,
    );
    assert!(verified.check_revocations(&other).is_ok());
}

#[test]
fn admission_refuses_a_revoked_authorization_and_checks_its_signature_once() {
    use medblock_core::authorization::AuthorizationCache;
    use medblock_core::event::{Admission, admit_events};
    let mut fx = Fixture::new(6);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let batch: Vec<wire::Event> = (1..=20)
        .map(|i| authorized_event(&mut fx, &auth, i, DEPARTMENT, NOW))
        .collect();
    let mut cache = AuthorizationCache::default();
    let revoked = RevokedAuthorizations::default();
    let before = medblock_core::keys::verifications();
    let out = admit_events(
        batch.clone(),
        &fx.trust,
        NOW,
        Admission {
            revoked: &revoked,
            cache: &mut cache,
            height: 1,
        },
    );
    assert!(out.iter().all(|r| r.is_ok()));
    // 20 department signatures and one authorization signature (counted across threads, so
    // at least, never fewer).
    assert!(medblock_core::keys::verifications() - before >= 21);
    assert!(cache.contains(&auth.parsed.hash, &auth.signed.signature));

    let mut revoked = RevokedAuthorizations::default();
    revoked.insert(auth.parsed.id(), 3);
    let out = admit_events(
        batch,
        &fx.trust,
        NOW,
        Admission {
            revoked: &revoked,
            cache: &mut cache,
            height: 4,
        },
    );
    assert!(out.iter().all(|r| matches!(
        r,
        Err(LedgerError::Authorization(AuthorizationError::Revoked {
            serial: 7,
            ..
        }))
    )));
}

#[test]
fn enrolment_proves_the_key_and_binds_hospital_and_id() {
    let fx = Fixture::new(7);
    let t = terms(HOSPITAL, &[]);
    let signed = sign_authorization(&fx.patient.signing, &fx.patient.sealing.public(), &t);
    let e = sign_enrolment(
        &fx.patient.signing,
        HOSPITAL,
        "MRN-0042",
        b"nonce",
        &signed,
        NOW,
    );
    let v = verify_enrolment(&e, HOSPITAL).expect("enrolment verifies");
    assert_eq!(v.patient_id, "MRN-0042");
    assert_eq!(v.nonce, b"nonce");
    assert_eq!(v.authorization.parsed.patient, fx.patient.signing.public());

    // Presented to another hospital.
    assert!(matches!(
        verify_enrolment(&e, "st-elsewhere"),
        Err(AuthorizationError::EnrolmentMismatch { .. })
    ));
    // Signed by someone who cannot sign for the key he enrols.
    let stolen = sign_enrolment(
        &fx.patient2.signing,
        HOSPITAL,
        "MRN-0042",
        b"nonce",
        &signed,
        NOW,
    );
    assert!(matches!(
        verify_enrolment(&stolen, HOSPITAL),
        Err(AuthorizationError::BadSignature { what: "enrolment" })
    ));
    // An authorization for another hospital inside an enrolment here.
    let elsewhere = sign_authorization(
        &fx.patient.signing,
        &fx.patient.sealing.public(),
        &terms("st-elsewhere", &[]),
    );
    let e = sign_enrolment(
        &fx.patient.signing,
        HOSPITAL,
        "MRN-0042",
        b"n",
        &elsewhere,
        NOW,
    );
    assert!(matches!(
        verify_enrolment(&e, HOSPITAL),
        Err(AuthorizationError::WrongHospital { .. })
    ));
    // A malformed id.
    let e = sign_enrolment(&fx.patient.signing, HOSPITAL, "a b", b"n", &signed, NOW);
    assert!(matches!(
        verify_enrolment(&e, HOSPITAL),
        Err(AuthorizationError::BadPatientId { .. })
    ));
    // Garbage.
    let junk = wire::Enrolment {
        body: vec![0xff; 40],
        signature: vec![1; 64],
    };
    assert!(matches!(
        verify_enrolment(&junk, HOSPITAL),
        Err(AuthorizationError::Malformed { .. })
    ));
}

#[test]
fn patient_ids_are_exact_and_checked() {
    for ok in ["a.b", "a_b", "MRN-1", "urn:mrn:42", &"x".repeat(64)] {
        assert!(validate_patient_id(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "a b", "a/b", "../x", "é", &"x".repeat(65), "a\nb"] {
        let err = validate_patient_id(bad).unwrap_err();
        assert!(err.to_string().contains("is not valid"), "{bad:?}: {err}");
    }
}

#[test]
fn the_authorization_hash_is_what_the_body_names() {
    let mut fx = Fixture::new(8);
    let auth = authorize(&fx.patient, &terms(HOSPITAL, &[]));
    let e = authorized_event(&mut fx, &auth, 1, DEPARTMENT, NOW);
    let body = wire::EventBody::decode(e.body.as_slice()).unwrap();
    assert_eq!(
        Hash32::from_slice(&body.authorization_hash),
        Some(auth.parsed.hash)
    );
    assert_eq!(e.patient_signature, auth.signed.signature.to_vec());
}
