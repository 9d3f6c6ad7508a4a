//! `testnet render --compose DIR`: a compose project of the `testnet up` layout. One service
//! per node (the image's `medblock node run`, its directory mounted read-only as its config,
//! a named volume for its data), found by service name on one network; Prometheus scraping
//! every node and Grafana provisioned with the shipped dashboard.
//!
//! Written as YAML from a JSON value so that the exact document is what the compose
//! specification's JSON schema is checked against (`deploy/schemas/compose-spec.json`).

use super::{HTTP_PORT, Material, P2P_PORT, RenderOptions};
use crate::error::{Result, TestnetError};
use medblock_monitoring::dashboard::{DASHBOARD_JSON, DASHBOARDS_YAML};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The compose file's name in the output directory.
pub const COMPOSE_FILE: &str = "compose.yaml";

/// Renders the project into `opts.dir`; returns the compose file's path.
pub fn render(opts: &RenderOptions) -> Result<PathBuf> {
    let m = Material::make(opts, |plan| plan.to_vec(), |spec| spec.name.clone())?;
    let doc = document(&m, &opts.image);
    let path = m.dir.join(COMPOSE_FILE);
    write(&path, &to_yaml(&doc)?)?;
    write(&m.dir.join("prometheus.yml"), &scrape_config(&m))?;
    let g = m.dir.join("grafana");
    write(&g.join("dashboards/medblock.json"), DASHBOARD_JSON)?;
    write(
        &g.join("provisioning/datasources/prometheus.yaml"),
        &datasource("http://prometheus:9090"),
    )?;
    write(
        &g.join("provisioning/dashboards/medblock.yaml"),
        DASHBOARDS_YAML,
    )?;
    Ok(path)
}

/// The compose document.
pub fn document(m: &Material, image: &str) -> Value {
    let mut services = serde_json::Map::new();
    let mut volumes = serde_json::Map::new();
    for n in &m.nodes {
        let data = format!("{}-data", n.spec.name);
        services.insert(
            n.spec.name.clone(),
            json!({
                "image": image,
                "hostname": n.spec.name,
                "command": ["node", "run", "--config", "/etc/medblock/node.toml"],
                "volumes": [
                    format!("./nodes/{}:/etc/medblock:ro", n.spec.name),
                    format!("{data}:{}", super::DATA_DIR),
                ],
                "expose": [P2P_PORT.to_string(), HTTP_PORT.to_string()],
                "labels": {
                    "org.medblock.region": n.spec.region,
                    "org.medblock.roles": n.spec.roles.join(","),
                },
                "networks": ["medblock"],
                "restart": "unless-stopped",
            }),
        );
        volumes.insert(data, json!({}));
    }
    services.insert(
        "prometheus".into(),
        json!({
            "image": "prom/prometheus:v2.53.0",
            "command": ["--config.file=/etc/prometheus/prometheus.yml"],
            "volumes": ["./prometheus.yml:/etc/prometheus/prometheus.yml:ro"],
            "ports": ["9090:9090"],
            "networks": ["medblock"],
        }),
    );
    services.insert(
        "grafana".into(),
        json!({
            "image": "grafana/grafana:11.1.0",
            "volumes": [
                "./grafana/provisioning:/etc/grafana/provisioning:ro",
                "./grafana/dashboards:/var/lib/grafana/dashboards/medblock:ro",
            ],
            "ports": ["3000:3000"],
            "depends_on": ["prometheus"],
            "networks": ["medblock"],
        }),
    );
    json!({
        "name": "medblock",
        "services": services,
        "networks": {"medblock": {}},
        "volumes": volumes,
    })
}

/// Prometheus scraping every node by service name.
pub fn scrape_config(m: &Material) -> String {
    let mut out = String::from(
        "# Written by `medblock testnet render --compose`: scrapes every node by service name.\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
         scrape_configs:\n  - job_name: medblock\n    metrics_path: /metrics\n    static_configs:\n",
    );
    for n in &m.nodes {
        out.push_str(&format!(
            "      - targets: ['{}:{HTTP_PORT}']\n        labels:\n          instance_name: '{}'\n          region: '{}'\n",
            n.spec.name, n.spec.name, n.spec.region
        ));
    }
    out
}

fn datasource(url: &str) -> String {
    format!(
        "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    uid: Prometheus\n    type: prometheus\n    access: proxy\n    url: {url}\n    isDefault: true\n"
    )
}

/// A JSON value as YAML.
pub fn to_yaml(v: &Value) -> Result<String> {
    yaml_serde::to_string(v).map_err(|e| TestnetError::Invalid(format!("writing YAML: {e}")))
}

pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)
            .map_err(|e| TestnetError::io(format!("creating {}", p.display()), e))?;
    }
    std::fs::write(path, text)
        .map_err(|e| TestnetError::io(format!("writing {}", path.display()), e))
}
