//! The predicate for ledger blocks: the chain rules plus what only a ledger block has
//! (revocations, integrity, canonical bytes, certified writers, the orderer's clock).

use super::{BlockLimits, BlockRuleError, ChainBelow, check_chain, check_config};
use crate::authorization::RevokedAuthorizations;
use crate::block::{VerifiedBlock, decode_block};
use crate::config::ConfigState;
use crate::event::EventKey;
use crate::wire;
use prost::Message;

/// The encoded size of a block as proposed: without the commit certificate a decided block
/// carries (the limit is on what the primary sends, which has none).
pub fn proposal_len(block: &wire::Block) -> usize {
    let certificate = block
        .certificate
        .as_ref()
        .map_or(0, |c| prost::encoding::message::encoded_len(6, c));
    block.encoded_len().saturating_sub(certificate)
}

/// What a committer would refuse in a block it is about to append (its commit certificate
/// already checked): the chain rules ([`check_chain`]), no event under an authorization
/// revoked below, and configuration changes that apply to `config`, the configuration as of
/// the block below ([`check_config`]). Returns the configuration after the block when it
/// changes it.
pub fn check_ledger_block<V>(
    block: &VerifiedBlock,
    below: &V,
    revoked: &RevokedAuthorizations,
    config: Option<&ConfigState>,
    limits: &BlockLimits,
) -> Result<Option<ConfigState>, BlockRuleError>
where
    V: ChainBelow<EventKey> + ?Sized,
{
    check_chain(block, below, limits)?;
    block
        .check_revocations(revoked)
        .map_err(BlockRuleError::Revoked)?;
    check_config(block, config)
}

/// What an orderer checks before voting, besides the ledger rules: who wrote the block and
/// when, as of this orderer's clock.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The configuration as of the block below: the endorser must hold role ENDORSER, every
    /// department its own, and the block's configuration changes must apply to it.
    pub config: &'a ConfigState,
    /// The checking orderer's clock.
    pub now_ms: u64,
    /// How far ahead of that clock a block may be dated (genesis `max_clock_skew_ms`).
    pub max_skew_ms: u64,
}

/// An orderer's whole check of a proposed block, from untrusted bytes: the byte limit before
/// decoding, integrity (every signature), canonical encoding and no certificate, the orderer
/// time against its clock, certified writers, and [`check_ledger_block`]. The verified block
/// on success.
pub fn check_proposal<V>(
    payload: &[u8],
    below: &V,
    revoked: &RevokedAuthorizations,
    limits: &BlockLimits,
    admission: &Admission<'_>,
) -> Result<(VerifiedBlock, Option<ConfigState>), BlockRuleError>
where
    V: ChainBelow<EventKey> + ?Sized,
{
    // Before decoding: an oversized proposal costs nothing more than its length.
    if payload.len() > limits.max_bytes {
        return Err(BlockRuleError::TooManyBytes {
            bytes: payload.len(),
            max: limits.max_bytes,
        });
    }
    let decoded = decode_block(payload).map_err(BlockRuleError::Integrity)?;
    if decoded.certificate.is_some() {
        return Err(BlockRuleError::CarriesCertificate);
    }
    // Catch-up re-encodes stored blocks; only canonical encodings make that exact.
    if decoded.encoded_len() != payload.len() || decoded.encode_to_vec() != payload {
        return Err(BlockRuleError::NotCanonical);
    }
    let block =
        VerifiedBlock::verify(decoded, limits.max_events).map_err(BlockRuleError::Integrity)?;
    block
        .check_time(admission.now_ms, admission.max_skew_ms)
        .map_err(BlockRuleError::Clock)?;
    block
        .authorize(admission.config.trust(), admission.now_ms)
        .map_err(BlockRuleError::Unauthorized)?;
    let config = check_ledger_block(&block, below, revoked, Some(admission.config), limits)?;
    Ok((block, config))
}
