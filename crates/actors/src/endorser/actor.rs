//! The endorser's implementation: admission, the durable queue, packing and turn ends. Other
//! actors reach it only through [`super::ingress`].

use super::ingress::{EndorserNews, ReceiptsIn, UploadBatchIn, UploadIn};
use crate::clock::now_ms;
use crate::committer::ingress::BlockCommitted;
use crate::orderer::ingress::{EndMyTurn, Propose};
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::authorization::AuthorizationCache;
use medblock_core::block::{PackRequest, pack_block};
use medblock_core::codec::decode_bounded;
use medblock_core::event::{Admission, MAX_UPLOAD_BATCH, admit_events};
use medblock_core::keys::purpose;
use medblock_core::pacing;
use medblock_core::wire::{self, Role};
use medblock_core::{ChainTip, EventKey, Hash32, ParsedEvent};
use medblock_storage::{EventQueue, Ledger, QueuedEvent};
use prost::Message as _;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Blocks one primary proposes in a turn before handing over, so every region gets its turn
/// (the paper's turn-based upload).
pub const BLOCKS_PER_TURN: usize = 8;

/// How long a primary with nothing due keeps its turn open for uploads about to arrive, while
/// the network is busy. Short, because an empty turn holds every other region's records back;
/// an upload that arrives meanwhile is proposed at once, without waiting for the end.
const EMPTY_TURN_HOLD: Duration = Duration::from_millis(100);

/// The shortest rotation pacing assumes (two turns cannot be closer than a PBFT round).
const MIN_ROTATION_MS: u64 = 10;

/// With no block for this long the network is idle: empty turns are then held a whole block
/// interval, so idle endorsers do not spin through turns.
const IDLE_AFTER_MS: u64 = 2_000;

/// A block proposed and not yet committed.
#[derive(Debug)]
struct InFlight {
    keys: Vec<EventKey>,
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
    turn: Option<u64>,
    blocks_this_turn: usize,
    /// Events this turn may still pack (pacing).
    quota_left: usize,
    /// When our previous turn began: the rotation pacing spreads the backlog over.
    last_turn_at_ms: Option<u64>,
    rotation_ms: u64,
    /// The typical rotation (see [`pacing::typical_rotation_ms`]), excluding the one just
    /// measured until the turn's quota is set.
    typical_rotation_ms: u64,
    /// When pacing last settled what it was owed, and the time it was owed for but no whole
    /// event paid yet (see [`pacing::Quota`]).
    paced_at_ms: Option<u64>,
    unpaid_ms: u64,
    in_flight: HashMap<u64, InFlight>,
    /// The turn's last block is proposed (flagged `last_of_turn`): the turn ends when it is
    /// decided, and nothing more is packed in it.
    turn_closed: bool,
    waiting: Option<(u64, u64, Hash32)>,
    /// The turn held open with nothing due (turn, height, previous): an upload resumes it.
    held: Option<(u64, u64, Hash32)>,
    policy: wire::AccessPolicy,
    max_events: usize,
    block_interval: Duration,
}

impl Endorser {
    /// An endorser over its durable pending queue and the node's ledger.
    pub fn new(ctx: Ctx, ledger: Arc<Ledger>, pending: EventQueue) -> Self {
        let params = &ctx.genesis.params;
        Self {
            authorizations: AuthorizationCache::default(),
            max_events: params.max_block_events.max(1) as usize,
            block_interval: Duration::from_millis(params.block_interval_ms.max(10)),
            ctx,
            ledger,
            pending,
            orderer: None,
            end_turn: None,
            elected: false,
            turn: None,
            blocks_this_turn: 0,
            quota_left: 0,
            last_turn_at_ms: None,
            rotation_ms: 0,
            typical_rotation_ms: 0,
            paced_at_ms: None,
            unpaid_ms: 0,
            in_flight: HashMap::new(),
            turn_closed: false,
            waiting: None,
            held: None,
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
        let loc = self.ledger.event_location(key).ok()??;
        let id = self.ledger.block_id_at(loc.height).ok()??;
        Some((loc.height, id))
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
            let trust = self.ctx.trust.read().unwrap_or_else(|e| e.into_inner());
            let revoked = self.ctx.revoked.read().unwrap_or_else(|e| e.into_inner());
            let admission = Admission {
                revoked: &revoked,
                cache: &mut self.authorizations,
                height: self.ledger.tip().height + 1,
            };
            admit_events(events, &trust, now, admission)
        };
        let mut out = Vec::with_capacity(checked.len());
        let mut queued = Vec::new();
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
            if let Some(at) = self.committed_at(&key) {
                out.push(Ok(self.receipt_body(
                    wire::ReceiptStatus::Committed,
                    id,
                    &parsed.body.event_hash,
                    Some(at),
                )));
                continue;
            }
            out.push(Ok(self.receipt_body(
                wire::ReceiptStatus::Accepted,
                id,
                &parsed.body.event_hash,
                None,
            )));
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
        if self.held.is_some() {
            self.resume_held(ctx);
        }
    }

    fn in_flight_keys(&self) -> HashSet<EventKey> {
        self.in_flight
            .values()
            .flat_map(|f| f.keys.iter().copied())
            .collect()
    }

    /// Packs and proposes the block for `height`, or ends the turn when there is nothing left.
    fn propose(&mut self, ctx: &mut Context<Self>, turn: u64, height: u64, previous: Hash32) {
        if self.turn != Some(turn) {
            return;
        }
        if let Some(f) = self.in_flight.get(&height) {
            // Asked again (a PBFT view change): the same block.
            if let Some(o) = &self.orderer {
                o.do_send(Propose {
                    height,
                    payload: f.payload.clone(),
                    last_of_turn: f.last_of_turn,
                });
            }
            return;
        }
        if self.turn_closed {
            // The turn's last block is out; consensus ends the turn when it is decided.
            return;
        }
        let tip = self.ledger.tip();
        if tip.height + 1 != height || tip.id != previous {
            // Our committer has not appended height - 1 yet: try again shortly.
            self.waiting = Some((turn, height, previous));
            ctx.run_later(Duration::from_millis(20), move |act, ctx| {
                if act.waiting == Some((turn, height, previous)) {
                    act.waiting = None;
                    act.propose(ctx, turn, height, previous);
                }
            });
            return;
        }
        // The turn packs what is due before our next turn can come, as it stands when the turn
        // proposes its first block. Records that arrive after that, even urgent ones, wait for
        // our next turn: extending the turn for each trickle of arrivals cost a whole PBFT
        // round per trickle and held every other region's records back for up to
        // BLOCKS_PER_TURN rounds (under steady load, turns of 8 small blocks and a rotation
        // of over a second, against one block and about a hundred milliseconds).
        let skip = self.in_flight_keys();
        if self.blocks_this_turn == 0 {
            self.quota_left = self
                .quota_left
                .max(self.due_by(now_ms() + self.horizon_ms(), &skip));
        }
        let limit = self.max_events.min(self.quota_left);
        let queued = match self.pending.oldest(limit, &|k| skip.contains(k)) {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "pending queue unreadable");
                Vec::new()
            }
        };
        // Fewer than asked for: the queue holds nothing more to pack right now.
        let drained = queued.len() < limit;
        // Drop anything committed meanwhile (a retry that reached two endorsers).
        let mut committed = Vec::new();
        let mut events: Vec<ParsedEvent> = Vec::new();
        for q in queued {
            if self.committed_at(&q.key).is_some() {
                committed.push(q.key);
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
                        committed.push(q.key);
                        continue;
                    }
                    events.push(p)
                }
                Err(e) => {
                    tracing::error!(error = %e, "dropping an unparseable pending event");
                    committed.push(q.key);
                }
            }
        }
        if !committed.is_empty() {
            let _ = self.pending.remove(committed.iter());
        }
        if events.is_empty() || self.blocks_this_turn >= BLOCKS_PER_TURN {
            if events.is_empty() && self.blocks_this_turn == 0 {
                // Give uploads a moment to arrive before handing the turn over.
                self.held = Some((turn, height, previous));
                let idle = now_ms().saturating_sub(tip.timestamp_ms) > IDLE_AFTER_MS;
                let hold = if idle {
                    self.block_interval
                } else {
                    EMPTY_TURN_HOLD.min(self.block_interval)
                };
                ctx.run_later(hold, move |act, ctx| {
                    if act.held == Some((turn, height, previous)) && !act.resume_held(ctx) {
                        act.held = None;
                        act.finish_turn(turn);
                    }
                });
                return;
            }
            self.finish_turn(turn);
            return;
        }
        let keys: Vec<EventKey> = events.iter().map(ParsedEvent::key).collect();
        self.blocks_this_turn += 1;
        self.quota_left = self.quota_left.saturating_sub(keys.len());
        // The turn ends with this block when nothing more would be packed in it: its quota is
        // spent, the queue is drained, or its block budget is used. Ending it with the block
        // saves the separate turn-end round (a whole PBFT round per turn, most of a turn
        // under steady load, where turns carry one block). Uploads that arrive meanwhile go
        // with our next turn, as they would have after a separate end.
        let last_of_turn =
            self.quota_left == 0 || drained || self.blocks_this_turn >= BLOCKS_PER_TURN;
        let mut block = pack_block(
            &PackRequest {
                tip: ChainTip { ..tip },
                endorser: &self.ctx.identity.signing,
                region: self.ctx.region(),
                policy: self.policy.clone(),
                packed_at_ms: now_ms(),
                last_of_turn,
            },
            events,
        );
        // The primary stamps the ordering time; the committee checks it against the chain.
        block.orderer_timestamp_ms = now_ms().max(tip.timestamp_ms);
        let payload = block.encode_to_vec();
        tracing::info!(
            turn,
            height,
            events = keys.len(),
            last_of_turn,
            "proposing block"
        );
        if last_of_turn {
            self.turn_closed = true;
        }
        self.in_flight.insert(
            height,
            InFlight {
                keys,
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

    /// A turn of ours begins: measure the rotation and set the turn's quota.
    ///
    /// The quota is the pace times the time since pacing last settled (what that pace owes
    /// since then), not times a guess of the rotation: under load turns come every few tens of
    /// milliseconds, and a floor of one block interval made the quota several times the pace,
    /// so records that may wait hours went out within minutes. The fraction of an event a turn
    /// owes is carried to the next turn rather than rounded up.
    fn begin_turn(&mut self, turn: u64) {
        let now = now_ms();
        if let Some(prev) = self.last_turn_at_ms {
            self.rotation_ms = now.saturating_sub(prev).max(MIN_ROTATION_MS);
        } else {
            let regions = self.ctx.genesis.body.regions.len().max(1) as u64;
            self.rotation_ms = self.block_interval.as_millis() as u64 * regions;
        }
        self.last_turn_at_ms = Some(now);
        self.turn = Some(turn);
        self.turn_closed = false;
        self.blocks_this_turn = 0;
        if self.typical_rotation_ms == 0 {
            self.typical_rotation_ms = self.rotation_ms;
        }
        // The quota is set against the rotations before this one: a stall just measured is
        // not repaid at once (see `pacing::owed_ms`).
        self.quota_left = self.due_now(now);
        self.typical_rotation_ms =
            pacing::typical_rotation_ms(self.typical_rotation_ms, self.rotation_ms);
    }

    /// How long our next turn may take to come: the typical rotation, and at least one block
    /// interval (a busy turn of another region can take that long), so deferred records are
    /// not left past their deadline. One long rotation (a stall) does not widen it at once:
    /// that made every record due within the stall's length urgent in the next turn, a spike
    /// in the committed flow right after the dip.
    fn horizon_ms(&self) -> u64 {
        self.typical_rotation_ms
            .max(self.block_interval.as_millis() as u64)
    }

    /// What pacing asks this turn to pack, from the queue's deadlines (events in flight are
    /// already proposed).
    fn due_now(&mut self, now: u64) -> usize {
        let skip = self.in_flight_keys();
        match self.pending.orders(&|k| skip.contains(k)) {
            Ok(deadlines) => {
                // The pace is owed for the time since it was last settled (a rotation before
                // the first turn), plus what earlier turns left unpaid.
                let since = self
                    .paced_at_ms
                    .map_or(self.rotation_ms, |at| now.saturating_sub(at));
                let owed = pacing::owed_ms(self.unpaid_ms, since, self.typical_rotation_ms);
                let q = pacing::paced_quota(&deadlines, now, owed, self.horizon_ms());
                self.paced_at_ms = Some(now);
                self.unpaid_ms = owed.saturating_sub(q.paid_ms);
                let quota = q.events;
                // Re-synced here, where the queue is read anyway: admissions and commits only
                // move the gauge by what they saw.
                self.ctx
                    .metrics
                    .queue_depth
                    .with_label_values(&["pending"])
                    .set(i64::try_from(deadlines.len() + skip.len()).unwrap_or(i64::MAX));
                self.ctx
                    .metrics
                    .queue_depth
                    .with_label_values(&["deferred"])
                    .set(i64::try_from(deadlines.len() - quota).unwrap_or(i64::MAX));
                quota
            }
            Err(e) => {
                tracing::error!(error = %e, "pending queue unreadable");
                0
            }
        }
    }

    /// Pending events (not in flight) due by `horizon_ms`.
    fn due_by(&self, horizon_ms: u64, skip: &HashSet<EventKey>) -> usize {
        self.pending
            .orders(&|k| skip.contains(k))
            .map(|d| d.partition_point(|d| *d <= horizon_ms))
            .unwrap_or(0)
    }

    /// Proposes in the turn held open with nothing due, if something is due now; false if
    /// still nothing is.
    fn resume_held(&mut self, ctx: &mut Context<Self>) -> bool {
        let Some((turn, height, previous)) = self.held else {
            return false;
        };
        if self.turn != Some(turn) || self.blocks_this_turn != 0 {
            self.held = None;
            return false;
        }
        self.quota_left = self.due_now(now_ms());
        if self.quota_left == 0 {
            return false;
        }
        self.held = None;
        self.propose(ctx, turn, height, previous);
        true
    }

    fn finish_turn(&mut self, turn: u64) {
        if self.turn == Some(turn) {
            tracing::info!(turn, blocks = self.blocks_this_turn, "ending turn");
            self.turn = None;
            if let Some(e) = &self.end_turn {
                e.do_send(EndMyTurn { turn });
            }
        }
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
            EndorserNews::MyTurn { turn } => self.begin_turn(turn),
            EndorserNews::NeedProposal {
                turn,
                height,
                previous,
            } => {
                if self.turn != Some(turn) {
                    self.begin_turn(turn);
                }
                self.propose(ctx, turn, height, previous);
            }
            EndorserNews::TurnChanged { turn } => {
                if self.turn.is_some_and(|t| t != turn) {
                    self.turn = None;
                }
                self.in_flight.clear();
                self.waiting = None;
                self.held = None;
            }
        }
    }
}

impl Handler<BlockCommitted> for Endorser {
    type Result = ();

    fn handle(&mut self, msg: BlockCommitted, _: &mut Self::Context) {
        self.in_flight.remove(&msg.height);
        self.in_flight.retain(|h, _| *h > msg.height);
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
