//! `medblock testnet` through the commands people type: the status it prints, waiting for a
//! converged network, and visits submitted through a department with `client submit`.

#![allow(dead_code)]

use super::bin::run;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn status(dir: &str) -> serde_json::Value {
    serde_json::from_str(&run(&["testnet", "status", "--dir", dir, "--json"])).expect("json")
}

pub fn logs_tail(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(entries) = std::fs::read_dir(dir.join("logs")) {
        for e in entries.flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            let tail: String = text.lines().rev().take(8).collect::<Vec<_>>().join("\n");
            out.push_str(&format!("--- {}\n{tail}\n", e.path().display()));
        }
    }
    out
}

/// Polls `testnet status --json` until `cond` holds.
pub fn wait_status(
    dir: &Path,
    what: &str,
    cond: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let d = dir.display().to_string();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let s = status(&d);
        if cond(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#}\n{}",
            logs_tail(dir)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every member healthy, at least `height`, all at one height with one tip and one ledger.
pub fn converged_at(s: &serde_json::Value, members: usize, height: u64) -> bool {
    let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
    s["agree"] == true
        && s["converged"] == true
        && nodes.len() == members
        && nodes
            .iter()
            .all(|n| n["healthy"] == true && n["height"].as_u64().is_some_and(|h| h >= height))
}

pub fn height(s: &serde_json::Value) -> u64 {
    s["nodes"]
        .as_array()
        .and_then(|n| n.iter().filter_map(|n| n["height"].as_u64()).min())
        .unwrap_or(0)
}

pub fn http_of(s: &serde_json::Value, name: &str) -> String {
    s["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .and_then(|n| n["http"].as_str())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| panic!("{name} not in status {s:#}"))
}

/// Submits `count` visits of the demo patients (`testnet up` enrolled them at every hospital)
/// through the department and returns once they are committed.
pub fn submit(dir: &Path, url: &str, tag: &str, count: usize) {
    let visits: Vec<serde_json::Value> = (0..count)
        .map(|i| serde_json::json!({"patient": medblock_testnet::patients::name(i as u64 % 5), "diagnosis": format!("{tag} visit {i}")}))
        .collect();
    let file = dir.join(format!("{tag}.json"));
    std::fs::write(&file, serde_json::to_vec(&visits).expect("json")).expect("write");
    let out = run(&[
        "client",
        "submit",
        "--node",
        url,
        "--file",
        &file.display().to_string(),
        "--timeout",
        "180",
        "--testnet-dir",
        &dir.display().to_string(),
        "--json",
    ]);
    let out: serde_json::Value = serde_json::from_str(&out).expect("json");
    let committed = out
        .as_array()
        .map(|a| a.iter().filter(|o| o["status"] == "committed").count())
        .unwrap_or(0);
    assert_eq!(committed, count, "{out:#}");
}

/// `testnet up` in `dir` with `nodes` nodes over `regions` regions and `orderers` orderers, no
/// demo traffic; its JSON answer.
pub fn up(dir: &Path, nodes: usize, regions: usize, orderers: usize) -> serde_json::Value {
    let (d, n, r, o) = (
        dir.display().to_string(),
        nodes.to_string(),
        regions.to_string(),
        orderers.to_string(),
    );
    let out = run(&[
        "testnet",
        "up",
        "--dir",
        &d,
        "--nodes",
        &n,
        "--regions",
        &r,
        "--orderers",
        &o,
        "--traffic",
        "0",
        "--json",
    ]);
    serde_json::from_str(&out).expect("testnet up prints JSON")
}
