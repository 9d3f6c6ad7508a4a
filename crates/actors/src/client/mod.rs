//! The client: a hospital department (the paper's Steps 1 and 7). It keeps the full EMR in the
//! hospital's database, seals the summary to the patient's public sealing key (and the regulator
//! genesis names), binds the recording authorization the patient signed at enrolment (his
//! signature, see [`medblock_core::authorization`]), signs with the department's key, and
//! submits to its region's endorser. A visit for a patient not enrolled in the hospital's
//! registry ([`crate::registry`]), or whose authorization does not cover it, is refused before
//! anything is written. The node never holds a patient's private key.
//! Every event stays in a durable outbox until it is committed; one that gets no receipt in time
//! is resubmitted to another endorser (the sequence number makes the retry idempotent).
//!
//! [`ingress`] is its contract with the other actors (its messages and [`ingress::Mailbox`]).
//! The implementation is this module (the actor, its state and handlers), which only the
//! node's wiring constructs, and its children by concern: `record` (recording visits: the
//! EMR store and the outbox), `upload` (sending to endorsers and retrying) and [`import`]
//! (importing a hospital system's visits).

use self::ingress::{OutboxLen, ReadEmr, Submit};
use crate::clock::now_ms;
use crate::committer::ingress::BlockCommitted;
use crate::endorser::ingress::Mailbox as EndorserMailbox;
use crate::error::ActorError;
use crate::orderer::ingress::EndorserChanged;
use crate::registry::PatientDesk;
use crate::shared::Ctx;
use actix::prelude::*;
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::{EventKey, wire};
use medblock_storage::{EmrStore, EventQueue, RocksEmrStore};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

mod byzantine;
pub mod import;
pub mod ingress;
mod record;
mod upload;

// Other crates name a visit and its outcome here.
pub use ingress::{SubmitOutcome, Visit};

/// Visits one flush of the intake records together at most: with one synced write to the EMR
/// store and one to the outbox for all of them (group commit), a burst of visits costs a few
/// fsyncs, not two per visit; an import records in batches of this size too.
const FLUSH_MAX: usize = 512;

/// How long a visit that arrives alone waits for others to share its synced writes (group
/// commit): a hospital system sending each visit as it happens would otherwise cost two fsyncs
/// per visit, which at a few hundred visits a second is most of what a department does. A
/// backlog of [`GROUP_COMMIT_NOW`] visits or more is written at once.
pub const GROUP_COMMIT_WINDOW: Duration = Duration::from_millis(5);

/// Visits waiting that make a flush start without waiting out the window.
const GROUP_COMMIT_NOW: usize = 64;

/// Records the visits received since the last flush (see [`FLUSH_MAX`]).
#[derive(Message)]
#[rtype(result = "()")]
struct FlushIntake;

/// A visit waiting to be recorded, and who to tell.
struct Intake {
    visit: Visit,
    recorded: oneshot::Sender<Result<SubmitOutcome, ActorError>>,
    committed: Option<oneshot::Sender<SubmitOutcome>>,
}

struct Attempt {
    endorser: PublicKey,
    at_ms: u64,
    accepted: bool,
    /// The record's upload deadline: an accepted record is not chased before it.
    deadline_ms: u64,
}

/// The client actor.
pub struct Client {
    ctx: Ctx,
    outbox: EventQueue,
    emr: RocksEmrStore,
    /// The patient registry (its entries are cached in memory there).
    registry: Arc<PatientDesk>,
    /// Keys of the other departments of this hospital the node submits for (see
    /// [`crate::departments`]).
    departments: HashMap<String, Identity>,
    local_endorser: Option<EndorserMailbox>,
    endorser: Option<PublicKey>,
    attempts: HashMap<EventKey, Attempt>,
    waiters: HashMap<EventKey, Vec<oneshot::Sender<SubmitOutcome>>>,
    meta: HashMap<EventKey, SubmitOutcome>,
    receipt_timeout_ms: u64,
    commit_timeout_ms: u64,
    /// Visits received and not yet recorded.
    intake: std::collections::VecDeque<Intake>,
    flush_scheduled: bool,
    /// The scheduled flush waiting out [`GROUP_COMMIT_WINDOW`], to cancel when a backlog is
    /// written at once.
    flush_timer: Option<actix::SpawnHandle>,
}

impl Client {
    /// A client over its outbox, the hospital's EMR database and its patient registry.
    pub fn new(
        ctx: Ctx,
        outbox: EventQueue,
        emr: RocksEmrStore,
        registry: Arc<PatientDesk>,
    ) -> Self {
        let turn_timeout = ctx.genesis.params.turn_timeout_ms.max(1000);
        Self {
            ctx,
            outbox,
            emr,
            registry,
            departments: HashMap::new(),
            local_endorser: None,
            endorser: None,
            attempts: HashMap::new(),
            waiters: HashMap::new(),
            meta: HashMap::new(),
            receipt_timeout_ms: 3_000,
            // A primary may hold its turn for turn_timeout; give the events two turns.
            commit_timeout_ms: 2 * turn_timeout + 5_000,
            intake: Default::default(),
            flush_scheduled: false,
            flush_timer: None,
        }
    }

    /// The local endorser, when this node is one (uploads to it skip the network).
    pub fn with_local_endorser(mut self, e: EndorserMailbox) -> Self {
        self.local_endorser = Some(e);
        self
    }

    /// Keys of other departments of the hospital (from `data/departments`).
    pub fn with_departments(mut self, departments: HashMap<String, Identity>) -> Self {
        self.departments = departments;
        self
    }
}

/// A record put in the outbox: what sending it needs.
struct Recorded {
    key: EventKey,
    outcome: SubmitOutcome,
    /// The EMR's id in the hospital database.
    record_id: String,
    event: wire::Event,
    /// Size of the encoded event (what goes on the ledger).
    event_bytes: usize,
    deadline_ms: u64,
}

/// An event on its way to an endorser.
struct Outgoing {
    key: EventKey,
    event: wire::Event,
    deadline_ms: u64,
}

/// What [`Client::record`] needs for one event.
struct Record<'a> {
    patient: &'a str,
    department: &'a str,
    diagnosis: &'a str,
    examination_results: &'a str,
    treatment_plan: &'a str,
    /// The EMR's id in the hospital database; `department/sequence` when `None`.
    record_id: Option<String>,
    emr: &'a [u8],
    /// How long the record may wait (pacing).
    upload_within_ms: u64,
}

/// Summaries are small by design (64 KiB in all); the EMR carries the bulk.
fn check_summary_size(diagnosis: &str, exam: &str, plan: &str) -> Result<(), ActorError> {
    if diagnosis.len() + exam.len() + plan.len() > 64 * 1024 {
        return Err(ActorError::BadRequest("summary longer than 64 KiB".into()));
    }
    Ok(())
}

impl Actor for Client {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        if let Ok(n) = self.outbox.len()
            && n > 0
        {
            tracing::info!(outbox = n, "resubmitting events not yet committed");
        }
        ctx.run_interval(Duration::from_millis(250), |act, ctx| act.retry_due(ctx));
        self.start_access_flood(ctx);
    }
}

impl Handler<Submit> for Client {
    type Result = ResponseActFuture<Self, Result<Vec<SubmitOutcome>, ActorError>>;

    /// Visits join the intake and are recorded with whatever else arrives before the next
    /// flush (group commit); the answer comes once they are recorded, or committed.
    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) -> Self::Result {
        // Every visit's patient is enrolled and authorizes this department, or nothing of the
        // request is recorded.
        let own = self.department().1.to_owned();
        for v in &msg.visits {
            if let Err(e) = self.patient(&v.patient, &own) {
                return Box::pin(actix::fut::ready(Err(e)));
            }
        }
        let mut recorded = Vec::with_capacity(msg.visits.len());
        let mut committed = Vec::new();
        for visit in msg.visits {
            let (recorded_tx, recorded_rx) = oneshot::channel();
            let committed_tx = msg.wait_commit.then(|| {
                let (tx, rx) = oneshot::channel();
                committed.push(rx);
                tx
            });
            self.intake.push_back(Intake {
                visit,
                recorded: recorded_tx,
                committed: committed_tx,
            });
            recorded.push(recorded_rx);
        }
        self.schedule_flush(ctx);
        let timeout = msg.timeout;
        Box::pin(
            async move {
                let mut outcomes = Vec::with_capacity(recorded.len());
                for r in futures::future::join_all(recorded).await {
                    outcomes.push(r.map_err(|_| ActorError::Stopped)??);
                }
                if committed.is_empty() {
                    return Ok(outcomes);
                }
                let all = futures::future::join_all(committed);
                match tokio::time::timeout(timeout, all).await {
                    Ok(results) => Ok(results
                        .into_iter()
                        .zip(outcomes)
                        .map(|(r, fallback)| r.unwrap_or(fallback))
                        .collect()),
                    Err(_) => Err(ActorError::NotCommitted(format!(
                        "{} event(s) within {:?}",
                        outcomes.len(),
                        timeout
                    ))),
                }
            }
            .into_actor(self),
        )
    }
}

impl Handler<FlushIntake> for Client {
    type Result = ();

    fn handle(&mut self, _: FlushIntake, ctx: &mut Self::Context) {
        self.flush_intake(ctx);
    }
}

impl Handler<BlockCommitted> for Client {
    type Result = ();

    fn handle(&mut self, msg: BlockCommitted, _: &mut Self::Context) {
        let mine: Vec<EventKey> = msg
            .event_keys
            .iter()
            .filter(|k| self.meta.contains_key(k) || self.attempts.contains_key(k))
            .copied()
            .collect();
        // Events of this department committed, even ones from before a restart.
        let _ = self.outbox.remove(msg.event_keys.iter());
        for key in mine {
            self.ctx.metrics.upload_committed(key.0.0);
            self.attempts.remove(&key);
            let outcome = self.meta.remove(&key).map(|mut o| {
                o.height = msg.height;
                o.block_hash = msg.block_id.to_hex();
                o.status = "committed".into();
                o.committed_at_ms = now_ms();
                o.ordered_at_ms = msg.tip.timestamp_ms;
                o
            });
            if let (Some(o), Some(ws)) = (outcome, self.waiters.remove(&key)) {
                for w in ws {
                    let _ = w.send(o.clone());
                }
            }
        }
    }
}

impl Handler<EndorserChanged> for Client {
    type Result = ();

    fn handle(&mut self, msg: EndorserChanged, ctx: &mut Self::Context) {
        if msg.region == self.ctx.region() && self.endorser != Some(msg.endorser) {
            tracing::info!(endorser = %msg.endorser, "our region has a new endorser");
            self.endorser = Some(msg.endorser);
            // Events waiting on the old endorser go to the new one now.
            for a in self.attempts.values_mut() {
                if a.endorser != msg.endorser && !a.accepted {
                    a.at_ms = 0;
                }
            }
            self.retry_due(ctx);
        }
    }
}

impl Handler<OutboxLen> for Client {
    type Result = usize;

    fn handle(&mut self, _: OutboxLen, _: &mut Self::Context) -> usize {
        self.outbox.len().unwrap_or(0)
    }
}

impl Handler<ReadEmr> for Client {
    type Result = Result<Vec<u8>, ActorError>;

    fn handle(&mut self, msg: ReadEmr, _: &mut Self::Context) -> Self::Result {
        let Some(record_id) = self.emr.linked(&msg.department, msg.sequence)? else {
            return Err(ActorError::BadRequest(format!(
                "this hospital keeps no EMR for {}#{}",
                msg.department, msg.sequence
            )));
        };
        if !msg.record_id.is_empty() && msg.record_id != record_id {
            return Err(ActorError::BadRequest(format!(
                "record id {:?} is not the pointer of {}#{}",
                msg.record_id, msg.department, msg.sequence
            )));
        }
        Ok(self.emr.get(&record_id)?)
    }
}
