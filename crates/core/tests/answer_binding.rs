//! Issue 17 points 4 and 5, the pure rules: challenges are bounded per requesting key (one key
//! flooding evicts only its own), an EMR travels sealed to the visitor's key and bound to his
//! query, and the height a records answer must cover is the highest tip a certified committer
//! signed, never the answering peer's word.

mod common;

use common::{Fixture, NOW, cert_body};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::proof::{CheckedRecord, find_omission};
use medblock_core::access::tip::{highest_signed_tip, sign_claim, signed_tip};
use medblock_core::access::{AccessError, ProofError};
use medblock_core::cert::CertificateAuthority;
use medblock_core::error::LedgerError;
use medblock_core::hash::{Hash32, sha256};
use medblock_core::keys::{Identity, SigningKey};
use medblock_core::sealing::{emr_binding, open_sealed, seal_to};
use medblock_core::wire::{self, Role};
use medblock_core::{ParsedEvent, hash::tagged_hash};

#[test]
fn one_key_flooding_challenges_evicts_only_its_own() {
    let (flooder, patient) = ([1u8; 32], [2u8; 32]);
    let mut book = NonceBook::new(60_000, 100, 4);
    book.issue([0xaa; 32], patient, 1_000);
    // Far more than the whole book holds, from one key.
    for i in 0..10_000u32 {
        let mut n = [0u8; 32];
        n[..4].copy_from_slice(&i.to_be_bytes());
        book.issue(n, flooder, 1_000);
    }
    assert_eq!(book.held_by(&flooder), 4, "a key holds at most its own cap");
    assert_eq!(book.consume(&[0xaa; 32], 1_001), Ok(()));
    // The flooder's own oldest went first.
    let mut first = [0u8; 32];
    first[..4].copy_from_slice(&0u32.to_be_bytes());
    assert_eq!(book.consume(&first, 1_001), Err(AccessError::UnknownNonce));
}

#[test]
fn a_full_book_evicts_from_the_key_holding_the_most() {
    let mut book = NonceBook::new(60_000, 10, 8);
    book.issue([0xbb; 32], [2; 32], 0);
    // Many keys, the last one holding the most.
    for k in 3..6u8 {
        book.issue([k; 32], [k; 32], 0);
    }
    for i in 0..6u8 {
        book.issue([100 + i; 32], [9; 32], 0);
    }
    assert_eq!(book.len(), 10);
    // One more from a new key: the oldest nonce of key 9 (the largest holder) goes.
    book.issue([0xcc; 32], [7; 32], 0);
    assert_eq!(book.len(), 10);
    assert_eq!(book.consume(&[100; 32], 1), Err(AccessError::UnknownNonce));
    for k in [[0xbb; 32], [3; 32], [4; 32], [5; 32], [0xcc; 32], [101; 32]] {
        assert_eq!(book.consume(&k, 1), Ok(()));
    }
    // Expired ones are forgotten after a second TTL.
    book.issue([0xdd; 32], [2; 32], 200_000);
    assert_eq!(book.len(), 1);
}

#[test]
fn an_emr_is_sealed_to_the_visitor_and_bound_to_his_query() {
    let mut rng = common::rng(5);
    let visitor = Identity::generate(&mut rng);
    let relay = Identity::generate(&mut rng);
    let emr = b"{\"resourceType\": \"Bundle\", \"secret\": \"full medical record\"}".to_vec();
    let query = sha256(b"the signed query");
    let sealed = seal_to(
        &emr,
        &emr_binding(&query),
        &visitor.sealing.public(),
        &mut rng,
    );
    let bytes = prost::Message::encode_to_vec(&sealed);
    assert!(
        !bytes.windows(12).any(|w| w == b"full medical"),
        "the plaintext is not in the sealed bytes"
    );
    let opened = open_sealed(&sealed, &emr_binding(&query), &visitor.sealing).expect("opens");
    assert_eq!(opened.as_slice(), emr.as_slice());
    // Not the relay's to open.
    assert_eq!(
        open_sealed(&sealed, &emr_binding(&query), &relay.sealing).unwrap_err(),
        LedgerError::NotARecipient
    );
    // Not under another query's binding (an answer moved to another query).
    let other = sha256(b"another query");
    assert_eq!(
        open_sealed(&sealed, &emr_binding(&other), &visitor.sealing).unwrap_err(),
        LedgerError::SealOpenFailed
    );
    // Tampered ciphertext.
    let mut tampered = sealed.clone();
    if let Some(b) = tampered.ciphertext.first_mut() {
        *b ^= 1;
    }
    assert_eq!(
        open_sealed(&tampered, &emr_binding(&query), &visitor.sealing).unwrap_err(),
        LedgerError::SealOpenFailed
    );
    assert_ne!(emr_binding(&query), tagged_hash("x", &[query.as_bytes()]));
}

fn claim_body(height: u64) -> wire::LedgerClaimBody {
    wire::LedgerClaimBody {
        height,
        tip: vec![7; 32],
        ledger_hash: vec![8; 32],
        issued_at_ms: NOW,
        ..Default::default()
    }
}

fn answer_with(tips: Vec<wire::SignedTip>) -> wire::QueryResultBody {
    wire::QueryResultBody {
        signed_tips: tips,
        ..Default::default()
    }
}

#[test]
fn the_signed_tip_must_be_a_certified_committers_and_present() {
    let fx = Fixture::new(31);
    // The fixture's endorser is certified as a committer; the department is not.
    let committer = &fx.endorser;
    let good = signed_tip(&sign_claim(committer, claim_body(12)));
    let lower = signed_tip(&sign_claim(committer, claim_body(3)));
    let v = highest_signed_tip(&fx.trust, &answer_with(vec![lower.clone(), good.clone()]))
        .expect("checks");
    assert_eq!(v.height, 12);
    assert_eq!(v.signer, committer.public());

    // No tip at all: refused, not trusted.
    assert_eq!(
        highest_signed_tip(&fx.trust, &answer_with(vec![])).unwrap_err(),
        ProofError::MissingSignedTip
    );
    // A tip signed by a node that is not a committer.
    let by_client = signed_tip(&sign_claim(&fx.dept.signing, claim_body(50)));
    assert!(matches!(
        highest_signed_tip(&fx.trust, &answer_with(vec![good.clone(), by_client])),
        Err(ProofError::BadSignedTip(_))
    ));
    // A tip whose height was changed after signing.
    let mut forged = good.clone();
    let mut body: wire::LedgerClaimBody =
        prost::Message::decode(forged.body.as_slice()).expect("body");
    body.height = 99;
    forged.body = prost::Message::encode_to_vec(&body);
    assert!(matches!(
        highest_signed_tip(&fx.trust, &answer_with(vec![forged])),
        Err(ProofError::BadSignedTip(_))
    ));
    // An uncertified key.
    let stranger = SigningKey::generate(&mut common::rng(77));
    let by_stranger = signed_tip(&sign_claim(&stranger, claim_body(50)));
    assert!(matches!(
        highest_signed_tip(&fx.trust, &answer_with(vec![by_stranger.clone()])),
        Err(ProofError::BadSignedTip(_))
    ));
    // ... certified after genesis by the network's CA: accepted with its certificate.
    let cert = fx.ca.issue(cert_body(
        90,
        "committer-x",
        &stranger,
        &[Role::Committer],
        "",
        "",
    ));
    let mut a = answer_with(vec![by_stranger.clone()]);
    a.tip_certificates = vec![cert];
    assert_eq!(
        highest_signed_tip(&fx.trust, &a).expect("certified").height,
        50
    );
    // ... but not by a certificate of another CA.
    let rogue = CertificateAuthority::new(SigningKey::generate(&mut common::rng(78)));
    a.tip_certificates = vec![rogue.issue(cert_body(
        91,
        "committer-x",
        &stranger,
        &[Role::Committer],
        "",
        "",
    ))];
    assert!(matches!(
        highest_signed_tip(&fx.trust, &a),
        Err(ProofError::BadSignedTip(_))
    ));
}

fn checked(event: wire::Event, height: u64) -> CheckedRecord {
    CheckedRecord {
        height,
        block_id: Hash32([height as u8; 32]),
        index: 0,
        event: ParsedEvent::from_wire(event).expect("event"),
    }
}

#[test]
fn a_peer_reporting_tip_zero_with_no_records_is_an_omission_against_the_signed_tip() {
    let mut fx = Fixture::new(32);
    let honest = vec![checked(fx.event(1), 2), checked(fx.event(2), 5)];
    // The lying peer's answer: tip 0, nothing; it carries (or was given) the real signed tip.
    let tips = vec![signed_tip(&sign_claim(&fx.endorser, claim_body(5)))];
    let must_cover = highest_signed_tip(&fx.trust, &answer_with(tips))
        .expect("signed tip")
        .height;
    let e = find_omission("liar", must_cover, &[], &honest).unwrap_err();
    assert!(matches!(e, ProofError::Omitted { height: 2, .. }), "{e}");
    // A record above every signed tip is not required yet.
    assert_eq!(find_omission("behind", 1, &[], &honest), Ok(()));
    assert_eq!(find_omission("full", must_cover, &honest, &honest), Ok(()));
}
