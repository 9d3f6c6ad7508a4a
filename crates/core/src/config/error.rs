//! Why a configuration change is refused. Each names what an operator must fix.

use crate::error::LedgerError;

/// A configuration change refused before it reaches a block (and never decided).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The bytes do not decode, or a field is missing or malformed.
    #[error("malformed configuration change: {0}")]
    Malformed(String),
    /// Not signed by the network's CA.
    #[error("configuration change not signed by the network's CA")]
    NotSignedByCa,
    /// The change names no change at all.
    #[error("configuration change carries no change")]
    Empty,
    /// The same change (same bytes) was applied already.
    #[error("configuration change {id} was applied already")]
    Replayed {
        /// The change's id (hex).
        id: String,
    },
    /// A certificate serial already in use.
    #[error("certificate serial {serial} is already in use ({name})")]
    DuplicateSerial {
        /// The serial.
        serial: u64,
        /// Whose certificate holds it.
        name: String,
    },
    /// A key that already holds an unrevoked certificate under another serial.
    #[error("key already certified as {name} (serial {serial}); revoke that certificate first")]
    KeyAlreadyCertified {
        /// The holder's name.
        name: String,
        /// The serial it holds.
        serial: u64,
    },
    /// A certificate for a region the network does not have.
    #[error(
        "certificate {serial} names region {region:?}, which is not configured; add the region first"
    )]
    UnknownRegion {
        /// The serial.
        serial: u64,
        /// The region.
        region: String,
    },
    /// A certificate with no role.
    #[error("certificate {serial} carries no role")]
    NoRole {
        /// The serial.
        serial: u64,
    },
    /// A revocation of a serial no certificate holds.
    #[error("no certificate with serial {serial} to revoke")]
    UnknownCertificate {
        /// The serial.
        serial: u64,
    },
    /// A revocation of a serial revoked at an earlier height.
    #[error("certificate {serial} was revoked at height {height} already")]
    AlreadyRevoked {
        /// The serial.
        serial: u64,
        /// Where.
        height: u64,
    },
    /// The change would leave fewer orderers than PBFT needs.
    #[error(
        "{orderers} orderers would remain, fewer than the {needed} the configuration needs (3f+1 for committee size {committee_size}, and at least 4)"
    )]
    TooFewOrderers {
        /// Orderers left after the change.
        orderers: usize,
        /// Orderers needed.
        needed: usize,
        /// The configured committee size.
        committee_size: usize,
    },
    /// A revocation that would leave a region that takes turns without an endorser candidate.
    #[error(
        "certificate {serial} is the last endorser candidate of region {region:?}, which takes turns: certify another candidate there first"
    )]
    LastCandidate {
        /// The certificate's serial.
        serial: u64,
        /// Its region.
        region: String,
    },
    /// A change the consensus machine would refuse as the membership it leaves (the
    /// configuration's own rules should catch each case first; this is the backstop that
    /// keeps the two checks one).
    #[error("the consensus would refuse the membership this change leaves: {0}")]
    RefusedByConsensus(String),
    /// A region that exists already.
    #[error("region {0:?} exists already")]
    DuplicateRegion(String),
    /// Consensus parameters out of range.
    #[error("consensus parameters refused: {0}")]
    BadParams(String),
    /// No configuration state to check against (a ledger opened without its genesis).
    #[error(
        "no configuration state to check configuration changes against (ledger opened without genesis)"
    )]
    NoState,
    /// The block carries more changes than allowed.
    #[error("{count} configuration changes in one block, more than {max}")]
    TooManyChanges {
        /// Changes carried.
        count: usize,
        /// The limit.
        max: usize,
    },
}

impl From<LedgerError> for ConfigError {
    fn from(e: LedgerError) -> Self {
        ConfigError::Malformed(e.to_string())
    }
}
