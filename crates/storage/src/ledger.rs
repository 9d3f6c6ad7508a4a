//! The ledger on disk: blocks, events, bread crumbs and the tip in RocksDB column families.
//!
//! A commit writes the block, its events, its crumbs, the height index and the new tip in one
//! atomic, synced `WriteBatch`: after a crash the ledger holds a block entirely or not at all,
//! and every commit that returned is on disk. Opening walks the hash chain back from the tip.

use crate::error::StorageError;
use crate::keys_layout::*;
use medblock_core::authorization::{RevokedAuthorizations, revocation_of};
use medblock_core::block::block_id;
use medblock_core::block_rules::{
    BlockLimits, BlockRuleError, ChainBelow, Inclusion, check_ledger_block,
};
use medblock_core::codec::limits;
use medblock_core::config::ConfigState;
use medblock_core::crumbs::{Crumb, DepartmentId, Pseudonym};
use medblock_core::genesis::VerifiedGenesis;
use medblock_core::{ChainTip, EventKey, Hash32, VerifiedBlock, wire};
use prost::Message;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DB, Direction, IteratorMode, Options,
    ReadOptions, SliceTransform, WriteBatch, WriteOptions,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Where one event sits on the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLocation {
    /// Height of its block.
    pub height: u64,
    /// Its index in the block.
    pub index: u32,
}

/// How thoroughly [`Ledger::open`] checks what is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCheck {
    /// Every block's id and link back to the previous block (fast: headers only).
    HashChain,
    /// Also every event, signature and root of every block (slow: a full audit).
    Full,
}

/// A node's copy of the ledger.
pub struct Ledger {
    db: DB,
    path: PathBuf,
    tip: RwLock<ChainTip>,
    max_block_events: usize,
    /// What a block may hold, for the validity predicate at commit: the events limit above and
    /// the byte limit (the codec's ceiling until [`Ledger::with_max_block_bytes`] sets genesis').
    limits: BlockLimits,
    /// Recording authorizations revoked by blocks on this ledger (persisted in `meta` with each
    /// block, loaded at open): a block under a revoked authorization is refused here too.
    revoked: RwLock<RevokedAuthorizations>,
    /// The configuration as of the tip: genesis plus every configuration change on this ledger
    /// (rebuilt at [`Ledger::with_genesis`] from the blocks the `c` index names). `None` for a
    /// ledger opened without genesis, which then refuses blocks carrying changes.
    config: RwLock<Option<ConfigState>>,
    /// The configuration after each block that changed it (and genesis' at 0), so a reader
    /// behind the tip (an orderer checking a block below it) gets the configuration as of its
    /// height. Changes are rare: one state per change.
    config_by_height: RwLock<BTreeMap<u64, Arc<ConfigState>>>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.path)
            .field("tip", &self.tip())
            .finish()
    }
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `path` and checks the chain from the tip.
    /// `max_block_events` is the genesis limit used when re-verifying blocks.
    pub fn open(
        path: &Path,
        check: OpenCheck,
        max_block_events: usize,
    ) -> Result<Self, StorageError> {
        let mut opts = crate::db_options();
        opts.create_missing_column_families(true);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = LEDGER_CFS.iter().map(|name| {
            let cf_opts = if *name == CF_CRUMBS {
                crumbs_options()
            } else {
                Options::default()
            };
            ColumnFamilyDescriptor::new(*name, cf_opts)
        });
        let db =
            DB::open_cf_descriptors(&opts, path, cfs).map_err(|e| StorageError::rocks(path, e))?;
        let mut ledger = Self {
            db,
            path: path.to_path_buf(),
            tip: RwLock::new(ChainTip::GENESIS),
            max_block_events,
            limits: BlockLimits {
                max_events: max_block_events.min(limits::MAX_BLOCK_EVENTS),
                max_bytes: limits::MAX_BLOCK_BYTES,
            },
            revoked: RwLock::new(RevokedAuthorizations::default()),
            config: RwLock::new(None),
            config_by_height: RwLock::new(BTreeMap::new()),
        };
        let tip = ledger.read_tip()?;
        let revoked = ledger.read_revocations()?;
        *ledger.revoked.get_mut().unwrap_or_else(|e| e.into_inner()) = revoked;
        *ledger.tip.get_mut().unwrap_or_else(|e| e.into_inner()) = tip;
        ledger.verify_chain(check)?;
        tracing::debug!(path = %path.display(), height = tip.height, tip = %tip.id, "ledger opened");
        Ok(ledger)
    }

    /// Sets the block byte limit commits are checked against (genesis' limit, see
    /// [`medblock_core::block_rules::max_block_bytes`]); blocks already on disk are not re-checked.
    pub fn with_max_block_bytes(mut self, max_bytes: usize) -> Self {
        self.limits.max_bytes = max_bytes;
        self
    }

    /// Rebuilds the configuration as of the tip: `genesis`, then the configuration changes of
    /// every block the `c` index names, in height order, each checked as it was at commit. A
    /// node restarted with this ledger therefore knows every certificate issued and revoked on
    /// it; nothing of it lives only in memory.
    pub fn with_genesis(self, genesis: &VerifiedGenesis) -> Result<Self, StorageError> {
        let mut state = ConfigState::from_genesis(genesis);
        let mut by_height = BTreeMap::new();
        by_height.insert(0, Arc::new(state.clone()));
        let heights = self.config_heights()?;
        for height in heights {
            let block = self
                .block_at(height)?
                .ok_or_else(|| self.corrupt(height, "configuration index names a missing block"))?;
            state
                .fold_block(height, &block.config_changes)
                .map_err(|e| self.corrupt(height, format!("configuration change: {e}")))?;
            by_height.insert(height, Arc::new(state.clone()));
        }
        *self
            .config_by_height
            .write()
            .unwrap_or_else(|e| e.into_inner()) = by_height;
        state.pass(self.tip().height);
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
        Ok(self)
    }

    /// Heights of the blocks that carry configuration changes, ascending.
    pub fn config_heights(&self) -> Result<Vec<u64>, StorageError> {
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_META)?,
            IteratorMode::From(&[CONFIG_PREFIX], Direction::Forward),
        );
        for item in iter {
            let (k, _) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            if k.first() != Some(&CONFIG_PREFIX) {
                break;
            }
            let height = k
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| self.corrupt(0, "configuration index key is malformed"))?;
            out.push(height);
        }
        Ok(out)
    }

    /// The configuration as of the tip (`None` when opened without genesis).
    pub fn config(&self) -> Option<ConfigState> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The configuration as of `height` (after the block at `height`), for heights up to the
    /// tip; `None` when opened without genesis.
    pub fn config_at(&self, height: u64) -> Option<Arc<ConfigState>> {
        self.config_by_height
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .range(..=height)
            .next_back()
            .map(|(_, c)| c.clone())
    }

    /// Reads the configuration as of the tip without cloning it.
    pub fn with_config<R>(&self, f: impl FnOnce(Option<&ConfigState>) -> R) -> R {
        f(self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref())
    }

    /// Every recording authorization revoked on this ledger, with the height of its revocation.
    pub fn revoked_authorizations(&self) -> RevokedAuthorizations {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn read_revocations(&self) -> Result<RevokedAuthorizations, StorageError> {
        let mut out = RevokedAuthorizations::default();
        let iter = self.db.iterator_cf(
            self.cf(CF_META)?,
            IteratorMode::From(&[REVOCATION_PREFIX], Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            if k.first() != Some(&REVOCATION_PREFIX) {
                break;
            }
            let height = v
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes);
            if let (Some(id), Some(height)) = (parse_revocation_key(&k), height) {
                out.insert(id, height);
            }
        }
        Ok(out)
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The last committed block.
    pub fn tip(&self) -> ChainTip {
        *self.tip.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The ledger hash gossiped between committers: the id of the tip block, which through the
    /// chain of previous hashes commits to every header before it.
    pub fn ledger_hash(&self) -> Hash32 {
        self.tip().id
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(name).ok_or_else(|| StorageError::Rocks {
            path: self.path.clone(),
            reason: format!("column family {name} is missing"),
        })
    }

    fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db
            .get_cf(self.cf(cf)?, key)
            .map_err(|e| StorageError::rocks(&self.path, e))
    }

    fn read_tip(&self) -> Result<ChainTip, StorageError> {
        match self.get(CF_META, TIP_KEY)? {
            None => Ok(ChainTip::GENESIS),
            Some(v) => decode_tip(&v).ok_or_else(|| self.corrupt(0, "tip record is malformed")),
        }
    }

    pub(crate) fn corrupt(&self, height: u64, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt {
            path: self.path.clone(),
            height,
            reason: reason.into(),
        }
    }

    /// Whether an event with this key is on the ledger, and where.
    pub fn event_location(&self, key: &EventKey) -> Result<Option<EventLocation>, StorageError> {
        Ok(self.get(CF_EVENTS, &event_index_key(key))?.and_then(|v| {
            let height = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
            let index = u32::from_be_bytes(v.get(8..12)?.try_into().ok()?);
            Some(EventLocation { height, index })
        }))
    }

    /// Appends a decided block (the paper's Step 6). The block must extend the tip and hold no
    /// event already on the ledger; otherwise nothing is written. Returns the new tip once the
    /// write is synced to disk.
    pub fn commit(&self, block: &VerifiedBlock) -> Result<ChainTip, StorageError> {
        self.commit_with_proof(block, None)
    }

    /// [`Ledger::commit`], also keeping `proof` (what a node needs to serve the block to peers
    /// catching up, e.g. the primary's signed proposal minus the block) in the same atomic batch.
    pub fn commit_with_proof(
        &self,
        block: &VerifiedBlock,
        proof: Option<&[u8]>,
    ) -> Result<ChainTip, StorageError> {
        let mut tip_guard = self.tip.write().unwrap_or_else(|e| e.into_inner());
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        let mut config = self.config.write().unwrap_or_else(|e| e.into_inner());
        // The same predicate the orderers applied before voting (issue 19): a block they
        // decided passes here unless this ledger differs from theirs.
        let below = Committing {
            ledger: self,
            tip: *tip_guard,
        };
        let next_config =
            check_ledger_block(block, &below, &revoked, config.as_ref(), &self.limits)
                .map_err(|e| refused(block, e))?;
        let height = block.height();
        let id = block.id;
        let (cf_blocks, cf_events, cf_crumbs, cf_meta) = (
            self.cf(CF_BLOCKS)?,
            self.cf(CF_EVENTS)?,
            self.cf(CF_CRUMBS)?,
            self.cf(CF_META)?,
        );

        let mut batch = WriteBatch::default();
        let skeleton = wire::Block {
            events: Vec::new(),
            ..block.block.clone()
        };
        batch.put_cf(cf_blocks, id.as_bytes(), skeleton.encode_to_vec());
        for (index, bytes) in block.block.events.iter().enumerate() {
            let index = index as u32;
            batch.put_cf(cf_events, event_key(&id, index), bytes);
            let mut loc = [0u8; 12];
            loc[..8].copy_from_slice(&height.to_be_bytes());
            loc[8..].copy_from_slice(&index.to_be_bytes());
            if let Some(e) = block.events.get(index as usize) {
                batch.put_cf(cf_events, event_index_key(&e.key()), loc);
            }
        }
        for crumb in block.crumbs() {
            batch.put_cf(
                cf_crumbs,
                crumb_key(&crumb.pseudonym, &crumb.department, height),
                id.as_bytes(),
            );
        }
        let new_tip = block.tip();
        batch.put_cf(cf_meta, height_key(height), id.as_bytes());
        batch.put_cf(cf_meta, TIP_KEY, encode_tip(&new_tip));
        if let Some(proof) = proof {
            batch.put_cf(cf_meta, proof_key(height), proof);
        }
        if next_config.is_some() {
            batch.put_cf(cf_meta, config_key(height), []);
        }
        let revocations: Vec<_> = block.events.iter().filter_map(revocation_of).collect();
        for id in &revocations {
            if revoked.revoked_at(id).is_none() {
                batch.put_cf(cf_meta, revocation_key(id), height.to_be_bytes());
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db
            .write_opt(batch, &wo)
            .map_err(|e| StorageError::rocks(&self.path, e))?;
        *tip_guard = new_tip;
        for id in revocations {
            revoked.insert(id, height);
        }
        match (next_config, config.as_mut()) {
            (Some(next), _) => {
                self.config_by_height
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(height, Arc::new(next.clone()));
                *config = Some(next);
            }
            (None, Some(c)) => c.pass(height),
            (None, None) => {}
        }
        Ok(new_tip)
    }

    /// The block at `height` as a chain tip (its id and orderer time), read from its stored
    /// header; `None` above the tip.
    pub fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, StorageError> {
        let tip = self.tip();
        if height == tip.height {
            return Ok(Some(tip));
        }
        self.stored_tip_at(height)
    }

    fn stored_tip_at(&self, height: u64) -> Result<Option<ChainTip>, StorageError> {
        if height == 0 {
            return Ok(Some(ChainTip::GENESIS));
        }
        let Some(id) = self.block_id_at(height)? else {
            return Ok(None);
        };
        let skeleton = self
            .block_skeleton(&id)?
            .ok_or_else(|| self.corrupt(height, "height index names a missing block"))?;
        Ok(Some(ChainTip {
            height,
            id,
            timestamp_ms: skeleton.orderer_timestamp_ms,
        }))
    }

    /// The proof kept with the block at `height` by [`Ledger::commit_with_proof`].
    pub fn proof_at(&self, height: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_META, &proof_key(height))
    }

    /// The id of the block at `height`.
    pub fn block_id_at(&self, height: u64) -> Result<Option<Hash32>, StorageError> {
        match self.get(CF_META, &height_key(height))? {
            None => Ok(None),
            Some(v) => Hash32::from_slice(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt(height, "height index entry is not 32 bytes")),
        }
    }

    /// The block with id `id`, events included, exactly as committed.
    pub fn block(&self, id: &Hash32) -> Result<Option<wire::Block>, StorageError> {
        let Some(mut block) = self.block_skeleton(id)? else {
            return Ok(None);
        };
        block.events = self.block_events(id)?;
        Ok(Some(block))
    }

    /// The block at `height`, events included.
    pub fn block_at(&self, height: u64) -> Result<Option<wire::Block>, StorageError> {
        match self.block_id_at(height)? {
            None => Ok(None),
            Some(id) => self.block(&id),
        }
    }

    /// A block without its events: header, signatures, signature collection and certificate.
    /// Enough to serve headers, check a Merkle proof or walk the chain.
    pub fn block_skeleton(&self, id: &Hash32) -> Result<Option<wire::Block>, StorageError> {
        match self.get(CF_BLOCKS, id.as_bytes())? {
            None => Ok(None),
            Some(v) => wire::Block::decode(v.as_slice())
                .map(Some)
                .map_err(|e| self.corrupt(0, format!("block {id} does not decode: {e}"))),
        }
    }

    /// One event's bytes, by block id and index.
    pub fn event(&self, block: &Hash32, index: u32) -> Result<Option<Vec<u8>>, StorageError> {
        self.get(CF_EVENTS, &event_key(block, index))
    }

    /// The committed event `key`: its bytes, height and block id (`None` if not committed).
    /// An index entry whose block or bytes are missing is corruption, not "not committed".
    pub fn committed_event(
        &self,
        key: &EventKey,
    ) -> Result<Option<(Vec<u8>, u64, Hash32)>, StorageError> {
        let Some(loc) = self.event_location(key)? else {
            return Ok(None);
        };
        let id = self.block_id_at(loc.height)?.ok_or_else(|| {
            self.corrupt(
                loc.height,
                "the height index misses a committed event's block",
            )
        })?;
        let bytes = self
            .event(&id, loc.index)?
            .ok_or_else(|| self.corrupt(loc.height, "a committed event's bytes are missing"))?;
        Ok(Some((bytes, loc.height, id)))
    }

    /// Every event of block `id`, in block order (keys are big-endian indexes).
    pub(crate) fn block_events(&self, id: &Hash32) -> Result<Vec<Vec<u8>>, StorageError> {
        let prefix = events_prefix(id);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_EVENTS)?,
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push(v.into_vec());
        }
        Ok(out)
    }

    /// A patient's bread crumbs in one department, newest block first.
    pub fn crumbs_in(
        &self,
        patient: &Pseudonym,
        department: &DepartmentId,
    ) -> Result<Vec<Crumb>, StorageError> {
        self.crumbs_with_prefix(patient, &crumb_department_prefix(patient, department))
    }

    /// All a patient's bread crumbs, grouped by department, newest block first in each.
    pub fn crumbs(&self, patient: &Pseudonym) -> Result<Vec<Crumb>, StorageError> {
        self.crumbs_with_prefix(patient, &crumb_patient_prefix(patient))
    }

    fn crumbs_with_prefix(
        &self,
        patient: &Pseudonym,
        prefix: &[u8],
    ) -> Result<Vec<Crumb>, StorageError> {
        let mut out = Vec::new();
        // Bounded to the patient's pseudonym: with the prefix bloom filters, files that hold
        // none of his crumbs are skipped without a read.
        let mut ro = ReadOptions::default();
        ro.set_prefix_same_as_start(true);
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_CRUMBS)?,
            ro,
            IteratorMode::From(prefix, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(|e| StorageError::rocks(&self.path, e))?;
            if !k.starts_with(prefix) {
                break;
            }
            let (department, height) = parse_crumb_key(&k)
                .ok_or_else(|| self.corrupt(0, "bread crumb key is malformed"))?;
            let block_id = Hash32::from_slice(&v)
                .ok_or_else(|| self.corrupt(height, "bread crumb value is not a block id"))?;
            out.push(Crumb {
                pseudonym: *patient,
                department,
                height,
                block_id,
            });
        }
        Ok(out)
    }

    /// What a node without bread crumbs must do: read every block's signature collection and
    /// keep those naming the patient. Same result as [`Ledger::crumbs`], at the cost of the whole
    /// ledger; kept for audits and to measure what the crumbs save.
    pub fn scan_crumbs(&self, patient: &Pseudonym) -> Result<Vec<Crumb>, StorageError> {
        let tip = self.tip();
        let mut found =
            std::collections::BTreeMap::<(DepartmentId, std::cmp::Reverse<u64>), Hash32>::new();
        for height in 1..=tip.height {
            let id = self
                .block_id_at(height)?
                .ok_or_else(|| self.corrupt(height, "height index has a gap"))?;
            let block = self
                .block_skeleton(&id)?
                .ok_or_else(|| self.corrupt(height, "indexed block is missing"))?;
            let collection =
                wire::SignatureCollection::decode(block.signature_collection.as_slice())
                    .map_err(|e| self.corrupt(height, format!("signature collection: {e}")))?;
            for entry in collection.entries {
                if entry.pseudonym.as_slice() == patient.0.as_bytes() {
                    let dept = DepartmentId {
                        hospital: entry.hospital,
                        department: entry.department,
                    };
                    found.insert((dept, std::cmp::Reverse(height)), id);
                }
            }
        }
        let mut out: Vec<Crumb> = found
            .into_iter()
            .map(
                |((department, std::cmp::Reverse(height)), block_id)| Crumb {
                    pseudonym: *patient,
                    department,
                    height,
                    block_id,
                },
            )
            .collect();
        // Same order as the index: by department key bytes, then newest first.
        out.sort_by(|a, b| {
            crumb_key(&a.pseudonym, &a.department, a.height).cmp(&crumb_key(
                &b.pseudonym,
                &b.department,
                b.height,
            ))
        });
        Ok(out)
    }

    /// Walks the chain from the tip down to the first block, checking each stored block hashes
    /// to the id the index names, its signature collection matches the header, and it links to
    /// the block below. With [`OpenCheck::Full`] every
    /// block is also fully re-verified (events, signatures, roots). Errors name the first
    /// damaged height.
    pub fn verify_chain(&self, check: OpenCheck) -> Result<(), StorageError> {
        let tip = self.tip();
        let mut expected = tip.id;
        for height in (1..=tip.height).rev() {
            let id = self
                .block_id_at(height)?
                .ok_or_else(|| self.corrupt(height, "height index has a gap"))?;
            if id != expected {
                return Err(self.corrupt(
                    height,
                    format!("index names {id}, the chain expects {expected}"),
                ));
            }
            let skeleton = self
                .block_skeleton(&id)?
                .ok_or_else(|| self.corrupt(height, "indexed block is missing"))?;
            if block_id(&skeleton) != id {
                return Err(self.corrupt(height, "stored block does not hash to its id"));
            }
            let header = wire::BlockHeader::decode(skeleton.header.as_slice())
                .map_err(|e| self.corrupt(height, format!("header: {e}")))?;
            if header.height != height {
                return Err(self.corrupt(height, format!("header says height {}", header.height)));
            }
            if medblock_core::sha256(&skeleton.signature_collection)
                .as_bytes()
                .as_slice()
                != header.signature_collection_hash
            {
                return Err(self.corrupt(
                    height,
                    "signature collection does not match its header hash",
                ));
            }
            if check == OpenCheck::Full {
                let mut full = skeleton;
                full.events = self.block_events(&id)?;
                VerifiedBlock::verify(full, self.max_block_events)
                    .map_err(|e| self.corrupt(height, e.to_string()))?;
            }
            expected = Hash32::from_slice(&header.previous_hash)
                .ok_or_else(|| self.corrupt(height, "previous hash is not 32 bytes"))?;
        }
        if expected != Hash32::ZERO {
            return Err(self.corrupt(1, "first block does not start from the zero hash"));
        }
        Ok(())
    }

    /// Compacts the index column families (bread crumbs, meta) into their final levels, so a
    /// look-up reads one sorted run instead of merging many fresh files. RocksDB does this in
    /// the background over time; call it after a bulk import.
    pub fn compact_indexes(&self) -> Result<(), StorageError> {
        for name in [CF_CRUMBS, CF_META] {
            self.db
                .compact_range_cf(self.cf(name)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Approximate on-disk size of each column family, for metrics.
    pub fn sizes(&self) -> Vec<(&'static str, u64)> {
        LEDGER_CFS
            .iter()
            .filter_map(|name| {
                let cf = self.db.cf_handle(name)?;
                let size = self
                    .db
                    .property_int_value_cf(cf, "rocksdb.total-sst-files-size")
                    .ok()
                    .flatten()
                    .unwrap_or(0);
                Some((*name, size))
            })
            .collect()
    }
}

/// Options of the bread-crumb column family: keys start with the 32-byte patient pseudonym, so a
/// fixed-prefix extractor with bloom filters lets a patient's look-up skip every file that
/// holds none of his crumbs.
///
/// No bloom filter on the memtable: RocksDB sizes it from the write buffer (a tenth of 64 MiB
/// was 6.7 MB) and zeroes all of it when the memtable is made, so every node held 6.7 MB of
/// resident memory for it, idle or not: 40% of an idle node's private memory. A look-up in
/// the memtable is one skip-list seek without it.
fn crumbs_options() -> Options {
    let mut opts = Options::default();
    opts.set_prefix_extractor(SliceTransform::create_fixed_prefix(32));
    let mut table = BlockBasedOptions::default();
    table.set_bloom_filter(10.0, false);
    table.set_whole_key_filtering(false);
    opts.set_block_based_table_factory(&table);
    opts
}

/// The ledger as the chain below a block being committed, read under the commit's tip lock
/// (so it does not take the lock again).
struct Committing<'a> {
    ledger: &'a Ledger,
    tip: ChainTip,
}

impl ChainBelow<EventKey> for Committing<'_> {
    /// A commit appends on the tip only: whatever height is asked, the block must follow the
    /// tip (a block for another height is then refused as a height mismatch).
    fn tip_at(&self, _height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
        Ok(Some(self.tip))
    }

    fn included(&self, key: &EventKey, _height: u64) -> Result<Option<Inclusion>, BlockRuleError> {
        Ok(self
            .ledger
            .event_location(key)
            .map_err(|e| BlockRuleError::View(e.to_string()))?
            .map(|at| Inclusion::Committed { height: at.height }))
    }
}

impl ChainBelow<EventKey> for Ledger {
    fn tip_at(&self, height: u64) -> Result<Option<ChainTip>, BlockRuleError> {
        Ledger::tip_at(self, height).map_err(|e| BlockRuleError::View(e.to_string()))
    }

    fn included(&self, key: &EventKey, height: u64) -> Result<Option<Inclusion>, BlockRuleError> {
        Committing {
            ledger: self,
            tip: self.tip(),
        }
        .included(key, height)
    }
}

/// A refusal of the predicate as the ledger reports it: chain errors and revocations as ledger
/// errors, a committed event as [`StorageError::DuplicateEvent`] naming it.
fn refused(block: &VerifiedBlock, e: BlockRuleError) -> StorageError {
    match e {
        BlockRuleError::Chain(e) => StorageError::Ledger(e.into()),
        BlockRuleError::Revoked(e)
        | BlockRuleError::Integrity(e)
        | BlockRuleError::Unauthorized(e) => StorageError::Ledger(e),
        BlockRuleError::AlreadyCommitted { index, .. } => match block.events.get(index) {
            Some(ev) => StorageError::DuplicateEvent {
                hospital: ev.body.hospital.clone(),
                department: ev.body.department.clone(),
                sequence: ev.body.sequence,
            },
            None => StorageError::Refused(BlockRuleError::AlreadyCommitted {
                index,
                at: block.height(),
            }),
        },
        other => StorageError::Refused(other),
    }
}
