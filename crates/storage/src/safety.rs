//! The orderer's PBFT safety record (what its replica signed, its view, its prepared
//! certificate), kept in its own small RocksDB so that a restarted orderer never signs two
//! different values for one view and height.
//!
//! One key holds the latest record, replaced whole by a synced write: the replica emits a
//! record before the messages it covers, and the orderer sends them only after [`SafetyStore::save`]
//! returned, so whatever left the node is on disk. The record is small (digests, plus one
//! prepared certificate), so rewriting it whole keeps the store trivially consistent.

use medblock_core::consensus::pbft::{SafetyRecord, SafetyRecordError};
use rocksdb::{DB, WriteOptions};
use std::path::{Path, PathBuf};

const KEY: &[u8] = b"pbft-safety";

/// Why the safety store failed.
#[derive(Debug, thiserror::Error)]
pub enum SafetyStoreError {
    /// RocksDB itself failed (disk full, I/O error, lock held by another process).
    #[error("safety store at {path}: {reason}")]
    Rocks {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's message.
        reason: String,
    },
    /// The stored record does not decode or contradicts itself: the orderer must not guess
    /// what it signed, so it refuses to start instead.
    #[error("safety record at {path} is corrupt: {source}")]
    Corrupt {
        /// The database directory.
        path: PathBuf,
        /// What is wrong.
        source: SafetyRecordError,
    },
}

/// The durable safety record of one orderer.
pub struct SafetyStore {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for SafetyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetyStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SafetyStore {
    /// Opens (creating if needed) the store in `path`.
    pub fn open(path: &Path) -> Result<Self, SafetyStoreError> {
        let mut opts = crate::db_options();
        // A record is a few kilobytes: no need for RocksDB's default buffers.
        opts.set_write_buffer_size(1 << 20);
        let db = DB::open(&opts, path).map_err(|e| Self::rocks(path, e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn rocks(path: &Path, e: rocksdb::Error) -> SafetyStoreError {
        SafetyStoreError::Rocks {
            path: path.to_path_buf(),
            reason: e.into_string(),
        }
    }

    /// The record saved last, if any.
    pub fn load(&self) -> Result<Option<SafetyRecord>, SafetyStoreError> {
        let Some(bytes) = self.db.get(KEY).map_err(|e| Self::rocks(&self.path, e))? else {
            return Ok(None);
        };
        SafetyRecord::from_bytes(&bytes)
            .map(Some)
            .map_err(|source| SafetyStoreError::Corrupt {
                path: self.path.clone(),
                source,
            })
    }

    /// Replaces the record, synced to disk before returning.
    pub fn save(&self, record: &SafetyRecord) -> Result<(), SafetyStoreError> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .put_opt(KEY, record.to_bytes(), &wo)
            .map_err(|e| Self::rocks(&self.path, e))
    }

    /// Writes raw bytes as the record (tests of a damaged store).
    #[doc(hidden)]
    pub fn save_raw(&self, bytes: &[u8]) -> Result<(), SafetyStoreError> {
        self.db
            .put(KEY, bytes)
            .map_err(|e| Self::rocks(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medblock_core::consensus::pbft::safety::SignedEntry;

    fn record() -> SafetyRecord {
        SafetyRecord {
            turn: 3,
            view: 2,
            changing: 3,
            signed: vec![SignedEntry {
                kind: 2,
                view: 2,
                height: 7,
                digest: vec![9; 32],
            }],
            prepared: None,
        }
    }

    #[test]
    fn a_saved_record_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = SafetyStore::open(dir.path()).unwrap();
            assert_eq!(s.load().unwrap(), None);
            s.save(&record()).unwrap();
        }
        let s = SafetyStore::open(dir.path()).unwrap();
        assert_eq!(s.load().unwrap(), Some(record()));
    }

    #[test]
    fn a_damaged_record_is_refused_with_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = SafetyStore::open(dir.path()).unwrap();
        s.save_raw(b"\xff\xff\xff").unwrap();
        assert!(matches!(
            s.load(),
            Err(SafetyStoreError::Corrupt {
                source: SafetyRecordError::Decode,
                ..
            })
        ));
        let mut r = record();
        r.signed[0].digest = vec![1; 5];
        s.save_raw(&r.to_bytes()).unwrap();
        assert!(matches!(
            s.load(),
            Err(SafetyStoreError::Corrupt {
                source: SafetyRecordError::Digest(5),
                ..
            })
        ));
        let mut r = record();
        let mut other = r.signed[0].clone();
        other.digest = vec![8; 32];
        r.signed.push(other);
        s.save_raw(&r.to_bytes()).unwrap();
        assert!(matches!(
            s.load(),
            Err(SafetyStoreError::Corrupt {
                source: SafetyRecordError::Conflict { view: 2, height: 7 },
                ..
            })
        ));
    }
}
