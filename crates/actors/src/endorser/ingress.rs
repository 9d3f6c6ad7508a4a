//! The endorser's contract: the messages it handles and the [`Mailbox`] other actors hold to
//! send them. This is all another actor may import from the endorser; the implementation in
//! `actor.rs` stays private to it.

use actix::prelude::*;
use medblock_core::Hash32;
use medblock_core::wire;

/// An upload from a client.
#[derive(Debug, Message)]
#[rtype(result = "Result<wire::Receipt, wire::ErrorReply>")]
pub struct UploadIn {
    /// The encoded event, as received.
    pub event: wire::Event,
    /// How long the department lets this record wait (0: with the next turn).
    pub upload_within_ms: u64,
}

/// Uploads from a client received in one request (see [`wire::UploadBatch`]).
#[derive(Debug, Message)]
#[rtype(result = "Result<wire::BatchAnswer, wire::ErrorReply>")]
pub struct UploadBatchIn(pub wire::UploadBatch);

/// A client asks for receipts.
#[derive(Debug, Message)]
#[rtype(result = "wire::ReceiptList")]
pub struct ReceiptsIn(pub wire::ReceiptQuery);

/// A CA-signed configuration change (encoded `wire::ConfigChange`) to pack into a block.
/// Answers its id and what it does, or why the configuration in force refuses it.
#[derive(Debug, Message)]
#[rtype(result = "Result<(Hash32, String), medblock_core::config::ConfigError>")]
pub struct ConfigIn(pub Vec<u8>);

/// The orderer's news for the endorser.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum EndorserNews {
    /// Whether this node holds its region's endorser view.
    Elected(bool),
    /// The local endorser is primary of `turn`.
    MyTurn {
        /// The turn.
        turn: u64,
    },
    /// The primary may propose `height` on top of `previous`.
    NeedProposal {
        /// The turn.
        turn: u64,
        /// Height to propose.
        height: u64,
        /// Id of the block at height - 1.
        previous: Hash32,
    },
    /// Another turn began: whatever was in flight and not decided goes back to the queue.
    TurnChanged {
        /// The new turn.
        turn: u64,
    },
}

/// What other actors hold to reach the endorser: one channel per message it takes, all into
/// the one actor's mailbox.
#[derive(Clone)]
pub struct Mailbox {
    /// Single uploads (light nodes' forwarded uploads, peers' requests).
    pub upload: Recipient<UploadIn>,
    /// Batches of uploads (a department's client).
    pub upload_batch: Recipient<UploadBatchIn>,
    /// Receipt questions.
    pub receipts: Recipient<ReceiptsIn>,
    /// The orderer's news.
    pub news: Recipient<EndorserNews>,
    /// Configuration changes to pack.
    pub config: Recipient<ConfigIn>,
}

impl Mailbox {
    /// The mailbox of `addr`, an actor that handles the endorser's messages.
    pub fn new<A>(addr: &Addr<A>) -> Self
    where
        A: Actor<Context = Context<A>>
            + Handler<UploadIn>
            + Handler<UploadBatchIn>
            + Handler<ReceiptsIn>
            + Handler<EndorserNews>
            + Handler<ConfigIn>,
    {
        Self {
            upload: addr.clone().recipient(),
            upload_batch: addr.clone().recipient(),
            receipts: addr.clone().recipient(),
            news: addr.clone().recipient(),
            config: addr.clone().recipient(),
        }
    }
}
