//! A test-only Byzantine mode: a node told to misbehave the way a certified insider could, so
//! that tests run each attack on a real network (the pattern of malachite's `ByzantineConfig`
//! and commonware's mocks).
//!
//! Every switch is off by default. A node binary reads them from `[byzantine]` in node.toml and
//! refuses to start with any of them on unless it is run with `--allow-byzantine` (or
//! `MEDBLOCK_ALLOW_BYZANTINE=1`), so a production config cannot turn a node malicious by a
//! stray line. Tests set them through [`crate::node::NodeOptions::byzantine`].

use serde::{Deserialize, Serialize};

/// What a Byzantine node does wrong. Each field names one misbehaviour of issue 19.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ByzantineConfig {
    /// As primary: sign two different proposals for one height, one to each half of the
    /// committee.
    pub equivocate_proposals: bool,
    /// As orderer: sign a prepare and a commit for a second, made-up block id at every height
    /// it votes on, sent to half of the committee.
    pub equivocate_votes: bool,
    /// As orderer: send no prepare or commit votes at all.
    pub drop_votes: bool,
    /// As orderer: stop ordering right after persisting and sending its first prepare for a
    /// block (a crash between prepare and commit), so a test can restart it from its data dir.
    /// Not a misbehaviour: a crash point.
    pub crash_after_prepare: bool,
    /// As primary: re-include events already committed in the blocks it proposes.
    pub propose_duplicates: bool,
    /// As primary: date its blocks before the previous block's orderer time.
    pub propose_backdated: bool,
    /// As primary: pad its proposals past the block byte limit.
    pub propose_oversized: bool,
    /// As a peer: claim this ledger height (signed) and serve none of it.
    pub claim_height: Option<u64>,
    /// As a department: reuse sequence numbers already taken, with new content.
    pub reuse_sequences: bool,
    /// As a department: send this many access records per second, for keys it has no
    /// relationship with.
    pub flood_access_per_sec: u32,
}

impl ByzantineConfig {
    /// Whether any misbehaviour is switched on.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }

    /// Whether every switch is off (what serde skips when writing a config).
    pub fn is_off(&self) -> bool {
        !self.any()
    }

    /// The switched-on misbehaviours by name, for the start-up warning and errors.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.equivocate_proposals, "equivocate_proposals"),
            (self.equivocate_votes, "equivocate_votes"),
            (self.drop_votes, "drop_votes"),
            (self.crash_after_prepare, "crash_after_prepare"),
            (self.propose_duplicates, "propose_duplicates"),
            (self.propose_backdated, "propose_backdated"),
            (self.propose_oversized, "propose_oversized"),
            (self.claim_height.is_some(), "claim_height"),
            (self.reuse_sequences, "reuse_sequences"),
            (self.flood_access_per_sec > 0, "flood_access_per_sec"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_named_when_on() {
        let c = ByzantineConfig::default();
        assert!(!c.any());
        assert!(c.names().is_empty());
        let c = ByzantineConfig {
            drop_votes: true,
            claim_height: Some(u64::MAX),
            ..Default::default()
        };
        assert!(c.any());
        assert_eq!(c.names(), ["drop_votes", "claim_height"]);
    }

    #[test]
    fn unknown_switches_are_refused() {
        let r: Result<ByzantineConfig, _> = toml::from_str("drop_vote = true");
        assert!(r.is_err());
    }
}
