//! A decided block's new membership ([`Reconfiguration`]), installed before the next turn's
//! committee is drawn.
//!
//! The block ends its turn (checked with the value, `check.rs`), and `apply` installs the
//! membership before it advances the turns, so the next turn's committee is drawn from the
//! new pool with the new size on every node, nodes replaying decided blocks in order
//! included. Certificates of later turns are then verified against the pool in force.

use super::*;

impl ConsensusNode {
    /// The membership the decided block `dv` at `height` installs, if any. Its payload was
    /// checked with the same validator before it was decided or applied.
    pub(super) fn decided_reconfiguration(
        dv: &wire::DecidedValue,
        height: u64,
        check: &dyn ChainValidator,
    ) -> Option<Reconfiguration> {
        let Some(wire::proposed_value::Kind::Proposal(env)) =
            dv.value.as_ref().and_then(|v| v.kind.as_ref())
        else {
            return None;
        };
        let body = wire::ProposalBody::decode(env.body.as_slice()).ok()?;
        check.reconfiguration(height, &body.payload).ok().flatten()
    }

    /// Installs `rc`: the orderer pool (and whether this node orders), the parameters (and
    /// the timers that follow them), and the regions' voters and candidates.
    pub(super) fn reconfigure(&mut self, rc: Reconfiguration, step: &mut Step<'_>) {
        if rc.problem(self.regions.keys()).is_some() {
            // Refused when the block was checked; a validator that answers differently now
            // must not change the membership on this node alone.
            self.reject("reconfiguration refused on apply", step);
            return;
        }
        let Reconfiguration {
            orderers,
            cfg,
            regions,
        } = rc;
        self.orderers = orderers;
        self.orderer = self.orderer_role && self.orderers.contains(&self.me);
        if let Some(t) = self.turns.as_mut() {
            t.reconfigure(cfg.clone(), self.orderers.clone());
        }
        // Shorter periods take effect now; longer ones at the next expiry.
        let now = step.now_ms;
        self.timers.resend_at = self
            .timers
            .resend_at
            .min(now.saturating_add(cfg.view_change_timeout_ms));
        self.timers.announce_at = self
            .timers
            .announce_at
            .min(now.saturating_add(cfg.turn_timeout_ms / 2));
        if cfg.turn_timeout_ms != self.cfg.turn_timeout_ms
            && self.voter
            && let Some(r) = self.regions.get_mut(&self.region)
            && r.election.deadline().is_some()
        {
            r.election.set_round_timeout(cfg.turn_timeout_ms, now);
        }
        self.cfg = cfg;
        for r in regions {
            self.reconfigure_region(r, step);
        }
        self.update_own_roles(step);
        self.stats.reconfigurations += 1;
    }

    /// This node's own places after a reconfiguration: a node the change made a voter of its
    /// region votes (from the round open now), one made an endorser candidate signs its turns'
    /// beacons; one that lost a place stops using it. Its region may have been unknown until
    /// now (a hospital in a region added on the ledger starts as an observer).
    fn update_own_roles(&mut self, step: &mut Step<'_>) {
        let (voter, endorser) = self.regions.get(&self.region).map_or((false, false), |r| {
            (r.voters.contains(&self.me), r.candidates.contains(&self.me))
        });
        if voter != self.voter {
            self.voter = voter;
            let now = step.now_ms;
            let key = voter.then(|| self.key.clone());
            let timeout = self.cfg.turn_timeout_ms;
            if let Some(r) = self.regions.get_mut(&self.region) {
                r.election.set_key(key);
                if voter {
                    r.election.set_round_timeout(timeout, now);
                }
            }
            let region = self.region.clone();
            self.vote_for_round(&region, step);
        }
        if endorser != self.endorser {
            self.endorser = endorser;
            let key = endorser.then(|| self.key.clone());
            if let Some(t) = self.turns.as_mut() {
                t.set_key(key);
            }
        }
    }

    /// An existing region gets its new voters and candidates (its election carries on; an
    /// endorser no longer a candidate is replaced as a crashed one is); a new region gets a
    /// fresh election (this node votes in it when it is one of its voters) and enters the turn
    /// rotation from the next turn.
    ///
    /// The rotation is by region, so every node must hold the same primary for the new
    /// region's first turn: not the endorser each node's election learns at its own time, but
    /// the one the configuration names, its first candidate at view 0 (the candidate honest
    /// voters elect in round 0). A later election (a crashed endorser replaced) moves it as in
    /// any region. Nodes that start later wait for its view certificate, as for every region.
    fn reconfigure_region(&mut self, r: RegionSetup, step: &mut Step<'_>) {
        let now = step.now_ms;
        match self.regions.get_mut(&r.name) {
            Some(region) => {
                if region.candidates == r.candidates {
                    // Voters added or removed alone (an orderer or committer certified or
                    // revoked): the election counts the new electorate from now on and keeps
                    // the endorser it elected ([`Election::set_voters`]). A newcomer gets its
                    // key in `update_own_roles`.
                    if region.voters != r.voters {
                        match region.election.set_voters(&r.voters) {
                            Ok(()) => region.voters = r.voters,
                            Err(_) => self.reject("region reconfiguration refused", step),
                        }
                    }
                    return;
                }
                let acts = region.election.reconfigure(&r.voters, &r.candidates, now);
                region.voters = r.voters;
                region.candidates = r.candidates;
                match acts {
                    Ok(acts) => self.election_actions(&r.name, acts, step),
                    Err(_) => self.reject("region reconfiguration refused", step),
                }
            }
            None => {
                // Its voters get their key in `update_own_roles`, after every region is in.
                match Election::with_candidates(r.name.clone(), &r.voters, &r.candidates, None, 0) {
                    Ok(election) => {
                        if let (Some(t), Some(first)) = (self.turns.as_mut(), r.candidates.first())
                        {
                            t.add_region(EndorserView {
                                region: r.name.clone(),
                                view: 0,
                                endorser: *first,
                            });
                        }
                        let region = Region {
                            voters: r.voters,
                            candidates: r.candidates,
                            election,
                            my_vote: None,
                            my_crash: None,
                            last_elected: None,
                        };
                        self.regions.insert(r.name, region);
                    }
                    Err(_) => self.reject("new region refused", step),
                }
            }
        }
    }

    /// The membership in force: the orderer pool, the parameters and every region's voters
    /// and candidates (what the last decided reconfiguration, or the setup, installed).
    pub fn membership(&self) -> Reconfiguration {
        Reconfiguration {
            orderers: self.orderers.clone(),
            cfg: self.cfg.clone(),
            regions: self
                .regions
                .iter()
                .map(|(name, r)| RegionSetup {
                    name: name.clone(),
                    voters: r.voters.clone(),
                    candidates: r.candidates.clone(),
                })
                .collect(),
        }
    }
}
