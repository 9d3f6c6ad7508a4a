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

/// The options every database of a node opens with (`create_if_missing` and the files' disk
/// reservations). RocksDB reserves each new write-ahead log up front with `fallocate`, in
/// blocks of 1.1 x the write buffer (64 MiB by default), and each manifest 4 MiB: a node
/// of an idle network held 75 MiB of disk per database for a few kilobytes of data, and a
/// 100-node testnet 7.7 GB (a 300-node one would not fit on a developer's disk). Files now
/// grow as they are written; buffers, flushes and syncs are RocksDB's defaults as before.
pub(crate) fn db_options() -> rocksdb::Options {
    let mut opts = rocksdb::Options::default()
        .get_options_from_string("allow_fallocate=false")
        .unwrap_or_default();
    opts.set_manifest_preallocation_size(64 * 1024);
    opts.create_if_missing(true);
    opts
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    /// Bytes the files under `dir` hold on disk (allocated blocks, not their length).
    fn on_disk(dir: &std::path::Path) -> u64 {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap())
            .filter(|m| m.is_file())
            .map(|m| m.blocks() * 512)
            .sum()
    }

    #[test]
    fn an_empty_database_reserves_no_disk_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let db = rocksdb::DB::open(&super::db_options(), &path).unwrap();
        db.put(b"k", b"v").unwrap();
        // With RocksDB's reservations it was 75 MB (a 71 MB write-ahead log, a 4 MB manifest).
        assert!(on_disk(&path) < 2 << 20, "{} bytes", on_disk(&path));
    }
}
