//! The node's say on what consensus decides and what committers append: a proposed payload is
//! a canonically encoded ledger block that extends the decided chain, packed by a certified
//! endorser; a decided value carries a commit certificate from the beacon's committee.

mod beacon;
mod chain;
mod relations;

pub use beacon::{BeaconCheckError, check_beacon};
pub use chain::OrdererChain;

use crate::shared::Counters;
use medblock_core::block::ChainTip;
use medblock_core::block_rules::{Admission, BlockLimits, BlockRuleError, check_proposal};
use medblock_core::consensus::node::ChainValidator;
use medblock_core::consensus::{InvalidProposal, Reconfiguration, certificate};
use medblock_core::{Hash32, VerifiedBlock, wire};
use prost::Message;
use std::collections::BTreeMap;

/// Checks block proposals before this orderer votes, with core's one validity predicate
/// ([`check_proposal`]) over the chain below as this orderer knows it: its ledger, the blocks
/// decided above it, and the orderer time of the block below (looked up, never assumed).
pub struct BlockCheck<'a> {
    /// Recording authorizations revoked in decided blocks: an event under one is refused.
    pub revoked: &'a medblock_core::authorization::RevokedAuthorizations,
    /// Decided tips by height (0 = genesis).
    pub tips: &'a BTreeMap<u64, ChainTip>,
    /// The ledger and the blocks checked or decided above it.
    pub chain: &'a OrdererChain,
    /// Genesis limits on events and bytes per block.
    pub limits: BlockLimits,
    /// Genesis bound on how far ahead of this orderer's clock a block may be dated.
    pub max_skew_ms: u64,
    /// Where refusals are counted (`invalid_proposal`).
    pub counters: &'a Counters,
    /// Genesis' regulator, the one author of regulator reads (the access-record rule).
    pub regulator: Option<&'a medblock_core::keys::PublicKey>,
}

impl ChainValidator for BlockCheck<'_> {
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        if let Some(committed) = self.chain.committed_id_at(height) {
            // A late proposal: checked once the height below was decided, while this node's
            // committer had already appended the decided block from gossip. The same block is
            // the decided one, not an invalid proposal (the check would find its events
            // committed, by itself); another block is stale, and refused without counting
            // against its primary (an honest network showed one such refusal in CI).
            let proposed = medblock_core::block::decode_block(payload)
                .map(|b| medblock_core::block_id(&b))
                .ok();
            return if proposed == Some(committed) {
                Ok(committed)
            } else {
                Err(InvalidProposal {
                    height,
                    reason: "the height is already decided with another block".into(),
                    blame: false,
                })
            };
        }
        let below = self.chain.below(*previous, self.tips);
        // The configuration as of the block below: who may write it, and what its own
        // configuration changes apply to.
        let checked = self
            .chain
            .config_after(*previous)
            .and_then(|config| {
                let admission = Admission {
                    config: &config,
                    now_ms,
                    max_skew_ms: self.max_skew_ms,
                };
                check_proposal(payload, &below, self.revoked, &self.limits, &admission)
            })
            .map_err(|e| {
                // A block below this node does not hold yet is its lag, not the primary's fault.
                let blame = !matches!(e, BlockRuleError::PreviousUnknown { .. });
                (e.to_string(), blame)
            })
            .and_then(|(block, config)| {
                // The endorser's access-record rules, on the same chain facts or newer.
                relations::check_access(&block, &below, self.regulator).map_err(|e| (e, true))?;
                Ok((block, config))
            })
            .and_then(|(block, config)| {
                if block.height() == height {
                    Ok((block, config))
                } else {
                    Err((
                        format!("block for height {} proposed at {height}", block.height()),
                        true,
                    ))
                }
            });
        match checked {
            Ok((block, config)) => {
                self.chain.remember_verified(&block, config);
                Ok(block.id)
            }
            Err((reason, blame)) => {
                Counters::inc(&self.counters.invalid_proposals);
                tracing::warn!(height, reason, "block proposal refused");
                Err(InvalidProposal {
                    height,
                    reason,
                    blame,
                })
            }
        }
    }

    fn decided_id(
        &self,
        height: u64,
        _previous: &Hash32,
        payload: &[u8],
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        // The certificate binds the id; the committer checks the block itself before storing
        // it (`verify_decided`, which also skips the event signatures the committee checked).
        let block = medblock_core::block::decode_block(payload).map_err(|e| InvalidProposal {
            height,
            reason: e.to_string(),
            blame: true,
        })?;
        // Its events are pending until the ledger has it: the next proposal may not repeat them.
        self.chain.remember_certified(&block);
        Ok(medblock_core::block_id(&block))
    }

    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal> {
        medblock_core::block::ends_turn(payload).map_err(|e| InvalidProposal {
            height,
            reason: e.to_string(),
            blame: true,
        })
    }

    fn reconfiguration(
        &self,
        height: u64,
        payload: &[u8],
    ) -> Result<Option<Reconfiguration>, InvalidProposal> {
        let bad = |reason: String| InvalidProposal {
            height,
            reason,
            blame: true,
        };
        let block = medblock_core::block::decode_block(payload).map_err(|e| bad(e.to_string()))?;
        if block.config_changes.is_empty() {
            return Ok(None);
        }
        // The configuration below the block, then its changes on top: the same fold every
        // committer does when it appends the block, so orderers and ledgers agree.
        let header = wire::BlockHeader::decode(block.header.as_slice())
            .map_err(|e| bad(format!("block header: {e}")))?;
        let previous = Hash32::from_slice(&header.previous_hash)
            .ok_or_else(|| bad("block header: previous hash is not 32 bytes".into()))?;
        let below = self
            .chain
            .config_after(previous)
            .map_err(|e| bad(e.to_string()))?;
        let (changes, after) = below
            .check_block(height, &block.config_changes)
            .map_err(|e| bad(e.to_string()))?;
        if !changes.iter().any(|c| c.changes_consensus()) {
            return Ok(None);
        }
        Ok(Some(after.reconfiguration()))
    }
}

/// A decided block, checked: its block, its commit certificate and what to keep to serve it.
#[derive(Debug)]
pub struct DecidedBlock {
    /// The verified block, its certificate attached.
    pub block: VerifiedBlock,
    /// The turn the certificate is for.
    pub turn: u64,
    /// The primary's signed proposal with the payload removed (kept to serve catch-up).
    pub proof: Vec<u8>,
}

/// Why a decided value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecidedError {
    /// Structure.
    #[error("malformed decided value: {0}")]
    Malformed(String),
    /// The block does not verify.
    #[error("decided block refused: {0}")]
    Block(String),
    /// The certificate does not verify or names another block.
    #[error("commit certificate refused: {0}")]
    Certificate(String),
    /// The certificate's beacon is not the turn's.
    #[error("beacon refused: {0}")]
    Beacon(#[from] BeaconCheckError),
}

/// Verifies a decided value received from anyone: the block, its canonical encoding, and the
/// commit certificate (2f+1 signed commits from the committee the beacon evidence selects).
/// `Ok(None)` for a decided value that is not a block.
pub fn verify_decided(
    value: &wire::DecidedValue,
    eligible: &[medblock_core::keys::PublicKey],
    committee_size: usize,
    max_events: usize,
) -> Result<Option<DecidedBlock>, DecidedError> {
    let Some(wire::proposed_value::Kind::Proposal(env)) =
        value.value.as_ref().and_then(|v| v.kind.as_ref())
    else {
        return Ok(None);
    };
    let cert = value
        .certificate
        .as_ref()
        .ok_or_else(|| DecidedError::Malformed("no certificate".into()))?;
    let body = wire::ProposalBody::decode(env.body.as_slice())
        .map_err(|e| DecidedError::Malformed(format!("proposal body: {e}")))?;
    // The certificate first: only a block 2f+1 of the committee committed to is parsed, and
    // then without re-checking the event signatures those orderers checked (see
    // `VerifiedBlock::certified`); `expect` binds the certificate to this block's id.
    let checked = certificate::verify(cert, eligible, committee_size)
        .map_err(|e| DecidedError::Certificate(e.to_string()))?;
    let decoded = medblock_core::block::decode_block(&body.payload)
        .map_err(|e| DecidedError::Block(e.to_string()))?;
    let mut block = VerifiedBlock::certified(decoded, max_events)
        .map_err(|e| DecidedError::Block(e.to_string()))?;
    certificate::expect(&checked, block.height(), &block.id)
        .map_err(|e| DecidedError::Certificate(e.to_string()))?;
    block.block.certificate = Some(cert.clone());
    let proof = wire::SignedEnvelope {
        body: wire::ProposalBody {
            payload: Vec::new(),
            ..body.clone()
        }
        .encode_to_vec(),
        signature: env.signature.clone(),
    }
    .encode_to_vec();
    Ok(Some(DecidedBlock {
        block,
        turn: cert.turn,
        proof,
    }))
}

/// Rebuilds the decided value of a stored block from the block and its kept proof, for peers
/// catching up. The proposal body is re-encoded around the canonical block bytes, which gives
/// back exactly what the primary signed (proposals are checked to be canonical).
pub fn rebuild_decided(stored: &wire::Block, proof: &[u8]) -> Option<wire::DecidedValue> {
    let env = wire::SignedEnvelope::decode(proof).ok()?;
    let mut body = wire::ProposalBody::decode(env.body.as_slice()).ok()?;
    let certificate = stored.certificate.clone()?;
    body.payload = wire::Block {
        certificate: None,
        ..stored.clone()
    }
    .encode_to_vec();
    Some(wire::DecidedValue {
        value: Some(wire::ProposedValue {
            kind: Some(wire::proposed_value::Kind::Proposal(wire::SignedEnvelope {
                body: body.encode_to_vec(),
                signature: env.signature,
            })),
        }),
        certificate: Some(certificate),
    })
}
