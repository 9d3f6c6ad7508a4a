//! Time: the tick handler, periodic re-sends and announcements, and the one driver timer.

use super::*;

/// Deadlines and the times progress was last seen.
pub(super) struct Timers {
    /// The deadline the driver's timer holds (the last `SetTimer`), if any.
    pub(super) armed: Option<u64>,
    /// When to re-send own votes, crash signals, proposal and end of turn.
    pub(super) resend_at: u64,
    /// When to repeat the view certificate and the beacon.
    pub(super) announce_at: u64,
    /// Last decision or commit: after a quiet spell the node asks to catch up.
    pub(super) last_progress: u64,
    /// No catch-up request before this time...
    pub(super) catch_up_at: u64,
    /// ...but for one naming a peer that showed a later value, for a gap or a peer other than
    /// the last request's (its height and the peer it named).
    pub(super) last_catch_up: Option<(u64, Option<PublicKey>)>,
    /// Last progress of the current turn (its start or its last decision).
    pub(super) turn_progress: u64,
}

impl Timers {
    pub(super) fn new(cfg: &ConsensusConfig, now_ms: u64) -> Self {
        Self {
            armed: None,
            resend_at: now_ms.saturating_add(cfg.view_change_timeout_ms),
            announce_at: now_ms.saturating_add(cfg.turn_timeout_ms / 2),
            last_progress: now_ms,
            catch_up_at: now_ms,
            last_catch_up: None,
            turn_progress: now_ms,
        }
    }
}

impl ConsensusNode {
    pub(super) fn on_tick(&mut self, step: &mut Step<'_>) {
        let names: Vec<String> = self.regions.keys().cloned().collect();
        for name in names {
            let due = self
                .regions
                .get(&name)
                .and_then(|r| r.election.deadline())
                .is_some_and(|d| step.now_ms >= d);
            if due {
                self.election_input(&name, ElectionInput::Tick, step);
            }
        }
        if self.pbft.timer.is_some_and(|t| step.now_ms >= t) {
            self.pbft.timer = None;
            self.drive_replica(ReplicaInput::Timeout, step);
        }
        if self.turns.is_some() {
            self.maybe_skip(step);
            self.turn_input(TurnInput::Tick, step);
        }
        if step.now_ms >= self.timers.resend_at {
            self.timers.resend_at = step
                .now_ms
                .saturating_add(self.cfg.view_change_timeout_ms.max(1));
            self.resend(step);
        }
        if step.now_ms >= self.timers.announce_at {
            self.timers.announce_at = step.now_ms.saturating_add(self.cfg.turn_timeout_ms.max(1));
            self.announce(step);
        }
        let quiet = self.cfg.view_change_timeout_ms.saturating_mul(2);
        if step.now_ms >= self.timers.last_progress.saturating_add(quiet) {
            self.request_catch_up(step);
        }
    }

    pub(super) fn resend(&mut self, step: &mut Step<'_>) {
        if let Some(r) = self.regions.get(&self.region) {
            if r.election.endorser().is_none()
                && let Some(v) = &r.my_vote
                && v.view == r.election.view()
            {
                step.out
                    .push(NodeAction::Broadcast(msg(Kind::ElectionVote(v.clone()))));
            }
            if let Some(c) = &r.my_crash
                && c.view == r.election.view()
            {
                step.out
                    .push(NodeAction::Broadcast(msg(Kind::CrashSignal(c.clone()))));
            }
        }
        let Some((turn, primary)) = self.current() else {
            return;
        };
        if primary != self.me {
            return;
        }
        let Some(members) = self.committee_members() else {
            return;
        };
        if let Some((t, h, env)) = &self.as_primary.proposal
            && *t == turn
            && *h >= self.chain.next_height
        {
            step.out.push(NodeAction::Multicast {
                to: members.clone(),
                msg: msg(Kind::Proposal(env.clone())),
            });
        }
        if let Some((t, env)) = &self.as_primary.end
            && *t == turn
        {
            step.out.push(NodeAction::Multicast {
                to: members,
                msg: msg(Kind::EndTurn(env.clone())),
            });
        }
    }

    /// Periodic announcements for nodes that missed them: the local endorser's view
    /// certificate, and the primary's beacon.
    pub(super) fn announce(&mut self, step: &mut Step<'_>) {
        if let Some(r) = self.regions.get(&self.region)
            && r.election.endorser().is_some_and(|v| v.endorser == self.me)
            && let Some(c) = r.election.certificate()
        {
            step.out
                .push(NodeAction::Broadcast(msg(Kind::ViewAnnouncement(
                    c.clone(),
                ))));
        }
        // The primary and the committee members repeat the turn's beacon: a node that missed it
        // (the primary may have crashed right after sending it) would otherwise neither know
        // the committee nor refuse endorser skips of a turn that has one.
        if let Some(t) = &self.turns
            && (t.primary() == self.me || self.pbft.replica.is_some())
            && let Some(b) = t.beacon()
        {
            step.out
                .push(NodeAction::Broadcast(msg(Kind::Beacon(b.to_wire()))));
        }
    }

    pub(super) fn arm_timer(&mut self, step: &mut Step<'_>) {
        let mut at = self.timers.resend_at.min(self.timers.announce_at);
        if let Some(t) = self.pbft.timer {
            at = at.min(t);
        }
        if let Some(t) = &self.turns {
            if t.deadline_ms() > step.now_ms {
                at = at.min(t.deadline_ms());
            }
            if self.pbft.replica.is_some() {
                let stall = self
                    .timers
                    .turn_progress
                    .saturating_add(self.cfg.turn_timeout_ms);
                if stall > step.now_ms {
                    at = at.min(stall);
                }
                if let Some(lost) = self.primary_lost_until()
                    && lost > step.now_ms
                {
                    at = at.min(lost);
                }
            }
        }
        for r in self.regions.values() {
            if let Some(d) = r.election.deadline() {
                at = at.min(d);
            }
        }
        let at = at.max(step.now_ms.saturating_add(1));
        if self.timers.armed != Some(at) || at <= step.now_ms {
            self.timers.armed = Some(at);
            step.out.push(NodeAction::SetTimer { at_ms: at });
        }
    }
}
