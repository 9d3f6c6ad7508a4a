//! The patient's light node against a real network (RocksDB ledgers, libp2p on 127.0.0.1, the
//! role actors and PBFT): records found by bread crumbs and checked against Merkle roots and
//! commit certificates, summaries opened, EMRs fetched and hashed, consent granted and revoked,
//! regulator reads recorded; and each attack of the issue refused or detected with a typed error.

mod common;

use common::enrol::enrol_like_cli;

use common::cluster::{Cluster, block_on, node_dir};
use medblock_actors::client::{SubmitOutcome, Visit};
use medblock_core::access::nonce::NonceBook;
use medblock_core::access::query::verify_query;
use medblock_core::access::record::{READ_DEPARTMENT, is_access, record_of};
use medblock_core::access::response::sign_result;
use medblock_core::access::{AccessError, ProofError};
use medblock_core::keys::{Identity, PublicKey, purpose};
use medblock_core::wire::{self, net_request, net_response};
use medblock_node::ca::files;
use medblock_node::patient::commands::{RecordRef, check_emr, grant, show};
use medblock_node::patient::{LightNode, PatientError, view};
use medblock_p2p::{NetworkEvent, P2pConfig};
use medblock_storage::keyfile::load_identity;
use medblock_storage::{EmrStore, Ledger, OpenCheck, RocksEmrStore};
use prost::Message;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn key_of(c: &Cluster, name: &str) -> PublicKey {
    c.node(c.index(name)).node.ctx.key()
}

/// A patient's key file, made on his side (the hospitals never see it).
fn patient_key(c: &Cluster, patient: &str) -> (std::path::PathBuf, Identity) {
    let path = c.dir.path().join(format!("{patient}.key"));
    let id = medblock_node::patient::keys::create(&path, patient).expect("patient key");
    (path, id)
}

fn submit(c: &Cluster, department: &str, patient: &str, n: usize) -> Vec<SubmitOutcome> {
    let node = c.node(c.index(department)).node.clone();
    let v: Vec<Visit> = (0..n)
        .map(|i| Visit {
            patient: patient.into(),
            diagnosis: format!("{department} diagnosis {i}"),
            examination_results: format!("exam {i}"),
            treatment_plan: format!("plan {i}"),
            emr: Some(format!("{{\"emr\": \"{department} full record {i}\"}}")),
            upload_within_ms: 0,
        })
        .collect();
    block_on(async move { node.submit(v, true, Duration::from_secs(120)).await })
        .expect("visits committed")
}

fn wait_height(c: &Cluster, names: &[&str], height: u64) {
    let who: Vec<usize> = names.iter().map(|n| c.index(n)).collect();
    c.wait_for("committers to catch up", Duration::from_secs(60), |st| {
        st.iter()
            .filter(|(i, _)| who.contains(i))
            .all(|(_, s)| s.height >= height)
    });
}

async fn until<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn records_body() -> wire::QueryBody {
    wire::QueryBody {
        kind: wire::QueryKind::Records as i32,
        ..Default::default()
    }
}

/// A fake peer: a libp2p node that hands out challenges and answers every query with `answer`
/// (given the query), signed by whatever key `answer` chooses.
async fn rogue(
    identity: Identity,
    answer: impl Fn(&wire::SignedQuery) -> wire::QueryResult + Send + 'static,
) -> (String, medblock_p2p::NetworkHandle) {
    let (net, mut events) = medblock_p2p::spawn(P2pConfig::new(
        identity.signing.clone(),
        "/ip4/127.0.0.1/tcp/0",
    ))
    .await
    .expect("rogue network");
    let handle = net.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.light.recv().await {
            let NetworkEvent::Request { request, token, .. } = ev else {
                continue;
            };
            let kind = match request.kind {
                Some(net_request::Kind::Challenge(_)) => {
                    net_response::Kind::Challenge(wire::Challenge {
                        nonce: rand::random::<[u8; 32]>().to_vec(),
                        peer_key: identity.signing.public().as_bytes().to_vec(),
                        expires_at_ms: u64::MAX,
                    })
                }
                Some(net_request::Kind::Query(q)) => net_response::Kind::Query(answer(&q)),
                _ => net_response::Kind::Ack(false),
            };
            let _ = handle
                .respond(token, wire::NetResponse { kind: Some(kind) })
                .await;
        }
    });
    let addr = net.listen_addrs()[0].clone();
    (addr, net)
}

#[test]
fn patient_reads_checks_and_fetches_his_records_and_every_attack_is_refused_or_detected() {
    let mut c = Cluster::with_regulator();
    let (alice_key, alice) = patient_key(&c, "alice");
    enrol_like_cli(&c, "h1-cardiology", &alice, "alice");
    let at_h1 = submit(&c, "h1-cardiology", "alice", 4);
    // The same patient visits the second hospital with the same key, under its own MRN there.
    enrol_like_cli(&c, "h2-oncology", &alice, "H2-000117");
    let at_h2 = submit(&c, "h2-oncology", "H2-000117", 3);
    let top = at_h1
        .iter()
        .chain(&at_h2)
        .map(|o| o.height)
        .max()
        .unwrap_or(0);
    wait_height(&c, &["orderer-1", "orderer-2", "orderer-4"], top);
    let me = alice.signing.public();
    let (o1, o2, h1) = (
        key_of(&c, "orderer-1"),
        key_of(&c, "orderer-2"),
        key_of(&c, "h1-cardiology"),
    );
    let rt = runtime();
    let (checked, summary, honest_body) = rt.block_on(async {
        let node = LightNode::start(
            alice.clone(),
            &c.genesis,
            &[c.p2p_addr("orderer-1"), c.p2p_addr("orderer-2")],
            T,
        )
        .await
        .expect("light node");

        // `records`: every visit at both hospitals, grouped by department, newest first.
        let answer = node.records(&me).await.expect("records verify");
        let views = view::visits(&answer.records);
        assert_eq!(views.len(), 7);
        let json = serde_json::to_value(&views).expect("json");
        for v in json.as_array().expect("a list") {
            for field in [
                "hospital",
                "department",
                "block_hash",
                "sequence",
                "timestamp",
            ] {
                assert!(v.get(field).is_some(), "records --json lacks {field}");
            }
        }
        assert_eq!(
            views
                .iter()
                .map(|v| v.hospital.as_str())
                .collect::<Vec<_>>(),
            ["h1", "h1", "h1", "h1", "h2", "h2", "h2"]
        );
        assert!(views.windows(2).all(|w| w[0].hospital != w[1].hospital
            || (w[0].height, w[0].sequence) >= (w[1].height, w[1].sequence)));

        // Kademlia: a light node given one address finds the other peers, and reads from them.
        let found = LightNode::start(alice.clone(), &c.genesis, &[c.p2p_addr("orderer-1")], T)
            .await
            .expect("light node");
        until("Kademlia to find more peers", async || {
            (found.known_peers().await.len() >= 3).then_some(())
        })
        .await;
        assert_eq!(
            view::visits(&found.records(&me).await.expect("records").records).len(),
            7
        );
        found.shutdown().await;

        // `verify`: both peers' answers check and agree.
        let v = medblock_node::patient::commands::verify(&node, &me)
            .await
            .expect("verify");
        assert!(v.peers >= 2 && v.records == 7, "{v:?}");

        // `show` and `fetch`: the summary opens, the EMR hashes to the ledger's value.
        let first = RecordRef {
            hospital: "h1".into(),
            department: "cardiology".into(),
            sequence: at_h1[0].sequence,
        };
        let (checked, summary) = show(&node, &me, &first).await.expect("show");
        assert_eq!(summary.diagnosis, "h1-cardiology diagnosis 0");
        let mut node = node;
        node.add_peer(&c.p2p_addr("h1-cardiology"))
            .await
            .expect("dial h1");
        let emr = node
            .emr_from(h1, &checked, &summary.emr_record_id)
            .await
            .expect("EMR");
        check_emr(&summary, &emr).expect("EMR hash matches the ledger");
        assert!(String::from_utf8_lossy(&emr).contains("full record 0"));

        // Anyone gets headers and hashes.
        let mallory = Identity::generate(&mut rand::rng());
        let stranger = LightNode::start(mallory.clone(), &c.genesis, &[c.p2p_addr("orderer-1")], T)
            .await
            .expect("stranger");
        let heads = stranger.headers(o1, 1, 50).await.expect("public headers");
        assert!(heads.tip_height >= top && heads.heads.len() as u64 >= top);

        // Unauthorized visitor: neither records nor the EMR.
        let e = stranger.records_from(o1, &me).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::NotAuthorized(_))),
            "{e}"
        );
        let mut stranger = stranger;
        stranger
            .add_peer(&c.p2p_addr("h1-cardiology"))
            .await
            .expect("dial h1");
        let e = stranger
            .emr_from(h1, &checked, &summary.emr_record_id)
            .await
            .unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::NotAuthorized(_))),
            "{e}"
        );

        // Identity disguise: another key signs a query claiming to be the patient.
        let ch = stranger.challenge(o1).await.expect("challenge");
        let body = wire::QueryBody {
            nonce: ch.nonce.clone(),
            peer_key: ch.peer_key.clone(),
            visitor_key: me.as_bytes().to_vec(),
            ..records_body()
        }
        .encode_to_vec();
        let disguised = wire::SignedQuery {
            signature: mallory
                .signing
                .sign(purpose::ACCESS_CHALLENGE, &body)
                .to_vec(),
            body,
        };
        let e = stranger.send_query(o1, disguised).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::BadSignature)),
            "{e}"
        );

        // Replay of a captured challenge response.
        let ch = node.challenge(o1).await.expect("challenge");
        let q = node.sign(&ch, records_body());
        let honest_body = node.send_query(o1, q.clone()).await.expect("first use");
        let e = node.send_query(o1, q).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::Replayed)),
            "{e}"
        );

        // Binding: a response to orderer-1's challenge taken to orderer-2.
        let ch = node.challenge(o1).await.expect("challenge");
        let q = node.sign(&ch, records_body());
        let e = node.send_query(o2, q).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::WrongPeer)),
            "{e}"
        );

        stranger.shutdown().await;
        node.shutdown().await;
        (checked, summary, honest_body)
    });

    // The binary: `medblock patient records --json` lists objects with the fields the issue
    // names.
    let out = std::process::Command::new(common::bin::medblock())
        .args(["patient", "records", "--json", "--key"])
        .arg(&alice_key)
        .arg("--genesis")
        .arg(c.dir.path().join(files::GENESIS))
        .args([
            "--peer",
            &c.p2p_addr("orderer-1"),
            "--peer",
            &c.p2p_addr("orderer-2"),
        ])
        .output()
        .expect("medblock runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 7);
    for v in listed {
        for field in [
            "hospital",
            "department",
            "block_hash",
            "sequence",
            "timestamp",
        ] {
            assert!(v.get(field).is_some(), "records --json lacks {field}");
        }
    }

    // A forged response from a fake peer: signed by another key than the peer asked.
    rt.block_on(async {
        let fake = Identity::generate(&mut rand::rng());
        let impostor = Identity::generate(&mut rand::rng());
        let body = honest_body.clone();
        let (fake_addr, fake_net) = rogue(fake.clone(), move |q| {
            sign_result(
                &impostor.signing,
                &medblock_core::access::query::query_hash(q),
                body.clone(),
            )
        })
        .await;
        let node = LightNode::start(
            alice.clone(),
            &c.genesis,
            std::slice::from_ref(&fake_addr),
            T,
        )
        .await
        .expect("light node");
        let e = node
            .records_from(fake.signing.public(), &me)
            .await
            .unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::BadResponseSignature)),
            "{e}"
        );
        fake_net.shutdown().await;

        // A fake peer that signs its own answer but forges a block's commit certificate.
        let liar = Identity::generate(&mut rand::rng());
        let signer = liar.signing.clone();
        let mut forged = honest_body.clone();
        for r in &mut forged.records {
            if let Some(cert) = r.block.as_mut().and_then(|b| b.certificate.as_mut()) {
                cert.commits.truncate(1);
            }
        }
        let (liar_addr, liar_net) = rogue(liar.clone(), move |q| {
            sign_result(
                &signer,
                &medblock_core::access::query::query_hash(q),
                forged.clone(),
            )
        })
        .await;
        let mut node = node;
        node.add_peer(&liar_addr).await.expect("dial liar");
        let e = node
            .records_from(liar.signing.public(), &me)
            .await
            .unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::Certificate { .. })),
            "{e}"
        );

        // A fake peer that serves a record whose recording authorization was tampered with:
        // the patient's signature over it swapped for another's (the event hash, hence the
        // Merkle path, is unchanged), or its window widened (no longer the signed bytes, nor
        // the ones the department's signature binds). Each is refused.
        let stranger = Identity::generate(&mut rand::rng());
        for tamper in 0..2 {
            let forger = Identity::generate(&mut rand::rng());
            let signer = forger.signing.clone();
            let mut forged = honest_body.clone();
            let r = forged
                .records
                .iter_mut()
                .find(|r| {
                    wire::Event::decode(r.event.as_slice())
                        .is_ok_and(|e| !e.authorization.is_empty())
                })
                .expect("a record under his authorization");
            let mut e = wire::Event::decode(r.event.as_slice()).expect("event");
            if tamper == 0 {
                e.patient_signature = stranger
                    .signing
                    .sign(purpose::AUTHORIZATION, &e.authorization)
                    .to_vec();
            } else {
                let mut a = wire::RecordingAuthorizationBody::decode(e.authorization.as_slice())
                    .expect("authorization");
                a.not_after_ms = u64::MAX;
                e.authorization = a.encode_to_vec();
            }
            r.event = e.encode_to_vec();
            let (forger_addr, forger_net) = rogue(forger.clone(), move |q| {
                sign_result(
                    &signer,
                    &medblock_core::access::query::query_hash(q),
                    forged.clone(),
                )
            })
            .await;
            node.add_peer(&forger_addr).await.expect("dial forger");
            let e = node
                .records_from(forger.signing.public(), &me)
                .await
                .unwrap_err();
            assert!(
                matches!(e, PatientError::Proof(ProofError::BadRecord { .. })),
                "tamper {tamper}: {e}"
            );
            forger_net.shutdown().await;
        }
        node.shutdown().await;

        // With the liar first and an honest peer second, the light node asks the second.
        let node = LightNode::start(
            alice.clone(),
            &c.genesis,
            &[liar_addr, c.p2p_addr("orderer-2")],
            T,
        )
        .await
        .expect("light node");
        let a = node.records(&me).await.expect("the second peer answers");
        assert_ne!(a.peer, liar.signing.public());
        assert_eq!(view::visits(&a.records).len(), 7);
        node.shutdown().await;
        liar_net.shutdown().await;
    });

    // A peer that leaves out one of the patient's records: orderer-4's real ledger, served by
    // the real query rules, minus one record; detected against a second peer.
    let o4 = c.index("orderer-4");
    let o4_identity = load_identity(&node_dir(c.dir.path(), "orderer-4").join(files::NODE_KEY))
        .expect("orderer-4 key");
    c.kill(o4);
    let ledger = std::sync::Arc::new(
        Ledger::open(
            &node_dir(c.dir.path(), "orderer-4")
                .join("data")
                .join("ledger"),
            OpenCheck::HashChain,
            4096,
        )
        .expect("orderer-4's ledger"),
    );
    rt.block_on(async {
        let signer = o4_identity.signing.clone();
        let me_peer = signer.public();
        let book = std::sync::Mutex::new(NonceBook::new(60_000, 64, 64));
        let ledger2 = ledger.clone();
        // It carries real committers' signed tips (as any answer must), taken from orderer-1.
        let tips = honest_body.signed_tips.clone();
        let (censor_addr, censor_net) = rogue(o4_identity.clone(), move |q| {
            // The rogue hands out its own nonces, so it accepts any fresh-looking nonce here.
            let body = wire::QueryBody::decode(q.body.as_slice()).unwrap_or_default();
            let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
            if let Ok(n) = <[u8; 32]>::try_from(body.nonce.as_slice()) {
                b.issue(n, [0; 32], 0);
            }
            let v = verify_query(q, &me_peer, &mut b, 1).expect("query verifies");
            let mut p = medblock_actors::query::prepare_records(&ledger2, &me_peer, v, None)
                .expect("records");
            p.body.records.remove(0);
            p.body.signed_tips = tips.clone();
            sign_result(&signer, &p.query.hash, p.body)
        })
        .await;
        let node = LightNode::start(
            alice.clone(),
            &c.genesis,
            &[censor_addr, c.p2p_addr("orderer-1")],
            T,
        )
        .await
        .expect("light node");
        let e = node.records(&me).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::Omitted { .. })),
            "{e}"
        );
        node.shutdown().await;
        censor_net.shutdown().await;
    });
    drop(ledger);

    // An EMR changed in the hospital's database: the hash mismatch is reported.
    let h1i = c.index("h1-cardiology");
    c.kill(h1i);
    {
        let store = RocksEmrStore::open(
            &node_dir(c.dir.path(), "h1-cardiology")
                .join("data")
                .join("emr"),
        )
        .expect("h1 EMR store");
        store
            .put(&summary.emr_record_id, b"{\"emr\": \"quietly edited\"}")
            .expect("tamper");
    }
    c.start(h1i);
    rt.block_on(async {
        let node = LightNode::start(alice.clone(), &c.genesis, &[c.p2p_addr("h1-cardiology")], T)
            .await
            .expect("light node");
        let emr = until("h1 to serve again", async || {
            node.emr_from(h1, &checked, &summary.emr_record_id)
                .await
                .ok()
        })
        .await;
        let e = check_emr(&summary, &emr).unwrap_err();
        assert!(
            matches!(e, PatientError::Proof(ProofError::EmrHashMismatch { .. })),
            "{e}"
        );
        node.shutdown().await;
    });
}

#[test]
fn consent_grants_then_revokes_a_doctor_and_regulator_reads_are_on_the_ledger() {
    let c = Cluster::with_regulator();
    let (_, bob) = patient_key(&c, "bob");
    enrol_like_cli(&c, "h1-cardiology", &bob, "bob");
    let visits = submit(&c, "h1-cardiology", "bob", 3);
    let top = visits.iter().map(|o| o.height).max().unwrap_or(0);
    wait_height(&c, &["orderer-1", "orderer-2"], top);
    let bob_key = bob.signing.public();
    let doctor = Identity::generate(&mut rand::rng());
    let regulator = load_identity(&node_dir(c.dir.path(), "regulator").join(files::NODE_KEY))
        .expect("regulator key");
    let (o1, h1) = (key_of(&c, "orderer-1"), key_of(&c, "h1-cardiology"));
    let peers = [c.p2p_addr("orderer-1"), c.p2p_addr("orderer-2")];
    let (s1, s2, s3) = (visits[0].sequence, visits[1].sequence, visits[2].sequence);
    let rt = runtime();
    rt.block_on(async {
        let patient = LightNode::start(bob.clone(), &c.genesis, &peers, T)
            .await
            .expect("bob");
        let mut dr = LightNode::start(doctor.clone(), &c.genesis, &peers, T)
            .await
            .expect("dr");
        dr.add_peer(&c.p2p_addr("h1-cardiology"))
            .await
            .expect("dial h1");

        // Before any grant the doctor is refused.
        let e = dr.records_from(o1, &bob_key).await.unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::NotAuthorized(_))),
            "{e}"
        );

        // Bob grants two of his three records to the doctor, through the ledger.
        let g = grant(
            &patient,
            &bob_key,
            &doctor.signing.public(),
            &doctor.sealing.public(),
            "dr. house",
            &[format!("h1/cardiology/{s1}"), format!("h1/cardiology/{s2}")],
        )
        .await
        .expect("grant accepted");
        assert!(g.status == "accepted" || g.status == "committed");
        let granted = until("the grant to be committed", async || {
            dr.records_from(o1, &bob_key).await.ok()
        })
        .await;
        let seen: Vec<u64> = view::visits(&granted.records)
            .iter()
            .map(|v| v.sequence)
            .collect();
        assert_eq!(seen.len(), 2);
        assert!(seen.contains(&s1) && seen.contains(&s2) && !seen.contains(&s3));
        let (checked, summary) = show(
            &dr,
            &bob_key,
            &RecordRef {
                hospital: "h1".into(),
                department: "cardiology".into(),
                sequence: s1,
            },
        )
        .await
        .expect("the doctor opens a granted summary");
        assert_eq!(summary.diagnosis, "h1-cardiology diagnosis 0");
        // The hospital's node serves it once it holds the grant's block too (it may be a block
        // behind the orderer that answered above).
        let emr = until("the hospital to serve the granted EMR", async || {
            dr.emr_from(h1, &checked, &summary.emr_record_id).await.ok()
        })
        .await;
        check_emr(&summary, &emr).expect("EMR hash");
        // Not the record that was not granted.
        let all = patient.records(&bob_key).await.expect("bob's records");
        let third = view::find(&all.records, "h1", "cardiology", s3).expect("third record");
        let e = dr
            .emr_from(h1, third, &format!("cardiology/{s3}"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, PatientError::Denied(AccessError::NotAuthorized(_))),
            "{e}"
        );

        // A second grantee: neither sees the other's consent records.
        let nurse = Identity::generate(&mut rand::rng());
        let nn = LightNode::start(nurse.clone(), &c.genesis, &peers, T)
            .await
            .expect("nurse");
        grant(
            &patient,
            &bob_key,
            &nurse.signing.public(),
            &nurse.sealing.public(),
            "nurse joy",
            &[format!("h1/cardiology/{s3}")],
        )
        .await
        .expect("second grant");
        let theirs = until("the nurse's grant", async || {
            nn.records_from(o1, &bob_key).await.ok()
        })
        .await;
        assert_eq!(view::visits(&theirs.records).len(), 1);
        let mine = dr
            .records_from(o1, &bob_key)
            .await
            .expect("doctor still reads");
        for r in mine.records.iter().filter(|r| is_access(&r.event.body)) {
            match record_of(&r.event).expect("consent record").kind {
                Some(wire::access_record::Kind::Grant(g)) => {
                    assert_eq!(g.grantee_key, doctor.signing.public().as_bytes().to_vec())
                }
                other => panic!("unexpected consent record {other:?}"),
            }
        }
        nn.shutdown().await;

        // Bob revokes; from then on the doctor is refused.
        patient
            .upload_access(o1, &view::revoke(&doctor.signing.public()))
            .await
            .expect("revocation accepted");
        let e = until("the revocation to be committed", async || {
            match dr.records_from(o1, &bob_key).await {
                Err(PatientError::Denied(AccessError::Revoked)) => Some(AccessError::Revoked),
                _ => None,
            }
        })
        .await;
        assert_eq!(e, AccessError::Revoked);
        // The hospital's node refuses the EMR once it holds the revocation's block too (it
        // may be a block behind the orderer that answered above); anything but an EMR or that
        // refusal fails the test.
        let e = until("the hospital to refuse the EMR", async || {
            dr.emr_from(h1, &checked, &summary.emr_record_id)
                .await
                .err()
        })
        .await;
        assert!(
            matches!(e, PatientError::Denied(AccessError::Revoked)),
            "{e}"
        );

        // The regulator genesis names reads summaries; each read goes on the ledger.
        let reg = LightNode::start(regulator.clone(), &c.genesis, &peers, T)
            .await
            .expect("regulator");
        let read = reg
            .records_from(o1, &bob_key)
            .await
            .expect("regulator read");
        let visits_seen = view::visits(&read.records);
        assert_eq!(visits_seen.len(), 3);
        let r = view::find(&read.records, "h1", "cardiology", s1).expect("record");
        let s = view::open(&regulator, r, &read.records).expect("regulator opens it");
        assert_eq!(s.diagnosis, "h1-cardiology diagnosis 0");
        let reg_key = regulator.signing.public();
        let logged = until("the regulator read on the ledger", async || {
            let own = reg.records_from(o1, &reg_key).await.ok()?;
            own.records
                .iter()
                .filter(|r| is_access(&r.event.body) && r.event.body.department == READ_DEPARTMENT)
                .find_map(|r| match record_of(&r.event).ok()?.kind? {
                    wire::access_record::Kind::Read(read) => Some(read),
                    _ => None,
                })
        })
        .await;
        assert_eq!(logged.patient_key, bob_key.as_bytes().to_vec());
        assert_eq!(logged.peer_key, o1.as_bytes().to_vec());

        reg.shutdown().await;
        dr.shutdown().await;
        patient.shutdown().await;
    });
}
