//! The context of one input: the driver's time, its chain validator, and the actions produced
//! so far. Every handler takes it instead of threading `(now_ms, check, out)` through each call.

use super::*;

/// One call of [`ConsensusNode::handle`] (or [`ConsensusNode::new`]) in progress.
pub(super) struct Step<'a> {
    /// The driver's time for this input.
    pub(super) now_ms: u64,
    /// The driver's check of block payloads.
    pub(super) check: &'a dyn ChainValidator,
    /// What the driver must do, in order.
    pub(super) out: Vec<NodeAction>,
}

impl<'a> Step<'a> {
    pub(super) fn new(now_ms: u64, check: &'a dyn ChainValidator) -> Self {
        Self {
            now_ms,
            check,
            out: Vec::new(),
        }
    }
}

/// The validator of [`ConsensusNode::new`], which has none: starting a node only votes and
/// sets its timer, so no value is checked before the first [`ConsensusNode::handle`].
pub(super) struct NoCheck;

impl ChainValidator for NoCheck {
    fn validate(
        &self,
        height: u64,
        _previous: &Hash32,
        _payload: &[u8],
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        Err(NoCheck::refused(height))
    }

    fn ends_turn(&self, height: u64, _payload: &[u8]) -> Result<bool, InvalidProposal> {
        Err(NoCheck::refused(height))
    }
}

impl NoCheck {
    fn refused(height: u64) -> InvalidProposal {
        InvalidProposal {
            height,
            reason: "no chain validator while starting".to_string(),
            blame: false,
        }
    }
}
