//! The client: a hospital department (the paper's Steps 1 and 7). It keeps the full EMR in the
//! hospital's database, seals the summary to the patient's public sealing key (and the regulator
//! genesis names), binds the recording authorization the patient signed at enrolment (his
//! signature, see [`medblock_core::authorization`]), signs with the department's key, and
//! submits to its region's endorser. A visit for a patient not enrolled in the hospital's
//! registry ([`crate::registry`]), or whose authorization does not cover it, is refused before
//! anything is written. The node never holds a patient's private key.
//! Every event stays in a durable outbox until it is committed; one that gets no receipt in time
//! is resubmitted to another endorser (the sequence number makes the retry idempotent).

use crate::clock::now_ms;
use crate::committer::ingress::BlockCommitted;
use crate::endorser::ingress::{Mailbox as EndorserMailbox, UploadBatchIn};
use crate::error::ActorError;
use crate::orderer::ingress::EndorserChanged;
use crate::registry::PatientDesk;
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::event::{NewAuthorizedEvent, build_authorized_event};
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::sha256;
use medblock_core::{EventKey, wire};
use medblock_storage::{EmrStore, EventQueue, LinkedEmr, QueuedEvent, RocksEmrStore};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

pub mod import;

/// One visit to record: what a department enters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Visit {
    /// The patient's local id at the hospital (MRN), exactly as enrolled in its registry.
    pub patient: String,
    /// Diagnosis.
    pub diagnosis: String,
    /// Examination results.
    #[serde(default)]
    pub examination_results: String,
    /// Treatment plan.
    #[serde(default)]
    pub treatment_plan: String,
    /// The full EMR kept in the hospital's database (any text, e.g. a FHIR Bundle); when
    /// absent, a FHIR R4 Bundle of the summary's fields.
    #[serde(default)]
    pub emr: Option<String>,
    /// How long the record may wait before it is committed (turn-based, paced upload, see
    /// [`medblock_core::pacing`]); 0, the default, sends it with the next turn.
    #[serde(default)]
    pub upload_within_ms: u64,
}

/// What became of a submitted visit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Sequence number.
    pub sequence: u64,
    /// The patient's public key (hex).
    pub patient_key: String,
    /// SHA-256 of the EMR (hex).
    pub emr_sha256: String,
    /// Committed height (0 if only accepted).
    pub height: u64,
    /// Block id (hex; empty if only accepted).
    pub block_hash: String,
    /// "committed" or "accepted".
    pub status: String,
    /// When this node recorded the visit (ms since the Unix epoch): its upload deadline runs
    /// from here.
    #[serde(default)]
    pub recorded_at_ms: u64,
    /// When this node saw the record committed (ms since the Unix epoch; 0 while only
    /// accepted): the ledger's time, not when the answer reached the caller.
    #[serde(default)]
    pub committed_at_ms: u64,
    /// The block's orderer timestamp (ms since the Unix epoch; 0 while only accepted): when
    /// the ledger ordered the record, the same on every node, however late this one saw it.
    #[serde(default)]
    pub ordered_at_ms: u64,
}

/// Submit visits; answers once every one is committed (or the timeout passes).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<SubmitOutcome>, ActorError>")]
pub struct Submit {
    /// The visits.
    pub visits: Vec<Visit>,
    /// Wait for the commit (true) or for the endorser's acceptance only (false).
    pub wait_commit: bool,
    /// How long to wait.
    pub timeout: Duration,
}

/// Outbox size (for status and tests).
#[derive(Debug, Message)]
#[rtype(result = "usize")]
pub struct OutboxLen;

/// Uploads a department keeps unanswered at once (see `Client::retry_due`).
const MAX_IN_FLIGHT: usize = 256;

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

/// Events one upload request carries at most, and its encoded size at most (well under the
/// network's message limit).
const UPLOAD_BATCH_EVENTS: usize = 256;
const UPLOAD_BATCH_BYTES: usize = 1 << 20;

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

    fn department(&self) -> (&str, &str) {
        let b = &self.ctx.certificate.body;
        (b.hospital.as_str(), b.department.as_str())
    }

    /// The enrolled patient's registry entry, when his authorization lets `department` record
    /// a visit now (see [`PatientDesk::authorization_for`]).
    fn patient(
        &self,
        id: &str,
        department: &str,
    ) -> Result<Arc<medblock_storage::RegistryEntry>, ActorError> {
        Ok(self.registry.authorization_for(id, department, now_ms())?)
    }

    /// The EMR of a visit: its own, or a FHIR Bundle of its summary when it brings none.
    fn visit_emr(&self, visit: &mut Visit) -> Vec<u8> {
        let (hospital, department) = self.department();
        visit.emr.take().map(String::into_bytes).unwrap_or_else(|| {
            medblock_fhir::visit_bundle(&medblock_fhir::VisitEmr {
                seed: rand::random(),
                hospital,
                department,
                patient: &visit.patient,
                diagnosis: &visit.diagnosis,
                examination_results: &visit.examination_results,
                treatment_plan: &visit.treatment_plan,
            })
        })
    }

    /// The signing key of `department` of this hospital: the node's own, or one of its extra
    /// department keys.
    fn provider(&self, department: &str) -> Result<&Identity, ActorError> {
        if department == self.department().1 {
            return Ok(&self.ctx.identity);
        }
        self.departments.get(department).ok_or_else(|| {
            ActorError::BadRequest(format!(
                "this node holds no certified key for department {department:?} of {}",
                self.department().0
            ))
        })
    }

    /// Stores the EMRs, seals and signs each event for its department, and puts them in the
    /// outbox: one synced write to the EMR store and one to the outbox for the whole batch.
    /// A record that cannot be built (unknown department, bad patient id) is refused alone;
    /// when a write fails, none of the batch is recorded.
    fn record_many(
        &mut self,
        records: &[Record<'_>],
    ) -> Result<Vec<Result<Recorded, ActorError>>, ActorError> {
        let mut next = HashMap::new();
        // The encoded events go straight to the outbox write; the records keep their size.
        let mut queued = Vec::with_capacity(records.len());
        let mut built: Vec<Result<Recorded, ActorError>> = Vec::with_capacity(records.len());
        for r in records {
            built.push(self.build_one(r, &mut next).map(|(recorded, bytes)| {
                queued.push(QueuedEvent {
                    order_ms: recorded.deadline_ms,
                    key: recorded.key,
                    bytes,
                });
                recorded
            }));
        }
        let links: Vec<LinkedEmr<'_>> = records
            .iter()
            .zip(&built)
            .filter_map(|(r, b)| {
                let b = b.as_ref().ok()?;
                Some(LinkedEmr {
                    record_id: &b.record_id,
                    emr: r.emr,
                    department: &b.outcome.department,
                    sequence: b.outcome.sequence,
                })
            })
            .collect();
        if links.is_empty() {
            return Ok(built);
        }
        let unrecorded = |e: medblock_storage::StorageError| ActorError::Unrecorded(e.to_string());
        // First the EMRs: a record id already held with other bytes refuses the whole batch
        // before any sequence number is taken (the caller's mistake, so a 400 naming the id).
        self.emr.put_linked_many(&links).map_err(|e| match e {
            e @ medblock_storage::StorageError::RecordIdTaken { .. } => {
                ActorError::BadRequest(e.to_string())
            }
            e => unrecorded(e),
        })?;
        // The counters reach the write-ahead log now and are fsynced with the outbox below.
        for (name, last) in &next {
            self.outbox.set_counter(name, *last).map_err(unrecorded)?;
        }
        // The outbox is in deadline order, like the endorser's queue.
        self.outbox.insert_many(&queued).map_err(unrecorded)?;
        Counters::inc(&self.ctx.counters.record_writes);
        Counters::add(&self.ctx.counters.records_written, links.len() as u64);
        for b in built.iter().flatten() {
            self.ctx.metrics.upload_sent(b.key.0.0);
            self.meta.insert(b.key, b.outcome.clone());
        }
        Ok(built)
    }

    /// Seals and signs one record with the next sequence number of its department (`next`
    /// holds the numbers this batch has taken so far); writes nothing. Returns the record and
    /// its encoded event.
    fn build_one(
        &mut self,
        r: &Record<'_>,
        next: &mut HashMap<String, u64>,
    ) -> Result<(Recorded, Vec<u8>), ActorError> {
        let provider = self.provider(r.department)?.signing.clone();
        let patient = self.patient(r.patient, r.department)?;
        let hospital = self.department().0.to_owned();
        let department = r.department.to_owned();
        // The node's own department keeps the counter name it always had.
        let counter = if department == self.department().1 {
            "next_sequence".to_owned()
        } else {
            format!("next_sequence/{department}")
        };
        let last = match next.get(&counter) {
            Some(n) => *n,
            None => self.outbox.counter(&counter)?,
        };
        let sequence = last + 1;
        next.insert(counter, sequence);
        let record_id = match &r.record_id {
            Some(id) => id.clone(),
            None => {
                // The default id, unless an import already holds it under that name (the
                // store never replaces a record): then a fresh suffix keeps both.
                let id = format!("{department}/{sequence}");
                if self.emr.contains(&id)? {
                    format!("{id}-{}", hex::encode(rand::random::<[u8; 8]>()))
                } else {
                    id
                }
            }
        };
        let emr_sha = sha256(r.emr);
        let summary = wire::Summary {
            diagnosis: r.diagnosis.to_owned(),
            examination_results: r.examination_results.to_owned(),
            treatment_plan: r.treatment_plan.to_owned(),
            pointer: Some(wire::RecordPointer {
                hospital: hospital.clone(),
                record_id: record_id.clone(),
            }),
            emr_sha256: emr_sha.0.to_vec(),
        };
        let regulator = self.ctx.genesis.regulator_sealing;
        let event = build_authorized_event(
            &NewAuthorizedEvent {
                summary: &summary,
                sequence,
                hospital: &hospital,
                department: &department,
                authorization: &patient.authorization,
                provider: &provider,
                regulator: regulator.as_ref(),
                created_at_ms: now_ms(),
            },
            &mut rand::rng(),
        );
        let key = EventKey::new(&hospital, &department, sequence);
        let bytes = event.encode_to_vec();
        let now = now_ms();
        let deadline_ms = medblock_core::pacing::deadline(now, r.upload_within_ms);
        let recorded = Recorded {
            key,
            outcome: SubmitOutcome {
                hospital,
                department,
                sequence,
                patient_key: patient.patient_key().to_hex(),
                emr_sha256: emr_sha.to_hex(),
                height: 0,
                block_hash: String::new(),
                status: "accepted".into(),
                recorded_at_ms: now,
                committed_at_ms: 0,
                ordered_at_ms: 0,
            },
            record_id,
            event,
            event_bytes: bytes.len(),
            deadline_ms,
        };
        Ok((recorded, bytes))
    }

    /// The endorser to use: the elected one of our region, or, after it failed us, the next
    /// candidate of the region.
    fn pick_endorser(&self, avoid: Option<PublicKey>) -> Option<PublicKey> {
        let region = self.ctx.membership.region(self.ctx.region())?;
        if let Some(e) = self.endorser.filter(|e| Some(*e) != avoid) {
            return Some(e);
        }
        let n = region.candidates.len();
        let start = avoid
            .and_then(|a| region.candidates.iter().position(|c| *c == a))
            .map(|i| i + 1)
            .unwrap_or(0);
        (0..n)
            .filter_map(|i| region.candidates.get((start + i) % n).copied())
            .find(|c| Some(*c) != avoid)
    }

    /// Sends events to their endorsers, those for one endorser together in batches of at most
    /// [`UPLOAD_BATCH_EVENTS`] events and [`UPLOAD_BATCH_BYTES`] bytes. An event that was sent
    /// before goes to another endorser than last time.
    fn send_many(&mut self, events: Vec<Outgoing>, ctx: &mut Context<Self>) {
        let mut groups: Vec<(PublicKey, Vec<Outgoing>)> = Vec::new();
        for out in events {
            let avoid = self.attempts.get(&out.key).map(|a| a.endorser);
            let Some(endorser) = self.pick_endorser(avoid) else {
                // The rest stays in the outbox for the next retry tick.
                tracing::warn!("no endorser known for our region yet");
                break;
            };
            if avoid.is_some() {
                Counters::inc(&self.ctx.counters.client_retries);
                tracing::debug!(endorser = %endorser, "resubmitting to another endorser");
            }
            self.attempts.insert(
                out.key,
                Attempt {
                    endorser,
                    at_ms: now_ms(),
                    accepted: false,
                    deadline_ms: out.deadline_ms,
                },
            );
            match groups.iter_mut().find(|(e, _)| *e == endorser) {
                Some((_, g)) => g.push(out),
                None => groups.push((endorser, vec![out])),
            }
        }
        for (endorser, group) in groups {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for out in group {
                let len = out.event.encoded_len();
                if !batch.is_empty()
                    && (batch.len() >= UPLOAD_BATCH_EVENTS || bytes + len > UPLOAD_BATCH_BYTES)
                {
                    self.send_batch(endorser, std::mem::take(&mut batch), ctx);
                    bytes = 0;
                }
                bytes += len;
                batch.push(out);
            }
            if !batch.is_empty() {
                self.send_batch(endorser, batch, ctx);
            }
        }
    }

    /// One upload request to `endorser`; each event's attempt is marked accepted when the
    /// signed batch receipt names it, or due for a prompt retry elsewhere when it is refused.
    fn send_batch(&mut self, endorser: PublicKey, batch: Vec<Outgoing>, ctx: &mut Context<Self>) {
        let keys: Vec<EventKey> = batch.iter().map(|o| o.key).collect();
        let now = now_ms();
        let uploads = wire::UploadBatch {
            uploads: batch
                .into_iter()
                .map(|o| wire::Upload {
                    event: Some(o.event),
                    // A retry keeps the original deadline: only the time left goes along.
                    upload_within_ms: o.deadline_ms.saturating_sub(now),
                })
                .collect(),
        };
        let local = self
            .local_endorser
            .clone()
            .filter(|_| endorser == self.ctx.key());
        let net = self.ctx.net.clone();
        let fut = async move {
            if let Some(local) = local {
                return match local.upload_batch.send(UploadBatchIn(uploads)).await {
                    Ok(Ok(a)) => Ok(a),
                    Ok(Err(e)) => Err(e.message),
                    Err(e) => Err(e.to_string()),
                };
            }
            let req = wire::NetRequest {
                kind: Some(wire::net_request::Kind::UploadBatch(uploads)),
            };
            match net.request(endorser, req).await {
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::BatchAnswer(a)),
                }) => Ok(a),
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(e)),
                }) => Err(e.message),
                Ok(_) => Err("unexpected answer".into()),
                Err(e) => Err(e.to_string()),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            let accepted = match res {
                Ok(answer) => {
                    for r in &answer.refused {
                        let reason = r.error.as_ref().map(|e| e.message.as_str()).unwrap_or("");
                        tracing::debug!(endorser = %endorser, reason, "upload not accepted");
                    }
                    accepted_keys(&answer, &endorser)
                }
                Err(reason) => {
                    tracing::debug!(endorser = %endorser, reason, "upload batch not accepted");
                    HashSet::new()
                }
            };
            for key in keys {
                if let Some(a) = act.attempts.get_mut(&key) {
                    if accepted.contains(&key) {
                        a.accepted = true;
                    } else if !a.accepted {
                        // Retry promptly with another endorser.
                        a.at_ms = 0;
                    }
                }
            }
        }));
    }

    /// Records what arrived since the last flush, at most [`FLUSH_MAX`] visits, and sends it.
    fn flush_intake(&mut self, ctx: &mut Context<Self>) {
        self.flush_scheduled = false;
        self.flush_timer = None;
        let n = self.intake.len().min(FLUSH_MAX);
        let taken: Vec<Intake> = self.intake.drain(..n).collect();
        if !self.intake.is_empty() {
            self.schedule_flush(ctx);
        }
        if taken.is_empty() {
            return;
        }
        let mut visits = Vec::with_capacity(taken.len());
        let mut emrs = Vec::with_capacity(taken.len());
        let mut intakes = Vec::with_capacity(taken.len());
        for mut i in taken {
            match check_summary_size(
                &i.visit.diagnosis,
                &i.visit.examination_results,
                &i.visit.treatment_plan,
            ) {
                Ok(()) => {
                    emrs.push(self.visit_emr(&mut i.visit));
                    visits.push(i.visit);
                    intakes.push((i.recorded, i.committed));
                }
                Err(e) => {
                    let _ = i.recorded.send(Err(e));
                }
            }
        }
        let own = self.department().1.to_owned();
        let records: Vec<Record<'_>> = visits
            .iter()
            .zip(&emrs)
            .map(|(v, emr)| Record {
                patient: &v.patient,
                department: &own,
                diagnosis: &v.diagnosis,
                examination_results: &v.examination_results,
                treatment_plan: &v.treatment_plan,
                record_id: None,
                emr,
                upload_within_ms: v.upload_within_ms,
            })
            .collect();
        let recorded = match self.record_many(&records) {
            Ok(r) => r,
            Err(e) => {
                // The caller's mistake stays a bad request (400); anything else is unrecorded.
                let err = |e: &ActorError| match e {
                    ActorError::BadRequest(m) => ActorError::BadRequest(m.clone()),
                    e => ActorError::Unrecorded(e.to_string()),
                };
                for (tx, _) in intakes {
                    let _ = tx.send(Err(err(&e)));
                }
                return;
            }
        };
        let mut outgoing = Vec::with_capacity(recorded.len());
        for (r, (recorded_tx, committed_tx)) in recorded.into_iter().zip(intakes) {
            match r {
                Ok(r) => {
                    if let Some(tx) = committed_tx {
                        self.waiters.entry(r.key).or_default().push(tx);
                    }
                    let _ = recorded_tx.send(Ok(r.outcome));
                    outgoing.push(Outgoing {
                        key: r.key,
                        event: r.event,
                        deadline_ms: r.deadline_ms,
                    });
                }
                Err(e) => {
                    let _ = recorded_tx.send(Err(e));
                }
            }
        }
        self.send_many(outgoing, ctx);
    }

    fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
        if self.intake.len() >= GROUP_COMMIT_NOW
            && let Some(timer) = self.flush_timer.take()
        {
            // A backlog built up while the window runs: write it now instead.
            ctx.cancel_future(timer);
            self.flush_scheduled = false;
        }
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            if self.intake.len() >= GROUP_COMMIT_NOW {
                // A notification runs once the mailbox is drained: every visit already
                // received joins this flush.
                ctx.notify(FlushIntake);
            } else {
                self.flush_timer = Some(ctx.notify_later(FlushIntake, GROUP_COMMIT_WINDOW));
            }
        }
    }

    fn retry_due(&mut self, ctx: &mut Context<Self>) {
        let now = now_ms();
        // Uploads sent and not yet answered: keep at most MAX_IN_FLIGHT, the rest wait in the
        // outbox (durable) for the next tick, so a burst of visits never floods the endorser's
        // connection with more streams than it serves.
        let in_flight = self
            .attempts
            .values()
            .filter(|a| !a.accepted && now.saturating_sub(a.at_ms) < self.receipt_timeout_ms)
            .count();
        let room = MAX_IN_FLIGHT.saturating_sub(in_flight);
        if room == 0 {
            return;
        }
        let due = match self.outbox.oldest(room, &|k| {
            self.attempts.get(k).is_some_and(|a| {
                let limit = if a.accepted {
                    self.commit_timeout_ms + a.deadline_ms.saturating_sub(a.at_ms)
                } else {
                    self.receipt_timeout_ms
                };
                now.saturating_sub(a.at_ms) < limit
            })
        }) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable");
                return;
            }
        };
        let mut outgoing = Vec::with_capacity(due.len());
        for q in due {
            match wire::Event::decode(q.bytes.as_slice()) {
                Ok(event) => outgoing.push(Outgoing {
                    key: q.key,
                    event,
                    deadline_ms: q.order_ms,
                }),
                Err(e) => {
                    tracing::error!(error = %e, "an outbox entry does not decode; dropped");
                    let _ = self.outbox.remove([&q.key]);
                }
            }
        }
        self.send_many(outgoing, ctx);
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

/// The events a batch answer's receipt acknowledges, when it is signed by `endorser` and names
/// it; an answer whose receipt does not verify acknowledges nothing.
fn accepted_keys(answer: &wire::BatchAnswer, endorser: &PublicKey) -> HashSet<EventKey> {
    let Some(receipt) = &answer.receipt else {
        return HashSet::new();
    };
    let Ok(sig) = medblock_core::keys::Signature::from_slice(&receipt.signature) else {
        return HashSet::new();
    };
    if endorser
        .verify(
            medblock_core::keys::purpose::RECEIPT_BATCH,
            &receipt.body,
            &sig,
        )
        .is_err()
    {
        tracing::warn!(endorser = %endorser, "batch receipt with a bad signature ignored");
        return HashSet::new();
    }
    let Ok(body) = wire::ReceiptBatchBody::decode(receipt.body.as_slice()) else {
        return HashSet::new();
    };
    body.receipts
        .iter()
        .filter(|r| r.endorser_key == endorser.as_bytes())
        .map(|r| EventKey::new(&r.hospital, &r.department, r.sequence))
        .collect()
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

/// Read the full EMR a ledger event points to, for the query server once it has authorized
/// the visitor against that event (the client owns the store). The record is found through the
/// event's link, so a visitor authorized for one event cannot name another record.
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<u8>, ActorError>")]
pub struct ReadEmr {
    /// The event's department (one this hospital node holds a key for).
    pub department: String,
    /// The event's sequence number.
    pub sequence: u64,
    /// The record id the visitor read in the decrypted pointer, if he sent one: it must be the
    /// linked one.
    pub record_id: String,
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
