//! How values are checked: the driver's [`ChainValidator`] for block payloads, and the turn
//! rules around it (who may propose, when a turn may end) that the replica and catch-up apply.

use super::*;

/// The driver's check of an opaque payload: decodes it as a block, checks that it is for
/// `height`, extends `previous`, and is valid; returns its id (what certificates sign).
pub trait ChainValidator {
    /// The block's id or why it is refused.
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal>;

    /// The id of a block whose commit certificate this node has already checked: 2f+1 of the
    /// committee validated exactly these bytes before committing, so a node following the chain
    /// need not repeat their work (on a ledger block, two signature checks per event on every
    /// node). The default re-validates, for validators whose check is cheap.
    fn decided_id(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        self.validate(height, previous, payload, now_ms)
    }

    /// Whether the payload is its primary's last block of the turn. The flag must be bound by
    /// the id `validate` returns (a ledger block carries it in its header), so that every node
    /// that follows a certificate agrees on where the turn ended; the primary's proposal must
    /// say the same.
    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal>;

    /// The complete membership in force after the block, when the block changes it (the
    /// embedder computes it from its own state: a ledger's configuration events). Like
    /// [`ends_turn`](Self::ends_turn) it must follow from the bytes the block's id binds, so
    /// every node that decides the block applies the same membership. A block that returns
    /// `Some` must end its turn; the machine refuses it otherwise.
    fn reconfiguration(
        &self,
        height: u64,
        payload: &[u8],
    ) -> Result<Option<Reconfiguration>, InvalidProposal> {
        let _ = (height, payload);
        Ok(None)
    }
}

/// The id a turn end is decided under: the turn, the height it closes at and the block before.
pub fn turn_end_id(turn: u64, height: u64, previous: &Hash32) -> Hash32 {
    tagged_hash(
        "medblock/turn-end/v1",
        &[
            &turn.to_be_bytes(),
            &height.to_be_bytes(),
            previous.as_bytes(),
        ],
    )
}

/// Whether a decided value is a block its primary flagged as the last of its turn. The flag is
/// inside the primary's signed proposal, checked with the value.
pub(super) fn ends_its_turn(dv: &wire::DecidedValue) -> bool {
    match dv.value.as_ref().and_then(|v| v.kind.as_ref()) {
        Some(wire::proposed_value::Kind::Proposal(env)) => {
            wire::ProposalHead::decode(env.body.as_slice()).is_ok_and(|h| h.last_of_turn)
        }
        _ => false,
    }
}

/// Checks a primary's signed proposal for (`turn`, `height`) and returns its payload.
pub(super) fn open_proposal(
    env: &wire::SignedEnvelope,
    primary: &PublicKey,
    turn: u64,
    height: u64,
) -> Result<wire::ProposalBody, &'static str> {
    let body =
        wire::ProposalBody::decode(env.body.as_slice()).map_err(|_| "undecodable proposal")?;
    if body.primary_key != primary.as_bytes() || body.turn != turn || body.height != height {
        return Err("proposal from another primary, turn or height");
    }
    let sig = Signature::from_slice(&env.signature).map_err(|_| "malformed signature")?;
    primary
        .verify(statement::PROPOSAL, &env.body, &sig)
        .map_err(|_| "bad primary signature")?;
    Ok(body)
}

/// Checks a primary's signed end of turn; returns (turn, next height, chain hash).
pub(super) fn open_end_turn(
    env: &wire::SignedEnvelope,
    primary: &PublicKey,
) -> Result<(u64, u64, Hash32), &'static str> {
    let body = wire::EndTurnBody::decode(env.body.as_slice()).map_err(|_| "undecodable end")?;
    if body.primary_key != primary.as_bytes() {
        return Err("end of turn from another primary");
    }
    let sig = Signature::from_slice(&env.signature).map_err(|_| "malformed signature")?;
    primary
        .verify(statement::END_TURN, &env.body, &sig)
        .map_err(|_| "bad end-of-turn signature")?;
    let hash = Hash32::from_slice(&body.chain_hash).ok_or("malformed chain hash")?;
    Ok((body.turn, body.next_height, hash))
}

/// What the turn's replica checks values with.
pub(super) struct NodeCheck<'a> {
    pub(super) turn: u64,
    pub(super) primary: PublicKey,
    pub(super) skip_ok: bool,
    /// The value comes with a commit certificate already checked (see
    /// [`ChainValidator::decided_id`]).
    pub(super) certified: bool,
    pub(super) validator: &'a dyn ChainValidator,
    /// The regions in force (a reconfiguration may not drop one).
    pub(super) regions: &'a BTreeMap<String, Region>,
}

impl NodeCheck<'_> {
    pub(super) fn value(
        &self,
        height: u64,
        previous: &Hash32,
        value: &wire::ProposedValue,
        now_ms: u64,
        skip_ok: bool,
    ) -> Result<Hash32, InvalidProposal> {
        let bad = |reason: &str| InvalidProposal {
            height,
            reason: reason.to_string(),
            blame: true,
        };
        match &value.kind {
            Some(wire::proposed_value::Kind::Proposal(env)) => {
                let body = open_proposal(env, &self.primary, self.turn, height).map_err(bad)?;
                let id = if self.certified {
                    self.validator
                        .decided_id(height, previous, &body.payload, now_ms)
                } else {
                    self.validator
                        .validate(height, previous, &body.payload, now_ms)
                }?;
                let ends = self.validator.ends_turn(height, &body.payload)?;
                if ends != body.last_of_turn {
                    return Err(bad("last-of-turn flag differs from the block's"));
                }
                if let Some(rc) = self.validator.reconfiguration(height, &body.payload)? {
                    // The new membership starts at a turn boundary, the same on every node.
                    if !ends {
                        return Err(bad("reconfiguration in a block that does not end its turn"));
                    }
                    if let Some(why) = rc.problem(self.regions.keys()) {
                        return Err(bad(why));
                    }
                }
                Ok(id)
            }
            Some(wire::proposed_value::Kind::TurnEnd(te)) => {
                if te.turn != self.turn {
                    return Err(bad("turn end for another turn"));
                }
                match &te.end_turn {
                    Some(env) => {
                        let (t, h, hash) = open_end_turn(env, &self.primary).map_err(bad)?;
                        if t != self.turn || h != height || hash != *previous {
                            return Err(bad("end of turn for another turn or tip"));
                        }
                    }
                    None if skip_ok => {}
                    None if te
                        .refused
                        .as_ref()
                        .is_some_and(|env| self.proves_fault(height, previous, env, now_ms)) => {}
                    None => return Err(bad("primary is not stalled")),
                }
                Ok(turn_end_id(self.turn, height, previous))
            }
            None => Err(bad("empty value")),
        }
    }
}

impl NodeCheck<'_> {
    /// Whether `env` is the turn primary's signed proposal for `height` and invalid whatever
    /// this node's state: the evidence that ends a faulty primary's turn at once.
    fn proves_fault(
        &self,
        height: u64,
        previous: &Hash32,
        env: &wire::SignedEnvelope,
        now_ms: u64,
    ) -> bool {
        // The primary's own signature first: a proposal it did not sign proves nothing (and
        // is refused before the block is checked at all).
        if open_proposal(env, &self.primary, self.turn, height).is_err() {
            return false;
        }
        let proposal = wire::ProposedValue {
            kind: Some(wire::proposed_value::Kind::Proposal(env.clone())),
        };
        matches!(
            self.value(height, previous, &proposal, now_ms, false),
            Err(InvalidProposal { blame: true, .. })
        )
    }
}

impl ValueCheck for NodeCheck<'_> {
    fn check(
        &self,
        height: u64,
        _value: &wire::ProposedValue,
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        Err(InvalidProposal {
            height,
            reason: "previous block unknown".to_string(),
            blame: false,
        })
    }

    fn check_after(
        &self,
        height: u64,
        previous: Option<&Hash32>,
        value: &wire::ProposedValue,
        now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        match previous {
            Some(p) => self.value(height, p, value, now_ms, self.skip_ok),
            None => self.check(height, value, now_ms),
        }
    }
}
