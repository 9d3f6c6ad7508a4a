//! The PBFT adapter: the turn's [`Replica`](super::super::pbft::Replica) when this node sits in
//! the committee, the values offered to it, and its actions.

use super::*;

/// The turn's PBFT replica, when this node sits in the committee, and what waits for it.
#[derive(Default)]
pub(super) struct Pbft {
    /// The replica of the current turn.
    pub(super) replica: Option<Replica>,
    /// The replica's deadline (its last `SetTimer`).
    pub(super) timer: Option<u64>,
    /// The primary's signed end of turn, offered once this node's chain reaches its height.
    pub(super) pending_end: Option<wire::SignedEnvelope>,
    /// What the replica persisted before the node restarted (see [`ConsensusNode::restore_safety`]).
    pub(super) restored: Option<SafetyRecord>,
}

impl ConsensusNode {
    pub(super) fn drop_replica(&mut self) {
        if let Some(r) = self.pbft.replica.take() {
            self.stats.view_changes += r.stats().view_changes_started;
        }
        self.pbft.timer = None;
    }

    pub(super) fn start_replica(&mut self, turn: u64, beacon: Beacon, committee: Committee) {
        self.drop_replica();
        if self.pbft.restored.as_ref().is_some_and(|r| r.turn > turn) {
            // Before its restart this node already sat in a later turn's committee, so this
            // turn is over; what it signed here is lost, so it signs nothing more in it and
            // follows the chain as an observer (decided values carry their certificates).
            return;
        }
        let start = beacon.start_height;
        let mut r = Replica::new(
            self.cfg.clone(),
            self.key.clone(),
            turn,
            Some(beacon),
            committee,
            start,
        );
        if self.chain.next_height > start {
            r.resume_at(
                self.chain.next_height,
                self.chain.last_cert.clone(),
                self.chain.tip,
            );
        }
        if let Some(rec) = self.pbft.restored.as_ref().filter(|r| r.turn == turn) {
            // Checked when the driver handed it over; a failure here cannot happen, and
            // would leave the replica as strict as a fresh one, never looser.
            let _ = r.restore(rec);
        }
        self.pbft.replica = Some(r);
        self.pbft.timer = None;
    }

    /// Gives the node what its replica persisted before a restart (before any input): a
    /// replica of that turn resumes from it, and a replica of an earlier turn is not started.
    pub fn restore_safety(&mut self, record: SafetyRecord) -> Result<(), SafetyRecordError> {
        SafetyRecord::from_bytes(&record.to_bytes())?;
        self.pbft.restored = Some(record);
        Ok(())
    }

    pub(super) fn on_proposal(
        &mut self,
        from: PublicKey,
        env: wire::SignedEnvelope,
        step: &mut Step<'_>,
    ) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Ok(body) = wire::ProposalHead::decode(env.body.as_slice()) else {
            self.reject("undecodable proposal", step);
            return;
        };
        if body.height < self.chain.next_height {
            // The primary missed the decision: tell it again.
            if let Some(dv) = self.chain.recent.get(&body.height) {
                step.out.push(NodeAction::Send {
                    to: from,
                    msg: msg(Kind::Decided(dv.clone())),
                });
            }
            return;
        }
        if open_proposal(&env, &primary, turn, body.height).is_err() {
            self.reject("invalid proposal", step);
            return;
        }
        if self.pbft.replica.is_some() {
            self.feed_value(body.height, wire::proposed_value::Kind::Proposal(env), step);
        } else if self.awaiting_committee() {
            self.keep_unseated(from, Kind::Proposal(env));
        }
    }

    pub(super) fn on_end_turn(&mut self, env: wire::SignedEnvelope, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        match open_end_turn(&env, &primary) {
            Ok((t, h, _)) if t == turn && h >= self.chain.next_height => {
                self.pbft.pending_end = Some(env);
                self.feed_pending_end(step);
            }
            Ok(_) => {}
            Err(_) => self.reject("invalid end of turn", step),
        }
    }

    /// Offers the primary's end of turn to the replica once this node's chain reaches it.
    pub(super) fn feed_pending_end(&mut self, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Some(env) = self.pbft.pending_end.clone() else {
            return;
        };
        let Ok((t, h, hash)) = open_end_turn(&env, &primary) else {
            self.pbft.pending_end = None;
            return;
        };
        if t != turn || h < self.chain.next_height {
            self.pbft.pending_end = None;
            return;
        }
        if h > self.chain.next_height || self.pbft.replica.is_none() {
            return;
        }
        if hash != self.chain.tip {
            self.pbft.pending_end = None;
            self.reject("end of turn on another chain", step);
            return;
        }
        let te = wire::TurnEnd {
            turn,
            next: None,
            end_turn: Some(env),
            refused: None,
        };
        self.feed_value(h, wire::proposed_value::Kind::TurnEnd(te), step);
    }

    pub(super) fn feed_value(
        &mut self,
        height: u64,
        kind: wire::proposed_value::Kind,
        step: &mut Step<'_>,
    ) {
        let value = wire::ProposedValue { kind: Some(kind) };
        self.drive_replica(ReplicaInput::Propose { height, value }, step);
    }

    /// Whether a turn end without the primary's signature may be prepared now: the turn made
    /// no progress for half its timeout, or the primary's region elected someone else.
    pub(super) fn skip_ok(&self, now_ms: u64) -> bool {
        let Some(t) = &self.turns else {
            return false;
        };
        let stalled = now_ms
            >= self
                .timers
                .turn_progress
                .saturating_add(self.cfg.turn_timeout_ms / 2);
        stalled || !t.is_endorser(&t.primary()) || self.primary_lost(now_ms)
    }

    /// Whether the turn made no progress for a whole `turn_timeout_ms`, or its primary has
    /// been lost (`liveness.rs`).
    pub(super) fn stalled(&self, now_ms: u64) -> bool {
        now_ms
            >= self
                .timers
                .turn_progress
                .saturating_add(self.cfg.turn_timeout_ms)
            || self.primary_lost(now_ms)
    }

    /// A committee member proposes to end a stalled turn (the leader orders it if it agrees).
    pub(super) fn maybe_skip(&mut self, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let Some(t) = &self.turns else {
            return;
        };
        if self.pbft.replica.is_none() || primary == self.me {
            return;
        }
        let replaced = !t.is_endorser(&primary);
        if !self.stalled(step.now_ms) && !replaced {
            return;
        }
        let te = wire::TurnEnd {
            turn,
            next: None,
            end_turn: None,
            refused: None,
        };
        let h = self.chain.next_height;
        self.feed_value(h, wire::proposed_value::Kind::TurnEnd(te), step);
    }

    pub(super) fn drive_replica(&mut self, input: ReplicaInput, step: &mut Step<'_>) {
        let Some((turn, primary)) = self.current() else {
            return;
        };
        let skip_ok = self.skip_ok(step.now_ms);
        let Some(replica) = self.pbft.replica.as_mut() else {
            return;
        };
        if replica.turn() != turn {
            return;
        }
        let nc = NodeCheck {
            turn,
            primary,
            skip_ok,
            certified: false,
            validator: step.check,
            regions: &self.regions,
        };
        let members = replica.committee().members().to_vec();
        let acts = replica.handle(input, step.now_ms, &nc);
        let mut refused = Vec::new();
        for a in acts {
            match a {
                ReplicaAction::Broadcast(m) => step.out.push(NodeAction::Multicast {
                    to: members.iter().filter(|k| **k != self.me).copied().collect(),
                    msg: m.to_wire(),
                }),
                ReplicaAction::SetTimer { at_ms } => self.pbft.timer = Some(at_ms),
                ReplicaAction::CancelTimer => self.pbft.timer = None,
                ReplicaAction::Decide(d) => {
                    let dv = wire::DecidedValue {
                        value: Some(d.value),
                        certificate: Some(d.certificate),
                    };
                    self.apply(dv, d.height, d.digest, turn, true, step);
                }
                ReplicaAction::PeerBehind { peer, from_height } => {
                    let req = wire::CatchUpRequest {
                        from_height,
                        max_count: self.cfg.catch_up_batch,
                    };
                    self.serve(peer, &req, step);
                }
                ReplicaAction::CatchUp { .. } => self.request_catch_up(step),
                ReplicaAction::Persist(record) => {
                    self.pbft.restored = None;
                    step.out.push(NodeAction::PersistSafety(record));
                }
                ReplicaAction::Equivocation {
                    signer,
                    what,
                    view,
                    height,
                } => step.out.push(NodeAction::Equivocation {
                    signer,
                    what,
                    view,
                    height,
                }),
                ReplicaAction::Refused { height, value } => refused.push((height, value)),
            }
        }
        for (height, value) in refused {
            self.end_turn_of_faulty_primary(turn, height, value, step);
        }
    }

    /// The primary proposed a block for the next height that this replica refuses whatever
    /// its state (events already committed, a time going back, past the byte limit, ...): the
    /// replica proposes to end the turn now, with the signed proposal as evidence every other
    /// replica checks for itself ([`NodeCheck`]), instead of waiting out the turn timeout. A
    /// Byzantine primary thus costs one round, not a turn timeout, and no honest primary is
    /// ended so: a block it proposes is valid on every honest orderer's chain (a block below
    /// not known yet, or a height decided already, is no one's fault and no evidence).
    fn end_turn_of_faulty_primary(
        &mut self,
        turn: u64,
        height: u64,
        value: wire::ProposedValue,
        step: &mut Step<'_>,
    ) {
        let Some(wire::proposed_value::Kind::Proposal(env)) = value.kind else {
            return;
        };
        if height != self.chain.next_height {
            return;
        }
        // The turn end carries the proposal, gossiped to every node: up to half the frame it
        // still fits with its certificate (a block is at most a quarter); a larger one ends
        // its turn on the turn timeout, as before.
        if env.body.len() > self.cfg.max_message_bytes / 2 {
            return;
        }
        self.stats.faulty_primaries += 1;
        let te = wire::TurnEnd {
            turn,
            next: None,
            end_turn: None,
            refused: Some(env),
        };
        self.feed_value(height, wire::proposed_value::Kind::TurnEnd(te), step);
    }
}
