//! A whole MedBlock network inside one process: a real CA, certificates and genesis (the same
//! code as `medblock ca`) and real nodes (RocksDB, libp2p on 127.0.0.1, the role actors), each on
//! its own thread with its own actix System. The benchmark drives it, so that figures measure the
//! product and not a model of it; processes add nothing to what is measured but start-up time.

use crate::ca::{self, IssueRequest, files};
use anyhow::{Context as _, Result, bail};
use medblock_actors::node::{NodeOptions, NodeStatus, NodeThread};
use medblock_core::wire;
use medblock_storage::keyfile::load_identity;
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One node's recipe: its name, region, roles and, for a department, hospital and department.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Node name (also its directory's name).
    pub name: String,
    /// Region whose endorser election it takes part in.
    pub region: String,
    /// Roles: endorser, orderer, committer, client.
    pub roles: Vec<String>,
    /// Hospital (departments only).
    pub hospital: String,
    /// Department (departments only).
    pub department: String,
}

impl NodeSpec {
    /// A node with `roles` given comma-separated.
    pub fn new(name: &str, region: &str, roles: &str) -> Self {
        Self {
            name: name.into(),
            region: region.into(),
            roles: roles.split(',').map(str::to_owned).collect(),
            hospital: String::new(),
            department: String::new(),
        }
    }

    /// Makes it a hospital department (a client).
    pub fn department(mut self, hospital: &str, department: &str) -> Self {
        self.hospital = hospital.into();
        self.department = department.into();
        self
    }

    /// Whether it holds `role`.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The reference network of the design: 2 regions, each with 2 endorser candidates and 2 of the
/// 4 orderers (f = 1), and one hospital department per region.
pub fn reference_network() -> Vec<NodeSpec> {
    vec![
        NodeSpec::new("r1-endorser-a", "region-1", "endorser,committer"),
        NodeSpec::new("r1-endorser-b", "region-1", "endorser,committer"),
        NodeSpec::new("r2-endorser-a", "region-2", "endorser,committer"),
        NodeSpec::new("r2-endorser-b", "region-2", "endorser,committer"),
        NodeSpec::new("orderer-1", "region-1", "orderer,committer"),
        NodeSpec::new("orderer-2", "region-1", "orderer,committer"),
        NodeSpec::new("orderer-3", "region-2", "orderer,committer"),
        NodeSpec::new("orderer-4", "region-2", "orderer,committer"),
        NodeSpec::new("h1-cardiology", "region-1", "client").department("h1", "cardiology"),
        NodeSpec::new("h2-oncology", "region-2", "client").department("h2", "oncology"),
    ]
}

/// A network of in-process nodes under one directory (`ca/`, `genesis.pb`, `nodes/<name>/`).
pub struct LocalNet {
    root: PathBuf,
    /// The nodes' recipes, by index.
    pub specs: Vec<NodeSpec>,
    nodes: Vec<Option<NodeThread>>,
    genesis: Vec<u8>,
    bootstrap: Vec<String>,
}

impl LocalNet {
    /// Creates the CA, certificates and genesis under `root` (which must not hold a network);
    /// nothing is started.
    pub fn create(
        root: &Path,
        specs: Vec<NodeSpec>,
        params: wire::ConsensusParams,
        now_ms: u64,
    ) -> Result<Self> {
        let mut regions: Vec<String> = specs.iter().map(|s| s.region.clone()).collect();
        regions.sort();
        regions.dedup();
        let ca_dir = root.join("ca");
        ca::init(&ca_dir, "local", &regions).context("creating the CA")?;
        for s in &specs {
            ca::issue(
                &ca_dir,
                &IssueRequest {
                    name: s.name.clone(),
                    region: s.region.clone(),
                    hospital: s.hospital.clone(),
                    department: s.department.clone(),
                    roles: s.roles.clone(),
                    node_dir: root.join("nodes").join(&s.name),
                    days: 30,
                },
                now_ms,
            )
            .with_context(|| format!("certifying {}", s.name))?;
        }
        let genesis_path = root.join(files::GENESIS);
        ca::genesis(&ca_dir, &genesis_path, Some(params), now_ms).context("writing genesis")?;
        let genesis = std::fs::read(&genesis_path).context("reading genesis")?;
        let n = specs.len();
        Ok(Self {
            root: root.to_owned(),
            specs,
            nodes: (0..n).map(|_| None).collect(),
            genesis,
            bootstrap: Vec::new(),
        })
    }

    fn options(&self, i: usize) -> Result<NodeOptions> {
        let spec = self.specs.get(i).context("no such node")?;
        let d = self.root.join("nodes").join(&spec.name);
        let cert = std::fs::read(d.join(files::CERTIFICATE)).context("certificate")?;
        Ok(NodeOptions {
            data_dir: d.join("data"),
            identity: load_identity(&d.join(files::NODE_KEY)).context("node key")?,
            certificate: wire::Certificate::decode(cert.as_slice())
                .context("certificate decodes")?,
            genesis: self.genesis.clone(),
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            bootstrap: self.bootstrap.clone(),
            http_address: String::new(),
            request_timeout: Duration::from_secs(3),
            limits: Default::default(),
            byzantine: Default::default(),
            latency: None,
        })
    }

    /// Starts node `i`; the first node started becomes everyone's bootstrap peer.
    pub fn start(&mut self, i: usize) -> Result<()> {
        let node = NodeThread::spawn(self.options(i)?)
            .with_context(|| format!("starting {}", self.specs[i].name))?;
        if self.bootstrap.is_empty() {
            self.bootstrap = node.node.ctx.net.listen_addrs();
        }
        self.nodes[i] = Some(node);
        Ok(())
    }

    /// Starts every node.
    pub fn start_all(&mut self) -> Result<()> {
        (0..self.specs.len()).try_for_each(|i| self.start(i))
    }

    /// Index of the node named `name`.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.specs.iter().position(|s| s.name == name)
    }

    /// Node `i`, when running.
    pub fn node(&self, i: usize) -> Option<&NodeThread> {
        self.nodes.get(i).and_then(Option::as_ref)
    }

    /// Statuses of the running nodes.
    pub async fn statuses(&self) -> Vec<NodeStatus> {
        let mut out = Vec::new();
        for n in self.nodes.iter().flatten() {
            if let Ok(s) = n.node.status().await {
                out.push(s);
            }
        }
        out
    }

    /// Waits until every node is admitted by every other and each region has an endorser.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let n = self.nodes.iter().flatten().count();
        let deadline = Instant::now() + timeout;
        loop {
            let st = self.statuses().await;
            if st.len() == n
                && st.iter().all(|s| {
                    s.peers.len() + 1 >= n && s.endorsers.iter().all(|e| e.endorser.is_some())
                })
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the network did not connect and elect endorsers within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops every node (each waits until its stores are closed).
    pub fn stop_all(&mut self) {
        for n in self.nodes.iter_mut() {
            if let Some(n) = n.take() {
                n.stop();
            }
        }
    }
}

impl Drop for LocalNet {
    fn drop(&mut self) {
        self.stop_all();
    }
}
