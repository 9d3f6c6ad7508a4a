//! Monitoring files for a running testnet: `DIR/prometheus.yml` scraping every member's
//! `/metrics`, and `DIR/grafana/` (the shipped dashboard and provisioning files, pointed at
//! this directory), rewritten whenever membership changes.

use crate::error::{Result, TestnetError};
use crate::state::TestnetState;
use medblock_monitoring::dashboard::{DASHBOARD_JSON, DASHBOARDS_YAML, DATASOURCE_YAML};
use std::path::{Path, PathBuf};

/// The Prometheus config for the testnet's current members.
pub fn scrape_config(state: &TestnetState) -> String {
    let mut out = String::from(
        "# Written by `medblock testnet`: scrapes every node of this testnet.\n\
         # Run: prometheus --config.file=prometheus.yml\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
         scrape_configs:\n  - job_name: medblock\n    metrics_path: /metrics\n    static_configs:\n",
    );
    for n in state.members() {
        out.push_str(&format!(
            "      - targets: ['{}']\n        labels:\n          instance_name: '{}'\n          region: '{}'\n",
            n.http(),
            n.spec.name,
            n.spec.region
        ));
    }
    out
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)
            .map_err(|e| TestnetError::io(format!("creating {}", p.display()), e))?;
    }
    std::fs::write(path, text)
        .map_err(|e| TestnetError::io(format!("writing {}", path.display()), e))
}

/// Writes `DIR/prometheus.yml` and `DIR/grafana/`; returns the Prometheus config's path.
pub fn write_files(state: &TestnetState) -> Result<PathBuf> {
    let path = state.dir.join("prometheus.yml");
    write(&path, &scrape_config(state))?;
    let g = state.dir.join("grafana");
    let dashboards = g.join("dashboards");
    write(&dashboards.join("medblock.json"), DASHBOARD_JSON)?;
    write(
        &g.join("provisioning/datasources/prometheus.yaml"),
        DATASOURCE_YAML,
    )?;
    let abs = std::fs::canonicalize(&dashboards).unwrap_or(dashboards);
    write(
        &g.join("provisioning/dashboards/medblock.yaml"),
        &DASHBOARDS_YAML.replace(
            "/var/lib/grafana/dashboards/medblock",
            &abs.display().to_string(),
        ),
    )?;
    Ok(path)
}
