//! The patient's side of issue 16 on a real network (RocksDB ledgers, libp2p on 127.0.0.1, the
//! role actors and PBFT, the department node's HTTP API):
//! - `patient enroll` over HTTP (challenge, recording authorization, enrolment), then visits
//!   recorded under that authorization while he is away;
//! - `patient fetch` with no `--hospital-peer`: the EMR's node found from the record's pointer,
//!   genesis's certificates and discovery (his light node knows only two orderers), for him and
//!   for a doctor he grants the record;
//! - a revoked authorization stops new uploads for him at that hospital, while his earlier
//!   records stay readable and verifiable to him; `authorization list` shows the revocation;
//! - the command line: no log lines at the default level, local ISO dates, `fetch --out FILE`
//!   writes the EMR owner-only and `--out -` to stdout.

mod common;

use common::cluster::{Cluster, block_on, standard, test_params};
use medblock_actors::client::{SubmitOutcome, Visit};
use medblock_core::keys::Identity;
use medblock_core::sha256;
use medblock_node::ca::files;
use medblock_node::patient::commands::{
    Conn, RecordRef, fetch, grant, revoke_authorization, show, verify,
};
use medblock_node::patient::enrol::{self, Consent};
use medblock_node::patient::{LightNode, PatientError, authz, keys, view};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn network() -> Cluster {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(40));
    c
}

/// Serves the department node's HTTP API (the one `medblock node run` serves, with an API token
/// for the tests) on a free port.
fn serve_http(c: &Cluster, name: &str) -> String {
    common::api::serve(c, name)
}

fn submit(
    c: &Cluster,
    department: &str,
    patient: &str,
    n: usize,
    timeout: Duration,
) -> Result<Vec<SubmitOutcome>, String> {
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
    block_on(async move { node.submit(v, true, timeout).await }).map_err(|e| e.to_string())
}

fn wait_height(c: &Cluster, names: &[&str], height: u64) {
    let who: Vec<usize> = names.iter().map(|n| c.index(n)).collect();
    c.wait_for("committers to catch up", Duration::from_secs(60), |st| {
        st.iter()
            .filter(|(i, _)| who.contains(i))
            .all(|(_, s)| s.height >= height)
    });
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The light node's connection options (what `--peer`/`--timeout` give).
fn conn(peers: Vec<String>) -> Conn {
    Conn {
        key: PathBuf::new(),
        genesis: PathBuf::new(),
        peers,
        patient: None,
        timeout: 5,
        json: false,
    }
}

fn committed(out: &[SubmitOutcome]) -> u64 {
    assert!(
        out.iter().all(|o| o.status == "committed"),
        "not all committed: {out:?}"
    );
    out.iter().map(|o| o.height).max().unwrap_or(0)
}

#[test]
fn a_revoked_authorization_stops_new_uploads_while_earlier_records_stay_readable() {
    let c = network();
    let dir = tempfile::tempdir().expect("tmp");
    // His keys are made on his side; the hospital learns the public ones at enrolment.
    let alice = keys::create(&dir.path().join("alice.key"), "alice").expect("key");
    let me = alice.signing.public();
    let h1 = serve_http(&c, "h1-cardiology");
    let token = common::api::token_for(&h1);
    let rt = runtime();
    let consent = Consent::new(Vec::new(), 30).expect("consent");
    let enrolled = rt
        .block_on(enrol::enroll(
            &alice,
            &h1,
            token.as_deref(),
            "MRN-0001",
            &consent,
            T,
        ))
        .expect("enrolled over HTTP");
    assert_eq!(enrolled.hospital, "h1");
    assert_eq!(enrolled.status, "enrolled");
    assert_eq!(enrolled.patient_key, me.to_hex());
    assert!(enrolled.not_before.contains('T') && enrolled.not_after.contains('T'));
    let serial = enrolled.serial;
    // A malformed id is refused before anything is sent.
    let e = rt
        .block_on(enrol::enroll(
            &alice,
            &h1,
            token.as_deref(),
            "MRN 0001",
            &consent,
            T,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("not valid"), "{e}");
    // Another key cannot take his id: the hospital's typed refusal reaches the patient.
    let mallory = Identity::generate(&mut rand::rng());
    let e = rt
        .block_on(enrol::enroll(
            &mallory,
            &h1,
            token.as_deref(),
            "MRN-0001",
            &consent,
            T,
        ))
        .unwrap_err();
    assert!(
        matches!(e, PatientError::Hospital { status: 409, .. }),
        "{e}"
    );

    // Visits recorded while he is away, under his authorization.
    let top = committed(
        &submit(&c, "h1-cardiology", "MRN-0001", 2, Duration::from_secs(120))
            .expect("visits recorded"),
    );
    wait_height(&c, &["orderer-1", "orderer-2"], top);

    let peers = vec![c.p2p_addr("orderer-1"), c.p2p_addr("orderer-2")];
    let revoked_at = rt.block_on(async {
        let mut node = LightNode::start(alice.clone(), &c.genesis, &peers, T)
            .await
            .expect("light node");
        let answer = node.records(&me).await.expect("records verify");
        let visits = view::visits(&answer.records);
        assert_eq!(visits.len(), 2, "{visits:?}");
        assert!(visits.iter().all(|v| v.refused.is_none()
            && v.authorization_serial == Some(serial)
            && v.time.contains('T')));

        // `fetch` with no hospital peer: his light node knows two orderers only; the record's
        // pointer names h1, genesis certifies h1-cardiology, discovery reaches it.
        let first = RecordRef {
            hospital: "h1".into(),
            department: "cardiology".into(),
            sequence: visits[1].sequence,
        };
        let (fetched, emr) = fetch(&mut node, &me, &first, None, &conn(peers.clone()))
            .await
            .expect("EMR found without --hospital-peer");
        assert_eq!(sha256(&emr).to_hex(), fetched.sha256);
        assert_eq!(
            fetched.fetched_from,
            c.node(c.index("h1-cardiology")).node.ctx.key().to_hex()
        );
        assert_eq!(fetched.hospital, "h1");
        assert_eq!(fetched.fetched_from_name, "h1-cardiology");

        // A doctor he grants this record fetches its EMR the same way, from his own light node
        // that knows two orderers only.
        let doctor = Identity::generate(&mut rand::rng());
        let doc_key = doctor.signing.public();
        grant(
            &node,
            &me,
            &doc_key,
            &doctor.sealing.public(),
            "Dr. Grey",
            &[format!("h1/cardiology/{}", first.sequence)],
        )
        .await
        .expect("grant accepted");
        let mut doc = LightNode::start(doctor.clone(), &c.genesis, &peers, T)
            .await
            .expect("doctor's light node");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while show(&doc, &me, &first).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the grant never reached the ledger"
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        // The hospital's node that serves the EMR may be a block behind the peer that showed
        // the record: it answers once it holds the grant too.
        let (by_doctor, doc_emr) = loop {
            match fetch(&mut doc, &me, &first, None, &conn(peers.clone())).await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the grantee never found the EMR's node: {e:?}"
                    );
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        };
        assert_eq!(doc_emr, emr);
        assert_eq!(by_doctor.fetched_from, fetched.fetched_from);
        doc.shutdown().await;

        // He revokes the authorization: on the ledger, receipt checked.
        let revoked = revoke_authorization(&node, "h1", serial, Duration::from_secs(90))
            .await
            .expect("revocation on the ledger");
        assert_eq!(revoked.serial, serial);
        let list = authz::list(&node.records(&me).await.expect("records").records);
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].serial, serial);
        assert_eq!(list[0].records, 2);
        assert_eq!(list[0].revoked_at_height, Some(revoked.height));
        assert_eq!(list[0].refused_records, 0);
        node.shutdown().await;
        revoked.height
    });

    // Every committer knows the revocation before the hospital tries again.
    wait_height(
        &c,
        &["orderer-1", "orderer-2", "r1-endorser-a", "r1-endorser-b"],
        revoked_at,
    );
    let again = submit(&c, "h1-cardiology", "MRN-0001", 1, Duration::from_secs(20));
    eprintln!("the upload after the revocation: {again:?}");
    match &again {
        Err(e) => assert!(
            e.contains("revoked") || e.contains("authoriz"),
            "refused for another reason: {e}"
        ),
        Ok(out) => assert!(
            out.iter().all(|o| o.status != "committed"),
            "a visit under a revoked authorization was committed: {out:?}"
        ),
    }

    // His earlier records stay readable, verifiable, and none is recorded after the revocation.
    std::thread::sleep(Duration::from_secs(2));
    rt.block_on(async {
        let node = LightNode::start(alice.clone(), &c.genesis, &peers, T)
            .await
            .expect("light node");
        let answer = node.records(&me).await.expect("records verify");
        let visits = view::visits(&answer.records);
        assert_eq!(visits.len(), 2, "no new record after the revocation");
        assert!(visits.iter().all(|v| v.refused.is_none()));
        let (_, summary) = show(
            &node,
            &me,
            &RecordRef {
                hospital: "h1".into(),
                department: "cardiology".into(),
                sequence: visits[0].sequence,
            },
        )
        .await
        .expect("an earlier summary opens");
        assert!(summary.diagnosis.contains("cardiology diagnosis"));
        verify(&node, &me).await.expect("verify passes");
        node.shutdown().await;
    });
}

/// `medblock patient ...` as a patient types it: stdout and stderr.
fn patient_cli(args: &[&str], log: &std::path::Path) -> (bool, String, String) {
    let out = std::process::Command::new(common::bin::medblock())
        .arg("patient")
        .args(args)
        .env_remove("RUST_LOG")
        .env("MEDBLOCK_PATIENT_LOG", log)
        .output()
        .expect("medblock runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn has_log_line(text: &str) -> bool {
    text.lines().any(|l| {
        [" TRACE ", " DEBUG ", " INFO ", " WARN ", " ERROR "]
            .iter()
            .any(|lvl| l.contains(lvl))
            || l.contains("\"level\"")
    })
}

#[test]
fn the_patient_cli_prints_no_log_lines_and_fetch_writes_the_emr_owner_only() {
    let c = network();
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("bob.key");
    let log = dir.path().join("patient.log");
    let key_s = key.display().to_string();
    let (ok, _, err) = patient_cli(&["keys", "create", "--out", &key_s], &log);
    assert!(ok, "{err}");
    let h1 = serve_http(&c, "h1-cardiology");
    let (ok, said, err) = patient_cli(
        &[
            "enroll",
            "--key",
            &key_s,
            "--hospital-node",
            &h1,
            "--patient-id",
            "MRN-bob",
            "--departments",
            "cardiology",
            "--valid-days",
            "10",
            "--api-token-file",
            &common::api::token_file(&c, "h1-cardiology")
                .display()
                .to_string(),
        ],
        &log,
    );
    assert!(ok, "enroll failed: {err}");
    assert!(err.is_empty(), "enroll wrote to stderr: {err}");
    assert!(
        said.contains("cardiology") && said.contains("serial") && said.contains("h1"),
        "{said}"
    );
    let top = committed(
        &submit(&c, "h1-cardiology", "MRN-bob", 1, Duration::from_secs(120)).expect("visit"),
    );
    wait_height(&c, &["orderer-1"], top);

    let genesis = c.dir.path().join(files::GENESIS).display().to_string();
    let peer = c.p2p_addr("orderer-1");
    let base = ["--key", &key_s, "--genesis", &genesis, "--peer", &peer];
    let with = |cmd: &[&str], extra: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(base.iter())
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        patient_cli(&a, &log)
    };

    let (ok, out, err) = run(with(&["records"], &[]));
    assert!(ok, "records failed: {err}");
    assert!(
        !has_log_line(&out) && !has_log_line(&err),
        "log lines at the default level:\n{out}\n{err}"
    );
    assert!(err.is_empty(), "stderr at the default level: {err}");
    // Dates are local ISO date-times, not epoch milliseconds.
    let line = out
        .lines()
        .find(|l| l.contains("cardiology"))
        .unwrap_or_else(|| panic!("no record listed: {out}"));
    let year = line
        .split_whitespace()
        .find(|w| w.len() >= 19 && w.as_bytes().get(10) == Some(&b'T'))
        .unwrap_or_else(|| panic!("no ISO date-time in {line:?}"));
    assert!(year.starts_with("20"), "{year}");
    let (ok, json, err) = run(with(&["records"], &["--json"]));
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("records --json");
    let rec = &v[0];
    let seq = rec["sequence"].as_u64().expect("sequence").to_string();
    assert!(
        rec["timestamp"].is_u64() && rec["time"].is_string(),
        "{rec}"
    );

    // fetch --out FILE (no --hospital-peer): the EMR in an owner-only file, nothing of it on
    // stdout.
    let file = dir.path().join("emr.json");
    let file_s = file.display().to_string();
    let record = [
        "--hospital",
        "h1",
        "--department",
        "cardiology",
        "--sequence",
        &seq,
    ];
    let mut extra: Vec<&str> = record.to_vec();
    extra.extend(["--out", &file_s]);
    let (ok, out, err) = run(with(&["fetch"], &extra));
    assert!(ok, "fetch failed: {err}");
    assert!(err.is_empty() && !has_log_line(&out), "{out}\n{err}");
    let emr = std::fs::read(&file).expect("EMR written");
    assert!(String::from_utf8_lossy(&emr).contains("cardiology full record 0"));
    assert!(
        !out.contains("full record"),
        "the EMR went to stdout: {out}"
    );
    let mode = std::fs::metadata(&file).expect("file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "EMR file is owner-only");

    // --out -: the EMR itself on stdout, exactly.
    let mut extra: Vec<&str> = record.to_vec();
    extra.extend(["--out", "-"]);
    let (ok, out, err) = run(with(&["fetch"], &extra));
    assert!(ok, "{err}");
    assert_eq!(out.as_bytes(), emr.as_slice());
    assert!(!has_log_line(&err), "{err}");

    // `-v` puts log lines on stderr; the default level wrote them to the log file only.
    let (ok, _, _) = run(with(&["records"], &["-v"]));
    assert!(ok);
    // authorization list: the authorization he gave, with its window as ISO dates.
    let (ok, out, err) = run(with(&["authorization", "list"], &[]));
    assert!(ok, "{err}");
    assert!(
        out.contains("h1 serial") && out.contains("cardiology") && out.contains("1 records"),
        "{out}"
    );
    let (ok, json, err) = run(with(&["authorization", "list"], &["--json"]));
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&json).expect("list --json");
    let serial = list[0]["serial"].as_u64().expect("serial").to_string();
    assert!(list[0]["not_after"].is_string() && list[0]["revoked_at_height"].is_null());

    // authorization revoke: on the ledger when it returns; the list then says at which height.
    let (ok, out, err) = run(with(
        &["authorization", "revoke"],
        &["--hospital", "h1", "--serial", &serial],
    ));
    assert!(ok, "revoke failed: {err}");
    assert!(err.is_empty() && !has_log_line(&out), "{out}\n{err}");
    assert!(out.contains("revoked") && out.contains("height"), "{out}");
    let (ok, out, err) = run(with(&["authorization", "list"], &[]));
    assert!(ok, "{err}");
    assert!(out.contains("revoked at height"), "{out}");
    // His record stays valid and verifiable.
    let (ok, out, err) = run(with(&["verify"], &[]));
    assert!(ok, "verify failed: {err}");
    // His visit and his revocation, both on the ledger.
    assert!(out.contains("2 records verified"), "{out}");
}
