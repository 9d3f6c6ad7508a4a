//! Deterministic, seeded simulator of MedBlock's consensus in virtual time.
//!
//! It drives core's consensus machines, unchanged, over a simulated network with delay, loss,
//! duplication, reordering and partitions, with Byzantine members (silent, equivocating leader,
//! forged signatures, votes for wrong views) and a primary endorser that proposes invalid
//! events. The same seed gives the same trace.

pub mod block;
pub mod cli;
pub mod network;
pub mod node;
pub mod runner;

pub use runner::{Behaviour, RunReport, SimConfig, run};
