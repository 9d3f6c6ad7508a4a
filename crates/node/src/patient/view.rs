//! What the patient sees: records grouped by department, newest first, and opened summaries.
//! Opening needs the right key: the patient's and the regulator's are recipients of the sealed
//! summary; a grantee opens through the wrap the patient put on the ledger.

use super::authz;
use super::error::PatientError;
use super::time::local_datetime;
use medblock_core::access::proof::CheckedRecord;
use medblock_core::access::record::{Grants, is_access, record_of};
use medblock_core::keys::{Identity, PublicKey};
use medblock_core::{sealing, wire};
use serde::Serialize;

/// One record, as `records --json` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordView {
    /// Hospital.
    pub hospital: String,
    /// Department.
    pub department: String,
    /// Id of the block holding it (hex).
    pub block_hash: String,
    /// Height of that block.
    pub height: u64,
    /// The department's sequence number.
    pub sequence: u64,
    /// When the endorser received it (ms since the epoch).
    pub timestamp: u64,
    /// SHA-256 of the sealed summary (hex).
    pub event_hash: String,
    /// When the endorser received it, local ISO date-time.
    pub time: String,
    /// The serial of the recording authorization it was made under (absent when he signed
    /// the record himself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_serial: Option<u64>,
    /// Why it does not count, when it does not: it sits under an authorization he had
    /// revoked in an earlier block (no honest node decides such a record).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

impl RecordView {
    /// The view of a checked record.
    pub fn of(r: &CheckedRecord) -> Self {
        Self {
            hospital: r.event.body.hospital.clone(),
            department: r.event.body.department.clone(),
            block_hash: r.block_id.to_hex(),
            height: r.height,
            sequence: r.event.body.sequence,
            timestamp: r.event.event.received_at_ms,
            event_hash: r.event.event_hash.to_hex(),
            time: local_datetime(r.event.event.received_at_ms),
            authorization_serial: r.event.authorization.as_ref().map(|a| a.body.serial),
            refused: None,
        }
    }
}

/// The visits among `records` (access records left out), grouped by department (hospital, then
/// department) and newest first within each; a record under an authorization the patient had
/// revoked before its block is flagged (`refused`).
pub fn visits(records: &[CheckedRecord]) -> Vec<RecordView> {
    let revoked = authz::revocations(records);
    let mut out: Vec<RecordView> = records
        .iter()
        .filter(|r| !is_access(&r.event.body))
        .map(|r| RecordView {
            refused: authz::problem(r, &revoked).map(|e| e.to_string()),
            ..RecordView::of(r)
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.hospital, &a.department)
            .cmp(&(&b.hospital, &b.department))
            .then(b.height.cmp(&a.height))
            .then(b.sequence.cmp(&a.sequence))
    });
    out
}

/// The patient's grants as his own consent records (among `records`) say.
pub fn grants_in(records: &[CheckedRecord]) -> Grants {
    let mut consent: Vec<&CheckedRecord> = records
        .iter()
        .filter(|r| is_access(&r.event.body))
        .collect();
    consent.sort_by_key(|r| (r.height, r.index));
    let parsed: Vec<wire::AccessRecord> = consent
        .iter()
        .filter_map(|r| record_of(&r.event).ok())
        .collect();
    Grants::fold(&parsed)
}

/// Finds record `hospital/department#sequence` among `records`.
pub fn find<'a>(
    records: &'a [CheckedRecord],
    hospital: &str,
    department: &str,
    sequence: u64,
) -> Result<&'a CheckedRecord, PatientError> {
    records
        .iter()
        .find(|r| {
            r.event.body.hospital == hospital
                && r.event.body.department == department
                && r.event.body.sequence == sequence
        })
        .ok_or_else(|| PatientError::NoSuchRecord(format!("{hospital}/{department}#{sequence}")))
}

/// Opens the summary of `record` with `me`: as a recipient (the patient, the regulator), or
/// through a grant in `records` (a grantee).
pub fn open(
    me: &Identity,
    record: &CheckedRecord,
    records: &[CheckedRecord],
) -> Result<wire::Summary, PatientError> {
    let e = &record.event;
    let binding = e.binding();
    match sealing::open(&e.event.encrypted_summary, &binding, &me.sealing) {
        Ok(s) => Ok(s),
        Err(medblock_core::LedgerError::NotARecipient) => {
            let grants = grants_in(records);
            let wrap = grants
                .find(
                    &me.signing.public(),
                    &e.body.hospital,
                    &e.body.department,
                    e.body.sequence,
                )
                .and_then(|g| g.wrap.clone())
                .ok_or_else(|| {
                    PatientError::CannotOpen(format!(
                        "{}/{}#{}",
                        e.body.hospital, e.body.department, e.body.sequence
                    ))
                })?;
            Ok(sealing::open_with_wrap(
                &e.event.encrypted_summary,
                &wrap,
                &binding,
                &me.sealing,
            )?)
        }
        Err(err) => Err(err.into()),
    }
}

/// An opened summary, as `show --json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryView {
    /// The record.
    #[serde(flatten)]
    pub record: RecordView,
    /// Diagnosis.
    pub diagnosis: String,
    /// Examination results.
    pub examination_results: String,
    /// Treatment plan.
    pub treatment_plan: String,
    /// The EMR's hospital.
    pub emr_hospital: String,
    /// The EMR's id in that hospital's database.
    pub emr_record_id: String,
    /// SHA-256 of the EMR on the ledger (hex).
    pub emr_sha256: String,
}

impl SummaryView {
    /// The view of an opened summary.
    pub fn of(record: &CheckedRecord, s: &wire::Summary) -> Self {
        let p = s.pointer.clone().unwrap_or_default();
        Self {
            record: RecordView::of(record),
            diagnosis: s.diagnosis.clone(),
            examination_results: s.examination_results.clone(),
            treatment_plan: s.treatment_plan.clone(),
            emr_hospital: p.hospital,
            emr_record_id: p.record_id,
            emr_sha256: hex::encode(&s.emr_sha256),
        }
    }
}

/// The grant of `records` to `grantee` (name, grantee key and the records' keys re-sealed to his
/// sealing key), opening each with the patient's identity `me`.
pub fn grant(
    me: &Identity,
    grantee: &PublicKey,
    grantee_sealing: &medblock_core::SealingPublic,
    name: &str,
    chosen: &[&CheckedRecord],
) -> Result<wire::AccessRecord, PatientError> {
    let mut records = Vec::new();
    for r in chosen {
        let e = &r.event;
        let wrap = sealing::rewrap_for(
            &e.event.encrypted_summary,
            &e.binding(),
            &me.sealing,
            grantee_sealing,
            &mut rand::rng(),
        )?;
        records.push(wire::GrantedRecord {
            hospital: e.body.hospital.clone(),
            department: e.body.department.clone(),
            sequence: e.body.sequence,
            wrap: Some(wrap),
        });
    }
    Ok(wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Grant(wire::ConsentGrant {
            grantee_key: grantee.as_bytes().to_vec(),
            grantee_name: name.to_owned(),
            records,
        })),
    })
}

/// The revocation of every grant to `grantee`.
pub fn revoke(grantee: &PublicKey) -> wire::AccessRecord {
    wire::AccessRecord {
        kind: Some(wire::access_record::Kind::Revoke(wire::ConsentRevoke {
            grantee_key: grantee.as_bytes().to_vec(),
        })),
    }
}
