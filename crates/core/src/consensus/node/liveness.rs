//! Peers the driver lost the connection to. A crashed process's connections close at once, so
//! the driver's word is a much earlier sign of a crash than a timeout: a lost PBFT leader makes
//! the replica move to the next view now, and a turn primary lost for a short grace counts as
//! a stalled turn (its committee ends the turn; endorsers skip a turn that has no committee
//! yet). Each node acts on its own observation, as with the timeouts: a replica agrees to end
//! a turn early only when it lost the primary too, so a Byzantine leader cannot cut an honest
//! primary's turn short. A peer that only looks lost costs a view change or a turn, never
//! safety.

use super::*;

impl ConsensusNode {
    /// How long the turn's primary must stay lost before its turn counts as stalled: a
    /// quarter of the view-change timeout, so a connection that drops and comes straight back
    /// (a reconnect) does not cost the turn.
    pub fn lost_grace_ms(&self) -> u64 {
        self.cfg.view_change_timeout_ms / 4
    }

    pub(super) fn on_peer_lost(&mut self, key: PublicKey, step: &mut Step<'_>) {
        if key == self.me {
            return;
        }
        self.lost.entry(key).or_insert(step.now_ms);
        if self.pbft.replica.is_some() {
            self.drive_replica(ReplicaInput::LeaderLost(key), step);
        }
        let grace_end = step.now_ms.saturating_add(self.lost_grace_ms());
        let r = self.turns.as_mut().and_then(|t| {
            // A turn without a committee ends by endorser skips, at the turns' own deadline.
            (t.primary() == key && t.committee().is_none()).then(|| t.hasten(grace_end))
        });
        if let Some(acts) = r {
            self.turn_actions(acts, step);
        }
    }

    /// When the current turn's primary has been lost long enough to count its turn stalled.
    pub(super) fn primary_lost_until(&self) -> Option<u64> {
        let primary = self.turns.as_ref()?.primary();
        let since = self.lost.get(&primary)?;
        Some(since.saturating_add(self.lost_grace_ms()))
    }

    /// Whether the current turn's primary has been lost for the grace.
    pub(super) fn primary_lost(&self, now_ms: u64) -> bool {
        self.primary_lost_until().is_some_and(|at| now_ms >= at)
    }
}
