//! Access records' format: the reserved hospital and departments that mark an event as an
//! access record (consent grant or revocation, regulator read) and the decoding of its record.
//! Event parsing ([`crate::event`]) needs these to tell an access record from a visit; the
//! access rules built on them are in [`super::record`], which depends on event parsing, not the
//! other way round.

use crate::codec::decode_bounded;
use crate::error::LedgerError;
use crate::keys::PublicKey;
use crate::wire;

/// The reserved hospital name of access records; no department certificate can use it because
/// events there are authorized by their author's key, not by a department certificate.
pub const ACCESS_HOSPITAL: &str = "~access";
/// Department of consent grants and revocations (author: the patient).
pub const CONSENT_DEPARTMENT: &str = "consent";
/// Department of regulator reads (author: the regulator).
pub const READ_DEPARTMENT: &str = "regulator-read";
/// Largest encoded access record.
pub const MAX_ACCESS_RECORD_BYTES: usize = 64 * 1024;

/// Whether an event body is an access record rather than a visit.
pub fn is_access(body: &wire::EventBody) -> bool {
    body.hospital == ACCESS_HOSPITAL
}

/// Decodes an access event's record and checks its shape: the author is both patient and
/// provider, and the record's kind fits the department.
pub fn parse_record(
    body: &wire::EventBody,
    payload: &[u8],
) -> Result<wire::AccessRecord, LedgerError> {
    let bad = |reason: &str| LedgerError::Malformed {
        what: "access record",
        reason: reason.to_owned(),
    };
    if body.patient_key != body.provider_key {
        return Err(bad("author must be both patient and provider"));
    }
    let record: wire::AccessRecord =
        decode_bounded("access record", payload, MAX_ACCESS_RECORD_BYTES)?;
    use wire::access_record::Kind;
    let ok = match (&record.kind, body.department.as_str()) {
        (Some(Kind::Grant(g)), CONSENT_DEPARTMENT) => PublicKey::from_slice(&g.grantee_key).is_ok(),
        (Some(Kind::Revoke(r)), CONSENT_DEPARTMENT) => {
            PublicKey::from_slice(&r.grantee_key).is_ok()
        }
        (Some(Kind::Read(r)), READ_DEPARTMENT) => PublicKey::from_slice(&r.patient_key).is_ok(),
        (Some(Kind::RevokeAuthorization(r)), CONSENT_DEPARTMENT) => !r.hospital.is_empty(),
        _ => false,
    };
    if !ok {
        return Err(bad("record kind, department or key does not fit"));
    }
    Ok(record)
}
