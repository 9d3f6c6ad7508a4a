//! The running testnet a benchmark drives: its departments (where visits are submitted over
//! HTTP), every node's `/metrics` (signature verifications, summed), and the demo traffic, which
//! is paused while measuring so that only the benchmark's load is on the network.

use anyhow::{Context as _, Result, bail};
use medblock_testnet::layout::NodeSpec;
use medblock_testnet::process;
use medblock_testnet::state::TestnetState;
use std::path::Path;
use std::time::Duration;

/// One department the benchmark submits through.
#[derive(Debug, Clone)]
pub struct Department {
    /// Its spec (hospital, department, region).
    pub spec: NodeSpec,
    /// Its HTTP base URL.
    pub url: String,
    /// Its API token (the `api-token` file `testnet up` wrote in its directory).
    pub token: Option<String>,
    /// The benchmark's patients enrolled here (their local ids); the visits go to them. Empty
    /// until [`Target::enrol_patients`]: the demo patients then.
    pub patients: std::sync::Arc<Vec<String>>,
}

impl Department {
    /// Its HTTP API (URL and token) as the testnet's helpers take it.
    pub fn api(&self) -> medblock_testnet::http::Api {
        medblock_testnet::http::Api {
            url: self.url.clone(),
            token: self.token.clone(),
        }
    }
}

/// The testnet under load.
#[derive(Debug)]
pub struct Target {
    /// Its state, as loaded.
    pub state: TestnetState,
    /// Departments with a live process.
    pub departments: Vec<Department>,
    /// HTTP base URLs of every live node.
    pub nodes: Vec<String>,
    /// Orderers in genesis (the PBFT committee pool).
    pub orderers: usize,
    /// The demo-traffic process paused for the run, to restart afterwards.
    paused_traffic: bool,
    http: reqwest::Client,
}

impl Target {
    /// Loads the testnet at `dir` and checks that it runs.
    pub async fn open(dir: &Path) -> Result<Self> {
        let state = TestnetState::load(dir).with_context(|| {
            format!(
                "no testnet at {} (start one with `medblock testnet up --dir {}`)",
                dir.display(),
                dir.display()
            )
        })?;
        let live: Vec<_> = state
            .members()
            .filter(|n| n.pid.is_some_and(process::alive))
            .cloned()
            .collect();
        if live.is_empty() {
            bail!(
                "the testnet at {} is not running (`medblock testnet up --dir {}`)",
                dir.display(),
                dir.display()
            );
        }
        let departments: Vec<Department> = live
            .iter()
            .filter(|n| n.spec.is_department())
            .map(|n| Department {
                spec: n.spec.clone(),
                url: n.url(),
                token: n.api_token(),
                patients: Default::default(),
            })
            .collect();
        if departments.is_empty() {
            bail!("the testnet has no running department to submit through");
        }
        let orderers = live
            .iter()
            .filter(|n| n.spec.roles.iter().any(|r| r == "orderer"))
            .count();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .pool_idle_timeout(crate::http::CLIENT_IDLE)
            .build()
            .context("HTTP client")?;
        Ok(Self {
            nodes: live.iter().map(|n| n.url()).collect(),
            departments,
            orderers,
            state,
            paused_traffic: false,
            http,
        })
    }

    /// The shared HTTP client (connection pool) for submissions.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Stops the demo traffic, if it runs, so the benchmark's load is the only one.
    pub fn pause_traffic(&mut self) -> Result<()> {
        if let Some(pid) = self.state.traffic_pid.filter(|p| process::alive(*p)) {
            process::stop(pid, Duration::from_secs(5)).context("stopping the demo traffic")?;
            self.paused_traffic = true;
            tracing::info!(pid, "demo traffic paused for the benchmark");
        }
        Ok(())
    }

    /// Starts the demo traffic again if this run paused it.
    pub fn resume_traffic(&mut self) -> Result<()> {
        if self.paused_traffic {
            let pid = medblock_testnet::ops::start_traffic(&self.state.dir, 2.0)
                .context("restarting the demo traffic")?;
            self.paused_traffic = false;
            tracing::info!(pid, "demo traffic restarted");
        }
        Ok(())
    }

    /// Makes `count` patients on the benchmark's side (keys in memory only, ids unique to the
    /// run, `bench-<run>-<k>`), enrols them all at every department in one bulk file each
    /// (`POST /patients/bulk`, each line signed offline by its patient), and measures the
    /// interactive enrolment (challenge, signature, enrolment) of a few more. The visits then
    /// go to these patients.
    pub async fn enrol_patients(&mut self, run: u64, count: usize) -> Result<EnrolmentFigures> {
        use medblock_testnet::enrol;
        let ids: Vec<String> = (0..count).map(|k| format!("bench-{run}-{k:05}")).collect();
        let keys: Vec<medblock_core::keys::Identity> = (0..count)
            .map(|_| medblock_core::keys::Identity::generate(&mut rand::rng()))
            .collect();
        let mut bulk_s = 0.0;
        for d in &mut self.departments {
            let lines: Vec<String> = ids
                .iter()
                .zip(&keys)
                .map(|(id, k)| enrol::bulk_line(k, &d.spec.hospital, id))
                .collect();
            let t = std::time::Instant::now();
            enrol::enrol_bulk(&d.api(), &lines)
                .await
                .with_context(|| format!("enrolling the bench patients at {}", d.spec.name))?;
            bulk_s += t.elapsed().as_secs_f64();
            d.patients = std::sync::Arc::new(ids.clone());
        }
        let mut interactive = Vec::new();
        if let Some(d) = self.departments.first() {
            for k in 0..INTERACTIVE_ENROLMENTS {
                let id = format!("bench-{run}-interactive-{k:02}");
                let keys = medblock_core::keys::Identity::generate(&mut rand::rng());
                let t = std::time::Instant::now();
                enrol::enrol(&d.api(), &keys, &id)
                    .await
                    .with_context(|| format!("enrolling {id} at {}", d.spec.name))?;
                interactive.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let enrolled = count * self.departments.len();
        Ok(EnrolmentFigures {
            bulk_patients: enrolled,
            bulk_per_s: enrolled as f64 / bulk_s.max(1e-9),
            interactive: medblock_bench::stats::Percentiles::from_samples(&interactive),
        })
    }

    /// Signature verifications performed so far, summed over every live node's `/metrics`.
    pub async fn verifications(&self) -> Result<u64> {
        let mut sum = 0u64;
        for url in &self.nodes {
            let text = self
                .http
                .get(format!("{url}/metrics"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .with_context(|| format!("{url}/metrics"))?
                .text()
                .await
                .with_context(|| format!("{url}/metrics"))?;
            sum += verifications_in(&text)
                .with_context(|| format!("{url}/metrics has no signature_verifications_total"))?;
        }
        Ok(sum)
    }
}

/// Interactive enrolments timed per run.
const INTERACTIVE_ENROLMENTS: usize = 20;

/// Enrolment, as the benchmark measured it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnrolmentFigures {
    /// Patient enrolments made in bulk (patients × departments).
    pub bulk_patients: usize,
    /// Bulk enrolments per second (the whole file's request, every line checked and stored).
    pub bulk_per_s: f64,
    /// Interactive enrolment latency (challenge, the patient's signature, enrolment), ms.
    pub interactive: medblock_bench::stats::Percentiles,
}

/// The `*signature_verifications_total` counter of one Prometheus text page.
pub fn verifications_in(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let name = series.split('{').next()?;
            name.ends_with("signature_verifications_total")
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
        })
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::verifications_in;

    #[test]
    fn reads_the_verification_counter_from_a_metrics_page() {
        let page = "# HELP medblock_signature_verifications_total Ed25519.\n\
                    # TYPE medblock_signature_verifications_total counter\n\
                    medblock_events_committed_total 12\n\
                    medblock_signature_verifications_total{node=\"orderer-1\"} 4567\n";
        assert_eq!(verifications_in(page), Some(4567));
        assert_eq!(
            verifications_in("medblock_signature_verifications_total 12\n"),
            Some(12)
        );
        assert_eq!(
            verifications_in("medblock_events_committed_total 12\n"),
            None
        );
    }
}
