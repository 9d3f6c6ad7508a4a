//! A durable, ordered queue of events: the endorser's pending events (Step 2: "a crash loses
//! nothing it acknowledged") and the client's outbox (Step 7: an event stays until its commit
//! receipt arrives).
//!
//! Entries are ordered by upload time, then by event key, so the endorser packs blocks in the
//! paper's order. A second column family indexes entries by event key, so a retried upload is
//! recognised (idempotent) and a committed event is removed in O(1). Every write is synced.

use crate::error::StorageError;
use medblock_core::{EventKey, Hash32};
use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions,
};
use std::path::{Path, PathBuf};

const CF_ORDER: &str = "order";
const CF_INDEX: &str = "index";
const CF_META: &str = "meta";

/// One queued event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// When it was received (the endorser's upload time) or created (the client's outbox).
    pub order_ms: u64,
    /// Its key (hospital, department, sequence).
    pub key: EventKey,
    /// The encoded `wire::Event`.
    pub bytes: Vec<u8>,
}

/// A durable queue of events in upload order.
pub struct EventQueue {
    db: DB,
    path: PathBuf,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("path", &self.path)
            .finish()
    }
}

fn order_key(order_ms: u64, key: &EventKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(&order_ms.to_be_bytes());
    k.extend_from_slice(key.0.as_bytes());
    k
}

impl EventQueue {
    /// Opens (creating if needed) the queue in `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut opts = crate::db_options();
        opts.create_missing_column_families(true);
        let cfs = [CF_ORDER, CF_INDEX, CF_META]
            .into_iter()
            .map(|n| ColumnFamilyDescriptor::new(n, Options::default()));
        let db =
            DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StorageError::rocks(path, e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| StorageError::Rocks {
            path: self.path.clone(),
            reason: format!("column family {name} is missing"),
        })
    }

    fn synced() -> WriteOptions {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        wo
    }

    /// Adds an event unless one with the same key is queued. Returns the upload time of the
    /// entry that is in the queue afterwards (the existing one for a retry), so a retried
    /// upload keeps its original place.
    pub fn insert(&self, order_ms: u64, key: &EventKey, bytes: &[u8]) -> Result<u64, StorageError> {
        let placed = self.insert_many(&[QueuedEvent {
            order_ms,
            key: *key,
            bytes: bytes.to_vec(),
        }])?;
        Ok(placed.first().copied().unwrap_or(order_ms))
    }

    /// [`EventQueue::insert`] for many events in one synced write: a batch of uploads costs one
    /// fsync, not one each. Returns each event's upload time in the queue afterwards, in order
    /// (the first one for a key given twice).
    pub fn insert_many(&self, items: &[QueuedEvent]) -> Result<Vec<u64>, StorageError> {
        let mut batch = WriteBatch::default();
        let mut placed = Vec::with_capacity(items.len());
        let mut fresh: std::collections::HashMap<EventKey, u64> = Default::default();
        for q in items {
            if let Some(existing) = fresh.get(&q.key).copied() {
                placed.push(existing);
                continue;
            }
            if let Some(existing) = self.order_of(&q.key)? {
                placed.push(existing);
                continue;
            }
            batch.put_cf(self.cf(CF_ORDER)?, order_key(q.order_ms, &q.key), &q.bytes);
            batch.put_cf(
                self.cf(CF_INDEX)?,
                q.key.0.as_bytes(),
                q.order_ms.to_be_bytes(),
            );
            fresh.insert(q.key, q.order_ms);
            placed.push(q.order_ms);
        }
        if !fresh.is_empty() {
            self.db
                .write_opt(batch, &Self::synced())
                .map_err(|e| StorageError::rocks(&self.path, e))?;
        }
        Ok(placed)
    }

    /// The upload time of a queued event, if it is queued.
    pub fn order_of(&self, key: &EventKey) -> Result<Option<u64>, StorageError> {
        let v = self
            .db
            .get_cf(self.cf(CF_INDEX)?, key.0.as_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        match v {
            None => Ok(None),
            Some(v) => {
                let arr: [u8; 8] = v.as_slice().try_into().map_err(|_| StorageError::Corrupt {
                    path: self.path.clone(),
                    height: 0,
                    reason: "queue index entry is not 8 bytes".into(),
                })?;
                Ok(Some(u64::from_be_bytes(arr)))
            }
        }
    }

    /// The bytes of a queued event.
    pub fn get(&self, key: &EventKey) -> Result<Option<Vec<u8>>, StorageError> {
        let Some(order_ms) = self.order_of(key)? else {
            return Ok(None);
        };
        self.db
            .get_cf(self.cf(CF_ORDER)?, order_key(order_ms, key))
            .map_err(|e| StorageError::rocks(&self.path, e))
    }

    /// Removes events (committed ones); keys not queued are ignored.
    pub fn remove<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a EventKey>,
    ) -> Result<usize, StorageError> {
        let mut batch = WriteBatch::default();
        let mut n = 0;
        for key in keys {
            if let Some(order_ms) = self.order_of(key)? {
                batch.delete_cf(self.cf(CF_ORDER)?, order_key(order_ms, key));
                batch.delete_cf(self.cf(CF_INDEX)?, key.0.as_bytes());
                n += 1;
            }
        }
        if n > 0 {
            self.db
                .write_opt(batch, &Self::synced())
                .map_err(|e| StorageError::rocks(&self.path, e))?;
        }
        Ok(n)
    }

    /// Up to `limit` events in upload order, skipping `skip` (keys already in flight).
    pub fn oldest(
        &self,
        limit: usize,
        skip: &dyn Fn(&EventKey) -> bool,
    ) -> Result<Vec<QueuedEvent>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ORDER)?, IteratorMode::Start) {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            let (Some(order), Some(hash)) = (k.get(..8), k.get(8..40).and_then(Hash32::from_slice))
            else {
                return Err(StorageError::Corrupt {
                    path: self.path.clone(),
                    height: 0,
                    reason: "queue entry key is malformed".into(),
                });
            };
            let key = EventKey(hash);
            if skip(&key) {
                continue;
            }
            let mut arr = [0u8; 8];
            arr.copy_from_slice(order);
            out.push(QueuedEvent {
                order_ms: u64::from_be_bytes(arr),
                key,
                bytes: v.to_vec(),
            });
        }
        Ok(out)
    }

    /// Every entry's order (the endorser's deadlines, the client's), ascending, skipping
    /// `skip`: what pacing needs without reading the events themselves.
    pub fn orders(&self, skip: &dyn Fn(&EventKey) -> bool) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(CF_ORDER)?, IteratorMode::Start) {
            let (k, _) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            let (Some(order), Some(hash)) = (
                k.get(..8).and_then(|o| <[u8; 8]>::try_from(o).ok()),
                k.get(8..40).and_then(Hash32::from_slice),
            ) else {
                return Err(StorageError::Corrupt {
                    path: self.path.clone(),
                    height: 0,
                    reason: "queue entry key is malformed".into(),
                });
            };
            if !skip(&EventKey(hash)) {
                out.push(u64::from_be_bytes(order));
            }
        }
        Ok(out)
    }

    /// How many events are queued.
    pub fn len(&self) -> Result<usize, StorageError> {
        let mut n = 0;
        for item in self.db.iterator_cf(self.cf(CF_INDEX)?, IteratorMode::Start) {
            item.map_err(|e| StorageError::rocks(&self.path, e))?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> Result<bool, StorageError> {
        Ok(self.len()? == 0)
    }

    /// A durable counter (e.g. the client's next sequence number), 0 when never set.
    pub fn counter(&self, name: &str) -> Result<u64, StorageError> {
        let v = self
            .db
            .get_cf(self.cf(CF_META)?, name.as_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        Ok(v.and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    }

    /// Sets a counter. It reaches the write-ahead log at once but is fsynced with the queue's
    /// next synced write (an insert): the client sets the next sequence number, stores the EMR,
    /// then queues the event, so one fsync covers both. A crash in between loses only a number
    /// whose record never reached the queue and was never acknowledged, so reusing it is safe;
    /// this saves one fsync per recorded visit.
    pub fn set_counter(&self, name: &str, value: u64) -> Result<(), StorageError> {
        self.db
            .put_cf(self.cf(CF_META)?, name.as_bytes(), value.to_be_bytes())
            .map_err(|e| StorageError::rocks(&self.path, e))
    }
}
