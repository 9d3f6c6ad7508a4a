//! The role actors of a MedBlock node. Each actor owns one piece of state and drives one core
//! state machine; none of them holds consensus rules of its own.
//!
//! * [`committer::Committer`] verifies decided blocks with their commit certificates, appends
//!   them to the RocksDB ledger (Step 6), serves catch-up, and gossips (height, ledger hash),
//!   flagging peers whose ledger differs.
//! * [`orderer::Orderer`] drives core's `ConsensusNode` (election, turns, beacon, PBFT) and turns
//!   its actions into network sends, timers and decided blocks.
//! * [`endorser::Endorser`] admits uploads (Step 2), keeps them in a durable queue, packs blocks
//!   sorted by upload time when its turn comes (Step 3) and ends its turn (Step 8).
//! * [`client::Client`] is a hospital department: it seals, signs and submits (Step 1), keeps
//!   each event in a durable outbox until it is committed, and retries another endorser (Step 7).
//!   It records a visit only for a patient enrolled in [`registry::PatientDesk`], under the
//!   recording authorization he signed there; it never holds a patient's private key.
//! * [`query::QueryServer`] answers light nodes (challenges, headers, signed record queries).
//!
//! [`start::start`] wires them to the p2p network and hands back a [`running::RunningNode`];
//! [`router`] is the only code that reads the network's events. Each actor runs on its own
//! Arbiter (thread), so signature checks and RocksDB writes never run on the thread that polls
//! the Swarm.
//!
//! # Actors talk through contracts
//!
//! Each actor has a contract module, `<actor>::ingress` ([`committer::ingress`],
//! [`orderer::ingress`], [`endorser::ingress`], [`client::ingress`], [`query::ingress`]): the
//! actix messages it handles, their answers, what it announces to subscribers (e.g.
//! [`committer::ingress::BlockCommitted`]) and its `Mailbox`, one `Recipient` per message
//! others send it, which is what they hold instead of the actor's `Addr`. The rule:
//!
//! * an actor, the [`router`], [`running`] and [`metrics`] import another actor only through
//!   its `ingress` module, never its implementation (`<actor>/actor.rs`, or `client/mod.rs`
//!   and its children), so no implementation depends on another one;
//! * a contract imports other contracts and modules no actor owns ([`error`], [`block_check`],
//!   core), never an implementation;
//! * [`start`](mod@start) is the one exception: it constructs the actors, so it names their types.
//!
//! Check: `grep -rn "crate::\(client\|committer\|endorser\|orderer\|query\)::"
//! crates/actors/src | grep -v "::ingress"` lists only `start.rs` (and doc links).
#![deny(missing_docs)]

pub mod block_check;
pub mod budget;
pub mod byzantine;
pub mod client;
pub mod clock;
pub mod committer;
pub mod departments;
pub mod endorser;
pub mod error;
pub mod handshake;
pub mod membership;
pub mod metrics;
pub mod orderer;
pub mod peers;
pub mod query;
pub mod registry;
pub mod router;
pub mod running;
pub mod shared;
pub mod start;

pub use error::ActorError;
pub use running::{NodeStatus, RunningNode};
pub use start::{NodeOptions, start};

/// The paths other crates name a node's start-up and its running handle by (`start.rs` and
/// `running.rs` here, named apart from core's and the simulator's `node`).
pub mod node {
    pub use crate::running::{NodeStatus, PeerView, RegionView, RunningNode};
    pub use crate::start::{NodeOptions, NodeThread, PeerLimits, start};
}
