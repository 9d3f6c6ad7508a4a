//! The committer (the paper's Step 6): verifies decided blocks and their commit certificates,
//! appends them to the RocksDB ledger in order, serves and performs catch-up, and every gossip
//! period claims (height, ledger hash); a peer whose claim differs at the same height is flagged.

//!
//! [`ingress`] is its contract with the other actors (its messages and [`ingress::Mailbox`]);
//! `actor.rs` is the implementation, which only the node's wiring
//! ([`start`](mod@crate::start)) constructs.

mod actor;
pub mod ingress;

pub use actor::{Committer, LEDGER_CLAIM_PURPOSE};
