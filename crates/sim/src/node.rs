//! A simulated node: core's [`ConsensusNode`], unchanged, plus what a real node's driver keeps
//! around it (its decided log, which it serves to peers that catch up, and its committed chain).
//! Byzantine behaviours live in the runner's outgoing filter, so the machine is always the
//! honest code.

use medblock_core::consensus::ConsensusNode;
use medblock_core::{Hash32, wire};

/// One node in the simulation.
pub struct SimNode {
    /// Its index.
    pub index: usize,
    /// The consensus machine every real node runs.
    pub node: ConsensusNode,
    /// Decided values in height order (the driver's ledger).
    pub decided: Vec<wire::DecidedValue>,
    /// Decided block ids by height (index 0 = height 1).
    pub chain: Vec<Hash32>,
    /// Deadline of the node's timer.
    pub timer: Option<u64>,
    /// Blocks this node proposed in its current turn (as primary).
    pub proposed_this_turn: u64,
    /// Turns it has been primary of.
    pub turns_as_primary: u64,
    /// Crashed: receives and sends nothing from `crashed_at` on.
    pub crashed: bool,
}
