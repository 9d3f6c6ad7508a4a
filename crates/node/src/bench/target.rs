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
