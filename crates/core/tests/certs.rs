//! The certificate authority and the trust store.

mod common;

use common::*;
use medblock_core::cert::{
    CertificateAuthority, TrustStore, decode_certificate, parse_role, role_name, verify_certificate,
};
use medblock_core::error::{CertificateError, LedgerError};
use medblock_core::keys::{KeyError, SigningKey, purpose};
use medblock_core::wire::{self, Role};
use prost::Message;

#[test]
fn add_and_authorize() {
    let fx = Fixture::new(300);
    let key = fx.dept.signing.public();
    let cert = fx.trust.authorize(&key, Role::Client, NOW).unwrap();
    assert_eq!(cert.body.serial, 10);
    assert_eq!(cert.key, key);
    assert_eq!(cert.roles(), vec![Role::Client]);
    assert!(cert.has_role(Role::Client));
    assert!(!cert.has_role(Role::Endorser));
    assert_eq!(cert.body.issuer_key, fx.ca.public().as_bytes().to_vec());
    assert_eq!(fx.trust.get(&key).unwrap().raw, fx.dept_cert);
    assert_eq!(fx.trust.certificates().count(), 3);
    assert_eq!(fx.trust.ca(), &fx.ca.public());
    assert_eq!(
        fx.trust.authorize(&key, Role::Orderer, NOW).unwrap_err(),
        CertificateError::MissingRole {
            serial: 10,
            name: "cardiology desk".into(),
            role: "orderer",
        }
    );
    let e = fx.endorser.public();
    assert!(fx.trust.authorize(&e, Role::Endorser, NOW).is_ok());
    assert!(fx.trust.authorize(&e, Role::Committer, NOW).is_ok());
    assert_eq!(
        fx.trust
            .authorize(&fx.patient.signing.public(), Role::Patient, NOW)
            .unwrap_err(),
        CertificateError::Unknown {
            key: fx.patient.signing.public().to_hex()
        }
    );
}

#[test]
fn authorize_peer() {
    let fx = Fixture::new(301);
    let key = fx.endorser.public();
    assert!(
        fx.trust
            .authorize_peer(&key, b"peer-20", Role::Endorser, NOW)
            .is_ok()
    );
    assert_eq!(
        fx.trust
            .authorize_peer(&key, b"peer-21", Role::Endorser, NOW)
            .unwrap_err(),
        CertificateError::WrongPeer { serial: 20 }
    );
    // The role and window are still checked first.
    assert!(matches!(
        fx.trust
            .authorize_peer(&key, b"peer-20", Role::Orderer, NOW)
            .unwrap_err(),
        CertificateError::MissingRole { .. }
    ));
    assert!(matches!(
        fx.trust
            .authorize_peer(&key, b"peer-20", Role::Endorser, NOW + 400 * DAY)
            .unwrap_err(),
        CertificateError::Expired { .. }
    ));
}

#[test]
fn forged_ca_signature() {
    let mut fx = Fixture::new(302);
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut fx.rng));
    let key = SigningKey::generate(&mut fx.rng);
    let forged = rogue.issue(cert_body(99, "rogue", &key, &[Role::Orderer], HOSPITAL, ""));
    assert_eq!(
        fx.trust.add(&forged).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotSignedByCa { serial: 99 })
    );
    assert!(fx.trust.get(&key.public()).is_none());

    // A genuine certificate whose body was edited (roles widened) after signing.
    let mut edited = fx.dept_cert.clone();
    let mut body = wire::CertificateBody::decode(edited.body.as_slice()).unwrap();
    body.roles.push(Role::Orderer as i32);
    edited.body = body.encode_to_vec();
    assert_eq!(
        verify_certificate(&fx.ca.public(), &edited).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotSignedByCa { serial: 10 })
    );

    // The CA's signature made for another purpose does not count.
    let mut repurposed = fx.dept_cert.clone();
    repurposed.signature = fx.ca.sign(purpose::REVOCATIONS, &repurposed.body).to_vec();
    assert!(matches!(
        verify_certificate(&fx.ca.public(), &repurposed).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotSignedByCa { serial: 10 })
    ));

    let mut short = fx.dept_cert.clone();
    short.signature.truncate(10);
    assert_eq!(
        verify_certificate(&fx.ca.public(), &short).unwrap_err(),
        LedgerError::Key {
            what: "certificate signature",
            source: KeyError::MalformedSignature { len: 10 },
        }
    );

    let decoded = decode_certificate(&fx.ca.public(), &fx.dept_cert.encode_to_vec()).unwrap();
    assert_eq!(decoded.key, fx.dept.signing.public());
}

#[test]
fn revocation_lists() {
    let mut fx = Fixture::new(303);
    let key = fx.dept.signing.public();
    assert_eq!(fx.trust.revocation_version(), 0);
    fx.trust
        .apply_revocations(&fx.ca.revocation_list(2, [10].into(), NOW))
        .unwrap();
    assert_eq!(fx.trust.revocation_version(), 2);
    assert!(fx.trust.is_revoked(10));
    assert!(matches!(
        fx.trust.authorize(&key, Role::Client, NOW).unwrap_err(),
        CertificateError::Revoked { serial: 10, .. }
    ));

    // Stale: an older list, and the same version again, are refused and change nothing.
    for version in [1, 2] {
        assert_eq!(
            fx.trust
                .apply_revocations(&fx.ca.revocation_list(version, [].into(), NOW))
                .unwrap_err(),
            LedgerError::Certificate(CertificateError::StaleRevocationList {
                offered: version,
                held: 2,
            })
        );
    }
    assert!(fx.trust.is_revoked(10));

    // A list not signed by the CA.
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut fx.rng));
    assert_eq!(
        fx.trust
            .apply_revocations(&rogue.revocation_list(9, [].into(), NOW))
            .unwrap_err(),
        LedgerError::Key {
            what: "revocation list signature",
            source: KeyError::BadSignature {
                purpose: purpose::REVOCATIONS,
            },
        }
    );
    // A genuine list edited after signing.
    let mut edited = fx.ca.revocation_list(3, [10, 11].into(), NOW);
    let mut body = wire::RevocationListBody::decode(edited.body.as_slice()).unwrap();
    body.revoked_serials.clear();
    edited.body = body.encode_to_vec();
    assert!(matches!(
        fx.trust.apply_revocations(&edited).unwrap_err(),
        LedgerError::Key {
            what: "revocation list signature",
            ..
        }
    ));
    assert_eq!(fx.trust.revocation_version(), 2);

    // A newer list replaces, it does not add: serial 10 is reinstated.
    fx.trust
        .apply_revocations(&fx.ca.revocation_list(3, [11].into(), NOW))
        .unwrap();
    assert!(!fx.trust.is_revoked(10));
    assert!(fx.trust.authorize(&key, Role::Client, NOW).is_ok());
}

#[test]
fn renewal_replaces() {
    let mut fx = Fixture::new(304);
    let key = fx.dept.signing.clone();
    let mut body = cert_body(
        12,
        "cardiology desk",
        &key,
        &[Role::Client],
        HOSPITAL,
        DEPARTMENT,
    );
    body.not_before_ms = NOW + 300 * DAY;
    body.not_after_ms = NOW + 800 * DAY;
    let renewal = fx.ca.issue(body);
    fx.trust.add(&renewal).unwrap();
    assert_eq!(fx.trust.get(&key.public()).unwrap().body.serial, 12);
    assert!(
        fx.trust
            .authorize(&key.public(), Role::Client, NOW + 700 * DAY)
            .is_ok()
    );
    // The old serial being revoked does not touch the renewal.
    fx.trust
        .apply_revocations(&fx.ca.revocation_list(1, [10].into(), NOW))
        .unwrap();
    assert!(
        fx.trust
            .authorize(&key.public(), Role::Client, NOW + 400 * DAY)
            .is_ok()
    );
    // Re-adding the older certificate does not roll the renewal back.
    fx.trust.add(&fx.dept_cert.clone()).unwrap();
    assert_eq!(fx.trust.get(&key.public()).unwrap().body.serial, 12);
}

#[test]
fn validity_window_is_inclusive() {
    let fx = Fixture::new(305);
    let key = fx.dept.signing.public();
    assert!(fx.trust.authorize(&key, Role::Client, NOW - DAY).is_ok());
    assert!(
        fx.trust
            .authorize(&key, Role::Client, NOW + 365 * DAY)
            .is_ok()
    );
    assert!(matches!(
        fx.trust.authorize(&key, Role::Client, NOW - DAY - 1),
        Err(CertificateError::NotYetValid { serial: 10, .. })
    ));
    assert!(matches!(
        fx.trust.authorize(&key, Role::Client, NOW + 365 * DAY + 1),
        Err(CertificateError::Expired { serial: 10, .. })
    ));
}

#[test]
fn certificate_for_a_small_order_key_is_refused() {
    let fx = Fixture::new(306);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut body = cert_body(50, "nobody", &fx.endorser, &[Role::Orderer], HOSPITAL, "");
    body.public_key = identity.to_vec();
    let cert = fx.ca.issue(body);
    assert_eq!(
        verify_certificate(&fx.ca.public(), &cert).unwrap_err(),
        LedgerError::Key {
            what: "certificate key",
            source: KeyError::MalformedPublicKey { len: 32 },
        }
    );
}

#[test]
fn role_names_round_trip() {
    for role in [
        Role::Client,
        Role::Endorser,
        Role::Orderer,
        Role::Committer,
        Role::Patient,
        Role::Regulator,
    ] {
        assert_eq!(parse_role(role_name(role)), Some(role));
        assert_eq!(parse_role(&role_name(role).to_uppercase()), Some(role));
    }
    assert_eq!(parse_role("unspecified"), None);
    assert_eq!(parse_role("root"), None);
}

#[test]
fn an_empty_store_knows_nobody() {
    let fx = Fixture::new(307);
    let store = TrustStore::new(fx.ca.public());
    assert!(matches!(
        store.authorize(&fx.endorser.public(), Role::Endorser, NOW),
        Err(CertificateError::Unknown { .. })
    ));
}
