//! What the driver feeds a [`ConsensusNode`](super::ConsensusNode): one input per call to
//! [`handle`](super::ConsensusNode::handle), with the current time and its chain validator.

use super::*;

/// What drives a [`ConsensusNode`]. (Messages travel unboxed: the agreed driver API, and an
/// input lives only for one call.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum NodeInput {
    /// Anything received from `from` (sender authenticated by the transport; every signature
    /// inside is still checked).
    Message {
        /// The transport-authenticated sender.
        from: PublicKey,
        /// The message.
        msg: wire::ConsensusMessage,
    },
    /// The timer fired (or any periodic tick).
    Tick,
    /// The local primary's next block (opaque, an encoded block) at `height`, in answer to
    /// [`NodeAction::NeedProposal`].
    Propose {
        /// Its height.
        height: u64,
        /// The encoded block.
        payload: Vec<u8>,
        /// The primary's last block of the turn: once decided, the turn ends with it (no
        /// separate turn-end round, which cost every turn a whole PBFT round).
        last_of_turn: bool,
    },
    /// The local primary has nothing more to propose this turn.
    EndMyTurn,
    /// The driver verified and committed a decided block (after [`NodeAction::Decided`], or
    /// from its own catch-up).
    Committed {
        /// Its height.
        height: u64,
        /// Its id.
        block_id: Hash32,
        /// The turn its certificate is for.
        turn: u64,
        /// Whether the block ends its turn ([`ChainValidator::ends_turn`] of its payload).
        last_of_turn: bool,
        /// Its commit certificate, when the driver has it. A block of a turn later than the
        /// node's (the node missed how its turn ended: a turn end it never received, or one
        /// that came after the driver had committed the next turn's block and was dropped as
        /// below the next height) moves the node into that turn, its beacon evidence checked
        /// as a later turn's decided value's is. Without it the node stays in its old turn.
        certificate: Option<wire::CommitCertificate>,
    },
    /// The driver committed from its own catch-up a block that changes membership (its
    /// [`ChainValidator::reconfiguration`]); fed right before that block's
    /// [`Committed`](Self::Committed), so the node installs it before the next turn begins, as
    /// it does for blocks it decides itself. Ignored unless `height` is the node's next height
    /// (a block the node decided itself was installed when it was decided).
    Reconfigured {
        /// The block's height.
        height: u64,
        /// The membership in force after it.
        reconfiguration: Reconfiguration,
    },
    /// The driver's failure detector: `region`'s endorser looks crashed.
    SuspectEndorser {
        /// The region.
        region: String,
    },
    /// The driver lost every connection to `key` (a crashed process's connections close at
    /// once). The PBFT leader lost moves the replica to the next view; the turn's primary lost
    /// for [`lost_grace_ms`](super::ConsensusNode::lost_grace_ms) counts as a stalled turn.
    PeerLost {
        /// The peer.
        key: PublicKey,
    },
    /// `key` is connected (and admitted) again.
    PeerBack {
        /// The peer.
        key: PublicKey,
    },
}
