//! A new hospital in a new region joins a running network with one command (issue 18): `testnet
//! add` puts the region on the ledger, certifies the hospital's node (endorser candidate,
//! committer and department) on the ledger, and the region takes turns: its endorser proposes
//! the department's visits (a department uploads only through its own region's endorser). An
//! existing patient's light node then finds the new hospital's record beside his older ones.
//! Everything goes through the commands people type, on `medblock node run` processes.

use std::path::Path;

mod common;

use common::bin::{Down, medblock, run};
use common::testnet_cli::{converged_at, height, http_of, submit, wait_status};

/// `patient records --json` for `patient` through the first two nodes' addresses.
fn records(dir: &Path, patient: &str) -> serde_json::Value {
    let state = medblock_testnet::state::TestnetState::load(dir).expect("state");
    let mut cmd = std::process::Command::new(medblock());
    cmd.args(["patient", "records", "--json", "--key"])
        .arg(dir.join("patients").join(format!("{patient}.key")))
        .arg("--genesis")
        .arg(state.genesis());
    for n in state.members().take(2) {
        cmd.arg("--peer").arg(n.multiaddr());
    }
    let out = cmd.output().expect("the light node runs");
    assert!(
        out.status.success(),
        "patient records failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("records JSON")
}

#[test]
fn a_new_hospital_in_a_new_region_joins_with_one_command_and_its_records_are_found() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    common::testnet_cli::up(&dir, 8, 2, 4);
    let s = wait_status(&dir, "all 8 at one height", |s| converged_at(s, 8, 1));
    let old = http_of(&s, "st-mary-cardiology");
    submit(&dir, &old, "before", 5);

    // One command: region-3 on the ledger, then the hospital's node certified there.
    run(&[
        "testnet",
        "add",
        "lakeside-cardiology",
        "--dir",
        &d,
        "--region",
        "region-3",
        "--roles",
        "client,endorser,committer",
        "--hospital",
        "lakeside",
        "--department",
        "cardiology",
        "--timeout",
        "120",
    ]);
    let s = wait_status(&dir, "9 members at one height", |s| {
        converged_at(s, 9, height(s))
    });
    let node = s["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "lakeside-cardiology"))
        .cloned()
        .expect("the new node in status");
    assert_eq!(node["region"], "region-3", "{node:#}");
    // `testnet status` shows roles as of now, from the ledger: the newcomer's certificate
    // went on it after genesis, the founders' are genesis'.
    assert!(
        node["ledger"]
            .as_str()
            .is_some_and(|l| l.starts_with("certified at ")),
        "{node:#}"
    );
    assert_eq!(
        node["roles"],
        serde_json::json!(["client", "endorser", "committer"]),
        "{node:#}"
    );
    let founder = s["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "orderer-1"))
        .cloned()
        .expect("orderer-1 in status");
    assert_eq!(founder["ledger"], "genesis", "{founder:#}");

    // Its department uploads: only region-3's endorser (itself) takes its visits, so they
    // commit only if the new region takes turns.
    let new = http_of(&s, "lakeside-cardiology");
    submit(&dir, &new, "after", 5);
    let s = wait_status(&dir, "the new visits everywhere", |s| {
        converged_at(s, 9, height(s))
    });
    assert_eq!(s["agree"], true);

    // An existing patient (enrolled at the new hospital by `testnet add`) finds its record
    // beside his older ones, every record checked by his light node.
    let list = records(&dir, &medblock_testnet::patients::name(0));
    let hospitals: std::collections::BTreeSet<&str> = list
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["hospital"].as_str())
        .collect();
    assert!(
        hospitals.contains("lakeside") && hospitals.contains("st-mary"),
        "{list:#}"
    );
}
