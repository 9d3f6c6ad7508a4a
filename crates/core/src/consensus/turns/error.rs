//! Why the turn machine refuses a message or an input.

use crate::consensus::beacon::BeaconError;

/// Why a turn message or input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    /// No endorsers, or two views for one region at start.
    #[error("invalid endorser set: {0}")]
    InvalidEndorsers(&'static str),
    /// A field of the wrong length or shape.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The body does not decode.
    #[error("cannot decode {0}")]
    Decode(&'static str),
    /// A message larger than the configured limit.
    #[error("message of {len} bytes exceeds {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A message for another turn than the current one.
    #[error("message for turn {got}, current turn is {current}")]
    WrongTurn {
        /// Turn named.
        got: u64,
        /// Current turn.
        current: u64,
    },
    /// The signer is not the current primary (or the local node is asked to act as primary
    /// when it is not).
    #[error("{key} is not the primary of turn {turn}")]
    NotPrimary {
        /// The key (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A skip from a key that is not an endorser other than the primary.
    #[error("{key} may not sign a skip of turn {turn}")]
    NotEligible {
        /// The key (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A signature that does not verify.
    #[error("forged {what} signature from {key}")]
    BadSignature {
        /// Which message.
        what: &'static str,
        /// Claimed signer (hex).
        key: String,
    },
    /// A beacon that does not verify or does not match the turn.
    #[error("beacon: {0}")]
    Beacon(#[from] BeaconError),
    /// A beacon for another primary, chain or height than the turn's.
    #[error("beacon does not match the turn's {0}")]
    BeaconMismatch(&'static str),
    /// The same skip twice.
    #[error("duplicate skip from {key}")]
    Duplicate {
        /// The signer (hex).
        key: String,
    },
    /// Two different skips of one turn from one endorser.
    #[error("{key} signed two different skips of turn {turn}")]
    Equivocation {
        /// The signer (hex).
        key: String,
        /// The turn.
        turn: u64,
    },
    /// A claimed chain that contradicts what this node decided.
    #[error("chain conflict at height {height}")]
    ChainConflict {
        /// First height where the claim and the local chain disagree.
        height: u64,
    },
    /// A decided block out of order.
    #[error("decided height {got}, expected {expected}")]
    OutOfOrder {
        /// Height fed.
        got: u64,
        /// Next height this machine expects.
        expected: u64,
    },
    /// An endorser view for a region the network does not have.
    #[error("unknown region {0:?}")]
    UnknownRegion(String),
    /// An endorser view not newer than the one held.
    #[error("view {got} of region {region:?} is not newer than {held}")]
    StaleView {
        /// The region.
        region: String,
        /// The view offered.
        got: u64,
        /// The view held.
        held: u64,
    },
    /// The local node holds no endorser key.
    #[error("this node is not an endorser")]
    NotAnEndorser,
    /// A skip for a turn whose beacon (and so committee) is known: that turn ends only by its
    /// committee's decision.
    #[error("turn {turn} has a committee; only its committee ends it")]
    BeaconSeen {
        /// The turn.
        turn: u64,
    },
    /// An advance to a turn that is not later than the current one.
    #[error("cannot advance to turn {got} from turn {current}")]
    NotLater {
        /// Turn asked for.
        got: u64,
        /// Current turn.
        current: u64,
    },
}
