//! The endorser's implementation: admission, the durable queue, packing and turn ends. Other
//! actors reach it only through [`super::ingress`].

use super::admission::{Standing, UploadRules};
use super::config_pool::ConfigPool;
use super::ingress::{ConfigIn, EndorserNews, ReceiptsIn, UploadBatchIn, UploadIn};
use super::packing::{self, ByteBudget, Misbehaviour};
use crate::clock::now_ms;
use crate::committer::ingress::BlockCommitted;
use crate::orderer::ingress::{EndMyTurn, Propose};
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::authorization::AuthorizationCache;
use medblock_core::block::{PackRequest, pack_block_with_config};
use medblock_core::block_rules::BlockLimits;
use medblock_core::codec::decode_bounded;
use medblock_core::consensus::ConsensusConfig;
use medblock_core::consensus::proposer::{
    Proposer, ProposerAction, ProposerConfig, ProposerInput, ProposerView, Taken, Tip,
};
use medblock_core::event::{Admission, MAX_UPLOAD_BATCH, admit_events};
use medblock_core::keys::purpose;
use medblock_core::pacing;
use medblock_core::wire::{self, Role};
use medblock_core::{ChainTip, EventKey, Hash32, ParsedEvent};
use medblock_storage::{EventQueue, Ledger, QueuedEvent};
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Blocks one primary proposes in a turn before handing over (the policy is core's
/// [`Proposer`]).
pub use medblock_core::consensus::proposer::BLOCKS_PER_TURN;

/// A block proposed and not yet committed, as sent: asked again (a PBFT view change), the
/// endorser sends the very same bytes.
#[derive(Debug)]
struct Sent {
    payload: Vec<u8>,
    last_of_turn: bool,
}

/// The endorser actor.
pub struct Endorser {
    ctx: Ctx,
    /// Patients' authorization signatures already verified (one per patient and hospital,
    /// not one per visit).
    authorizations: AuthorizationCache,
    ledger: Arc<Ledger>,
    pending: EventQueue,
    orderer: Option<Recipient<Propose>>,
    end_turn: Option<Recipient<EndMyTurn>>,
    elected: bool,
    /// The primary's policy (when and how much to propose): core's pure machine, which the
    /// simulator drives too.
    proposer: Proposer<EventKey>,
    /// Blocks proposed and not committed, by height.
    sent: BTreeMap<u64, Sent>,
    policy: wire::AccessPolicy,
    /// Sequence conflicts and the access-record rules (see [`super::admission`]).
    rules: UploadRules,
    /// Genesis limits on a block's events and bytes: packing stops at either.
    limits: BlockLimits,
    /// Test-only: which blocks a Byzantine primary spoils (see `packing.rs`).
    misbehaviour: Misbehaviour,
    /// Configuration changes waiting for the last block of one of this endorser's turns.
    config: ConfigPool,
}

impl Endorser {
    /// An endorser over its durable pending queue and the node's ledger.
    pub fn new(ctx: Ctx, ledger: Arc<Ledger>, pending: EventQueue) -> Self {
        let params = &ctx.genesis.params;
        let proposer = Proposer::new(ProposerConfig::new(
            params.max_block_events as usize,
            params.block_interval_ms,
            ctx.genesis.body.regions.len(),
            ConsensusConfig::from(params).turn_timeout_ms,
        ));
        Self {
            limits: BlockLimits::from_params(params),
            misbehaviour: Misbehaviour::default(),
            config: ConfigPool::default(),
            authorizations: AuthorizationCache::default(),
            proposer,
            sent: BTreeMap::new(),
            ctx,
            ledger,
            pending,
            orderer: None,
            end_turn: None,
            elected: false,
            rules: UploadRules::default(),
            policy: wire::AccessPolicy {
                version: 1,
                challenge_ttl_ms: 60_000,
                reader_roles: vec![Role::Regulator as i32],
            },
        }
    }

    /// Connects the endorser to its orderer (proposals and end of turn).
    pub fn with_orderer(mut self, propose: Recipient<Propose>, end: Recipient<EndMyTurn>) -> Self {
        self.orderer = Some(propose);
        self.end_turn = Some(end);
        self
    }

    fn receipt(
        &self,
        status: wire::ReceiptStatus,
        parsed_key: (&str, &str, u64),
        event_hash: &[u8],
        at: Option<(u64, Hash32)>,
    ) -> wire::Receipt {
        self.sign_receipt(self.receipt_body(status, parsed_key, event_hash, at))
    }

    fn receipt_body(
        &self,
        status: wire::ReceiptStatus,
        parsed_key: (&str, &str, u64),
        event_hash: &[u8],
        at: Option<(u64, Hash32)>,
    ) -> wire::ReceiptBody {
        let (hospital, department, sequence) = parsed_key;
        wire::ReceiptBody {
            status: status as i32,
            hospital: hospital.to_owned(),
            department: department.to_owned(),
            sequence,
            event_hash: event_hash.to_vec(),
            endorser_key: self.ctx.key().as_bytes().to_vec(),
            height: at.map(|a| a.0).unwrap_or(0),
            block_id: at.map(|a| a.1.0.to_vec()).unwrap_or_default(),
            issued_at_ms: now_ms(),
        }
    }

    fn sign_receipt(&self, body: wire::ReceiptBody) -> wire::Receipt {
        let (body, signature) = self.signed(purpose::RECEIPT, body.encode_to_vec());
        wire::Receipt { body, signature }
    }

    /// `body` and this endorser's signature over it for `purpose`.
    fn signed(&self, purpose: &str, body: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
        let signature = self.ctx.identity.signing.sign(purpose, &body).to_vec();
        (body, signature)
    }

    fn committed_at(&self, key: &EventKey) -> Option<(u64, Hash32)> {
        committed_at(&self.ledger, key)
    }

    /// The paper's Step 2 for uploads received together: each event is checked on its own
    /// (structure, hash, both signatures in one ed25519 batch, the department's certificate),
    /// the new ones are persisted in the pending queue with one synced write, and each gets the
    /// body of its receipt (accepted, or committed when the ledger already has it) or a refusal.
    fn admit(
        &mut self,
        uploads: Vec<wire::Upload>,
    ) -> Vec<Result<wire::ReceiptBody, wire::ErrorReply>> {
        let refuse = |code: wire::error_reply::Code, message: String| wire::ErrorReply {
            code: code as i32,
            message,
        };
        if !self.elected {
            let why = format!("{} is not its region's elected endorser", self.ctx.name);
            return uploads
                .iter()
                .map(|_| Err(refuse(wire::error_reply::Code::NotEndorser, why.clone())))
                .collect();
        }
        let now = now_ms();
        let mut within = Vec::with_capacity(uploads.len());
        let mut events = Vec::with_capacity(uploads.len());
        for up in uploads {
            within.push(up.upload_within_ms);
            events.push(up.event.unwrap_or_default());
        }
        let checked = {
            let config = self.ctx.config();
            let trust = config.trust();
            let revoked = self.ctx.revoked.read().unwrap_or_else(|e| e.into_inner());
            let admission = Admission {
                revoked: &revoked,
                cache: &mut self.authorizations,
                height: self.ledger.tip().height + 1,
            };
            admit_events(events, trust, now, admission)
        };
        let mut out = Vec::with_capacity(checked.len());
        let mut queued = Vec::new();
        self.rules.begin_batch();
        for (parsed, within) in checked.into_iter().zip(within) {
            let parsed = match parsed {
                Ok(p) => p,
                Err(e) => {
                    out.push(Err(refuse(
                        wire::error_reply::Code::Rejected,
                        e.to_string(),
                    )));
                    continue;
                }
            };
            let key = parsed.key();
            let id = (
                parsed.body.hospital.as_str(),
                parsed.body.department.as_str(),
                parsed.body.sequence,
            );
            // A taken number is answered as it stands only for the very same event; another
            // event under it, or an access record without a relationship, is refused.
            let standing =
                match self
                    .rules
                    .judge(&self.ctx, &self.ledger, &self.pending, &parsed, now)
                {
                    Ok(s) => s,
                    Err(e) => {
                        out.push(Err(e));
                        continue;
                    }
                };
            if let Standing::Committed(height, block) = standing {
                out.push(Ok(self.receipt_body(
                    wire::ReceiptStatus::Committed,
                    id,
                    &parsed.body.event_hash,
                    Some((height, block)),
                )));
                continue;
            }
            out.push(Ok(self.receipt_body(
                wire::ReceiptStatus::Accepted,
                id,
                &parsed.body.event_hash,
                None,
            )));
            if standing == Standing::Pending {
                continue;
            }
            let mut stamped = parsed.event;
            stamped.received_at_ms = now;
            // The queue is in deadline order: urgent records (deadline now) by upload time.
            queued.push(QueuedEvent {
                order_ms: pacing::deadline(now, within),
                key,
                bytes: stamped.encode_to_vec(),
            });
        }
        if let Err(e) = self.pending.insert_many(&queued) {
            // Nothing of this batch was persisted: no acceptance may be acknowledged.
            let why = format!("could not persist the event: {e}");
            for r in out.iter_mut() {
                if r.as_ref()
                    .is_ok_and(|b| b.status == wire::ReceiptStatus::Accepted as i32)
                {
                    *r = Err(refuse(wire::error_reply::Code::Busy, why.clone()));
                }
            }
        }
        out
    }

    /// Counts what [`Endorser::admit`] decided and wakes a held turn when something arrived.
    fn admitted(
        &mut self,
        answers: &[Result<wire::ReceiptBody, wire::ErrorReply>],
        ctx: &mut Context<Self>,
    ) {
        let mut accepted = 0;
        for a in answers {
            match a {
                Ok(_) => accepted += 1,
                Err(e) => {
                    Counters::inc(&self.ctx.counters.uploads_rejected);
                    tracing::debug!(reason = %e.message, "upload refused");
                }
            }
        }
        if accepted == 0 {
            return;
        }
        for _ in 0..accepted {
            Counters::inc(&self.ctx.counters.uploads_accepted);
        }
        self.ctx
            .metrics
            .queue_depth
            .with_label_values(&["pending"])
            .add(accepted as i64);
        // A turn held open with nothing due may have something now.
        self.drive(ProposerInput::Arrived, ctx);
    }

    /// Feeds the primary's policy one input and carries out what it asks: pack and propose a
    /// block, send a block again, end the turn, or wake it later.
    fn drive(&mut self, input: ProposerInput, ctx: &mut Context<Self>) {
        let now = now_ms();
        // The heartbeat stays below the turn timeout in force, which the ledger may change.
        let turn_timeout = ConsensusConfig::from(self.ctx.config().params()).turn_timeout_ms;
        self.proposer.set_turn_timeout(turn_timeout);
        // A change that no longer applies must not make the policy propose a block for it.
        if self.config.is_waiting()
            && let Some(state) = self.ledger.config()
        {
            self.config.prune(&state);
        }
        let mut view = QueueView {
            ctx: &self.ctx,
            ledger: &self.ledger,
            pending: &self.pending,
            parsed: HashMap::new(),
            budget: ByteBudget::new(&self.limits),
            config_waiting: self.config.is_waiting(),
        };
        let actions = self.proposer.handle(input, now, &mut view);
        let mut parsed = view.parsed;
        let status = self.proposer.status();
        self.ctx
            .metrics
            .queue_depth
            .with_label_values(&["deferred"])
            .set(i64::try_from(status.deferred).unwrap_or(i64::MAX));
        for action in actions {
            match action {
                ProposerAction::Propose {
                    turn,
                    height,
                    previous: _,
                    events,
                    last_of_turn,
                } => {
                    // The policy read these events through the view a moment ago.
                    let events: Vec<ParsedEvent> =
                        events.iter().filter_map(|k| parsed.remove(k)).collect();
                    self.send_block(turn, height, events, last_of_turn);
                }
                ProposerAction::ProposeAgain { height } => {
                    if let (Some(o), Some(s)) = (&self.orderer, self.sent.get(&height)) {
                        o.do_send(Propose {
                            height,
                            payload: s.payload.clone(),
                            last_of_turn: s.last_of_turn,
                        });
                    }
                }
                ProposerAction::EndTurn { turn } => {
                    tracing::info!(turn, blocks = status.blocks_this_turn, "ending turn");
                    if let Some(e) = &self.end_turn {
                        e.do_send(EndMyTurn { turn });
                    }
                }
                ProposerAction::WakeAt { at_ms } => {
                    let after = Duration::from_millis(at_ms.saturating_sub(now));
                    ctx.run_later(after, |act, ctx| act.drive(ProposerInput::Tick, ctx));
                }
            }
        }
    }

    /// Packs `events` as the block at `height` on the ledger's tip (the policy checked it is
    /// at `height - 1`) and proposes it.
    fn send_block(
        &mut self,
        turn: u64,
        height: u64,
        mut events: Vec<ParsedEvent>,
        last_of_turn: bool,
    ) {
        let tip = self.ledger.tip();
        // Test-only Byzantine mode (off on every real node): spoil every other block.
        let mut byzantine = self.misbehaviour.next(&self.ctx.byzantine);
        if byzantine && self.ctx.byzantine.propose_duplicates {
            let again = packing::committed_again(&self.ledger);
            if again.is_empty() {
                self.misbehaviour.missed();
                byzantine = false;
            }
            events.extend(again);
        }
        let count = events.len();
        // Configuration changes ride in the turn's last block only: one that changes
        // membership must end its turn (core's `check_config`), and keeping them all there
        // keeps the rule one rule.
        let config = if last_of_turn {
            match self.ledger.config() {
                Some(state) => self.config.for_block(&state, height),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        if count == 0 && config.is_empty() {
            // The policy proposed this block for a configuration change that the ledger took
            // in meanwhile (committed between the pool's prune and this packing): an empty
            // block every orderer refuses ("block has no events") would hold the turn until
            // it timed out. End the turn instead.
            tracing::info!(turn, height, "nothing left to pack; ending turn");
            if let Some(e) = &self.end_turn {
                e.do_send(EndMyTurn { turn });
            }
            return;
        }
        if !config.is_empty() {
            tracing::info!(
                turn,
                height,
                changes = config.len(),
                "packing configuration changes"
            );
        }
        let mut block = pack_block_with_config(
            &PackRequest {
                tip: ChainTip { ..tip },
                endorser: &self.ctx.identity.signing,
                region: self.ctx.region(),
                policy: self.policy.clone(),
                packed_at_ms: now_ms(),
                last_of_turn,
            },
            events,
            config,
        );
        // The primary stamps the ordering time; the committee checks it against the chain.
        block.orderer_timestamp_ms = now_ms().max(tip.timestamp_ms);
        if byzantine && self.ctx.byzantine.propose_backdated {
            packing::backdate(&mut block, &tip);
        }
        if byzantine && self.ctx.byzantine.propose_oversized {
            packing::pad(&mut block, &self.ctx.identity.signing, &self.limits);
        }
        let payload = block.encode_to_vec();
        if byzantine {
            tracing::warn!(
                turn,
                height,
                "BYZANTINE TEST MODE: proposing a spoiled block"
            );
        }
        tracing::info!(
            turn,
            height,
            events = count,
            last_of_turn,
            "proposing block"
        );
        self.sent.insert(
            height,
            Sent {
                payload: payload.clone(),
                last_of_turn,
            },
        );
        if let Some(o) = &self.orderer {
            o.do_send(Propose {
                height,
                payload,
                last_of_turn,
            });
        }
    }
}

/// Where `key` was committed, if it was.
fn committed_at(ledger: &Ledger, key: &EventKey) -> Option<(u64, Hash32)> {
    let loc = ledger.event_location(key).ok()??;
    let id = ledger.block_id_at(loc.height).ok()??;
    Some((loc.height, id))
}

/// The durable queue and the ledger as the primary's policy reads them. Entries it may not
/// pack are dropped from the queue as they are read: committed meanwhile (a retry that reached
/// two endorsers), authorization revoked since admission (the committee would refuse the
/// whole block), or unparseable.
struct QueueView<'a> {
    ctx: &'a Ctx,
    ledger: &'a Ledger,
    pending: &'a EventQueue,
    /// The events handed to the policy, parsed, for packing.
    parsed: HashMap<EventKey, ParsedEvent>,
    /// What is left of the block's byte limit.
    budget: ByteBudget,
    /// Whether configuration changes wait for a block.
    config_waiting: bool,
}

impl ProposerView<EventKey> for QueueView<'_> {
    fn config_waiting(&self) -> bool {
        self.config_waiting
    }

    fn tip(&self) -> Tip {
        let tip = self.ledger.tip();
        Tip {
            height: tip.height,
            id: tip.id,
            timestamp_ms: tip.timestamp_ms,
        }
    }

    fn deadlines(&mut self, skip: &BTreeSet<EventKey>) -> Option<Vec<u64>> {
        match self.pending.orders(&|k| skip.contains(k)) {
            Ok(deadlines) => {
                // Re-synced here, where the queue is read anyway: admissions and commits only
                // move the gauge by what they saw.
                self.ctx
                    .metrics
                    .queue_depth
                    .with_label_values(&["pending"])
                    .set(i64::try_from(deadlines.len() + skip.len()).unwrap_or(i64::MAX));
                Some(deadlines)
            }
            Err(e) => {
                tracing::error!(error = %e, "pending queue unreadable");
                None
            }
        }
    }

    fn oldest(&mut self, limit: usize, skip: &BTreeSet<EventKey>) -> Taken<EventKey> {
        let queued = match self.pending.oldest(limit, &|k| skip.contains(k)) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "pending queue unreadable");
                Vec::new()
            }
        };
        let read = queued.len();
        // The block packs on top of the tip (the policy proposes nothing otherwise).
        let height = self.ledger.tip().height + 1;
        let mut dropped = Vec::new();
        let mut events = Vec::with_capacity(read);
        let mut full = false;
        for q in queued {
            if committed_at(self.ledger, &q.key).is_some() {
                dropped.push(q.key);
                continue;
            }
            match ParsedEvent::parse(&q.bytes) {
                Ok(p) => {
                    // The patient revoked the authorization since the event was admitted: the
                    // committee would refuse the whole block, so the event is dropped here.
                    let revoked = p.authorization.as_ref().and_then(|a| {
                        let revoked = self.ctx.revoked.read().unwrap_or_else(|e| e.into_inner());
                        revoked.check(&a.id(), height).err()
                    });
                    if let Some(why) = revoked {
                        tracing::warn!(event = ?q.key, error = %why, "dropping a pending event");
                        dropped.push(q.key);
                        continue;
                    }
                    if !self.budget.take(q.bytes.len(), &p) {
                        // The block is full by bytes; the rest waits for the next block.
                        full = true;
                        break;
                    }
                    events.push(q.key);
                    self.parsed.insert(q.key, p);
                }
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unparseable pending event");
                    dropped.push(q.key);
                }
            }
        }
        if !dropped.is_empty() {
            let _ = self.pending.remove(dropped.iter());
        }
        // Cut by bytes, the queue is not drained: say all that was asked for was read, so
        // the policy goes on with another block rather than ending the turn.
        let read = if full { limit.max(read) } else { read };
        Taken { events, read }
    }
}

impl Actor for Endorser {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        if let Ok(n) = self.pending.len() {
            tracing::info!(pending = n, "endorser ready");
            self.ctx
                .metrics
                .queue_depth
                .with_label_values(&["pending"])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}

impl Handler<UploadIn> for Endorser {
    type Result = Result<wire::Receipt, wire::ErrorReply>;

    fn handle(&mut self, msg: UploadIn, ctx: &mut Self::Context) -> Self::Result {
        let answers = self.admit(vec![wire::Upload {
            event: Some(msg.event),
            upload_within_ms: msg.upload_within_ms,
        }]);
        self.admitted(&answers, ctx);
        let answer = answers.into_iter().next().unwrap_or_else(|| {
            Err(wire::ErrorReply {
                code: wire::error_reply::Code::Malformed as i32,
                message: "empty upload".into(),
            })
        });
        answer.map(|body| self.sign_receipt(body))
    }
}

impl Handler<UploadBatchIn> for Endorser {
    type Result = Result<wire::BatchAnswer, wire::ErrorReply>;

    fn handle(&mut self, msg: UploadBatchIn, ctx: &mut Self::Context) -> Self::Result {
        let n = msg.0.uploads.len();
        if n > MAX_UPLOAD_BATCH {
            Counters::inc(&self.ctx.counters.uploads_rejected);
            return Err(wire::ErrorReply {
                code: wire::error_reply::Code::Malformed as i32,
                message: format!("{n} uploads in one batch; at most {MAX_UPLOAD_BATCH}"),
            });
        }
        let answers = self.admit(msg.0.uploads);
        self.admitted(&answers, ctx);
        let mut receipts = Vec::new();
        let mut refused = Vec::new();
        for (i, a) in answers.into_iter().enumerate() {
            match a {
                Ok(body) => receipts.push(body),
                Err(error) => refused.push(wire::UploadRefusal {
                    index: i as u32,
                    error: Some(error),
                }),
            }
        }
        let receipt = (!receipts.is_empty()).then(|| {
            let (body, signature) = self.signed(
                purpose::RECEIPT_BATCH,
                wire::ReceiptBatchBody { receipts }.encode_to_vec(),
            );
            wire::BatchReceipt { body, signature }
        });
        Ok(wire::BatchAnswer { receipt, refused })
    }
}

impl Handler<ReceiptsIn> for Endorser {
    type Result = MessageResult<ReceiptsIn>;

    fn handle(&mut self, msg: ReceiptsIn, _: &mut Self::Context) -> Self::Result {
        let q = msg.0;
        let mut receipts = Vec::new();
        for seq in q.sequences.iter().take(1024) {
            let key = EventKey::new(&q.hospital, &q.department, *seq);
            let id = (q.hospital.as_str(), q.department.as_str(), *seq);
            if let Some(at) = self.committed_at(&key) {
                receipts.push(self.receipt(wire::ReceiptStatus::Committed, id, &[], Some(at)));
            } else if let Ok(Some(bytes)) = self.pending.get(&key) {
                let hash = decode_bounded::<wire::Event>("event", &bytes, 1 << 24)
                    .ok()
                    .and_then(|e| wire::EventBody::decode(e.body.as_slice()).ok())
                    .map(|b| b.event_hash)
                    .unwrap_or_default();
                receipts.push(self.receipt(wire::ReceiptStatus::Accepted, id, &hash, None));
            }
        }
        MessageResult(wire::ReceiptList { receipts })
    }
}

impl Handler<EndorserNews> for Endorser {
    type Result = ();

    fn handle(&mut self, msg: EndorserNews, ctx: &mut Self::Context) {
        match msg {
            EndorserNews::Elected(e) => {
                if e != self.elected {
                    tracing::info!(elected = e, "endorser view changed");
                }
                self.elected = e;
            }
            EndorserNews::MyTurn { turn } => self.drive(ProposerInput::MyTurn { turn }, ctx),
            EndorserNews::NeedProposal {
                turn,
                height,
                previous,
            } => self.drive(
                ProposerInput::NeedProposal {
                    turn,
                    height,
                    previous,
                },
                ctx,
            ),
            EndorserNews::TurnChanged { turn } => {
                // What was in flight and not decided goes back to the queue.
                self.sent.clear();
                self.drive(ProposerInput::TurnChanged { turn }, ctx);
            }
        }
    }
}

impl Handler<BlockCommitted> for Endorser {
    type Result = ();

    fn handle(&mut self, msg: BlockCommitted, ctx: &mut Self::Context) {
        self.sent.retain(|h, _| *h > msg.height);
        self.drive(ProposerInput::Committed { height: msg.height }, ctx);
        // The gauge follows the removals; counting the queue instead read all of it once a
        // block, thousands of entries during a burst.
        match self.pending.remove(msg.event_keys.iter()) {
            Ok(n) => self
                .ctx
                .metrics
                .queue_depth
                .with_label_values(&["pending"])
                .sub(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => {
                tracing::error!(error = %e, "could not clear committed events from the pending queue");
            }
        }
    }
}

impl Handler<ConfigIn> for Endorser {
    type Result = Result<(Hash32, String), medblock_core::config::ConfigError>;

    fn handle(&mut self, msg: ConfigIn, ctx: &mut Self::Context) -> Self::Result {
        let state = self
            .ledger
            .config()
            .ok_or(medblock_core::config::ConfigError::NoState)?;
        let change = self.config.offer(&state, &msg.0)?;
        tracing::info!(change = %change.id, what = change.describe(), "configuration change waits for a block");
        // A primary holding an empty turn proposes now.
        self.drive(ProposerInput::Arrived, ctx);
        Ok((change.id, change.describe()))
    }
}
