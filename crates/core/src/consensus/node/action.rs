//! What a [`ConsensusNode`](super::ConsensusNode) asks its driver to do: send, set the one
//! timer, commit a decided block, propose as primary, fetch missing heights.

use super::*;

/// What a [`ConsensusNode`] asks its driver to do.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeAction {
    /// Send to every consensus node (gossip or direct sends).
    Broadcast(wire::ConsensusMessage),
    /// Send to one node.
    Send {
        /// The recipient.
        to: PublicKey,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// Send to these nodes (a turn's committee); a gossip driver may broadcast instead.
    Multicast {
        /// The recipients.
        to: Vec<PublicKey>,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// Feed [`NodeInput::Tick`] at `at_ms`, replacing any earlier timer.
    SetTimer {
        /// Deadline in the driver's milliseconds.
        at_ms: u64,
    },
    /// A block is decided and its certificate verified: check the payload, commit it, then feed
    /// [`NodeInput::Committed`]. Decisions come in height order, each once.
    Decided(Box<wire::DecidedValue>),
    /// The local endorser is the primary of `turn`: answer [`NodeAction::NeedProposal`] with
    /// [`NodeInput::Propose`] or [`NodeInput::EndMyTurn`].
    MyTurn {
        /// The turn.
        turn: u64,
        /// Its first height.
        start_height: u64,
        /// Id of the block before it.
        chain_hash: Hash32,
    },
    /// The primary may propose `height` now; `previous` is the id at `height - 1`.
    NeedProposal {
        /// The turn.
        turn: u64,
        /// The height to fill.
        height: u64,
        /// The block it must extend.
        previous: Hash32,
    },
    /// A new turn (committee `None`), or its committee became known.
    TurnChanged {
        /// The turn.
        turn: u64,
        /// Its primary.
        primary: PublicKey,
        /// Its committee once the beacon verified.
        committee: Option<Vec<PublicKey>>,
    },
    /// A region's endorser was elected (verified view certificate).
    Elected {
        /// The region.
        region: String,
        /// The election round.
        view: u64,
        /// The endorser.
        endorser: PublicKey,
    },
    /// Fetch decided values from `from_height` (send a `CatchUpRequest` to a peer) and feed the
    /// answer back as [`NodeInput::Message`].
    CatchUp {
        /// First missing height.
        from_height: u64,
        /// A peer known to hold them: it sent this node a message of a later turn. Drivers
        /// ask it besides their usual choice (a peer's claimed ledger height says nothing of a
        /// turn that ended without a block, and such a turn end is what was missed).
        ask: Option<PublicKey>,
    },
    /// Write this PBFT safety record durably *before* carrying out the actions after it
    /// (which may send what it records); on restart hand it to
    /// [`ConsensusNode::restore_safety`].
    PersistSafety(Box<SafetyRecord>),
    /// `signer` signed two different digests of one kind for one (view, height) of the
    /// current turn: evidence of a Byzantine member (for metrics and logs).
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
    /// An input was refused (for metrics).
    Rejected {
        /// Why, as a fixed label.
        reason: &'static str,
    },
}
