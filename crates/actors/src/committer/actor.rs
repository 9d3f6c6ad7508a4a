//! The committer's implementation. Other actors reach it only through [`super::ingress`].

use super::ingress::{
    BlockCommitted, ClaimReceived, CommitOutcome, CommitterStatus, Decided, FindEvent, FlaggedPeer,
    GetCommitterStatus, ServeCatchUp, Subscribe,
};
use crate::block_check::{DecidedError, check_beacon, rebuild_decided, verify_decided};
use crate::clock::now_ms;
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::consensus::catchup_peers::CatchUpPeers;
use medblock_core::keys::{PublicKey, Signature};
use medblock_core::{Hash32, wire};
use medblock_p2p::Topic;
use medblock_storage::audit::block_content_digest;
use medblock_storage::{Ledger, LedgerHashes, StorageError};
use prost::Message as _;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

mod catchup;

/// Signature purpose of ledger claims.
pub const LEDGER_CLAIM_PURPOSE: &str = medblock_core::access::tip::LEDGER_CLAIM_PURPOSE;

/// Decided values kept for heights above tip + 1 while catching up; beyond this they are
/// dropped (and fetched again by catch-up), so a flood cannot exhaust memory.
const MAX_BUFFERED: usize = 512;

/// Longest a committer goes without gossiping its ledger claim when nothing changed (its
/// height, and no peer admitted since its last claim). Claims of every committer every
/// gossip interval (3 s) made an idle network's traffic grow with the square of its size:
/// each of 100 peers received 33 claims a second, each checked and relayed, saying what the
/// previous ones said; refreshed every minute they were still most of a 100-peer idle
/// network's gossip. Claims carry no freshness a reader checks; this refresh only bounds how
/// long a peer that missed one (gossip lost) goes without it.
pub const CLAIM_REFRESH_MS: u64 = 300_000;

/// The committer actor.
pub struct Committer {
    ctx: Ctx,
    ledger: Arc<Ledger>,
    hashes: LedgerHashes,
    buffered: BTreeMap<u64, (wire::DecidedValue, Option<PublicKey>)>,
    subscribers: Vec<Recipient<BlockCommitted>>,
    flagged: HashMap<PublicKey, FlaggedPeer>,
    catching_up: bool,
    /// Peers demoted for claiming heights they did not serve (see `catchup.rs`).
    catch_up_peers: CatchUpPeers<PublicKey>,
    gossip_interval: Duration,
    max_events: usize,
    /// The newest checked claim of each committer, for the query server's signed tips.
    tips: crate::query::ingress::SignedTips,
    /// The height and time of the last claim gossiped, and the peers admitted then.
    published: Option<(u64, u64, BTreeSet<PublicKey>)>,
}

impl Committer {
    /// A committer over an opened ledger; recomputes the ledger-hash chain from disk.
    pub fn new(ctx: Ctx, ledger: Arc<Ledger>) -> Result<Self, StorageError> {
        let tip = ledger.tip();
        let hashes = LedgerHashes::rebuild(&ledger, 4096, &mut |h, of| {
            tracing::info!(height = h, of, "recomputing ledger hash from disk");
        })?;
        tracing::info!(height = tip.height, tip = %tip.id, "committer ready");
        let params = &ctx.genesis.params;
        Ok(Self {
            gossip_interval: Duration::from_millis(params.ledger_gossip_interval_ms.max(100)),
            max_events: params.max_block_events as usize,
            ctx,
            ledger,
            hashes,
            buffered: BTreeMap::new(),
            subscribers: Vec::new(),
            flagged: HashMap::new(),
            catching_up: false,
            catch_up_peers: CatchUpPeers::default(),
            tips: crate::query::ingress::SignedTips::default(),
            published: None,
        })
    }

    /// Keeps the newest claims (its own and the checked ones of others) in `tips`, where the
    /// query server reads them.
    pub fn with_signed_tips(mut self, tips: crate::query::ingress::SignedTips) -> Self {
        self.tips = tips;
        self
    }

    /// The committee size in force (configuration as of this ledger's tip).
    fn committee_size(config: &crate::shared::InForce) -> usize {
        medblock_core::consensus::ConsensusConfig::from(config.params()).committee_size
    }

    /// Verifies and appends one decided value whose height is the next one.
    /// Whether `value`'s certificate names the block this ledger holds at `height`. The claim
    /// is unverified, which is enough to skip a copy: the block stored there was verified.
    fn have_claimed_block(&self, value: &wire::DecidedValue, height: u64) -> bool {
        let Some(claimed) = value
            .certificate
            .as_ref()
            .and_then(|c| Hash32::from_slice(&c.block_id))
        else {
            return false;
        };
        matches!(self.ledger.block_id_at(height), Ok(Some(id)) if id == claimed)
    }

    fn apply(&mut self, value: &wire::DecidedValue) -> Result<CommitOutcome, DecidedError> {
        // The membership as of this ledger's tip: the block above it was certified by a
        // committee drawn from exactly that (configuration changes end their turn).
        let config = self.ctx.config();
        let Some(decided) = verify_decided(
            value,
            &config.membership.orderers,
            Self::committee_size(&config),
            self.max_events,
        )?
        else {
            return Ok(CommitOutcome::NotABlock);
        };
        let block = &decided.block;
        let tip = self.ledger.tip();
        let height = block.height();
        if height <= tip.height {
            return match self.ledger.block_id_at(height) {
                Ok(Some(id)) if id == block.id => Ok(CommitOutcome::AlreadyHave),
                Ok(_) => Err(DecidedError::Block(format!(
                    "a different block is already committed at height {height}"
                ))),
                Err(e) => Err(DecidedError::Block(e.to_string())),
            };
        }
        if height > tip.height + 1 {
            return Ok(CommitOutcome::Buffered);
        }
        // The committee is only as good as the beacon that selected it (issue 19).
        if let Some(cert) = &block.block.certificate
            && let Err(e) = check_beacon(
                cert,
                height,
                &block.endorser,
                &self.ctx.turn_membership(),
                |h| self.ledger.block_id_at(h).ok().flatten(),
            )
        {
            Counters::inc(&self.ctx.counters.bad_beacons);
            return Err(DecidedError::Beacon(e));
        }
        {
            // The endorser's certificate at the time the block was ordered, as the
            // configuration below the block has it (a later revocation does not reach back).
            let at = block.block.orderer_timestamp_ms.max(1);
            block
                .authorize(config.trust(), at)
                .map_err(|e| DecidedError::Block(e.to_string()))?;
        }
        let new_tip = self
            .ledger
            .commit_with_proof(block, Some(&decided.proof))
            .map_err(|e| DecidedError::Block(e.to_string()))?;
        self.hashes
            .push(height, &block_content_digest(&block.block));
        if self.ctx.certificate.has_role(wire::Role::Committer) {
            self.record_own_claim();
        }
        {
            let mut revoked = self.ctx.revoked.write().unwrap_or_else(|e| e.into_inner());
            revoked.fold_block(height, &block.events);
        }
        let mut reconfiguration = None;
        if !block.block.config_changes.is_empty()
            && let Some(state) = self.ledger.config()
        {
            if block.header.last_of_turn {
                reconfiguration = Some(state.reconfiguration());
            }
            self.installed_config(height, state);
        }
        Counters::inc(&self.ctx.counters.blocks_committed);
        self.ctx.counters.events_committed.fetch_add(
            block.events.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let endorser = block.endorser;
        let note = BlockCommitted {
            height,
            block_id: block.id,
            turn: decided.turn,
            tip: new_tip,
            event_keys: block.event_keys().collect(),
            endorser,
            last_of_turn: block.header.last_of_turn,
            certificate: block.block.certificate.clone(),
            reconfiguration,
        };
        tracing::info!(height, block = %block.id, events = block.events.len(), "block committed");
        for s in &self.subscribers {
            s.do_send(note.clone());
        }
        Ok(CommitOutcome::Committed(height))
    }

    /// Installs the configuration the block at `height` left, closes the connections of peers
    /// it revoked and says what changed.
    fn installed_config(&mut self, height: u64, state: medblock_core::config::ConfigState) {
        for change in state.history().iter().filter(|c| c.height == height) {
            tracing::info!(height, change = %change.id, what = change.description, "configuration change in force");
        }
        let revoked = self.ctx.install_config(state);
        for key in revoked {
            tracing::warn!(peer = %key, height, "peer's certificate revoked on the ledger; disconnecting");
            let net = self.ctx.net.clone();
            actix::spawn(async move { net.disconnect(key).await });
        }
    }

    fn drain_buffered(&mut self) {
        loop {
            let next = self.ledger.tip().height + 1;
            let Some((value, _)) = self.buffered.remove(&next) else {
                break;
            };
            if let Err(e) = self.apply(&value) {
                tracing::warn!(height = next, error = %e, "buffered decided value refused");
                Counters::inc(&self.ctx.counters.decided_rejected);
                break;
            }
        }
        let tip = self.ledger.tip().height;
        self.buffered.retain(|h, _| *h > tip);
    }

    /// Signs a claim of this node's ledger as it stands and keeps it as this node's newest
    /// signed tip (what the query server hands light nodes), without gossiping it: done at
    /// start and after every block, so an answer never waits for the next gossip round.
    fn record_own_claim(&mut self) -> wire::LedgerClaim {
        let (height, ledger_hash) = self.hashes.latest();
        // Test-only Byzantine mode: sign a height this node does not have.
        let height = self.ctx.byzantine.claim_height.unwrap_or(height);
        let tip = self.ledger.tip();
        let body = wire::LedgerClaimBody {
            height,
            tip: tip.id.0.to_vec(),
            ledger_hash: ledger_hash.0.to_vec(),
            node_key: self.ctx.key().as_bytes().to_vec(),
            issued_at_ms: now_ms(),
        }
        .encode_to_vec();
        let signature = self
            .ctx
            .identity
            .signing
            .sign(LEDGER_CLAIM_PURPOSE, &body)
            .to_vec();
        let claim = wire::LedgerClaim { body, signature };
        self.tips.record(self.ctx.key(), height, claim.clone());
        claim
    }

    /// Gossips the ledger claim when it says something new: the height changed, a peer was
    /// admitted since the last one (a newcomer or a restarted peer holds none of ours), or
    /// [`CLAIM_REFRESH_MS`] passed. An idle network then gossips no claims.
    fn publish_claim_if_news(&mut self) {
        let now = now_ms();
        let (height, _) = self.hashes.latest();
        let peers: BTreeSet<PublicKey> = self.ctx.peers.keys().into_iter().collect();
        let news = match &self.published {
            None => true,
            Some((h, at, before)) => {
                *h != height
                    || now.saturating_sub(*at) >= CLAIM_REFRESH_MS
                    || !peers.is_subset(before)
            }
        };
        if news {
            self.published = Some((height, now, peers));
            self.publish_claim();
        }
    }

    fn publish_claim(&mut self) {
        let claim = self.record_own_claim();
        let msg = wire::GossipMessage {
            kind: Some(wire::gossip_message::Kind::LedgerClaim(claim)),
        };
        let net = self.ctx.net.clone();
        actix::spawn(async move {
            if let Err(e) = net.publish(Topic::Ledger, msg.encode_to_vec()).await {
                tracing::debug!(error = %e, "ledger claim not published");
            }
        });
    }

    fn check_claim(&mut self, author: PublicKey, claim: &wire::LedgerClaim) -> Result<(), String> {
        let body =
            wire::LedgerClaimBody::decode(claim.body.as_slice()).map_err(|e| e.to_string())?;
        if body.node_key != author.as_bytes() {
            return Err("claim signed for another node".into());
        }
        let sig = Signature::from_slice(&claim.signature).map_err(|e| e.to_string())?;
        author
            .verify(LEDGER_CLAIM_PURPOSE, &claim.body, &sig)
            .map_err(|e| e.to_string())?;
        // A peer demoted for a false height is not vouched for to light nodes until it serves.
        if !self.catch_up_peers.has_lied(&author) {
            self.tips.record(author, body.height, claim.clone());
        }
        self.ctx.peers.set_height(&author, body.height);
        let theirs = Hash32::from_slice(&body.ledger_hash).ok_or("ledger hash is not 32 bytes")?;
        let Some(ours) = self.hashes.at(body.height) else {
            return Ok(()); // ahead of us (catch-up follows) or too old to compare
        };
        if ours == theirs {
            if self.flagged.remove(&author).is_some() {
                tracing::info!(peer = %author, "peer's ledger agrees again");
            }
            return Ok(());
        }
        let name = self
            .ctx
            .peers
            .all()
            .into_iter()
            .find(|(k, _)| *k == author)
            .map(|(_, e)| e.name)
            .unwrap_or_default();
        if !self.flagged.contains_key(&author) {
            Counters::inc(&self.ctx.counters.ledger_mismatches);
            tracing::warn!(peer = %author, name, height = body.height, theirs = %theirs, ours = %ours, "peer's ledger differs from ours: flagged");
        }
        self.flagged.insert(
            author,
            FlaggedPeer {
                key: author.to_hex(),
                name,
                height: body.height,
                theirs: theirs.to_hex(),
                ours: ours.to_hex(),
            },
        );
        Ok(())
    }
}

impl Actor for Committer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.record_own_claim();
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(self.gossip_interval, |act, ctx| {
            act.publish_claim_if_news();
            let tip = act.ledger.tip().height;
            let behind = act.ctx.peers.all().iter().any(|(_, e)| e.height > tip);
            if behind || !act.buffered.is_empty() {
                act.start_catch_up(ctx, None);
            }
        });
    }
}

impl Handler<Decided> for Committer {
    type Result = Result<CommitOutcome, DecidedError>;

    fn handle(&mut self, msg: Decided, ctx: &mut Self::Context) -> Self::Result {
        let height = msg
            .value
            .certificate
            .as_ref()
            .map(|c| c.height)
            .unwrap_or(0);
        let tip = self.ledger.tip().height;
        if height <= tip && self.have_claimed_block(&msg.value, height) {
            // Another replica's copy of a block we hold (each committee replica publishes its
            // own certificate, so up to a committee's worth of copies arrive): nothing to
            // verify. Parsing it first cost every node a full parse and hash of every copy.
            Counters::inc(&self.ctx.counters.decided_copies_skipped);
            return Ok(CommitOutcome::Duplicate);
        }
        if height > tip + 1 {
            // Check the certificate before keeping it, so junk cannot fill the buffer.
            let config = self.ctx.config();
            if let Err(e) = verify_decided(
                &msg.value,
                &config.membership.orderers,
                Self::committee_size(&config),
                self.max_events,
            ) {
                // Possibly certified by a membership a configuration change above this tip
                // brought in: catch up (block by block, each checked against the membership
                // of its height) rather than keep what cannot be checked yet.
                if matches!(e, DecidedError::Certificate(_)) {
                    self.start_catch_up(ctx, None);
                }
                return Err(e);
            }
            if self.buffered.len() < MAX_BUFFERED {
                self.buffered.insert(height, (msg.value, msg.from));
            }
            self.start_catch_up(ctx, msg.from);
            return Ok(CommitOutcome::Buffered);
        }
        let out = self.apply(&msg.value);
        if let Err(e) = &out {
            Counters::inc(&self.ctx.counters.decided_rejected);
            tracing::warn!(height, error = %e, "decided value refused");
        }
        if matches!(out, Ok(CommitOutcome::Committed(_))) {
            self.drain_buffered();
        }
        out
    }
}

impl Handler<ServeCatchUp> for Committer {
    type Result = MessageResult<ServeCatchUp>;

    fn handle(&mut self, msg: ServeCatchUp, _: &mut Self::Context) -> Self::Result {
        let mut decided = Vec::new();
        if self.ctx.byzantine.claim_height.is_some() {
            // Test-only Byzantine mode: claim heights and serve none of them.
            return MessageResult(wire::CatchUpResponse { decided });
        }
        let max = msg.0.max_count.clamp(1, 64) as u64;
        let tip = self.ledger.tip().height;
        let from = msg.0.from_height.max(1);
        let mut bytes = 0usize;
        for h in from..=tip.min(from.saturating_add(max - 1)) {
            let (Ok(Some(block)), Ok(Some(proof))) =
                (self.ledger.block_at(h), self.ledger.proof_at(h))
            else {
                break;
            };
            let Some(v) = rebuild_decided(&block, &proof) else {
                break;
            };
            bytes += v.encoded_len();
            decided.push(v);
            // Stay well under the request-response frame limit.
            if bytes > 4 << 20 {
                break;
            }
        }
        MessageResult(wire::CatchUpResponse { decided })
    }
}

impl Handler<ClaimReceived> for Committer {
    type Result = Result<(), String>;

    fn handle(&mut self, msg: ClaimReceived, _: &mut Self::Context) -> Self::Result {
        self.check_claim(msg.author, &msg.claim)
    }
}

impl Handler<Subscribe> for Committer {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Self::Context) {
        self.subscribers.push(msg.0);
    }
}

impl Handler<GetCommitterStatus> for Committer {
    type Result = MessageResult<GetCommitterStatus>;

    fn handle(&mut self, _: GetCommitterStatus, _: &mut Self::Context) -> Self::Result {
        let tip = self.ledger.tip();
        let mut flagged: Vec<FlaggedPeer> = self.flagged.values().cloned().collect();
        flagged.sort_by(|a, b| a.key.cmp(&b.key));
        MessageResult(CommitterStatus {
            height: tip.height,
            tip_hash: tip.id.to_hex(),
            ledger_hash: self.hashes.latest().1.to_hex(),
            flagged,
            buffered: self.buffered.len(),
        })
    }
}

impl Handler<FindEvent> for Committer {
    type Result = Result<Option<(u64, Hash32)>, String>;

    fn handle(&mut self, msg: FindEvent, _: &mut Self::Context) -> Self::Result {
        let loc = self
            .ledger
            .event_location(&msg.0)
            .map_err(|e| e.to_string())?;
        match loc {
            None => Ok(None),
            Some(l) => {
                let id = self
                    .ledger
                    .block_id_at(l.height)
                    .map_err(|e| e.to_string())?
                    .unwrap_or(Hash32::ZERO);
                Ok(Some((l.height, id)))
            }
        }
    }
}
