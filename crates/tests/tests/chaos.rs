//! `medblock testnet chaos` on a real network of `medblock node run` processes (`testnet up
//! --nodes 8 --regions 2 --orderers 4`: four orderers, an endorser and a department in each
//! region), through the command people type.
//!
//! Visits go in at 10 a second through both departments, each answered at commit, while 28
//! perturbations hit one node at a time, departments included (seeded: 20 kills with a restart
//! 0.5-2 s later, 4 SIGSTOP/SIGCONT pauses, 4 p2p disconnects, 1-2 s apart). Then: nothing
//! acknowledged is missing from any ledger or at another place than acknowledged, no visit is
//! on the ledger twice, every ledger agrees, the network converged, and the best height moved
//! again soon after every perturbation.
//!
//! The recovery bound: p99 at most [`RECOVERY_P99_BOUND_S`]. Measured on this 2-core machine
//! (seed 20): p99 0.46 s, max 0.46 s, longest stall of the best height 1.8 s, 900 of 901 visits
//! acknowledged; issue 20's goal is 2 s, the bound leaves room for a loaded CI machine and
//! fails when the goal is badly missed (the stalls of 31-91 s issue 20 measured).

use std::process::Command;
use std::time::Instant;

mod common;

use common::bin::{Down, medblock};

/// The largest p99 recovery time (seconds) the test accepts.
const RECOVERY_P99_BOUND_S: f64 = 5.0;

#[test]
fn chaos_with_departments_loses_nothing_and_recovers_within_the_bound() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    common::testnet_cli::up(&dir, 8, 2, 4);
    let out_dir = root.path().join("results");
    let started = Instant::now();
    let out = Command::new(medblock())
        .args([
            "testnet",
            "chaos",
            "--dir",
            &d,
            "--kills",
            "20",
            "--pauses",
            "4",
            "--disconnects",
            "4",
            "--include-departments",
            "--load",
            "10",
            "--every",
            "1-2",
            "--hold",
            "0.5-2",
            "--seed",
            "20",
            "--out",
            &out_dir.display().to_string(),
            "--json",
        ])
        .output()
        .expect("medblock runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "testnet chaos failed ({:?}):\n{stdout}\n{stderr}\n{}",
        out.status,
        common::testnet_cli::logs_tail(&dir)
    );
    // Its progress (every perturbation, every 5 s the figures so far) for the test's log.
    eprintln!("{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).expect("chaos --json prints JSON");
    let n = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r:#}"));
    let f = |a: &str, b: &str| {
        r[a][b]
            .as_f64()
            .unwrap_or_else(|| panic!("{a}.{b} in {r:#}"))
    };
    eprintln!(
        "chaos took {:.0}s: sent {}, acknowledged {}, lost {}, duplicated {}, stall p50 {:.2}s p99 {:.2}s max {:.2}s, recovery p50 {:.2}s p99 {:.2}s max {:.2}s",
        took.as_secs_f64(),
        n("sent"),
        n("acknowledged"),
        n("lost"),
        n("duplicated"),
        f("stall", "p50_s"),
        f("stall", "p99_s"),
        f("stall", "max_s"),
        f("recovery", "p50_s"),
        f("recovery", "p99_s"),
        f("recovery", "max_s"),
    );

    // What was done: 28 perturbations, 20 of them kills, departments among the nodes hit.
    let rows = r["perturbations"].as_array().expect("perturbations");
    assert_eq!(rows.len(), 28, "{r:#}");
    let kills = rows.iter().filter(|p| p["kind"] == "kill").count();
    assert_eq!(kills, 20, "{r:#}");
    assert!(
        rows.iter().any(|p| p["roles"] == "client"),
        "no department perturbed: {r:#}"
    );
    assert!(
        rows.iter().all(|p| p["error"] == ""),
        "a perturbation failed: {r:#}"
    );

    // Nothing acknowledged lost, nothing twice, one chain, converged.
    assert!(n("acknowledged") > 0, "{r:#}");
    assert!(n("acknowledged") <= n("sent"), "{r:#}");
    assert_eq!(n("lost"), 0, "{:#}", r["lost_examples"]);
    assert_eq!(n("duplicated"), 0, "{r:#}");
    assert_eq!(r["agree"], true, "{r:#}");
    assert_eq!(r["converged"], true, "{r:#}");
    // Most visits are answered: a perturbed department's visits in flight may go unanswered.
    assert!(
        n("acknowledged") * 10 >= n("sent") * 9,
        "fewer than 90% acknowledged: {r:#}"
    );

    // Progress after every perturbation, and soon.
    assert_eq!(r["never_recovered"], 0, "{r:#}");
    assert!(
        f("recovery", "p99_s") <= RECOVERY_P99_BOUND_S,
        "p99 recovery {:.2}s > {RECOVERY_P99_BOUND_S}s: {r:#}",
        f("recovery", "p99_s")
    );

    // The results folder.
    for file in [
        "timeline.csv",
        "perturbations.csv",
        "acknowledged.csv",
        "summary.json",
        "timeline.png",
    ] {
        let p = out_dir.join(file);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} missing or empty", p.display());
    }
    let png = std::fs::read(out_dir.join("timeline.png")).expect("png");
    assert_eq!(png.get(..4), Some(&b"\x89PNG"[..]));
    let acked = std::fs::read_to_string(out_dir.join("acknowledged.csv")).expect("csv");
    assert_eq!(
        acked.lines().count() as u64,
        n("acknowledged") + 1,
        "one line per acknowledged visit, and a header"
    );
    let timeline = std::fs::read_to_string(out_dir.join("timeline.csv")).expect("csv");
    assert!(timeline.starts_with("time_s,best_height,event"));
    assert!(timeline.contains("kill "), "no kill in the timeline");

    // And `testnet status` agrees afterwards.
    let s = common::testnet_cli::status(&d);
    assert_eq!(s["agree"], true, "{s:#}");
}
