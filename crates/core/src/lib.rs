//! MedBlock's pure domain: wire schema, keys and sealing, certificates, events, blocks, Merkle
//! proofs, bread crumbs and the consensus state machines.
//!
//! Nothing here does I/O, reads a clock, spawns a thread or draws randomness that is not passed
//! in, so every rule runs the same in a unit test, a deterministic simulator and a live node.
#![deny(missing_docs)]

pub mod access;
pub mod authorization;
pub mod block;
pub mod block_rules;
pub mod cert;
pub mod codec;
pub mod config;
pub mod consensus;
pub mod crumbs;
pub mod error;
pub mod event;
pub mod genesis;
pub mod hash;
pub mod keys;
pub mod merkle;
pub mod pacing;
pub mod sealing;
pub mod sequence;
pub mod synthetic;

/// Generated protobuf types: the exact bytes MedBlock stores, sends, hashes and signs.
#[allow(missing_docs, clippy::all)]
pub mod wire {
    include!(concat!(env!("OUT_DIR"), "/medblock.v1.rs"));
}

pub use block::{ChainTip, VerifiedBlock, block_id};
pub use error::{BlockError, CertificateError, LedgerError};
pub use event::{EventKey, ParsedEvent};
pub use hash::{Hash32, sha256, tagged_hash};
pub use keys::{
    Identity, KeyError, PublicKey, SealingPublic, SealingSecret, Signature, SigningKey,
};
