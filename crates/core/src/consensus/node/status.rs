//! The node's snapshot for `/status`, metrics and tests.

use super::*;

/// Counters, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Blocks decided (handed to the driver).
    pub decided: u64,
    /// PBFT view changes this node started.
    pub view_changes: u64,
    /// Endorsers elected (certificates verified), all regions.
    pub elections: u64,
    /// Election rounds that timed out without an endorser.
    pub election_timeouts: u64,
    /// Turns ended by a decided turn end.
    pub turn_ends: u64,
    /// Of those, turns skipped (primary stalled or replaced), plus endorser-skip quorums.
    pub skipped_turns: u64,
    /// Inputs refused.
    pub rejected: u64,
    /// Reconfigurations installed from decided blocks.
    pub reconfigurations: u64,
    /// Turns without a beacon passed to an endorser elected (or whose beacon came) after this
    /// node began them with another (`Turns` "a primary deposed mid-turn").
    pub take_overs: u64,
    /// Turns this replica proposed to end at once on a primary's invalid block (evidence in
    /// the turn end).
    pub faulty_primaries: u64,
}

/// One region's endorser as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionStatus {
    /// The region.
    pub name: String,
    /// Its endorser, once elected.
    pub endorser: Option<PublicKey>,
    /// The current election round.
    pub view: u64,
}

/// A snapshot for `/status`, metrics and tests.
#[derive(Clone, Debug, PartialEq)]
pub struct ConsensusStatus {
    /// First height not yet decided.
    pub next_height: u64,
    /// First height the driver has not reported committed.
    pub committed_next: u64,
    /// The current turn (`None` until every region has an endorser).
    pub turn: Option<u64>,
    /// The current primary.
    pub primary: Option<PublicKey>,
    /// The PBFT view, when this node is in the committee.
    pub pbft_view: Option<u64>,
    /// The current committee, once its beacon verified.
    pub committee: Option<Vec<PublicKey>>,
    /// Whether this node sits in it.
    pub in_committee: bool,
    /// Every region.
    pub regions: Vec<RegionStatus>,
    /// Counters.
    pub stats: NodeStats,
}

impl ConsensusNode {
    /// The PBFT view changes this node's replicas started, the current turn's included (what
    /// [`ConsensusNode::status`] reports, without building the whole snapshot).
    pub fn view_changes(&self) -> u64 {
        let current = self
            .pbft
            .replica
            .as_ref()
            .map_or(0, |r| r.stats().view_changes_started);
        self.stats.view_changes.saturating_add(current)
    }

    /// A snapshot of where this node stands.
    pub fn status(&self) -> ConsensusStatus {
        let committee = self
            .turns
            .as_ref()
            .and_then(|t| t.committee())
            .map(|c| c.members().to_vec());
        let mut stats = self.stats.clone();
        if let Some(r) = &self.pbft.replica {
            stats.view_changes += r.stats().view_changes_started;
        }
        ConsensusStatus {
            next_height: self.chain.next_height,
            committed_next: self.chain.committed_next,
            turn: self.turns.as_ref().map(|t| t.turn()),
            primary: self.turns.as_ref().map(|t| t.primary()),
            pbft_view: self.pbft.replica.as_ref().map(|r| r.view()),
            in_committee: committee.as_ref().is_some_and(|c| c.contains(&self.me)),
            committee,
            regions: self
                .regions
                .iter()
                .map(|(name, r)| RegionStatus {
                    name: name.clone(),
                    endorser: r.election.endorser().map(|v| v.endorser),
                    view: r.election.view(),
                })
                .collect(),
            stats,
        }
    }
}
