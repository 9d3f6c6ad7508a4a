//! The storage crate's errors.

use medblock_core::{Hash32, LedgerError};
use std::path::PathBuf;

/// Why a storage operation failed. The ledger is never left half-written: a failed commit
/// changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB itself failed (disk full, I/O error, lock held by another process).
    #[error("RocksDB at {path}: {reason}")]
    Rocks {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's message.
        reason: String,
    },
    /// A block or event was refused by the ledger rules.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// An event of the block is already on the ledger (same hospital, department and sequence).
    #[error("event {hospital}/{department}#{sequence} is already on the ledger")]
    DuplicateEvent {
        /// Hospital.
        hospital: String,
        /// Department.
        department: String,
        /// Sequence number.
        sequence: u64,
    },
    /// The block breaks another rule of the validity predicate (too many events or bytes, the
    /// block below unknown, the ledger unreadable).
    #[error("block refused: {0}")]
    Refused(medblock_core::block_rules::BlockRuleError),
    /// What is on disk does not hash or link as it should: the store was damaged or tampered with.
    #[error("ledger at {path} is corrupt at height {height}: {reason}")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// Height of the damaged block.
        height: u64,
        /// What does not match.
        reason: String,
    },
    /// No block with that id or height.
    #[error("no block {what}")]
    NoSuchBlock {
        /// The id or height asked for.
        what: String,
    },
    /// A key file could not be read or written.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A key file readable by others than its owner.
    #[error(
        "key file {path} has permissions {mode:o}; it must be readable by its owner only (run `chmod 600 {path}`)"
    )]
    KeyFileTooOpen {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// An EMR asked for by a pointer this hospital does not hold.
    #[error("no EMR with record id {record_id}")]
    NoSuchRecord {
        /// The record id.
        record_id: String,
    },
    /// A record id already held with other bytes: a record id is written once, never replaced.
    #[error(
        "EMR record id {record_id} already holds a different record (sha256 {existing}); a record id is written once"
    )]
    RecordIdTaken {
        /// The record id.
        record_id: String,
        /// SHA-256 of the record already stored under it.
        existing: Hash32,
    },
    /// A block id that is not a 32-byte digest.
    #[error("block id {0} is not a stored block")]
    UnknownBlock(Hash32),
}

impl StorageError {
    pub(crate) fn rocks(path: &std::path::Path, e: rocksdb::Error) -> Self {
        StorageError::Rocks {
            path: path.to_path_buf(),
            reason: e.into_string(),
        }
    }
}
