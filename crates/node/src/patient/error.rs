//! The light node's typed errors: what a peer refused (with the peer's own typed reason), what
//! failed verification in a peer's answer, and local failures.

use medblock_core::LedgerError;
use medblock_core::access::{AccessError, ProofError};
use medblock_core::keys::PublicKey;
use medblock_p2p::P2pError;
use medblock_storage::StorageError;

/// Why a patient command failed.
#[derive(Debug, thiserror::Error)]
pub enum PatientError {
    /// The peer refused the query, with its typed reason.
    #[error("the peer refused: {0}")]
    Denied(#[from] AccessError),
    /// The peer's answer failed verification.
    #[error("the peer's answer failed verification: {0}")]
    Proof(#[from] ProofError),
    /// The peer answered with a generic error (busy, not an endorser...).
    #[error("the peer answered an error ({code}): {message}")]
    Peer {
        /// `ErrorReply` code.
        code: i32,
        /// Its message.
        message: String,
    },
    /// A challenge naming another peer's key than the peer it came from.
    #[error("peer {asked} sent a challenge for another peer key ({named})")]
    WrongChallengePeer {
        /// The peer asked (the key its connection is authenticated under).
        asked: PublicKey,
        /// The peer key the challenge named, in hex.
        named: String,
    },
    /// The peer answered something else than what was asked.
    #[error("the peer answered with an unexpected message")]
    Unexpected,
    /// The network failed.
    #[error("network: {0}")]
    Network(#[from] P2pError),
    /// Bad bytes or a key that does not parse.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A key file or backup could not be read or written.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The record asked for is not among the visitor's records.
    #[error("no record {0} among the records this key may read")]
    NoSuchRecord(String),
    /// The visitor may not open this summary (no wrap for his key).
    #[error("this key cannot open record {0}")]
    CannotOpen(String),
    /// No peer to ask, or every peer failed.
    #[error("no peer could answer: {0}")]
    NoPeer(String),
    /// A bad argument.
    #[error("{0}")]
    Usage(String),
    /// The hospital's node refused an enrolment step, with its typed reason.
    #[error("the hospital node refused ({status} {code}): {message}")]
    Hospital {
        /// HTTP status.
        status: u16,
        /// The error kind it named (`code`).
        code: String,
        /// Its message.
        message: String,
    },
    /// The hospital's node could not be reached or answered something unreadable.
    #[error("hospital node {node}: {reason}")]
    Http {
        /// The address asked.
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// A record under a recording authorization the patient had revoked on the ledger before
    /// the record's block: no honest node decides it.
    #[error(
        "record {record} (height {height}) is under authorization {serial} at {hospital}, which the patient revoked at height {revoked_at}"
    )]
    RevokedAuthorization {
        /// hospital/department#sequence.
        record: String,
        /// Height of its block.
        height: u64,
        /// The authorization's hospital.
        hospital: String,
        /// Its serial.
        serial: u64,
        /// Height of the block holding the revocation.
        revoked_at: u64,
    },
    /// An endorser's receipt that does not check (signature, certificate, or another event).
    #[error("the endorser's receipt does not check: {0}")]
    BadReceipt(String),
    /// Waited in vain for an upload to reach the ledger.
    #[error("{0} was accepted but is not on the ledger yet; run `authorization list` later")]
    NotCommitted(String),
}
