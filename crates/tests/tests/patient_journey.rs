//! A patient who owns his key, end to end on a multi-process testnet (`medblock testnet up`:
//! eight `medblock node run` processes, two hospitals in two regions, demo traffic), through the
//! commands people type:
//! - the journey (issue 16, point 5): one key; enrolled at st-mary (region-1) and riverside
//!   (region-2) under a different MRN at each; visits at both; `patient records` lists both
//!   hospitals' records; `patient fetch` gets each EMR from the hospital holding it with no
//!   `--hospital-peer`; a doctor he grants reads st-mary's summary and fetches its EMR; after he
//!   revokes, the doctor is refused;
//! - the demo: every demo patient's key is in `DIR/patients/<name>.key` (0600), and one of them
//!   reads records from both hospitals and fetches an EMR (what `testnet up` prints);
//! - a FHIR import of Synthea patients, enrolled first in bulk (`patient keys authorize`,
//!   `client enroll-bulk`), then `client import`;
//! - custody: afterwards, no file under any node's directory (RocksDB files included) nor any
//!   node's log holds any of these patients' private signing key or sealing secret, raw or in
//!   hex (lower or upper case). The scanner is shown to find a planted key first.
//!
//! `MEDBLOCK_FHIR_DATA` names the Synthea data set (default `../shared/data/fhir-synthea`).

mod common;

use common::bin::{Down, medblock, run, run_env};
use medblock_core::keys::Identity;
use medblock_storage::keyfile::load_identity;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const REGION_1: &str = "st-mary";
const REGION_2: &str = "riverside";

fn data_dir() -> PathBuf {
    std::env::var_os("MEDBLOCK_FHIR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir-synthea")
        })
}

/// The testnet's state file.
fn state(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).expect("state"))
        .expect("state json")
}

fn node<'a>(state: &'a Value, name: &str) -> &'a Value {
    state["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["spec"]["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in {state:#}"))
}

fn url(node: &Value) -> String {
    format!("http://127.0.0.1:{}", node["http_port"])
}

fn multiaddr(node: &Value) -> String {
    format!(
        "/ip4/127.0.0.1/tcp/{}/p2p/{}",
        node["p2p_port"],
        node["peer_id"].as_str().expect("peer id")
    )
}

/// The light node's way in: a key, genesis and two committers.
struct Conn {
    genesis: String,
    peers: Vec<String>,
}

impl Conn {
    /// `medblock patient <args> --key K --genesis G --peer P...`: stdout, or stderr on failure.
    fn patient(&self, key: &Path, args: &[&str]) -> Result<String, String> {
        let mut cmd = std::process::Command::new(medblock());
        cmd.arg("patient")
            .args(args)
            .arg("--key")
            .arg(key)
            .arg("--genesis")
            .arg(&self.genesis);
        for p in &self.peers {
            cmd.arg("--peer").arg(p);
        }
        let out = cmd.output().expect("medblock runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn ok(&self, key: &Path, args: &[&str]) -> String {
        self.patient(key, args)
            .unwrap_or_else(|e| panic!("medblock patient {args:?} failed: {e}"))
    }

    /// Polls `patient <args>` until `cond` holds on its output.
    fn until(&self, key: &Path, args: &[&str], what: &str, cond: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let got = self.patient(key, args);
            if let Ok(out) = &got
                && cond(out)
            {
                return out.clone();
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: last answer {got:?}"
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

/// `patient records --json` as (hospital, department, sequence).
fn records(json: &str) -> Vec<(String, String, u64)> {
    serde_json::from_str::<Value>(json)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| {
            Some((
                r["hospital"].as_str()?.to_owned(),
                r["department"].as_str()?.to_owned(),
                r["sequence"].as_u64()?,
            ))
        })
        .collect()
}

/// `patient keys create`: the key file and its public keys (signing, sealing).
fn create_key(path: &Path, label: &str) -> (String, String) {
    let v: Value = serde_json::from_str(&run(&[
        "patient",
        "keys",
        "create",
        "--out",
        &path.display().to_string(),
        "--label",
        label,
        "--json",
    ]))
    .expect("keys create prints JSON");
    (
        v["public"].as_str().expect("public").to_owned(),
        v["sealing_public"]
            .as_str()
            .expect("sealing_public")
            .to_owned(),
    )
}

/// Submits visits through a department node and returns their outcomes once committed.
fn submit(dir: &Path, node_url: &str, tag: &str, visits: &[Value]) -> Vec<Value> {
    let file = dir.join(format!("{tag}.json"));
    std::fs::write(&file, serde_json::to_vec(visits).expect("json")).expect("write");
    let out: Value = serde_json::from_str(&run(&[
        "client",
        "submit",
        "--node",
        node_url,
        "--file",
        &file.display().to_string(),
        "--timeout",
        "180",
        "--testnet-dir",
        &dir.join("net").display().to_string(),
        "--json",
    ]))
    .expect("submit prints JSON");
    let out = out.as_array().cloned().expect("outcomes");
    assert_eq!(out.len(), visits.len());
    assert!(out.iter().all(|o| o["status"] == "committed"), "{out:#?}");
    out
}

/// What must never be on a node: each secret raw and as lower- and upper-case hex.
fn secrets_of(who: &str, id: &Identity) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (what, raw) in [
        ("signing key", id.signing.to_bytes().to_vec()),
        ("sealing secret", id.sealing.to_bytes().to_vec()),
    ] {
        let lower = hex::encode(&raw);
        out.push((format!("{who}'s {what} (hex)"), lower.clone().into_bytes()));
        out.push((
            format!("{who}'s {what} (HEX)"),
            lower.to_uppercase().into_bytes(),
        ));
        out.push((format!("{who}'s {what} (raw)"), raw));
    }
    out
}

/// Every regular file under `root`, recursively (symlinks not followed).
fn files(root: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() {
            files(&e.path(), out);
        } else if t.is_file() {
            out.push(e.path());
        }
    }
}

/// Every (file, secret) where a file under `roots` holds one of `needles`, and how many files
/// and bytes were read. Needles are found by their first 8 bytes, then compared whole.
fn scan(roots: &[PathBuf], needles: &[(String, Vec<u8>)]) -> (Vec<String>, usize, u64) {
    let mut by_prefix: std::collections::HashMap<[u8; 8], Vec<usize>> = Default::default();
    let mut first = [false; 256];
    for (i, (_, n)) in needles.iter().enumerate() {
        let p: [u8; 8] = n[..8].try_into().expect("needles are 32+ bytes");
        by_prefix.entry(p).or_default().push(i);
        first[n[0] as usize] = true;
    }
    let mut paths = Vec::new();
    for r in roots {
        files(r, &mut paths);
    }
    let (mut hits, mut bytes) = (Vec::new(), 0u64);
    for path in &paths {
        // A file RocksDB removed between the listing and the read had nothing to keep.
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        bytes += data.len() as u64;
        for at in 0..data.len().saturating_sub(7) {
            if !first[data[at] as usize] {
                continue;
            }
            let p: [u8; 8] = data[at..at + 8].try_into().expect("8 bytes");
            if let Some(ix) = by_prefix.get(&p) {
                for i in ix {
                    let (what, n) = &needles[*i];
                    if data[at..].starts_with(n) {
                        hits.push(format!("{} holds {what} at byte {at}", path.display()));
                    }
                }
            }
        }
    }
    (hits, paths.len(), bytes)
}

#[test]
fn a_patient_owns_one_key_across_two_hospitals_and_no_node_holds_a_patient_key() {
    let started = Instant::now();
    let root = tempfile::tempdir().expect("dir");
    let root = root.path();
    let dir = root.join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    // The client commands find each node's API token through the testnet, as they do for
    // `testnet up`'s default directory.
    let testnet_env: &[(&str, &str)] = &[("MEDBLOCK_TESTNET_DIR", d.as_str())];

    // --- A testnet of eight processes with demo traffic ------------------------------------
    run(&[
        "testnet",
        "up",
        "--dir",
        &d,
        "--nodes",
        "8",
        "--regions",
        "2",
        "--orderers",
        "4",
        "--traffic",
        "4",
        "--json",
    ]);
    eprintln!("[journey] testnet up in {:.0?}", started.elapsed());
    let st = state(&dir);
    let (sm, rs) = (
        node(&st, "st-mary-cardiology"),
        node(&st, "riverside-radiology"),
    );
    assert_eq!(sm["spec"]["region"], "region-1");
    assert_eq!(rs["spec"]["region"], "region-2");
    let (sm_url, rs_url) = (url(sm), url(rs));
    let conn = Conn {
        genesis: dir.join("genesis.pb").display().to_string(),
        peers: vec![
            multiaddr(node(&st, "orderer-1")),
            multiaddr(node(&st, "r2-endorser-a")),
        ],
    };

    // The demo patients' keys are on the patient side only, one file each, owner-only.
    let demo: Vec<PathBuf> = (1..=10)
        .map(|k| dir.join("patients").join(format!("patient-{k:02}.key")))
        .collect();
    for k in &demo {
        let mode = std::fs::metadata(k)
            .unwrap_or_else(|e| panic!("{}: {e}", k.display()))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}", k.display());
    }

    // --- The journey ------------------------------------------------------------------------
    let alice_key = root.join("alice.key");
    let (alice, _) = create_key(&alice_key, "alice");
    for (node_url, mrn) in [(&sm_url, "SM-1001"), (&rs_url, "RS:77")] {
        let out: Value = serde_json::from_str(&run_env(
            &[
                "patient",
                "enroll",
                "--key",
                &alice_key.display().to_string(),
                "--hospital-node",
                node_url,
                "--patient-id",
                mrn,
                "--json",
            ],
            testnet_env,
        ))
        .expect("enroll prints JSON");
        assert_eq!(out["patient_key"], alice.as_str(), "{out:#}");
    }
    let visit = |mrn: &str, h: &str, i: usize| {
        json!({
            "patient": mrn,
            "diagnosis": format!("{h} diagnosis {i}"),
            "examination_results": format!("{h} results {i}"),
            "treatment_plan": "rest",
            "emr": format!("{{\"resourceType\":\"Bundle\",\"note\":\"alice at {h}, visit {i}\"}}"),
        })
    };
    let sm_visits: Vec<Value> = (0..2).map(|i| visit("SM-1001", REGION_1, i)).collect();
    let rs_visits: Vec<Value> = (0..2).map(|i| visit("RS:77", REGION_2, i)).collect();
    let sm_out = submit(root, &sm_url, "alice-sm", &sm_visits);
    let rs_out = submit(root, &rs_url, "alice-rs", &rs_visits);
    for o in sm_out.iter().chain(&rs_out) {
        assert_eq!(
            o["patient_key"],
            alice.as_str(),
            "one key at both hospitals: {o}"
        );
    }
    let mine: Vec<(&Value, &Value)> = sm_out
        .iter()
        .zip(&sm_visits)
        .chain(rs_out.iter().zip(&rs_visits))
        .collect();

    // `patient records` lists both hospitals' records.
    let listed = conn.until(
        &alice_key,
        &["records", "--json"],
        "alice's four records",
        |j| records(j).len() >= 4,
    );
    let listed = records(&listed);
    let hospitals: BTreeSet<&str> = listed.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        hospitals,
        BTreeSet::from([REGION_1, REGION_2]),
        "{listed:?}"
    );
    // `patient fetch` gets each EMR from the hospital that holds it: no --hospital-peer.
    for (o, v) in &mine {
        let seq = o["sequence"].as_u64().expect("sequence").to_string();
        let (h, dept) = (
            o["hospital"].as_str().expect("h"),
            o["department"].as_str().expect("d"),
        );
        assert!(listed.contains(&(h.to_owned(), dept.to_owned(), seq.parse().expect("seq"))));
        let out = root.join(format!("alice-{h}-{seq}.emr"));
        conn.ok(
            &alice_key,
            &[
                "fetch",
                "--hospital",
                h,
                "--department",
                dept,
                "--sequence",
                &seq,
                "--out",
                &out.display().to_string(),
            ],
        );
        assert_eq!(
            std::fs::read_to_string(&out).expect("the EMR file"),
            v["emr"].as_str().expect("emr")
        );
    }
    eprintln!("[journey] records and fetches in {:.0?}", started.elapsed());

    // A doctor at riverside, granted st-mary's first record, reads its summary and EMR.
    let doctor_key = root.join("doctor.key");
    let (doctor, doctor_sealing) = create_key(&doctor_key, "dr. riverside");
    let (o, v) = mine[0];
    let seq = o["sequence"].as_u64().expect("sequence").to_string();
    let dept = o["department"].as_str().expect("d").to_owned();
    let record = format!("{REGION_1}/{dept}/{seq}");
    conn.ok(
        &alice_key,
        &[
            "grant",
            "--grantee-key",
            &doctor,
            "--grantee-sealing",
            &doctor_sealing,
            "--name",
            "dr. riverside",
            "--record",
            &record,
        ],
    );
    let show = [
        "show",
        "--patient",
        alice.as_str(),
        "--hospital",
        REGION_1,
        "--department",
        dept.as_str(),
        "--sequence",
        seq.as_str(),
        "--json",
    ];
    let summary = conn.until(
        &doctor_key,
        &show,
        "the doctor reading the granted summary",
        |s| s.contains(v["diagnosis"].as_str().expect("diagnosis")),
    );
    assert!(summary.contains(v["examination_results"].as_str().expect("results")));
    let doctor_emr = root.join("doctor.emr");
    let doctor_emr_s = doctor_emr.display().to_string();
    let fetch = [
        "fetch",
        "--patient",
        alice.as_str(),
        "--hospital",
        REGION_1,
        "--department",
        dept.as_str(),
        "--sequence",
        seq.as_str(),
        "--out",
        doctor_emr_s.as_str(),
    ];
    conn.ok(&doctor_key, &fetch);
    assert_eq!(
        std::fs::read_to_string(&doctor_emr).expect("the doctor's EMR"),
        v["emr"].as_str().expect("emr")
    );
    // What he was not granted stays closed to him.
    let (ro, _) = mine[2];
    let rs_seq = ro["sequence"].as_u64().expect("sequence").to_string();
    let not_granted = conn.patient(
        &doctor_key,
        &[
            "show",
            "--patient",
            alice.as_str(),
            "--hospital",
            REGION_2,
            "--department",
            ro["department"].as_str().expect("d"),
            "--sequence",
            &rs_seq,
        ],
    );
    assert!(not_granted.is_err(), "{not_granted:?}");

    // Alice revokes: the doctor is refused the summary and the EMR.
    conn.ok(&alice_key, &["revoke", "--grantee-key", &doctor]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let refused = loop {
        match conn.patient(&doctor_key, &show) {
            Err(e) => break e,
            Ok(s) => assert!(
                Instant::now() < deadline,
                "the doctor still reads after the revocation: {s}"
            ),
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(!refused.trim().is_empty());
    let _ = std::fs::remove_file(&doctor_emr);
    let fetched = conn.patient(&doctor_key, &fetch);
    assert!(
        fetched.is_err(),
        "the doctor fetched after the revocation: {fetched:?}"
    );
    assert!(!doctor_emr.exists() || std::fs::read(&doctor_emr).is_ok_and(|b| b.is_empty()));
    eprintln!(
        "[journey] grant and revocation in {:.0?}",
        started.elapsed()
    );

    // --- A FHIR import of Synthea patients, enrolled in bulk first ---------------------------
    let data = data_dir();
    let mut bundles: Vec<(u64, PathBuf)> = std::fs::read_dir(&data)
        .unwrap_or_else(|e| panic!("the Synthea data set {}: {e}", data.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            (n.ends_with(".json") || n.ends_with(".json.bz2")) && !n.contains("Information")
        })
        .map(|p| (std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0), p))
        .collect();
    bundles.sort();
    let bundles: Vec<PathBuf> = bundles.into_iter().take(3).map(|(_, p)| p).collect();
    assert_eq!(
        bundles.len(),
        3,
        "three Synthea bundles in {}",
        data.display()
    );
    let fhir_dir = root.join("fhir-patients");
    std::fs::create_dir_all(&fhir_dir).expect("dir");
    let mut bulk = String::new();
    let mut fhir_keys = Vec::new();
    for b in &bundles {
        let bytes = std::fs::read(b).expect("bundle");
        let import =
            medblock_fhir::import_bytes(&b.display().to_string(), &bytes).expect("a valid bundle");
        let key = fhir_dir.join(format!("{}.key", import.patient_id));
        create_key(&key, &import.patient_id);
        bulk.push_str(&run(&[
            "patient",
            "keys",
            "authorize",
            "--key",
            &key.display().to_string(),
            "--hospital",
            REGION_1,
            "--patient-id",
            &import.patient_id,
        ]));
        fhir_keys.push((import.patient_id, key));
    }
    let bulk_file = root.join("bulk.jsonl");
    std::fs::write(&bulk_file, &bulk).expect("bulk file");
    let enrolled: Value = serde_json::from_str(&run_env(
        &[
            "client",
            "enroll-bulk",
            "--node",
            &sm_url,
            &bulk_file.display().to_string(),
            "--json",
        ],
        testnet_env,
    ))
    .expect("enroll-bulk prints JSON");
    assert_eq!(enrolled["enrolled"], 3, "{enrolled:#}");
    let mut args = vec![
        "client".to_owned(),
        "import".into(),
        "--node".into(),
        sm_url.clone(),
        "--department".into(),
        "cardiology".into(),
        "--json".into(),
    ];
    args.extend(bundles.iter().map(|b| b.display().to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let imported = run_env(&refs, testnet_env);
    assert!(!imported.trim().is_empty());
    // Each imported patient reads his records with his own key.
    let (first_id, first_key) = &fhir_keys[0];
    conn.until(
        first_key,
        &["records", "--json"],
        &format!("{first_id}'s imported records"),
        |j| records(j).iter().any(|r| r.0 == REGION_1),
    );
    eprintln!("[journey] FHIR import in {:.0?}", started.elapsed());

    // --- The demo: a demo patient reads records from both hospitals and fetches an EMR -------
    let testnet = medblock_testnet::state::TestnetState::load(&dir).expect("state");
    let shown = medblock_testnet::patients::read_records_hook(&testnet, Duration::from_secs(120));
    eprintln!("{shown}");
    assert!(
        shown.contains("fetches the EMR") && shown.contains("resourceType"),
        "{shown}"
    );
    for h in [REGION_1, REGION_2] {
        assert!(shown.contains(h), "{shown}");
    }

    // --- Custody: no node holds any patient's private key ------------------------------------
    run(&["testnet", "down", "--dir", &d]);
    let mut patients: Vec<(String, Identity)> = demo
        .iter()
        .map(|k| (k.display().to_string(), load_identity(k).expect("demo key")))
        .collect();
    patients.push(("alice".into(), load_identity(&alice_key).expect("alice")));
    patients.push(("doctor".into(), load_identity(&doctor_key).expect("doctor")));
    for (id, key) in &fhir_keys {
        patients.push((id.clone(), load_identity(key).expect("fhir patient")));
    }
    let needles: Vec<(String, Vec<u8>)> = patients
        .iter()
        .flat_map(|(who, id)| secrets_of(who, id))
        .collect();
    assert_eq!(needles.len(), 6 * 15);
    // The scanner finds a planted key, raw or hex, in a file among others.
    let planted = root.join("planted");
    std::fs::create_dir_all(planted.join("db")).expect("dir");
    let raw = alice_needle(&patients[10].1, false);
    let mut data = vec![0u8; 5000];
    data[1234..1266].copy_from_slice(&raw);
    std::fs::write(planted.join("db/000001.sst"), &data).expect("write");
    std::fs::write(
        planted.join("db/LOG"),
        format!(
            "... sealing {} ...",
            hex::encode_upper(alice_needle(&patients[10].1, true))
        ),
    )
    .expect("write");
    let (hits, n, _) = scan(std::slice::from_ref(&planted), &needles);
    assert_eq!(n, 2);
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(
        hits.iter()
            .any(|h| h.contains("alice's signing key (raw) at byte 1234"))
    );
    assert!(
        hits.iter()
            .any(|h| h.contains("alice's sealing secret (HEX)"))
    );

    let roots = vec![dir.join("nodes"), dir.join("logs")];
    let (hits, n, bytes) = scan(&roots, &needles);
    eprintln!(
        "[journey] scanned {n} files, {bytes} bytes, in {:.0?}",
        started.elapsed()
    );
    assert!(n > 50 && bytes > 1_000_000, "{n} files, {bytes} bytes");
    // What the nodes may hold, they do, where the scan reads it: each hospital's files hold
    // alice's public key (registry, ledger), so key material in those files is not hidden from
    // the scan by their encoding.
    let public = patients[10].1.signing.public();
    let public_needles = vec![
        (
            "alice's public key (raw)".to_owned(),
            public.as_bytes().to_vec(),
        ),
        (
            "alice's public key (hex)".to_owned(),
            public.to_hex().into_bytes(),
        ),
    ];
    for h in ["st-mary-cardiology", "riverside-radiology"] {
        let (found, _, _) = scan(&[dir.join("nodes").join(h)], &public_needles);
        assert!(
            !found.is_empty(),
            "{h}'s files do not hold alice's public key"
        );
    }
    let rocks: usize = {
        let mut all = Vec::new();
        files(&dir.join("nodes"), &mut all);
        all.iter()
            .filter(|p| p.extension().is_some_and(|x| x == "sst" || x == "log"))
            .count()
    };
    assert!(rocks > 0, "RocksDB files are among those scanned");
    assert!(
        hits.is_empty(),
        "patients' private keys found on nodes:\n{}",
        hits.join("\n")
    );
    eprintln!("[journey] done in {:.0?}", started.elapsed());
}

/// A patient's signing key (`false`) or sealing secret (`true`), raw.
fn alice_needle(id: &Identity, sealing: bool) -> Vec<u8> {
    if sealing {
        id.sealing.to_bytes().to_vec()
    } else {
        id.signing.to_bytes().to_vec()
    }
}
