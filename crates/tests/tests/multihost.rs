//! Many hosts for real, on one machine (issue 21): `testnet up --hosts` puts each of 8 nodes
//! in its own Linux network namespace with its own address on a virtual bridge. The test checks
//! that nothing listens on 127.0.0.1, that each node was given one bootstrap address (Kademlia
//! finds the rest), that the network commits visits through both regions' hospitals, survives
//! a host's node killed and restarted with every ledger agreeing, and that a patient's light
//! node in a namespace of its own reads his records from both hospitals across hosts.
//!
//! Needs root (namespaces and veth); `.ci/run` runs as root on these machines.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::bin::{Down, medblock, run};

fn status(dir: &str) -> serde_json::Value {
    serde_json::from_str(&run(&["testnet", "status", "--dir", dir, "--json"])).expect("json")
}

fn converged(dir: &str, members: usize, height: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let s = status(dir);
        let nodes = s["nodes"].as_array().cloned().unwrap_or_default();
        if s["agree"] == true
            && s["converged"] == true
            && nodes.len() == members
            && nodes
                .iter()
                .all(|n| n["healthy"] == true && n["height"].as_u64().is_some_and(|h| h >= height))
        {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "not converged at {height}: {s:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).expect("state"))
        .expect("state json")
}

/// Visits of demo patients 0..5 through the department at `url`, all committed.
fn submit(dir: &Path, url: &str, tag: &str, count: usize) {
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

fn url_of(s: &serde_json::Value, name: &str) -> String {
    s["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .and_then(|n| n["http"].as_str())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| panic!("{name} not in {s:#}"))
}

#[test]
fn eight_hosts_in_two_regions_commit_survive_a_kill_and_serve_a_light_node_across_hosts() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    run(&[
        "testnet",
        "up",
        "--hosts",
        "--dir",
        &d,
        "--nodes",
        "8",
        "--regions",
        "2",
        "--orderers",
        "4",
    ]);
    let st = state(&dir);
    let subnet = st["hosts"]["subnet"]
        .as_str()
        .expect("hosts' subnet")
        .to_owned();
    let nodes = st["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 8);

    // Each node is alone in its namespace, listening on its own address only, and was given
    // one bootstrap address.
    let mut ips = std::collections::HashSet::new();
    for n in &nodes {
        let ns = n["host"]["netns"].as_str().expect("netns");
        let ip = n["host"]["ip"].as_str().expect("ip");
        assert!(ip.starts_with(&format!("{subnet}.")), "{ip}");
        assert!(ips.insert(ip.to_owned()), "{ip} given twice");
        let out = Command::new("ip")
            .args(["netns", "exec", ns, "ss", "-ltnH"])
            .output()
            .expect("ss in the namespace");
        let listening = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            listening.contains(&format!("{ip}:7000")),
            "{ns}: {listening}"
        );
        assert!(
            listening.contains(&format!("{ip}:8080")),
            "{ns}: {listening}"
        );
        assert!(!listening.contains("127.0.0.1"), "{ns}: {listening}");
        let toml =
            std::fs::read_to_string(Path::new(n["dir"].as_str().expect("dir")).join("node.toml"))
                .expect("node.toml");
        let boot = toml
            .lines()
            .find(|l| l.starts_with("bootstrap"))
            .expect("bootstrap line");
        assert_eq!(
            boot.matches("/p2p/").count(),
            1,
            "{}: {boot}",
            n["spec"]["name"]
        );
    }

    // Every node found every other through one bootstrap address and Kademlia.
    let s = converged(&d, 8, 1);
    for n in s["nodes"].as_array().expect("nodes") {
        assert!(n["peers"].as_u64().is_some_and(|p| p >= 7), "{n}");
    }
    let st_mary = url_of(&s, "st-mary-cardiology");
    let riverside = url_of(&s, "riverside-radiology");
    submit(&dir, &st_mary, "r1", 10);
    submit(&dir, &riverside, "r2", 10);

    // A host's node dies under load; the others commit; it comes back and catches up.
    run(&["testnet", "kill", "orderer-2", "--dir", &d]);
    submit(&dir, &st_mary, "during-kill", 10);
    run(&["testnet", "restart", "orderer-2", "--dir", &d]);
    submit(&dir, &riverside, "after-restart", 10);
    let tip = status(&d)["nodes"]
        .as_array()
        .and_then(|n| n.iter().filter_map(|n| n["height"].as_u64()).max())
        .unwrap_or(0);
    converged(&d, 8, tip);

    // A patient's light node on the client host reads his records from both hospitals.
    let client_ns = format!("mb{}-c", st["hosts"]["id"].as_str().expect("id"));
    let peer = nodes
        .iter()
        .find(|n| n["spec"]["name"] == "r2-endorser-a")
        .map(|n| {
            format!(
                "/ip4/{}/tcp/7000/p2p/{}",
                n["host"]["ip"].as_str().expect("ip"),
                n["peer_id"].as_str().expect("peer id")
            )
        })
        .expect("r2-endorser-a");
    let out = Command::new("ip")
        .args(["netns", "exec", &client_ns])
        .arg(medblock())
        .args([
            "patient",
            "records",
            "--key",
            &dir.join("patients/patient-01.key").display().to_string(),
            "--genesis",
            &dir.join("genesis.pb").display().to_string(),
            "--peer",
            &peer,
            "--json",
        ])
        .output()
        .expect("light node runs");
    assert!(
        out.status.success(),
        "light node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("st-mary") && text.contains("riverside"),
        "{text}"
    );
    eprintln!(
        "light node on {client_ns} read: {}",
        text.chars().take(400).collect::<String>()
    );
}
