//! The orderer's contract: the messages it handles, what it announces to listeners
//! ([`EndorserChanged`]), and the [`Mailbox`] other actors hold to reach it. This is all
//! another actor may import from the orderer.

use crate::endorser::ingress::EndorserNews;
use actix::prelude::*;
use medblock_core::consensus::node::ConsensusStatus;
use medblock_core::keys::PublicKey;
use medblock_core::wire;

/// A consensus message from a peer (already admitted by the router).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ConsensusIn {
    /// The sender's key.
    pub from: PublicKey,
    /// The message.
    pub msg: wire::ConsensusMessage,
}

/// The local primary's next block.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Propose {
    /// Height it is for.
    pub height: u64,
    /// The encoded block.
    pub payload: Vec<u8>,
    /// The primary's last block of its turn: the turn ends once it is decided.
    pub last_of_turn: bool,
}

/// The local primary has nothing more to propose in `turn`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct EndMyTurn {
    /// The turn.
    pub turn: u64,
}

/// The driver's failure detector: the region's endorser looks crashed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct SuspectEndorser {
    /// The region.
    pub region: String,
}

/// The current endorser of a region changed (for the client's choice of endorser).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct EndorserChanged {
    /// Region.
    pub region: String,
    /// Its endorser.
    pub endorser: PublicKey,
}

/// A peer passed the certificate handshake: it gets the recent broadcasts it missed (votes,
/// view certificates, beacons, turn ends), which the machines treat idempotently.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PeerAdmitted(pub PublicKey);

/// Every connection to an admitted peer closed (a crashed process's close at once): the
/// consensus does not wait for a lost PBFT leader or turn primary.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct PeerLost(pub PublicKey);

/// Connects the orderer to the local endorser and the listeners for endorser changes; the
/// machine's start-up actions run once this arrives, so nobody misses them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Connect {
    /// The local endorser, on endorser nodes.
    pub endorser: Option<Recipient<EndorserNews>>,
    /// Listeners for endorser changes (the client).
    pub listeners: Vec<Recipient<EndorserChanged>>,
}

/// Asks for the consensus state.
#[derive(Debug, Message)]
#[rtype(result = "ConsensusStatus")]
pub struct GetConsensusStatus;

/// The decided turn ends the machine remembers from a height on (see
/// `ConsensusNode::turn_ends_from`), to serve catch-up beside the ledger's blocks.
#[derive(Debug, Message)]
#[rtype(result = "Vec<wire::DecidedValue>")]
pub struct TurnEndsFrom(pub u64);

/// What other actors hold to reach the orderer: one channel per message they send it, all into
/// the one actor's mailbox.
#[derive(Clone)]
pub struct Mailbox {
    /// Consensus messages from peers.
    pub consensus: Recipient<ConsensusIn>,
    /// Peers that passed the handshake.
    pub peer_admitted: Recipient<PeerAdmitted>,
    /// Admitted peers whose connections all closed.
    pub peer_lost: Recipient<PeerLost>,
    /// Catch-up's question for decided turn ends.
    pub turn_ends_from: Recipient<TurnEndsFrom>,
    /// Status questions.
    pub status: Recipient<GetConsensusStatus>,
    /// The local primary's blocks.
    pub propose: Recipient<Propose>,
    /// The local primary's end of turn.
    pub end_my_turn: Recipient<EndMyTurn>,
}

impl Mailbox {
    /// The mailbox of `addr`, an actor that handles the orderer's messages.
    pub fn new<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<ConsensusIn>
            + Handler<PeerAdmitted>
            + Handler<PeerLost>
            + Handler<TurnEndsFrom>
            + Handler<GetConsensusStatus>
            + Handler<Propose>
            + Handler<EndMyTurn>,
    {
        Self {
            consensus: addr.clone().recipient(),
            peer_admitted: addr.clone().recipient(),
            peer_lost: addr.clone().recipient(),
            turn_ends_from: addr.clone().recipient(),
            status: addr.clone().recipient(),
            propose: addr.clone().recipient(),
            end_my_turn: addr.clone().recipient(),
        }
    }
}
