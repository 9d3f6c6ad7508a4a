//! The key material of a rendered network, made by the same `medblock` subcommands as
//! `testnet up`: `ca init`, `ca issue` per node, `ca genesis`, `node init`.

use super::{DATA_DIR, HTTP_PORT, P2P_PORT, RenderOptions};
use crate::error::{Result, TestnetError};
use crate::layout::{self, NodeSpec};
use crate::process::medblock;
use medblock_core::keys::PublicKey;
use std::path::{Path, PathBuf};

/// One node of a rendered network.
#[derive(Debug, Clone)]
pub struct RenderedNode {
    /// What it is (its name is its host name on the platform).
    pub spec: NodeSpec,
    /// Its directory: node.key, certificate.pb, genesis.pb, node.toml.
    pub dir: PathBuf,
    /// libp2p peer id.
    pub peer_id: String,
}

impl RenderedNode {
    /// The node's files, read for embedding (name, bytes).
    pub fn files(&self) -> Result<Vec<(&'static str, Vec<u8>)>> {
        ["node.key", "certificate.pb", "node.toml"]
            .into_iter()
            .map(|f| {
                let p = self.dir.join(f);
                std::fs::read(&p)
                    .map(|b| (f, b))
                    .map_err(|e| TestnetError::io(format!("reading {}", p.display()), e))
            })
            .collect()
    }
}

/// CA, genesis and every node's configured directory.
#[derive(Debug, Clone)]
pub struct Material {
    /// The output directory.
    pub dir: PathBuf,
    /// The CA directory (holds the CA's private key: keep it offline, never mount it).
    pub ca: PathBuf,
    /// The signed genesis.
    pub genesis: PathBuf,
    /// Regions.
    pub regions: Vec<String>,
    /// The nodes, founding members first.
    pub nodes: Vec<RenderedNode>,
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Material {
    /// Makes the material of `opts`' layout, each node named by `name` (the platform's host
    /// name for it); `host(spec)` is the DNS name other nodes reach it by. The first orderer
    /// is every other node's bootstrap peer (Kademlia finds the rest).
    pub fn make(
        opts: &RenderOptions,
        name: impl Fn(&[NodeSpec]) -> Vec<NodeSpec>,
        host: impl Fn(&NodeSpec) -> String,
    ) -> Result<Self> {
        let plan = name(&layout::plan(opts.nodes, opts.regions, opts.orderers)?);
        if opts.dir.join("ca").exists() {
            return Err(TestnetError::Invalid(format!(
                "{} already holds a rendered network (its CA is in ca/): render into a new directory",
                s(&opts.dir)
            )));
        }
        std::fs::create_dir_all(&opts.dir)
            .map_err(|e| TestnetError::io(format!("creating {}", s(&opts.dir)), e))?;
        let dir = std::fs::canonicalize(&opts.dir)
            .map_err(|e| TestnetError::io(format!("resolving {}", s(&opts.dir)), e))?;
        let ca = dir.join("ca");
        let regions = layout::regions(opts.regions);
        medblock(
            &opts.bin,
            &[
                "ca",
                "init",
                "--dir",
                &s(&ca),
                "--regions",
                &regions.join(","),
                "--json",
            ],
        )?;
        let mut nodes = Vec::with_capacity(plan.len());
        for spec in &plan {
            let node_dir = dir.join("nodes").join(&spec.name);
            let issued = medblock(
                &opts.bin,
                &[
                    "ca",
                    "issue",
                    "--dir",
                    &s(&ca),
                    "--name",
                    &spec.name,
                    "--region",
                    &spec.region,
                    "--roles",
                    &spec.roles.join(","),
                    "--hospital",
                    &spec.hospital,
                    "--department",
                    &spec.department,
                    "--node-dir",
                    &s(&node_dir),
                    "--days",
                    "365",
                    "--json",
                ],
            )?;
            let key = issued["key"]
                .as_str()
                .and_then(|k| PublicKey::from_hex(k).ok())
                .ok_or_else(|| {
                    TestnetError::Invalid(format!("`ca issue` gave no key: {issued}"))
                })?;
            nodes.push(RenderedNode {
                spec: spec.clone(),
                dir: node_dir,
                peer_id: medblock_p2p::peer_id_string(&key),
            });
        }
        let genesis = dir.join("genesis.pb");
        medblock(
            &opts.bin,
            &[
                "ca",
                "genesis",
                "--dir",
                &s(&ca),
                "--out",
                &s(&genesis),
                "--json",
            ],
        )?;
        let boot = nodes
            .iter()
            .find(|n| n.spec.roles.iter().any(|r| r == "orderer"))
            .or(nodes.first())
            .map(|n| {
                (
                    n.spec.name.clone(),
                    format!("/dns4/{}/tcp/{P2P_PORT}/p2p/{}", host(&n.spec), n.peer_id),
                )
            });
        for n in &nodes {
            let mut args = vec![
                "node".to_owned(),
                "init".into(),
                "--dir".into(),
                s(&n.dir),
                "--genesis".into(),
                s(&genesis),
                "--listen".into(),
                format!("/ip4/0.0.0.0/tcp/{P2P_PORT}"),
                "--http".into(),
                format!("0.0.0.0:{HTTP_PORT}"),
                "--json".into(),
            ];
            if let Some((name, addr)) = &boot
                && *name != n.spec.name
            {
                args.push("--bootstrap".into());
                args.push(addr.clone());
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            medblock(&opts.bin, &refs)?;
            // The data lives on the container's volume, not beside the read-only config.
            let path = n.dir.join("node.toml");
            let text = std::fs::read_to_string(&path)
                .map_err(|e| TestnetError::io(format!("reading {}", s(&path)), e))?;
            let text = text.replace("data_dir = \"data\"", &format!("data_dir = \"{DATA_DIR}\""));
            std::fs::write(&path, text)
                .map_err(|e| TestnetError::io(format!("writing {}", s(&path)), e))?;
        }
        Ok(Self {
            dir,
            ca,
            genesis,
            regions,
            nodes,
        })
    }

    /// Nodes of one kind of workload, in layout order.
    pub fn with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a RenderedNode> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.spec.roles.iter().any(|r| r == role))
    }
}
