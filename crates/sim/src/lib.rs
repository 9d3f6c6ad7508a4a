//! Deterministic, seeded simulator of MedBlock's consensus in virtual time.
//!
//! Every simulated node runs core's `ConsensusNode` (the machine the live node drives) over a
//! simulated network with delay, loss, duplication, reordering and partitions, through many
//! turns: regions elect endorsers, endorsers take turns as primary, each turn's beacon draws its
//! committee, PBFT decides blocks and turn ends. Byzantine orderers are silent, equivocate as
//! leader, forge signatures or vote for wrong views; primaries propose invalid events, crash or
//! stall. Membership can change on the ledger mid-run (`reconfig.rs`). The same seed gives the
//! same trace.

pub mod block;
mod byzantine;
pub mod cli;
pub mod network;
pub mod node;
mod reconfig;
mod restart;
pub mod runner;

pub use reconfig::{FIRST_POOL, ORDERER_NODES};
pub use runner::{Behaviour, MembershipReport, RunReport, SimConfig, run, run_membership};
