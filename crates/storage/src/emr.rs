//! The hospital's "Database" component: full EMRs kept by pointer, never on the ledger.
//!
//! The ledger holds only an EMR's SHA-256 and a pointer to it; the full record stays here, in
//! the hospital's own store. [`EmrStore`] is the seam for a hospital's real system; the embedded
//! default keeps records in RocksDB.

use crate::error::StorageError;
use medblock_core::{Hash32, sha256};
use rocksdb::{DB, WriteOptions};
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
    /// Keeps `emr` under `record_id` and, in the same write, links the event that points to it
    /// (its department and sequence number). A requester is authorized against a ledger event,
    /// so the EMR is served by that event's link, never by a record id the requester names.
    /// A record id already held with other bytes is refused ([`StorageError::RecordIdTaken`]);
    /// the same bytes again is not an error.
    fn put_linked(
        &self,
        record_id: &str,
        emr: &[u8],
        department: &str,
        sequence: u64,
    ) -> Result<Hash32, StorageError>;
    /// [`EmrStore::put_linked`] for many records at once. A store that can should write them
    /// together (the embedded one does, with one fsync), so a burst of visits does not cost one
    /// synced write each. Returns each record's SHA-256, in order. When one record id is already
    /// held with other bytes (or named twice with different bytes), nothing of the batch is
    /// written.
    fn put_linked_many(&self, records: &[LinkedEmr<'_>]) -> Result<Vec<Hash32>, StorageError> {
        records
            .iter()
            .map(|r| self.put_linked(r.record_id, r.emr, r.department, r.sequence))
            .collect()
    }
    /// The record id the event (`department`, `sequence`) points to, if this store holds it.
    fn linked(&self, department: &str, sequence: u64) -> Result<Option<String>, StorageError>;
}

/// One EMR for [`EmrStore::put_linked_many`]: the record and the event that points to it.
#[derive(Debug, Clone, Copy)]
pub struct LinkedEmr<'a> {
    /// The record's id in the hospital database.
    pub record_id: &'a str,
    /// The full record.
    pub emr: &'a [u8],
    /// The department of the event that points to it.
    pub department: &'a str,
    /// That event's sequence number.
    pub sequence: u64,
}

/// Column family of the event → record id links.
const LINKS: &str = "links";

fn link_key(department: &str, sequence: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(department.len() + 9);
    k.extend_from_slice(department.as_bytes());
    k.push(0);
    k.extend_from_slice(&sequence.to_be_bytes());
    k
}

/// The embedded default EMR store: one RocksDB database per hospital, synced writes.
pub struct RocksEmrStore {
    db: DB,
    path: PathBuf,
    /// Held from the check that a record id is free to the write, so two writers cannot both
    /// find it free.
    write: std::sync::Mutex<()>,
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
        let mut opts = crate::db_options();
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let db = DB::open_cf(&opts, path, [LINKS]).map_err(|e| StorageError::rocks(path, e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
            write: std::sync::Mutex::new(()),
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

    fn put_linked(
        &self,
        record_id: &str,
        emr: &[u8],
        department: &str,
        sequence: u64,
    ) -> Result<Hash32, StorageError> {
        let hashes = self.put_linked_many(&[LinkedEmr {
            record_id,
            emr,
            department,
            sequence,
        }])?;
        hashes.first().copied().ok_or_else(|| StorageError::Rocks {
            path: self.path.clone(),
            reason: "no hash for the record written".into(),
        })
    }

    fn put_linked_many(&self, records: &[LinkedEmr<'_>]) -> Result<Vec<Hash32>, StorageError> {
        let links = self
            .db
            .cf_handle(LINKS)
            .ok_or_else(|| StorageError::Rocks {
                path: self.path.clone(),
                reason: "links column family missing".into(),
            })?;
        // A poisoned lock only means another writer panicked; the check below is still sound.
        let _write = self
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut batch = rocksdb::WriteBatch::default();
        let mut in_batch: std::collections::HashMap<&str, &[u8]> =
            std::collections::HashMap::with_capacity(records.len());
        for r in records {
            let held = match in_batch.get(r.record_id) {
                Some(emr) => Some(emr.to_vec()),
                None => self
                    .db
                    .get(r.record_id.as_bytes())
                    .map_err(|e| StorageError::rocks(&self.path, e))?,
            };
            match held {
                Some(existing) if existing != r.emr => {
                    return Err(StorageError::RecordIdTaken {
                        record_id: r.record_id.to_owned(),
                        existing: sha256(&existing),
                    });
                }
                // The same bytes again: only the link is (re)written.
                Some(_) => {}
                None => {
                    batch.put(r.record_id.as_bytes(), r.emr);
                    in_batch.insert(r.record_id, r.emr);
                }
            }
            batch.put_cf(
                &links,
                link_key(r.department, r.sequence),
                r.record_id.as_bytes(),
            );
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(batch, &wo)
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        Ok(records.iter().map(|r| sha256(r.emr)).collect())
    }

    fn linked(&self, department: &str, sequence: u64) -> Result<Option<String>, StorageError> {
        let links = self
            .db
            .cf_handle(LINKS)
            .ok_or_else(|| StorageError::Rocks {
                path: self.path.clone(),
                reason: "links column family missing".into(),
            })?;
        let v = self
            .db
            .get_cf(&links, link_key(department, sequence))
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        Ok(v.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    fn contains(&self, record_id: &str) -> Result<bool, StorageError> {
        Ok(self
            .db
            .get_pinned(record_id.as_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))?
            .is_some())
    }
}
