//! Issue 19's attacks on a network of `medblock node run` processes, through the commands
//! people type: `testnet up` (10 processes: 4 orderers, two regions with two endorser
//! candidates each, a department in each region), one node's `node.toml` given a `[byzantine]`
//! section, that node restarted with `MEDBLOCK_ALLOW_BYZANTINE=1` (`testnet perturb NODE
//! restart`), then `testnet chaos` with no perturbation: visits at 10 a second through both
//! departments, each answered at commit.
//!
//! What every attack must leave (f = 1): nothing acknowledged lost or on the ledger twice,
//! every ledger agreeing, the network converged, commits going on (the best height's longest
//! stall within [`STALL_BOUND_S`]), and the misbehaviour counted by reason in the honest nodes'
//! `medblock_rejected_inputs_total` on `/metrics`. The in-process tests (`byzantine_*.rs`) run
//! every switch through one harness; these run the binary a hospital runs.
//!
//! A node with a `[byzantine]` section and no permission refuses to start (unit-tested in
//! `node/src/run.rs`); here the permission comes from the environment of the command that
//! restarts it, which the node process inherits.

use std::path::Path;
use std::process::Command;

mod common;

use common::bin::{Down, medblock, run_env};

/// The longest stall of the best height the tests accept, seconds: the testnet's view-change
/// timeout (2 s) plus room for a loaded 2-core CI machine. Without the orderers' checks the
/// chain stops for good (see `byzantine_blocks.rs`), far past it.
const STALL_BOUND_S: f64 = 5.0;

/// Every honest node's `rejected_inputs_total{reason}`, summed, read from `/metrics`.
fn rejected(dir: &Path, byzantine: &str, reason: &str) -> u64 {
    let status = common::testnet_cli::status(&dir.display().to_string());
    let nodes = status["nodes"].as_array().expect("nodes").clone();
    let label = format!("reason=\"{reason}\"");
    let mut total = 0.0;
    for n in nodes {
        let name = n["name"].as_str().expect("name");
        if name == byzantine {
            continue;
        }
        let url = format!("{}/metrics", common::testnet_cli::http_of(&status, name));
        let text = common::cluster::block_on(async move {
            reqwest::get(&url)
                .await
                .expect("the node answers")
                .text()
                .await
                .expect("metrics text")
        });
        total += text
            .lines()
            .filter(|l| l.starts_with("medblock_rejected_inputs_total{") && l.contains(&label))
            .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
            .sum::<f64>();
    }
    total as u64
}

/// Turns `node` Byzantine: its `node.toml` gains `[byzantine]` with `switch`, and it restarts
/// with the permission in its environment.
fn turn_byzantine(dir: &Path, node: &str, switch: &str) {
    let toml = dir.join("nodes").join(node).join("node.toml");
    let mut text = std::fs::read_to_string(&toml).expect("node.toml");
    assert!(!text.contains("[byzantine]"), "{text}");
    text.push_str(&format!("\n[byzantine]\n{switch}\n"));
    std::fs::write(&toml, text).expect("write node.toml");
    let d = dir.display().to_string();
    run_env(
        &["testnet", "perturb", node, "restart", "--dir", &d],
        &[("MEDBLOCK_ALLOW_BYZANTINE", "1")],
    );
}

/// `testnet chaos` with no perturbation: load through both departments for `seconds`, then
/// the checks; its JSON report.
fn load(dir: &Path, out: &Path, seconds: u32) -> serde_json::Value {
    let out = Command::new(medblock())
        .args([
            "testnet",
            "chaos",
            "--dir",
            &dir.display().to_string(),
            "--kills",
            "0",
            "--pauses",
            "0",
            "--disconnects",
            "0",
            "--load",
            "10",
            "--warmup",
            &seconds.to_string(),
            "--seed",
            "1",
            "--out",
            &out.display().to_string(),
            "--json",
        ])
        .output()
        .expect("medblock runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "testnet chaos failed ({:?}):\n{stdout}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        common::testnet_cli::logs_tail(dir)
    );
    serde_json::from_str(&stdout).expect("chaos --json prints JSON")
}

/// One attack: `node` misbehaves by `switch`; the checks above, and `reason` counted.
fn attack(node: &str, switch: &str, reason: &str) {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let _down = Down(dir.clone());
    common::testnet_cli::up(&dir, 10, 2, 4);
    turn_byzantine(&dir, node, switch);
    let r = load(&dir, &root.path().join("results"), 25);
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r:#}"));
    let stall = r["stall"]["max_s"].as_f64().expect("stall.max_s");
    let counted = rejected(&dir, node, reason);
    eprintln!(
        "{node} with {switch}: sent {}, acknowledged {}, lost {}, duplicated {}, longest stall {stall:.2}s, {reason} counted {counted}",
        n("sent"),
        n("acknowledged"),
        n("lost"),
        n("duplicated"),
    );
    assert!(n("acknowledged") > 0, "{r:#}");
    assert_eq!(n("lost"), 0, "{:#}", r["lost_examples"]);
    assert_eq!(n("duplicated"), 0, "{r:#}");
    assert_eq!(r["agree"], true, "{r:#}");
    assert_eq!(r["converged"], true, "{r:#}");
    assert!(
        stall <= STALL_BOUND_S,
        "commits stalled {stall:.2}s (bound {STALL_BOUND_S}s): {r:#}"
    );
    assert!(counted > 0, "no {reason} counted by the honest nodes");
}

#[test]
fn an_orderer_process_signing_votes_for_two_blocks_is_seen_and_the_chain_goes_on() {
    attack("orderer-3", "equivocate_votes = true", "equivocation");
}

#[test]
fn a_primary_process_reproposing_committed_events_is_refused_and_the_chain_goes_on() {
    attack(
        "r1-endorser-a",
        "propose_duplicates = true",
        "invalid_proposal",
    );
}
