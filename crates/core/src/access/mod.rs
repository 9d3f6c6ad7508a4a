//! The access-control protocol (the paper's "Access control protocol" and "Data downing"), as
//! pure rules both sides apply without sockets or clocks:
//!
//! * [`admission`]: which access records an endorser admits (a relationship the ledger knows,
//!   a quota per author key);
//! * [`nonce`]: a serving peer's single-use, expiring, bounded challenge nonces;
//! * [`query`]: the visitor's signed query, bound to the peer's nonce and identity;
//! * [`decide`]: who may see what: the patient his own records, a grantee what was granted and
//!   not revoked, the regulator genesis names any summary;
//! * [`format`]: which events are access records, and how their record is decoded;
//! * [`record`]: consent grants, revocations and regulator reads as ledger events;
//! * [`proof`]: the records a peer returns, with what proves them (Merkle path, block head,
//!   commit certificate), built by the peer and checked by the light node;
//! * [`response`]: the peer's signature over its answer, bound to the query it answers;
//! * [`tip`]: committers' signed ledger claims, the height a records answer must cover.

pub mod admission;
pub mod decide;
pub mod error;
pub mod format;
pub mod nonce;
pub mod proof;
pub mod query;
pub mod record;
pub mod response;
pub mod tip;

pub use error::{AccessError, ProofError};
