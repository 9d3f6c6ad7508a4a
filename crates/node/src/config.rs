//! A node's configuration file (`node.toml`): where its keys, certificate, genesis and data
//! live, where it listens and whom it joins through. Paths are relative to the file's directory.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `[p2p]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct P2pSection {
    /// Multiaddr to listen on.
    pub listen: String,
    /// Multiaddrs of nodes to join through (with `/p2p/<peer id>`).
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// How long a request waits for its answer.
    #[serde(default = "default_timeout")]
    pub request_timeout_ms: u64,
    /// Handshake timeout, connection limits and per-peer request limits.
    #[serde(flatten)]
    pub limits: medblock_actors::node::PeerLimits,
    /// Tests and benchmarks only (these machines have no `netem`): hold every byte received
    /// from `emulated_latency_peers` (IP addresses, e.g. another region's hosts) this long.
    /// 0, the default, leaves the transport as it is.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub emulated_latency_ms: u64,
    /// The hosts `emulated_latency_ms` applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulated_latency_peers: Vec<std::net::IpAddr>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

impl P2pSection {
    /// The emulated latency, if any.
    pub fn latency(&self) -> Option<medblock_p2p::latency::Latency> {
        (self.emulated_latency_ms > 0 && !self.emulated_latency_peers.is_empty()).then(|| {
            medblock_p2p::latency::Latency {
                delay: std::time::Duration::from_millis(self.emulated_latency_ms),
                peers: self.emulated_latency_peers.clone(),
            }
        })
    }
}

fn default_timeout() -> u64 {
    5_000
}

/// `[http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpSection {
    /// Address of /healthz, /status and the client API.
    pub listen: String,
    /// Paths served without an API token (exact, or a prefix when they end in `*`); every
    /// other path needs `Authorization: Bearer <token>`.
    #[serde(default = "default_public")]
    pub public: Vec<String>,
}

/// `[http] public` when the file does not say: [`crate::http::DEFAULT_PUBLIC`].
pub fn default_public() -> Vec<String> {
    crate::http::DEFAULT_PUBLIC
        .iter()
        .map(|p| (*p).to_owned())
        .collect()
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeConfig {
    /// The node's key file.
    pub key_file: PathBuf,
    /// Its certificate.
    pub certificate: PathBuf,
    /// The network's genesis.
    pub genesis: PathBuf,
    /// Data directory (ledger, queues, EMRs).
    pub data_dir: PathBuf,
    /// p2p.
    pub p2p: P2pSection,
    /// HTTP.
    pub http: HttpSection,
    /// Test-only misbehaviour (`[byzantine]`; absent on real nodes). A node refuses to start
    /// with any switch on unless run with `--allow-byzantine` or `MEDBLOCK_ALLOW_BYZANTINE=1`.
    #[serde(
        default,
        skip_serializing_if = "medblock_actors::byzantine::ByzantineConfig::is_off"
    )]
    pub byzantine: medblock_actors::byzantine::ByzantineConfig,
}

impl NodeConfig {
    /// Reads `path`, resolving relative paths against its directory.
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut c: NodeConfig = toml::from_str(&text)
            .with_context(|| format!("{} is not a node config", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut c.key_file,
            &mut c.certificate,
            &mut c.genesis,
            &mut c.data_dir,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }

    /// The file's text, with comments for people editing it.
    pub fn to_commented_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        let boot: Vec<String> = self.p2p.bootstrap.iter().map(|b| q(b)).collect();
        let public: Vec<String> = self.http.public.iter().map(|p| q(p)).collect();
        format!(
            "# MedBlock node configuration. Relative paths are relative to this file.\n\
             \n\
             # The node's keys (owner-only permissions) and its CA certificate, from `medblock ca issue`.\n\
             key_file = {}\n\
             certificate = {}\n\
             # The network's genesis, from `medblock ca genesis`: it names the CA, members and parameters.\n\
             genesis = {}\n\
             # Ledger, pending queue, outbox, EMR database and patient registry live here.\n\
             data_dir = {}\n\
             \n\
             [p2p]\n\
             # Where other nodes reach this one (a multiaddr; tcp/0 picks a free port).\n\
             listen = {}\n\
             # Nodes to join through, each ending in /p2p/<peer id>; Kademlia finds the rest.\n\
             bootstrap = [{}]\n\
             # How long a request to a peer waits for its answer, in milliseconds.\n\
             request_timeout_ms = {}\n\
             # A peer that shows no valid certificate (and asks no light-node question) within\n\
             # this many milliseconds is disconnected; until then it gets no gossip.\n\
             handshake_timeout_ms = {}\n\
             # Connections in total and per peer (libp2p's connection limits).\n\
             max_connections = {}\n\
             max_connections_per_peer = {}\n\
             # Requests one peer may have in flight: light-node questions, and uploads.\n\
             light_in_flight_per_peer = {}\n\
             uploads_in_flight_per_peer = {}\n\
             \n\
             [http]\n\
             # /healthz, /status, /metrics and the department API (POST /submit) are served here.\n\
             listen = {}\n\
             # Paths anyone may read without an API token (exact, or a prefix ending in *). Every\n\
             # other path (submit, import, enrolment, patient lookups, revocations) needs\n\
             # `Authorization: Bearer <token>` from `medblock node token create`.\n\
             public = [{}]\n",
            q(&self.key_file.display().to_string()),
            q(&self.certificate.display().to_string()),
            q(&self.genesis.display().to_string()),
            q(&self.data_dir.display().to_string()),
            q(&self.p2p.listen),
            boot.join(", "),
            self.p2p.request_timeout_ms,
            self.p2p.limits.handshake_timeout_ms,
            self.p2p.limits.max_connections,
            self.p2p.limits.max_connections_per_peer,
            self.p2p.limits.light_in_flight_per_peer,
            self.p2p.limits.uploads_in_flight_per_peer,
            q(&self.http.listen),
            public.join(", "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_default_and_round_trip_through_the_commented_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("node.toml");
        let old = "key_file = \"k\"\ncertificate = \"c\"\ngenesis = \"g\"\ndata_dir = \"data\"\n\
                   [p2p]\nlisten = \"/ip4/127.0.0.1/tcp/0\"\n[http]\nlisten = \"127.0.0.1:0\"\n";
        std::fs::write(&path, old).expect("write");
        let c = NodeConfig::load(&path).expect("a config without [http] public");
        assert_eq!(
            c.http.public,
            ["/healthz", "/readyz", "/livez", "/metrics", "/status"]
        );
        let mut c2 = c.clone();
        c2.http.public = vec!["/healthz".into()];
        std::fs::write(&path, c2.to_commented_toml()).expect("write");
        assert_eq!(
            NodeConfig::load(&path).expect("load").http.public,
            ["/healthz"]
        );
    }

    #[test]
    fn peer_limits_default_and_round_trip_through_the_commented_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("node.toml");
        let old = "key_file = \"k\"\ncertificate = \"c\"\ngenesis = \"g\"\ndata_dir = \"data\"\n\
                   [p2p]\nlisten = \"/ip4/127.0.0.1/tcp/0\"\n[http]\nlisten = \"127.0.0.1:0\"\n";
        std::fs::write(&path, old).expect("write");
        let c = NodeConfig::load(&path).expect("a config without limits");
        assert_eq!(c.p2p.limits, medblock_actors::node::PeerLimits::default());
        assert_eq!(c.p2p.limits.handshake_timeout_ms, 5_000);
        let mut c2 = c.clone();
        c2.p2p.limits.handshake_timeout_ms = 2_000;
        c2.p2p.limits.max_connections = 40;
        std::fs::write(&path, c2.to_commented_toml()).expect("write");
        assert_eq!(
            NodeConfig::load(&path).expect("load").p2p.limits,
            c2.p2p.limits
        );
    }
}
