//! `medblock testnet render`: the same network `testnet up` builds (CA, certificates, genesis,
//! one configured node per member), written for a container platform instead of started as
//! local processes: a compose project ([`compose`]) or Kubernetes manifests ([`kubernetes`]).
//!
//! The key material is made exactly as `testnet up` makes it, by the `medblock ca` and
//! `medblock node init` subcommands an operator would type; only the addresses differ: every
//! node listens on all interfaces of its container and finds the others by DNS name (a compose
//! service name, or a StatefulSet pod's stable name behind its headless Service).

pub mod compose;
pub mod kubernetes;
mod material;

pub use material::{Material, RenderedNode};

/// The port every node's libp2p listens on inside its container.
pub const P2P_PORT: u16 = 7000;
/// The port every node's HTTP API (health, metrics, status, department API) listens on.
pub const HTTP_PORT: u16 = 8080;
/// Where a container keeps the node's data (a volume).
pub const DATA_DIR: &str = "/var/lib/medblock";
/// The user id the image runs as (not root).
pub const RUN_AS_UID: u32 = 10001;

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Output directory (created; must not hold a rendered network already).
    pub dir: std::path::PathBuf,
    /// The `medblock` binary that makes the key material.
    pub bin: std::path::PathBuf,
    /// Peers.
    pub nodes: usize,
    /// Regions.
    pub regions: usize,
    /// Orderers.
    pub orderers: usize,
    /// The container image the nodes run.
    pub image: String,
    /// Kubernetes namespace (part of every pod's DNS name).
    pub namespace: String,
}
