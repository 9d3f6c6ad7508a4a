//! The hospital's "Database" component: full EMRs kept by pointer, never on the ledger.
//!
//! The ledger holds only an EMR's SHA-256 and a pointer to it; the full record stays here, in
//! the hospital's own store. [`EmrStore`] is the seam for a hospital's real system; the embedded
//! default keeps records in RocksDB.

use crate::error::StorageError;
use medblock_core::{Hash32, sha256};
use rocksdb::{DB, Options, WriteOptions};
use std::path::{Path, PathBuf};

/// A hospital's store of full EMRs, addressed by record id.
pub trait EmrStore: Send + Sync {
    /// Keeps `emr` under `record_id` (replacing nothing: a record id is written once) and returns
    /// the SHA-256 that goes on the ledger.
    fn put(&self, record_id: &str, emr: &[u8]) -> Result<Hash32, StorageError>;
    /// The EMR stored under `record_id`.
    fn get(&self, record_id: &str) -> Result<Vec<u8>, StorageError>;
    /// Whether `record_id` is held.
    fn contains(&self, record_id: &str) -> Result<bool, StorageError>;
}

/// The embedded default EMR store: one RocksDB database per hospital, synced writes.
pub struct RocksEmrStore {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for RocksEmrStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksEmrStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RocksEmrStore {
    /// Opens (creating if needed) the EMR database in `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let db = DB::open(&opts, path).map_err(|e| StorageError::rocks(path, e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }
}

impl EmrStore for RocksEmrStore {
    fn put(&self, record_id: &str, emr: &[u8]) -> Result<Hash32, StorageError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_opt(record_id.as_bytes(), emr, &wo)
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        Ok(sha256(emr))
    }

    fn get(&self, record_id: &str) -> Result<Vec<u8>, StorageError> {
        self.db
            .get(record_id.as_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))?
            .ok_or_else(|| StorageError::NoSuchRecord {
                record_id: record_id.to_owned(),
            })
    }

    fn contains(&self, record_id: &str) -> Result<bool, StorageError> {
        Ok(self
            .db
            .get_pinned(record_id.as_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))?
            .is_some())
    }
}
