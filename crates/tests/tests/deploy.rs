//! What a hospital's operations team deploys (issue 21), checked without a cluster: the
//! manifests `testnet render --kubernetes` writes pass the Kubernetes schemas
//! (`kubernetes-validate --strict`, PyPI), the compose file `testnet render --compose` writes
//! passes the compose specification's JSON schema (`scripts/validate-compose`), both validators
//! refuse a broken document (so passing means something), and the rendered material is
//! coherent: each pod finds its own key, certificate and config, and bootstraps to orderer-0 by
//! its stable DNS name and real peer id.
//!
//! Not run here, for want of a container engine or cluster on these machines: `docker build`,
//! `docker compose up`, `kubectl apply`. The Dockerfile is checked for what it must hold.

mod common;

use base64::Engine;
use common::bin::run;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs a validator; (success, what it printed).
fn validate(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs (scripts/bootstrap installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("rendered file");
    text.split("\n---\n")
        .map(|d| yaml_serde::from_str::<Value>(d).expect("YAML document"))
        .collect()
}

/// What the pod's init container does: the key, readable by its owner only (the node refuses
/// a key file others may read).
fn write_owner_only(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).expect("write key");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(v.as_str().expect("base64 string"))
        .expect("base64")
}

#[test]
fn rendered_kubernetes_manifests_pass_the_schemas_and_hold_together() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("k8s");
    run(&[
        "testnet",
        "render",
        "--kubernetes",
        out.to_str().expect("utf-8"),
    ]);
    let manifests = out.join("medblock.yaml");
    let (ok, text) = validate(
        "kubernetes-validate",
        &["--strict", manifests.to_str().expect("utf-8")],
    );
    assert!(ok, "kubernetes-validate refused the manifests:\n{text}");

    // The validator is not a rubber stamp: a replica count that is not a number is refused.
    let broken = dir.path().join("broken.yaml");
    let bad = std::fs::read_to_string(&manifests)
        .expect("manifests")
        .replacen("replicas: 4", "replicas: four", 1);
    std::fs::write(&broken, bad).expect("write");
    let (ok, _) = validate(
        "kubernetes-validate",
        &["--strict", broken.to_str().expect("utf-8")],
    );
    assert!(!ok, "kubernetes-validate accepted replicas: four");

    let docs = yaml_docs(&manifests);
    let of = |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };
    let sets = of("StatefulSet");
    let names: Vec<&str> = sets
        .iter()
        .map(|s| s["metadata"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "endorser",
            "hospital-riverside",
            "hospital-st-mary",
            "orderer"
        ]
    );
    for s in &sets {
        let name = s["metadata"]["name"].as_str().expect("name");
        let spec = &s["spec"]["template"]["spec"];
        let c = &spec["containers"][0];
        let init = spec["initContainers"][0]["command"][2]
            .as_str()
            .expect("init command");
        assert!(
            init.contains(
                "install -m 0600 /etc/medblock/keys/$POD_NAME.key /run/medblock/node.key"
            )
        );
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{name}");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/livez", "{name}");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            s["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data",
            "{name}"
        );
        assert_eq!(
            s["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"],
            "true"
        );
        // A headless Service of the same name gives its pods stable names, found before ready.
        let svc = of("Service")
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .expect("a Service per StatefulSet");
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
    }
    let pdb = of("PodDisruptionBudget");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0]["spec"]["minAvailable"], 3, "2f+1 of 4 orderers");

    // Each pod's files: its key opens, its certificate is for that key, its config names them
    // where the pod mounts them, and it bootstraps to orderer-0 by DNS name and real peer id.
    let orderer0_key = {
        let secret = of("Secret")
            .into_iter()
            .find(|d| d["metadata"]["name"] == "medblock-orderer-keys")
            .expect("orderer keys");
        let path = dir.path().join("orderer-0.key");
        write_owner_only(&path, &b64(&secret["data"]["orderer-0.key"]));
        medblock_storage::keyfile::load_identity(&path)
            .expect("orderer-0's key opens")
            .signing
            .public()
    };
    let boot = format!(
        "/dns4/orderer-0.orderer.medblock.svc.cluster.local/tcp/7000/p2p/{}",
        medblock_p2p::peer_id_string(&orderer0_key)
    );
    let mut pods = 0;
    for cm in of("ConfigMap") {
        let Some(name) = cm["metadata"]["name"].as_str() else {
            continue;
        };
        let Some(w) = name
            .strip_prefix("medblock-")
            .and_then(|n| n.strip_suffix("-config"))
        else {
            continue;
        };
        let secret = of("Secret")
            .into_iter()
            .find(|d| d["metadata"]["name"] == format!("medblock-{w}-keys"))
            .expect("a Secret per workload");
        for (file, toml) in cm["data"].as_object().expect("configs") {
            let pod = file.strip_suffix(".toml").expect("<pod>.toml");
            assert!(pod.starts_with(&format!("{w}-")), "{pod} in {w}");
            let toml = toml.as_str().expect("text");
            let cfg: toml::Value = toml::from_str(toml).expect("node.toml parses");
            // The init container copies /etc/medblock/keys/<pod>.key there, owner-only.
            assert_eq!(cfg["key_file"].as_str(), Some("/run/medblock/node.key"));
            assert_eq!(
                cfg["certificate"].as_str(),
                Some(format!("/etc/medblock/keys/{pod}.cert").as_str())
            );
            assert_eq!(
                cfg["genesis"].as_str(),
                Some("/etc/medblock/genesis/genesis.pb")
            );
            assert_eq!(cfg["data_dir"].as_str(), Some("/var/lib/medblock"));
            let key_path = dir.path().join(format!("{pod}.key"));
            write_owner_only(&key_path, &b64(&secret["data"][format!("{pod}.key")]));
            let key = medblock_storage::keyfile::load_identity(&key_path)
                .expect("key opens")
                .signing
                .public();
            let cert = b64(&secret["data"][format!("{pod}.cert")]);
            let body = {
                use prost::Message;
                let c = medblock_core::wire::Certificate::decode(cert.as_slice()).expect("cert");
                medblock_core::wire::CertificateBody::decode(c.body.as_slice()).expect("body")
            };
            assert_eq!(
                body.public_key,
                key.as_bytes(),
                "{pod}'s certificate is for its key"
            );
            assert_eq!(body.name, pod, "certificate names the pod");
            let bootstrap: Vec<&str> = cfg["p2p"]["bootstrap"]
                .as_array()
                .expect("bootstrap list")
                .iter()
                .filter_map(|b| b.as_str())
                .collect();
            if pod == "orderer-0" {
                assert!(bootstrap.is_empty());
            } else {
                assert_eq!(bootstrap, [boot.as_str()], "{pod}");
            }
            pods += 1;
        }
    }
    assert_eq!(pods, 10, "every node of the layout has a pod");
    // The CA's private key stays in the output directory, never in a manifest.
    let ca_key = std::fs::read_to_string(out.join("ca").join("ca.key")).unwrap_or_default();
    let text = std::fs::read_to_string(&manifests).expect("manifests");
    assert!(!ca_key.is_empty() && !text.contains(ca_key.trim()));
}

#[test]
fn rendered_compose_file_passes_the_compose_specification() {
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("compose");
    run(&[
        "testnet",
        "render",
        "--compose",
        out.to_str().expect("utf-8"),
    ]);
    let file = out.join("compose.yaml");
    let script = repo().join("scripts/validate-compose");
    let script = script.to_str().expect("utf-8");
    let (ok, text) = validate(script, &[file.to_str().expect("utf-8")]);
    assert!(ok, "the compose file does not conform:\n{text}");

    let broken = dir.path().join("broken.yaml");
    let bad = std::fs::read_to_string(&file).expect("compose").replacen(
        "restart: unless-stopped",
        "restart: 7",
        1,
    );
    std::fs::write(&broken, bad).expect("write");
    let (ok, _) = validate(script, &[broken.to_str().expect("utf-8")]);
    assert!(!ok, "the schema accepted restart: 7");

    let doc: Value =
        yaml_serde::from_str(&std::fs::read_to_string(&file).expect("compose")).expect("YAML");
    let services = doc["services"].as_object().expect("services");
    assert!(services.contains_key("prometheus") && services.contains_key("grafana"));
    let nodes: Vec<&String> = services
        .keys()
        .filter(|k| *k != "prometheus" && *k != "grafana")
        .collect();
    assert_eq!(nodes.len(), 10);
    let prom = std::fs::read_to_string(out.join("prometheus.yml")).expect("scrape config");
    for n in &nodes {
        // Its config is its mounted directory, and loads as a node config.
        let cfg =
            medblock_node::config::NodeConfig::load(&out.join("nodes").join(n).join("node.toml"))
                .expect("node.toml loads");
        assert_eq!(cfg.data_dir, Path::new("/var/lib/medblock"));
        assert!(cfg.key_file.exists() && cfg.certificate.exists() && cfg.genesis.exists());
        if *n != "orderer-1" {
            assert!(
                cfg.p2p.bootstrap[0].starts_with("/dns4/orderer-1/tcp/7000/p2p/12D3"),
                "{n}"
            );
        }
        assert!(prom.contains(&format!("'{n}:8080'")), "{n} is scraped");
    }
    assert!(
        out.join("grafana/dashboards/medblock.json").exists()
            && out
                .join("grafana/provisioning/datasources/prometheus.yaml")
                .exists()
    );
}

#[test]
fn the_dockerfile_builds_with_the_install_script_and_runs_unprivileged() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "a builder and a runtime stage: {stages:?}");
    assert!(
        text.contains("libclang-dev"),
        "the builder has RocksDB's bindgen needs"
    );
    assert!(
        text.contains("RUN scripts/install-release /out"),
        "the same install as bare metal"
    );
    assert!(text.contains("COPY --from=builder /out/bin/medblock"));
    assert!(text.contains("USER 10001"), "non-root");
    assert!(text.contains("VOLUME [\"/var/lib/medblock\"]"));
    assert!(text.contains("EXPOSE 7000 8080"));
    assert!(text.contains("HEALTHCHECK") && text.contains("/healthz"));
    assert!(text.contains("MEDBLOCK_CONFIG"));
    let script = std::fs::read_to_string(repo().join("scripts/install-release")).expect("script");
    assert!(script.contains("cargo install --path crates/node --locked"));
}
