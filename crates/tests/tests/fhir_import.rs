//! FHIR import end to end: the shared Synthea patients imported through `medblock client import`
//! (the same code, over HTTP) into the two hospitals of a 4-node network (RocksDB, libp2p on
//! 127.0.0.1, real signatures and sealing). Each patient's keys are made on his side and he is
//! enrolled at his hospital under his MR identifier first. Then, on a committer's ledger: every
//! patient's bread crumbs lead to exactly his encounters, each summary opens with his own
//! sealing key, and each stored EMR hashes to the value on the ledger and holds the resources
//! imported. Bad bundles are refused by file and entry, a bundle whose patient is not enrolled
//! is refused whole naming the file and the patient, and nothing of them is stored.
//!
//! `MEDBLOCK_FHIR_DATA` names the data set (default `../shared/data/fhir-synthea` beside the
//! repository); `MEDBLOCK_FHIR_PATIENTS` limits how many patients are imported (default all 100).

mod common;

use common::cluster::{Cluster, Spec, block_on, node_dir, test_params};
use medblock_actors::client::import::ImportVisit;
use medblock_core::crumbs::pseudonym;
use medblock_core::keys::Identity;
use medblock_core::{VerifiedBlock, sealing, sha256};
use medblock_fhir::{DEPARTMENTS, emr_resources, import_bytes, record_resources};
use medblock_node::ca::{self, IssueRequest};
use medblock_node::http::ImportBody;
use medblock_node::import::{BundleResult, ImportArgs, ImportSummary};
use medblock_node::patient::LightNode;
use medblock_node::patient::commands::{Conn, RecordRef};
use medblock_storage::{EmrStore, Ledger, OpenCheck, RocksEmrStore};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `medblock patient fetch`'s library call, with the hospital's address as the peer to ask.
async fn fetch_emr(
    node: &mut LightNode,
    me: &medblock_core::keys::PublicKey,
    record: &RecordRef,
    hospital: &[String],
) -> Result<
    (medblock_node::patient::commands::FetchView, Vec<u8>),
    medblock_node::patient::PatientError,
> {
    let hospital_peer = hospital.first().map(String::as_str);
    let conn = Conn {
        key: PathBuf::new(),
        genesis: PathBuf::new(),
        peers: hospital.to_vec(),
        patient: None,
        timeout: 10,
        json: false,
    };
    medblock_node::patient::commands::fetch(node, me, record, hospital_peer, &conn).await
}

fn data_dir() -> PathBuf {
    std::env::var_os("MEDBLOCK_FHIR_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/fhir-synthea")
        })
}

const HOSPITALS: [(&str, &str); 2] = [("h1", "region-1"), ("h2", "region-2")];

/// Four nodes, all endorser candidates, orderers and committers; h1 and h2 are also their
/// hospitals' department nodes.
fn specs() -> Vec<Spec> {
    vec![
        Spec::new("h1", "region-1", "endorser,orderer,committer,client")
            .department("h1", "primary-care"),
        Spec::new("n2", "region-1", "endorser,orderer,committer"),
        Spec::new("h2", "region-2", "endorser,orderer,committer,client")
            .department("h2", "primary-care"),
        Spec::new("n4", "region-2", "endorser,orderer,committer"),
    ]
}

/// Each hospital's other departments get their own key and certificate in its node's data dir.
fn certify_departments(ca_dir: &Path, root: &Path) {
    for (h, region) in HOSPITALS {
        for d in DEPARTMENTS.iter().filter(|d| **d != "primary-care") {
            ca::issue(
                ca_dir,
                &IssueRequest {
                    name: format!("{h}-{d}"),
                    region: region.into(),
                    hospital: h.into(),
                    department: (*d).into(),
                    roles: vec!["client".into()],
                    node_dir: node_dir(root, h).join("data").join("departments").join(d),
                    days: 30,
                },
                medblock_actors::clock::now_ms(),
            )
            .expect("department certificate");
        }
    }
}

fn import(node: &str, paths: Vec<PathBuf>) -> (Vec<BundleResult>, ImportSummary) {
    let args = ImportArgs {
        node: node.to_owned(),
        paths,
        department: None,
        concurrency: 4,
        timeout: 300,
        no_wait: false,
        quiet: true,
        json: false,
        token: medblock_node::api_token::TokenArgs::token(
            common::api::token_for(node).expect("the API is served with a token"),
        ),
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(medblock_node::import::run(args))
        .expect("import runs")
}

/// Encounter ids of a bundle file, counted straight from the JSON.
fn encounter_ids(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path).expect("read");
    let json = medblock_fhir::decompress("x", &raw).expect("bz2");
    let v: Value = serde_json::from_slice(&json).expect("json");
    v["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Encounter")
        .map(|e| e["resource"]["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Bad bundles: not JSON, wrong resourceType, no Patient, and a real patient's bundle with one
/// dangling reference (his Patient renamed, so his registry entry would show if it leaked).
fn bad_bundles(dir: &Path, real: &Path) -> (Vec<PathBuf>, String, usize) {
    let not_json = dir.join("not-json.json");
    std::fs::write(&not_json, b"{\"resourceType\": \"Bundle\", \"entry\": [").expect("write");
    let wrong = dir.join("wrong-type.json");
    std::fs::write(
        &wrong,
        json!({"resourceType": "Patient", "id": "p"}).to_string(),
    )
    .expect("write");
    let no_patient = dir.join("no-patient.json");
    std::fs::write(
        &no_patient,
        json!({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation", "id": "o"}}]})
        .to_string(),
    )
    .expect("write");
    let raw = std::fs::read(real).expect("read");
    let mut v: Value =
        serde_json::from_slice(&medblock_fhir::decompress("x", &raw).expect("bz2")).expect("json");
    let entries = v["entry"].as_array_mut().expect("entries");
    let pid = format!(
        "broken-{}",
        entries[0]["resource"]["id"].as_str().expect("id")
    );
    entries[0]["resource"]["id"] = json!(pid);
    entries.push(json!({"fullUrl": "urn:uuid:bad-obs", "resource": {
        "resourceType": "Observation", "id": "bad-obs",
        "encounter": {"reference": "urn:uuid:missing"}}}));
    let bad_index = entries.len() - 1;
    let dangling = dir.join("dangling.json");
    std::fs::write(&dangling, v.to_string()).expect("write");
    (vec![not_json, wrong, no_patient, dangling], pid, bad_index)
}

#[test]
fn synthea_patients_import_into_two_hospitals_and_read_back_from_the_ledger() {
    let data = data_dir();
    let mut files: Vec<PathBuf> = medblock_node::import::bundle_files(std::slice::from_ref(&data))
        .expect("the shared FHIR data set is present");
    let directories: Vec<PathBuf> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("0-"))
        })
        .cloned()
        .collect();
    files.retain(|f| !directories.contains(f));
    let limit = std::env::var("MEDBLOCK_FHIR_PATIENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    files.truncate(limit);
    assert!(files.len() >= 2);
    let halves: [Vec<PathBuf>; 2] = [
        files.iter().step_by(2).cloned().collect(),
        files.iter().skip(1).step_by(2).cloned().collect(),
    ];
    let bad_dir = tempfile::tempdir().expect("tmp");
    let (bad, broken_patient, bad_index) = bad_bundles(bad_dir.path(), &halves[1][0]);

    let mut c = Cluster::create_with(specs(), test_params(), certify_departments);
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let urls: Vec<String> = ["h1", "h2"]
        .iter()
        .map(|h| common::api::serve(&c, h))
        .collect();

    // Every patient enrols at his hospital under the bundle's MR identifier, with keys made on
    // his side; h1 also knows the patients of the hand-made visits below.
    let mut identities: BTreeMap<String, Identity> = BTreeMap::new();
    for (half, url) in halves.iter().zip(&urls) {
        for path in half {
            let id = import_bytes("id", &std::fs::read(path).expect("read"))
                .expect("valid")
                .patient_id;
            identities.insert(id.clone(), common::enrol::enrol(url, &id));
        }
    }
    for id in ["atomic-patient", "walk-in"] {
        common::enrol::enrol(&urls[0], id);
    }

    // h1 gets its half, the bad bundles and an h2 patient's bundle (not enrolled at h1); h2 its
    // half and the two directory bundles.
    let not_enrolled = halves[1][0].clone();
    let not_enrolled_id = import_bytes("id", &std::fs::read(&not_enrolled).expect("read"))
        .expect("valid")
        .patient_id;
    let mut h1_paths = halves[0].clone();
    h1_paths.extend(bad.iter().cloned());
    h1_paths.push(not_enrolled.clone());
    let mut h2_paths = halves[1].clone();
    h2_paths.extend(directories.iter().cloned());
    let ((r1, s1), (r2, s2)) = std::thread::scope(|s| {
        let a = s.spawn(|| import(&urls[0], h1_paths));
        let b = s.spawn(|| import(&urls[1], h2_paths));
        (a.join().expect("h1 import"), b.join().expect("h2 import"))
    });

    // Bad bundles: refused by file (and entry), the rest imported.
    assert_eq!(s1.failed.len(), 5, "{:?}", s1.failed);
    for (file, why) in &s1.failed {
        assert!(
            bad.iter()
                .chain([&not_enrolled])
                .any(|b| b.display().to_string() == *file)
        );
        assert!(why.contains(file.as_str()), "{why}");
    }
    // The bundle of a patient not enrolled at h1: refused whole, naming file and patient.
    let refused = s1
        .failed
        .iter()
        .find(|(f, _)| *f == not_enrolled.display().to_string())
        .map(|(_, w)| w.clone())
        .expect("the bundle of a patient not enrolled is refused");
    assert!(
        refused.contains(&format!(
            "patient {not_enrolled_id} is not enrolled at hospital h1"
        )),
        "{refused}"
    );
    let why = |name: &str| {
        s1.failed
            .iter()
            .find(|(f, _)| f.ends_with(name))
            .map(|(_, w)| w.clone())
            .expect("refused")
    };
    assert!(why("not-json.json").contains("not JSON"));
    assert!(why("wrong-type.json").contains("resourceType is \"Patient\""));
    assert!(why("no-patient.json").contains("no entry is a Patient"));
    let dangling = why("dangling.json");
    assert!(
        dangling.contains(&format!("entry {bad_index} (urn:uuid:bad-obs)"))
            && dangling.contains("urn:uuid:missing"),
        "{dangling}"
    );
    assert_eq!(s2.skipped.len(), directories.len());
    assert!(s2.failed.is_empty(), "{:?}", s2.failed);
    assert_eq!(s1.patients, halves[0].len());
    assert_eq!(s1.events_submitted + s1.already_imported, {
        let good: usize = halves[0].iter().map(|p| encounter_ids(p).len()).sum();
        good
    });
    assert_eq!(s2.patients, halves[1].len());

    // Every encounter of every good bundle became one committed event.
    let mut expected: BTreeMap<String, (String, PathBuf, Vec<String>)> = BTreeMap::new();
    let mut max_height = 0;
    for ((results, half), hospital) in [(&r1, &halves[0]), (&r2, &halves[1])]
        .into_iter()
        .zip(["h1", "h2"])
    {
        for path in half {
            let r = results
                .iter()
                .find(|r| r.file == path.display().to_string())
                .expect("result per file");
            assert!(r.error.is_none(), "{:?}", r.error);
            let ids = encounter_ids(path);
            assert_eq!(r.encounter_ids, ids);
            assert_eq!(r.outcomes.len(), ids.len());
            for o in &r.outcomes {
                assert_eq!(o.outcome.status, "committed", "{o:?}");
                assert_eq!(o.outcome.hospital, hospital);
                assert_eq!(o.outcome.patient_key, r.patient_key);
                max_height = max_height.max(o.outcome.height);
            }
            expected.insert(
                r.patient_id.clone(),
                (hospital.to_owned(), path.clone(), ids),
            );
        }
    }
    let total: usize = expected.values().map(|(_, _, ids)| ids.len()).sum();
    assert_eq!(s1.events_submitted + s2.events_submitted, total);
    assert!(
        s1.departments.len() > 1,
        "encounters spread over departments: {:?}",
        s1.departments
    );

    // Importing a file again records nothing twice.
    let (_, again) = import(&urls[0], vec![halves[0][0].clone()]);
    assert_eq!(again.events_submitted, 0);
    assert_eq!(
        again.already_imported,
        expected
            .values()
            .find(|(_, p, _)| *p == halves[0][0])
            .map(|(_, _, ids)| ids.len())
            .unwrap_or(0)
    );

    // The node checks a whole import before storing any of it: one visit for a department
    // this hospital holds no key for, and the valid visit beside it is not stored either.
    let visit = |department: &str, record: &str| ImportVisit {
        patient: "atomic-patient".into(),
        department: department.into(),
        diagnosis: "d".into(),
        examination_results: String::new(),
        treatment_plan: String::new(),
        record_id: record.into(),
        emr: "{\"resourceType\":\"Bundle\",\"type\":\"collection\"}".into(),
    };
    let body = ImportBody {
        visits: vec![
            visit("primary-care", "Encounter/atomic-1"),
            visit("radiology", "Encounter/atomic-2"),
        ],
        wait: true,
        timeout_ms: 10_000,
    };
    let (status, text) = block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/import", urls[0]))
            .bearer_auth(common::api::token_for(&urls[0]).expect("token"))
            .json(&body)
            .send()
            .await
            .expect("node answers");
        (r.status(), r.text().await.unwrap_or_default())
    });
    assert_eq!(status.as_u16(), 400, "{text}");
    assert!(text.contains("radiology"), "{text}");

    // A visit entered by hand (no EMR of its own) is kept as a FHIR Bundle too.
    let h1 = c.node(c.index("h1")).node.clone();
    let typed = block_on(async move {
        h1.submit(
            vec![medblock_actors::client::Visit {
                patient: "walk-in".into(),
                diagnosis: "otitis media".into(),
                examination_results: "red eardrum".into(),
                treatment_plan: "amoxicillin".into(),
                emr: None,
                upload_within_ms: 0,
            }],
            true,
            Duration::from_secs(60),
        )
        .await
    })
    .expect("committed");
    max_height = max_height.max(typed[0].height);
    let typed_record = format!("{}/{}", typed[0].department, typed[0].sequence);

    // Every committer reaches the height of the last import.
    c.wait_for(
        "every node at the last import's height",
        Duration::from_secs(60),
        |st| {
            st.iter().all(|(_, s)| s.height >= max_height)
                && st
                    .iter()
                    .map(|(_, s)| &s.ledger_hash)
                    .collect::<BTreeSet<_>>()
                    .len()
                    == 1
        },
    );
    // `medblock patient fetch` over the network: an h1 patient's light node finds his records,
    // proves his key to h1, and gets an imported encounter's EMR, found through the event's link
    // (its record id is the Encounter's, not "<department>/<sequence>"); it is a FHIR Bundle
    // holding what was imported, and it hashes to the ledger's value.
    {
        let (patient_id, (hospital, path, _)) = expected
            .iter()
            .find(|(_, (h, _, _))| h == "h1")
            .expect("an h1 patient");
        assert_eq!(hospital, "h1");
        let patient = identities[patient_id].clone();
        let addr = |name: &str| c.node(c.index(name)).node.ctx.net.listen_addrs()[0].clone();
        let peers = [addr("n2"), addr("h1")];
        let genesis = c.genesis.clone();
        let source = import_bytes("source", &std::fs::read(path).expect("read")).expect("valid");
        let (record_id, emr) = block_on(async move {
            let me = patient.signing.public();
            let mut node = LightNode::start(patient, &genesis, &peers, Duration::from_secs(10))
                .await
                .expect("light node");
            let answer = node.records(&me).await.expect("records");
            let first = answer.records.first().expect("one record at least");
            let record = RecordRef {
                hospital: first.event.body.hospital.clone(),
                department: first.event.body.department.clone(),
                sequence: first.event.body.sequence,
            };
            let conn_peers = vec![peers[1].clone()];
            let (view, emr) = fetch_emr(&mut node, &me, &record, &conn_peers)
                .await
                .expect("the hospital serves the imported EMR to its patient");
            node.shutdown().await;
            let fhir = view
                .emr
                .clone()
                .expect("fetch --json carries the EMR as JSON");
            assert_eq!(fhir["resourceType"], "Bundle");
            assert_eq!(fhir["type"], "collection");
            (view.record_id, emr)
        });
        let rec = source
            .encounters
            .iter()
            .find(|r| r.record_id() == record_id)
            .expect("the fetched record is one of his encounters");
        assert_eq!(
            emr_resources("fetched", &emr).expect("a FHIR R4 Bundle"),
            record_resources(&source.bundle, rec)
        );
    }

    for i in c.running() {
        c.kill(i);
    }

    // Read back from n2's ledger and the hospitals' databases.
    let root = c.dir.path();
    let ledger = Ledger::open(
        &node_dir(root, "n2").join("data/ledger"),
        OpenCheck::HashChain,
        4096,
    )
    .expect("ledger");
    let emr: BTreeMap<&str, RocksEmrStore> = ["h1", "h2"]
        .into_iter()
        .map(|h| {
            (
                h,
                RocksEmrStore::open(&node_dir(root, h).join("data/emr")).expect("emr"),
            )
        })
        .collect();
    let mut checked = 0;
    for (patient_id, (hospital, path, ids)) in &expected {
        let patient = &identities[patient_id];
        let me = pseudonym(&patient.signing.public());
        let source = import_bytes("source", &std::fs::read(path).expect("read")).expect("valid");
        let mut records = Vec::new();
        for crumb in ledger.crumbs(&me).expect("crumbs") {
            let block = ledger.block(&crumb.block_id).expect("read").expect("block");
            let block = VerifiedBlock::verify(block, 4096).expect("verifies");
            for e in block.events.iter().filter(|e| {
                e.pseudonym == me
                    && e.body.department == crumb.department.department
                    && e.body.hospital == crumb.department.hospital
            }) {
                let summary =
                    sealing::open(&e.event.encrypted_summary, &e.binding(), &patient.sealing)
                        .expect("the patient opens his summary");
                let pointer = summary.pointer.clone().expect("pointer");
                assert_eq!(pointer.hospital, *hospital);
                assert_eq!(e.body.hospital, *hospital);
                let stored = emr[hospital.as_str()]
                    .get(&pointer.record_id)
                    .expect("EMR stored");
                assert_eq!(sha256(&stored).0.as_slice(), summary.emr_sha256.as_slice());
                let rec = source
                    .encounters
                    .iter()
                    .find(|r| r.record_id() == pointer.record_id)
                    .expect("the record is one of his encounters");
                assert_eq!(rec.department, e.body.department);
                assert_eq!(
                    emr_resources("emr", &stored).expect("FHIR"),
                    record_resources(&source.bundle, rec)
                );
                records.push(pointer.record_id);
                checked += 1;
            }
        }
        records.sort();
        let mut want: Vec<String> = ids.iter().map(|i| format!("Encounter/{i}")).collect();
        want.sort();
        assert_eq!(
            records, want,
            "patient {patient_id}: records are exactly his encounters"
        );
    }
    assert_eq!(checked, total);

    assert!(!emr["h1"].contains("Encounter/atomic-1").expect("read"));

    let typed_emr = emr["h1"].get(&typed_record).expect("stored");
    let typed_fhir = import_bytes("typed", &typed_emr).expect("a FHIR R4 Bundle");
    assert_eq!(typed_fhir.encounters.len(), 1);
    assert_eq!(typed_fhir.encounters[0].summary.diagnosis, "otitis media");

    // Nothing of the bad bundles (nor of the h2 patient's bundle) was stored at h1, and the
    // hospital keeps no registry entry for a patient who did not enrol.
    let registry =
        medblock_storage::PatientRegistry::open(&node_dir(root, "h1").join("data/registry"))
            .expect("registry");
    assert!(registry.get(&broken_patient).expect("read").is_none());
    assert!(registry.get(&not_enrolled_id).expect("read").is_none());
    assert_eq!(registry.len().expect("len"), halves[0].len() + 2);
    let broken_ids = encounter_ids(&halves[1][0]);
    for id in &broken_ids {
        assert!(
            !emr["h1"]
                .contains(&format!("Encounter/{id}"))
                .expect("read")
        );
    }
}
