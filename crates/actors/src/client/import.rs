//! Importing records from a hospital's own system (e.g. FHIR encounters): each visit names its
//! department and carries its EMR and record id. One [`Import`] is all-or-nothing at the door:
//! every visit is checked (department key held, patient enrolled with an authorization that
//! covers the department now, summary size) before the first EMR is stored. A visit whose record id the hospital database already holds was imported before
//! and is skipped, so importing the same file twice records nothing twice.

pub use super::ingress::{Import, ImportOutcome, ImportVisit};
use super::{Client, FLUSH_MAX, Outgoing, Record, Recorded, SubmitOutcome, check_summary_size};
use crate::error::ActorError;
use actix::prelude::*;
use medblock_storage::EmrStore as _;
use tokio::sync::oneshot;

impl Client {
    /// Every check that can refuse a visit, without side effects.
    fn check_import(&self, v: &ImportVisit) -> Result<(), ActorError> {
        check_summary_size(&v.diagnosis, &v.examination_results, &v.treatment_plan)?;
        self.provider(&v.department)?;
        self.patient(&v.patient, &v.department)?;
        if v.record_id.is_empty() || v.record_id.len() > 256 {
            return Err(ActorError::BadRequest(format!(
                "record id {:?} is empty or too long",
                v.record_id
            )));
        }
        Ok(())
    }
}

impl Handler<Import> for Client {
    type Result = ResponseActFuture<Self, Result<Vec<ImportOutcome>, ActorError>>;

    fn handle(&mut self, msg: Import, ctx: &mut Self::Context) -> Self::Result {
        let mut ids = std::collections::HashSet::new();
        for v in &msg.visits {
            if let Err(e) = self.check_import(v) {
                return Box::pin(actix::fut::ready(Err(e)));
            }
            if !ids.insert(v.record_id.as_str()) {
                return Box::pin(actix::fut::ready(Err(ActorError::BadRequest(format!(
                    "record id {:?} given twice",
                    v.record_id
                )))));
            }
        }
        let mut receivers = Vec::new();
        let mut outcomes = Vec::new();
        let mut fresh = Vec::new();
        for v in &msg.visits {
            match self.emr.contains(&v.record_id) {
                Ok(true) => outcomes.push((
                    None,
                    ImportOutcome {
                        outcome: SubmitOutcome {
                            hospital: self.department().0.to_owned(),
                            department: v.department.clone(),
                            sequence: 0,
                            patient_key: String::new(),
                            emr_sha256: String::new(),
                            height: 0,
                            block_hash: String::new(),
                            status: "already imported".into(),
                            recorded_at_ms: 0,
                            committed_at_ms: 0,
                            ordered_at_ms: 0,
                        },
                        record_id: v.record_id.clone(),
                        emr_bytes: v.emr.len() as u64,
                        event_bytes: 0,
                    },
                )),
                Ok(false) => fresh.push(v),
                Err(e) => return Box::pin(actix::fut::ready(Err(e.into()))),
            }
        }
        // Recorded in batches, each with one write to the EMR store and one to the outbox.
        for chunk in fresh.chunks(FLUSH_MAX) {
            let records: Vec<Record<'_>> = chunk
                .iter()
                .map(|v| Record {
                    patient: &v.patient,
                    department: &v.department,
                    diagnosis: &v.diagnosis,
                    examination_results: &v.examination_results,
                    treatment_plan: &v.treatment_plan,
                    record_id: Some(v.record_id.clone()),
                    emr: v.emr.as_bytes(),
                    upload_within_ms: 0,
                })
                .collect();
            let recorded = match self.record_many(&records) {
                Ok(r) => r,
                Err(e) => return Box::pin(actix::fut::ready(Err(e))),
            };
            let mut outgoing = Vec::with_capacity(recorded.len());
            let mut refused = None;
            for (v, r) in chunk.iter().zip(recorded) {
                match r {
                    Ok(Recorded {
                        key,
                        outcome,
                        event,
                        event_bytes,
                        deadline_ms,
                        ..
                    }) => {
                        let (tx, rx) = oneshot::channel();
                        self.waiters.entry(key).or_default().push(tx);
                        receivers.push(rx);
                        outcomes.push((
                            Some(receivers.len() - 1),
                            ImportOutcome {
                                outcome,
                                record_id: v.record_id.clone(),
                                emr_bytes: v.emr.len() as u64,
                                event_bytes: event_bytes as u64,
                            },
                        ));
                        outgoing.push(Outgoing {
                            key,
                            event,
                            deadline_ms,
                        });
                    }
                    Err(e) => {
                        refused.get_or_insert(e);
                    }
                }
            }
            self.send_many(outgoing, ctx);
            if let Some(e) = refused {
                return Box::pin(actix::fut::ready(Err(e)));
            }
        }
        if !msg.wait_commit || receivers.is_empty() {
            return Box::pin(actix::fut::ready(Ok(outcomes
                .into_iter()
                .map(|(_, o)| o)
                .collect())));
        }
        let timeout = msg.timeout;
        Box::pin(
            async move {
                let n = receivers.len();
                let all = futures::future::join_all(receivers);
                let results = tokio::time::timeout(timeout, all).await.map_err(|_| {
                    ActorError::NotCommitted(format!("{n} imported event(s) within {timeout:?}"))
                })?;
                let mut committed: Vec<Option<SubmitOutcome>> =
                    results.into_iter().map(Result::ok).collect();
                Ok(outcomes
                    .into_iter()
                    .map(|(slot, mut o)| {
                        if let Some(c) = slot
                            .and_then(|i| committed.get_mut(i))
                            .and_then(Option::take)
                        {
                            o.outcome = c;
                        }
                        o
                    })
                    .collect())
            }
            .into_actor(self),
        )
    }
}
