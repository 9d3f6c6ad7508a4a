//! PBFT inside one turn's committee, as a state machine in the style of sawtooth-pbft: one
//! height at a time; pre-prepare, prepare and commit with 2f+1 quorums of signed messages; view
//! change and new view carrying prepared certificates; checkpoints with log garbage collection;
//! a bounded buffer for messages ahead of the replica. Decided values leave with their commit
//! certificate.
//!
//! The replica never reads a clock: the driver passes `now_ms` and feeds [`ReplicaInput::Timeout`]
//! when the deadline of the last [`ReplicaAction::SetTimer`] passes.

pub mod buffer;
pub mod checkpoint;
mod evidence;
mod io;
pub mod log;
pub mod messages;
pub mod safety;
pub mod view_change;

use crate::consensus::beacon::Beacon;
use crate::consensus::certificate;
use crate::consensus::committee::Committee;
use crate::consensus::config::ConsensusConfig;
use crate::consensus::statement::{self, VoteKind};
pub use crate::consensus::value_check::ValueCheck;
use crate::hash::Hash32;
use crate::keys::{PublicKey, SigningKey};
use crate::wire;
pub use buffer::{FutureBuffer, PbftMessage};
use checkpoint::Checkpoints;
pub use io::{Decision, ReplicaAction, ReplicaInput, ReplicaStats};
use log::MessageLog;
pub use messages::PbftError;
use messages::{CheckedVote, NewViewPlan};
use safety::SignedLog;
pub use safety::{SafetyRecord, SafetyRecordError, SignedKind};
use std::collections::{BTreeMap, VecDeque};
use view_change::{VIEW_WINDOW, ViewChanges};

/// How many heights ahead the replica buffers messages or queues proposals.
pub const HEIGHT_WINDOW: u64 = 16;

/// One member's PBFT state for one turn.
#[derive(Debug)]
pub struct Replica {
    cfg: ConsensusConfig,
    key: SigningKey,
    me: PublicKey,
    turn: u64,
    beacon: Option<Beacon>,
    committee: Committee,
    start_height: u64,
    next_height: u64,
    view: u64,
    changing: Option<u64>,
    plan: Option<NewViewPlan>,
    last_cert: Option<wire::CommitCertificate>,
    prepared: Option<wire::PreparedCertificate>,
    pending: BTreeMap<u64, wire::ProposedValue>,
    /// The digest each pending value checked to, and the previous id it was checked against:
    /// the same bytes in the leader's pre-prepare are not checked again (a ledger block's check
    /// is two signature verifications per event).
    checked: BTreeMap<u64, (Option<Hash32>, Hash32)>,
    /// Proposals that arrived before this replica decided the height below them: they cannot
    /// be checked yet (their previous block is unknown) and are checked once it is decided.
    /// Dropping them left the turn waiting for the primary's periodic re-send.
    unchecked: BTreeMap<u64, wire::ProposedValue>,
    /// Primary proposals refused with blame since the last input, reported as
    /// [`ReplicaAction::Refused`].
    refused: Vec<(u64, wire::ProposedValue)>,
    log: MessageLog,
    buffer: FutureBuffer,
    view_changes: ViewChanges,
    checkpoints: Checkpoints,
    timer: Option<u64>,
    attempts: u32,
    inbox: VecDeque<PbftMessage>,
    stats: ReplicaStats,
    last_digest: Option<(u64, Hash32)>,
    /// What this replica signed, persisted before it leaves (see [`safety`]).
    signed: SignedLog,
    /// Members' first votes per slot, for equivocation evidence.
    votes_seen: evidence::VoteMemory,
}

impl Replica {
    /// A member of `committee` for `turn`, starting at `start_height` in view 0. `beacon` is the
    /// turn's beacon, copied into certificates as evidence.
    pub fn new(
        cfg: ConsensusConfig,
        key: SigningKey,
        turn: u64,
        beacon: Option<Beacon>,
        committee: Committee,
        start_height: u64,
    ) -> Self {
        let me = key.public();
        let buffer = FutureBuffer::new(cfg.future_buffer_per_sender);
        let checkpoints = Checkpoints::new(cfg.checkpoint_interval, start_height.saturating_sub(1));
        let last_digest = beacon
            .as_ref()
            .map(|b| (start_height.saturating_sub(1), b.chain_hash));
        Self {
            cfg,
            key,
            me,
            turn,
            beacon,
            committee,
            start_height,
            next_height: start_height,
            view: 0,
            changing: None,
            plan: None,
            last_cert: None,
            prepared: None,
            pending: BTreeMap::new(),
            checked: BTreeMap::new(),
            unchecked: BTreeMap::new(),
            refused: Vec::new(),
            log: MessageLog::default(),
            buffer,
            view_changes: ViewChanges::default(),
            checkpoints,
            timer: None,
            attempts: 0,
            inbox: VecDeque::new(),
            stats: ReplicaStats::default(),
            last_digest,
            signed: SignedLog::default(),
            votes_seen: Default::default(),
        }
    }

    /// The id this replica knows at `height - 1`, for chaining checks.
    fn previous(&self, height: u64) -> Option<Hash32> {
        match self.last_digest {
            Some((h, d)) if h.saturating_add(1) == height => Some(d),
            _ => None,
        }
    }

    /// The turn this replica runs.
    pub fn turn(&self) -> u64 {
        self.turn
    }
    /// The current view.
    pub fn view(&self) -> u64 {
        self.view
    }
    /// The first undecided height.
    pub fn next_height(&self) -> u64 {
        self.next_height
    }
    /// Whether a view change is under way.
    pub fn is_changing_view(&self) -> bool {
        self.changing.is_some()
    }
    /// The committee.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }
    /// Counters.
    pub fn stats(&self) -> &ReplicaStats {
        &self.stats
    }
    /// The stable checkpoint height.
    pub fn stable_checkpoint(&self) -> u64 {
        self.checkpoints.stable()
    }
    /// Slots in the message log.
    pub fn log_len(&self) -> usize {
        self.log.len()
    }
    /// Messages waiting in the future buffer.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }
    /// Whether this member leads the current view.
    pub fn is_leader(&self) -> bool {
        self.committee.leader(self.view) == Some(&self.me)
    }

    /// Moves a replica created after its turn began to the first height its node has not
    /// decided yet; `last_cert` is the certificate of `next_height - 1` when that height belongs
    /// to this turn (the proof its view changes carry). Lower heights are ignored.
    /// `previous` is the id decided at `next_height - 1`.
    pub fn resume_at(
        &mut self,
        next_height: u64,
        last_cert: Option<wire::CommitCertificate>,
        previous: Hash32,
    ) {
        if next_height <= self.next_height {
            return;
        }
        self.next_height = next_height;
        self.last_digest = Some((next_height - 1, previous));
        self.last_cert = last_cert.filter(|c| c.turn == self.turn);
        self.prepared = None;
        self.pending.retain(|h, _| *h >= next_height);
        self.checked.retain(|h, _| *h >= next_height);
    }

    /// The digest of `value` at `height` if exactly these bytes were already checked against
    /// the same previous block (see `checked`).
    fn known_digest(
        &self,
        height: u64,
        previous: Option<&Hash32>,
        value: &wire::ProposedValue,
    ) -> Option<Hash32> {
        let (checked_previous, digest) = self.checked.get(&height)?;
        (checked_previous.as_ref() == previous && self.pending.get(&height) == Some(value))
            .then_some(*digest)
    }

    /// Handles one input at `now_ms`.
    pub fn handle(
        &mut self,
        input: ReplicaInput,
        now_ms: u64,
        check: &dyn ValueCheck,
    ) -> Vec<ReplicaAction> {
        let mut out = Vec::new();
        match input {
            ReplicaInput::Propose { height, value } => {
                // Invalid proposals never arm a timer: only the leader's fault triggers a view
                // change, not the primary's.
                if height > self.next_height && height < self.next_height + HEIGHT_WINDOW {
                    self.unchecked.insert(height, value);
                } else if height == self.next_height {
                    self.check_proposed(height, value, now_ms, check);
                }
            }
            ReplicaInput::Message(m) => self.inbox.push_back(m),
            ReplicaInput::Timeout => self.on_timeout(now_ms, &mut out),
            ReplicaInput::LeaderLost(key) => {
                let view = self.changing.unwrap_or(self.view);
                if key != self.me && self.committee.leader(view) == Some(&key) {
                    self.stats.leaders_lost += 1;
                    self.start_view_change(view.saturating_add(1), now_ms, &mut out);
                }
            }
            ReplicaInput::Decided {
                height,
                value,
                digest,
                certificate,
            } => {
                if height == self.next_height {
                    self.decide(height, value, digest, certificate, &mut out);
                }
            }
        }
        self.run(now_ms, check, &mut out);
        self.flush_safety(&mut out);
        out.extend(
            self.refused
                .drain(..)
                .map(|(height, value)| ReplicaAction::Refused { height, value }),
        );
        out
    }

    fn run(&mut self, now_ms: u64, check: &dyn ValueCheck, out: &mut Vec<ReplicaAction>) {
        // Each round may decide or enter a view, which releases buffered messages.
        loop {
            while let Some(m) = self.inbox.pop_front() {
                if let Err(_e) = self.on_message(m, now_ms, check, out) {
                    self.stats.rejected += 1;
                }
            }
            self.check_unchecked(now_ms, check);
            self.maybe_propose(now_ms, check, out);
            if self.inbox.is_empty() {
                break;
            }
        }
        self.update_timer(now_ms, out);
    }

    fn emit(&mut self, m: PbftMessage, out: &mut Vec<ReplicaAction>) {
        out.push(ReplicaAction::Broadcast(m.clone()));
        self.inbox.push_back(m);
    }

    fn on_message(
        &mut self,
        m: PbftMessage,
        now_ms: u64,
        check: &dyn ValueCheck,
        out: &mut Vec<ReplicaAction>,
    ) -> Result<(), PbftError> {
        match m {
            PbftMessage::PrePrepare(env) => self.on_pre_prepare(env, now_ms, check, out),
            PbftMessage::Vote(v) => self.on_vote(v, out),
            PbftMessage::ViewChange(env) => self.on_view_change(env, now_ms, out),
            PbftMessage::NewView(env) => self.on_new_view(env, out),
        }
    }

    fn is_future(&self, view: u64, height: u64) -> bool {
        height > self.next_height
            || view > self.view
            || (self.changing.is_some() && view >= self.view)
    }

    fn in_window(&self, view: u64, height: u64) -> bool {
        height < self.next_height + HEIGHT_WINDOW && view <= self.view + VIEW_WINDOW
    }

    fn on_pre_prepare(
        &mut self,
        env: wire::SignedEnvelope,
        now_ms: u64,
        check: &dyn ValueCheck,
        out: &mut Vec<ReplicaAction>,
    ) -> Result<(), PbftError> {
        let pp = messages::check_pre_prepare(&env, self.turn, &self.committee)?;
        if pp.height < self.next_height || pp.view < self.view {
            return Ok(());
        }
        if self.is_future(pp.view, pp.height) {
            if self.in_window(pp.view, pp.height) {
                let leader = *self.committee.leader(pp.view).ok_or(PbftError::NotMember)?;
                self.buffer
                    .push(leader, pp.view, pp.height, PbftMessage::PrePrepare(env));
            }
            return Ok(());
        }
        if let Some(existing) = &self.log.slot_mut(pp.height, pp.view).pre_prepare {
            if existing.digest != pp.digest {
                // Two different signed pre-prepares for one slot: the leader equivocates.
                let leader = *self.committee.leader(pp.view).ok_or(PbftError::NotMember)?;
                self.evidence(leader, "pre-prepare", pp.view, pp.height, out);
                self.start_view_change(self.view + 1, now_ms, out);
            }
            return Ok(());
        }
        // The primary's proposal of this height may still wait in `unchecked` (it arrived
        // before the block under it was decided, and the decision released this pre-prepare
        // first): check it now, so the pre-prepare reuses that check instead of repeating it.
        self.check_unchecked(now_ms, check);
        let previous = self.previous(pp.height);
        let valid = match self.known_digest(pp.height, previous.as_ref(), &pp.value) {
            Some(d) => d == pp.digest,
            None => match check.check_after(pp.height, previous.as_ref(), &pp.value, now_ms) {
                Ok(d) => d == pp.digest,
                Err(_) => false,
            },
        };
        let carried_ok = match &self.plan {
            Some(p) if p.view == pp.view && p.start_height == pp.height => {
                p.carried.as_ref().is_none_or(|(d, _)| *d == pp.digest)
            }
            _ => true,
        };
        if !valid || !carried_ok {
            // A leader that pre-prepares an invalid value (or drops a prepared one) is faulty.
            self.stats.invalid_values += 1;
            self.start_view_change(self.view + 1, now_ms, out);
            return Err(PbftError::Invalid {
                what: "pre-prepare",
                why: "invalid value",
            });
        }
        let (view, height, digest) = (pp.view, pp.height, pp.digest);
        if !self
            .signed
            .allow(SignedKind::Prepare, view, height, &digest)
        {
            // Before a restart this replica prepared another value here: it keeps its word
            // (the view change the timer brings carries that value if it was prepared).
            return Ok(());
        }
        self.log.slot_mut(height, view).pre_prepare = Some(pp);
        let v = messages::sign_vote(
            &self.key,
            VoteKind::Prepare,
            self.turn,
            view,
            height,
            &digest,
        );
        self.emit(PbftMessage::Vote(v), out);
        self.progress(out);
        Ok(())
    }

    fn on_vote(&mut self, v: wire::Vote, out: &mut Vec<ReplicaAction>) -> Result<(), PbftError> {
        let v = messages::check_vote(&v, self.turn, &self.committee)?;
        if v.kind == VoteKind::Checkpoint {
            let horizon = self.next_height + HEIGHT_WINDOW * self.cfg.checkpoint_interval.max(1);
            if let Some((h, _)) = self
                .checkpoints
                .record(&v, self.committee.quorum(), horizon)
            {
                self.stats.stable_checkpoints += 1;
                self.log.collect_garbage(h);
                if h >= self.next_height {
                    out.push(ReplicaAction::CatchUp {
                        from_height: self.next_height,
                    });
                }
            }
            return Ok(());
        }
        self.vote_conflict(&v, out);
        if v.height < self.next_height || v.view < self.view {
            return Ok(());
        }
        if self.is_future(v.view, v.height) {
            if v.height > self.next_height && v.kind == VoteKind::Commit {
                // A member committed a later height: this replica missed a decision.
                out.push(ReplicaAction::CatchUp {
                    from_height: self.next_height,
                });
            }
            if self.in_window(v.view, v.height) {
                let (voter, view, height) = (v.voter, v.view, v.height);
                self.buffer
                    .push(voter, view, height, PbftMessage::Vote(v.wire));
            }
            return Ok(());
        }
        self.log.record_vote(v);
        self.progress(out);
        Ok(())
    }

    /// Moves the current slot forward: prepared → send commit; committed → decide.
    fn progress(&mut self, out: &mut Vec<ReplicaAction>) {
        let (h, view, q) = (self.next_height, self.view, self.committee.quorum());
        let Some(slot) = self.log.slot(h, view) else {
            return;
        };
        let Some(pp) = slot.pre_prepare.clone() else {
            return;
        };
        let prepares: Vec<CheckedVote> =
            slot.prepares_for(&pp.digest).into_iter().cloned().collect();
        if !slot.sent_commit
            && prepares.len() >= q
            && self.signed.allow(SignedKind::Commit, view, h, &pp.digest)
        {
            self.prepared = Some(wire::PreparedCertificate {
                pre_prepare: Some(pp.envelope.clone()),
                prepares: prepares.iter().take(q).map(|v| v.wire.clone()).collect(),
            });
            self.log.slot_mut(h, view).sent_commit = true;
            let c =
                messages::sign_vote(&self.key, VoteKind::Commit, self.turn, view, h, &pp.digest);
            self.emit(PbftMessage::Vote(c), out);
        }
        let Some(slot) = self.log.slot(h, view) else {
            return;
        };
        let commits = slot.commits_for(&pp.digest);
        if slot.sent_commit && commits.len() >= q {
            let commits: Vec<_> = commits.into_iter().take(q).collect();
            let cert = certificate::build(
                self.turn,
                view,
                h,
                pp.digest,
                &commits,
                self.beacon.as_ref(),
            );
            self.decide(h, pp.value, pp.digest, cert, out);
        }
    }

    fn decide(
        &mut self,
        height: u64,
        value: wire::ProposedValue,
        digest: Hash32,
        cert: wire::CommitCertificate,
        out: &mut Vec<ReplicaAction>,
    ) {
        out.push(ReplicaAction::Decide(Box::new(Decision {
            height,
            value,
            digest,
            certificate: cert.clone(),
        })));
        self.last_cert = Some(cert);
        self.last_digest = Some((height, digest));
        self.next_height = height + 1;
        self.prepared = None;
        self.attempts = 0;
        self.timer = None;
        self.pending.retain(|h, _| *h > height);
        self.checked.retain(|h, _| *h > height);
        // A vote a few heights back can still be a late equivocation worth naming.
        self.votes_seen
            .forget_below(height.saturating_sub(HEIGHT_WINDOW));
        if self.checkpoints.is_checkpoint(height) {
            let v = messages::sign_vote(
                &self.key,
                VoteKind::Checkpoint,
                self.turn,
                self.view,
                height,
                &digest,
            );
            self.emit(PbftMessage::Vote(v), out);
        }
        self.release_buffer();
    }

    fn release_buffer(&mut self) {
        if self.changing.is_none() {
            let ready = self.buffer.take_ready(self.view, self.next_height);
            self.inbox.extend(ready);
        }
    }

    /// Checks the proposal kept for the next height, now that the height below it is decided.
    fn check_unchecked(&mut self, now_ms: u64, check: &dyn ValueCheck) {
        let h = self.next_height;
        self.unchecked.retain(|k, _| *k >= h);
        let Some(value) = self.unchecked.remove(&h) else {
            return;
        };
        self.check_proposed(h, value, now_ms, check);
    }

    /// Checks a value proposed for the next height: pending once valid; a primary's block
    /// proposal refused with blame is kept to report.
    fn check_proposed(
        &mut self,
        height: u64,
        value: wire::ProposedValue,
        now_ms: u64,
        check: &dyn ValueCheck,
    ) {
        let previous = self.previous(height);
        match check.check_after(height, previous.as_ref(), &value, now_ms) {
            Ok(digest) => {
                self.pending.insert(height, value);
                self.checked.insert(height, (previous, digest));
            }
            Err(e)
                if e.blame
                    && matches!(value.kind, Some(wire::proposed_value::Kind::Proposal(_))) =>
            {
                self.refused.push((height, value));
            }
            Err(_) => {}
        }
    }

    fn maybe_propose(&mut self, now_ms: u64, check: &dyn ValueCheck, out: &mut Vec<ReplicaAction>) {
        if self.changing.is_some() || !self.is_leader() {
            return;
        }
        let (h, view) = (self.next_height, self.view);
        if self
            .log
            .slot(h, view)
            .is_some_and(|s| s.pre_prepare.is_some())
        {
            return;
        }
        let carried = match &self.plan {
            Some(p) if p.view == view && p.start_height == h => p.carried.clone(),
            _ => None,
        };
        let value = match carried {
            Some((_, v)) => v,
            None => match self.pending.get(&h) {
                Some(v) => v.clone(),
                None => return,
            },
        };
        let previous = self.previous(h);
        let known = self.known_digest(h, previous.as_ref(), &value);
        let Some(digest) =
            known.or_else(|| check.check_after(h, previous.as_ref(), &value, now_ms).ok())
        else {
            self.pending.remove(&h);
            self.checked.remove(&h);
            self.stats.invalid_values += 1;
            return;
        };
        if !self.signed.allow(SignedKind::PrePrepare, view, h, &digest) {
            // Before a restart this leader proposed another value here; the view times out.
            return;
        }
        let body = wire::PrePrepareBody {
            turn: self.turn,
            view,
            height: h,
            leader: self.me.as_bytes().to_vec(),
            value: Some(value),
            digest: digest.0.to_vec(),
        };
        let env = messages::seal(&self.key, statement::PRE_PREPARE, &body);
        self.emit(PbftMessage::PrePrepare(env), out);
    }

    fn on_timeout(&mut self, now_ms: u64, out: &mut Vec<ReplicaAction>) {
        match self.timer {
            Some(at) if now_ms >= at => {
                self.timer = None;
                let target = self.changing.map_or(self.view + 1, |t| t + 1);
                self.start_view_change(target, now_ms, out);
            }
            _ => {}
        }
    }

    fn start_view_change(&mut self, target: u64, now_ms: u64, out: &mut Vec<ReplicaAction>) {
        if self.changing.is_some_and(|t| t >= target) || target <= self.view {
            return;
        }
        self.changing = Some(target);
        self.signed.touch();
        self.stats.view_changes_started += 1;
        self.attempts = self.attempts.saturating_add(1);
        self.timer = None;
        let prepared = self.prepared.clone().filter(|p| {
            p.pre_prepare
                .as_ref()
                .and_then(|e| {
                    <wire::PrePrepareBody as prost::Message>::decode(e.body.as_slice()).ok()
                })
                .is_some_and(|b| b.height == self.next_height)
        });
        let body = wire::ViewChangeBody {
            turn: self.turn,
            new_view: target,
            next_height: self.next_height,
            last_decided: if self.next_height > self.start_height {
                self.last_cert.clone()
            } else {
                None
            },
            prepared,
            sender: self.me.as_bytes().to_vec(),
        };
        let env = messages::seal(&self.key, statement::VIEW_CHANGE, &body);
        self.emit(PbftMessage::ViewChange(env), out);
        self.update_timer(now_ms, out);
    }

    fn on_view_change(
        &mut self,
        env: wire::SignedEnvelope,
        now_ms: u64,
        out: &mut Vec<ReplicaAction>,
    ) -> Result<(), PbftError> {
        let vc = messages::check_view_change(&env, self.turn, self.start_height, &self.committee)?;
        if vc.next_height < self.next_height && vc.sender != self.me {
            out.push(ReplicaAction::PeerBehind {
                peer: vc.sender,
                from_height: vc.next_height,
            });
        }
        if vc.new_view <= self.view || vc.new_view > self.view + VIEW_WINDOW {
            return Ok(());
        }
        if vc.next_height > self.next_height {
            out.push(ReplicaAction::CatchUp {
                from_height: self.next_height,
            });
        }
        let view = vc.new_view;
        self.view_changes.insert(vc);
        let current = self.changing.unwrap_or(self.view);
        if let Some(join) = self
            .view_changes
            .joinable(current, self.committee.weak_quorum())
        {
            self.start_view_change(join, now_ms, out);
        }
        let vcs = self.view_changes.for_view(view);
        if vcs.len() >= self.committee.quorum()
            && self.committee.leader(view) == Some(&self.me)
            && self.view_changes.mark_new_view_sent(view)
        {
            let body = wire::NewViewBody {
                turn: self.turn,
                view,
                view_changes: vcs
                    .iter()
                    .take(self.committee.quorum())
                    .map(|v| v.envelope.clone())
                    .collect(),
                leader: self.me.as_bytes().to_vec(),
            };
            let env = messages::seal(&self.key, statement::NEW_VIEW, &body);
            self.emit(PbftMessage::NewView(env), out);
        }
        Ok(())
    }

    fn on_new_view(
        &mut self,
        env: wire::SignedEnvelope,
        out: &mut Vec<ReplicaAction>,
    ) -> Result<(), PbftError> {
        let b = <wire::NewViewBody as prost::Message>::decode(env.body.as_slice())
            .map_err(|_| PbftError::Decode("new-view"))?;
        if b.view <= self.view || b.view > self.view + VIEW_WINDOW {
            return Ok(());
        }
        let plan = messages::check_new_view(&env, self.turn, self.start_height, &self.committee)?;
        if plan.start_height > self.next_height {
            out.push(ReplicaAction::CatchUp {
                from_height: self.next_height,
            });
        }
        self.view = plan.view;
        self.changing = None;
        self.signed.touch();
        self.stats.views_entered += 1;
        self.log.drop_views_below(self.next_height, self.view);
        self.view_changes.forget_through(self.view);
        self.plan = Some(plan);
        self.timer = None;
        self.release_buffer();
        Ok(())
    }

    fn wants_timer(&self) -> bool {
        self.changing.is_some()
            || !self.pending.is_empty()
            || self
                .log
                .slot(self.next_height, self.view)
                .is_some_and(|s| s.pre_prepare.is_some())
            || self
                .plan
                .as_ref()
                .is_some_and(|p| p.view == self.view && p.start_height >= self.next_height)
    }

    fn update_timer(&mut self, now_ms: u64, out: &mut Vec<ReplicaAction>) {
        if self.wants_timer() {
            if self.timer.is_none() {
                let backoff = 1u64 << self.attempts.min(4);
                let at = now_ms + self.cfg.view_change_timeout_ms.saturating_mul(backoff);
                self.timer = Some(at);
                out.push(ReplicaAction::SetTimer { at_ms: at });
            }
        } else if self.timer.take().is_some() {
            out.push(ReplicaAction::CancelTimer);
        }
    }
}
