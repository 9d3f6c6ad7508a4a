//! The access-control protocol's pure rules: challenges are single use and expire, queries are
//! bound to their signer and their peer, answers to their peer and query, and only the patient,
//! his live grantees and the regulator get past `decide`.

use medblock_core::access::AccessError;
use medblock_core::access::ProofError;
use medblock_core::access::decide::{Scope, decide};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::query::{query_hash, sign_query, verify_query};
use medblock_core::access::record::{Grants, build_access_event, record_of};
use medblock_core::access::response::{sign_result, verify_result};
use medblock_core::keys::SigningKey;
use medblock_core::{ParsedEvent, wire};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn keys(n: usize) -> Vec<SigningKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    (0..n).map(|_| SigningKey::generate(&mut rng)).collect()
}

fn records_query(nonce: [u8; 32], peer: &SigningKey) -> wire::QueryBody {
    wire::QueryBody {
        nonce: nonce.to_vec(),
        peer_key: peer.public().as_bytes().to_vec(),
        kind: wire::QueryKind::Records as i32,
        ..Default::default()
    }
}

#[test]
fn a_nonce_is_good_once_then_replayed_and_expires() {
    let mut book = NonceBook::new(1_000, 16, 16);
    let exp = book.issue([1; 32], [0; 32], 5_000);
    assert_eq!(exp, 6_000);
    assert_eq!(book.consume(&[1; 32], 5_500), Ok(()));
    assert_eq!(book.consume(&[1; 32], 5_600), Err(AccessError::Replayed));
    assert_eq!(
        book.consume(&[2; 32], 5_600),
        Err(AccessError::UnknownNonce)
    );
    assert_eq!(book.consume(&[9; 5], 5_600), Err(AccessError::UnknownNonce));
    book.issue([3; 32], [0; 32], 5_000);
    assert_eq!(book.consume(&[3; 32], 6_001), Err(AccessError::Expired));
}

#[test]
fn the_nonce_book_is_bounded_and_forgets_the_oldest() {
    let mut book = NonceBook::new(60_000, 3, 3);
    for i in 0..10u8 {
        book.issue([i; 32], [0; 32], 1_000);
    }
    assert_eq!(book.len(), 3);
    assert_eq!(
        book.consume(&[0; 32], 1_001),
        Err(AccessError::UnknownNonce)
    );
    assert_eq!(book.consume(&[9; 32], 1_001), Ok(()));
}

#[test]
fn a_query_verifies_once_at_its_own_peer_only() {
    let k = keys(3);
    let (patient, peer, other) = (&k[0], &k[1], &k[2]);
    let mut book = NonceBook::new(60_000, 16, 16);
    book.issue([7; 32], [0; 32], 0);
    let q = sign_query(patient, records_query([7; 32], peer));
    // Binding: the same signed query at another peer.
    let mut other_book = NonceBook::new(60_000, 16, 16);
    other_book.issue([7; 32], [0; 32], 0);
    let e = verify_query(&q, &other.public(), &mut other_book, 10).unwrap_err();
    assert_eq!(e, AccessError::WrongPeer);
    let v = verify_query(&q, &peer.public(), &mut book, 10).expect("fresh query verifies");
    assert_eq!(v.visitor, patient.public());
    assert_eq!(
        v.patient,
        patient.public(),
        "no patient key means the visitor himself"
    );
    assert_eq!(v.hash, query_hash(&q));
    // Replay.
    let e = verify_query(&q, &peer.public(), &mut book, 20).unwrap_err();
    assert_eq!(e, AccessError::Replayed);
}

#[test]
fn a_key_that_claims_to_be_the_patient_is_refused() {
    let k = keys(3);
    let (patient, peer, mallory) = (&k[0], &k[1], &k[2]);
    let mut book = NonceBook::new(60_000, 16, 16);
    book.issue([4; 32], [0; 32], 0);
    let mut body = records_query([4; 32], peer);
    body.visitor_key = patient.public().as_bytes().to_vec();
    let bytes = body.encode_to_vec();
    let forged = wire::SignedQuery {
        signature: mallory
            .sign(medblock_core::keys::purpose::ACCESS_CHALLENGE, &bytes)
            .to_vec(),
        body: bytes,
    };
    let e = verify_query(&forged, &peer.public(), &mut book, 1).unwrap_err();
    assert_eq!(e, AccessError::BadSignature);
    // Garbage is malformed, not a panic.
    let junk = wire::SignedQuery {
        body: vec![0xff; 40],
        signature: vec![1; 3],
    };
    assert!(matches!(
        verify_query(&junk, &peer.public(), &mut book, 1),
        Err(AccessError::Malformed(_))
    ));
}

#[test]
fn an_answer_checks_only_from_the_asked_peer_for_the_asked_query() {
    let k = keys(3);
    let (patient, peer, fake) = (&k[0], &k[1], &k[2]);
    let q = sign_query(patient, records_query([1; 32], peer));
    let h = query_hash(&q);
    let r = sign_result(peer, &h, wire::QueryResultBody::default());
    assert!(verify_result(&r, &peer.public(), &h).is_ok());
    let forged = sign_result(fake, &h, wire::QueryResultBody::default());
    assert_eq!(
        verify_result(&forged, &peer.public(), &h).unwrap_err(),
        ProofError::BadResponseSignature
    );
    let other_q = sign_query(patient, records_query([2; 32], peer));
    assert_eq!(
        verify_result(&r, &peer.public(), &query_hash(&other_q)).unwrap_err(),
        ProofError::WrongQuery
    );
}

fn grant(grantee: &SigningKey, seqs: &[u64]) -> wire::AccessRecord {
    wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Grant(wire::ConsentGrant {
            grantee_key: grantee.public().as_bytes().to_vec(),
            grantee_name: "dr. who".into(),
            records: seqs
                .iter()
                .map(|s| wire::GrantedRecord {
                    hospital: "h1".into(),
                    department: "cardiology".into(),
                    sequence: *s,
                    wrap: None,
                })
                .collect(),
        })),
    }
}

#[test]
fn decide_gives_the_patient_grantees_and_regulator_their_scope_and_refuses_the_rest() {
    let k = keys(4);
    let (patient, doctor, regulator, stranger) = (&k[0], &k[1], &k[2], &k[3]);
    let revoke = wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Revoke(wire::ConsentRevoke {
            grantee_key: doctor.public().as_bytes().to_vec(),
        })),
    };
    let granted = Grants::fold(&[grant(doctor, &[1, 2])]);
    let reg = regulator.public();
    assert_eq!(
        decide(&patient.public(), &patient.public(), Some(&reg), &granted),
        Ok(Scope::Patient)
    );
    assert_eq!(
        decide(&reg, &patient.public(), Some(&reg), &granted),
        Ok(Scope::Regulator)
    );
    let scope = decide(&doctor.public(), &patient.public(), Some(&reg), &granted).unwrap();
    assert!(scope.allows(&granted, "h1", "cardiology", 2));
    assert!(!scope.allows(&granted, "h1", "cardiology", 3));
    assert!(matches!(
        decide(&stranger.public(), &patient.public(), Some(&reg), &granted),
        Err(AccessError::NotAuthorized(_))
    ));
    let revoked = Grants::fold(&[grant(doctor, &[1, 2]), revoke.clone()]);
    assert_eq!(
        decide(&doctor.public(), &patient.public(), Some(&reg), &revoked),
        Err(AccessError::Revoked)
    );
    // A new grant after the revocation counts again, with its own records only.
    let regranted = Grants::fold(&[grant(doctor, &[1, 2]), revoke, grant(doctor, &[5])]);
    assert!(
        regranted
            .find(&doctor.public(), "h1", "cardiology", 5)
            .is_some()
    );
    assert!(
        regranted
            .find(&doctor.public(), "h1", "cardiology", 1)
            .is_none()
    );
}

#[test]
fn access_records_are_events_signed_twice_by_their_author() {
    let k = keys(2);
    let record = grant(&k[1], &[1]);
    let event = build_access_event(&k[0], 42, &record, 1_000);
    let parsed = ParsedEvent::parse(&event.encode_to_vec()).expect("parses");
    parsed.verify_signatures().expect("signed by the author");
    assert_eq!(parsed.patient, k[0].public());
    assert_eq!(record_of(&parsed).expect("record"), record);
    // Another key's signature in the provider slot is refused.
    let mut bad = event.clone();
    bad.provider_signature = k[1]
        .sign(medblock_core::keys::purpose::EVENT, &bad.body)
        .to_vec();
    let p = ParsedEvent::parse(&bad.encode_to_vec()).expect("structure is fine");
    assert!(p.verify_signatures().is_err());
}

#[test]
fn a_tree_built_once_proves_like_merkle_proof_for_every_leaf() {
    use medblock_core::merkle::{MerkleTree, merkle_proof, merkle_root, verify_proof};
    use medblock_core::sha256;
    for n in [1usize, 2, 3, 5, 8, 13, 1000] {
        let hashes: Vec<_> = (0..n).map(|i| sha256(&i.to_be_bytes())).collect();
        let tree = MerkleTree::new(&hashes);
        let root = merkle_root(&hashes);
        for i in 0..n {
            let p = tree.proof(i).expect("in range");
            assert_eq!(Some(p.clone()), merkle_proof(&hashes, i));
            assert!(verify_proof(&root, n, &hashes[i], &p));
        }
        assert!(tree.proof(n).is_none());
    }
}
