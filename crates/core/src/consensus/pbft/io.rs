//! A replica's inputs, its actions, its decisions and its counters.

use super::{PbftMessage, SafetyRecord};
use crate::hash::Hash32;
use crate::keys::PublicKey;
use crate::wire;

/// What drives a replica.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaInput {
    /// A value to order at `height` (the leader proposes it; the others expect progress).
    Propose {
        /// Height it is for.
        height: u64,
        /// The value.
        value: wire::ProposedValue,
    },
    /// A PBFT message from a member.
    Message(PbftMessage),
    /// The last timer set has fired.
    Timeout,
    /// The driver lost its connection to `key`: when it leads the current view, the replica
    /// moves to the next view now instead of waiting for the timeout (a crashed leader's
    /// connection closes at once; one that only looks lost costs a view change, never safety).
    LeaderLost(PublicKey),
    /// A value decided elsewhere, whose certificate the caller verified (catch-up, gossip).
    Decided {
        /// Height.
        height: u64,
        /// The value.
        value: wire::ProposedValue,
        /// Its id.
        digest: Hash32,
        /// Its certificate.
        certificate: wire::CommitCertificate,
    },
}

/// A decision: the value at `height` and its certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Height decided.
    pub height: u64,
    /// The value.
    pub value: wire::ProposedValue,
    /// Its id.
    pub digest: Hash32,
    /// 2f+1 signed commits (plus beacon evidence).
    pub certificate: wire::CommitCertificate,
}

/// What a replica asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplicaAction {
    /// Send to every other committee member.
    Broadcast(PbftMessage),
    /// A value is decided; persist it before acting on it.
    Decide(Box<Decision>),
    /// Feed [`ReplicaInput::Timeout`] at `at_ms`, replacing any earlier timer.
    SetTimer {
        /// Deadline in the driver's milliseconds.
        at_ms: u64,
    },
    /// No timer is needed any more.
    CancelTimer,
    /// A member's view change shows it has not decided heights this replica has: send it
    /// the decided values from `from_height` (it may be stuck where nobody else still talks).
    PeerBehind {
        /// The member.
        peer: PublicKey,
        /// Its first undecided height.
        from_height: u64,
    },
    /// Members proved heights this replica has not decided: fetch decided values from here.
    CatchUp {
        /// First missing height.
        from_height: u64,
    },
    /// Write this record durably before carrying out the actions after it (it comes first in
    /// its step): see [`safety`].
    Persist(Box<SafetyRecord>),
    /// The turn primary's block proposal for `height` is invalid whatever this replica's state
    /// ([`crate::consensus::InvalidProposal::blame`]): the driver may end the turn with it as
    /// evidence.
    Refused {
        /// The height it was proposed for.
        height: u64,
        /// The refused value (the primary's signed proposal).
        value: wire::ProposedValue,
    },
    /// `signer` signed two different digests of one kind for one (view, height).
    Equivocation {
        /// The key that signed both.
        signer: PublicKey,
        /// "pre-prepare", "prepare" or "commit".
        what: &'static str,
        /// The view.
        view: u64,
        /// The height.
        height: u64,
    },
}

/// Counters, for metrics and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Messages refused (bad signature, wrong turn, invalid content...).
    pub rejected: u64,
    /// Invalid values refused on pre-prepare.
    pub invalid_values: u64,
    /// View changes this replica started.
    pub view_changes_started: u64,
    /// New views entered.
    pub views_entered: u64,
    /// Conflicting pre-prepares, prepares or commits seen from one key.
    pub equivocations: u64,
    /// Stable checkpoints reached.
    pub stable_checkpoints: u64,
    /// View changes started because the driver lost the leader's connection.
    pub leaders_lost: u64,
}
