//! The embedder's say on what is being decided: consensus treats a block as opaque bytes, and
//! asks a [`ValueCheck`] whether a value may be decided at a height and what its id is. PBFT
//! calls it; this module knows nothing of PBFT.

use crate::consensus::statement;
use crate::hash::Hash32;
use crate::keys::{PublicKey, Signature};
use crate::wire;
use prost::Message;

/// Why a proposed payload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proposal at height {height}: {reason}")]
pub struct InvalidProposal {
    /// Height it was proposed for.
    pub height: u64,
    /// What a person needs to know to act.
    pub reason: String,
    /// The proposal is invalid whatever this node's state, so its proposer is at fault (a
    /// replica that finds the current primary's block so ends the turn at once). False when
    /// this node could not check it (the block below unknown here) or the height is decided
    /// already (a late proposal): an honest primary may meet those.
    pub blame: bool,
}

/// The embedder's check of a value at a height: its id, or why it may not be decided. The
/// orderer combines the block validator with the turn rules (who may propose, when a turn may
/// end).
pub trait ValueCheck {
    /// The value's id or the reason to refuse it.
    fn check(
        &self,
        height: u64,
        value: &wire::ProposedValue,
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal>;

    /// What the replica calls: [`ValueCheck::check`] plus the id this replica decided at
    /// `height - 1` when it knows it (`None` for a height whose predecessor it has not decided).
    /// A check that must verify chaining (a block extends its predecessor) overrides this; the
    /// default ignores `previous`.
    fn check_after(
        &self,
        height: u64,
        previous: Option<&Hash32>,
        value: &wire::ProposedValue,
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let _ = previous;
        self.check(height, value, now_ms)
    }
}

/// Decides whether an encoded block may be decided at `height`, and what its id is. The real
/// node decodes and checks a ledger block; the simulator checks its fake blocks. PBFT members
/// call it on every pre-prepare, so an invalid block is never prepared by an honest member.
pub trait ProposalValidator {
    /// The block's id (what certificates sign) or why it is refused.
    fn validate(&self, height: u64, payload: &[u8], now_ms: u64)
    -> Result<Hash32, InvalidProposal>;
}

/// The single-turn value check: a proposal signed by the turn's primary, for this height,
/// whose block the validator accepts.
pub struct PrimaryCheck<'a, V: ProposalValidator> {
    /// The turn's primary.
    pub primary: PublicKey,
    /// The turn.
    pub turn: u64,
    /// The block validator.
    pub validator: &'a V,
}

impl<V: ProposalValidator> ValueCheck for PrimaryCheck<'_, V> {
    fn check(
        &self,
        height: u64,
        value: &wire::ProposedValue,
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let bad = |reason: &str| InvalidProposal {
            height,
            reason: reason.to_string(),
            blame: true,
        };
        let Some(wire::proposed_value::Kind::Proposal(env)) = &value.kind else {
            return Err(bad("not a block proposal"));
        };
        let body = wire::ProposalBody::decode(env.body.as_slice())
            .map_err(|_| bad("undecodable proposal"))?;
        let sig = Signature::from_slice(&env.signature).map_err(|_| bad("malformed signature"))?;
        if body.primary_key != self.primary.as_bytes()
            || body.turn != self.turn
            || body.height != height
        {
            return Err(bad("proposal from another primary, turn or height"));
        }
        self.primary
            .verify(statement::PROPOSAL, &env.body, &sig)
            .map_err(|_| bad("bad primary signature"))?;
        self.validator.validate(height, &body.payload, now_ms)
    }
}
