//! The records a peer returns and what proves them: the event bytes (its two signatures and the
//! sealed summary), its Merkle path, and the head of its block (header, endorser signature,
//! orderer timestamp, commit certificate). The peer builds them ([`prove`]); the light node
//! checks every one against genesis alone ([`Verifier`]), so it never trusts the peer.

use super::error::ProofError;
use crate::block::block_id;
use crate::codec::{decode_bounded, limits};
use crate::config::ConfigState;
use crate::consensus::ConsensusConfig;
use crate::consensus::certificate;
use crate::crumbs::Pseudonym;
use crate::event::{EventKey, ParsedEvent};
use crate::genesis::VerifiedGenesis;
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature, purpose};
use crate::merkle::{MerkleProof, MerkleTree, ProofStep, verify_proof};
use crate::wire::{self, Role};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

/// The public head of a block (no events, no signature collection).
pub fn block_head(block: &wire::Block) -> wire::BlockHead {
    wire::BlockHead {
        header: block.header.clone(),
        endorser_signature: block.endorser_signature.clone(),
        orderer_timestamp_ms: block.orderer_timestamp_ms,
        certificate: block.certificate.clone(),
        config_changes: Vec::new(),
    }
}

/// The id of the block a head stands for (what commit certificates sign).
fn head_id(head: &wire::BlockHead) -> Hash32 {
    block_id(&wire::Block {
        header: head.header.clone(),
        endorser_signature: head.endorser_signature.clone(),
        orderer_timestamp_ms: head.orderer_timestamp_ms,
        ..Default::default()
    })
}

/// Checks the endorser's signature over a head's header (`header`, decoded from it).
fn check_endorser_signature(
    head: &wire::BlockHead,
    header: &wire::BlockHeader,
) -> Result<(), String> {
    let endorser = PublicKey::from_slice(&header.endorser_key).map_err(|e| e.to_string())?;
    let signature = Signature::from_slice(&head.endorser_signature).map_err(|e| e.to_string())?;
    endorser
        .verify(purpose::BLOCK_HEADER, &head.header, &signature)
        .map_err(|_| "endorser signature does not verify".to_string())
}

/// The signature-collection entries of a stored block (what a peer matches visitors against).
pub fn entries(block: &wire::Block) -> Result<Vec<wire::SignatureEntry>, ProofError> {
    let c: wire::SignatureCollection = decode_bounded(
        "signature collection",
        &block.signature_collection,
        limits::MAX_BLOCK_BYTES,
    )
    .map_err(|e| ProofError::Malformed(e.to_string()))?;
    Ok(c.entries)
}

/// The Merkle tree of a stored block, from its signature collection `entries` (a skeleton is
/// enough); `None` when an entry's hash is malformed.
pub fn tree(entries: &[wire::SignatureEntry]) -> Option<MerkleTree> {
    let hashes: Vec<Hash32> = entries
        .iter()
        .map(|e| Hash32::from_slice(&e.event_hash))
        .collect::<Option<_>>()?;
    Some(MerkleTree::new(&hashes))
}

/// The proof of event `index` of `block`, whose Merkle tree is `tree`, carrying `event` (the
/// event's stored bytes).
pub fn prove(
    block: &wire::Block,
    tree: &MerkleTree,
    index: usize,
    event: Vec<u8>,
) -> Option<wire::RecordProof> {
    let proof = tree.proof(index)?;
    Some(wire::RecordProof {
        block: Some(block_head(block)),
        index: u32::try_from(index).ok()?,
        event,
        path: proof
            .steps
            .iter()
            .map(|s| wire::MerkleStep {
                sibling: s.sibling.0.to_vec(),
                sibling_on_left: s.sibling_on_left,
            })
            .collect(),
    })
}

/// The orderers genesis makes eligible for committees, in certificate-serial order (the order
/// nodes draw committees from).
pub fn eligible_orderers(genesis: &VerifiedGenesis) -> Vec<PublicKey> {
    let mut certs: Vec<_> = genesis
        .trust
        .certificates()
        .filter(|c| c.has_role(Role::Orderer))
        .collect();
    certs.sort_by_key(|c| c.body.serial);
    certs.iter().map(|c| c.key).collect()
}

/// A record that passed every check.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    /// Height of its block.
    pub height: u64,
    /// Id of its block.
    pub block_id: Hash32,
    /// Position in the block.
    pub index: u32,
    /// The event, signatures verified.
    pub event: ParsedEvent,
}

impl CheckedRecord {
    /// The ledger-wide identity of the record.
    pub fn key(&self) -> EventKey {
        self.event.key()
    }
}

/// What a light node checks answers with: the configuration at every height, from genesis
/// and the configuration blocks it learned ([`Verifier::learn_configuration`]): a block is
/// checked against the orderers, committee size and certificates (revocations included) in
/// force just below it.
#[derive(Debug, Clone)]
pub struct Verifier {
    /// The configuration after each configuration block learned (genesis' at 0).
    configs: BTreeMap<u64, Arc<ConfigState>>,
}

impl Verifier {
    /// A verifier for the network `genesis` describes, knowing no configuration change yet.
    pub fn new(genesis: &VerifiedGenesis) -> Self {
        let mut configs = BTreeMap::new();
        configs.insert(0, Arc::new(ConfigState::from_genesis(genesis)));
        Self { configs }
    }

    /// The configuration in force for the block at `height`: after every change below it.
    fn config_below(&self, height: u64) -> &ConfigState {
        self.configs
            .range(..height)
            .next_back()
            .or_else(|| self.configs.iter().next())
            .map(|(_, c)| c.as_ref())
            .expect("the genesis configuration is always there")
    }

    /// The height of the last configuration block learned (0: genesis only).
    pub fn configuration_height(&self) -> u64 {
        self.configs.keys().next_back().copied().unwrap_or(0)
    }

    /// Learns configuration blocks (heads with their changes, from a peer's
    /// `HeadersRequest { configuration: true }`), in height order above what it knows: each
    /// head's endorser signature, its header binding exactly these changes, its commit
    /// certificate against the configuration below it, then the changes themselves (CA
    /// signatures and rules) folded in. A head that fails stops the learning with its error;
    /// what was learned before it stays. Returns how many blocks were learned.
    pub fn learn_configuration(&mut self, heads: &[wire::BlockHead]) -> Result<usize, ProofError> {
        let mut learned = 0;
        let mut heads: Vec<&wire::BlockHead> = heads.iter().collect();
        heads.sort_by_key(|h| {
            decode_bounded::<wire::BlockHeader>("block header", &h.header, limits::MAX_HEADER_BYTES)
                .map(|h| h.height)
                .unwrap_or(0)
        });
        for head in heads {
            let header: wire::BlockHeader =
                decode_bounded("block header", &head.header, limits::MAX_HEADER_BYTES)
                    .map_err(|e| ProofError::Malformed(e.to_string()))?;
            let height = header.height;
            if height <= self.configuration_height() {
                continue;
            }
            let bad = |reason: String| ProofError::Certificate { height, reason };
            if crate::config::config_hash(&head.config_changes) != header.config_hash
                || head.config_changes.is_empty()
            {
                return Err(bad("configuration changes do not match the header".into()));
            }
            check_endorser_signature(head, &header).map_err(bad)?;
            let id = head_id(head);
            self.check_certificate(head, height, &id)?;
            let (_, next) = self
                .config_below(height)
                .check_block(height, &head.config_changes)
                .map_err(|e| bad(format!("configuration change: {e}")))?;
            self.configs.insert(height, Arc::new(next));
            learned += 1;
        }
        Ok(learned)
    }

    /// Checks one record: the endorser's signature over the header, the event's two signatures,
    /// its Merkle path to the header's root, and the block's commit certificate (committee
    /// recomputed from the beacon evidence and genesis's orderers, 2f+1 valid commits, for this
    /// block id and height), the certificate's primary being a certified endorser.
    pub fn check(&self, proof: &wire::RecordProof) -> Result<CheckedRecord, ProofError> {
        self.check_cached(proof, &mut HashSet::new())
    }

    /// [`Verifier::check`], skipping the head checks (endorser signature, commit certificate)
    /// of blocks already in `heads`, and adding this record's block once its head checked.
    fn check_cached(
        &self,
        proof: &wire::RecordProof,
        heads: &mut HashSet<Hash32>,
    ) -> Result<CheckedRecord, ProofError> {
        let head = proof
            .block
            .as_ref()
            .ok_or_else(|| ProofError::Malformed("record without its block".into()))?;
        let header: wire::BlockHeader =
            decode_bounded("block header", &head.header, limits::MAX_HEADER_BYTES)
                .map_err(|e| ProofError::Malformed(e.to_string()))?;
        let (height, index) = (header.height, proof.index);
        let bad = |reason: String| ProofError::BadRecord {
            height,
            index,
            reason,
        };
        let id = head_id(head);
        // The id covers the header bytes, the endorser signature and the orderer timestamp:
        // a head already checked under this id needs no second check.
        let head_known = heads.contains(&id);
        if !head_known {
            check_endorser_signature(head, &header).map_err(bad)?;
        }
        let event = ParsedEvent::parse(&proof.event).map_err(|e| bad(e.to_string()))?;
        event.verify_signatures().map_err(|e| bad(e.to_string()))?;
        let root = Hash32::from_slice(&header.merkle_root)
            .ok_or_else(|| bad("merkle root is not 32 bytes".into()))?;
        let steps = proof
            .path
            .iter()
            .map(|s| {
                Hash32::from_slice(&s.sibling).map(|sibling| ProofStep {
                    sibling,
                    sibling_on_left: s.sibling_on_left,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("merkle sibling is not 32 bytes".into()))?;
        let merkle = MerkleProof {
            index: index as usize,
            steps,
        };
        if !verify_proof(
            &root,
            header.event_count as usize,
            &event.event_hash,
            &merkle,
        ) {
            return Err(ProofError::MerkleProof { height, index });
        }
        if !head_known {
            self.check_certificate(head, height, &id)?;
            heads.insert(id);
        }
        Ok(CheckedRecord {
            height,
            block_id: id,
            index,
            event,
        })
    }

    /// The block's commit certificate: committee recomputed from the beacon evidence and the
    /// orderers in force below the block, 2f+1 valid commits for this id and height, a primary
    /// certified (and not revoked) as of the block's height.
    fn check_certificate(
        &self,
        head: &wire::BlockHead,
        height: u64,
        id: &Hash32,
    ) -> Result<(), ProofError> {
        let cert_err = |reason: String| ProofError::Certificate { height, reason };
        let cert = head
            .certificate
            .as_ref()
            .ok_or_else(|| cert_err("missing".into()))?;
        let config = self.config_below(height);
        let eligible = config.membership().orderers;
        let committee_size = ConsensusConfig::from(config.params()).committee_size;
        let verified = certificate::verify(cert, &eligible, committee_size)
            .map_err(|e| cert_err(e.to_string()))?;
        certificate::expect(&verified, height, id).map_err(|e| cert_err(e.to_string()))?;
        if let Some(primary) = verified.primary {
            config
                .trust()
                .authorize(&primary, Role::Endorser, head.orderer_timestamp_ms.max(1))
                .map_err(|e| cert_err(format!("primary: {e}")))?;
        }
        Ok(())
    }

    /// The highest signed tip of an answer, each checked against genesis's CA
    /// ([`super::tip::highest_signed_tip`]).
    pub fn signed_tip(
        &self,
        body: &wire::QueryResultBody,
    ) -> Result<super::tip::VerifiedTip, ProofError> {
        super::tip::highest_signed_tip(self.config_below(u64::MAX).trust(), body)
    }

    /// Checks a whole answer about `patient`: every record (see [`Verifier::check`]), each the
    /// patient's, each named by a bread crumb, and no crumb without a record.
    pub fn check_answer(
        &self,
        body: &wire::QueryResultBody,
        patient: &PublicKey,
    ) -> Result<Vec<CheckedRecord>, ProofError> {
        let me = crate::crumbs::pseudonym(patient);
        let mut out = Vec::with_capacity(body.records.len());
        let mut heads = HashSet::new();
        for p in &body.records {
            let r = self.check_cached(p, &mut heads)?;
            if r.event.pseudonym != me {
                return Err(ProofError::NotForVisitor {
                    hospital: r.event.body.hospital.clone(),
                    department: r.event.body.department.clone(),
                    sequence: r.event.body.sequence,
                });
            }
            out.push(r);
        }
        check_crumbs(&body.crumbs, &out, &me)?;
        Ok(out)
    }
}

fn check_crumbs(
    crumbs: &[wire::CrumbEntry],
    records: &[CheckedRecord],
    _me: &Pseudonym,
) -> Result<(), ProofError> {
    let named: BTreeSet<(String, String, Vec<u8>)> = crumbs
        .iter()
        .map(|c| (c.hospital.clone(), c.department.clone(), c.block_id.clone()))
        .collect();
    let held: BTreeSet<(String, String, Vec<u8>)> = records
        .iter()
        .map(|r| {
            (
                r.event.body.hospital.clone(),
                r.event.body.department.clone(),
                r.block_id.0.to_vec(),
            )
        })
        .collect();
    if let Some(r) = held.difference(&named).next() {
        return Err(ProofError::CrumbMismatch(format!(
            "record of {}/{} in a block no crumb names",
            r.0, r.1
        )));
    }
    Ok(())
}

/// Compares what `peer` answered with what a second peer proved: a checked record at a height
/// up to `must_cover` that the first peer left out is an omission. `must_cover` is the highest
/// tip signed by a certified committer that the light node verified over every answer
/// ([`super::tip::highest_signed_tip`]), never the answering peer's own `tip_height`, so a peer
/// cannot hide records by reporting a low tip.
pub fn find_omission(
    peer: &str,
    must_cover: u64,
    answered: &[CheckedRecord],
    second: &[CheckedRecord],
) -> Result<(), ProofError> {
    let have: BTreeSet<EventKey> = answered.iter().map(CheckedRecord::key).collect();
    let mut missing: BTreeMap<(u64, EventKey), &CheckedRecord> = BTreeMap::new();
    for r in second {
        if r.height <= must_cover && !have.contains(&r.key()) {
            missing.insert((r.height, r.key()), r);
        }
    }
    match missing.values().next() {
        None => Ok(()),
        Some(r) => Err(ProofError::Omitted {
            peer: peer.to_owned(),
            hospital: r.event.body.hospital.clone(),
            department: r.event.body.department.clone(),
            sequence: r.event.body.sequence,
            height: r.height,
        }),
    }
}
