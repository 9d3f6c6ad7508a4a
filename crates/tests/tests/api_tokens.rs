//! Credentials on a hospital node's HTTP API (issue 17, point 3), on a real network (RocksDB,
//! libp2p on 127.0.0.1, the role actors) over real HTTP: every path that writes or reveals
//! patient data needs an API token the node's operator issued; without one, with an unknown one
//! or with a revoked one the answer is 401 `{"error", "code": "unauthorized"}` and nothing is
//! recorded or enrolled. `/healthz`, `/metrics` and `/status` stay open, and `[http] public`
//! decides which paths are. Tokens created or revoked while the node runs count at once, through
//! the library and through `medblock node token` and `medblock client submit`.

mod common;

use common::bin::run;
use common::cluster::{Cluster, Spec, node_dir, test_params};
use common::enrol::{
    bulk_line, challenge, enrol, enrolment_hex, get_json, get_json_with, post_json, post_json_with,
};
use medblock_core::keys::Identity;
use medblock_node::http::ApiAuth;
use medblock_node::tokens::{TokenStore, TokenVerifier};
use serde_json::{Value, json};
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

fn network() -> Cluster {
    let mut c = Cluster::create(specs(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    c
}

/// (records written, outbox, events committed) of a department node, read without a token.
fn written(base: &str) -> (u64, u64, u64) {
    let (status, s) = get_json_with(&format!("{base}/status"), None);
    assert_eq!(status, 200, "/status is public: {s}");
    (
        s["counters"]["records_written"].as_u64().expect("counter"),
        s["outbox"].as_u64().expect("outbox"),
        s["counters"]["events_committed"].as_u64().unwrap_or(0),
    )
}

fn visit_body(patient: &str, diagnosis: &str) -> Value {
    json!({
        "visits": [{"patient": patient, "diagnosis": diagnosis}],
        "timeout_ms": 60_000,
    })
}

fn import_body(patient: &str, record: &str) -> Value {
    json!({
        "visits": [{
            "patient": patient,
            "department": "cardiology",
            "diagnosis": "imported",
            "examination_results": "",
            "treatment_plan": "",
            "record_id": record,
            "emr": "{\"resourceType\":\"Bundle\",\"type\":\"collection\"}",
        }],
        "timeout_ms": 60_000,
    })
}

/// A 401 with the API's error body.
fn unauthorized(what: &str, (status, v): (u16, Value)) {
    assert_eq!(status, 401, "{what}: {v}");
    assert_eq!(v["code"], "unauthorized", "{what}: {v}");
    assert!(
        v["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {v}"
    );
}

#[test]
fn writes_and_patient_reads_need_a_valid_unrevoked_token_and_nothing_is_written_without_one() {
    let c = network();
    let h1 = common::api::serve(&c, "h1");
    let good = common::api::token_for(&h1).expect("the test's token");

    // Health, metrics and status are open to anyone.
    for path in ["/healthz", "/metrics", "/status"] {
        let r = common::cluster::block_on(async {
            reqwest::get(format!("{h1}{path}")).await.expect("answers")
        });
        assert_eq!(r.status().as_u16(), 200, "{path} without a token");
    }

    // A patient enrolled with the token; a visit for him with the token commits.
    let alice = enrol(&h1, "alice");
    let (status, out) = post_json(&format!("{h1}/submit"), &visit_body("alice", "with token"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[0]["status"], "committed", "{out}");
    std::thread::sleep(Duration::from_millis(300));
    let before = written(&h1);

    // No token, an unknown token, a token that is not a bearer token: 401, nothing recorded.
    let submit = format!("{h1}/submit");
    let import = format!("{h1}/import");
    for token in [None, Some("mbt_00"), Some("")] {
        unauthorized(
            "submit",
            post_json_with(&submit, &visit_body("alice", "no token"), token),
        );
        unauthorized(
            "import",
            post_json_with(&import, &import_body("alice", "Encounter/x-1"), token),
        );
    }
    let basic = common::cluster::block_on(async {
        reqwest::Client::new()
            .post(&submit)
            .header("authorization", format!("Basic {good}"))
            .json(&visit_body("alice", "basic"))
            .send()
            .await
            .expect("answers")
            .status()
            .as_u16()
    });
    assert_eq!(basic, 401, "only a bearer token counts");

    // Enrolment without a token: challenge, enrolment and bulk refused, the registry unchanged.
    let bob = Identity::generate(&mut rand::rng());
    unauthorized(
        "challenge",
        post_json_with(
            &format!("{h1}/patients/challenge"),
            &json!({"patient_id": "bob"}),
            None,
        ),
    );
    let (hospital, nonce) = challenge(&h1, "bob");
    unauthorized(
        "enrol",
        post_json_with(
            &format!("{h1}/patients/enrol"),
            &json!({"enrolment": enrolment_hex(&bob, &hospital, "bob", &nonce)}),
            None,
        ),
    );
    let bulk = common::cluster::block_on(async {
        reqwest::Client::new()
            .post(format!("{h1}/patients/bulk"))
            .body(bulk_line(&bob, "h1", "bob"))
            .send()
            .await
            .expect("answers")
            .status()
            .as_u16()
    });
    assert_eq!(bulk, 401, "bulk enrolment without a token");
    // A patient's entry is not revealed without a token either.
    unauthorized(
        "patient lookup",
        get_json_with(&format!("{h1}/patients/alice"), None),
    );
    let (status, v) = get_json(&format!("{h1}/patients/bob"));
    assert_eq!(status, 404, "bob is not enrolled: {v}");
    // Nor does a configuration change go in without one.
    let config = common::cluster::block_on(async {
        reqwest::Client::new()
            .post(format!("{h1}/config"))
            .body(vec![1u8, 2, 3])
            .send()
            .await
            .expect("answers")
            .status()
            .as_u16()
    });
    assert_eq!(config, 401, "configuration changes without a token");

    // A second token, created while the node runs, works at once; revoked, it is refused at
    // once and nothing it sends is recorded; the first token is untouched.
    let store = common::api::store(&c, "h1");
    let second = store.create("front-desk", 1).expect("second token");
    let (status, out) = post_json_with(
        &submit,
        &visit_body("alice", "second token"),
        Some(&second.secret),
    );
    assert_eq!(status, 200, "a token created after start: {out}");
    std::thread::sleep(Duration::from_millis(300));
    let before_revoked = written(&h1);
    assert!(before_revoked.0 > before.0);
    store.revoke("front-desk", 2).expect("revoked");
    for (what, url, body) in [
        ("submit", &submit, visit_body("alice", "revoked")),
        (
            "import",
            &import,
            import_body("alice", "Encounter/revoked-1"),
        ),
    ] {
        let (status, v) = post_json_with(url, &body, Some(&second.secret));
        unauthorized(what, (status, v.clone()));
        assert!(
            v["error"].as_str().is_some_and(|e| e.contains("revoked")),
            "{v}"
        );
    }
    unauthorized(
        "enrol with a revoked token",
        post_json_with(
            &format!("{h1}/patients/challenge"),
            &json!({"patient_id": "bob"}),
            Some(&second.secret),
        ),
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        written(&h1),
        before_revoked,
        "nothing recorded for refused requests"
    );
    let (status, v) = get_json(&format!("{h1}/patients/bob"));
    assert_eq!(status, 404, "the registry is unchanged: {v}");
    let (status, out) = post_json(&submit, &visit_body("alice", "first token again"));
    assert_eq!(status, 200, "{out}");
    assert_eq!(out[0]["patient_key"], alice.signing.public().to_hex());
    let (status, out) = post_json(&import, &import_body("alice", "Encounter/ok-1"));
    assert_eq!(status, 200, "an import with a valid token: {out}");
}

#[test]
fn the_public_paths_are_configurable_and_the_cli_issues_and_revokes_tokens_a_running_node_honours()
{
    let c = network();
    let h2 = common::api::serve(&c, "h2");
    enrol(&h2, "carol");

    // A second server over the same node with `[http] public = ["/healthz"]`: metrics and
    // status now need a token too.
    let data = common::api::data_dir(&c, "h2");
    let strict = ApiAuth::new(
        TokenVerifier::new(TokenStore::in_data_dir(&data)),
        vec!["/healthz".into()],
    );
    let node = c.node(c.index("h2")).node.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let strict_url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            if let Ok(server) = medblock_node::http::serve(node, listener, strict) {
                let _ = server.await;
            }
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get_json_with(&format!("{strict_url}/healthz"), None).0, 200);
    for path in ["/status", "/metrics"] {
        let status = common::cluster::block_on(async {
            reqwest::get(format!("{strict_url}{path}"))
                .await
                .expect("answers")
                .status()
                .as_u16()
        });
        assert_eq!(status, 401, "{path} is not public here");
    }
    let token = common::api::token_for(&h2).expect("token");
    assert_eq!(
        get_json_with(&format!("{strict_url}/status"), Some(&token)).0,
        200
    );

    // The operator's commands, on the node's directory (`node init` writes its node.toml; the
    // data directory is the running node's).
    let dir = node_dir(c.dir.path(), "h2");
    let genesis = c.dir.path().join(medblock_node::ca::files::GENESIS);
    medblock_node::run::init(&dir, &genesis, "/ip4/127.0.0.1/tcp/0", "127.0.0.1:0", &[])
        .expect("node.toml");
    let d = dir.display().to_string();
    let file = c.dir.path().join("desk-token");
    let f = file.display().to_string();
    let created: Value = serde_json::from_str(&run(&[
        "node", "token", "create", "--dir", &d, "--name", "desk", "--out", &f, "--json",
    ]))
    .expect("json");
    assert!(created["token"].is_null(), "the secret goes to --out only");
    let secret = std::fs::read_to_string(&file).expect("token file");
    let secret = secret.trim();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );
    let store_file = data.join(medblock_node::tokens::TOKEN_FILE);
    let stored = std::fs::read_to_string(&store_file).expect("store");
    assert!(!stored.contains(secret), "the node keeps no secret");
    assert_eq!(
        std::fs::metadata(&store_file)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Printed once when there is no --out: alone on stdout.
    let printed = run(&["node", "token", "create", "--dir", &d, "--name", "printed"]);
    assert!(printed.trim().starts_with("mbt_"), "{printed}");
    let listed = run(&["node", "token", "list", "--dir", &d, "--json"]);
    assert!(!listed.contains(secret) && !listed.contains(printed.trim()));
    assert!(!listed.contains("sha256"), "{listed}");
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert!(
        listed
            .as_array()
            .is_some_and(|l| l.iter().any(|t| t["name"] == "desk"))
    );

    // `client submit` with the file commits; without any token it fails with a clear message.
    let visit = |token: Option<&str>| {
        let mut args = vec![
            "client".to_owned(),
            "submit".into(),
            "--node".into(),
            h2.clone(),
            "--patient".into(),
            "carol".into(),
            "--diagnosis".into(),
            "otitis media".into(),
            "--json".into(),
            "--testnet-dir".into(),
            c.dir.path().join("no-testnet").display().to_string(),
        ];
        if let Some(t) = token {
            args.push("--api-token-file".into());
            args.push(t.to_owned());
        }
        std::process::Command::new(common::bin::medblock())
            .args(&args)
            .env_remove("MEDBLOCK_API_TOKEN")
            .output()
            .expect("medblock runs")
    };
    let ok = visit(Some(&f));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let out: Value = serde_json::from_slice(&ok.stdout).expect("json");
    assert_eq!(out[0]["status"], "committed", "{out}");
    std::thread::sleep(Duration::from_millis(300));
    let before = written(&h2);
    let none = visit(None);
    assert!(!none.status.success());
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("401") && err.contains("--api-token-file"),
        "{err}"
    );
    // Revoked by name while the node runs: refused from the next request on.
    let revoked: Value = serde_json::from_str(&run(&[
        "node", "token", "revoke", "--dir", &d, "desk", "--json",
    ]))
    .expect("json");
    assert!(revoked["revoked_at_ms"].as_u64().is_some(), "{revoked}");
    let refused = visit(Some(&f));
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("401") && err.contains("revoked"), "{err}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        written(&h2),
        before,
        "nothing recorded without a valid token"
    );
}
