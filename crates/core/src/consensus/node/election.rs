//! Election glue: this node's votes and crash signals in its own region, every region's
//! certificates, and the turn machine started once every region has an endorser.

use super::*;

impl ConsensusNode {
    /// The candidate honest voters pick in round `view`: the preference order rotated by the
    /// round, skipping the one declared crashed.
    pub(super) fn candidate_for(region: &Region) -> Option<PublicKey> {
        let n = region.candidates.len();
        if n == 0 {
            return None;
        }
        let view = region.election.view();
        let start = usize::try_from(view % n as u64).ok()?;
        (0..n)
            .filter_map(|i| region.candidates.get((start + i) % n))
            .find(|c| region.election.excluded() != Some(*c))
            .copied()
    }

    pub(super) fn vote_for_round(&mut self, name: &str, step: &mut Step<'_>) {
        if !self.voter || name != self.region {
            return;
        }
        let Some(region) = self.regions.get_mut(name) else {
            return;
        };
        if region.election.endorser().is_some() {
            return;
        }
        let Some(candidate) = Self::candidate_for(region) else {
            return;
        };
        let view = region.election.view();
        if region.my_vote.as_ref().is_some_and(|v| v.view == view) {
            return;
        }
        match region
            .election
            .handle(ElectionInput::CastVote { candidate }, step.now_ms)
        {
            Ok(acts) => {
                for a in &acts {
                    if let ElectionAction::Broadcast(ElectionMessage::Vote(v)) = a {
                        region.my_vote = Some(v.clone());
                    }
                }
                self.election_actions(name, acts, step);
            }
            Err(_) => self.reject("own vote refused", step),
        }
    }

    pub(super) fn election_input(&mut self, name: &str, input: ElectionInput, step: &mut Step<'_>) {
        let Some(region) = self.regions.get_mut(name) else {
            self.reject("unknown region", step);
            return;
        };
        match region.election.handle(input, step.now_ms) {
            Ok(acts) => self.election_actions(name, acts, step),
            Err(
                ElectionError::WrongRound { .. }
                | ElectionError::Duplicate { .. }
                | ElectionError::WrongRegion { .. },
            ) => {}
            Err(ElectionError::Equivocation { .. }) => self.reject("election equivocation", step),
            Err(ElectionError::BadSignature { .. }) => self.reject("forged election message", step),
            Err(_) => self.reject("invalid election message", step),
        }
    }

    pub(super) fn election_actions(
        &mut self,
        name: &str,
        acts: Vec<ElectionAction>,
        step: &mut Step<'_>,
    ) {
        for a in acts {
            match a {
                ElectionAction::Broadcast(m) => step.out.push(NodeAction::Broadcast(match m {
                    ElectionMessage::Vote(v) => msg(Kind::ElectionVote(v)),
                    ElectionMessage::Crash(c) => msg(Kind::CrashSignal(c)),
                    ElectionMessage::Certificate(c) => msg(Kind::ViewAnnouncement(c)),
                })),
                ElectionAction::Elected { view, .. } => self.on_elected(view, step),
                ElectionAction::NewRound { .. } => self.vote_for_round(name, step),
                ElectionAction::RoundTimedOut { .. } => {
                    self.stats.election_timeouts += 1;
                    self.vote_for_round(name, step);
                }
            }
        }
    }

    pub(super) fn on_elected(&mut self, view: EndorserView, step: &mut Step<'_>) {
        self.stats.elections += 1;
        step.out.push(NodeAction::Elected {
            region: view.region.clone(),
            view: view.view,
            endorser: view.endorser,
        });
        if let Some(r) = self.regions.get_mut(&view.region) {
            r.last_elected = Some(view.clone());
        }
        if self.turns.is_some() {
            let r = self
                .turns
                .as_mut()
                .map(|t| t.handle(TurnInput::ViewChanged(view), step.now_ms));
            if let Some(Ok(acts)) = r {
                // A turn without a beacon passed to the new endorser (`Turns::take_over`).
                let took_over = acts.iter().any(|a| matches!(a, TurnAction::NewTurn { .. }));
                self.turn_actions(acts, step);
                if took_over {
                    self.stats.take_overs += 1;
                    self.after_turn_change(step);
                }
            }
            return;
        }
        // Every region's last elected endorser, not its current one: a region whose round
        // opened since (a crash quorum, a candidate removed) keeps it in the turn machine
        // until the round elects, as on the nodes that started earlier. Counting only current
        // endorsers, a node restarted into such a round waited for turns until it ended.
        let views: Vec<EndorserView> = self
            .regions
            .values()
            .filter_map(|r| r.last_elected.clone())
            .collect();
        if views.len() < self.regions.len() {
            return;
        }
        let key = self.endorser.then(|| self.key.clone());
        match Turns::new(
            self.cfg.clone(),
            key,
            views,
            self.orderers.clone(),
            self.start,
            step.now_ms,
        ) {
            Ok((t, acts)) => {
                self.turns = Some(t);
                self.turn_actions(acts, step);
                self.apply_resume(step);
                self.maybe_need_proposal(step);
            }
            Err(_) => {
                self.reject("turns refused the endorsers", step);
                return;
            }
        }
        // Messages kept until now are replayed once this input is handled (with its check).
        self.parked.replay_early = true;
    }

    pub(super) fn on_suspect(&mut self, name: &str, step: &mut Step<'_>) {
        if !self.voter || name != self.region {
            self.reject("not a voter of that region", step);
            return;
        }
        let Some(region) = self.regions.get_mut(name) else {
            return;
        };
        let view = region.election.view();
        if region.my_crash.as_ref().is_some_and(|c| c.view == view) {
            return;
        }
        match region
            .election
            .handle(ElectionInput::SignalCrash, step.now_ms)
        {
            Ok(acts) => {
                for a in &acts {
                    if let ElectionAction::Broadcast(ElectionMessage::Crash(c)) = a {
                        region.my_crash = Some(c.clone());
                    }
                }
                self.election_actions(name, acts, step);
            }
            Err(_) => self.reject("no endorser to suspect", step),
        }
    }
}
