//! Enrolment at a hospital on a real network (RocksDB, libp2p on 127.0.0.1, the role actors,
//! the department node's HTTP API): patients' keys are made here, on their side; the hospital
//! gets public keys and a signed recording authorization only. Every bad input of the issue
//! gets a typed, clear error and writes nothing: an enrolment signed by another key, a replayed
//! or expired challenge, colliding or malformed ids, an id enrolled with another key, a visit or
//! a FHIR bundle for a patient not enrolled, a bad line in a bulk file.

mod common;

use common::cluster::{Cluster, Spec, block_on, test_params};
use common::enrol::{
    authorize, bulk_line, challenge, enrol, enrol_as, enrolment_hex, get_json, post_json, terms,
};
use medblock_core::authorization::{SignedAuthorization, sign_enrolment};
use medblock_core::keys::{Identity, purpose};
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Four nodes; h1 and h2 are also their hospitals' cardiology department nodes.
fn specs() -> Vec<Spec> {
    vec![
        Spec::new("h1", "region-1", "endorser,orderer,committer,client")
            .department("h1", "cardiology"),
        Spec::new("n2", "region-1", "endorser,orderer,committer"),
        Spec::new("h2", "region-2", "endorser,orderer,committer,client")
            .department("h2", "cardiology"),
        Spec::new("n4", "region-2", "endorser,orderer,committer"),
    ]
}

fn new_patient() -> Identity {
    Identity::generate(&mut rand::rng())
}

fn enrol_hex(base: &str, hex: &str) -> (u16, serde_json::Value) {
    post_json(
        &format!("{base}/patients/enrol"),
        &serde_json::json!({ "enrolment": hex }),
    )
}

fn submit(base: &str, patient: &str) -> (u16, serde_json::Value) {
    post_json(
        &format!("{base}/submit"),
        &serde_json::json!({
            "visits": [{"patient": patient, "diagnosis": "otitis media"}],
            "timeout_ms": 60_000,
        }),
    )
}

/// (records written, outbox) of a department node.
fn written(base: &str) -> (u64, u64) {
    let (status, s) = get_json(&format!("{base}/status"));
    assert_eq!(status, 200);
    (
        s["counters"]["records_written"].as_u64().expect("counter"),
        s["outbox"].as_u64().expect("outbox"),
    )
}

fn not_enrolled(base: &str, id: &str) {
    let (status, v) = get_json(&format!("{base}/patients/{id}"));
    assert_eq!(status, 404, "{id}: {v}");
    assert_eq!(v["code"], "not_enrolled");
}

fn synthea_bundle() -> PathBuf {
    let dir = std::env::var_os("MEDBLOCK_FHIR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir-synthea")
        });
    dir.join("057aa36e-b892-9964-75b9-ffb46b097e34.json.bz2")
}

#[test]
fn enrolment_refuses_every_bad_input_and_writes_nothing_for_it() {
    let mut c = Cluster::create(specs(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let h1 = common::api::serve(&c, "h1");
    let h2 = common::api::serve(&c, "h2");

    // A good enrolment; the entry holds his public keys and authorization, and a visit under it
    // commits with his key.
    let alice = new_patient();
    let v = enrol_as(&h1, &alice, "alice");
    assert_eq!(v["status"], "enrolled");
    assert_eq!(v["hospital"], "h1");
    assert_eq!(v["patient_key"], alice.signing.public().to_hex());
    assert_eq!(v["sealing_key"], hex::encode(alice.sealing.public().0));
    let (status, got) = get_json(&format!("{h1}/patients/alice"));
    assert_eq!(status, 200);
    assert_eq!(got["patient_key"], alice.signing.public().to_hex());
    assert_eq!(got["serial"], 1);
    let (status, out) = submit(&h1, "alice");
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[0]["status"], "committed");
    assert_eq!(out[0]["patient_key"], alice.signing.public().to_hex());

    // An enrolment signed by a key the enrollee cannot sign for: refused, nothing written.
    let (mallory, victim) = (new_patient(), new_patient());
    let (hospital, nonce) = challenge(&h1, "stolen");
    let auth = authorize(&victim, &terms(&hospital, 1));
    let forged = sign_enrolment(&mallory.signing, &hospital, "stolen", &nonce, &auth, 1);
    let (status, v) = enrol_hex(&h1, &hex::encode(forged.encode_to_vec()));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "bad_signature");
    assert!(v["error"].as_str().unwrap_or("").contains("signature"));
    // ...nor with an authorization over his key that another key signed.
    let body = authorize(&victim, &terms(&hospital, 1)).body;
    let fake = SignedAuthorization {
        signature: mallory.signing.sign(purpose::AUTHORIZATION, &body),
        body,
    };
    let forged = sign_enrolment(&victim.signing, &hospital, "stolen", &nonce, &fake, 1);
    let (status, v) = enrol_hex(&h1, &hex::encode(forged.encode_to_vec()));
    assert_eq!(
        (status, &v["code"]),
        (400, &serde_json::json!("bad_signature"))
    );
    not_enrolled(&h1, "stolen");

    // A replayed challenge: the first answer enrols, the same answer again is refused.
    let bob = new_patient();
    let (hospital, nonce) = challenge(&h1, "bob");
    let answer = enrolment_hex(&bob, &hospital, "bob", &nonce);
    assert_eq!(enrol_hex(&h1, &answer).0, 200);
    let (status, v) = enrol_hex(&h1, &answer);
    assert_eq!(
        (status, &v["code"]),
        (410, &serde_json::json!("replayed_challenge")),
        "{v}"
    );
    // A nonce issued for another id, and one never issued.
    let (_, nonce) = challenge(&h1, "carol");
    let (status, v) = enrol_hex(&h1, &enrolment_hex(&new_patient(), "h1", "dave", &nonce));
    assert_eq!(
        (status, &v["code"]),
        (400, &serde_json::json!("challenge_mismatch")),
        "{v}"
    );
    let (status, v) = enrol_hex(&h1, &enrolment_hex(&new_patient(), "h1", "dave", &[7; 32]));
    assert_eq!(
        (status, &v["code"]),
        (410, &serde_json::json!("unknown_challenge")),
        "{v}"
    );
    // A challenge of another hospital.
    let (status, v) = enrol_hex(&h1, &enrolment_hex(&new_patient(), "h2", "dave", &nonce));
    assert_eq!(status, 400, "{v}");
    not_enrolled(&h1, "dave");

    // An expired challenge (made to expire now through the node's desk; it lives 5 minutes).
    let (hospital, nonce) = challenge(&h1, "erin");
    c.node(c.index("h1"))
        .node
        .patients()
        .expect("department")
        .expire_challenge(&nonce);
    let (status, v) = enrol_hex(
        &h1,
        &enrolment_hex(&new_patient(), &hospital, "erin", &nonce),
    );
    assert_eq!(
        (status, &v["code"]),
        (410, &serde_json::json!("expired_challenge")),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap_or("").contains("expired"));
    not_enrolled(&h1, "erin");

    // `a.b` and `a_b` are two patients with two entries; they cannot share a key.
    let (p, q) = (new_patient(), new_patient());
    enrol_as(&h1, &p, "a.b");
    let (hospital, nonce) = challenge(&h1, "a_b");
    let (status, v) = enrol_hex(&h1, &enrolment_hex(&p, &hospital, "a_b", &nonce));
    assert_eq!(
        (status, &v["code"]),
        (409, &serde_json::json!("key_taken")),
        "{v}"
    );
    not_enrolled(&h1, "a_b");
    enrol_as(&h1, &q, "a_b");
    let key_of = |id: &str| get_json(&format!("{h1}/patients/{id}")).1["patient_key"].clone();
    assert_eq!(key_of("a.b"), p.signing.public().to_hex());
    assert_eq!(key_of("a_b"), q.signing.public().to_hex());
    let (_, ab) = submit(&h1, "a.b");
    let (_, a_b) = submit(&h1, "a_b");
    assert_ne!(ab[0]["patient_key"], a_b[0]["patient_key"]);

    // Malformed ids are refused with a clear error.
    for id in ["", "a b", "a/b", &"x".repeat(65)] {
        let (status, v) = post_json(
            &format!("{h1}/patients/challenge"),
            &serde_json::json!({ "patient_id": id }),
        );
        assert_eq!(status, 400, "{id:?}: {v}");
        assert_eq!(v["code"], "bad_patient_id");
        assert!(
            v["error"].as_str().unwrap_or("").contains("is not valid"),
            "{v}"
        );
        // ...also when signed into an enrolment.
        let (status, v) = enrol_hex(&h1, &enrolment_hex(&new_patient(), "h1", id, &[1; 32]));
        assert_eq!(
            (status, &v["code"]),
            (400, &serde_json::json!("bad_patient_id")),
            "{v}"
        );
    }
    assert_eq!(get_json(&format!("{h1}/patients/a%20b")).0, 400);
    // A body that is not the request's JSON: the same error shape.
    let (status, v) = post_json(
        &format!("{h1}/patients/enrol"),
        &serde_json::json!({ "enrolment": 5 }),
    );
    assert_eq!(
        (status, &v["code"]),
        (400, &serde_json::json!("malformed")),
        "{v}"
    );
    let (status, v) = enrol_hex(&h1, "zz-not-hex");
    assert_eq!(
        (status, &v["code"]),
        (400, &serde_json::json!("malformed")),
        "{v}"
    );
    // 64 characters is the longest id.
    enrol(&h1, &"x".repeat(64));

    // An id already enrolled with another key: 409, the entry unchanged.
    let (hospital, nonce) = challenge(&h1, "alice");
    let (status, v) = enrol_hex(
        &h1,
        &enrolment_hex(&new_patient(), &hospital, "alice", &nonce),
    );
    assert_eq!(
        (status, &v["code"]),
        (409, &serde_json::json!("id_taken")),
        "{v}"
    );
    assert_eq!(key_of("alice"), alice.signing.public().to_hex());
    // The same key with a new authorization renews it.
    let (hospital, nonce) = challenge(&h1, "alice");
    let renewal = sign_enrolment(
        &alice.signing,
        &hospital,
        "alice",
        &nonce,
        &authorize(&alice, &terms(&hospital, 2)),
        1,
    );
    let (status, v) = enrol_hex(&h1, &hex::encode(renewal.encode_to_vec()));
    assert_eq!(
        (status, &v["status"]),
        (200, &serde_json::json!("renewed")),
        "{v}"
    );
    assert_eq!(v["serial"], 2);

    // A visit for a patient not enrolled: a typed error naming him and the hospital, and
    // nothing recorded, not even the enrolled patient's visit sent with it.
    let before = written(&h1);
    let (status, v) = submit(&h1, "ghost");
    assert_eq!(
        (status, &v["code"]),
        (404, &serde_json::json!("not_enrolled")),
        "{v}"
    );
    assert_eq!(v["error"], "patient ghost is not enrolled at hospital h1");
    let (status, v) = post_json(
        &format!("{h1}/submit"),
        &serde_json::json!({"visits": [
            {"patient": "alice", "diagnosis": "d"}, {"patient": "ghost", "diagnosis": "d"}]}),
    );
    assert_eq!(status, 404, "{v}");
    // alice is enrolled at h1 only.
    assert_eq!(submit(&h2, "alice").0, 404);
    // An authorization for another department: refused, nothing recorded.
    let frank = new_patient();
    let (hospital, nonce) = challenge(&h1, "frank");
    let mut oncology = terms(&hospital, 1);
    oncology.departments = vec!["oncology".into()];
    let e = sign_enrolment(
        &frank.signing,
        &hospital,
        "frank",
        &nonce,
        &authorize(&frank, &oncology),
        1,
    );
    assert_eq!(enrol_hex(&h1, &hex::encode(e.encode_to_vec())).0, 200);
    let (status, v) = submit(&h1, "frank");
    assert_eq!(
        (status, &v["code"]),
        (403, &serde_json::json!("not_authorized")),
        "{v}"
    );
    assert!(
        v["error"].as_str().unwrap_or("").contains("cardiology"),
        "{v}"
    );
    // An authorization whose window has ended is not enrolled.
    let (hospital, nonce) = challenge(&h1, "gina");
    let mut ended = terms(&hospital, 1);
    ended.not_after_ms = ended.not_before_ms + 1;
    let gina = new_patient();
    let e = sign_enrolment(
        &gina.signing,
        &hospital,
        "gina",
        &nonce,
        &authorize(&gina, &ended),
        1,
    );
    let (status, v) = enrol_hex(&h1, &hex::encode(e.encode_to_vec()));
    assert_eq!(
        (status, &v["code"]),
        (400, &serde_json::json!("unusable_authorization")),
        "{v}"
    );

    // A FHIR bundle whose patient is not enrolled: refused whole, naming file and patient.
    let bundle = synthea_bundle();
    let (results, summary) = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(medblock_node::import::run(
            medblock_node::import::ImportArgs {
                node: h1.clone(),
                paths: vec![bundle.clone()],
                department: Some("cardiology".into()),
                concurrency: 1,
                timeout: 60,
                no_wait: false,
                quiet: true,
                json: true,
                token: medblock_node::api_token::TokenArgs::file(common::api::token_file(&c, "h1")),
            },
        ))
        .expect("the import runs");
    assert_eq!(summary.patients, 0);
    assert_eq!(summary.failed.len(), 1, "{:?}", summary.failed);
    let why = results[0].error.clone().unwrap_or_default();
    let file = bundle.display().to_string();
    assert!(why.contains(&file), "{why}");
    assert!(
        why.contains("patient 057aa36e-b892-9964-75b9-ffb46b097e34 is not enrolled at hospital h1"),
        "{why}"
    );
    assert_eq!(
        written(&h1),
        before,
        "nothing recorded for refused visits or bundles"
    );

    // A bulk file with one bad line: the others enrolled, the bad one reported by its number.
    let (k1, k2, k3) = (new_patient(), new_patient(), new_patient());
    let mut bad =
        serde_json::from_str::<serde_json::Value>(&bulk_line(&k3, "h1", "bulk-3")).expect("json");
    bad["patient_id"] = "bulk-33".into();
    let file = [
        bulk_line(&k1, "h1", "bulk-1"),
        String::new(),
        bad.to_string(),
        bulk_line(&k2, "h1", "bulk-2"),
        // bob again, with a new authorization (same serial, a new window): renewed.
        bulk_line(&bob, "h1", "bob"),
        "not json".into(),
    ]
    .join("\n");
    let s = block_on(medblock_node::bulk::post(
        &h1,
        common::api::token_for(&h1).as_deref(),
        file,
    ))
    .expect("bulk answered");
    assert_eq!((s.enrolled, s.renewed), (2, 1), "{s:?}");
    let lines: Vec<usize> = s.refused.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 6], "{s:?}");
    assert_eq!(s.refused[0].patient_id, "bulk-33");
    assert!(s.refused[0].error.contains("bulk-3"), "{s:?}");
    assert_eq!(key_of("bulk-2"), k2.signing.public().to_hex());
    not_enrolled(&h1, "bulk-33");
    not_enrolled(&h1, "bulk-3");
    // A bulk enrolment is signed offline: one with a challenge's nonce does not belong there.
    let (hospital, nonce) = challenge(&h1, "bulk-4");
    let line = serde_json::json!({"patient_id": "bulk-4",
        "enrolment": enrolment_hex(&new_patient(), &hospital, "bulk-4", &nonce)});
    let s = block_on(medblock_node::bulk::post(
        &h1,
        common::api::token_for(&h1).as_deref(),
        line.to_string(),
    ))
    .expect("bulk");
    assert_eq!(s.refused.len(), 1, "{s:?}");
    // The enrolled ones record visits.
    let (status, v) = submit(&h1, "bulk-1");
    assert_eq!(
        (status, &v[0]["patient_key"]),
        (200, &serde_json::json!(k1.signing.public().to_hex()))
    );
}
