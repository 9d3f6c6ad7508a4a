//! The client: a hospital department (the paper's Steps 1 and 7). It keeps the full EMR in the
//! hospital's database, seals the summary to the patient (and the regulator genesis names),
//! signs with the patient's and the department's keys, and submits to its region's endorser.
//! Every event stays in a durable outbox until it is committed; one that gets no receipt in time
//! is resubmitted to another endorser (the sequence number makes the retry idempotent).

use crate::clock::now_ms;
use crate::committer::BlockCommitted;
use crate::endorser::{Endorser, UploadIn};
use crate::error::ActorError;
use crate::orderer::EndorserChanged;
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::event::{NewEvent, build_event};
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::{EventKey, wire};
use medblock_storage::keyfile::{load_identity, save_identity};
use medblock_storage::{EmrStore, EventQueue, RocksEmrStore};
use prost::Message as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::oneshot;

pub mod import;

/// One visit to record: what a department enters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Visit {
    /// The patient's identifier at the hospital (the registry maps it to his MedBlock key).
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
    registry_dir: PathBuf,
    /// Keys of the other departments of this hospital the node submits for (see
    /// [`crate::departments`]).
    departments: HashMap<String, Identity>,
    local_endorser: Option<Addr<Endorser>>,
    endorser: Option<PublicKey>,
    attempts: HashMap<EventKey, Attempt>,
    waiters: HashMap<EventKey, Vec<oneshot::Sender<SubmitOutcome>>>,
    meta: HashMap<EventKey, SubmitOutcome>,
    receipt_timeout_ms: u64,
    commit_timeout_ms: u64,
}

impl Client {
    /// A client over its outbox, the hospital's EMR database and its patient registry.
    pub fn new(ctx: Ctx, outbox: EventQueue, emr: RocksEmrStore, registry_dir: PathBuf) -> Self {
        let turn_timeout = ctx.genesis.params.turn_timeout_ms.max(1000);
        Self {
            ctx,
            outbox,
            emr,
            registry_dir,
            departments: HashMap::new(),
            local_endorser: None,
            endorser: None,
            attempts: HashMap::new(),
            waiters: HashMap::new(),
            meta: HashMap::new(),
            receipt_timeout_ms: 3_000,
            // A primary may hold its turn for turn_timeout; give the events two turns.
            commit_timeout_ms: 2 * turn_timeout + 5_000,
        }
    }

    /// The local endorser, when this node is one (uploads to it skip the network).
    pub fn with_local_endorser(mut self, e: Addr<Endorser>) -> Self {
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

    /// The patient's keys from the hospital's registry, created on first visit.
    fn patient(&self, id: &str) -> Result<Identity, ActorError> {
        let path = self.registry_path(id)?;
        std::fs::create_dir_all(&self.registry_dir)
            .map_err(|e| ActorError::Config(e.to_string()))?;
        if path.exists() {
            return Ok(load_identity(&path)?);
        }
        let identity = Identity::generate(&mut rand::rng());
        save_identity(&path, id, &identity)?;
        tracing::info!(patient = id, key = %identity.signing.public(), "patient registered");
        Ok(identity)
    }

    /// The registry file of a patient id (checked, not created).
    fn registry_path(&self, id: &str) -> Result<PathBuf, ActorError> {
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if safe.is_empty() || safe.len() > 128 {
            return Err(ActorError::BadRequest(format!(
                "patient id {id:?} is empty or too long"
            )));
        }
        Ok(self.registry_dir.join(format!("{safe}.key")))
    }

    fn build(&mut self, visit: &Visit) -> Result<Recorded, ActorError> {
        check_summary_size(
            &visit.diagnosis,
            &visit.examination_results,
            &visit.treatment_plan,
        )?;
        let (hospital, department) = self.department();
        let (hospital, department) = (hospital.to_owned(), department.to_owned());
        // Without an EMR of its own, the visit's record is a FHIR Bundle of its summary.
        let emr = visit
            .emr
            .clone()
            .map(String::into_bytes)
            .unwrap_or_else(|| {
                medblock_fhir::visit_bundle(&medblock_fhir::VisitEmr {
                    seed: rand::random(),
                    hospital: &hospital,
                    department: &department,
                    patient: &visit.patient,
                    diagnosis: &visit.diagnosis,
                    examination_results: &visit.examination_results,
                    treatment_plan: &visit.treatment_plan,
                })
            });
        self.record(&Record {
            patient: &visit.patient,
            department: &department,
            diagnosis: &visit.diagnosis,
            examination_results: &visit.examination_results,
            treatment_plan: &visit.treatment_plan,
            record_id: None,
            emr: &emr,
            upload_within_ms: visit.upload_within_ms,
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

    /// Stores the EMR, seals and signs the event for `r.department`, and puts it in the outbox.
    fn record(&mut self, r: &Record<'_>) -> Result<Recorded, ActorError> {
        let provider = self.provider(r.department)?.signing.clone();
        let patient = self.patient(r.patient)?;
        let hospital = self.department().0.to_owned();
        let department = r.department.to_owned();
        // The node's own department keeps the counter name it always had.
        let counter = if department == self.department().1 {
            "next_sequence".to_owned()
        } else {
            format!("next_sequence/{department}")
        };
        let sequence = self.outbox.counter(&counter)? + 1;
        self.outbox.set_counter(&counter, sequence)?;
        let record_id = r
            .record_id
            .clone()
            .unwrap_or_else(|| format!("{department}/{sequence}"));
        let emr_sha = self
            .emr
            .put_linked(&record_id, r.emr, &department, sequence)?;
        let summary = wire::Summary {
            diagnosis: r.diagnosis.to_owned(),
            examination_results: r.examination_results.to_owned(),
            treatment_plan: r.treatment_plan.to_owned(),
            pointer: Some(wire::RecordPointer {
                hospital: hospital.clone(),
                record_id,
            }),
            emr_sha256: emr_sha.0.to_vec(),
        };
        let regulator = self.ctx.genesis.regulator_sealing;
        let event = build_event(
            &NewEvent {
                summary: &summary,
                sequence,
                hospital: &hospital,
                department: &department,
                patient: &patient.signing,
                patient_sealing: &patient.sealing.public(),
                provider: &provider,
                regulator: regulator.as_ref(),
                created_at_ms: now_ms(),
            },
            &mut rand::rng(),
        );
        let key = EventKey::new(&hospital, &department, sequence);
        let bytes = event.encode_to_vec();
        // The outbox is in deadline order, like the endorser's queue.
        let deadline_ms = medblock_core::pacing::deadline(now_ms(), r.upload_within_ms);
        self.outbox.insert(deadline_ms, &key, &bytes)?;
        self.ctx.metrics.upload_sent(key.0.0);
        let outcome = SubmitOutcome {
            hospital,
            department,
            sequence,
            patient_key: patient.signing.public().to_hex(),
            emr_sha256: emr_sha.to_hex(),
            height: 0,
            block_hash: String::new(),
            status: "accepted".into(),
        };
        self.meta.insert(key, outcome.clone());
        Ok(Recorded {
            key,
            outcome,
            bytes,
            deadline_ms,
        })
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

    fn send(&mut self, key: EventKey, bytes: Vec<u8>, deadline_ms: u64, ctx: &mut Context<Self>) {
        let avoid = self.attempts.get(&key).map(|a| a.endorser);
        let Some(endorser) = self.pick_endorser(avoid) else {
            tracing::warn!("no endorser known for our region yet");
            return;
        };
        if avoid.is_some() {
            Counters::inc(&self.ctx.counters.client_retries);
            tracing::info!(endorser = %endorser, "resubmitting to another endorser");
        }
        self.attempts.insert(
            key,
            Attempt {
                endorser,
                at_ms: now_ms(),
                accepted: false,
                deadline_ms,
            },
        );
        // A retry keeps the original deadline: only the time left goes to the endorser.
        let upload_within_ms = deadline_ms.saturating_sub(now_ms());
        let Ok(event) = wire::Event::decode(bytes.as_slice()) else {
            let _ = self.outbox.remove([&key]);
            return;
        };
        let local = self
            .local_endorser
            .clone()
            .filter(|_| endorser == self.ctx.key());
        let net = self.ctx.net.clone();
        let fut = async move {
            if let Some(local) = local {
                return match local
                    .send(UploadIn {
                        event,
                        upload_within_ms,
                    })
                    .await
                {
                    Ok(Ok(r)) => Ok(r),
                    Ok(Err(e)) => Err(e.message),
                    Err(e) => Err(e.to_string()),
                };
            }
            let req = wire::NetRequest {
                kind: Some(wire::net_request::Kind::Upload(wire::Upload {
                    event: Some(event),
                    upload_within_ms,
                })),
            };
            match net.request(endorser, req).await {
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Receipt(r)),
                }) => Ok(r),
                Ok(wire::NetResponse {
                    kind: Some(wire::net_response::Kind::Error(e)),
                }) => Err(e.message),
                Ok(_) => Err("unexpected answer".into()),
                Err(e) => Err(e.to_string()),
            }
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| match res {
            Ok(receipt) => {
                let ok = verify_receipt(&receipt, &endorser);
                if let Some(a) = act.attempts.get_mut(&key) {
                    a.accepted = ok;
                }
                if !ok {
                    tracing::warn!(endorser = %endorser, "receipt with a bad signature ignored");
                }
            }
            Err(reason) => {
                tracing::debug!(endorser = %endorser, reason, "upload not accepted");
                // Retry promptly with another endorser.
                if let Some(a) = act.attempts.get_mut(&key) {
                    a.at_ms = 0;
                }
            }
        }));
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
        for q in due {
            self.send(q.key, q.bytes, q.order_ms, ctx);
        }
    }
}

/// A record put in the outbox: what sending it needs.
struct Recorded {
    key: EventKey,
    outcome: SubmitOutcome,
    /// The encoded event.
    bytes: Vec<u8>,
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

fn verify_receipt(receipt: &wire::Receipt, endorser: &PublicKey) -> bool {
    let Ok(sig) = medblock_core::keys::Signature::from_slice(&receipt.signature) else {
        return false;
    };
    let Ok(body) = wire::ReceiptBody::decode(receipt.body.as_slice()) else {
        return false;
    };
    body.endorser_key == endorser.as_bytes()
        && endorser
            .verify(medblock_core::keys::purpose::RECEIPT, &receipt.body, &sig)
            .is_ok()
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

    fn handle(&mut self, msg: Submit, ctx: &mut Self::Context) -> Self::Result {
        let mut receivers = Vec::new();
        let mut outcomes = Vec::new();
        for visit in &msg.visits {
            match self.build(visit) {
                Ok(r) => {
                    let (tx, rx) = oneshot::channel();
                    self.waiters.entry(r.key).or_default().push(tx);
                    receivers.push(rx);
                    outcomes.push(r.outcome);
                    self.send(r.key, r.bytes, r.deadline_ms, ctx);
                }
                Err(e) => return Box::pin(actix::fut::ready(Err(e))),
            }
        }
        if !msg.wait_commit {
            return Box::pin(actix::fut::ready(Ok(outcomes)));
        }
        let timeout = msg.timeout;
        Box::pin(
            async move {
                let all = futures::future::join_all(receivers);
                match tokio::time::timeout(timeout, all).await {
                    Ok(results) => {
                        let mut out = Vec::new();
                        for (r, fallback) in results.into_iter().zip(outcomes) {
                            out.push(r.unwrap_or(fallback));
                        }
                        Ok(out)
                    }
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
