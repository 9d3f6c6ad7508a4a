//! The actors crate's errors.

use medblock_core::LedgerError;
use medblock_storage::StorageError;

/// Why a node or one of its actors could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// The ledger or another store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Input refused by the ledger rules.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The network failed.
    #[error("network: {0}")]
    Network(#[from] medblock_p2p::P2pError),
    /// The node's configuration cannot work (roles, genesis, membership).
    #[error("configuration: {0}")]
    Config(String),
    /// The consensus machine could not be set up.
    #[error("consensus: {0}")]
    Consensus(String),
    /// No endorser answered an upload (all candidates refused or timed out).
    #[error("no endorser accepted the event: {0}")]
    NoEndorser(String),
    /// The event was accepted but not committed in time.
    #[error("event {0} was not committed in time; it stays in the outbox and will be retried")]
    NotCommitted(String),
    /// A batch of visits could not be written to the hospital's store or the outbox: none of
    /// them was recorded, and none was acknowledged.
    #[error("the visit could not be recorded: {0}")]
    Unrecorded(String),
    /// An actor is gone (the node is shutting down).
    #[error("the node is shutting down")]
    Stopped,
    /// A patient's enrolment, or a visit for a patient not enrolled or not authorizing it.
    #[error(transparent)]
    Patient(#[from] crate::registry::EnrolError),
    /// A request from an operator or an API caller was malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl From<actix::MailboxError> for ActorError {
    fn from(_: actix::MailboxError) -> Self {
        ActorError::Stopped
    }
}
