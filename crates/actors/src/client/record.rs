//! Recording visits: the patient's authorization, the EMR stored in the hospital database, the
//! sealed and signed event put in the durable outbox, with one synced write of each for all the
//! visits of a flush (group commit).

use super::{
    Client, FLUSH_MAX, FlushIntake, GROUP_COMMIT_NOW, GROUP_COMMIT_WINDOW, Intake, Outgoing,
    Record, Recorded, check_summary_size,
};
use crate::client::ingress::{SubmitOutcome, Visit};
use crate::clock::now_ms;
use crate::error::ActorError;
use crate::shared::Counters;
use actix::prelude::*;
use medblock_core::event::{NewAuthorizedEvent, build_authorized_event};
use medblock_core::keys::Identity;
use medblock_core::sha256;
use medblock_core::{EventKey, wire};
use medblock_storage::{EmrStore, LinkedEmr, QueuedEvent};
use prost::Message as _;
use std::collections::HashMap;
use std::sync::Arc;

impl Client {
    pub(super) fn department(&self) -> (&str, &str) {
        let b = &self.ctx.certificate.body;
        (b.hospital.as_str(), b.department.as_str())
    }

    /// The enrolled patient's registry entry, when his authorization lets `department` record
    /// a visit now (see [`PatientDesk::authorization_for`]).
    pub(super) fn patient(
        &self,
        id: &str,
        department: &str,
    ) -> Result<Arc<medblock_storage::RegistryEntry>, ActorError> {
        Ok(self.registry.authorization_for(id, department, now_ms())?)
    }

    /// The EMR of a visit: its own, or a FHIR Bundle of its summary when it brings none.
    pub(super) fn visit_emr(&self, visit: &mut Visit) -> Vec<u8> {
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
    pub(super) fn provider(&self, department: &str) -> Result<&Identity, ActorError> {
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
    pub(super) fn record_many(
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
    pub(super) fn build_one(
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
        // Test-only Byzantine mode may reuse a taken number (see `byzantine.rs`).
        let reused = self.reused_sequence(last);
        let sequence = reused.unwrap_or(last + 1);
        next.insert(counter, sequence.max(last));
        let record_id = match &r.record_id {
            Some(id) => id.clone(),
            None => {
                // The default id, unless an import already holds it under that name (the
                // store never replaces a record): then a fresh suffix keeps both.
                let id = format!("{department}/{sequence}");
                // A reused number's default id may be taken in this very batch.
                if reused.is_some() || self.emr.contains(&id)? {
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

    /// Records what arrived since the last flush, at most [`FLUSH_MAX`] visits, and sends it.
    pub(super) fn flush_intake(&mut self, ctx: &mut Context<Self>) {
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

    pub(super) fn schedule_flush(&mut self, ctx: &mut Context<Self>) {
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
}
