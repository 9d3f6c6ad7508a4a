//! An in-process MedBlock network for integration tests: a real CA, certificates and genesis
//! (the same code as `medblock ca`), and real nodes (RocksDB, libp2p on 127.0.0.1, actors), each
//! on its own thread with its own actix System so that nodes can be killed and restarted.

#![allow(dead_code)]

use medblock_actors::node::{NodeOptions, NodeStatus, NodeThread};
use medblock_core::genesis::default_params;
use medblock_core::wire;
use medblock_node::ca::{self, IssueRequest, files};
use medblock_storage::keyfile::load_identity;
use prost::Message;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One node's recipe (the library's, so tests and `medblock bench` build networks alike).
pub type Spec = medblock_node::localnet::NodeSpec;

/// The standard test network: 2 regions, each with 2 endorser candidates and 2 orderers, plus
/// one department per region (hospital h1 in region-1, h2 in region-2).
pub fn standard() -> Vec<Spec> {
    medblock_node::localnet::reference_network()
}

/// Consensus parameters tuned for tests: short turns and timeouts.
pub fn test_params() -> wire::ConsensusParams {
    wire::ConsensusParams {
        max_block_events: 200,
        block_interval_ms: 200,
        turn_timeout_ms: 4_000,
        view_change_timeout_ms: 1_500,
        committee_size: 4,
        checkpoint_interval: 16,
        ledger_gossip_interval_ms: 1_000,
        ..default_params()
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub specs: Vec<Spec>,
    pub nodes: Vec<Option<NodeThread>>,
    pub genesis: Vec<u8>,
    pub bootstrap: Vec<String>,
    /// Test-only misbehaviour per node index (see `medblock_actors::byzantine`).
    pub byzantine: std::collections::HashMap<usize, medblock_actors::byzantine::ByzantineConfig>,
}

pub fn ca_dir(root: &Path) -> PathBuf {
    root.join("ca")
}

pub fn node_dir(root: &Path, name: &str) -> PathBuf {
    root.join("nodes").join(name)
}

fn now_ms() -> u64 {
    medblock_actors::clock::now_ms()
}

impl Cluster {
    /// Creates the CA, certificates and genesis (nothing started).
    pub fn create(specs: Vec<Spec>, params: wire::ConsensusParams) -> Self {
        Self::create_with(specs, params, |_, _| {})
    }

    /// [`Cluster::create`], with `before_genesis(ca_dir, root)` run after the nodes'
    /// certificates and before genesis (e.g. to certify extra department keys).
    pub fn create_with(
        specs: Vec<Spec>,
        params: wire::ConsensusParams,
        before_genesis: impl FnOnce(&Path, &Path),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = ca_dir(dir.path());
        ca::init(&ca, "test", &["region-1".into(), "region-2".into()]).expect("ca init");
        for s in &specs {
            ca::issue(
                &ca,
                &IssueRequest {
                    name: s.name.clone(),
                    region: s.region.clone(),
                    hospital: s.hospital.clone(),
                    department: s.department.clone(),
                    roles: s.roles.clone(),
                    node_dir: node_dir(dir.path(), &s.name),
                    days: 30,
                },
                now_ms(),
            )
            .expect("issue");
        }
        before_genesis(&ca, dir.path());
        let genesis_path = dir.path().join(files::GENESIS);
        ca::genesis(&ca, &genesis_path, Some(params), now_ms()).expect("genesis");
        let genesis = std::fs::read(&genesis_path).expect("genesis bytes");
        let n = specs.len();
        Self {
            dir,
            specs,
            nodes: (0..n).map(|_| None).collect(),
            genesis,
            bootstrap: Vec::new(),
            byzantine: Default::default(),
        }
    }

    pub fn index(&self, name: &str) -> usize {
        self.specs
            .iter()
            .position(|s| s.name == name)
            .expect("known node")
    }

    pub fn options(&self, i: usize) -> NodeOptions {
        let d = node_dir(self.dir.path(), &self.specs[i].name);
        let cert = std::fs::read(d.join(files::CERTIFICATE)).expect("certificate");
        NodeOptions {
            data_dir: d.join("data"),
            identity: load_identity(&d.join(files::NODE_KEY)).expect("key"),
            certificate: wire::Certificate::decode(cert.as_slice()).expect("certificate decodes"),
            genesis: self.genesis.clone(),
            listen: "/ip4/127.0.0.1/tcp/0".into(),
            bootstrap: self.bootstrap.clone(),
            http_address: String::new(),
            request_timeout: Duration::from_secs(3),
            limits: Default::default(),
            byzantine: self.byzantine.get(&i).cloned().unwrap_or_default(),
            latency: None,
        }
    }

    /// Starts node `i`; the first node started becomes everyone's bootstrap peer.
    pub fn start(&mut self, i: usize) {
        let node = NodeThread::spawn(self.options(i)).expect("node starts");
        if self.bootstrap.is_empty() {
            self.bootstrap = node.node.ctx.net.listen_addrs();
        }
        self.nodes[i] = Some(node);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.specs.len() {
            self.start(i);
        }
    }

    /// Stops node `i` without a goodbye, as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop();
        }
    }

    pub fn node(&self, i: usize) -> &NodeThread {
        self.nodes[i].as_ref().expect("node running")
    }

    pub fn status(&self, i: usize) -> NodeStatus {
        let node = self.node(i).node.clone();
        block_on(async move { node.status().await }).expect("status")
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .collect()
    }

    /// Waits until `cond` holds over the statuses of running nodes, or panics with the last ones.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&[(usize, NodeStatus)]) -> bool,
    ) -> Vec<(usize, NodeStatus)> {
        let deadline = Instant::now() + timeout;
        loop {
            let st: Vec<(usize, NodeStatus)> = self
                .running()
                .into_iter()
                .map(|i| (i, self.status(i)))
                .collect();
            if cond(&st) {
                return st;
            }
            if Instant::now() > deadline {
                let brief: Vec<String> = st
                    .iter()
                    .map(|(_, s)| {
                        format!(
                            "{} h={} turn={} view={} peers={} endorsers={:?}",
                            s.name,
                            s.height,
                            s.turn,
                            s.view,
                            s.peers.len(),
                            s.endorsers
                                .iter()
                                .map(|e| e.endorser.clone().map(|k| k[..8].to_string()))
                                .collect::<Vec<_>>()
                        )
                    })
                    .collect();
                panic!("timed out waiting for {what}:\n{}", brief.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every running node is admitted by every other and each region has an endorser.
    pub fn wait_ready(&self, timeout: Duration) {
        let n = self.running().len();
        self.wait_for(
            "a fully connected network with elected endorsers",
            timeout,
            |st| {
                st.iter().all(|(_, s)| {
                    s.peers.len() + 1 >= n && s.endorsers.iter().all(|e| e.endorser.is_some())
                })
            },
        );
    }

    /// The standard network plus a regulator certificate (genesis names it); the regulator is a
    /// light node, so it is not started.
    pub fn with_regulator() -> Self {
        let mut specs = standard();
        specs.push(Spec::new("regulator", "region-1", "regulator"));
        let mut c = Cluster::create(specs, test_params());
        for i in 0..c.specs.len() {
            if c.specs[i].name != "regulator" {
                c.start(i);
            }
        }
        c.wait_ready(Duration::from_secs(40));
        c
    }

    /// Certifies `spec` after genesis, on the ledger, and starts it: the node starts first (its
    /// CA-signed certificate lets it connect and follow the chain), then the CA's configuration
    /// change goes to node `via`, and this waits until every running node's ledger holds it.
    /// So the node is caught up and connected when its roles take effect, as an operator would
    /// bring a new orderer in. Returns its index.
    pub fn join(&mut self, spec: Spec, via: usize) -> usize {
        let ca = ca_dir(self.dir.path());
        let issued = ca::issue(
            &ca,
            &IssueRequest {
                name: spec.name.clone(),
                region: spec.region.clone(),
                hospital: spec.hospital.clone(),
                department: spec.department.clone(),
                roles: spec.roles.clone(),
                node_dir: node_dir(self.dir.path(), &spec.name),
                days: 30,
            },
            now_ms(),
        )
        .expect("issue");
        self.specs.push(spec);
        self.nodes.push(None);
        let i = self.specs.len() - 1;
        self.start(i);
        // Caught up and connected before its roles count, as an operator would wait.
        let target = self.status(via).height;
        let peers = self.running().len() - 1;
        self.wait_for(
            &format!("{} caught up and connected", self.specs[i].name),
            Duration::from_secs(60),
            |st| {
                st.iter()
                    .any(|(j, s)| *j == i && s.height >= target && s.peers.len() >= peers)
            },
        );
        let change = ca::issue_change(&ca, issued.serial, now_ms()).expect("issue change");
        self.submit_change(change, via, |c| c.issued_at(issued.serial).is_some());
        i
    }

    /// Revokes `name`'s certificate on the ledger through node `via`, waits until every other
    /// running node's ledger holds the revocation, and stops `name` (revoked, it is cut off
    /// and would never see its own revocation).
    pub fn revoke(&mut self, name: &str, via: usize) {
        let ca = ca_dir(self.dir.path());
        let serial = ca::serial_of(&ca, name).expect("serial");
        let change = ca::revoke_change(&ca, serial, "test", now_ms()).expect("revocation");
        let i = self.index(name);
        let node = self.node(via).node.clone();
        block_on(async move { node.submit_config(change).await }).expect("change taken");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.running().iter().filter(|j| **j != i).all(|j| {
            self.node(*j)
                .node
                .ctx
                .config()
                .state
                .revoked_at(serial)
                .is_some()
        }) {
            assert!(
                Instant::now() < deadline,
                "{name}'s revocation not decided in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill(i);
    }

    /// Submits a signed configuration change through node `via` and waits until `done` holds
    /// for every running node's configuration.
    pub fn submit_change(
        &self,
        change: Vec<u8>,
        via: usize,
        done: impl Fn(&medblock_core::config::ConfigState) -> bool,
    ) {
        let node = self.node(via).node.clone();
        block_on(async move { node.submit_config(change).await }).expect("change taken");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self
            .running()
            .iter()
            .all(|i| done(&self.node(*i).node.ctx.config().state))
        {
            if Instant::now() > deadline {
                let brief: Vec<String> = self
                    .running()
                    .iter()
                    .map(|i| {
                        let s = self.status(*i);
                        format!(
                            "{} h={} turn={} view={} committee={:?} config_at={} done={}",
                            s.name,
                            s.height,
                            s.turn,
                            s.view,
                            s.committee,
                            self.node(*i).node.ctx.config().state.height(),
                            done(&self.node(*i).node.ctx.config().state)
                        )
                    })
                    .collect();
                panic!(
                    "configuration change not on every ledger within 60 s:\n{}",
                    brief.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The first p2p address node `name` listens on.
    pub fn p2p_addr(&self, name: &str) -> String {
        self.node(self.index(name)).node.ctx.net.listen_addrs()[0].clone()
    }
}

/// Runs a future on a throwaway current-thread runtime (node addresses work from any thread).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// `n` synthetic visits for patients p0..p(patients-1).
pub fn visits(prefix: &str, n: usize, patients: usize) -> Vec<medblock_actors::client::Visit> {
    (0..n)
        .map(|i| medblock_actors::client::Visit {
            patient: format!("{prefix}-patient-{}", i % patients.max(1)),
            diagnosis: format!("diagnosis {i}"),
            examination_results: format!("exam {i}"),
            treatment_plan: format!("plan {i}"),
            emr: None,
            upload_within_ms: 0,
        })
        .collect()
}
