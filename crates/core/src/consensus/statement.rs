//! Fixed-layout statements that votes, beacons and election messages sign.
//!
//! These are built from typed fields, not protobuf bytes: a certificate then carries only
//! (key, signature) pairs and every verifier rebuilds the same bytes; a beacon signer cannot
//! vary an encoding to grind the seed. Each statement kind has its own signing purpose.

use crate::hash::Hash32;

/// Signing purpose of a PBFT prepare vote.
pub const PREPARE: &str = "medblock/pbft-prepare/v1";
/// Signing purpose of a PBFT commit vote (what commit certificates hold).
pub const COMMIT: &str = "medblock/pbft-commit/v1";
/// Signing purpose of a PBFT checkpoint vote.
pub const CHECKPOINT: &str = "medblock/pbft-checkpoint/v1";
/// Signing purpose of a PBFT pre-prepare envelope.
pub const PRE_PREPARE: &str = "medblock/pbft-pre-prepare/v1";
/// Signing purpose of a PBFT view-change envelope.
pub const VIEW_CHANGE: &str = "medblock/pbft-view-change/v1";
/// Signing purpose of a PBFT new-view envelope.
pub const NEW_VIEW: &str = "medblock/pbft-new-view/v1";
/// Signing purpose of a primary's block proposal.
pub const PROPOSAL: &str = "medblock/proposal/v1";
/// Signing purpose of a primary's end-of-turn statement.
pub const END_TURN: &str = "medblock/end-turn/v1";
/// Signing purpose of a beacon (turn seed) signature.
pub const BEACON: &str = "medblock/beacon/v1";
/// Signing purpose of a regional election vote.
pub const ELECTION_VOTE: &str = "medblock/election-vote/v1";
/// Signing purpose of a crash signal against an endorser.
pub const CRASH_SIGNAL: &str = "medblock/crash-signal/v1";

/// The kinds of PBFT votes; the number is what travels in `Vote.kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VoteKind {
    /// "I accepted this pre-prepare."
    Prepare = 1,
    /// "I saw 2f+1 prepares for it."
    Commit = 2,
    /// "I decided this at a checkpoint height."
    Checkpoint = 3,
}

impl VoteKind {
    /// Reads the wire number; `None` for anything else.
    pub fn from_wire(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Prepare),
            2 => Some(Self::Commit),
            3 => Some(Self::Checkpoint),
            _ => None,
        }
    }

    /// The signing purpose of this kind.
    pub fn purpose(self) -> &'static str {
        match self {
            Self::Prepare => PREPARE,
            Self::Commit => COMMIT,
            Self::Checkpoint => CHECKPOINT,
        }
    }
}

/// What a PBFT vote signs: turn, view, height and digest, fixed width.
pub fn vote(turn: u64, view: u64, height: u64, digest: &Hash32) -> Vec<u8> {
    let mut v = Vec::with_capacity(56);
    v.extend_from_slice(&turn.to_be_bytes());
    v.extend_from_slice(&view.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(digest.as_bytes());
    v
}

/// What a beacon signs: the turn, the id of the last decided block before it and its first
/// height.
pub fn beacon(turn: u64, chain_hash: &Hash32, start_height: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(48);
    v.extend_from_slice(&turn.to_be_bytes());
    v.extend_from_slice(chain_hash.as_bytes());
    v.extend_from_slice(&start_height.to_be_bytes());
    v
}

/// What a region node signs for an election vote or a crash signal.
pub fn region(region: &str, view: u64, key: &[u8; 32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(48 + region.len());
    v.extend_from_slice(&(region.len() as u64).to_be_bytes());
    v.extend_from_slice(region.as_bytes());
    v.extend_from_slice(&view.to_be_bytes());
    v.extend_from_slice(key);
    v
}
