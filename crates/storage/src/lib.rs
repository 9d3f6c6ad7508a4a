//! What a MedBlock node keeps on disk: the ledger (RocksDB column families for blocks, events,
//! bread crumbs and metadata), the hospital's EMR database, and key files.
//!
//! Knows `core`'s types and rules; knows nothing of networking or consensus.
#![deny(missing_docs)]

pub mod audit;
pub mod emr;
pub mod error;
pub mod keyfile;
pub mod keys_layout;
pub mod ledger;
pub mod patient_events;
pub mod queue;
pub mod registry;
pub mod safety;

pub use audit::LedgerHashes;
pub use emr::{EmrStore, LinkedEmr, RocksEmrStore};
pub use error::StorageError;
pub use ledger::{EventLocation, Ledger, OpenCheck};
pub use patient_events::PatientEvent;
pub use queue::{EventQueue, QueuedEvent};
pub use registry::{EnrolStatus, PatientRegistry, RegistryEntry, RegistryError};
pub use safety::{SafetyStore, SafetyStoreError};
