//! Consent grants, revocations and regulator reads as ledger events, so they take the normal
//! upload path (endorser, PBFT, committers) and are as durable and auditable as visits.
//!
//! An access record is an event at the reserved hospital [`ACCESS_HOSPITAL`]: its author (the
//! patient for consent, the regulator for a read) is both the event's patient and its provider
//! and signs it twice; the encoded [`wire::AccessRecord`] stands where a visit has its sealed
//! summary, so the event hash, the block's Merkle root and the commit certificate cover it. No
//! new field was needed in `Event` or `EventBody`.

use crate::error::LedgerError;
use crate::event::ParsedEvent;
use crate::hash::sha256;
use crate::keys::{PublicKey, SigningKey, purpose};
use crate::wire;
use prost::Message;
use std::collections::HashMap;

// Access records' format lives in `format.rs`, below event parsing; their paths stay here.
pub use super::format::{
    ACCESS_HOSPITAL, CONSENT_DEPARTMENT, MAX_ACCESS_RECORD_BYTES, READ_DEPARTMENT, is_access,
    parse_record,
};

/// Builds an access record event signed twice by `author`. `sequence` must be unique among
/// the department's records (a random 64-bit number is).
pub fn build_access_event(
    author: &SigningKey,
    sequence: u64,
    record: &wire::AccessRecord,
    created_at_ms: u64,
) -> wire::Event {
    let department = match record.kind {
        Some(wire::access_record::Kind::Read(_)) => READ_DEPARTMENT,
        _ => CONSENT_DEPARTMENT,
    };
    let payload = record.encode_to_vec();
    let key = author.public().as_bytes().to_vec();
    let body = wire::EventBody {
        sequence,
        hospital: ACCESS_HOSPITAL.into(),
        department: department.into(),
        patient_key: key.clone(),
        provider_key: key,
        event_hash: sha256(&payload).0.to_vec(),
        created_at_ms,
        authorization_hash: Vec::new(),
    }
    .encode_to_vec();
    let signature = author.sign(purpose::EVENT, &body).to_vec();
    wire::Event {
        body,
        patient_signature: signature.clone(),
        provider_signature: signature,
        encrypted_summary: payload,
        received_at_ms: 0,
        authorization: Vec::new(),
    }
}

/// The record of a parsed access event.
pub fn record_of(event: &ParsedEvent) -> Result<wire::AccessRecord, LedgerError> {
    parse_record(&event.body, &event.event.encrypted_summary)
}

/// One grantee's standing, folded from the patient's consent records in ledger order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GranteeState {
    /// The grantee's name as the patient wrote it.
    pub name: String,
    /// Records granted since the last revocation.
    pub records: Vec<wire::GrantedRecord>,
    /// Whether the last consent record about this grantee was a revocation.
    pub revoked: bool,
}

/// Every grantee of one patient.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// By grantee key.
    pub grantees: HashMap<PublicKey, GranteeState>,
}

impl Grants {
    /// Folds consent records given in ledger order (height, then index in the block).
    pub fn fold<'a>(records: impl IntoIterator<Item = &'a wire::AccessRecord>) -> Self {
        use wire::access_record::Kind;
        let mut grants = Grants::default();
        for r in records {
            match &r.kind {
                Some(Kind::Grant(g)) => {
                    let Ok(k) = PublicKey::from_slice(&g.grantee_key) else {
                        continue;
                    };
                    let s = grants.grantees.entry(k).or_default();
                    s.name = g.grantee_name.clone();
                    s.revoked = false;
                    s.records.extend(g.records.iter().cloned());
                }
                Some(Kind::Revoke(rv)) => {
                    let Ok(k) = PublicKey::from_slice(&rv.grantee_key) else {
                        continue;
                    };
                    let s = grants.grantees.entry(k).or_default();
                    s.records.clear();
                    s.revoked = true;
                }
                _ => {}
            }
        }
        grants
    }

    /// The grant to `grantee` of one record, if active.
    pub fn find(
        &self,
        grantee: &PublicKey,
        hospital: &str,
        department: &str,
        sequence: u64,
    ) -> Option<&wire::GrantedRecord> {
        self.grantees.get(grantee)?.records.iter().find(|g| {
            g.hospital == hospital && g.department == department && g.sequence == sequence
        })
    }
}
