//! The embedder's say on what is being decided: consensus treats a block as opaque bytes.

use crate::hash::Hash32;

/// Why a proposed payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proposal at height {height}: {reason}")]
pub struct InvalidProposal {
    /// Height it was proposed for.
    pub height: u64,
    /// What a person needs to know to act.
    pub reason: String,
}

/// Decides whether an encoded block may be decided at `height`, and what its id is. The real
/// node decodes and checks a ledger block; the simulator checks its fake blocks. PBFT members
/// call it on every pre-prepare, so an invalid block is never prepared by an honest member.
pub trait ProposalValidator {
    /// The block's id (what certificates sign) or why it is refused.
    fn validate(&self, height: u64, payload: &[u8], now_ms: u64)
    -> Result<Hash32, InvalidProposal>;
}
