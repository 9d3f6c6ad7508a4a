//! `medblock testnet up --nodes N` for small N: four processes make the classic 4-node BFT
//! network (one region, every node an orderer, two of them endorser candidates, one also the
//! hospital department), print their layout, commit the first block and more visits through
//! the department that is also an orderer, and agree; too few nodes are refused with the
//! smallest number that works, before anything is created.

use std::path::Path;
use std::process::Command;

mod common;

use common::bin::{Down, medblock, run};

fn status(dir: &str) -> serde_json::Value {
    serde_json::from_str(&run(&["testnet", "status", "--dir", dir, "--json"])).expect("json")
}

#[test]
fn four_nodes_share_roles_commit_and_agree() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());

    let out = Command::new(medblock())
        .args(["testnet", "up", "--dir", &d, "--nodes", "4", "--json"])
        .output()
        .expect("medblock runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "testnet up failed:\n{stderr}");
    // The layout is printed before the nodes start: one line per node.
    assert!(
        stderr.contains("layout: 4 nodes, 1 region(s), 4 orderers"),
        "{stderr}"
    );
    for line in [
        "orderer-1  orderer,endorser,committer",
        "orderer-2  orderer,endorser,committer",
        "orderer-3  orderer,committer",
        "orderer-4  orderer,committer,client",
    ] {
        assert!(stderr.contains(line), "{line:?} not printed:\n{stderr}");
    }
    let up: serde_json::Value = serde_json::from_slice(&out.stdout).expect("up prints JSON");
    let nodes = up["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4, "{up:#}");
    assert_eq!(up["agree"], true, "{up:#}");
    for n in nodes {
        assert_eq!(n["region"], "region-1", "{n}");
        assert!(
            n["roles"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r == "orderer")),
            "{n}"
        );
        assert!(n["height"].as_u64().is_some_and(|h| h >= 1), "{n}");
    }
    let dept = nodes
        .iter()
        .find(|n| n["name"] == "orderer-4")
        .and_then(|n| n["http"].as_str())
        .map(|h| format!("http://{h}"))
        .expect("orderer-4's address");

    // More visits through the orderer that is also the hospital department.
    let visits: Vec<serde_json::Value> = (0..3u64)
        .map(|i| {
            serde_json::json!({
                "patient": medblock_testnet::patients::name(i),
                "diagnosis": format!("layout visit {i}"),
            })
        })
        .collect();
    let file = root.path().join("visits.json");
    std::fs::write(&file, serde_json::to_vec(&visits).expect("json")).expect("write");
    let submitted: serde_json::Value = serde_json::from_str(&run(&[
        "client",
        "submit",
        "--node",
        &dept,
        "--file",
        &file.display().to_string(),
        "--timeout",
        "60",
        "--testnet-dir",
        &d,
        "--json",
    ]))
    .expect("json");
    let committed = submitted
        .as_array()
        .map(|a| a.iter().filter(|o| o["status"] == "committed").count())
        .unwrap_or(0);
    assert_eq!(committed, 3, "{submitted:#}");

    // Every node reaches the visits' block and the ledgers agree.
    let target = submitted
        .as_array()
        .and_then(|a| a.iter().filter_map(|o| o["height"].as_u64()).max())
        .unwrap_or(2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let s = status(&d);
        let all = s["nodes"].as_array().is_some_and(|n| {
            n.len() == 4
                && n.iter().all(|n| {
                    n["healthy"] == true && n["height"].as_u64().is_some_and(|h| h >= target)
                })
        });
        if all && s["agree"] == true {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every node reached height {target}: {s:#}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    let stopped = run(&["testnet", "down", "--dir", &d]);
    assert!(stopped.contains("stopped 4 nodes"), "{stopped}");
}

#[test]
fn too_few_nodes_are_refused_with_the_smallest_that_works() {
    let root = tempfile::tempdir().expect("dir");
    for (args, smallest) in [
        (&["--nodes", "3"][..], "--nodes 4"),
        (&["--nodes", "5", "--regions", "6"][..], "--nodes 6"),
        (&["--nodes", "6", "--orderers", "7"][..], "--nodes 7"),
    ] {
        let dir = root.path().join("refused");
        let out = Command::new(medblock())
            .args(["testnet", "up", "--dir", &dir.display().to_string()])
            .args(args)
            .output()
            .expect("medblock runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(smallest), "{args:?}: {stderr}");
        assert!(
            !Path::new(&dir).exists(),
            "{args:?} created {}",
            dir.display()
        );
    }
}
