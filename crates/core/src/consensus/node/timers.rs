//! Time: the tick handler, periodic re-sends and announcements, and the one driver timer.

use super::*;

impl ConsensusNode {
    pub(super) fn on_tick(
        &mut self,
        now_ms: u64,
        check: &dyn ChainValidator,
        out: &mut Vec<NodeAction>,
    ) {
        let names: Vec<String> = self.regions.keys().cloned().collect();
        for name in names {
            let due = self
                .regions
                .get(&name)
                .and_then(|r| r.election.deadline())
                .is_some_and(|d| now_ms >= d);
            if due {
                self.election_input(&name, ElectionInput::Tick, now_ms, out);
            }
        }
        if self.replica_timer.is_some_and(|t| now_ms >= t) {
            self.replica_timer = None;
            self.drive_replica(ReplicaInput::Timeout, now_ms, check, out);
        }
        if self.turns.is_some() {
            self.maybe_skip(now_ms, check, out);
            self.turn_input(TurnInput::Tick, now_ms, check, out);
        }
        if now_ms >= self.resend_at {
            self.resend_at = now_ms.saturating_add(self.cfg.view_change_timeout_ms.max(1));
            self.resend(now_ms, out);
        }
        if now_ms >= self.announce_at {
            self.announce_at = now_ms.saturating_add(self.cfg.turn_timeout_ms.max(1));
            self.announce(out);
        }
        let quiet = self.cfg.view_change_timeout_ms.saturating_mul(2);
        if now_ms >= self.last_progress.saturating_add(quiet) {
            self.request_catch_up(now_ms, out);
        }
    }

    pub(super) fn resend(&mut self, _now_ms: u64, out: &mut Vec<NodeAction>) {
        if let Some(r) = self.regions.get(&self.region) {
            if r.election.endorser().is_none()
                && let Some(v) = &r.my_vote
                && v.view == r.election.view()
            {
                out.push(NodeAction::Broadcast(msg(Kind::ElectionVote(v.clone()))));
            }
            if let Some(c) = &r.my_crash
                && c.view == r.election.view()
            {
                out.push(NodeAction::Broadcast(msg(Kind::CrashSignal(c.clone()))));
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
        if let Some((t, h, env)) = &self.my_proposal
            && *t == turn
            && *h >= self.next_height
        {
            out.push(NodeAction::Multicast {
                to: members.clone(),
                msg: msg(Kind::Proposal(env.clone())),
            });
        }
        if let Some((t, env)) = &self.my_end
            && *t == turn
        {
            out.push(NodeAction::Multicast {
                to: members,
                msg: msg(Kind::EndTurn(env.clone())),
            });
        }
    }

    /// Periodic announcements for nodes that missed them: the local endorser's view
    /// certificate, and the primary's beacon.
    pub(super) fn announce(&mut self, out: &mut Vec<NodeAction>) {
        if let Some(r) = self.regions.get(&self.region)
            && r.election.endorser().is_some_and(|v| v.endorser == self.me)
            && let Some(c) = r.election.certificate()
        {
            out.push(NodeAction::Broadcast(msg(Kind::ViewAnnouncement(
                c.clone(),
            ))));
        }
        // The primary and the committee members repeat the turn's beacon: a node that missed it
        // (the primary may have crashed right after sending it) would otherwise neither know
        // the committee nor refuse endorser skips of a turn that has one.
        if let Some(t) = &self.turns
            && (t.primary() == self.me || self.replica.is_some())
            && let Some(b) = t.beacon()
        {
            out.push(NodeAction::Broadcast(msg(Kind::Beacon(b.to_wire()))));
        }
    }

    pub(super) fn arm_timer(&mut self, now_ms: u64, out: &mut Vec<NodeAction>) {
        let mut at = self.resend_at.min(self.announce_at);
        if let Some(t) = self.replica_timer {
            at = at.min(t);
        }
        if let Some(t) = &self.turns {
            if t.deadline_ms() > now_ms {
                at = at.min(t.deadline_ms());
            }
            if self.replica.is_some() {
                let stall = self.turn_progress.saturating_add(self.cfg.turn_timeout_ms);
                if stall > now_ms {
                    at = at.min(stall);
                }
            }
        }
        for r in self.regions.values() {
            if let Some(d) = r.election.deadline() {
                at = at.min(d);
            }
        }
        let at = at.max(now_ms.saturating_add(1));
        if self.timer != Some(at) || at <= now_ms {
            self.timer = Some(at);
            out.push(NodeAction::SetTimer { at_ms: at });
        }
    }
}
