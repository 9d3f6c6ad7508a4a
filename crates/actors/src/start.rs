//! Wiring one node: opens its stores, starts the p2p network on its own thread, starts each role
//! actor on its own Arbiter, and routes the network's events to them. The only module that
//! constructs the actors (it imports their implementations); it hands back a [`RunningNode`].

use crate::client::Client;
use crate::client::ingress::Mailbox as ClientMailbox;
use crate::clock::now_ms;
use crate::committer::Committer;
use crate::committer::ingress::{Mailbox as CommitterMailbox, Subscribe};
use crate::endorser::Endorser;
use crate::endorser::ingress::Mailbox as EndorserMailbox;
use crate::error::ActorError;
use crate::orderer::ingress::{Connect, Mailbox as OrdererMailbox};
use crate::orderer::{Orderer, start_turn_of};
use crate::peers::PeerBook;
use crate::query::QueryServer;
use crate::query::ingress::{Mailbox as QueryMailbox, SignedTips};
use crate::router::{self, Routes};
use crate::running::RunningNode;
use crate::shared::{Counters, Ctx, Shared};
use actix::prelude::*;
use medblock_core::block_rules::BlockLimits;
use medblock_core::cert::TrustStore;
use medblock_core::genesis::verify_genesis;
use medblock_core::keys::Identity;
use medblock_core::wire::{self, Role};
use medblock_p2p::P2pConfig;
use medblock_storage::{EventQueue, Ledger, OpenCheck, RocksEmrStore};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// What a node needs to start.
#[derive(Clone)]
pub struct NodeOptions {
    /// Where the node keeps its ledger, queues and (for departments) EMRs and the patient
    /// registry (public keys and authorizations only).
    pub data_dir: PathBuf,
    /// The node's keys.
    pub identity: Identity,
    /// Its certificate, issued by the CA genesis names.
    pub certificate: wire::Certificate,
    /// The genesis bytes.
    pub genesis: Vec<u8>,
    /// Multiaddr to listen on (`/ip4/127.0.0.1/tcp/0` picks a port).
    pub listen: String,
    /// Multiaddrs of nodes to join through.
    pub bootstrap: Vec<String>,
    /// Where this node serves HTTP (announced to peers; informational).
    pub http_address: String,
    /// The p2p request timeout.
    pub request_timeout: Duration,
    /// Who may stay connected, and how much each peer may ask at once.
    pub limits: PeerLimits,
    /// Test-only misbehaviour (all off by default; see [`crate::byzantine`]).
    pub byzantine: crate::byzantine::ByzantineConfig,
    /// Emulated latency to some hosts (tests and benchmarks only; see
    /// `medblock_p2p::latency`).
    pub latency: Option<medblock_p2p::latency::Latency>,
}

/// The p2p layer's limits on peers (`[p2p]` in node.toml); the defaults are
/// [`P2pConfig::new`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PeerLimits {
    /// A peer that neither shows a valid certificate nor asks a light-node question within
    /// this many milliseconds is disconnected.
    pub handshake_timeout_ms: u64,
    /// Established connections in total.
    pub max_connections: u32,
    /// Established connections per peer.
    pub max_connections_per_peer: u32,
    /// Light-node requests (challenges, queries, headers) one peer may have in flight.
    pub light_in_flight_per_peer: usize,
    /// Uploads one peer may have in flight.
    pub uploads_in_flight_per_peer: usize,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            handshake_timeout_ms: u64::try_from(P2pConfig::HANDSHAKE_TIMEOUT.as_millis())
                .unwrap_or(u64::MAX),
            max_connections: P2pConfig::MAX_CONNECTIONS,
            max_connections_per_peer: P2pConfig::MAX_CONNECTIONS_PER_PEER,
            light_in_flight_per_peer: P2pConfig::LIGHT_IN_FLIGHT_PER_PEER,
            uploads_in_flight_per_peer: P2pConfig::UPLOADS_IN_FLIGHT_PER_PEER,
        }
    }
}

impl std::fmt::Debug for NodeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeOptions")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .finish()
    }
}

/// Starts a node on the current actix System.
pub async fn start(opts: NodeOptions) -> Result<RunningNode, ActorError> {
    let genesis = verify_genesis(&opts.genesis)?;
    let mut trust: TrustStore = genesis.trust.clone();
    let certificate = trust.add(&opts.certificate)?;
    if certificate.key != opts.identity.signing.public() {
        return Err(ActorError::Config(
            "the certificate is for another key than the node's key file".into(),
        ));
    }
    trust
        .authorize(
            &certificate.key,
            certificate
                .roles()
                .first()
                .copied()
                .unwrap_or(Role::Unspecified),
            now_ms(),
        )
        .map_err(|e| ActorError::Config(format!("the node's own certificate is not valid: {e}")))?;
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| ActorError::Config(format!("{}: {e}", opts.data_dir.display())))?;
    let max_events = genesis.params.max_block_events as usize;
    let ledger = Arc::new(
        Ledger::open(
            &opts.data_dir.join("ledger"),
            OpenCheck::HashChain,
            max_events,
        )?
        .with_max_block_bytes(BlockLimits::from_params(&genesis.params).max_bytes)
        // Who may do what: genesis plus the configuration changes on this ledger.
        .with_genesis(&genesis)?,
    );
    let config = ledger.config().ok_or_else(|| {
        ActorError::Config("the ledger has no configuration after with_genesis".into())
    })?;
    if let Some(height) = config.revoked_at(certificate.body.serial) {
        return Err(ActorError::Config(format!(
            "this node's certificate {} was revoked on the ledger at height {height}; it may not take part",
            certificate.body.serial
        )));
    }

    // The Swarm gets its own thread.
    let mut p2p = P2pConfig::new(opts.identity.signing.clone(), opts.listen.clone());
    p2p.bootstrap = opts.bootstrap.clone();
    p2p.max_message_bytes = (genesis.params.max_message_bytes as usize).clamp(1 << 20, 64 << 20);
    p2p.request_timeout = opts.request_timeout;
    p2p.latency = opts.latency.clone();
    if let Some(l) = &p2p.latency {
        tracing::warn!(
            delay_ms = l.delay.as_millis() as u64,
            hosts = l.peers.len(),
            "emulated latency on: every byte from those hosts is held back (tests and benchmarks only)"
        );
    }
    // Kademlia's periodic walk: every 5 s it was 70% of an idle node's CPU (each walk queries
    // up to 20 peers, which each scan their routing tables), for a permissioned network whose
    // members rarely change. A newcomer still finds everyone at once (its own walk at start,
    // and libp2p walks again whenever its routing table holds fewer than 20 peers) and dials
    // them; the minute only bounds how long a node that was not dialled takes to learn of it.
    p2p.discovery_interval = Duration::from_secs(60);
    if !crate::budget::is_hub(&certificate) {
        p2p.target_peers = crate::budget::DIAL_TARGET;
        p2p.discovery_interval = crate::budget::DISCOVERY_INTERVAL;
    }
    let unpinged: medblock_p2p::Unpinged =
        Arc::new(RwLock::new(crate::budget::unpinged(&config, &certificate)));
    p2p.unpinged = Some(unpinged.clone());
    let members: medblock_p2p::Members = Arc::new(RwLock::new(crate::budget::members(&config)));
    p2p.members = Some(members.clone());
    let limits = opts.limits;
    p2p.handshake_timeout = Some(Duration::from_millis(limits.handshake_timeout_ms.max(100)));
    p2p.max_connections = limits.max_connections;
    p2p.max_connections_per_peer = limits.max_connections_per_peer;
    p2p.light_in_flight_per_peer = limits.light_in_flight_per_peer;
    p2p.uploads_in_flight_per_peer = limits.uploads_in_flight_per_peer;
    let mut arbiters = Vec::new();
    let net_arbiter = Arbiter::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    net_arbiter.spawn(async move {
        let _ = tx.send(medblock_p2p::spawn(p2p).await);
    });
    arbiters.push(net_arbiter);
    let (net, events) = rx.await.map_err(|_| ActorError::Stopped)??;

    let ctx: Ctx = Arc::new(Shared {
        name: certificate.body.name.clone(),
        genesis_hash: genesis.hash.0.to_vec(),
        identity: opts.identity.clone(),
        config: RwLock::new(Arc::new(crate::shared::InForce::new(config))),
        revoked: RwLock::new(ledger.revoked_authorizations()),
        net,
        peers: PeerBook::default(),
        counters: Counters::default(),
        http_address: opts.http_address.clone(),
        metrics: Arc::new(
            medblock_monitoring::Metrics::new(&certificate.body.name)
                .map_err(|e| ActorError::Config(format!("metrics: {e}")))?,
        ),
        data_dir: opts.data_dir.clone(),
        byzantine: opts.byzantine.clone(),
        unpinged,
        members,
        certificate,
        genesis,
    });
    if ctx.byzantine.any() {
        tracing::warn!(misbehaviour = ?ctx.byzantine.names(), "BYZANTINE TEST MODE: this node misbehaves on purpose");
    }
    tracing::info!(name = ctx.name, region = ctx.region(), listen = ?ctx.net.listen_addrs(), "node starting");

    let signed_tips = SignedTips::default();
    let committer =
        Committer::new(ctx.clone(), ledger.clone())?.with_signed_tips(signed_tips.clone());
    let committer = Committer::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| committer);

    let is_endorser = ctx.has_role(Role::Endorser);
    let endorser_state = if is_endorser {
        Some(Endorser::new(
            ctx.clone(),
            ledger.clone(),
            EventQueue::open(&opts.data_dir.join("pending"))?,
        ))
    } else {
        None
    };
    let tip = ledger.tip();
    let tip_block = ledger.block_at(tip.height)?;
    let start_turn = start_turn_of(tip_block.as_ref());
    let orderer_state = Orderer::new(
        ctx.clone(),
        CommitterMailbox::new(&committer),
        tip,
        start_turn,
    )?
    .with_ledger(ledger.clone())
    .resuming(tip_block.as_ref())?;
    let legacy = opts.data_dir.join("patients");
    if legacy.exists() {
        // Versions before enrolment created patients' private keys there; nothing reads them.
        tracing::warn!(
            dir = %legacy.display(),
            "this directory holds patients' private keys made by an older version; the node no \
             longer uses them (patients enrol with their own keys): delete it"
        );
    }
    let patients = if ctx.has_role(Role::Client) {
        let registry = medblock_storage::PatientRegistry::open(&opts.data_dir.join("registry"))
            .map_err(|e| ActorError::Config(format!("patient registry: {e}")))?;
        Some(Arc::new(crate::registry::PatientDesk::new(
            ctx.clone(),
            registry,
        )))
    } else {
        None
    };
    let client_state = if let Some(desk) = &patients {
        Some(
            Client::new(
                ctx.clone(),
                EventQueue::open(&opts.data_dir.join("outbox"))?,
                RocksEmrStore::open(&opts.data_dir.join("emr"))?,
                desk.clone(),
            )
            .with_departments(crate::departments::load(
                &opts.data_dir.join("departments"),
                &ctx,
            )?),
        )
    } else {
        None
    };

    // The orderer starts first; the endorser and client get its address, then it gets theirs
    // (its start-up actions wait for that `Connect`).
    let orderer = Orderer::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| orderer_state);
    let endorser = endorser_state.map(|e| {
        let e = e.with_orderer(orderer.clone().recipient(), orderer.clone().recipient());
        Endorser::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| e)
    });
    let client = client_state.map(|c| {
        let c = match &endorser {
            Some(e) => c.with_local_endorser(crate::endorser::ingress::Mailbox::new(e)),
            None => c,
        };
        Client::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| c)
    });
    orderer.do_send(Connect {
        endorser: endorser.clone().map(|e| e.recipient()),
        listeners: client.clone().map(|c| c.recipient()).into_iter().collect(),
    });

    committer.do_send(Subscribe(orderer.clone().recipient()));
    if let Some(e) = &endorser {
        committer.do_send(Subscribe(e.clone().recipient()));
    }
    if let Some(c) = &client {
        committer.do_send(Subscribe(c.clone().recipient()));
    }

    let query = QueryServer::new(ctx.clone(), ledger.clone(), signed_tips);
    let query = QueryServer::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| query);
    let routes = Routes {
        query: QueryMailbox::new(&query),
        ctx: ctx.clone(),
        committer: CommitterMailbox::new(&committer),
        orderer: OrdererMailbox::new(&orderer),
        endorser: endorser.as_ref().map(EndorserMailbox::new),
        client: client.as_ref().map(ClientMailbox::new),
    };
    actix::spawn(router::run(routes, events));
    Ok(RunningNode {
        ctx,
        committer: CommitterMailbox::new(&committer),
        orderer: OrdererMailbox::new(&orderer),
        endorser: endorser.as_ref().map(EndorserMailbox::new),
        client: client.as_ref().map(ClientMailbox::new),
        patients,
        arbiters: Arc::new(Mutex::new(arbiters)),
    })
}

/// A new Arbiter (thread) kept for shutdown; returns its handle.
fn spawn_arbiter(arbiters: &mut Vec<Arbiter>) -> ArbiterHandle {
    let a = Arbiter::new();
    let h = a.handle();
    arbiters.push(a);
    h
}

/// A node on its own thread with its own actix System, so that many nodes (and their
/// restarts) can run in one test process.
pub struct NodeThread {
    /// The running node (its addresses work from any thread).
    pub node: RunningNode,
    system: actix::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for NodeThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeThread")
            .field("node", &self.node)
            .finish()
    }
}

impl NodeThread {
    /// Starts a node on a new thread and waits until it is running.
    pub fn spawn(opts: NodeOptions) -> Result<Self, ActorError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("medblock-node".into())
            .spawn(move || {
                let sys = actix::System::new();
                let started = sys.block_on(start(opts));
                let ok = started.is_ok();
                let _ = tx.send(started.map(|n| (n, actix::System::current())));
                if ok {
                    let _ = sys.run();
                }
            })
            .map_err(|e| ActorError::Config(e.to_string()))?;
        let (node, system) = rx.recv().map_err(|_| ActorError::Stopped)??;
        Ok(Self {
            node,
            system,
            thread: Some(thread),
        })
    }

    /// Stops the node (as a crash would: no goodbye) and waits until its stores are closed.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        let Some(t) = self.thread.take() else {
            return;
        };
        let node = self.node.clone();
        let stopped = self.system.arbiter().spawn(async move {
            node.shutdown().await;
            actix::System::current().stop();
        });
        if !stopped {
            self.system.stop();
        }
        let _ = t.join();
    }
}

impl Drop for NodeThread {
    fn drop(&mut self) {
        self.halt();
    }
}
