//! The endorser (the paper's Steps 2, 3, 5 and 8): admits uploads after checking both
//! signatures and the department's certificate, persists them in a durable queue before
//! answering with a signed receipt, packs blocks sorted by upload time when its turn comes,
//! and ends its turn when its queue is drained or its per-turn budget is spent.
//!
//! Turn-based, paced upload: each upload may say how long it can wait; the queue is kept in
//! deadline order and each turn packs only the quota [`medblock_core::pacing::turn_quota`] asks
//! for, so a morning's peak of visits is spread over the hours its records may wait.
//!
//! [`ingress`] is its contract with the other actors (its messages and [`ingress::Mailbox`]);
//! `actor.rs` is the implementation, which only the node's wiring
//! ([`start`](mod@crate::start)) constructs.

mod actor;
mod admission;
mod config_pool;
pub mod ingress;
mod packing;

pub use actor::{BLOCKS_PER_TURN, Endorser};
