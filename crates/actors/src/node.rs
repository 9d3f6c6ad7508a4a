//! Wiring one node: opens its stores, starts the p2p network on its own thread, starts each role
//! actor on its own Arbiter, and routes the network's events to them.

use crate::client::Client;
use crate::client::ingress::{
    Import, ImportOutcome, ImportVisit, OutboxLen, Submit, SubmitOutcome, Visit,
};
use crate::clock::now_ms;
use crate::committer::Committer;
use crate::committer::ingress::{
    CommitterStatus, FlaggedPeer, GetCommitterStatus, Mailbox as CommitterMailbox, Subscribe,
};
use crate::endorser::Endorser;
use crate::error::ActorError;
use crate::membership::Membership;
use crate::orderer::ingress::{Connect, GetConsensusStatus};
use crate::orderer::{Orderer, start_turn_of};
use crate::peers::PeerBook;
use crate::router::{self, Routes};
use crate::shared::{Counters, Ctx, Shared};
use actix::prelude::*;
use medblock_core::cert::{TrustStore, role_name};
use medblock_core::genesis::verify_genesis;
use medblock_core::keys::Identity;
use medblock_core::wire::{self, Role};
use medblock_p2p::{P2pConfig, Topic, peer_id_string};
use medblock_storage::{EventQueue, Ledger, OpenCheck, RocksEmrStore};
use prost::Message as _;
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

/// A peer as `/status` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerView {
    /// Certificate name.
    pub name: String,
    /// Key (hex).
    pub key: String,
    /// Region.
    pub region: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Last height it announced.
    pub height: u64,
    /// Its HTTP address.
    pub http: String,
}

/// A region's endorser as this node knows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct RegionView {
    /// Region.
    pub region: String,
    /// Election round.
    pub view: u64,
    /// Elected endorser (hex), if any.
    pub endorser: Option<String>,
}

/// Everything `/status` reports.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct NodeStatus {
    /// Certificate name.
    pub name: String,
    /// Public key (hex).
    pub key: String,
    /// libp2p PeerId.
    pub peer_id: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Region.
    pub region: String,
    /// Hospital.
    pub hospital: String,
    /// Committed height.
    pub height: u64,
    /// Tip block id (hex).
    pub tip_hash: String,
    /// Content ledger hash gossiped to peers (hex).
    pub ledger_hash: String,
    /// PBFT view of the current turn.
    pub view: u64,
    /// Current turn.
    pub turn: u64,
    /// Current primary endorser (hex).
    pub primary: Option<String>,
    /// This turn's orderer committee (hex keys).
    pub committee: Vec<String>,
    /// Endorser of each region.
    pub endorsers: Vec<RegionView>,
    /// Admitted peers.
    pub peers: Vec<PeerView>,
    /// Peers whose ledger hash differs from ours.
    pub flagged: Vec<FlaggedPeer>,
    /// Events in this department's outbox (not yet committed).
    pub outbox: usize,
    /// Counters.
    pub counters: std::collections::BTreeMap<String, u64>,
    /// p2p listen addresses.
    pub listen: Vec<String>,
    /// Genesis hash (hex).
    pub network: String,
}

/// A node running on the current actix System.
#[derive(Clone)]
pub struct RunningNode {
    /// Shared context.
    pub ctx: Ctx,
    /// The committer.
    pub committer: Addr<Committer>,
    /// The orderer.
    pub orderer: Addr<Orderer>,
    /// The endorser, on endorser nodes.
    pub endorser: Option<Addr<Endorser>>,
    /// The client, on department nodes.
    pub client: Option<Addr<Client>>,
    /// The patient registry and enrolment challenges, on department nodes.
    pub patients: Option<Arc<crate::registry::PatientDesk>>,
    arbiters: Arc<Mutex<Vec<Arbiter>>>,
}

impl std::fmt::Debug for RunningNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningNode")
            .field("name", &self.ctx.name)
            .finish()
    }
}

fn counters(c: &Counters) -> std::collections::BTreeMap<String, u64> {
    [
        ("uploads_accepted", &c.uploads_accepted),
        ("uploads_rejected", &c.uploads_rejected),
        ("blocks_committed", &c.blocks_committed),
        ("events_committed", &c.events_committed),
        ("decided_rejected", &c.decided_rejected),
        ("decided_copies_skipped", &c.decided_copies_skipped),
        ("ledger_mismatches", &c.ledger_mismatches),
        ("consensus_rejected", &c.consensus_rejected),
        ("consensus_send_failures", &c.consensus_send_failures),
        ("client_retries", &c.client_retries),
        ("record_writes", &c.record_writes),
        ("records_written", &c.records_written),
        ("peers_refused", &c.peers_refused),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Counters::get(v)))
    .collect()
}

impl RunningNode {
    /// The node's status.
    pub async fn status(&self) -> Result<NodeStatus, ActorError> {
        let c: CommitterStatus = self.committer.send(GetCommitterStatus).await?;
        let cs = self.orderer.send(GetConsensusStatus).await?;
        let outbox = match &self.client {
            Some(cl) => cl.send(OutboxLen).await?,
            None => 0,
        };
        let ctx = &self.ctx;
        Ok(NodeStatus {
            name: ctx.name.clone(),
            key: ctx.key().to_hex(),
            peer_id: peer_id_string(&ctx.key()),
            roles: ctx
                .certificate
                .roles()
                .into_iter()
                .map(|r| role_name(r).to_owned())
                .collect(),
            region: ctx.region().to_owned(),
            hospital: ctx.certificate.body.hospital.clone(),
            height: c.height,
            tip_hash: c.tip_hash,
            ledger_hash: c.ledger_hash,
            view: cs.pbft_view.unwrap_or(0),
            turn: cs.turn.unwrap_or(0),
            primary: cs.primary.map(|p| p.to_hex()),
            committee: cs.committee.iter().flatten().map(|k| k.to_hex()).collect(),
            endorsers: cs
                .regions
                .iter()
                .map(|r| RegionView {
                    region: r.name.clone(),
                    view: r.view,
                    endorser: r.endorser.map(|k| k.to_hex()),
                })
                .collect(),
            peers: ctx
                .peers
                .all()
                .into_iter()
                .map(|(k, e)| PeerView {
                    name: e.name,
                    key: k.to_hex(),
                    region: e.region,
                    roles: e.roles,
                    height: e.height,
                    http: e.http,
                })
                .collect(),
            flagged: c.flagged,
            outbox,
            counters: counters(&ctx.counters),
            listen: ctx.net.listen_addrs(),
            network: ctx.genesis.hash.to_hex(),
        })
    }

    /// Submits visits through this node's client role.
    pub async fn submit(
        &self,
        visits: Vec<Visit>,
        wait_commit: bool,
        timeout: Duration,
    ) -> Result<Vec<SubmitOutcome>, ActorError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ActorError::BadRequest(format!("{} has no client role", self.ctx.name))
        })?;
        client
            .send(Submit {
                visits,
                wait_commit,
                timeout,
            })
            .await?
    }

    /// The patient registry's front desk, on a department node.
    pub fn patients(&self) -> Result<&Arc<crate::registry::PatientDesk>, ActorError> {
        self.patients.as_ref().ok_or_else(|| {
            ActorError::BadRequest(format!(
                "{} is not a department node: it keeps no patient registry",
                self.ctx.name
            ))
        })
    }

    /// Imports visits filed under named departments of this hospital (see
    /// [`crate::client::import`]): all checked before any is stored.
    pub async fn import(
        &self,
        visits: Vec<ImportVisit>,
        wait_commit: bool,
        timeout: Duration,
    ) -> Result<Vec<ImportOutcome>, ActorError> {
        let client = self.client.as_ref().ok_or_else(|| {
            ActorError::BadRequest(format!("{} has no client role", self.ctx.name))
        })?;
        client
            .send(Import {
                visits,
                wait_commit,
                timeout,
            })
            .await?
    }

    /// Applies a CA-signed revocation list here and gossips it to the network.
    pub async fn publish_revocations(&self, list: wire::RevocationList) -> Result<u64, ActorError> {
        let version = {
            let mut trust = self.ctx.trust.write().unwrap_or_else(|e| e.into_inner());
            trust.apply_revocations(&list)?
        };
        let revoked = {
            let trust = self.ctx.trust.read().unwrap_or_else(|e| e.into_inner());
            self.ctx.peers.drop_revoked(|s| trust.is_revoked(s))
        };
        for k in revoked {
            self.ctx.net.disconnect(k).await;
        }
        let msg = wire::GossipMessage {
            kind: Some(wire::gossip_message::Kind::Revocations(list)),
        };
        self.ctx
            .net
            .publish(Topic::Revocations, msg.encode_to_vec())
            .await?;
        Ok(version)
    }

    /// Stops the network and every actor's Arbiter, and waits for their threads, so the
    /// node's RocksDB stores are closed when this returns.
    pub async fn shutdown(&self) {
        self.ctx.net.shutdown().await;
        if let Some(desk) = &self.patients {
            desk.close();
        }
        let arbiters: Vec<Arbiter> =
            std::mem::take(&mut *self.arbiters.lock().unwrap_or_else(|e| e.into_inner()));
        tokio::task::spawn_blocking(move || {
            for a in arbiters {
                a.stop();
                let _ = a.join();
            }
        })
        .await
        .ok();
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
    let membership = Membership::from_genesis(&genesis);
    let max_events = genesis.params.max_block_events as usize;
    let ledger = Arc::new(Ledger::open(
        &opts.data_dir.join("ledger"),
        OpenCheck::HashChain,
        max_events,
    )?);

    // The Swarm gets its own thread.
    let mut p2p = P2pConfig::new(opts.identity.signing.clone(), opts.listen.clone());
    p2p.bootstrap = opts.bootstrap.clone();
    p2p.max_message_bytes = (genesis.params.max_message_bytes as usize).clamp(1 << 20, 64 << 20);
    p2p.request_timeout = opts.request_timeout;
    p2p.discovery_interval = Duration::from_secs(5);
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
        membership,
        trust: RwLock::new(trust),
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
        certificate,
        genesis,
    });
    tracing::info!(name = ctx.name, region = ctx.region(), listen = ?ctx.net.listen_addrs(), "node starting");

    let signed_tips = crate::query::SignedTips::default();
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
    let start_turn = start_turn_of(ledger.block_at(tip.height)?.as_ref());
    let orderer_state = Orderer::new(
        ctx.clone(),
        CommitterMailbox::new(&committer),
        tip,
        start_turn,
    )?;
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

    let query = crate::query::QueryServer::new(ctx.clone(), ledger.clone(), signed_tips);
    let query =
        crate::query::QueryServer::start_in_arbiter(&spawn_arbiter(&mut arbiters), move |_| query);
    let routes = Routes {
        query,
        ctx: ctx.clone(),
        committer: CommitterMailbox::new(&committer),
        orderer: orderer.clone(),
        endorser: endorser.clone(),
        client: client.clone(),
    };
    actix::spawn(router::run(routes, events));
    Ok(RunningNode {
        ctx,
        committer,
        orderer,
        endorser,
        client,
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
