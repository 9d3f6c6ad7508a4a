//! The committer's contract: the messages it handles, what it announces to its subscribers
//! ([`BlockCommitted`]), its answers, and the [`Mailbox`] other actors hold to reach it. This
//! is all another actor may import from the committer.

use crate::block_check::DecidedError;
use actix::prelude::*;
use medblock_core::keys::PublicKey;
use medblock_core::{ChainTip, EventKey, Hash32, wire};
use serde::Serialize;

/// A block appended to the ledger: what the orderer, endorser and client need to know.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct BlockCommitted {
    /// Its height.
    pub height: u64,
    /// Its id.
    pub block_id: Hash32,
    /// The turn its certificate is for.
    pub turn: u64,
    /// The new tip.
    pub tip: ChainTip,
    /// The events it holds.
    pub event_keys: Vec<EventKey>,
    /// The endorser that packed it.
    pub endorser: PublicKey,
    /// Whether it ends its primary's turn (its header's flag).
    pub last_of_turn: bool,
    /// Its commit certificate: a block of a turn later than the orderer's moves the orderer's
    /// turns on (its consensus machine may have missed how its own turn ended).
    pub certificate: Option<wire::CommitCertificate>,
    /// The consensus membership in force after it, when it carried configuration changes at
    /// the end of its turn: the orderer installs it before the next turn, also for blocks its
    /// consensus machine did not decide itself (the committer's catch-up).
    pub reconfiguration: Option<medblock_core::consensus::Reconfiguration>,
}

/// A decided value, from the local orderer or from gossip.
#[derive(Debug, Message)]
#[rtype(result = "Result<CommitOutcome, DecidedError>")]
pub struct Decided {
    /// The value and its certificate.
    pub value: wire::DecidedValue,
    /// Who sent it (None: the local orderer), asked first when catching up.
    pub from: Option<PublicKey>,
}

/// What became of a decided value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Appended at this height (and possibly buffered successors after it).
    Committed(u64),
    /// Already on the ledger (checked).
    AlreadyHave,
    /// Names, in its certificate, a block id this ledger already holds at that height: a
    /// copy of a block we have, dropped unchecked (and not forwarded).
    Duplicate,
    /// For a later height: kept until the gap is filled by catch-up.
    Buffered,
    /// Not a block (nothing to append).
    NotABlock,
}

/// A peer asks for decided blocks.
#[derive(Debug, Message)]
#[rtype(result = "wire::CatchUpResponse")]
pub struct ServeCatchUp(pub wire::CatchUpRequest);

/// A ledger claim received by gossip.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct ClaimReceived {
    /// The gossip author.
    pub author: PublicKey,
    /// The claim.
    pub claim: wire::LedgerClaim,
}

/// Adds a listener for committed blocks.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<BlockCommitted>);

/// Asks for the committer's state.
#[derive(Debug, Message)]
#[rtype(result = "CommitterStatus")]
pub struct GetCommitterStatus;

/// Where an event is on the ledger, if committed.
#[derive(Debug, Message)]
#[rtype(result = "Result<Option<(u64, Hash32)>, String>")]
pub struct FindEvent(pub EventKey);

/// A peer whose ledger claim disagreed with ours.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct FlaggedPeer {
    /// Its key (hex).
    pub key: String,
    /// Its name, if admitted.
    pub name: String,
    /// The height compared.
    pub height: u64,
    /// Its claimed ledger hash.
    pub theirs: String,
    /// Ours at that height.
    pub ours: String,
}

/// The committer's state for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct CommitterStatus {
    /// Decided height.
    pub height: u64,
    /// Tip block id (hex).
    pub tip_hash: String,
    /// Ledger hash (content chain) at the tip (hex).
    pub ledger_hash: String,
    /// Peers flagged for a differing ledger.
    pub flagged: Vec<FlaggedPeer>,
    /// Values waiting for a gap to be filled.
    pub buffered: usize,
}

/// What other actors hold to reach the committer: one channel per message it takes, all into
/// the one actor's mailbox.
#[derive(Clone)]
pub struct Mailbox {
    /// Decided values (the local orderer's, and gossip's).
    pub decided: Recipient<Decided>,
    /// Peers' catch-up requests.
    pub catch_up: Recipient<ServeCatchUp>,
    /// Ledger claims received by gossip.
    pub claim: Recipient<ClaimReceived>,
    /// Listeners for committed blocks.
    pub subscribe: Recipient<Subscribe>,
    /// Status questions.
    pub status: Recipient<GetCommitterStatus>,
    /// Where an event is on the ledger.
    pub find_event: Recipient<FindEvent>,
}

impl Mailbox {
    /// The mailbox of `addr`, an actor that handles the committer's messages.
    pub fn new<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<Decided>
            + Handler<ServeCatchUp>
            + Handler<ClaimReceived>
            + Handler<Subscribe>
            + Handler<GetCommitterStatus>
            + Handler<FindEvent>,
    {
        Self {
            decided: addr.clone().recipient(),
            catch_up: addr.clone().recipient(),
            claim: addr.clone().recipient(),
            subscribe: addr.clone().recipient(),
            status: addr.clone().recipient(),
            find_event: addr.clone().recipient(),
        }
    }
}
