//! The client's contract: the messages a department's client handles (visits to record,
//! imports, EMR reads, its outbox size), their answers, and the [`Mailbox`] other actors and
//! the running node hold to reach it. This is all another actor may import from the client.

use crate::error::ActorError;
use actix::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;

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

/// One visit of an import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportVisit {
    /// The patient's local id at the hospital, exactly as enrolled in its registry.
    pub patient: String,
    /// The department of this hospital the visit is filed under.
    pub department: String,
    /// Diagnosis.
    pub diagnosis: String,
    /// Examination results.
    #[serde(default)]
    pub examination_results: String,
    /// Treatment plan.
    #[serde(default)]
    pub treatment_plan: String,
    /// The EMR's id in the hospital database (the ledger's pointer), unique per visit.
    pub record_id: String,
    /// The full EMR (e.g. a FHIR Bundle's JSON).
    pub emr: String,
}

/// What became of an imported visit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOutcome {
    /// As for a submitted visit; status `already imported` when skipped.
    #[serde(flatten)]
    pub outcome: SubmitOutcome,
    /// The record id.
    pub record_id: String,
    /// Size of the EMR stored (bytes).
    pub emr_bytes: u64,
    /// Size of the event that goes on the ledger (bytes; 0 when skipped).
    pub event_bytes: u64,
}

/// Import visits; answers once every new one is committed (or the timeout passes).
#[derive(Debug, Message)]
#[rtype(result = "Result<Vec<ImportOutcome>, ActorError>")]
pub struct Import {
    /// The visits (one source bundle: all of them are checked before any is stored).
    pub visits: Vec<ImportVisit>,
    /// Wait for the commit (true) or for the endorser's acceptance only (false).
    pub wait_commit: bool,
    /// How long to wait.
    pub timeout: Duration,
}

/// What others hold to reach the client: one channel per message it takes from outside, all
/// into the one actor's mailbox.
#[derive(Clone)]
pub struct Mailbox {
    /// Visits to record.
    pub submit: Recipient<Submit>,
    /// Imports of visits filed under named departments.
    pub import: Recipient<Import>,
    /// EMR reads, for the query server.
    pub read_emr: Recipient<ReadEmr>,
    /// Outbox size questions.
    pub outbox_len: Recipient<OutboxLen>,
}

impl Mailbox {
    /// The mailbox of `addr`, an actor that handles the client's messages.
    pub fn new<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<Submit>
            + Handler<Import>
            + Handler<ReadEmr>
            + Handler<OutboxLen>,
    {
        Self {
            submit: addr.clone().recipient(),
            import: addr.clone().recipient(),
            read_emr: addr.clone().recipient(),
            outbox_len: addr.clone().recipient(),
        }
    }
}
