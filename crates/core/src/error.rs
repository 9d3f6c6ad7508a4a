//! The ledger's typed errors: every way untrusted input can be refused, each with what a person
//! needs to act on it.

use crate::hash::Hash32;
use crate::keys::KeyError;

/// Why an event, a block, a certificate, a sealed summary or a genesis file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Bytes that are not a valid protobuf encoding of the expected message.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The kind of message that was expected.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// A message larger than the protocol allows, refused before decoding.
    #[error("{what} is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// The kind of message.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is missing or empty.
    #[error("{what} is missing field `{field}`")]
    MissingField {
        /// The kind of message.
        what: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A key or signature that is malformed.
    #[error("{what}: {source}")]
    Key {
        /// Which key or signature.
        what: &'static str,
        /// The key error.
        source: KeyError,
    },
    /// The patient's recording authorization does not cover the event, or was revoked.
    #[error("{0}")]
    Authorization(#[from] crate::authorization::AuthorizationError),
    /// The patient's signature over the event body does not verify.
    #[error("patient signature does not verify (event {sequence} of {hospital}/{department})")]
    BadPatientSignature {
        /// The event's sequence number.
        sequence: u64,
        /// Its hospital.
        hospital: String,
        /// Its department.
        department: String,
    },
    /// The department's signature over the event body does not verify.
    #[error("provider signature does not verify (event {sequence} of {hospital}/{department})")]
    BadProviderSignature {
        /// The event's sequence number.
        sequence: u64,
        /// Its hospital.
        hospital: String,
        /// Its department.
        department: String,
    },
    /// The event hash in the signed body is not the SHA-256 of the encrypted summary.
    #[error("event hash mismatch: body says {claimed}, encrypted summary hashes to {actual}")]
    EventHashMismatch {
        /// The hash the signed body names.
        claimed: Hash32,
        /// The hash of the bytes present.
        actual: Hash32,
    },
    /// The summary could not be opened: wrong key, tampered ciphertext, or a ciphertext moved
    /// from another event.
    #[error("sealed summary does not open: wrong key, tampered ciphertext or wrong event")]
    SealOpenFailed,
    /// The key tried is not among the summary's recipients.
    #[error("this key is not a recipient of the sealed summary")]
    NotARecipient,
    /// A signed protocol version this build does not understand.
    #[error("{what} version {version} is not supported (expected {expected})")]
    UnsupportedVersion {
        /// The kind of message.
        what: &'static str,
        /// The version found.
        version: u32,
        /// The version supported.
        expected: u32,
    },
    /// A certificate-related refusal.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// A block that breaks the ledger's rules.
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// Why a certificate does not authorise what is asked of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The certificate's signature does not verify under the genesis CA key.
    #[error("certificate {serial} is not signed by this network's CA")]
    NotSignedByCa {
        /// The certificate serial.
        serial: u64,
    },
    /// No certificate is known for this key.
    #[error("no certificate is known for key {key}")]
    Unknown {
        /// Hex of the key.
        key: String,
    },
    /// Used before its validity window opens.
    #[error("certificate {serial} ({name}) is not valid before {not_before_ms} (time {at_ms})")]
    NotYetValid {
        /// Serial.
        serial: u64,
        /// Holder's name.
        name: String,
        /// Window start.
        not_before_ms: u64,
        /// Time of use.
        at_ms: u64,
    },
    /// Used after its validity window closed.
    #[error("certificate {serial} ({name}) expired at {not_after_ms} (time {at_ms})")]
    Expired {
        /// Serial.
        serial: u64,
        /// Holder's name.
        name: String,
        /// Window end.
        not_after_ms: u64,
        /// Time of use.
        at_ms: u64,
    },
    /// On the CA's revocation list.
    #[error("certificate {serial} ({name}) is revoked")]
    Revoked {
        /// Serial.
        serial: u64,
        /// Holder's name.
        name: String,
    },
    /// Valid, but does not hold the role the action needs.
    #[error("certificate {serial} ({name}) does not hold role {role}")]
    MissingRole {
        /// Serial.
        serial: u64,
        /// Holder's name.
        name: String,
        /// The role asked for.
        role: &'static str,
    },
    /// The certificate names another hospital or department than the event claims.
    #[error(
        "certificate {serial} is for {cert_hospital}/{cert_department}, the event claims {hospital}/{department}"
    )]
    WrongAffiliation {
        /// Serial.
        serial: u64,
        /// Hospital in the certificate.
        cert_hospital: String,
        /// Department in the certificate.
        cert_department: String,
        /// Hospital the event claims.
        hospital: String,
        /// Department the event claims.
        department: String,
    },
    /// A revocation list older than (or as old as) the one already held.
    #[error("revocation list version {offered} is not newer than {held}")]
    StaleRevocationList {
        /// Version offered.
        offered: u64,
        /// Version held.
        held: u64,
    },
    /// The certificate binds a different libp2p peer id than the one presenting it.
    #[error("certificate {serial} is bound to another peer id")]
    WrongPeer {
        /// Serial.
        serial: u64,
    },
}

/// Why a block is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The block has no events.
    #[error("block has no events")]
    Empty,
    /// The header's `config_hash` does not match the block's configuration changes.
    #[error("block {height}: configuration changes do not match the header's config hash")]
    ConfigHashMismatch {
        /// The block's height.
        height: u64,
    },
    /// More events than the consensus parameters allow.
    #[error("block has {count} events, over the limit of {max}")]
    TooManyEvents {
        /// Events in the block.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The header's event count, the signature collection and the events disagree in number.
    #[error(
        "block claims {header} events, signature collection has {collection}, body has {events}"
    )]
    CountMismatch {
        /// Count in the header.
        header: usize,
        /// Entries in the signature collection.
        collection: usize,
        /// Events present.
        events: usize,
    },
    /// The header's block hash (eq. 1) is not the hash of the events present.
    #[error("block hash mismatch at height {height}")]
    BlockHashMismatch {
        /// Height of the block.
        height: u64,
    },
    /// The header's Merkle root is not the root of the events present.
    #[error("Merkle root mismatch at height {height}")]
    MerkleRootMismatch {
        /// Height of the block.
        height: u64,
    },
    /// The signature collection is not the one the header commits to.
    #[error("signature collection does not match its hash in the header at height {height}")]
    SignatureCollectionMismatch {
        /// Height of the block.
        height: u64,
    },
    /// A signature-collection entry disagrees with its event.
    #[error("signature collection entry {index} does not match its event at height {height}")]
    EntryMismatch {
        /// Height of the block.
        height: u64,
        /// Index of the event.
        index: usize,
    },
    /// The endorser's signature over the header does not verify.
    #[error("endorser signature does not verify at height {height}")]
    BadEndorserSignature {
        /// Height of the block.
        height: u64,
    },
    /// The block does not follow the expected previous block.
    #[error("previous hash mismatch at height {height}: expected {expected}, block says {found}")]
    PreviousHashMismatch {
        /// Height of the block.
        height: u64,
        /// The id of the block it should follow.
        expected: Hash32,
        /// The previous hash it names.
        found: Hash32,
    },
    /// The block is not at the expected height.
    #[error("height mismatch: expected {expected}, block says {found}")]
    HeightMismatch {
        /// The next height of the chain.
        expected: u64,
        /// The height the block names.
        found: u64,
    },
    /// Two events with the same (hospital, department, sequence).
    #[error("duplicate sequence number {sequence} for {hospital}/{department}")]
    DuplicateSequence {
        /// Hospital.
        hospital: String,
        /// Department.
        department: String,
        /// Sequence number.
        sequence: u64,
    },
    /// Events not in upload order.
    #[error("events are not sorted by upload time at index {index}")]
    NotSorted {
        /// First index out of order.
        index: usize,
    },
    /// The orderer timestamp goes backwards.
    #[error("orderer timestamp {found} is before the previous block's {previous}")]
    TimestampRegressed {
        /// This block's orderer timestamp.
        found: u64,
        /// The previous block's.
        previous: u64,
    },
    /// The orderer timestamp is ahead of the checking orderer's clock by more than the allowed
    /// skew: the primary's clock is wrong or it lies about when the block was ordered.
    #[error(
        "orderer timestamp {found} is {ahead_ms} ms ahead of this orderer's clock (allowed {allowed_ms} ms)"
    )]
    TimestampAhead {
        /// This block's orderer timestamp.
        found: u64,
        /// How far ahead of the checker's clock.
        ahead_ms: u64,
        /// The allowed skew.
        allowed_ms: u64,
    },
    /// An event inside the block is invalid.
    #[error("event {index} at height {height}: {reason}")]
    BadEvent {
        /// Height of the block.
        height: u64,
        /// Index of the event.
        index: usize,
        /// Why the event was refused.
        reason: Box<LedgerError>,
    },
}

impl LedgerError {
    /// Wraps a key error with what was being read.
    pub fn key(what: &'static str, source: KeyError) -> Self {
        LedgerError::Key { what, source }
    }
}
