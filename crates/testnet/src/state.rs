//! The testnet's state file, `DIR/testnet.json`: which binary runs the nodes, where the CA and
//! genesis are, and for every node its spec, directory, ports, peer id and process id. Every
//! `testnet` command reads it and writes it back atomically, so commands can run from
//! different shells one after another.

use crate::error::{Result, TestnetError};
use crate::layout::NodeSpec;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most bootstrap peers a node's config names.
pub const MAX_BOOTSTRAP: usize = 16;

/// File name of the state inside the testnet directory.
pub const STATE_FILE: &str = "testnet.json";

/// File name, inside a node's directory, of the API token `testnet up` issues for it (mode
/// 0600): the testnet's own calls and the client commands against the testnet send it.
pub const API_TOKEN_FILE: &str = "api-token";

/// One node of the testnet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    /// What it is.
    pub spec: NodeSpec,
    /// Its directory (key, certificate, node.toml, data).
    pub dir: PathBuf,
    /// p2p TCP port on 127.0.0.1.
    pub p2p_port: u16,
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// libp2p peer id.
    pub peer_id: String,
    /// Process id while started by `testnet`.
    pub pid: Option<u32>,
    /// Removed (certificate revoked, stopped): kept for the record, never restarted.
    #[serde(default)]
    pub removed: bool,
    /// Its own host (`testnet up --hosts`): a network namespace and its address. `None`: the
    /// node shares 127.0.0.1 with the others.
    #[serde(default)]
    pub host: Option<crate::hosts::Host>,
}

impl NodeEntry {
    /// The address it listens on and announces: its host's, or 127.0.0.1.
    pub fn ip(&self) -> &str {
        self.host.as_ref().map_or("127.0.0.1", |h| h.ip.as_str())
    }

    /// Its p2p listen address (without peer id).
    pub fn listen(&self) -> String {
        format!("/ip4/{}/tcp/{}", self.ip(), self.p2p_port)
    }

    /// Its p2p multiaddr, with peer id.
    pub fn multiaddr(&self) -> String {
        format!("{}/p2p/{}", self.listen(), self.peer_id)
    }

    /// Its HTTP address (`ip:port`).
    pub fn http(&self) -> String {
        format!("{}:{}", self.ip(), self.http_port)
    }

    /// Its HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.http())
    }

    /// The file holding its API token (`DIR/nodes/<name>/api-token`).
    pub fn api_token_file(&self) -> PathBuf {
        self.dir.join(API_TOKEN_FILE)
    }

    /// Its API token, if `testnet up` issued one (the file's first line).
    pub fn api_token(&self) -> Option<String> {
        std::fs::read_to_string(self.api_token_file())
            .ok()?
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    }

    /// The node's HTTP API as the testnet calls it: its URL and token.
    pub fn api(&self) -> crate::http::Api {
        crate::http::Api {
            url: self.url(),
            token: self.api_token(),
        }
    }
}

/// The whole state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestnetState {
    /// The `medblock` binary that runs the nodes.
    pub bin: PathBuf,
    /// The testnet directory.
    pub dir: PathBuf,
    /// Regions.
    pub regions: Vec<String>,
    /// Nodes, founding members first.
    pub nodes: Vec<NodeEntry>,
    /// The demo-traffic process, when running.
    #[serde(default)]
    pub traffic_pid: Option<u32>,
    /// The p2p request timeout written into every node's config.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_ms: u64,
    /// The virtual network when every node has its own host (`testnet up --hosts`).
    #[serde(default)]
    pub hosts: Option<crate::hosts::HostNet>,
}

fn default_request_timeout() -> u64 {
    5_000
}

impl TestnetState {
    /// `DIR/testnet.json`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// The CA directory.
    pub fn ca_dir(&self) -> PathBuf {
        self.dir.join("ca")
    }

    /// The genesis file.
    pub fn genesis(&self) -> PathBuf {
        self.dir.join("genesis.pb")
    }

    /// The log file of a node.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{name}.log"))
    }

    /// Reads the state of the testnet in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = Self::path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| TestnetError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| TestnetError::State {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes the state (atomically: a temporary file renamed over the old one).
    pub fn save(&self) -> Result<()> {
        let path = Self::path(&self.dir);
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TestnetError::Invalid(format!("state not serializable: {e}")))?;
        std::fs::write(&tmp, text)
            .map_err(|e| TestnetError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &path)
            .map_err(|e| TestnetError::io(format!("writing {}", path.display()), e))
    }

    /// A node by name (removed ones included).
    pub fn node(&self, name: &str) -> Result<&NodeEntry> {
        self.nodes
            .iter()
            .find(|n| n.spec.name == name)
            .ok_or_else(|| self.unknown(name))
    }

    /// A node by name, mutable.
    pub fn node_mut(&mut self, name: &str) -> Result<&mut NodeEntry> {
        let err = self.unknown(name);
        self.nodes
            .iter_mut()
            .find(|n| n.spec.name == name)
            .ok_or(err)
    }

    fn unknown(&self, name: &str) -> TestnetError {
        let names: Vec<&str> = self.nodes.iter().map(|n| n.spec.name.as_str()).collect();
        TestnetError::Invalid(format!(
            "no node {name:?} in this testnet (nodes: {})",
            names.join(", ")
        ))
    }

    /// Nodes not removed.
    pub fn members(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| !n.removed)
    }

    /// Bootstrap multiaddrs for a node: every founding orderer and endorser (at most
    /// [`MAX_BOOTSTRAP`]) other than itself. Nodes suspect their region's endorser crashed when
    /// they hold no connection to it, so in a large network every node dials the consensus
    /// nodes directly instead of waiting for Kademlia to get there.
    ///
    /// On separate hosts (`--hosts`) a node is given one address, as an operator joining a
    /// network would be: the first founding node other than itself; Kademlia finds the rest.
    pub fn bootstrap_for(&self, name: &str) -> Vec<String> {
        if self.hosts.is_some() {
            return self
                .members()
                .find(|n| n.spec.name != name)
                .map(NodeEntry::multiaddr)
                .into_iter()
                .collect();
        }
        let consensus = |n: &&NodeEntry| {
            n.spec
                .roles
                .iter()
                .any(|r| r == "orderer" || r == "endorser")
        };
        let mut out: Vec<String> = self
            .members()
            .filter(|n| n.spec.name != name)
            .filter(consensus)
            .take(MAX_BOOTSTRAP)
            .map(NodeEntry::multiaddr)
            .collect();
        if out.is_empty() {
            out = self
                .members()
                .filter(|n| n.spec.name != name)
                .take(2)
                .map(NodeEntry::multiaddr)
                .collect();
        }
        out
    }
}
