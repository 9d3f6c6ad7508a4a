//! `medblock bench` end to end: a testnet of node processes comes up with its demo traffic, the
//! benchmark drives it (burst, an open-loop run, Table 4, Table 5's day twice) and writes its
//! results folder; the report's figures must hang together and the demo traffic must be running
//! again afterwards.

use std::path::{Path, PathBuf};

mod common;

use common::bin::{Down, run};

fn num(v: &serde_json::Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in the report"))
}

/// The numbers of a JSON array (panics naming `what` if it is not one).
fn u64s(v: &serde_json::Value, what: &str) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("{what} is not an array in the report"))
        .iter()
        .filter_map(|n| n.as_u64())
        .collect()
}

fn is_png(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(b"\x89PNG\r\n\x1a\n") && b.len() > 1000)
}

#[test]
fn bench_drives_a_running_testnet_and_writes_its_results_folder() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    run(&["testnet", "up", "--dir", &d, "--traffic", "2"]);
    let state = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("testnet.json")).expect("state"))
            .expect("state JSON")
    };
    let traffic_before = state()["traffic_pid"].as_u64();
    assert!(
        traffic_before.is_some(),
        "demo traffic runs before the bench"
    );

    let out = run(&[
        "bench",
        "--dir",
        &d,
        "--quick",
        "--json",
        "--skip-records",
        "--burst",
        "300",
        "--seconds",
        "3",
        "--period-s",
        "1.5",
        "--steady-days",
        "2",
        "--steady-period-s",
        "0.5",
    ]);
    let r: serde_json::Value = serde_json::from_str(&out).expect("--json prints the report");

    // The headline figures the issue names are there and sane.
    for f in [
        "events_per_s",
        "p50_ms",
        "p99_ms",
        "ceiling_ratio",
        "table5_realtime_peak_mean",
        "table5_turn_peak_mean",
        "table5_max_delay_periods",
        "table5_steady_peak_mean",
        "table5_steady_max_delay_periods",
        "table5_steady_max_overdue_periods",
    ] {
        assert!(num(&r, f).is_finite() && num(&r, f) >= 0.0, "{f}: {}", r[f]);
    }
    assert_eq!(r["burst"]["committed"], 300, "every burst event committed");
    // Its patients were enrolled first, in bulk at each department, and a few interactively.
    let enrolment = &r["enrolment"];
    assert_eq!(
        enrolment["bulk_patients"].as_u64(),
        Some(1000 * r["departments"].as_u64().expect("departments")),
        "{enrolment}"
    );
    assert!(num(enrolment, "bulk_per_s") > 0.0);
    assert!(num(&enrolment["interactive"], "p50_ms") > 0.0);
    assert!(num(&r, "events_per_s") > 0.0);
    assert!(num(&r["ceiling"], "verifications_per_s") > 0.0);
    // The endorser checks two signatures per event and each committee orderer two more.
    let vpe = num(&r, "verifications_per_event");
    assert!((2.0..200.0).contains(&vpe), "{vpe} verifications per event");
    let ratio = num(&r, "ceiling_ratio");
    let expected = num(&r, "events_per_s") * vpe / num(&r["ceiling"], "verifications_per_s");
    assert!((ratio - expected).abs() < 1e-6 * expected.max(1.0));
    assert!(num(&r, "p50_ms") > 0.0 && num(&r, "p50_ms") <= num(&r, "p99_ms"));

    // Table 4: the paper's request counts, each confirmed.
    let t4 = r["table4"].as_array().expect("table4");
    let counts: Vec<u64> = t4
        .iter()
        .filter_map(|row| row["requests"].as_u64())
        .collect();
    assert_eq!(counts, vec![5, 10, 15, 20, 30, 40, 50, 100]);
    assert!(t4.iter().all(|row| num(row, "measured_s") > 0.0));

    // Table 5: both days committed every arrival, counted in twelve periods.
    for mode in ["realtime", "turn"] {
        let day = &r["table5"][mode];
        let events = day["plan"]["events"].as_u64().expect("events");
        assert!(events > 0);
        assert_eq!(
            day["lost"], 0,
            "{mode}: visits lost: {}",
            day["lost_reasons"]
        );
        let flow = u64s(&day["flow"]["per_period"], "per_period");
        assert_eq!(flow.len(), 12);
        assert_eq!(
            flow.iter().sum::<u64>(),
            events,
            "{mode}: flow accounts for every visit"
        );
        let arrivals: u64 = u64s(&day["arrivals"], "arrivals").iter().sum();
        assert_eq!(arrivals, events);
    }
    assert!(num(&r["table5"], "turn_bound_peak_mean") > 1.0);
    // The steady state: two days back to back, the second counted; no visit lost, none waited
    // much longer than it was allowed to, and the day's flow never counts more than was sent.
    let steady = &r["table5"]["steady"];
    assert_eq!(steady["days"], 2);
    assert_eq!(
        steady["lost"], 0,
        "steady state: visits lost: {}",
        steady["lost_reasons"]
    );
    let per_day = steady["plan"]["events"].as_u64().expect("events");
    let flow = u64s(&steady["flow"]["per_period"], "steady per_period");
    assert_eq!(flow.len(), 12);
    let in_day = steady["committed_in_day"]
        .as_u64()
        .expect("committed_in_day");
    assert_eq!(flow.iter().sum::<u64>(), in_day);
    let after = steady["flow"]["after_day"].as_u64().expect("after_day");
    assert!(in_day > 0 && in_day + after <= 2 * per_day);
    let allowed_ms = num(&steady["plan"], "upload_within_ms");
    assert!(num(&steady["flow"], "max_delay_s") * 1000.0 < allowed_ms + 30_000.0);

    // The results folder: CSV files, PNG plots, the report.
    let files: Vec<PathBuf> = r["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .collect();
    let folder = files
        .first()
        .and_then(|f| f.parent())
        .expect("a results folder");
    assert!(folder.starts_with(dir.join("results")));
    assert!(
        folder
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("bench-quick-"))
    );
    for name in ["throughput-latency", "table4", "table5-fig7"] {
        assert!(is_png(&folder.join(format!("{name}.png"))), "{name}.png");
    }
    for name in ["throughput-latency", "latency-samples", "table4", "table5"] {
        let csv = std::fs::read_to_string(folder.join(format!("{name}.csv"))).expect("csv");
        assert!(csv.lines().count() > 1, "{name}.csv has rows");
    }
    let table4 = std::fs::read_to_string(folder.join("table4.csv")).expect("table4.csv");
    assert!(
        table4.contains("925.12"),
        "the paper's column is beside ours"
    );
    assert!(folder.join("report.json").exists());

    // The demo traffic was paused for the run and is running again.
    let traffic_after = state()["traffic_pid"].as_u64();
    assert!(traffic_after.is_some(), "demo traffic restarted");
    assert_ne!(traffic_after, traffic_before, "a new traffic process");
}
