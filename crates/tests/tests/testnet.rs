//! `medblock testnet` end to end: an 8-process network comes up and commits, its `/metrics`
//! move as blocks commit and export every metric the Grafana dashboard queries, it survives a
//! node killed and restarted and a node added and another removed, and every ledger stays equal.
//! Everything goes through the commands people type (`medblock testnet ...`, `client submit`).

use medblock_monitoring::dashboard::{DASHBOARD_JSON, expressions, metric_names};
use std::path::Path;

mod common;

use common::bin::{Down, run, run_env};
use common::testnet_cli::{converged_at, height, http_of, submit, wait_status};

fn scrape(url: &str) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(medblock_testnet::http::metrics(url))
        .expect("/metrics answers")
}

/// The value of the series `name{node=...}` (unlabelled apart from `node`) in an exposition.
fn value(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && !l.contains(",le="))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not exported:\n{text}"))
}

#[test]
fn an_eight_process_testnet_commits_survives_churn_and_keeps_every_ledger_equal() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());

    // Up: CA, certificates, genesis, 8 processes, first block committed everywhere.
    let up: serde_json::Value = serde_json::from_str(&run(&[
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
        "--json",
    ]))
    .expect("up prints JSON");
    let nodes = up["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 8);
    for n in nodes {
        for field in [
            "name", "roles", "region", "p2p", "http", "height", "tip_hash", "healthy",
        ] {
            assert!(!n[field].is_null(), "{field} missing in {n}");
        }
        assert!(n["height"].as_u64().is_some_and(|h| h >= 1), "{n}");
    }
    assert_eq!(up["agree"], true);
    assert!(dir.join("prometheus.yml").exists());
    // The demo patients' keys are on the patient side, and no department holds patient keys.
    assert_eq!(
        medblock_testnet::patients::key_files(
            &medblock_testnet::state::TestnetState::load(&dir).expect("state")
        )
        .len(),
        10
    );
    for n in ["st-mary-cardiology", "riverside-radiology"] {
        let held = dir.join("nodes").join(n).join("data").join("patients");
        assert!(
            std::fs::read_dir(&held).map_or(true, |d| d.count() == 0),
            "{} holds patient key files",
            held.display()
        );
    }
    let prom = std::fs::read_to_string(dir.join("prometheus.yml")).expect("prometheus.yml");
    for n in nodes {
        assert!(prom.contains(n["http"].as_str().expect("http")), "{prom}");
    }

    let s = wait_status(&dir, "all 8 at one height", |s| converged_at(s, 8, 1));
    let dept = http_of(&s, "st-mary-cardiology");
    let orderer = http_of(&s, "orderer-1");

    // Every metric the Grafana dashboard queries is exported by a running node.
    let before = scrape(&orderer);
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD_JSON).expect("dashboard");
    let exprs = expressions(&dashboard);
    assert!(!exprs.is_empty());
    for e in &exprs {
        for name in metric_names(e) {
            assert!(
                before.lines().any(|l| l.starts_with(&format!("{name}{{"))),
                "dashboard query {e} reads {name}, which the node does not export"
            );
        }
    }

    // Metrics move as blocks commit.
    let dept_before = scrape(&dept);
    submit(&dir, &dept, "metrics", 20);
    let s = wait_status(&dir, "the visits everywhere", |s| {
        converged_at(s, 8, height(s).max(2))
    });
    let after = scrape(&orderer);
    let dept_after = scrape(&dept);
    assert!(
        value(&after, "medblock_blocks_committed_total")
            > value(&before, "medblock_blocks_committed_total")
    );
    assert!(value(&after, "medblock_height") > value(&before, "medblock_height"));
    assert!(
        value(&after, "medblock_events_committed_total")
            >= value(&before, "medblock_events_committed_total") + 20.0
    );
    assert!(
        value(&dept_after, "medblock_submit_to_commit_seconds_count")
            >= value(&dept_before, "medblock_submit_to_commit_seconds_count") + 20.0
    );
    let h = height(&s);

    // Kill an orderer (a crash): the others keep committing; restarted, it catches up.
    run(&["testnet", "kill", "orderer-4", "--dir", &d]);
    submit(&dir, &dept, "killed", 10);
    // Restarted with JSON logs: every new line is a JSON object naming the node.
    let log = dir.join("logs").join("orderer-4.log");
    let text_lines = std::fs::read_to_string(&log).expect("log").lines().count();
    run_env(
        &["testnet", "restart", "orderer-4", "--dir", &d],
        &[("MEDBLOCK_LOG_FORMAT", "json")],
    );
    let s = wait_status(&dir, "orderer-4 caught up", |s| converged_at(s, 8, h + 1));
    let text = std::fs::read_to_string(&log).expect("log");
    let (before_restart, after_restart) =
        text.lines()
            .enumerate()
            .fold((Vec::new(), Vec::new()), |(mut b, mut a), (i, l)| {
                if i < text_lines {
                    b.push(l)
                } else {
                    a.push(l)
                }
                (b, a)
            });
    assert!(
        before_restart
            .iter()
            .filter(|l| !l.starts_with(' ') && !l.is_empty())
            .all(|l| l.starts_with("[orderer-4] ")),
        "text lines name their node"
    );
    assert!(!after_restart.is_empty());
    for l in after_restart {
        let v: serde_json::Value = serde_json::from_str(l).expect("a JSON log line");
        assert_eq!(v["node"], "orderer-4", "{l}");
    }
    let h = height(&s);

    // Add a committer that was not in genesis: it catches up; then remove a founding node
    // (the second hospital's department: its certificate is revoked and gossiped, its
    // process stopped, and the rest keep committing).
    run(&[
        "testnet",
        "add",
        "committer-x",
        "--dir",
        &d,
        "--region",
        "region-2",
        "--roles",
        "committer",
    ]);
    wait_status(&dir, "committer-x caught up", |s| converged_at(s, 9, h));
    run(&["testnet", "remove", "riverside-radiology", "--dir", &d]);
    submit(&dir, &dept, "removed", 10);
    let s = wait_status(&dir, "8 members after the removal", |s| {
        converged_at(s, 8, h + 1)
    });
    let names: Vec<&str> = s["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&"committer-x") && !names.contains(&"riverside-radiology"));
    let ledgers: Vec<&str> = s["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["ledger_hash"].as_str())
        .collect();
    assert!(ledgers.windows(2).all(|w| w[0] == w[1]), "{ledgers:?}");

    // Down stops every process.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).expect("state"))
            .expect("state json");
    let pids: Vec<u64> = state["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .collect();
    assert_eq!(pids.len(), 8);
    run(&["testnet", "down", "--dir", &d]);
    for p in pids {
        assert!(
            !Path::new(&format!("/proc/{p}")).exists()
                || std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| s.contains(") Z")),
            "process {p} still running"
        );
    }
}
