//! Membership changed by a decided block: the complete membership in force after it.
//!
//! The embedder computes it from its own state (a ledger's configuration events) and hands it
//! over through [`ChainValidator::reconfiguration`](super::node::ChainValidator); the consensus
//! machine only checks its shape and applies it. It is the whole membership, not a delta, so a
//! node applying it needs nothing but the block (a delta would make every node's result depend
//! on having applied every earlier one exactly once).
//!
//! A block carrying one must end its primary's turn: every block of a turn is then certified by
//! the committee drawn from one membership, and the new membership starts exactly at the next
//! turn on every node, nodes replaying decided blocks while catching up included.

use super::config::ConsensusConfig;
use super::node::RegionSetup;
use crate::keys::PublicKey;
use std::collections::BTreeSet;

/// The membership in force after a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconfiguration {
    /// The eligible orderer pool, in the order committees are ranked from.
    pub orderers: Vec<PublicKey>,
    /// The consensus parameters (committee size, turn and view-change timeouts, ...).
    pub cfg: ConsensusConfig,
    /// Every region with its voters and endorser candidates. Regions may only grow.
    pub regions: Vec<RegionSetup>,
}

impl Reconfiguration {
    /// Why this membership cannot replace one whose regions are `current_regions`, if it
    /// cannot. Every node runs the same check at the same height, so a refused reconfiguration
    /// is refused everywhere (its block is invalid).
    pub fn problem<'a>(
        &self,
        mut current_regions: impl Iterator<Item = &'a String>,
    ) -> Option<&'static str> {
        if self.orderers.is_empty() {
            return Some("reconfiguration without orderers");
        }
        let pool: BTreeSet<&PublicKey> = self.orderers.iter().collect();
        if pool.len() != self.orderers.len() {
            return Some("reconfiguration lists an orderer twice");
        }
        let c = &self.cfg;
        if c.committee_size == 0 || c.turn_timeout_ms == 0 || c.view_change_timeout_ms == 0 {
            return Some("reconfiguration with a zero committee size or timeout");
        }
        let mut names = BTreeSet::new();
        for r in &self.regions {
            if !names.insert(&r.name) {
                return Some("reconfiguration lists a region twice");
            }
            if r.voters.is_empty() || r.candidates.is_empty() {
                return Some("reconfiguration leaves a region without voters or candidates");
            }
        }
        // Turn order is by region: a dropped region would shift every later turn's primary.
        if current_regions.any(|name| !names.contains(name)) {
            return Some("reconfiguration drops a region");
        }
        None
    }
}
