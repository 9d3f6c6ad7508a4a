//! The Grafana dashboard against a real Prometheus (issue 21): a testnet comes up with demo
//! traffic, Debian's `prometheus` (installed by scripts/bootstrap) scrapes it with the very
//! config `testnet up` wrote, and every query of `deploy/grafana/dashboards/medblock.json` is
//! evaluated through Prometheus's HTTP API: each must parse and, apart from filters that are
//! empty on a healthy network, return series.

use medblock_monitoring::dashboard::{DASHBOARD_JSON, expressions};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::bin::{Down, run};

/// Queries that filter for trouble and are empty when all is well.
const EMPTY_WHEN_HEALTHY: [&str; 1] = ["medblock_queue_depth > 0"];

struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start_prometheus(dir: &Path, port: u16) -> Prometheus {
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("prometheus.log")).expect("log file"),
        ))
        .spawn()
        .expect("prometheus runs (scripts/bootstrap installs Debian's package)");
    Prometheus(child)
}

/// `status` and the result list of an instant query (`unreachable` while Prometheus is not
/// listening yet).
fn query(base: &str, expr: &str) -> (String, Vec<serde_json::Value>) {
    let url = format!("{base}/api/v1/query");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answer: Result<serde_json::Value, reqwest::Error> = rt.block_on(async {
        reqwest::Client::new()
            .get(&url)
            .query(&[("query", expr)])
            .send()
            .await?
            .json()
            .await
    });
    let body = match answer {
        Ok(b) => b,
        Err(e) => return (format!("unreachable: {e}"), Vec::new()),
    };
    let status = body["status"].as_str().unwrap_or("").to_owned();
    let result = body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if status != "success" {
        return (format!("{status}: {}", body["error"]), result);
    }
    (status, result)
}

fn scalar(result: &[serde_json::Value]) -> f64 {
    result
        .first()
        .and_then(|r| r["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn every_dashboard_query_answers_from_a_real_prometheus() {
    let root = tempfile::tempdir().expect("dir");
    let dir = root.path().join("net");
    let d = dir.display().to_string();
    let _down = Down(dir.clone());
    // The default layout (10 nodes) with its demo traffic, as the README starts it.
    run(&["testnet", "up", "--dir", &d]);
    let port = free_port();
    let _prom = start_prometheus(&dir, port);
    let base = format!("http://127.0.0.1:{port}");

    // Wait until every node is scraped and committed events show in a rate (two scrapes or
    // more inside the window).
    let members = std::fs::read_to_string(dir.join("prometheus.yml"))
        .expect("scrape config")
        .matches("- targets:")
        .count();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let up = scalar(&query(&base, "count(up{job=\"medblock\"} == 1)").1);
        let rate = scalar(&query(&base, "sum(rate(medblock_events_committed_total[1m]))").1);
        if up as usize == members && rate > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape {members} nodes with commits in time:\n{}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    // One more scrape interval so that 5-minute rates and histograms have two samples.
    std::thread::sleep(Duration::from_secs(6));

    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD_JSON).expect("dashboard");
    let exprs = expressions(&dashboard);
    assert!(exprs.len() >= 20, "{} queries", exprs.len());
    let mut failures = Vec::new();
    for e in &exprs {
        // An instant can fall between two states (`medblock_is_primary == 1` while one turn
        // hands over to the next): a query must answer within a few scrapes, not at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, result) = query(&base, e);
            if status != "success" {
                failures.push(format!("{e}: {status}"));
                break;
            }
            if !result.is_empty() || EMPTY_WHEN_HEALTHY.contains(&e.as_str()) {
                break;
            }
            if Instant::now() > deadline {
                failures.push(format!("{e}: no series for 30 s"));
                break;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    assert!(
        failures.is_empty(),
        "dashboard queries that do not answer:\n{}",
        failures.join("\n")
    );
    // The check can fail: a query for a metric no node exports returns nothing.
    assert!(query(&base, "medblock_no_such_metric").1.is_empty());
}
