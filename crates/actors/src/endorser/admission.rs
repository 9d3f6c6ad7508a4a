//! The endorser's upload rules past the signature checks (issue 19), which need the ledger and
//! the pending queue: core's pure rules ([`medblock_core::sequence`],
//! [`medblock_core::access::admission`]) over this node's RocksDB ledger and queue.
//!
//! * a (hospital, department, sequence) already pending or committed with another event is a
//!   conflict, refused with [`Code::Conflict`] and the existing record left as it is; the same
//!   event again is a retry, answered as it stands (accepted or committed);
//! * an access record needs a relationship the ledger knows and is charged to its author's
//!   quota; refused with [`Code::AccessRefused`] or [`Code::OverQuota`].

use crate::shared::{Counters, Ctx};
use medblock_core::access::admission::{
    AccessAdmissionError, AccessQuota, LedgerRelations, check_relationship,
};
use medblock_core::access::record::{is_access, record_of};
use medblock_core::codec::{decode_bounded, limits};
use medblock_core::crumbs::pseudonym;
use medblock_core::keys::PublicKey;
use medblock_core::sequence::{Holder, Incoming, SequenceConflict, check_sequence, content_id};
use medblock_core::wire::{self, error_reply::Code};
use medblock_core::{EventKey, Hash32, ParsedEvent};
use medblock_storage::{EventQueue, Ledger};
use prost::Message as _;
use std::collections::HashMap;

/// Where an upload stands once the rules passed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// A number not taken: queue it and answer accepted.
    New,
    /// The same event is pending already (a retry): answer accepted, queue nothing.
    Pending,
    /// The same event is on the ledger at this height and block: answer committed.
    Committed(u64, Hash32),
}

/// The rules' state: the access-record quota of each author (in memory: a restart gives every
/// author a fresh window, which at most doubles one minute's quota).
#[derive(Debug, Default)]
pub(super) struct UploadRules {
    quota: AccessQuota,
    /// Events this batch already took, so two uploads of one number in one batch are judged
    /// like two batches (the queue's insert would silently keep only the first).
    batch: HashMap<EventKey, Holder>,
}

fn refuse(code: Code, message: String) -> wire::ErrorReply {
    wire::ErrorReply {
        code: code as i32,
        message,
    }
}

/// The content and event hash of an encoded event (as the queue and the ledger keep them).
/// Bytes this node stored that do not decode are an error, never "no holder": the number would
/// look free, and the upload be acknowledged and dropped behind the unreadable one.
fn holder_of(bytes: &[u8], committed: bool) -> Result<Holder, String> {
    let unreadable = |e: String| format!("a stored event under this number does not decode: {e}");
    let event: wire::Event = decode_bounded("event", bytes, limits::MAX_EVENT_BYTES)
        .map_err(|e| unreadable(e.to_string()))?;
    let body =
        wire::EventBody::decode(event.body.as_slice()).map_err(|e| unreadable(e.to_string()))?;
    Ok(Holder {
        committed,
        content: content_id(&event.body),
        event_hash: Hash32::from_slice(&body.event_hash)
            .ok_or_else(|| unreadable("event hash is not 32 bytes".into()))?,
    })
}

/// The committed event `key`, its bytes and place.
fn committed_event(
    ledger: &Ledger,
    key: &EventKey,
) -> Result<Option<(Vec<u8>, u64, Hash32)>, String> {
    ledger.committed_event(key).map_err(|e| e.to_string())
}

/// The patient key of a committed event's bytes (`None` if they name no valid key).
fn patient_of(bytes: &[u8]) -> Result<Option<PublicKey>, String> {
    let event: wire::Event =
        decode_bounded("event", bytes, limits::MAX_EVENT_BYTES).map_err(|e| e.to_string())?;
    let body = wire::EventBody::decode(event.body.as_slice()).map_err(|e| e.to_string())?;
    Ok(PublicKey::from_slice(&body.patient_key).ok())
}

/// The ledger as the access rules read it.
struct Relations<'a>(&'a Ledger);

impl LedgerRelations for Relations<'_> {
    fn knows_patient(&self, patient: &PublicKey) -> Result<bool, String> {
        // Any bread crumb: a visit or an access record of his is committed.
        self.0
            .crumbs(&pseudonym(patient))
            .map(|c| !c.is_empty())
            .map_err(|e| e.to_string())
    }

    fn record_patient(
        &self,
        hospital: &str,
        department: &str,
        sequence: u64,
    ) -> Result<Option<PublicKey>, String> {
        let key = EventKey::new(hospital, department, sequence);
        let Some((bytes, _, _)) = committed_event(self.0, &key)? else {
            return Ok(None);
        };
        patient_of(&bytes)
    }
}

impl UploadRules {
    /// Starts judging a new batch.
    pub(super) fn begin_batch(&mut self) {
        self.batch.clear();
    }

    /// Judges one upload whose structure, signatures and certificate were checked. Counts
    /// what it refuses for a Byzantine reason (`sequence_conflict`, `access_record`).
    pub(super) fn judge(
        &mut self,
        ctx: &Ctx,
        ledger: &Ledger,
        pending: &EventQueue,
        parsed: &ParsedEvent,
        now_ms: u64,
    ) -> Result<Standing, wire::ErrorReply> {
        let standing = self.sequence(ledger, pending, parsed).inspect_err(|e| {
            if e.code == SequenceConflict::CODE as i32 {
                Counters::inc(&ctx.counters.sequence_conflicts);
                tracing::warn!(reason = %e.message, "upload refused");
            }
        })?;
        if standing == Standing::New && is_access(&parsed.body) {
            self.access(ctx, ledger, parsed, now_ms).map_err(|e| {
                let code = e.code();
                if code != Code::Busy {
                    Counters::inc(&ctx.counters.access_records_refused);
                    tracing::debug!(reason = %e, "access record refused");
                }
                refuse(code, e.to_string())
            })?;
        }
        if standing == Standing::New {
            self.batch.insert(
                parsed.key(),
                Holder {
                    committed: false,
                    content: content_id(&parsed.event.body),
                    event_hash: parsed.event_hash,
                },
            );
        }
        Ok(standing)
    }

    fn sequence(
        &self,
        ledger: &Ledger,
        pending: &EventQueue,
        parsed: &ParsedEvent,
    ) -> Result<Standing, wire::ErrorReply> {
        let key = parsed.key();
        let unreadable = |e: String| refuse(Code::Busy, format!("cannot judge the number: {e}"));
        let (holder, at) =
            if let Some((bytes, height, id)) = committed_event(ledger, &key).map_err(unreadable)? {
                let holder = holder_of(&bytes, true).map_err(unreadable)?;
                (Some(holder), Some((height, id)))
            } else if let Some(h) = self.batch.get(&key) {
                (Some(*h), None)
            } else {
                let bytes = pending.get(&key).map_err(|e| unreadable(e.to_string()))?;
                let holder = bytes.map(|b| holder_of(&b, false)).transpose();
                (holder.map_err(unreadable)?, None)
            };
        let incoming = Incoming {
            hospital: &parsed.body.hospital,
            department: &parsed.body.department,
            sequence: parsed.body.sequence,
            content: content_id(&parsed.event.body),
            event_hash: parsed.event_hash,
        };
        match check_sequence(&incoming, holder) {
            Ok(None) => Ok(Standing::New),
            Ok(Some(_)) => Ok(match at {
                Some((height, id)) => Standing::Committed(height, id),
                None => Standing::Pending,
            }),
            Err(conflict) => Err(refuse(SequenceConflict::CODE, conflict.to_string())),
        }
    }

    fn access(
        &mut self,
        ctx: &Ctx,
        ledger: &Ledger,
        parsed: &ParsedEvent,
        now_ms: u64,
    ) -> Result<(), AccessAdmissionError> {
        let author = parsed.provider;
        // The cheap check first: a flood from one key costs no ledger read past its quota.
        self.quota.check(&author, now_ms)?;
        let record =
            record_of(parsed).map_err(|e| AccessAdmissionError::Malformed(e.to_string()))?;
        check_relationship(
            &record,
            &author,
            ctx.genesis.regulator_key.as_ref(),
            &Relations(ledger),
        )?;
        self.quota.charge(&author, now_ms);
        Ok(())
    }
}
