//! The orderer: drives core's `ConsensusNode` (regional election, primary turns, the beacon's
//! committee and PBFT) and nothing else. Every rule lives in the machine; this actor feeds it
//! messages, timer ticks, proposals and committed blocks, and carries out its actions: sends,
//! timers, decided blocks to the committer, turns and elections to the endorser and client.

//!
//! [`ingress`] is its contract with the other actors (its messages and [`ingress::Mailbox`]);
//! `actor.rs` is the implementation, which only the node's wiring
//! ([`start`](mod@crate::start)) constructs.

mod actor;
mod byzantine;
pub mod ingress;

pub use actor::{Orderer, setup_for, start_turn_of};
