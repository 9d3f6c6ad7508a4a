//! Issue 17 point 4 (answers bound to the peer asked) and the challenge part of point 5, on a
//! real network:
//!
//! * an EMR leaves the hospital's node sealed to the sealing key inside the patient's signed
//!   query: a peer relaying the signed query and the answer learns nothing of it, and the
//!   patient opens it and checks it against the ledger's hash;
//! * a peer answering with tip height 0 and no records is caught as an omission, against the
//!   highest tip a certified committer signed; an answer without a signed tip is refused;
//! * one key flooding a node with challenges (more than the node's whole nonce book) does not
//!   make another patient's challenge fail;
//! * a forged endorser receipt for a grant or a revocation is refused by the patient side
//!   (the check `patient grant` and `patient revoke` run before printing a receipt).

mod common;

use common::cluster::{Cluster, block_on};
use common::enrol::enrol_like_cli;
use medblock_actors::client::Visit;
use medblock_actors::query::MAX_NONCES;
use medblock_core::ParsedEvent;
use medblock_core::access::ProofError;
use medblock_core::access::query::query_hash;
use medblock_core::access::record::build_access_event;
use medblock_core::access::tip::{sign_claim, signed_tip};
use medblock_core::keys::{Identity, PublicKey, purpose};
use medblock_core::wire::{self, net_request, net_response};
use medblock_node::patient::commands::check_emr;
use medblock_node::patient::session::check_coverage;
use medblock_node::patient::{LightNode, PatientError, view};
use prost::Message;
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);
const MARKER: &str = "relay-must-not-read-this-7f3a";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn key_of(c: &Cluster, name: &str) -> PublicKey {
    c.node(c.index(name)).node.ctx.key()
}

fn records_body() -> wire::QueryBody {
    wire::QueryBody {
        kind: wire::QueryKind::Records as i32,
        ..Default::default()
    }
}

#[test]
fn answers_are_bound_to_the_visitor_signed_tips_and_challenges_are_limited_per_key() {
    let c = Cluster::with_regulator();
    let alice = Identity::generate(&mut rand::rng());
    let me = alice.signing.public();
    enrol_like_cli(&c, "h1-cardiology", &alice, "alice");
    let node = c.node(c.index("h1-cardiology")).node.clone();
    let emr_text = format!("{{\"resourceType\": \"Bundle\", \"note\": \"{MARKER}\"}}");
    let visit = Visit {
        patient: "alice".into(),
        diagnosis: "diagnosis".into(),
        examination_results: "exam".into(),
        treatment_plan: "plan".into(),
        emr: Some(emr_text.clone()),
        upload_within_ms: 0,
    };
    let done = block_on(async move {
        node.submit(vec![visit], true, Duration::from_secs(120))
            .await
    })
    .expect("visit committed");
    let height = done.iter().map(|o| o.height).max().unwrap_or(0);
    assert!(height > 0);
    let (o1i, o2i) = (c.index("orderer-1"), c.index("orderer-2"));
    c.wait_for(
        "orderer-1 and orderer-2 to commit the visit and gossip a claim of it",
        Duration::from_secs(60),
        |st| {
            st.iter()
                .filter(|(i, s)| (*i == o1i || *i == o2i) && s.height >= height)
                .count()
                == 2
        },
    );
    // Ledger claims go out every second: let the ones naming this height spread.
    std::thread::sleep(Duration::from_secs(3));
    let (o1, h1) = (key_of(&c, "orderer-1"), key_of(&c, "h1-cardiology"));
    let dept_signing = c
        .node(c.index("h1-cardiology"))
        .node
        .ctx
        .identity
        .signing
        .clone();
    let dept_key = dept_signing.public();

    let rt = runtime();
    rt.block_on(async {
        let mut light = LightNode::start(
            alice.clone(),
            &c.genesis,
            &[c.p2p_addr("orderer-1"), c.p2p_addr("orderer-2")],
            T,
        )
        .await
        .expect("light node");
        let answer = light.records(&me).await.expect("records");
        assert!(
            answer.signed_tip >= height,
            "the answer carries a committer's signed tip covering the visit: {} < {height}",
            answer.signed_tip
        );
        let record = answer
            .records
            .iter()
            .find(|r| r.height == height)
            .cloned()
            .expect("the visit");
        let summary = view::SummaryView::of(
            &record,
            &view::open(&alice, &record, &answer.records).expect("summary opens"),
        );

        // 1. A relay: a peer with its own key fetches a challenge from the hospital, has the
        // patient sign the EMR query over it, forwards it and carries the answer back.
        let relay_id = Identity::generate(&mut rand::rng());
        let relay = LightNode::start(
            relay_id.clone(),
            &c.genesis,
            &[c.p2p_addr("h1-cardiology")],
            T,
        )
        .await
        .expect("relay");
        let challenge = relay
            .challenge(h1)
            .await
            .expect("challenge from the hospital");
        let query = light.emr_query(&challenge, &record, &summary.emr_record_id);
        let result = match relay
            .request(h1, net_request::Kind::Query(query.clone()))
            .await
            .expect("the hospital answers the relayed query")
        {
            net_response::Kind::Query(r) => r,
            other => panic!("unexpected answer {other:?}"),
        };
        let seen = result.encode_to_vec();
        assert!(
            !seen.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "the relay sees none of the EMR's bytes"
        );
        assert!(
            !seen
                .windows(emr_text.len().min(24))
                .any(|w| w == &emr_text.as_bytes()[..emr_text.len().min(24)]),
            "nor its beginning"
        );
        let body = wire::QueryResultBody::decode(result.body.as_slice()).expect("answer body");
        assert!(body.emr.is_empty(), "no plaintext EMR field");
        let sealed = body.sealed_emr.clone().expect("a sealed EMR");
        // The relay cannot open it with its own sealing key.
        assert!(
            medblock_core::sealing::open_sealed(
                &sealed,
                &medblock_core::sealing::emr_binding(&query_hash(&query)),
                &relay_id.sealing,
            )
            .is_err()
        );
        // The patient opens it and checks it against the ledger's hash.
        let emr = light
            .open_emr(h1, &query, &result)
            .expect("the patient opens it");
        check_emr(&summary, &emr).expect("the EMR hashes to the ledger's value");
        assert_eq!(emr, emr_text.as_bytes());
        // The relay cannot substitute its own sealing key: the key is inside the signed body.
        let mut swapped = wire::QueryBody::decode(query.body.as_slice()).expect("query body");
        swapped.sealing_key = relay_id.sealing.public().0.to_vec();
        let forged = wire::SignedQuery {
            body: swapped.encode_to_vec(),
            signature: query.signature.clone(),
        };
        let e = relay.send_query(h1, forged).await.unwrap_err();
        assert!(
            matches!(
                e,
                PatientError::Denied(medblock_core::access::AccessError::BadSignature)
            ),
            "{e}"
        );
        // The whole fetch through the light node's own path still works.
        light
            .add_peer(&c.p2p_addr("h1-cardiology"))
            .await
            .expect("dial h1");
        let again = light
            .emr_from(h1, &record, &summary.emr_record_id)
            .await
            .expect("fetch");
        assert_eq!(again, emr_text.as_bytes());
        relay.shutdown().await;

        // 2. A peer answering tip 0 and no records, carrying the real signed tips of the
        // network (as a lying peer can copy them): an omission against the highest signed tip,
        // not against its own word.
        let ch = light.challenge(o1).await.expect("challenge");
        let honest_body = light
            .send_query(o1, light.sign(&ch, records_body()))
            .await
            .expect("honest answer");
        assert!(
            !honest_body.signed_tips.is_empty(),
            "a real answer carries signed tips"
        );
        let honest = light
            .check_records(o1, &honest_body, &me)
            .expect("the honest answer checks");
        let liar = Identity::generate(&mut rand::rng()).signing.public();
        let lie = wire::QueryResultBody {
            tip_height: 0,
            signed_tips: honest_body.signed_tips.clone(),
            ..Default::default()
        };
        let lone = light
            .check_records(liar, &lie, &me)
            .expect("the lie checks on its own");
        assert_eq!((lone.tip, lone.records.len()), (0, 0));
        assert!(lone.signed_tip >= height);
        match check_coverage(&[lone.clone(), honest.clone()]) {
            Err(ProofError::Omitted {
                peer, height: h, ..
            }) => {
                assert_eq!(peer, liar.to_hex());
                assert_eq!(h, height);
            }
            other => panic!("expected an omission, got {other:?}"),
        }
        // Even when the liar carries an old signed tip only, the honest answer's counts.
        let mut old = lone.clone();
        old.signed_tip = 0;
        assert!(matches!(
            check_coverage(&[old, honest.clone()]),
            Err(ProofError::Omitted { .. })
        ));
        // A liar that leaves the signed tips out is refused, not trusted.
        let e = light
            .check_records(liar, &wire::QueryResultBody::default(), &me)
            .unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::MissingSignedTip)),
            "{e}"
        );
        // ... and so is one whose tip it signed itself (not a certified committer).
        let self_signed = wire::QueryResultBody {
            signed_tips: vec![signed_tip(&sign_claim(
                &relay_id.signing,
                wire::LedgerClaimBody {
                    height: 0,
                    issued_at_ms: 1,
                    ..Default::default()
                },
            ))],
            ..Default::default()
        };
        let e = light.check_records(liar, &self_signed, &me).unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::BadSignedTip(_))),
            "{e}"
        );
        // Two honest answers agree.
        check_coverage(&[honest.clone(), answer.clone()]).expect("honest answers agree");

        // 3. One key floods orderer-1 with more challenges than its whole nonce book holds;
        // Alice's challenge, taken before, still works, and so does a full query after.
        let kept = light.challenge(o1).await.expect("alice's challenge");
        let flooder = Arc::new(
            LightNode::start(
                Identity::generate(&mut rand::rng()),
                &c.genesis,
                &[c.p2p_addr("orderer-1")],
                T,
            )
            .await
            .expect("flooder"),
        );
        let mut issued = 0usize;
        while issued <= MAX_NONCES {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..64 {
                let f = flooder.clone();
                set.spawn(async move { f.challenge(o1).await.is_ok() });
            }
            while let Some(ok) = set.join_next().await {
                if ok.unwrap_or(false) {
                    issued += 1;
                }
            }
        }
        assert!(issued > MAX_NONCES, "{issued} challenges issued to one key");
        let body = light
            .send_query(o1, light.sign(&kept, records_body()))
            .await
            .expect("alice's challenge survived the flood");
        assert!(!body.records.is_empty());
        let after = light.records_from(o1, &me).await.expect("a full query");
        assert_eq!(after.records.len(), answer.records.len());
        if let Ok(f) = Arc::try_unwrap(flooder) {
            f.shutdown().await;
        }

        // 4. Forged receipts for a grant and a revocation: the real endorser's receipt for a
        // revocation, then the same receipt tampered with, re-signed by another key, naming
        // another endorser, or for another event; each is refused before anything is shown.
        let doctor = Identity::generate(&mut rand::rng());
        let grant = view::grant(
            &alice,
            &doctor.signing.public(),
            &doctor.sealing.public(),
            "dr who",
            &[&record],
        )
        .expect("grant record");
        let revoke = view::revoke(&doctor.signing.public());
        let mut real = None;
        for _ in 0..20 {
            match light.upload_access_checked(o1, &revoke).await {
                Ok((body, _)) => {
                    real = Some(body);
                    break;
                }
                Err(e) => {
                    eprintln!("upload not accepted yet ({e}); retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let real = real.expect("a real, checked receipt");
        let forger = Identity::generate(&mut rand::rng()).signing;
        for record in [&grant, &revoke] {
            let event = build_access_event(&alice.signing, rand::random(), record, 1);
            let parsed = ParsedEvent::from_wire(event).expect("event");
            let mut body = real.clone();
            body.hospital = parsed.body.hospital.clone();
            body.department = parsed.body.department.clone();
            body.sequence = parsed.body.sequence;
            body.event_hash = parsed.event_hash.0.to_vec();
            let sign = |b: &wire::ReceiptBody, k: &medblock_core::keys::SigningKey| {
                let bytes = b.encode_to_vec();
                wire::Receipt {
                    signature: k.sign(purpose::RECEIPT, &bytes).to_vec(),
                    body: bytes,
                }
            };
            // Claims the real endorser, signed by the forger.
            let claims_endorser = sign(&body, &forger);
            // Names the forger as the endorser: not certified as one.
            let mut b = body.clone();
            b.endorser_key = forger.public().as_bytes().to_vec();
            let names_forger = sign(&b, &forger);
            // Signed by a certified node that is no endorser (a department).
            let mut b = body.clone();
            b.endorser_key = dept_key.as_bytes().to_vec();
            let by_department = sign(&b, &dept_signing);
            // The real endorser's receipt for another event.
            let mut other = real.clone();
            other.sequence ^= 1;
            let real_other = wire::Receipt {
                body: real.encode_to_vec(),
                signature: Vec::new(),
            };
            for (what, r) in [
                ("forged signature", claims_endorser),
                ("uncertified endorser", names_forger),
                ("a department's signature", by_department),
                ("no signature", real_other),
            ] {
                let e = light.check_receipt(&r, &parsed).unwrap_err();
                assert!(matches!(e, PatientError::BadReceipt(_)), "{what}: {e}");
            }
        }

        light.shutdown().await;
    });
}
