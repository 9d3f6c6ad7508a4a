//! Blocks (the paper's Fig. 4): packing by the endorser, the block id, and the pure validation
//! rules every orderer, committer and light node applies.
//!
//! Two hashes matter. The header's `block_hash` is the paper's eq. (1), SHA-256 over the event
//! hashes in order. The *block id* is the tagged hash of the exact header bytes, the endorser's
//! signature and the orderer timestamp: chain links (`previous_hash`), bread crumbs and commit
//! certificates all name blocks by id, so no byte of a header can change unnoticed.

use crate::cert::TrustStore;
use crate::codec::{decode_bounded, limits};
use crate::crumbs::{Crumb, DepartmentId};
use crate::error::{BlockError, LedgerError};
use crate::event::{EventKey, ParsedEvent, verify_event_signatures};
use crate::hash::{Hash32, sha256, tagged_hash};
use crate::keys::{PublicKey, Signature, SigningKey, purpose};
use crate::merkle::merkle_root;
use crate::wire::{self, Role};
use prost::Message;
use std::collections::HashSet;

/// Format version of [`wire::BlockHeader`].
pub const BLOCK_VERSION: u32 = 1;

/// The paper's eq. (1): SHA-256 over the concatenated event hashes.
pub fn events_block_hash(event_hashes: &[Hash32]) -> Hash32 {
    let mut bytes = Vec::with_capacity(event_hashes.len() * 32);
    for h in event_hashes {
        bytes.extend_from_slice(h.as_bytes());
    }
    sha256(&bytes)
}

/// The id of a block: tagged hash of its header bytes, endorser signature and orderer timestamp.
pub fn block_id(block: &wire::Block) -> Hash32 {
    tagged_hash(
        "medblock/block-id/v1",
        &[
            &block.header,
            &block.endorser_signature,
            &block.orderer_timestamp_ms.to_be_bytes(),
        ],
    )
}

/// Decodes a block from untrusted bytes.
pub fn decode_block(bytes: &[u8]) -> Result<wire::Block, LedgerError> {
    decode_bounded("block", bytes, limits::MAX_BLOCK_BYTES)
}

/// Whether an encoded block is its primary's last of the turn, read from its header without
/// decoding (copying) its events.
pub fn ends_turn(bytes: &[u8]) -> Result<bool, LedgerError> {
    let head: wire::BlockHeaderOnly = decode_bounded("block", bytes, limits::MAX_BLOCK_BYTES)?;
    let header: wire::BlockHeader =
        decode_bounded("block header", &head.header, limits::MAX_HEADER_BYTES)?;
    Ok(header.last_of_turn)
}

/// The order events go in a block: by upload (receipt) time, ties broken by event key, so every
/// endorser packs the same events the same way.
pub fn upload_order(a: &ParsedEvent, b: &ParsedEvent) -> std::cmp::Ordering {
    (a.event.received_at_ms, a.key()).cmp(&(b.event.received_at_ms, b.key()))
}

/// Where the chain stands: what the next block must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Height of the last block (0 before the first).
    pub height: u64,
    /// Id of the last block (zero before the first).
    pub id: Hash32,
    /// Orderer timestamp of the last block.
    pub timestamp_ms: u64,
}

impl ChainTip {
    /// The tip of an empty chain.
    pub const GENESIS: ChainTip = ChainTip {
        height: 0,
        id: Hash32::ZERO,
        timestamp_ms: 0,
    };
}

/// What an endorser needs to pack its pending events into a block (the paper's Step 3).
#[derive(Debug)]
pub struct PackRequest<'a> {
    /// The chain the block extends.
    pub tip: ChainTip,
    /// The endorser's signing key.
    pub endorser: &'a SigningKey,
    /// The endorser's region.
    pub region: &'a str,
    /// The access-control policy stamped into the header.
    pub policy: wire::AccessPolicy,
    /// The endorser's clock.
    pub packed_at_ms: u64,
    /// The primary's last block of its turn (see `BlockHeader::last_of_turn`).
    pub last_of_turn: bool,
}

/// Packs `events` (already admitted, receipt time set) into a signed block, sorted by upload
/// time. The orderer timestamp and the commit certificate are added later by the committee.
pub fn pack_block(req: &PackRequest<'_>, events: Vec<ParsedEvent>) -> wire::Block {
    pack_block_with_config(req, events, Vec::new())
}

/// [`pack_block`] for a block that also carries configuration changes (encoded
/// `wire::ConfigChange`s, already checked against the chain by the endorser), bound by the
/// header's `config_hash`.
pub fn pack_block_with_config(
    req: &PackRequest<'_>,
    mut events: Vec<ParsedEvent>,
    config_changes: Vec<Vec<u8>>,
) -> wire::Block {
    events.sort_by(upload_order);
    let hashes: Vec<Hash32> = events.iter().map(|e| e.event_hash).collect();
    let collection = wire::SignatureCollection {
        entries: events.iter().map(ParsedEvent::signature_entry).collect(),
    }
    .encode_to_vec();
    let header = wire::BlockHeader {
        version: BLOCK_VERSION,
        height: req.tip.height + 1,
        previous_hash: req.tip.id.0.to_vec(),
        block_hash: events_block_hash(&hashes).0.to_vec(),
        merkle_root: merkle_root(&hashes).0.to_vec(),
        signature_collection_hash: sha256(&collection).0.to_vec(),
        access_policy: Some(req.policy.clone()),
        endorser_key: req.endorser.public().as_bytes().to_vec(),
        region: req.region.to_owned(),
        packed_at_ms: req.packed_at_ms,
        event_count: events.len() as u32,
        last_of_turn: req.last_of_turn,
        config_hash: crate::config::config_hash(&config_changes),
    }
    .encode_to_vec();
    wire::Block {
        endorser_signature: req.endorser.sign(purpose::BLOCK_HEADER, &header).to_vec(),
        header,
        orderer_timestamp_ms: 0,
        signature_collection: collection,
        events: events
            .into_iter()
            .map(|e| e.event.encode_to_vec())
            .collect(),
        certificate: None,
        config_changes,
    }
}

/// A block whose integrity has been checked: every hash, root, signature and entry matches.
/// It says nothing yet about where the block stands in the chain
/// ([`VerifiedBlock::check_extends`]) or who was allowed to write it
/// ([`VerifiedBlock::authorize`]).
#[derive(Debug, Clone)]
pub struct VerifiedBlock {
    /// The block as received.
    pub block: wire::Block,
    /// Its decoded header.
    pub header: wire::BlockHeader,
    /// Its signature collection.
    pub entries: Vec<wire::SignatureEntry>,
    /// Its events, parsed.
    pub events: Vec<ParsedEvent>,
    /// The block id.
    pub id: Hash32,
    /// The endorser's key.
    pub endorser: PublicKey,
}

impl VerifiedBlock {
    /// Checks a block's integrity: sizes, version, the endorser's signature over the header, the
    /// signature collection against its hash and against every event, both signatures of every
    /// event (in one batch), eq. (1), the Merkle root, upload order and unique sequence numbers.
    pub fn verify(block: wire::Block, max_events: usize) -> Result<Self, LedgerError> {
        Self::check(block, max_events, true)
    }

    /// Every check of [`VerifiedBlock::verify`] except the events' signatures, for a block whose
    /// commit certificate the caller has verified against the turn's committee: 2f+1 orderers
    /// signed the commit only after each checked every event signature of exactly these bytes
    /// (the block id binds the header, whose Merkle root and block hash bind every event), so at
    /// least f+1 honest orderers did. Committers and nodes catching up thereby skip the
    /// protocol's most expensive step (two ed25519 verifications per event per node) without
    /// trusting any single peer. The endorser's header signature is still checked.
    pub fn certified(block: wire::Block, max_events: usize) -> Result<Self, LedgerError> {
        Self::check(block, max_events, false)
    }

    fn check(
        block: wire::Block,
        max_events: usize,
        event_signatures: bool,
    ) -> Result<Self, LedgerError> {
        let header: wire::BlockHeader =
            decode_bounded("block header", &block.header, limits::MAX_HEADER_BYTES)?;
        let height = header.height;
        if header.version != BLOCK_VERSION {
            return Err(LedgerError::UnsupportedVersion {
                what: "block header",
                version: header.version,
                expected: BLOCK_VERSION,
            });
        }
        let endorser = PublicKey::from_slice(&header.endorser_key)
            .map_err(|e| LedgerError::key("endorser key", e))?;
        let signature = Signature::from_slice(&block.endorser_signature)
            .map_err(|e| LedgerError::key("endorser signature", e))?;
        endorser
            .verify(purpose::BLOCK_HEADER, &block.header, &signature)
            .map_err(|_| BlockError::BadEndorserSignature { height })?;

        let max = max_events.min(limits::MAX_BLOCK_EVENTS);
        let count = block.events.len();
        // A block carries events, configuration changes or both; never nothing.
        if count == 0 && block.config_changes.is_empty() {
            return Err(BlockError::Empty.into());
        }
        if crate::config::config_hash(&block.config_changes) != header.config_hash {
            return Err(BlockError::ConfigHashMismatch { height }.into());
        }
        if count > max {
            return Err(BlockError::TooManyEvents { count, max }.into());
        }
        if sha256(&block.signature_collection).as_bytes().as_slice()
            != header.signature_collection_hash
        {
            return Err(BlockError::SignatureCollectionMismatch { height }.into());
        }
        let collection: wire::SignatureCollection = decode_bounded(
            "signature collection",
            &block.signature_collection,
            limits::MAX_BLOCK_BYTES,
        )?;
        if collection.entries.len() != count || header.event_count as usize != count {
            return Err(BlockError::CountMismatch {
                header: header.event_count as usize,
                collection: collection.entries.len(),
                events: count,
            }
            .into());
        }

        let mut events = Vec::with_capacity(count);
        let mut seen = HashSet::with_capacity(count);
        for (index, (bytes, entry)) in block.events.iter().zip(&collection.entries).enumerate() {
            let bad = |reason: LedgerError| BlockError::BadEvent {
                height,
                index,
                reason: Box::new(reason),
            };
            let parsed = ParsedEvent::parse(bytes).map_err(bad)?;
            if parsed.signature_entry() != *entry {
                return Err(BlockError::EntryMismatch { height, index }.into());
            }
            if !seen.insert(parsed.key()) {
                return Err(BlockError::DuplicateSequence {
                    hospital: parsed.body.hospital.clone(),
                    department: parsed.body.department.clone(),
                    sequence: parsed.body.sequence,
                }
                .into());
            }
            if let Some(prev) = events.last()
                && upload_order(prev, &parsed) != std::cmp::Ordering::Less
            {
                return Err(BlockError::NotSorted { index }.into());
            }
            events.push(parsed);
        }
        if event_signatures {
            verify_event_signatures(&events).map_err(|(index, reason)| BlockError::BadEvent {
                height,
                index,
                reason: Box::new(reason),
            })?;
        }

        let hashes: Vec<Hash32> = events.iter().map(|e| e.event_hash).collect();
        if events_block_hash(&hashes).as_bytes().as_slice() != header.block_hash {
            return Err(BlockError::BlockHashMismatch { height }.into());
        }
        if merkle_root(&hashes).as_bytes().as_slice() != header.merkle_root {
            return Err(BlockError::MerkleRootMismatch { height }.into());
        }
        Ok(Self {
            id: block_id(&block),
            entries: collection.entries,
            block,
            header,
            events,
            endorser,
        })
    }

    /// The chain tip a decided block makes, from its header alone (no event is parsed): for
    /// a node that tracks the decided chain of blocks whose certificates it already checked.
    pub fn tip_of(block: &wire::Block) -> Result<ChainTip, LedgerError> {
        let header: wire::BlockHeader =
            decode_bounded("block header", &block.header, limits::MAX_HEADER_BYTES)?;
        Ok(ChainTip {
            height: header.height,
            id: block_id(block),
            timestamp_ms: block.orderer_timestamp_ms,
        })
    }

    /// Decodes and verifies a block from untrusted bytes.
    pub fn from_bytes(bytes: &[u8], max_events: usize) -> Result<Self, LedgerError> {
        Self::verify(decode_block(bytes)?, max_events)
    }

    /// The block's height.
    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The block's previous hash, as a digest.
    pub fn previous(&self) -> Hash32 {
        Hash32::from_slice(&self.header.previous_hash).unwrap_or(Hash32::ZERO)
    }

    /// Checks that no event is recorded under a recording authorization its patient revoked in
    /// a block below this one (orderers before voting, committers before appending).
    pub fn check_revocations(
        &self,
        revoked: &crate::authorization::RevokedAuthorizations,
    ) -> Result<(), LedgerError> {
        let height = self.height();
        crate::event::check_revocations(&self.events, revoked, height).map_err(|(index, reason)| {
            BlockError::BadEvent {
                height,
                index,
                reason: Box::new(reason),
            }
            .into()
        })
    }

    /// Checks the block follows `tip`: next height, previous hash, orderer time not going back.
    pub fn check_extends(&self, tip: &ChainTip) -> Result<(), BlockError> {
        if self.header.height != tip.height + 1 {
            return Err(BlockError::HeightMismatch {
                expected: tip.height + 1,
                found: self.header.height,
            });
        }
        if self.header.previous_hash.as_slice() != tip.id.as_bytes() {
            return Err(BlockError::PreviousHashMismatch {
                height: self.header.height,
                expected: tip.id,
                found: Hash32::from_slice(&self.header.previous_hash).unwrap_or(Hash32::ZERO),
            });
        }
        if self.block.orderer_timestamp_ms < tip.timestamp_ms {
            return Err(BlockError::TimestampRegressed {
                found: self.block.orderer_timestamp_ms,
                previous: tip.timestamp_ms,
            });
        }
        Ok(())
    }

    /// Checks the orderer timestamp against the checking orderer's clock, as each committee member
    /// does before voting: the primary stamps the time, and a block is decided only if 2f+1
    /// orderers found that time no later than their own clock plus `max_skew_ms`. So the ledger's
    /// time is vouched for by the committee (the paper's "timestamp added by orderers") and a
    /// primary cannot date blocks into the future. Earlier times are bounded by the previous
    /// block (`check_extends`), not here: a proposal re-sent after a view change is legitimately old.
    pub fn check_time(&self, now_ms: u64, max_skew_ms: u64) -> Result<(), BlockError> {
        let found = self.block.orderer_timestamp_ms;
        let ahead_ms = found.saturating_sub(now_ms);
        if ahead_ms > max_skew_ms {
            return Err(BlockError::TimestampAhead {
                found,
                ahead_ms,
                allowed_ms: max_skew_ms,
            });
        }
        Ok(())
    }

    /// Checks who wrote the block, as an orderer does before voting for it: the endorser holds
    /// role ENDORSER now, and every event's department was certified when the event was received
    /// and is not revoked now.
    pub fn authorize(&self, trust: &TrustStore, now_ms: u64) -> Result<(), LedgerError> {
        trust.authorize(&self.endorser, Role::Endorser, now_ms)?;
        for (index, e) in self.events.iter().enumerate() {
            e.authorize_provider(trust, e.event.received_at_ms)
                .map_err(|reason| BlockError::BadEvent {
                    height: self.header.height,
                    index,
                    reason: Box::new(reason),
                })?;
        }
        Ok(())
    }

    /// The tip after this block.
    pub fn tip(&self) -> ChainTip {
        ChainTip {
            height: self.header.height,
            id: self.id,
            timestamp_ms: self.block.orderer_timestamp_ms,
        }
    }

    /// The ledger identities of the block's events.
    pub fn event_keys(&self) -> impl Iterator<Item = EventKey> + '_ {
        self.events.iter().map(ParsedEvent::key)
    }

    /// The bread crumbs this block adds: one per (patient, department) it holds events of.
    pub fn crumbs(&self) -> Vec<Crumb> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for e in &self.events {
            let dept = DepartmentId {
                hospital: e.body.hospital.clone(),
                department: e.body.department.clone(),
            };
            if seen.insert((e.pseudonym, dept.clone())) {
                out.push(Crumb {
                    pseudonym: e.pseudonym,
                    department: dept,
                    height: self.header.height,
                    block_id: self.id,
                });
            }
        }
        out
    }
}
