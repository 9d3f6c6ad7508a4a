//! Turn glue: inputs to the [`Turns`](super::super::turns::Turns) machine, its actions, and what
//! follows a turn change.

use super::*;

impl ConsensusNode {
    pub(super) fn turn_input(&mut self, input: TurnInput, step: &mut Step<'_>) {
        let Some(t) = self.turns.as_mut() else {
            return;
        };
        let before = t.turn();
        match t.handle(input, step.now_ms) {
            Ok(acts) => {
                // The node feeds the turn machine only beacons, endorser skips and ticks; on
                // those it begins a later turn only when an endorser-skip quorum ended the
                // current one, and the same turn again when a beacon passed it to another
                // endorser of its region.
                if let Some(turn) = acts.iter().find_map(|a| match a {
                    TurnAction::NewTurn { turn, .. } => Some(*turn),
                    _ => None,
                }) {
                    if turn == before {
                        self.stats.take_overs += 1;
                    } else {
                        self.stats.skipped_turns += 1;
                    }
                }
                self.turn_actions(acts, step);
                self.after_turn_change(step);
            }
            Err(TurnError::WrongTurn { .. } | TurnError::Duplicate { .. }) => {}
            Err(TurnError::BeaconSeen { .. }) => {}
            Err(TurnError::BadSignature { .. } | TurnError::Beacon(_)) => {
                self.reject("forged turn message", step)
            }
            Err(TurnError::Equivocation { .. }) => self.reject("turn skip equivocation", step),
            Err(_) => self.reject("invalid turn message", step),
        }
    }

    pub(super) fn turn_actions(&mut self, acts: Vec<TurnAction>, step: &mut Step<'_>) {
        for a in acts {
            match a {
                TurnAction::SetTimer { .. } => {}
                TurnAction::Broadcast(m) => step.out.push(NodeAction::Broadcast(match m {
                    TurnMessage::EndTurn(e) => msg(Kind::EndTurn(e)),
                    TurnMessage::Beacon(b) => msg(Kind::Beacon(b)),
                    TurnMessage::Skip(s) => msg(Kind::TurnSkip(s)),
                })),
                TurnAction::NewTurn {
                    turn,
                    primary,
                    start_height,
                    chain_hash,
                } => {
                    if self.pbft.replica.as_ref().is_some_and(|r| r.turn() != turn) {
                        self.drop_replica();
                    }
                    self.pbft.pending_end = None;
                    self.as_primary.proposal = None;
                    self.as_primary.end = None;
                    self.as_primary.asked = None;
                    self.timers.last_progress = step.now_ms;
                    self.timers.turn_progress = step.now_ms;
                    // A primary already lost (`liveness.rs`) is not waited for a turn timeout.
                    if let Some(at) = self.primary_lost_until()
                        && let Some(t) = self.turns.as_mut()
                    {
                        let _ = t.hasten(at.max(step.now_ms));
                    }
                    step.out.push(NodeAction::TurnChanged {
                        turn,
                        primary,
                        committee: None,
                    });
                    if primary == self.me {
                        step.out.push(NodeAction::MyTurn {
                            turn,
                            start_height,
                            chain_hash,
                        });
                    }
                }
                TurnAction::Committee {
                    turn,
                    committee,
                    beacon,
                } => {
                    let primary = beacon.primary;
                    step.out.push(NodeAction::TurnChanged {
                        turn,
                        primary,
                        committee: Some(committee.members().to_vec()),
                    });
                    if self.orderer && committee.contains(&self.me) {
                        self.start_replica(turn, beacon, committee);
                        // A committee drawn with a leader already lost (`liveness.rs`) moves
                        // past it at once rather than after the view-change timeout.
                        if let Some(leader) = self
                            .pbft
                            .replica
                            .as_ref()
                            .and_then(|r| r.committee().leader(r.view()).copied())
                            .filter(|l| self.lost.contains_key(l))
                        {
                            self.drive_replica(ReplicaInput::LeaderLost(leader), step);
                        }
                    }
                }
                TurnAction::CatchUp { from_height } => step.out.push(NodeAction::CatchUp {
                    from_height,
                    ask: None,
                }),
            }
        }
    }

    /// After the turn may have changed: replay messages kept for it, feed a waiting end of
    /// turn, ask the primary for a block.
    pub(super) fn after_turn_change(&mut self, step: &mut Step<'_>) {
        let Some(turn) = self.turns.as_ref().map(|t| t.turn()) else {
            return;
        };
        if self
            .parked
            .ahead
            .iter()
            .any(|(_, m)| m.kind.as_ref().and_then(turn_of).is_some_and(|t| t <= turn))
        {
            let all: Vec<_> = self.parked.ahead.drain(..).collect();
            for (from, m) in all {
                let t = m.kind.as_ref().and_then(turn_of);
                match t {
                    Some(t) if t == turn => {
                        if let Some(k) = m.kind {
                            self.on_turn_message(from, k, step);
                        }
                    }
                    Some(t) if t > turn => self.parked.ahead.push_back((from, m)),
                    _ => {}
                }
            }
        }
        self.replay_unseated(step);
        self.feed_pending_end(step);
        self.maybe_need_proposal(step);
    }

    /// The block decided at `height` was its primary's last of `turn`: when `turn` is the
    /// current one, it ends here, as a decided turn end would one height up, and the next turn
    /// starts at `height + 1`. No block of `turn` can be decided above it: every replica leaves
    /// the turn on deciding this block, and PBFT decides heights in order. Returns whether the
    /// turn changed.
    /// A block that ended turn `turn` at `height`, committed while this node already sat in
    /// the next turn, begun lower on an endorser skip quorum ([`Turns::rebase`]): the node
    /// begins that turn again above the block. Without it the node (and the primary, if it was
    /// one) waited out the turn timeout in a turn whose beacon no other node could accept.
    pub(super) fn rebase_overtaken_turn(
        &mut self,
        turn: u64,
        height: u64,
        block_id: Hash32,
        step: &mut Step<'_>,
    ) -> bool {
        let Some(t) = self.turns.as_mut() else {
            return false;
        };
        let current = t.turn();
        match t.rebase(turn, height.saturating_add(1), block_id, step.now_ms) {
            Ok(acts) => {
                // The replica of the turn as begun lower is of no use: its beacon is stale.
                if self
                    .pbft
                    .replica
                    .as_ref()
                    .is_some_and(|r| r.turn() == current)
                {
                    self.drop_replica();
                }
                self.turn_actions(acts, step);
                true
            }
            Err(_) => false,
        }
    }

    pub(super) fn end_turn_with(
        &mut self,
        turn: u64,
        height: u64,
        block_id: Hash32,
        step: &mut Step<'_>,
    ) -> bool {
        if self.turns.as_ref().is_none_or(|t| t.turn() != turn) {
            return false;
        }
        self.stats.turn_ends += 1;
        let r = self.turns.as_mut().map(|t| {
            t.advance(
                turn.saturating_add(1),
                height.saturating_add(1),
                block_id,
                step.now_ms,
            )
        });
        match r {
            Some(Ok(acts)) => {
                self.turn_actions(acts, step);
                true
            }
            _ => false,
        }
    }
}
