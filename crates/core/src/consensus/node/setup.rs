//! What a node starts from: genesis regions and the node's own role, and why a start fails.

use super::*;

/// One region as genesis describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSetup {
    /// Its name (turn order is by name).
    pub name: String,
    /// Nodes that vote in its elections; a strict majority elects.
    pub voters: Vec<PublicKey>,
    /// Endorser candidates, in preference order (who is voted for first).
    pub candidates: Vec<PublicKey>,
}

/// Everything a node needs to start consensus.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    /// Network-wide parameters (from genesis).
    pub cfg: ConsensusConfig,
    /// This node's key.
    pub key: SigningKey,
    /// This node's region.
    pub region: String,
    /// Whether it votes in its region's election.
    pub voter: bool,
    /// Whether it is an endorser candidate of its region.
    pub endorser: bool,
    /// Whether it is an eligible orderer.
    pub orderer: bool,
    /// Every region.
    pub regions: Vec<RegionSetup>,
    /// The eligible orderers committees are drawn from.
    pub orderers: Vec<PublicKey>,
    /// Where to start: genesis, or the node's persisted ledger tip.
    pub start: TurnStart,
}

/// Why a node could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConsensusError {
    /// No regions configured.
    #[error("no regions configured")]
    NoRegions,
    /// A region's voters or candidates are unusable.
    #[error("region {region:?}: {source}")]
    Region {
        /// The region.
        region: String,
        /// Why.
        source: ElectionError,
    },
    /// Two regions with one name.
    #[error("region {0:?} configured twice")]
    DuplicateRegion(String),
    /// No eligible orderers.
    #[error("no eligible orderers")]
    NoOrderers,
    /// The turn machine refused the start.
    #[error("turns: {0}")]
    Turns(#[from] TurnError),
    /// The ledger tip's certificate does not carry a valid beacon.
    #[error("resuming from the tip certificate: {0}")]
    Resume(String),
}
