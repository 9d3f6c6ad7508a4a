//! HL7 FHIR R4 import for MedBlock hospitals, as pure functions over bytes (no I/O, no clock).
//!
//! A patient's FHIR Bundle (Synthea writes `transaction` Bundles, `.json` or `.json.bz2`) is
//! first validated as a whole ([`Bundle::from_bytes`]): JSON, resource types, one Patient,
//! unique fullUrls and every reference resolving inside the bundle. Only then are its encounters
//! extracted ([`encounters`]): each becomes an [`EncounterRecord`] with the department it is filed
//! under, the summary that goes sealed on the ledger, and its EMR, a FHIR `collection` Bundle of
//! the Patient, the Encounter and every resource referencing it. [`emr_resources`] reads an EMR
//! back for comparison.
//!
//! Resources are kept as `serde_json::Value` rather than typed models (fhir-sdk, fhirbolt): the
//! EMR must hold the resources exactly as imported, with every extension and profile element,
//! and the import reads a dozen fields; a generated R4 model would add minutes of compile time
//! and risk refusing or normalising real-world bundles.
#![deny(missing_docs)]

pub mod bundle;
pub mod compare;
pub mod department;
pub mod encounter;
pub mod error;
pub mod summary;
pub mod visit;

pub use bundle::{Bundle, Entry, decompress};
pub use compare::{ResourceSet, emr_resources, merge_emrs, record_resources};
pub use department::{DEPARTMENTS, department_of};
pub use encounter::{EncounterRecord, encounters};
pub use error::{EntryRef, FhirError, Location};
pub use summary::SummaryText;
pub use visit::{VisitEmr, visit_bundle};

/// A bundle file read and split into encounter records: what an importer submits.
#[derive(Debug, Clone)]
pub struct PatientImport {
    /// The validated bundle.
    pub bundle: Bundle,
    /// The patient's local id at the hospital, the registry's key ([`Bundle::registry_id`]:
    /// the Patient's MR identifier, else its resource id).
    pub patient_id: String,
    /// Its encounters.
    pub encounters: Vec<EncounterRecord>,
}

/// Validates a bundle file's bytes and extracts its encounters; nothing is returned unless the
/// whole bundle is valid.
pub fn import_bytes(file: &str, bytes: &[u8]) -> Result<PatientImport, FhirError> {
    let bundle = Bundle::from_bytes(file, bytes)?;
    let encounters = encounters(&bundle);
    Ok(PatientImport {
        patient_id: bundle.registry_id(),
        encounters,
        bundle,
    })
}
