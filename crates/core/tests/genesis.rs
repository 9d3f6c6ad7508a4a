//! Genesis: build, verify, and refuse tampering.

mod common;

use common::*;
use medblock_core::cert::CertificateAuthority;
use medblock_core::error::{CertificateError, LedgerError};
use medblock_core::genesis::{GenesisSpec, build_genesis, default_params, verify_genesis};
use medblock_core::keys::{KeyError, SigningKey};
use medblock_core::wire::{self, Role};
use proptest::prelude::*;
use prost::Message;

fn spec(fx: &Fixture, with_regulator: bool) -> GenesisSpec {
    GenesisSpec {
        network: "medblock-test".into(),
        regions: vec![REGION.into(), "south".into()],
        certificates: vec![
            fx.dept_cert.clone(),
            fx.other_dept_cert.clone(),
            fx.endorser_cert.clone(),
        ],
        regulator: with_regulator
            .then(|| (fx.regulator.signing.public(), fx.regulator.sealing.public())),
        params: default_params(),
        created_at_ms: NOW,
    }
}

#[test]
fn build_then_verify() {
    let fx = Fixture::new(400);
    let g = build_genesis(&fx.ca, &spec(&fx, true));
    let bytes = g.encode_to_vec();
    let v = verify_genesis(&bytes).unwrap();
    assert_eq!(v.ca, fx.ca.public());
    assert_eq!(v.body.network, "medblock-test");
    assert_eq!(v.body.regions, vec![REGION.to_string(), "south".into()]);
    assert_eq!(v.body.created_at_ms, NOW);
    assert_eq!(v.params, default_params());
    assert_eq!(v.regulator_key, Some(fx.regulator.signing.public()));
    assert_eq!(v.regulator_sealing, Some(fx.regulator.sealing.public()));
    assert_eq!(v.trust.certificates().count(), 3);
    assert!(
        v.trust
            .authorize(&fx.endorser.public(), Role::Endorser, NOW)
            .is_ok()
    );
    // The hash names the network: same bytes, same hash; another genesis, another hash.
    assert_eq!(verify_genesis(&bytes).unwrap().hash, v.hash);
    let other = build_genesis(
        &fx.ca,
        &GenesisSpec {
            network: "medblock-other".into(),
            ..spec(&fx, true)
        },
    );
    assert_ne!(verify_genesis(&other.encode_to_vec()).unwrap().hash, v.hash);
}

#[test]
fn without_regulator() {
    let fx = Fixture::new(401);
    let v = verify_genesis(&build_genesis(&fx.ca, &spec(&fx, false)).encode_to_vec()).unwrap();
    assert_eq!(v.regulator_key, None);
    assert_eq!(v.regulator_sealing, None);
}

#[test]
fn signed_by_another_ca() {
    let mut fx = Fixture::new(402);
    let g = build_genesis(&fx.ca, &spec(&fx, true));
    // Body claims the CA, signature by someone else.
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut fx.rng));
    let forged = wire::Genesis {
        ca_signature: rogue
            .sign(medblock_core::genesis::GENESIS_PURPOSE, &g.body)
            .to_vec(),
        body: g.body.clone(),
    };
    assert!(matches!(
        verify_genesis(&forged.encode_to_vec()).unwrap_err(),
        LedgerError::Key {
            what: "genesis signature",
            source: KeyError::BadSignature { .. },
        }
    ));
}

#[test]
fn a_certificate_of_another_ca_is_refused() {
    let mut fx = Fixture::new(403);
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut fx.rng));
    let key = SigningKey::generate(&mut fx.rng);
    let mut s = spec(&fx, true);
    s.certificates
        .push(rogue.issue(cert_body(77, "rogue", &key, &[Role::Orderer], HOSPITAL, "")));
    assert_eq!(
        verify_genesis(&build_genesis(&fx.ca, &s).encode_to_vec()).unwrap_err(),
        LedgerError::Certificate(CertificateError::NotSignedByCa { serial: 77 })
    );
}

#[test]
fn missing_params() {
    let fx = Fixture::new(404);
    let g = build_genesis(&fx.ca, &spec(&fx, true));
    let mut body = wire::GenesisBody::decode(g.body.as_slice()).unwrap();
    body.params = None;
    let body = body.encode_to_vec();
    let g = wire::Genesis {
        ca_signature: fx
            .ca
            .sign(medblock_core::genesis::GENESIS_PURPOSE, &body)
            .to_vec(),
        body,
    };
    assert_eq!(
        verify_genesis(&g.encode_to_vec()).unwrap_err(),
        LedgerError::MissingField {
            what: "genesis",
            field: "params",
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any bit of the body flipped: the CA signature no longer verifies (or the body no longer
    /// decodes).
    #[test]
    fn a_tampered_body_fails(pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let fx = Fixture::new(405);
        let mut g = build_genesis(&fx.ca, &spec(&fx, true));
        let i = pos.index(g.body.len());
        g.body[i] ^= 1 << bit;
        let err = verify_genesis(&g.encode_to_vec()).unwrap_err();
        prop_assert!(
            matches!(
                err,
                LedgerError::Key { what: "genesis signature", .. }
                    | LedgerError::Key { what: "genesis CA key", .. }
                    | LedgerError::Malformed { what: "genesis body", .. }
            ),
            "{err:?}"
        );
    }
}
