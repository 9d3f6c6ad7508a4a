//! Who may see what of a patient's records: the patient everything of his own, the regulator
//! genesis names every summary (each read recorded on the ledger), a grantee exactly the records
//! granted and not revoked, and anybody else nothing beyond public headers.

use super::error::AccessError;
use super::record::{ACCESS_HOSPITAL, Grants};
use crate::keys::PublicKey;

/// What a visitor may see of one patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The patient himself: all his records, his consent records included.
    Patient,
    /// The regulator: every visit summary of the patient.
    Regulator,
    /// A grantee: the granted records, and the patient's consent records that carry the keys
    /// (the serving peer keeps only those about this grantee).
    Grantee(PublicKey),
}

/// Decides the visitor's scope over `patient`'s records.
pub fn decide(
    visitor: &PublicKey,
    patient: &PublicKey,
    regulator: Option<&PublicKey>,
    grants: &Grants,
) -> Result<Scope, AccessError> {
    if visitor == patient {
        return Ok(Scope::Patient);
    }
    if regulator == Some(visitor) {
        return Ok(Scope::Regulator);
    }
    match grants.grantees.get(visitor) {
        Some(s) if !s.records.is_empty() => Ok(Scope::Grantee(*visitor)),
        Some(s) if s.revoked => Err(AccessError::Revoked),
        _ => Err(AccessError::NotAuthorized(format!(
            "{visitor} is not patient {patient}, the regulator, or a grantee"
        ))),
    }
}

impl Scope {
    /// Whether the record (hospital, department, sequence) is in scope.
    pub fn allows(&self, grants: &Grants, hospital: &str, department: &str, sequence: u64) -> bool {
        match self {
            Scope::Patient => true,
            Scope::Regulator => hospital != ACCESS_HOSPITAL,
            Scope::Grantee(g) => {
                hospital == ACCESS_HOSPITAL && department == super::record::CONSENT_DEPARTMENT
                    || grants.find(g, hospital, department, sequence).is_some()
            }
        }
    }
}
