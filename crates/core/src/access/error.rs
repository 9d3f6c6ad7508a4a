//! Typed refusals of the access protocol: [`AccessError`] is what a serving peer refuses a
//! visitor with (it travels as a `Denial`), [`ProofError`] what a light node finds wrong with a
//! peer's answer.

use crate::error::LedgerError;
use crate::wire::Denial;

/// Why a serving peer refuses a query. Each maps to one wire [`Denial`] so the visitor gets the
/// same typed reason on his side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The query does not decode or lacks a field.
    #[error("malformed query: {0}")]
    Malformed(String),
    /// The signature is not the claimed visitor key's over these bytes.
    #[error("the query's signature does not verify under the visitor key")]
    BadSignature,
    /// The query names another peer: it was meant for someone else.
    #[error("the query is bound to another peer")]
    WrongPeer,
    /// The nonce was never issued by this peer (or was evicted).
    #[error("unknown challenge nonce")]
    UnknownNonce,
    /// The nonce was already used: a replayed query.
    #[error("challenge nonce already used (replay)")]
    Replayed,
    /// The nonce expired before the query arrived.
    #[error("challenge nonce expired")]
    Expired,
    /// The visitor is neither the patient, a grantee, nor the regulator.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// The visitor's grant was revoked by the patient.
    #[error("the patient revoked this grantee's access")]
    Revoked,
    /// The record asked for is not on the ledger or not held here.
    #[error("no such record: {0}")]
    NoSuchRecord(String),
    /// The query cannot be served now (a regulator read could not be recorded, store error).
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl AccessError {
    /// The wire reason for this refusal.
    pub fn denial(&self) -> Denial {
        match self {
            AccessError::Malformed(_) => Denial::Malformed,
            AccessError::BadSignature => Denial::BadSignature,
            AccessError::WrongPeer => Denial::WrongPeer,
            AccessError::UnknownNonce => Denial::UnknownNonce,
            AccessError::Replayed => Denial::Replayed,
            AccessError::Expired => Denial::Expired,
            AccessError::NotAuthorized(_) => Denial::NotAuthorized,
            AccessError::Revoked => Denial::Revoked,
            AccessError::NoSuchRecord(_) => Denial::NoSuchRecord,
            AccessError::Unavailable(_) => Denial::Unavailable,
        }
    }

    /// The refusal a visitor reads back from a wire `QueryDenied`.
    pub fn from_denial(d: &crate::wire::QueryDenied) -> Self {
        let m = d.message.clone();
        match Denial::try_from(d.reason).unwrap_or(Denial::Unspecified) {
            Denial::BadSignature => AccessError::BadSignature,
            Denial::WrongPeer => AccessError::WrongPeer,
            Denial::UnknownNonce => AccessError::UnknownNonce,
            Denial::Replayed => AccessError::Replayed,
            Denial::Expired => AccessError::Expired,
            Denial::NotAuthorized => AccessError::NotAuthorized(m),
            Denial::Revoked => AccessError::Revoked,
            Denial::NoSuchRecord => AccessError::NoSuchRecord(m),
            Denial::Unavailable => AccessError::Unavailable(m),
            Denial::Malformed | Denial::Unspecified => AccessError::Malformed(m),
        }
    }

    /// The wire form of this refusal.
    pub fn to_wire(&self) -> crate::wire::QueryDenied {
        crate::wire::QueryDenied {
            reason: self.denial() as i32,
            message: self.to_string(),
        }
    }
}

impl From<LedgerError> for AccessError {
    fn from(e: LedgerError) -> Self {
        AccessError::Malformed(e.to_string())
    }
}

/// What a light node finds wrong with a peer's answer: it never trusts the peer, so each is a
/// reason to ask another.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The answer does not decode or lacks a field.
    #[error("malformed answer: {0}")]
    Malformed(String),
    /// The answer is not signed by the peer that was asked (a forged or relayed answer).
    #[error("the answer is not signed by the peer that was asked")]
    BadResponseSignature,
    /// The answer names another peer than the one asked.
    #[error("the answer names peer {found}, expected {expected}")]
    WrongResponder {
        /// Who was asked.
        expected: String,
        /// Who the answer names.
        found: String,
    },
    /// The answer is for another query (a replayed answer).
    #[error("the answer is for another query")]
    WrongQuery,
    /// The block head is bad: endorser signature, header, or the Merkle path.
    #[error("record {index} of block {height}: {reason}")]
    BadRecord {
        /// Block height.
        height: u64,
        /// Event index.
        index: u32,
        /// What failed.
        reason: String,
    },
    /// The event is not on the block: its Merkle path does not lead to the header's root.
    #[error("record {index} of block {height} fails its Merkle proof")]
    MerkleProof {
        /// Block height.
        height: u64,
        /// Event index.
        index: u32,
    },
    /// The block's commit certificate does not verify against genesis's orderers.
    #[error("block {height}: commit certificate refused: {reason}")]
    Certificate {
        /// Block height.
        height: u64,
        /// Why.
        reason: String,
    },
    /// The record is not one the visitor may see (not his, not granted).
    #[error("record {hospital}/{department}#{sequence} is not for this visitor")]
    NotForVisitor {
        /// Hospital.
        hospital: String,
        /// Department.
        department: String,
        /// Sequence.
        sequence: u64,
    },
    /// A bread crumb with no record behind it, or a record no crumb names.
    #[error("bread crumbs and records disagree: {0}")]
    CrumbMismatch(String),
    /// A second peer returned a record this peer left out.
    #[error("peer {peer} left out record {hospital}/{department}#{sequence} (height {height})")]
    Omitted {
        /// The peer that left it out.
        peer: String,
        /// Hospital.
        hospital: String,
        /// Department.
        department: String,
        /// Sequence.
        sequence: u64,
        /// Height of its block.
        height: u64,
    },
    /// The EMR the hospital returned does not hash to the SHA-256 on the ledger.
    #[error("EMR {record_id}: SHA-256 {actual} differs from the ledger's {expected}")]
    EmrHashMismatch {
        /// The record id.
        record_id: String,
        /// The hash on the ledger.
        expected: String,
        /// The hash of what was returned.
        actual: String,
    },
    /// The answer carries no ledger claim signed by a certified committer: the height it must
    /// cover would be only the peer's word.
    #[error("the answer carries no signed tip (a ledger claim of a certified committer)")]
    MissingSignedTip,
    /// A signed tip of the answer does not check (signature, or signer not a certified
    /// committer).
    #[error("signed tip refused: {0}")]
    BadSignedTip(String),
    /// An EMR answer that does not carry the EMR sealed to the visitor (plaintext, or none).
    #[error("the EMR was not sealed to the visitor's key")]
    UnsealedEmr,
    /// The sealed EMR does not open with the visitor's key and this query's binding.
    #[error("the sealed EMR does not open: {0}")]
    SealedEmr(String),
}
