//! Sealed summaries: who opens them, and every way a tampered or misplaced one fails.

mod common;

use common::*;
use medblock_core::error::LedgerError;
use medblock_core::event::ParsedEvent;
use medblock_core::hash::sha256;
use medblock_core::keys::{Identity, SealingSecret, purpose};
use medblock_core::sealing::{
    SEALED_SUMMARY_VERSION, SummaryBinding, decode_sealed, open, open_with_wrap, recipient_hint,
    rewrap_for, seal,
};
use medblock_core::wire;
use proptest::prelude::*;
use prost::Message;

struct Sealed {
    fx: Fixture,
    binding: SummaryBinding,
    sealed: Vec<u8>,
}

/// A summary sealed to the patient and, when `with_regulator`, the regulator.
fn sealed(seed: u64, with_regulator: bool) -> Sealed {
    let mut fx = Fixture::new(seed);
    let binding = SummaryBinding {
        sequence: 42,
        hospital: HOSPITAL.into(),
        department: DEPARTMENT.into(),
        patient_key: fx.patient.signing.public(),
    };
    let mut recipients = vec![fx.patient.sealing.public()];
    if with_regulator {
        recipients.push(fx.regulator.sealing.public());
    }
    let sealed = seal(&summary(42), &binding, &recipients, &mut fx.rng);
    Sealed {
        fx,
        binding,
        sealed,
    }
}

fn reencode(sealed: &[u8], f: impl FnOnce(&mut wire::SealedSummary)) -> Vec<u8> {
    let mut m = wire::SealedSummary::decode(sealed).unwrap();
    f(&mut m);
    m.encode_to_vec()
}

#[test]
fn the_patient_opens() {
    let s = sealed(200, false);
    let opened = open(&s.sealed, &s.binding, &s.fx.patient.sealing).unwrap();
    assert_eq!(opened, summary(42));
    let m = decode_sealed(&s.sealed).unwrap();
    assert_eq!(m.version, SEALED_SUMMARY_VERSION);
    assert_eq!(m.recipients.len(), 1);
    assert_eq!(
        m.recipients[0].recipient_hint,
        recipient_hint(&s.fx.patient.sealing.public()).0.to_vec()
    );
}

#[test]
fn the_summary_is_not_in_clear() {
    let s = sealed(201, true);
    let needle = summary(42).diagnosis.into_bytes();
    assert!(
        !s.sealed.windows(needle.len()).any(|w| w == needle),
        "diagnosis visible in the sealed bytes"
    );
}

#[test]
fn other_keys_are_not_recipients() {
    let mut s = sealed(202, true);
    let stranger = SealingSecret::generate(&mut s.fx.rng);
    assert_eq!(
        open(&s.sealed, &s.binding, &stranger).unwrap_err(),
        LedgerError::NotARecipient
    );
    // The department wrote the event but is not a reader of it.
    assert_eq!(
        open(&s.sealed, &s.binding, &s.fx.dept.sealing).unwrap_err(),
        LedgerError::NotARecipient
    );
}

#[test]
fn the_regulator_opens_only_when_named() {
    let named = sealed(203, true);
    assert_eq!(
        open(&named.sealed, &named.binding, &named.fx.regulator.sealing).unwrap(),
        summary(42)
    );
    assert_eq!(
        open(&named.sealed, &named.binding, &named.fx.patient.sealing).unwrap(),
        summary(42)
    );
    let unnamed = sealed(203, false);
    assert_eq!(
        open(
            &unnamed.sealed,
            &unnamed.binding,
            &unnamed.fx.regulator.sealing
        )
        .unwrap_err(),
        LedgerError::NotARecipient
    );
}

#[test]
fn a_wrap_claiming_another_recipients_hint_fails() {
    // A wrap relabelled with the regulator's hint does not open for the regulator.
    let s = sealed(204, false);
    let hint = recipient_hint(&s.fx.regulator.sealing.public()).0.to_vec();
    let forged = reencode(&s.sealed, |m| {
        let mut w = m.recipients[0].clone();
        w.recipient_hint = hint;
        m.recipients.push(w);
    });
    assert_eq!(
        open(&forged, &s.binding, &s.fx.regulator.sealing).unwrap_err(),
        LedgerError::SealOpenFailed
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bit of the ciphertext, its nonce or the wrapped key flipped: the AEAD refuses.
    #[test]
    fn a_flipped_bit_fails(which in 0usize..3, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let s = sealed(205, true);
        let tampered = reencode(&s.sealed, |m| {
            let field = match which {
                0 => &mut m.ciphertext,
                1 => &mut m.nonce,
                _ => &mut m.recipients[0].wrapped_key,
            };
            let i = pos.index(field.len());
            field[i] ^= 1 << bit;
        });
        prop_assert_eq!(
            open(&tampered, &s.binding, &s.fx.patient.sealing).unwrap_err(),
            LedgerError::SealOpenFailed
        );
        // The regulator's wrap is intact, so it still reaches the (tampered) ciphertext: only a
        // flip in the ciphertext or its nonce stops it.
        let regulator = open(&tampered, &s.binding, &s.fx.regulator.sealing);
        if which == 2 {
            prop_assert_eq!(regulator.unwrap(), summary(42));
        } else {
            prop_assert_eq!(regulator.unwrap_err(), LedgerError::SealOpenFailed);
        }
    }

    /// A flipped bit of the ephemeral key: the key-encryption key differs and the wrap fails.
    #[test]
    fn a_flipped_ephemeral_key_fails(byte in 0usize..32, bit in 0u8..8) {
        let s = sealed(206, false);
        let tampered = reencode(&s.sealed, |m| m.recipients[0].ephemeral_public[byte] ^= 1 << bit);
        prop_assert_eq!(
            open(&tampered, &s.binding, &s.fx.patient.sealing).unwrap_err(),
            LedgerError::SealOpenFailed
        );
    }
}

#[test]
fn a_ciphertext_moved_to_another_binding_fails() {
    let s = sealed(207, true);
    let other_patient = s.fx.patient2.signing.public();
    let variants = [
        SummaryBinding {
            sequence: 43,
            ..s.binding.clone()
        },
        SummaryBinding {
            hospital: "st-john".into(),
            ..s.binding.clone()
        },
        SummaryBinding {
            department: OTHER_DEPARTMENT.into(),
            ..s.binding.clone()
        },
        SummaryBinding {
            patient_key: other_patient,
            ..s.binding.clone()
        },
        // Moving a character across the hospital/department boundary changes the binding too.
        SummaryBinding {
            hospital: format!("{HOSPITAL}c"),
            department: DEPARTMENT[1..].into(),
            ..s.binding.clone()
        },
    ];
    for b in &variants {
        for secret in [&s.fx.patient.sealing, &s.fx.regulator.sealing] {
            assert_eq!(
                open(&s.sealed, b, secret).unwrap_err(),
                LedgerError::SealOpenFailed,
                "opened under {b:?}"
            );
        }
    }
}

#[test]
fn a_ciphertext_moved_into_another_event_fails() {
    // A dishonest department copies event 1's sealed summary into its event 2 for the same
    // patient (recomputing the event hash and getting both signatures): the event is
    // well-formed and signed, but the summary does not open in its new place.
    let mut fx = Fixture::new(208);
    let original = fx.event(1);
    let mut moved = fx.event(2);
    moved.encrypted_summary = original.encrypted_summary.clone();
    let mut body = wire::EventBody::decode(moved.body.as_slice()).unwrap();
    body.event_hash = sha256(&moved.encrypted_summary).0.to_vec();
    moved.body = body.encode_to_vec();
    moved.patient_signature = fx
        .patient
        .signing
        .sign(purpose::EVENT, &moved.body)
        .to_vec();
    moved.provider_signature = fx.dept.signing.sign(purpose::EVENT, &moved.body).to_vec();
    let parsed = ParsedEvent::parse(&moved.encode_to_vec()).unwrap();
    parsed.verify_signatures().unwrap();
    assert_eq!(
        open(
            &parsed.event.encrypted_summary,
            &parsed.binding(),
            &fx.patient.sealing
        )
        .unwrap_err(),
        LedgerError::SealOpenFailed
    );
    assert_eq!(
        open(
            &parsed.event.encrypted_summary,
            &parsed.binding(),
            &fx.regulator.sealing
        )
        .unwrap_err(),
        LedgerError::SealOpenFailed
    );
    // In its own event it opens.
    let own = ParsedEvent::parse(&original.encode_to_vec()).unwrap();
    assert_eq!(
        open(
            &own.event.encrypted_summary,
            &own.binding(),
            &fx.patient.sealing
        )
        .unwrap(),
        summary(1)
    );
}

#[test]
fn rewrap_lets_a_grantee_open() {
    let mut s = sealed(209, true);
    let doctor = Identity::generate(&mut s.fx.rng);
    let wrap = rewrap_for(
        &s.sealed,
        &s.binding,
        &s.fx.patient.sealing,
        &doctor.sealing.public(),
        &mut s.fx.rng,
    )
    .unwrap();
    assert_eq!(
        wrap.recipient_hint,
        recipient_hint(&doctor.sealing.public()).0.to_vec()
    );
    assert_eq!(
        open_with_wrap(&s.sealed, &wrap, &s.binding, &doctor.sealing).unwrap(),
        summary(42)
    );
    // Without the grant the doctor is no recipient.
    assert_eq!(
        open(&s.sealed, &s.binding, &doctor.sealing).unwrap_err(),
        LedgerError::NotARecipient
    );
    // The grant is for the doctor only.
    let nurse = Identity::generate(&mut s.fx.rng);
    assert_eq!(
        open_with_wrap(&s.sealed, &wrap, &s.binding, &nurse.sealing).unwrap_err(),
        LedgerError::NotARecipient
    );
    // And for this event only.
    let elsewhere = SummaryBinding {
        sequence: 7,
        ..s.binding.clone()
    };
    assert_eq!(
        open_with_wrap(&s.sealed, &wrap, &elsewhere, &doctor.sealing).unwrap_err(),
        LedgerError::SealOpenFailed
    );
    // The regulator, also a recipient, can grant as well.
    let wrap2 = rewrap_for(
        &s.sealed,
        &s.binding,
        &s.fx.regulator.sealing,
        &nurse.sealing.public(),
        &mut s.fx.rng,
    )
    .unwrap();
    assert_eq!(
        open_with_wrap(&s.sealed, &wrap2, &s.binding, &nurse.sealing).unwrap(),
        summary(42)
    );
    // A tampered grant fails.
    let mut bad = wrap.clone();
    bad.wrapped_key[0] ^= 1;
    assert_eq!(
        open_with_wrap(&s.sealed, &bad, &s.binding, &doctor.sealing).unwrap_err(),
        LedgerError::SealOpenFailed
    );
}

#[test]
fn a_non_recipient_cannot_rewrap() {
    let mut s = sealed(210, false);
    let doctor = Identity::generate(&mut s.fx.rng);
    // Neither a stranger nor the regulator (not named for this summary) can grant.
    for secret in [&doctor.sealing, &s.fx.regulator.sealing] {
        assert_eq!(
            rewrap_for(
                &s.sealed,
                &s.binding,
                secret,
                &doctor.sealing.public(),
                &mut s.fx.rng
            )
            .unwrap_err(),
            LedgerError::NotARecipient
        );
    }
    // The patient with the wrong binding: the wrap does not open.
    let elsewhere = SummaryBinding {
        sequence: 1,
        ..s.binding.clone()
    };
    assert_eq!(
        rewrap_for(
            &s.sealed,
            &elsewhere,
            &s.fx.patient.sealing,
            &doctor.sealing.public(),
            &mut s.fx.rng
        )
        .unwrap_err(),
        LedgerError::SealOpenFailed
    );
}

#[test]
fn structure_errors() {
    let s = sealed(211, false);
    let v2 = reencode(&s.sealed, |m| m.version = 2);
    assert_eq!(
        decode_sealed(&v2).unwrap_err(),
        LedgerError::UnsupportedVersion {
            what: "sealed summary",
            version: 2,
            expected: SEALED_SUMMARY_VERSION,
        }
    );
    let short_nonce = reencode(&s.sealed, |m| m.nonce.truncate(11));
    assert!(matches!(
        decode_sealed(&short_nonce).unwrap_err(),
        LedgerError::Malformed {
            what: "sealed summary",
            ..
        }
    ));
    let nobody = reencode(&s.sealed, |m| m.recipients.clear());
    assert_eq!(
        decode_sealed(&nobody).unwrap_err(),
        LedgerError::MissingField {
            what: "sealed summary",
            field: "recipients",
        }
    );
    let bad_ephemeral = reencode(&s.sealed, |m| {
        m.recipients[0].ephemeral_public.pop();
    });
    assert!(matches!(
        open(&bad_ephemeral, &s.binding, &s.fx.patient.sealing).unwrap_err(),
        LedgerError::Key {
            what: "ephemeral key",
            ..
        }
    ));
    let bad_wrap_nonce = reencode(&s.sealed, |m| m.recipients[0].nonce.clear());
    assert!(matches!(
        open(&bad_wrap_nonce, &s.binding, &s.fx.patient.sealing).unwrap_err(),
        LedgerError::Malformed {
            what: "sealed summary",
            ..
        }
    ));
    let mut big = s.sealed.clone();
    big.resize(
        medblock_core::codec::limits::MAX_SEALED_SUMMARY_BYTES + 1,
        0,
    );
    assert!(matches!(
        decode_sealed(&big).unwrap_err(),
        LedgerError::TooLarge {
            what: "sealed summary",
            ..
        }
    ));
}
