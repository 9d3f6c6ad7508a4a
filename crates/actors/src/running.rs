//! A running node's handle: what the HTTP API, the CLI and tests hold to ask a node for its
//! status, submit and import visits, publish revocations and shut it down. It reaches the
//! actors through their contracts ([`crate::committer::ingress`], [`crate::orderer::ingress`],
//! [`crate::endorser::ingress`], [`crate::client::ingress`]);
//! [`start`](mod@crate::start) builds it.

use crate::client::ingress::{
    Import, ImportOutcome, ImportVisit, Mailbox as ClientMailbox, OutboxLen, Submit, SubmitOutcome,
    Visit,
};
use crate::committer::ingress::{
    CommitterStatus, FlaggedPeer, GetCommitterStatus, Mailbox as CommitterMailbox,
};
use crate::endorser::ingress::{ConfigIn, Mailbox as EndorserMailbox};
use crate::error::ActorError;
use crate::orderer::ingress::{GetConsensusStatus, Mailbox as OrdererMailbox};
use crate::shared::{Counters, Ctx};
use actix::Arbiter;
use medblock_core::cert::role_name;
use medblock_core::{Hash32, wire};
use medblock_p2p::{Topic, peer_id_string};
use prost::Message as _;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    pub committer: CommitterMailbox,
    /// The orderer.
    pub orderer: OrdererMailbox,
    /// The endorser, on endorser nodes.
    pub endorser: Option<EndorserMailbox>,
    /// The client, on department nodes.
    pub client: Option<ClientMailbox>,
    /// The patient registry and enrolment challenges, on department nodes.
    pub patients: Option<Arc<crate::registry::PatientDesk>>,
    /// The actors' Arbiters, stopped and joined at shutdown.
    pub(crate) arbiters: Arc<Mutex<Vec<Arbiter>>>,
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
        let c: CommitterStatus = self.committer.status.send(GetCommitterStatus).await?;
        let cs = self.orderer.status.send(GetConsensusStatus).await?;
        let outbox = match &self.client {
            Some(cl) => cl.outbox_len.send(OutboxLen).await?,
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
            .submit
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
            .import
            .send(Import {
                visits,
                wait_commit,
                timeout,
            })
            .await?
    }

    /// Takes a CA-signed configuration change (encoded `wire::ConfigChange`): checks it
    /// against the configuration in force, hands it to this node's endorser (if it is one)
    /// and gossips it to every endorser, whichever primary packs it next. It is in force once
    /// decided; [`RunningNode::config_history`] shows when. Answers its id and what it does.
    pub async fn submit_config(&self, bytes: Vec<u8>) -> Result<(Hash32, String), ActorError> {
        let change = self
            .ctx
            .config()
            .state
            .check(&bytes)
            .map_err(|e| ActorError::BadRequest(e.to_string()))?;
        if let Some(e) = &self.endorser {
            e.config
                .send(ConfigIn(bytes.clone()))
                .await?
                .map_err(|e| ActorError::BadRequest(e.to_string()))?;
        }
        let signed = wire::ConfigChange::decode(bytes.as_slice())
            .map_err(|e| ActorError::BadRequest(e.to_string()))?;
        let msg = wire::GossipMessage {
            kind: Some(wire::gossip_message::Kind::ConfigChange(signed)),
        };
        if let Err(e) = self
            .ctx
            .net
            .publish(Topic::Config, msg.encode_to_vec())
            .await
        {
            // Alone (no peer yet) is fine when this node is an endorser: it packs it itself.
            if self.endorser.is_none() {
                return Err(e.into());
            }
            tracing::debug!(error = %e, "configuration change not gossiped");
        }
        tracing::info!(change = %change.id, what = change.describe(), "configuration change submitted");
        Ok((change.id, change.describe()))
    }

    /// The configuration in force at this node's ledger tip: every change applied (height,
    /// id, what), the regions, the parameters and the membership.
    pub fn config_history(&self) -> Arc<crate::shared::InForce> {
        self.ctx.config()
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
