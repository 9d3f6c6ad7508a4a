//! `testnet render --kubernetes DIR`: manifests for the `testnet up` layout.
//!
//! * One StatefulSet per kind of workload, with a headless Service giving each pod a stable
//!   DNS name (`orderer-0.orderer.NAMESPACE.svc.cluster.local`): `orderer`, `endorser`,
//!   `committer`, and one per hospital for its departments (a hospital is one operator: adding
//!   one is adding its StatefulSet, Service and Secret, see the README).
//! * A volume claim per replica for the node's data.
//! * Node keys and certificates in one Secret per workload (`<pod>.key`, `<pod>.cert`), each
//!   pod's node.toml in a ConfigMap (`<pod>.toml`), genesis in a ConfigMap; a pod picks its own
//!   files by its name (`$(POD_NAME)`, which Kubernetes expands in `args`).
//! * Readiness on `/readyz` (quorum of orderers connected, caught up), liveness on `/livez`
//!   (the process answers; it does not flap with the network); Prometheus scrape
//!   annotations; a PodDisruptionBudget that keeps 2f+1 orderers up.
//!
//! Headless Services publish pods that are not ready yet: a node is ready only once it has
//! peers, so peers must be able to find it before.

use super::compose::{to_yaml, write};
use super::{DATA_DIR, HTTP_PORT, Material, P2P_PORT, RUN_AS_UID, RenderOptions};
use crate::error::Result;
use crate::layout::NodeSpec;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a pod's own key is copied, owner-only, by its init container.
pub const KEY_FILE: &str = "/run/medblock/node.key";

/// The manifests file's name in the output directory.
pub const MANIFESTS_FILE: &str = "medblock.yaml";

/// Which StatefulSet a node of the layout belongs to.
pub fn workload(spec: &NodeSpec) -> String {
    let has = |r: &str| spec.roles.iter().any(|x| x == r);
    if has("client") {
        format!("hospital-{}", spec.hospital)
    } else if has("orderer") {
        "orderer".into()
    } else if has("endorser") {
        "endorser".into()
    } else {
        "committer".into()
    }
}

/// The layout with every node renamed to its pod name (`<workload>-<ordinal>`).
pub fn pod_names(plan: &[NodeSpec]) -> Vec<NodeSpec> {
    let mut next: BTreeMap<String, usize> = BTreeMap::new();
    plan.iter()
        .map(|s| {
            let w = workload(s);
            let i = next.entry(w.clone()).or_insert(0);
            let spec = NodeSpec {
                name: format!("{w}-{i}"),
                ..s.clone()
            };
            *i += 1;
            spec
        })
        .collect()
}

/// Renders the manifests into `opts.dir`; returns the manifests file's path.
pub fn render(opts: &RenderOptions) -> Result<PathBuf> {
    let ns = opts.namespace.clone();
    let m = Material::make(opts, pod_names, |spec| {
        format!("{}.{}.{ns}.svc.cluster.local", spec.name, workload(spec))
    })?;
    let docs = documents(&m, &opts.image, &opts.namespace)?;
    let text = docs
        .iter()
        .map(to_yaml)
        .collect::<Result<Vec<_>>>()?
        .join("---\n");
    let path = m.dir.join(MANIFESTS_FILE);
    write(&path, &text)?;
    Ok(path)
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every manifest, in apply order.
pub fn documents(m: &Material, image: &str, namespace: &str) -> Result<Vec<Value>> {
    let mut groups: BTreeMap<String, Vec<&super::RenderedNode>> = BTreeMap::new();
    for n in &m.nodes {
        groups.entry(workload(&n.spec)).or_default().push(n);
    }
    let genesis = std::fs::read(&m.genesis)
        .map_err(|e| crate::TestnetError::io(format!("reading {}", m.genesis.display()), e))?;
    let labels =
        |w: &str| json!({"app.kubernetes.io/name": "medblock", "app.kubernetes.io/component": w});
    let mut docs = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "medblock-genesis", "namespace": namespace},
            "binaryData": {"genesis.pb": b64(&genesis)},
        }),
    ];
    for (w, nodes) in &groups {
        let mut keys = serde_json::Map::new();
        let mut configs = serde_json::Map::new();
        for n in nodes {
            for (file, bytes) in n.files()? {
                match file {
                    "node.key" => {
                        keys.insert(format!("{}.key", n.spec.name), json!(b64(&bytes)));
                    }
                    "certificate.pb" => {
                        keys.insert(format!("{}.cert", n.spec.name), json!(b64(&bytes)));
                    }
                    _ => {
                        let toml = String::from_utf8_lossy(&bytes)
                            .replace(
                                "key_file = \"node.key\"",
                                &format!("key_file = \"{KEY_FILE}\""),
                            )
                            .replace(
                                "certificate = \"certificate.pb\"",
                                &format!(
                                    "certificate = \"/etc/medblock/keys/{}.cert\"",
                                    n.spec.name
                                ),
                            )
                            .replace(
                                "genesis = \"genesis.pb\"",
                                "genesis = \"/etc/medblock/genesis/genesis.pb\"",
                            );
                        configs.insert(format!("{}.toml", n.spec.name), json!(toml));
                    }
                }
            }
        }
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": format!("medblock-{w}-keys"), "namespace": namespace, "labels": labels(w)},
            "type": "Opaque",
            "data": keys,
        }));
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("medblock-{w}-config"), "namespace": namespace, "labels": labels(w)},
            "data": configs,
        }));
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": w, "namespace": namespace, "labels": labels(w)},
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": true,
                "selector": labels(w),
                "ports": [
                    {"name": "p2p", "port": P2P_PORT, "targetPort": "p2p"},
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                ],
            },
        }));
        docs.push(stateful_set(w, nodes.len(), image, namespace, labels(w)));
        if w == "orderer" {
            // PBFT decides with 2f+1 of 3f+1: voluntary evictions never take more than f.
            let n = nodes.len();
            let f = n.saturating_sub(1) / 3;
            docs.push(json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": "orderer", "namespace": namespace, "labels": labels(w)},
                "spec": {"minAvailable": 2 * f + 1, "selector": {"matchLabels": labels(w)}},
            }));
        }
    }
    Ok(docs)
}

fn stateful_set(w: &str, replicas: usize, image: &str, namespace: &str, labels: Value) -> Value {
    let probe = |path: &str, delay: u32| {
        json!({
            "httpGet": {"path": path, "port": "http"},
            "initialDelaySeconds": delay,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        })
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": w, "namespace": namespace, "labels": labels},
        "spec": {
            "serviceName": w,
            "replicas": replicas,
            // Nodes find each other through the bootstrap orderer and Kademlia: start together.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": HTTP_PORT.to_string(),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": RUN_AS_UID,
                        "runAsGroup": RUN_AS_UID,
                        "fsGroup": RUN_AS_UID,
                    },
                    // The node refuses a key file others may read; a Secret volume is
                    // root-owned and group-readable at best, so an init container copies the
                    // pod's own key, owner-only, into memory-backed storage.
                    "initContainers": [{
                        "name": "key",
                        "image": image,
                        "command": ["sh", "-c", format!("install -m 0600 /etc/medblock/keys/$POD_NAME.key {KEY_FILE}")],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "volumeMounts": [
                            {"name": "keys", "mountPath": "/etc/medblock/keys", "readOnly": true},
                            {"name": "key", "mountPath": "/run/medblock"},
                        ],
                    }],
                    "containers": [{
                        "name": "medblock",
                        "image": image,
                        "args": ["node", "run", "--config", "/etc/medblock/config/$(POD_NAME).toml"],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                        "ports": [
                            {"name": "p2p", "containerPort": P2P_PORT},
                            {"name": "http", "containerPort": HTTP_PORT},
                        ],
                        // Ready: connected to a quorum of orderers and caught up (the
                        // node's /readyz); alive: the process and its actors answer
                        // (/livez), never tied to the network, so a partition or a view-change
                        // storm takes pods out of the Service but never restarts them (a
                        // restart cannot heal a network and only costs a catch-up).
                        "readinessProbe": probe("/readyz", 5),
                        "livenessProbe": probe("/livez", 30),
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"memory": "512Mi"},
                        },
                        "volumeMounts": [
                            {"name": "data", "mountPath": DATA_DIR},
                            {"name": "keys", "mountPath": "/etc/medblock/keys", "readOnly": true},
                            {"name": "config", "mountPath": "/etc/medblock/config", "readOnly": true},
                            {"name": "genesis", "mountPath": "/etc/medblock/genesis", "readOnly": true},
                            {"name": "key", "mountPath": "/run/medblock", "readOnly": true},
                        ],
                    }],
                    "volumes": [
                        {"name": "keys", "secret": {"secretName": format!("medblock-{w}-keys"), "defaultMode": 0o440}},
                        {"name": "key", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                        {"name": "config", "configMap": {"name": format!("medblock-{w}-config")}},
                        {"name": "genesis", "configMap": {"name": "medblock-genesis"}},
                    ],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            }],
        },
    })
}
