//! Serving light nodes (patients, grantees, the regulator): challenges, public headers, signed
//! record queries and EMR requests, and access-record uploads. Every peer answers them, from
//! any connected key, certified or not; none of them reaches a consensus path.
//!
//! The [`QueryServer`] actor owns the nonce book and reads the ledger on its own Arbiter, off
//! the router and the swarm threads. The access rules are core's (`medblock_core::access`);
//! this module only looks things up and signs the answers.
//!
//! [`ingress`] is its contract with the other actors (its messages, [`ingress::SignedTips`] and
//! [`ingress::Mailbox`]); `actor.rs` is the implementation, which only the node's wiring
//! ([`start`](mod@crate::start)) constructs. The router runs the light-node protocol's front
//! and reaches the query server through its mailbox.

mod actor;
pub mod ingress;

pub use actor::*;
