//! Bread crumbs: the per-patient, per-department index of the blocks that hold a patient's
//! events, so his records are found without scanning the ledger (the paper's Table 1).
//!
//! The paper keeps only the newest block hash per department; MedBlock keeps every one, newest
//! first, so that no record is lost from the index. The index is keyed by a pseudonym derived
//! from the patient's key, never by the key itself.

use crate::hash::{Hash32, tagged_hash};
use crate::keys::PublicKey;

/// A patient's index name: a tagged hash of his signing key. Only someone who knows the key can
/// compute it, and it reveals nothing of the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym(pub Hash32);

/// The pseudonym of `patient`.
pub fn pseudonym(patient: &PublicKey) -> Pseudonym {
    Pseudonym(tagged_hash(
        "medblock/patient-pseudonym/v1",
        &[patient.as_bytes()],
    ))
}

/// Where a department is: its hospital and its name. Departments of the same name at two
/// hospitals are different crumbs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DepartmentId {
    /// The hospital.
    pub hospital: String,
    /// The department within it.
    pub department: String,
}

/// One bread crumb: a block at `height`, with id `block_id`, holds an event of the patient in
/// this department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crumb {
    /// The patient.
    pub pseudonym: Pseudonym,
    /// The department.
    pub department: DepartmentId,
    /// Height of the block.
    pub height: u64,
    /// Id of the block.
    pub block_id: Hash32,
}
