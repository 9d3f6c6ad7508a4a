//! Message triage: each received message to the machine it is for, or into one of the holding
//! buffers (`early`: endorsers unknown; `ahead`: a later turn; `unseated`: this turn before its
//! committee is known).

use super::*;

/// The turn a turn-bound message names, if it is one.
pub(super) fn turn_of(kind: &Kind) -> Option<u64> {
    fn body<M: Message + Default>(e: &wire::SignedEnvelope) -> Option<M> {
        M::decode(e.body.as_slice()).ok()
    }
    match kind {
        // The head only: decoding the whole body copied the block to read one number.
        Kind::Proposal(e) => body::<wire::ProposalHead>(e).map(|b| b.turn),
        Kind::EndTurn(e) => body::<wire::EndTurnBody>(e).map(|b| b.turn),
        Kind::PrePrepare(e) => body::<wire::PrePrepareBody>(e).map(|b| b.turn),
        Kind::ViewChange(e) => body::<wire::ViewChangeBody>(e).map(|b| b.turn),
        Kind::NewView(e) => body::<wire::NewViewBody>(e).map(|b| b.turn),
        Kind::Vote(v) => Some(v.turn),
        Kind::Beacon(b) => Some(b.turn),
        Kind::TurnSkip(s) => Some(s.turn),
        _ => None,
    }
}

/// Messages and decided values held until the node can place them.
pub(super) struct Parked {
    /// Messages that arrived before every region had an endorser (no turn yet).
    pub(super) early: VecDeque<(PublicKey, wire::ConsensusMessage)>,
    /// Messages of a later turn: this node missed a turn end.
    pub(super) ahead: VecDeque<(PublicKey, wire::ConsensusMessage)>,
    /// Proposals and PBFT messages of the current turn that arrived before its beacon named
    /// the committee (messages travel on separate streams, so the primary's proposal can
    /// overtake its beacon): replayed once this node's replica starts, instead of being lost
    /// until a re-send.
    pub(super) unseated: VecDeque<(PublicKey, u64, Kind)>,
    /// `early` is replayed once the current input is handled (the turns just started).
    pub(super) replay_early: bool,
    /// Decided values above the next height, until the ones before them arrive.
    pub(super) decided: CatchUp,
}

impl Parked {
    pub(super) fn new(decided_capacity: u64) -> Self {
        Self {
            early: VecDeque::new(),
            ahead: VecDeque::new(),
            unseated: VecDeque::new(),
            replay_early: false,
            decided: CatchUp::new(decided_capacity),
        }
    }
}

impl ConsensusNode {
    pub(super) fn on_message(
        &mut self,
        from: PublicKey,
        m: wire::ConsensusMessage,
        step: &mut Step<'_>,
    ) {
        let Some(kind) = m.kind else {
            self.reject("empty message", step);
            return;
        };
        match kind {
            Kind::ElectionVote(v) => {
                if v.region == self.region {
                    let r = v.region.clone();
                    self.election_input(&r, ElectionInput::Vote(v), step);
                }
            }
            Kind::CrashSignal(c) => {
                if c.region == self.region {
                    let r = c.region.clone();
                    self.election_input(&r, ElectionInput::Crash(c), step);
                }
            }
            Kind::ViewAnnouncement(c) => {
                let r = c.region.clone();
                self.election_input(&r, ElectionInput::Certificate(c), step);
            }
            Kind::CatchUpRequest(req) => self.serve(from, &req, step),
            Kind::Decided(dv) if self.turns.is_none() => {
                self.keep_early(from, msg(Kind::Decided(dv)), step)
            }
            Kind::Decided(dv) => self.on_decided_value(from, dv, step),
            Kind::CatchUpResponse(r) if self.turns.is_none() => {
                self.keep_early(from, msg(Kind::CatchUpResponse(r)), step)
            }
            Kind::CatchUpResponse(r) => {
                for dv in r.decided {
                    self.on_decided_value(from, dv, step);
                }
            }
            kind => {
                let Some(turn) = self.turns.as_ref().map(|t| t.turn()) else {
                    self.keep_early(from, msg(kind), step);
                    return;
                };
                let Some(t) = turn_of(&kind) else {
                    self.reject("undecodable turn message", step);
                    return;
                };
                if t > turn {
                    // A later turn: this node missed a turn end. Keep it and ask.
                    if self.parked.ahead.len() >= EARLY_CAPACITY {
                        self.parked.ahead.pop_front();
                    }
                    self.parked.ahead.push_back((from, msg(kind)));
                    self.request_catch_up_from(Some(from), step);
                    return;
                }
                if t < turn {
                    return;
                }
                self.on_turn_message(from, kind, step);
            }
        }
    }

    pub(super) fn keep_early(
        &mut self,
        from: PublicKey,
        m: wire::ConsensusMessage,
        step: &mut Step<'_>,
    ) {
        if self.parked.early.len() >= EARLY_CAPACITY {
            self.reject("early buffer full", step);
            return;
        }
        self.parked.early.push_back((from, m));
    }

    pub(super) fn on_turn_message(&mut self, from: PublicKey, kind: Kind, step: &mut Step<'_>) {
        match kind {
            Kind::Beacon(b) => self.turn_input(TurnInput::Beacon(b), step),
            Kind::TurnSkip(s) => self.turn_input(TurnInput::Skip(s), step),
            Kind::EndTurn(env) => self.on_end_turn(env, step),
            Kind::Proposal(env) => self.on_proposal(from, env, step),
            kind if self.awaiting_committee() => self.keep_unseated(from, kind),
            kind => {
                let Some(m) = PbftMessage::from_wire(msg(kind)) else {
                    return;
                };
                if self.pbft.replica.is_some() {
                    self.drive_replica(ReplicaInput::Message(m), step);
                }
            }
        }
    }

    /// An orderer in a turn whose beacon has not named the committee yet.
    pub(super) fn awaiting_committee(&self) -> bool {
        self.orderer && self.pbft.replica.is_none() && self.committee_members().is_none()
    }

    pub(super) fn keep_unseated(&mut self, from: PublicKey, kind: Kind) {
        let Some((turn, _)) = self.current() else {
            return;
        };
        if self.parked.unseated.len() >= EARLY_CAPACITY {
            self.parked.unseated.pop_front();
        }
        self.parked.unseated.push_back((from, turn, kind));
    }

    /// Replays the current turn's messages kept while its committee was unknown, once this
    /// node's replica runs; drops them once the committee is known without this node.
    pub(super) fn replay_unseated(&mut self, step: &mut Step<'_>) {
        if self.parked.unseated.is_empty() || self.awaiting_committee() {
            return;
        }
        let kept: Vec<_> = self.parked.unseated.drain(..).collect();
        let (Some((turn, _)), true) = (self.current(), self.pbft.replica.is_some()) else {
            return;
        };
        for (from, t, kind) in kept {
            if t == turn {
                self.on_turn_message(from, kind, step);
            }
        }
    }
}
