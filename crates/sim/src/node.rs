//! A simulated node: core's [`ConsensusNode`] and, for endorser candidates, core's [`Proposer`]
//! (the primary's policy), both unchanged, plus what a real node's driver keeps around them (its
//! decided log, which it serves to peers that catch up, its committed chain, its pending queue).
//! Byzantine behaviours live in the runner's filters, so the machines are always the honest
//! code.

use medblock_core::consensus::pbft::SafetyRecord;
use medblock_core::consensus::proposer::{Proposer, ProposerView, Taken, Tip};
use medblock_core::consensus::{ConsensusNode, NodeSetup};
use medblock_core::{Hash32, wire};
use std::collections::{BTreeMap, BTreeSet};

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
    /// The primary's policy, the endorser's own.
    pub proposer: Proposer<u64>,
    /// Its pending queue: (event, deadline) in deadline order; events are numbered distinctly
    /// per node.
    pub pending: Vec<(u64, u64)>,
    /// Blocks it proposed and not committed, by height (payload, last of turn): asked again,
    /// it sends the same bytes.
    pub sent: BTreeMap<u64, (Vec<u8>, bool)>,
    /// Deadline of the proposer's wake-up.
    pub proposer_timer: Option<u64>,
    /// When it committed its last block (the tip's time stamp, for idle detection).
    pub tip_at_ms: u64,
    /// Turns it has been primary of.
    pub turns_as_primary: u64,
    /// Crashed: receives and sends nothing from `crashed_at` on.
    pub crashed: bool,
    /// What it started from (a restart starts again from it, at its ledger's tip).
    pub setup: NodeSetup,
    /// The PBFT safety record it persisted last (what survives a crash besides its ledger).
    pub safety: Option<SafetyRecord>,
    /// Crash-and-restarts it has left to do.
    pub crash_left: u32,
    /// Times it restarted.
    pub restarts: u64,
    /// Its last broadcasts, replayed to a node that restarts (as the orderer actor replays its
    /// recent broadcasts to a peer the handshake admits again).
    pub recent: std::collections::VecDeque<wire::ConsensusMessage>,
}

/// Broadcasts a node keeps to replay, as many as the orderer actor keeps.
pub const RECENT_BROADCASTS: usize = 64;

impl SimNode {
    /// Its chain's tip as the proposer reads it.
    pub fn tip(&self) -> Tip {
        Tip {
            height: self.chain.len() as u64,
            id: self.chain.last().copied().unwrap_or(Hash32::ZERO),
            timestamp_ms: self.tip_at_ms,
        }
    }
}

/// A node's queue and chain, lent to its proposer.
pub struct SimView<'a> {
    /// The pending queue.
    pub pending: &'a [(u64, u64)],
    /// The chain's tip.
    pub tip: Tip,
}

impl ProposerView<u64> for SimView<'_> {
    fn tip(&self) -> Tip {
        self.tip
    }

    fn deadlines(&mut self, skip: &BTreeSet<u64>) -> Option<Vec<u64>> {
        Some(
            self.pending
                .iter()
                .filter(|(e, _)| !skip.contains(e))
                .map(|(_, d)| *d)
                .collect(),
        )
    }

    fn oldest(&mut self, limit: usize, skip: &BTreeSet<u64>) -> Taken<u64> {
        let events: Vec<u64> = self
            .pending
            .iter()
            .filter(|(e, _)| !skip.contains(e))
            .take(limit)
            .map(|(e, _)| *e)
            .collect();
        Taken {
            read: events.len(),
            events,
        }
    }
}
