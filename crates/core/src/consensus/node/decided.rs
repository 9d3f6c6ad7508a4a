//! Decisions: values decided by this node's replica or learned from peers (verified against
//! their certificate first), and blocks the driver committed.

use super::*;

/// The decided chain as this node knows it.
pub(super) struct Chain {
    /// First height not yet decided.
    pub(super) next_height: u64,
    /// Id of the last decided block.
    pub(super) tip: Hash32,
    /// First height the driver has not reported committed.
    pub(super) committed_next: u64,
    /// The last decided block's certificate (a replica resuming mid-turn starts from it).
    pub(super) last_cert: Option<wire::CommitCertificate>,
    /// Decided values kept to answer peers.
    pub(super) recent: BTreeMap<u64, wire::DecidedValue>,
    /// Decided turn ends (the driver's ledger lacks them), by the height they close at.
    pub(super) turn_ends: BTreeMap<u64, wire::DecidedValue>,
    /// The beacon of the tip certificate's turn, for a node restarted mid-turn (`resume.rs`).
    pub(super) resume_beacon: Option<Beacon>,
}

impl Chain {
    pub(super) fn new(start: TurnStart) -> Self {
        Self {
            next_height: start.start_height,
            tip: start.chain_hash,
            committed_next: start.start_height,
            last_cert: None,
            recent: BTreeMap::new(),
            turn_ends: BTreeMap::new(),
            resume_beacon: None,
        }
    }
}

impl ConsensusNode {
    /// Applies a decided value at `self.chain.next_height` (verified by the caller).
    pub(super) fn apply(
        &mut self,
        dv: wire::DecidedValue,
        height: u64,
        id: Hash32,
        turn: u64,
        from_replica: bool,
        step: &mut Step<'_>,
    ) {
        if height != self.chain.next_height {
            return;
        }
        let is_end = matches!(
            dv.value.as_ref().and_then(|v| v.kind.as_ref()),
            Some(wire::proposed_value::Kind::TurnEnd(_))
        );
        let last_of_turn = !is_end && ends_its_turn(&dv);
        if from_replica {
            step.out
                .push(NodeAction::Broadcast(msg(Kind::Decided(dv.clone()))));
        }
        self.timers.last_progress = step.now_ms;
        if self.turns.as_ref().is_some_and(|t| t.turn() == turn) {
            self.timers.turn_progress = step.now_ms;
        }
        if is_end {
            let no_evidence = matches!(
                dv.value.as_ref().and_then(|v| v.kind.as_ref()),
                Some(wire::proposed_value::Kind::TurnEnd(te)) if te.end_turn.is_none()
            );
            self.stats.turn_ends += 1;
            if no_evidence {
                self.stats.skipped_turns += 1;
            }
            self.chain.turn_ends.insert(height, dv);
            while self.chain.turn_ends.len() > 8 {
                self.chain.turn_ends.pop_first();
            }
            let r = self
                .turns
                .as_mut()
                .map(|t| t.advance(turn.saturating_add(1), height, self.chain.tip, step.now_ms));
            if let Some(Ok(acts)) = r {
                self.turn_actions(acts, step);
            }
            self.after_turn_change(step);
            return;
        }
        self.chain.next_height = height.saturating_add(1);
        self.chain.tip = id;
        self.chain.last_cert = dv.certificate.clone();
        self.stats.decided += 1;
        self.chain.recent.insert(height, dv.clone());
        while self.chain.recent.len() > RECENT_CAPACITY {
            self.chain.recent.pop_first();
        }
        // Only a block that ends its turn may carry one (checked with the value).
        let reconfiguration = last_of_turn
            .then(|| Self::decided_reconfiguration(&dv, height, step.check))
            .flatten();
        step.out.push(NodeAction::Decided(Box::new(dv)));
        let r = self.turns.as_mut().map(|t| {
            t.handle(
                TurnInput::BlockDecided {
                    height,
                    turn,
                    block_id: id,
                },
                step.now_ms,
            )
        });
        if let Some(Ok(acts)) = r {
            self.turn_actions(acts, step);
        }
        if !from_replica
            && self.pbft.replica.as_ref().is_some_and(|r| r.turn() == turn)
            && let Some(d) = self.chain.recent.get(&height).cloned()
            && let (Some(value), Some(certificate)) = (d.value, d.certificate)
        {
            // Keep the replica in step with what the node learned elsewhere.
            let input = ReplicaInput::Decided {
                height,
                value,
                digest: id,
                certificate,
            };
            self.drive_replica(input, step);
        }
        if last_of_turn {
            // Before the next turn begins: its committee is drawn from the new membership.
            if let Some(rc) = reconfiguration {
                self.reconfigure(rc, step);
            }
            self.end_turn_with(turn, height, id, step);
        }
        self.after_turn_change(step);
    }

    /// A decided value from peer `from` (gossip or catch-up): verify and apply, or keep for
    /// later and ask for what lies between (`from` first: it holds a later value).
    pub(super) fn on_decided_value(
        &mut self,
        from: PublicKey,
        dv: wire::DecidedValue,
        step: &mut Step<'_>,
    ) {
        let Some(height) = dv.certificate.as_ref().map(|c| c.height) else {
            self.reject("decided value without certificate", step);
            return;
        };
        if height < self.chain.next_height
            || self
                .turns
                .as_ref()
                .zip(dv.certificate.as_ref())
                .is_some_and(|(t, c)| c.turn < t.turn())
        {
            // Already decided here, or a turn this node has left.
            return;
        }
        if height > self.chain.next_height {
            if self
                .parked
                .decided
                .offer(self.chain.next_height, dv)
                .is_err()
            {
                self.reject("malformed decided value", step);
            }
            self.request_catch_up_from(Some(from), step);
            return;
        }
        self.verify_and_apply(dv, step);
        self.apply_parked(step);
    }

    /// Applies the decided values kept for the heights this node has reached, in order.
    fn apply_parked(&mut self, step: &mut Step<'_>) {
        while let Some(next) = self.parked.decided.take(self.chain.next_height) {
            let before = (
                self.chain.next_height,
                self.turns.as_ref().map(|t| t.turn()),
            );
            self.verify_and_apply(next, step);
            if (
                self.chain.next_height,
                self.turns.as_ref().map(|t| t.turn()),
            ) == before
            {
                break;
            }
        }
    }

    pub(super) fn verify_and_apply(&mut self, dv: wire::DecidedValue, step: &mut Step<'_>) {
        match self.verify_decided(&dv, step.now_ms, step.check) {
            Ok((height, id, turn, beacon)) => {
                let current = self.turns.as_ref().map(|t| t.turn());
                if let Some(b) = beacon {
                    if current.is_some_and(|c| turn > c) {
                        // A certificate of a later turn: its predecessors ended; enter it.
                        let r = self
                            .turns
                            .as_mut()
                            .map(|t| t.advance(turn, b.start_height, b.chain_hash, step.now_ms));
                        match r {
                            Some(Ok(acts)) => self.turn_actions(acts, step),
                            _ => {
                                self.reject("cannot enter the certificate's turn", step);
                                return;
                            }
                        }
                    }
                    // The certificate's beacon gives this node the turn's committee.
                    self.turn_input(TurnInput::Beacon(b.to_wire()), step);
                }
                self.apply(dv, height, id, turn, false, step);
            }
            Err(reason) => self.reject(reason, step),
        }
    }

    /// Verifies a decided value at this node's next height. Returns its height, id, turn and,
    /// for a later turn, the beacon to enter it with.
    pub(super) fn verify_decided(
        &self,
        dv: &wire::DecidedValue,
        now_ms: u64,
        check: &dyn ChainValidator,
    ) -> Result<(u64, Hash32, u64, Option<Beacon>), &'static str> {
        let turns = self.turns.as_ref().ok_or("endorsers not known yet")?;
        let cert = dv.certificate.as_ref().ok_or("no certificate")?;
        let value = dv.value.as_ref().ok_or("no value")?;
        let current = turns.turn();
        if cert.turn < current {
            return Err("decided value of an earlier turn");
        }
        let (verified, beacon) = if cert.turn == current
            && let Some(c) = turns.committee()
        {
            let v = certificate::verify_with_committee(cert, c).map_err(|_| "bad certificate")?;
            (v, None)
        } else {
            let v = certificate::verify(cert, &self.orderers, self.cfg.committee_size)
                .map_err(|_| "bad certificate")?;
            let b = Beacon::from_parts(
                cert.turn,
                &cert.beacon_chain_hash,
                cert.beacon_start_height,
                &cert.primary_key,
                &cert.beacon_signature,
            )
            .map_err(|_| "bad beacon evidence")?;
            if cert.turn == current {
                // This node lacks the beacon: it must be the turn's.
                if b.primary != turns.primary()
                    || b.start_height != turns.start_height()
                    || b.chain_hash != turns.chain_hash()
                {
                    return Err("beacon evidence for another turn start");
                }
                (v, Some(b))
            } else {
                self.check_later_turn(&b, turns)?;
                (v, Some(b))
            }
        };
        if verified.height != self.chain.next_height {
            return Err("certificate for another height");
        }
        let primary = match &beacon {
            Some(b) => b.primary,
            None => turns.primary(),
        };
        let nc = NodeCheck {
            turn: cert.turn,
            primary,
            skip_ok: true,
            certified: true,
            validator: check,
            regions: &self.regions,
        };
        let id = nc
            .value(verified.height, &self.chain.tip, value, now_ms, true)
            .map_err(|_| "decided value does not check")?;
        if id != verified.block_id {
            return Err("decided value is not what the certificate signs");
        }
        Ok((verified.height, id, cert.turn, beacon))
    }

    /// Whether `b`, the verified beacon of a turn later than this node's, may start that turn
    /// here: its primary is a candidate or an endorser this node holds, and it starts at this
    /// node's tip.
    fn check_later_turn(&self, b: &Beacon, turns: &Turns) -> Result<(), &'static str> {
        // A candidate, or an endorser this node holds: one a decided reconfiguration removed
        // from its region's candidates keeps its turns until its region's next endorser is
        // elected, and nodes that follow the chain must follow those.
        if !self
            .regions
            .values()
            .any(|r| r.candidates.contains(&b.primary))
            && !turns.is_endorser(&b.primary)
        {
            return Err("beacon of a non-candidate");
        }
        // The later turn must start at this node's tip.
        if b.start_height != self.chain.next_height || b.chain_hash != self.chain.tip {
            return Err("later turn starts elsewhere");
        }
        Ok(())
    }

    /// The driver committed, at this node's next height, a block of `turn`, later than this
    /// node's turn: the node missed how its turn ended (a turn end it never received, or one
    /// whose decided value came after the driver had committed the next turn's block, dropped
    /// then as below the next height). The block's certificate proves that the earlier turns
    /// ended, as a later turn's decided value does (`verify_and_apply`): verified, with its
    /// beacon evidence, it moves the node into `turn`. Without it the node stayed in its old
    /// turn for good: a later turn's block cannot end it (`end_turn_with`), later turn ends
    /// are refused, and the node never learned when it was primary.
    fn enter_committed_turn(
        &mut self,
        cert: &wire::CommitCertificate,
        (height, block_id, turn): (u64, Hash32, u64),
        step: &mut Step<'_>,
    ) -> bool {
        let checked = (|| {
            let turns = self.turns.as_ref().ok_or("endorsers not known yet")?;
            if cert.turn != turn {
                return Err("committed block's turn is not its certificate's");
            }
            let v = certificate::verify(cert, &self.orderers, self.cfg.committee_size)
                .map_err(|_| "bad certificate")?;
            if v.height != height || v.block_id != block_id {
                return Err("committed block is not what its certificate signs");
            }
            let b = Beacon::from_parts(
                cert.turn,
                &cert.beacon_chain_hash,
                cert.beacon_start_height,
                &cert.primary_key,
                &cert.beacon_signature,
            )
            .map_err(|_| "bad beacon evidence")?;
            self.check_later_turn(&b, turns)?;
            Ok(b)
        })();
        let b = match checked {
            Ok(b) => b,
            Err(reason) => {
                self.reject(reason, step);
                return false;
            }
        };
        let r = self
            .turns
            .as_mut()
            .map(|t| t.advance(turn, b.start_height, b.chain_hash, step.now_ms));
        match r {
            Some(Ok(acts)) => self.turn_actions(acts, step),
            _ => {
                self.reject("cannot enter the committed block's turn", step);
                return false;
            }
        }
        self.turn_input(TurnInput::Beacon(b.to_wire()), step);
        true
    }

    /// The driver committed (`height`, `block_id`, `turn`, `last_of_turn`), certified by
    /// `certificate` when it has it.
    pub(super) fn on_committed(
        &mut self,
        (height, block_id, turn, last_of_turn): (u64, Hash32, u64, bool),
        certificate: Option<&wire::CommitCertificate>,
        step: &mut Step<'_>,
    ) {
        if height < self.chain.next_height {
            let known = self
                .chain
                .recent
                .get(&height)
                .and_then(|d| d.certificate.as_ref())
                .map(|c| c.block_id.as_slice() == block_id.as_bytes());
            if known == Some(false) {
                self.reject("committed block differs from the decided one", step);
                return;
            }
            if height >= self.chain.committed_next {
                self.chain.committed_next = height.saturating_add(1);
            }
            if let Some(r) = self.pbft.replica.as_mut() {
                r.committed_through(height);
            }
            return;
        }
        if height != self.chain.next_height {
            self.reject("committed height out of order", step);
            return;
        }
        // The driver committed a block on its own (its catch-up, or its copy of the decided
        // value handled before this node's): trust its verification of the block. A later
        // turn's block also moves the node's turns, on its certificate.
        let entered = certificate.is_some_and(|cert| {
            self.turns.as_ref().is_some_and(|t| turn > t.turn())
                && self.enter_committed_turn(cert, (height, block_id, turn), step)
        });
        self.chain.next_height = height.saturating_add(1);
        self.chain.tip = block_id;
        self.chain.committed_next = self.chain.next_height;
        self.timers.last_progress = step.now_ms;
        let r = self.turns.as_mut().map(|t| {
            t.handle(
                TurnInput::BlockDecided {
                    height,
                    turn,
                    block_id,
                },
                step.now_ms,
            )
        });
        if let Some(Ok(acts)) = r {
            self.turn_actions(acts, step);
        }
        if let Some(r) = self.pbft.replica.as_mut() {
            r.resume_at(self.chain.next_height, None, block_id);
        }
        let turned = (last_of_turn
            && (self.end_turn_with(turn, height, block_id, step)
                || self.rebase_overtaken_turn(turn, height, block_id, step)))
            || entered;
        if turned {
            // Messages kept for the turn now current, then the primary's next block.
            self.after_turn_change(step);
        }
        // A decided value kept for the height above (a turn end that arrived before the
        // block under it, which the driver committed): apply it now. It waited for the next
        // decided value to arrive, and when it ended a turn none did: the next turn's primary
        // never learned its turn began, and the turn timed out.
        self.apply_parked(step);
        if turned {
            return;
        }
        // A primary whose committer learned the block first asks for its next block now, not
        // at the next tick.
        self.maybe_need_proposal(step);
    }
}
