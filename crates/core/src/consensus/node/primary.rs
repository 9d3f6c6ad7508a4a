//! Primary bookkeeping: asking the local primary for blocks, signing and sending what it
//! proposes or its end of turn.

use super::*;

/// Signs a block proposal of the primary (what [`NodeInput::Propose`] sends); `last_of_turn`
/// ends the turn with this block once it is decided.
pub fn sign_proposal(
    key: &SigningKey,
    turn: u64,
    height: u64,
    payload: Vec<u8>,
    last_of_turn: bool,
) -> wire::SignedEnvelope {
    let body = wire::ProposalBody {
        turn,
        height,
        primary_key: key.public().as_bytes().to_vec(),
        payload,
        last_of_turn,
    }
    .encode_to_vec();
    let signature = key.sign(statement::PROPOSAL, &body).to_vec();
    wire::SignedEnvelope { body, signature }
}

/// What the local endorser did as the turn's primary (reset at every new turn).
#[derive(Default)]
pub(super) struct PrimaryBook {
    /// The (turn, height) the driver was last asked a block for.
    pub(super) asked: Option<(u64, u64)>,
    /// Its last signed proposal (turn, height), re-sent until decided.
    pub(super) proposal: Option<(u64, u64, wire::SignedEnvelope)>,
    /// Its signed end of turn, re-sent until the turn ends.
    pub(super) end: Option<(u64, wire::SignedEnvelope)>,
}

impl ConsensusNode {
    pub(super) fn maybe_need_proposal(&mut self, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        if primary != self.me || self.committee_members().is_none() || self.as_primary.end.is_some()
        {
            return;
        }
        if self.as_primary.asked == Some((turn, self.chain.next_height)) {
            return;
        }
        if self
            .as_primary
            .proposal
            .as_ref()
            .is_some_and(|(t, h, _)| *t == turn && *h >= self.chain.next_height)
        {
            return;
        }
        self.as_primary.asked = Some((turn, self.chain.next_height));
        step.out.push(NodeAction::NeedProposal {
            turn,
            height: self.chain.next_height,
            previous: self.chain.tip,
        });
    }

    pub(super) fn on_propose(
        &mut self,
        height: u64,
        payload: Vec<u8>,
        last_of_turn: bool,
        step: &mut Step<'_>,
    ) {
        let Some((turn, primary)) = self.current() else {
            self.reject("no turn yet", step);
            return;
        };
        let Some(members) = self.committee_members() else {
            self.reject("turn has no committee yet", step);
            return;
        };
        if primary != self.me {
            self.reject("not the primary", step);
            return;
        }
        if height != self.chain.next_height || self.as_primary.end.is_some() {
            self.reject("proposal for another height", step);
            return;
        }
        let env = sign_proposal(&self.key, turn, height, payload, last_of_turn);
        self.as_primary.proposal = Some((turn, height, env.clone()));
        step.out.push(NodeAction::Multicast {
            to: members,
            msg: msg(Kind::Proposal(env.clone())),
        });
        if self.pbft.replica.is_some() {
            self.feed_value(height, wire::proposed_value::Kind::Proposal(env), step);
        }
    }

    pub(super) fn on_end_my_turn(&mut self, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            self.reject("no turn yet", step);
            return;
        };
        let Some(members) = self.committee_members() else {
            self.reject("turn has no committee yet", step);
            return;
        };
        if primary != self.me {
            self.reject("not the primary", step);
            return;
        }
        let env = turns::sign_end_turn(&self.key, turn, self.chain.next_height, &self.chain.tip);
        self.as_primary.end = Some((turn, env.clone()));
        step.out.push(NodeAction::Multicast {
            to: members,
            msg: msg(Kind::EndTurn(env.clone())),
        });
        if self.pbft.replica.is_some() {
            self.pbft.pending_end = Some(env);
            self.feed_pending_end(step);
        }
    }
}
