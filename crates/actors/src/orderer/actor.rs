//! The orderer's implementation. Other actors reach it only through [`super::ingress`].

use super::ingress::{
    Connect, ConsensusIn, EndMyTurn, EndorserChanged, GetConsensusStatus, PeerAdmitted, PeerLost,
    Propose, SuspectEndorser, TurnEndsFrom,
};
use crate::block_check::{BlockCheck, OrdererChain};
use crate::clock::now_ms;
use crate::committer::ingress::{BlockCommitted, Decided, Mailbox as CommitterMailbox};
use crate::endorser::ingress::EndorserNews;
use crate::shared::{Counters, Ctx};
use actix::prelude::*;
use medblock_core::block_rules::BlockLimits;
use medblock_core::consensus::ConsensusConfig;
use medblock_core::consensus::node::{
    ConsensusNode, NodeAction, NodeInput, NodeSetup, RegionSetup,
};
use medblock_core::consensus::turns::TurnStart;
use medblock_core::keys::PublicKey;
use medblock_core::{ChainTip, VerifiedBlock, wire};
use medblock_p2p::Topic;
use medblock_storage::SafetyStore;
use prost::Message as _;
use std::collections::BTreeMap;
use std::time::Duration;

/// The orderer's safety-net tick (see `started`).
const SAFETY_TICK: Duration = Duration::from_secs(5);

/// Broadcasts kept to replay to peers that join late.
const RECENT_BROADCASTS: usize = 64;

/// The orderer actor.
pub struct Orderer {
    ctx: Ctx,
    node: ConsensusNode,
    pending_actions: Vec<NodeAction>,
    committer: CommitterMailbox,
    endorser: Option<Recipient<EndorserNews>>,
    listeners: Vec<Recipient<EndorserChanged>>,
    tips: BTreeMap<u64, ChainTip>,
    /// The ledger and the blocks checked or decided above it, for the block check.
    chain: OrdererChain,
    timer: Option<SpawnHandle>,
    missing_since: Option<(PublicKey, u64)>,
    suspected: Option<PublicKey>,
    recent: std::collections::VecDeque<wire::ConsensusMessage>,
    /// Where the PBFT replica's safety record is written before its messages leave (orderers
    /// only).
    safety: Option<SafetyStore>,
    /// Test-only crash point (`ByzantineConfig::crash_after_prepare`).
    crash_point: super::byzantine::CrashPoint,
    /// Reached the crash point: handles nothing more, as a dead process would.
    halted: bool,
}

/// Builds the consensus machine's setup for this node from the membership in force at its
/// ledger's tip (genesis plus the configuration changes on the ledger).
pub fn setup_for(ctx: &Ctx, start: TurnStart) -> NodeSetup {
    let config = ctx.config();
    let cfg = ConsensusConfig::from(config.params());
    let me = ctx.key();
    let turn_membership = ctx.turn_membership();
    let m = &turn_membership;
    let region = ctx.region().to_owned();
    let mine = m.region(&region);
    NodeSetup {
        cfg,
        key: ctx.identity.signing.clone(),
        voter: mine.is_some_and(|r| r.voters.contains(&me)),
        endorser: mine.is_some_and(|r| r.candidates.contains(&me)),
        // The role, not the pool: an orderer certified after genesis starts outside the pool
        // (its ledger may still be at genesis) and orders once a decided configuration change
        // puts it there; the machine keeps `role && in pool`.
        orderer: ctx.has_role(medblock_core::wire::Role::Orderer),
        region,
        regions: m
            .regions
            .iter()
            .map(|r| RegionSetup {
                name: r.name.clone(),
                voters: r.voters.clone(),
                candidates: r.candidates.clone(),
            })
            .collect(),
        orderers: m.orderers.clone(),
        start,
    }
}

impl Orderer {
    /// Starts the machine from the ledger tip.
    pub fn new(
        ctx: Ctx,
        committer: CommitterMailbox,
        tip: ChainTip,
        start_turn: u64,
    ) -> Result<Self, crate::ActorError> {
        let setup = setup_for(
            &ctx,
            TurnStart {
                turn: start_turn,
                start_height: tip.height + 1,
                chain_hash: tip.id,
            },
        );
        let (mut node, actions) = ConsensusNode::new(setup, now_ms())
            .map_err(|e| crate::ActorError::Consensus(e.to_string()))?;
        // Every certified orderer keeps a safety record, in the pool yet or not: one added by
        // a configuration change votes from the next turn on, and must never lose what it
        // signed.
        let safety = if ctx.has_role(medblock_core::wire::Role::Orderer) {
            let path = ctx.data_dir.join("pbft-safety");
            let store = SafetyStore::open(&path)
                .map_err(|e| crate::ActorError::Consensus(e.to_string()))?;
            // A corrupt record stops the start: guessing what this orderer signed before
            // could make it sign the opposite.
            if let Some(record) = store
                .load()
                .map_err(|e| crate::ActorError::Consensus(e.to_string()))?
            {
                tracing::info!(
                    turn = record.turn,
                    view = record.view,
                    signed = record.signed.len(),
                    "PBFT safety record restored"
                );
                node.restore_safety(record)
                    .map_err(|e| crate::ActorError::Consensus(e.to_string()))?;
            }
            Some(store)
        } else {
            None
        };
        let mut tips = BTreeMap::new();
        tips.insert(tip.height, tip);
        Ok(Self {
            ctx,
            node,
            pending_actions: actions,
            committer,
            endorser: None,
            listeners: Vec::new(),
            tips,
            chain: OrdererChain::default(),
            timer: None,
            missing_since: None,
            suspected: None,
            recent: std::collections::VecDeque::new(),
            safety,
            crash_point: Default::default(),
            halted: false,
        })
    }

    /// Checks proposals against the node's ledger (committed events, the orderer time of the
    /// block below): without it every proposal is refused, never voted on a guess.
    pub fn with_ledger(mut self, ledger: std::sync::Arc<medblock_storage::Ledger>) -> Self {
        self.chain = OrdererChain::new(ledger);
        self
    }

    fn feed(&mut self, input: NodeInput, ctx: &mut Context<Self>) {
        let now = now_ms();
        let actions = {
            let revoked = self.ctx.revoked.read().unwrap_or_else(|e| e.into_inner());
            let check = BlockCheck {
                revoked: &revoked,
                tips: &self.tips,
                chain: &self.chain,
                limits: BlockLimits::from_params(&self.ctx.genesis.params),
                max_skew_ms: self.ctx.genesis.params.max_clock_skew_ms,
                counters: &self.ctx.counters,
                regulator: self.ctx.genesis.regulator_key.as_ref(),
            };
            self.node.handle(input, now, &check)
        };
        self.mirror_view_changes();
        self.act(actions, ctx);
    }

    /// Mirrors the machine's view-change count into the shared counters, with the time of
    /// each new one for the health check's storm window.
    fn mirror_view_changes(&self) {
        let total = self.node.view_changes();
        let before = self
            .ctx
            .counters
            .view_changes
            .swap(total, std::sync::atomic::Ordering::Relaxed);
        if total > before {
            let started = total - before;
            (self.ctx.counters.view_change_times).record(started, std::time::Instant::now());
        }
    }

    fn send(&self, to: PublicKey, msg: wire::ConsensusMessage) {
        let net = self.ctx.net.clone();
        let shared = self.ctx.clone();
        let req = wire::NetRequest {
            kind: Some(wire::net_request::Kind::Consensus(msg)),
        };
        actix::spawn(async move {
            if let Err(e) = net.request(to, req).await {
                Counters::inc(&shared.counters.consensus_send_failures);
                tracing::debug!(to = %to, error = %e, "consensus message not delivered");
            }
        });
    }

    /// A block this node decided as a committee replica goes out once, on the blocks topic:
    /// every node's router hands it to both its committer and its orderer. Nodes that learn a
    /// block do not publish it again (gossipsub forwards it), and it is not also sent to every
    /// peer directly: each copy costs every receiver a decryption, a decode and a check.
    fn gossip_decided(&self, value: wire::DecidedValue) {
        let gossip = wire::GossipMessage {
            kind: Some(wire::gossip_message::Kind::Decided(value)),
        };
        let net = self.ctx.net.clone();
        actix::spawn(async move {
            if let Err(e) = net.publish(Topic::Blocks, gossip.encode_to_vec()).await {
                tracing::debug!(error = %e, "decided block not gossiped");
            }
        });
    }

    fn broadcast(&mut self, msg: wire::ConsensusMessage) {
        for peer in self.ctx.peers.keys() {
            self.send(peer, msg.clone());
        }
        self.recent.push_back(msg);
        while self.recent.len() > RECENT_BROADCASTS {
            self.recent.pop_front();
        }
    }

    fn remember_decided(&mut self, value: &wire::DecidedValue) {
        let Some(wire::proposed_value::Kind::Proposal(env)) =
            value.value.as_ref().and_then(|v| v.kind.as_ref())
        else {
            return;
        };
        let Ok(body) = wire::ProposalBody::decode(env.body.as_slice()) else {
            return;
        };
        // Decided means certified: the header is all the tip needs, and the access records
        // all the revocations (the next proposal is checked against them before the committer
        // has appended this block).
        let Ok(block) = medblock_core::block::decode_block(&body.payload) else {
            return;
        };
        if let Ok(tip) = VerifiedBlock::tip_of(&block) {
            let revocations = medblock_core::authorization::revocations_in_block(&block);
            if !revocations.is_empty() {
                let mut revoked = self.ctx.revoked.write().unwrap_or_else(|e| e.into_inner());
                for id in revocations {
                    revoked.insert(id, tip.height);
                }
            }
            self.tips.insert(tip.height, tip);
            while self.tips.len() > 256 {
                self.tips.pop_first();
            }
        }
    }

    fn act(&mut self, actions: Vec<NodeAction>, ctx: &mut Context<Self>) {
        if self.halted {
            return;
        }
        // A value this node decided and broadcasts, until the turn it ends is known.
        let mut decided_here: Option<wire::DecidedValue> = None;
        // The next primary, to be sent the last decided values once these actions are done.
        let mut brief: Option<PublicKey> = None;
        // A turn end this node decided, for the orderers once these actions are done.
        let mut spread: Option<wire::DecidedValue> = None;
        for action in actions {
            match action {
                NodeAction::PersistSafety(record) => {
                    let saved = self.safety.as_ref().map(|s| s.save(&record));
                    if let Some(Err(e)) = saved {
                        // The messages after it in this step would be signed statements the
                        // disk does not know: send none, and stop ordering.
                        tracing::error!(error = %e, "PBFT safety record not written: orderer stops");
                        ctx.stop();
                        return;
                    }
                }
                NodeAction::Equivocation {
                    signer,
                    what,
                    view,
                    height,
                } => {
                    Counters::inc(&self.ctx.counters.equivocations);
                    tracing::warn!(signer = %signer, what, view, height, "equivocation: one key signed two values for one slot");
                }
                NodeAction::Broadcast(wire::ConsensusMessage {
                    kind: Some(wire::consensus_message::Kind::Decided(value)),
                }) => {
                    decided_here = Some(value.clone());
                    self.gossip_decided(value);
                }
                NodeAction::Broadcast(msg) => {
                    crate::metrics::observe_consensus(&self.ctx.metrics, &msg);
                    self.broadcast(msg)
                }
                NodeAction::Send { to, msg } => self.send(to, msg),
                NodeAction::Multicast { to, msg } => {
                    crate::metrics::observe_consensus(&self.ctx.metrics, &msg);
                    if matches!(msg.kind, Some(wire::consensus_message::Kind::ViewChange(_))) {
                        // A stalled round: worth a line (a view change costs the timeout).
                        let view = self.node.status().pbft_view;
                        tracing::info!(node = self.ctx.name, from_view = ?view, "asking the committee for a view change");
                    }
                    let me = self.ctx.key();
                    let sends = if self.ctx.byzantine.any() {
                        super::byzantine::rewrite(
                            &self.ctx.byzantine,
                            &self.ctx.identity.signing,
                            to,
                            msg,
                        )
                    } else {
                        vec![(to, msg)]
                    };
                    let crash_point = self.ctx.byzantine.crash_after_prepare;
                    for (to, msg) in sends {
                        for peer in to.into_iter().filter(|p| *p != me) {
                            self.send(peer, msg.clone());
                        }
                        if crash_point {
                            self.crash_point.saw(&msg);
                            if self.crash_point.reached(&msg) {
                                // Its safety record is on disk and its prepare left: stop
                                // here, before any commit, as a crash would.
                                tracing::warn!("test crash point: orderer stops after a prepare");
                                self.halted = true;
                                ctx.stop();
                                return;
                            }
                        }
                    }
                }
                NodeAction::SetTimer { at_ms } => {
                    if let Some(t) = self.timer.take() {
                        ctx.cancel_future(t);
                    }
                    let delay = Duration::from_millis(at_ms.saturating_sub(now_ms()));
                    self.timer = Some(ctx.run_later(delay, |act, ctx| {
                        act.timer = None;
                        act.feed(NodeInput::Tick, ctx);
                    }));
                }
                NodeAction::Decided(value) => {
                    crate::metrics::observe_decided(&self.ctx.metrics, &value);
                    self.remember_decided(&value);
                    self.committer.decided.do_send(Decided {
                        value: *value,
                        from: None,
                    });
                }
                NodeAction::MyTurn { turn, .. } => {
                    if let Some(e) = &self.endorser {
                        e.do_send(EndorserNews::MyTurn { turn });
                    }
                }
                NodeAction::NeedProposal {
                    turn,
                    height,
                    previous,
                } => {
                    if let Some(e) = &self.endorser {
                        e.do_send(EndorserNews::NeedProposal {
                            turn,
                            height,
                            previous,
                        });
                    }
                }
                NodeAction::TurnChanged {
                    turn,
                    primary,
                    committee,
                } => {
                    // A value this replica decided ended the turn: the next primary gets it
                    // straight away besides the gossip, with the values just below it. Not a
                    // committee member, it heard them by gossip alone, now and then a gossip
                    // round (1-3 s) after the committee, and the whole network waited for it
                    // to learn its turn had begun; the turn end alone did not do when it had
                    // missed the block before (the previous turn's, which it may have
                    // proposed), and its own catch-up waits out an interval between asks.
                    // Copies from the other replicas are dropped on arrival.
                    if committee.is_none()
                        && let Some(value) = decided_here.take()
                    {
                        if primary != self.ctx.key() {
                            brief = Some(primary);
                        }
                        // A turn end (no block) goes straight to every orderer as well: the
                        // next committee is drawn from them once the new primary's beacon is
                        // out, and one that missed the turn end cannot serve in it. Gossip
                        // alone left one or two of them a catch-up interval (1.5 s) behind
                        // now and then: every replica builds the same turn end, so only the
                        // first one's copy is published, from its mesh alone. Small (a
                        // certificate, no events), and the copies are dropped on arrival.
                        if is_turn_end(&value) {
                            spread = Some(value);
                        }
                    }
                    // The node's name too: in-process clusters (tests) share one log.
                    let members = committee.as_ref().map(|c| c.len());
                    tracing::info!(node = self.ctx.name, turn, primary = %primary, committee = ?members, "turn");
                    if let Some(e) = &self.endorser {
                        e.do_send(EndorserNews::TurnChanged { turn });
                    }
                }
                NodeAction::Elected {
                    region,
                    view,
                    endorser,
                } => {
                    tracing::info!(region, view, endorser = %endorser, "endorser elected");
                    if region == self.ctx.region()
                        && let Some(e) = &self.endorser
                    {
                        e.do_send(EndorserNews::Elected(endorser == self.ctx.key()));
                    }
                    for l in &self.listeners {
                        l.do_send(EndorserChanged {
                            region: region.clone(),
                            endorser,
                        });
                    }
                }
                NodeAction::CatchUp { from_height, ask } => self.catch_up(from_height, ask, ctx),
                NodeAction::Rejected { reason } => {
                    Counters::inc(&self.ctx.counters.consensus_rejected);
                    tracing::debug!(node = self.ctx.name, reason, "consensus input refused");
                }
            }
        }
        if let Some(primary) = brief {
            self.brief(primary, ctx);
        }
        if let Some(value) = spread {
            self.spread_turn_end(value);
        }
    }

    /// Sends a decided turn end to every orderer of the pool in force but this node.
    fn spread_turn_end(&self, value: wire::DecidedValue) {
        let me = self.ctx.key();
        let msg = wire::ConsensusMessage {
            kind: Some(wire::consensus_message::Kind::Decided(value)),
        };
        for orderer in self.ctx.config().membership.orderers.iter() {
            if *orderer != me {
                self.send(*orderer, msg.clone());
            }
        }
    }

    /// Sends `primary` the decided values from two heights below this node's next one on
    /// (blocks and turn ends), as the machine answers a catch-up request: the turn end that
    /// starts its turn and the blocks it most likely missed with it.
    fn brief(&mut self, primary: PublicKey, ctx: &mut Context<Self>) {
        let from_height = self.node.next_height().saturating_sub(2);
        let msg = wire::ConsensusMessage {
            kind: Some(wire::consensus_message::Kind::CatchUpRequest(
                wire::CatchUpRequest {
                    from_height,
                    max_count: 8,
                },
            )),
        };
        self.feed(NodeInput::Message { from: primary, msg }, ctx);
    }

    /// The failure detector: our region's endorser is suspected crashed once it has been
    /// unreachable (no admitted connection, or one that stopped answering pings) for a quarter
    /// of the view-change timeout, the machine's own grace for a lost primary (a crashed
    /// process's connections close at once, a paused one's pongs stop; a reconnect within the
    /// grace costs nothing). Checked when a peer is lost, once more when the grace has run,
    /// and at each safety tick (an endorser elected while already unreachable).
    fn watch_endorser(&mut self, ctx: &mut Context<Self>) {
        let region = self.ctx.region().to_owned();
        let status = self.node.status();
        let Some(endorser) = status
            .regions
            .iter()
            .find(|r| r.name == region)
            .and_then(|r| r.endorser)
        else {
            return;
        };
        if endorser == self.ctx.key() || self.ctx.peers.is_reachable(&endorser) {
            self.missing_since = None;
            // An endorser back (resumed, restarted) and elected again may be lost again; the
            // machine ignores a second signal within one election round.
            self.suspected = None;
            return;
        }
        let now = now_ms();
        let grace = self.node.lost_grace_ms();
        let since = match self.missing_since {
            Some((k, t)) if k == endorser => t,
            _ => {
                self.missing_since = Some((endorser, now));
                // Looked again once the grace has run, not at the next safety tick.
                let after = Duration::from_millis(grace.saturating_add(1));
                ctx.run_later(after, |act, ctx| act.watch_endorser(ctx));
                now
            }
        };
        if now.saturating_sub(since) >= grace && self.suspected != Some(endorser) {
            tracing::warn!(region, endorser = %endorser, "region's endorser unreachable: signalling a crash");
            self.suspected = Some(endorser);
            self.feed(NodeInput::SuspectEndorser { region }, ctx);
        }
    }

    /// Asks for the decided values from `from_height` on: the peer that claims the highest
    /// ledger, and `ask` as well when the machine names one (a peer that sent a message of a
    /// later turn holds the turn end this node missed). Claimed heights alone cannot find a
    /// turn that ended without a block: every peer claims the same height then, and the first
    /// peer asked was any peer, often one as far behind. Two answers cost a duplicate, which
    /// the machine drops; a missed turn end cost the whole network a catch-up interval.
    fn catch_up(&mut self, from_height: u64, ask: Option<PublicKey>, ctx: &mut Context<Self>) {
        let now = now_ms();
        let best = self
            .ctx
            .peers
            .all()
            .into_iter()
            // Not a peer the committer demoted for claiming heights it did not serve, nor one
            // that stopped answering.
            .filter(|(k, _)| {
                !self.ctx.peers.is_demoted(k, now) && !self.ctx.peers.is_unresponsive(k)
            })
            .max_by_key(|(_, e)| e.height)
            .map(|(k, _)| k)
            .or_else(|| self.ctx.peers.keys().into_iter().next());
        let hinted = ask.filter(|k| *k != self.ctx.key() && self.ctx.peers.is_admitted(k));
        let mut peers: Vec<PublicKey> = hinted.into_iter().collect();
        peers.extend(best.filter(|b| Some(*b) != hinted));
        for peer in peers {
            self.ask_decided(peer, from_height, ctx);
        }
    }

    fn ask_decided(&mut self, peer: PublicKey, from_height: u64, ctx: &mut Context<Self>) {
        let net = self.ctx.net.clone();
        let req = wire::NetRequest {
            kind: Some(wire::net_request::Kind::CatchUp(wire::CatchUpRequest {
                from_height,
                max_count: 64,
            })),
        };
        ctx.spawn(
            async move { net.request(peer, req).await }
                .into_actor(self)
                .map(move |res, act, ctx| {
                    if let Ok(wire::NetResponse {
                        kind: Some(wire::net_response::Kind::CatchUp(r)),
                    }) = res
                    {
                        for v in r.decided {
                            let msg = wire::ConsensusMessage {
                                kind: Some(wire::consensus_message::Kind::Decided(v)),
                            };
                            act.feed(NodeInput::Message { from: peer, msg }, ctx);
                        }
                    }
                }),
        );
    }
}

impl Actor for Orderer {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(8192);
        // The count a resumed machine starts from is no storm: only later rises are timed.
        Counters::set(&self.ctx.counters.view_changes, self.node.view_changes());
        // A slow safety tick as well, so a lost timer never stalls the machine for long. The
        // machine asks for every deadline it has (`SetTimer`; the simulator drives it with
        // nothing else), and a lost endorser is watched from `PeerLost`, so this tick is only a
        // net: at 500 ms it woke every idle node's orderer thread four times a second.
        ctx.run_interval(SAFETY_TICK, |act, ctx| {
            act.feed(NodeInput::Tick, ctx);
            act.watch_endorser(ctx);
        });
    }
}

impl Handler<ConsensusIn> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: ConsensusIn, ctx: &mut Self::Context) {
        crate::metrics::observe_consensus(&self.ctx.metrics, &msg.msg);
        if self.ctx.byzantine.crash_after_prepare {
            self.crash_point.saw(&msg.msg);
        }
        self.feed(
            NodeInput::Message {
                from: msg.from,
                msg: msg.msg,
            },
            ctx,
        );
    }
}

impl Handler<Propose> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: Propose, ctx: &mut Self::Context) {
        self.feed(
            NodeInput::Propose {
                height: msg.height,
                payload: msg.payload,
                last_of_turn: msg.last_of_turn,
            },
            ctx,
        );
    }
}

impl Handler<EndMyTurn> for Orderer {
    type Result = ();

    fn handle(&mut self, _: EndMyTurn, ctx: &mut Self::Context) {
        self.feed(NodeInput::EndMyTurn, ctx);
    }
}

impl Handler<SuspectEndorser> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: SuspectEndorser, ctx: &mut Self::Context) {
        self.feed(NodeInput::SuspectEndorser { region: msg.region }, ctx);
    }
}

impl Handler<BlockCommitted> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: BlockCommitted, ctx: &mut Self::Context) {
        self.tips.insert(msg.height, msg.tip);
        while self.tips.len() > 256 {
            self.tips.pop_first();
        }
        self.chain.committed(msg.height);
        if let Some(reconfiguration) = msg.reconfiguration {
            // Ignored by the machine for a block it decided itself (installed then).
            self.feed(
                NodeInput::Reconfigured {
                    height: msg.height,
                    reconfiguration,
                },
                ctx,
            );
        }
        self.feed(
            NodeInput::Committed {
                height: msg.height,
                block_id: msg.block_id,
                turn: msg.turn,
                last_of_turn: msg.last_of_turn,
                certificate: msg.certificate,
            },
            ctx,
        );
    }
}

impl Handler<Connect> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: Connect, ctx: &mut Self::Context) {
        self.endorser = msg.endorser;
        self.listeners = msg.listeners;
        let actions = std::mem::take(&mut self.pending_actions);
        self.act(actions, ctx);
    }
}

impl Handler<PeerAdmitted> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: PeerAdmitted, ctx: &mut Self::Context) {
        for m in &self.recent {
            self.send(msg.0, m.clone());
        }
        self.feed(NodeInput::PeerBack { key: msg.0 }, ctx);
    }
}

impl Handler<PeerLost> for Orderer {
    type Result = ();

    fn handle(&mut self, msg: PeerLost, ctx: &mut Self::Context) {
        self.feed(NodeInput::PeerLost { key: msg.0 }, ctx);
        // Looked at again once the grace has run (`watch_endorser` schedules that).
        self.watch_endorser(ctx);
    }
}

impl Handler<GetConsensusStatus> for Orderer {
    type Result = MessageResult<GetConsensusStatus>;

    fn handle(&mut self, _: GetConsensusStatus, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.node.status())
    }
}

impl Handler<TurnEndsFrom> for Orderer {
    type Result = MessageResult<TurnEndsFrom>;

    fn handle(&mut self, msg: TurnEndsFrom, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.node.turn_ends_from(msg.0))
    }
}

impl Orderer {
    /// Restarted in the middle of the tip block's turn: the node rejoins that turn's committee
    /// from the tip's certificate (see core's `node/resume.rs`). Before the actor starts.
    pub fn resuming(mut self, tip_block: Option<&wire::Block>) -> Result<Self, crate::ActorError> {
        if let Some(cert) = tip_block.and_then(|b| b.certificate.as_ref())
            && start_turn_of(tip_block) == cert.turn
        {
            self.node
                .resume_from(cert)
                .map_err(|e| crate::ActorError::Consensus(e.to_string()))?;
        }
        Ok(self)
    }
}

/// The turn the orderer starts in after a restart: the turn of the last committed block's
/// certificate, or the one after it when that block was its primary's last of the turn (the
/// turn ended with it; starting in it left a restarted committee member waiting for a turn
/// nobody runs any more, and its committee one member short). 0 on a fresh ledger.
pub fn start_turn_of(tip_block: Option<&wire::Block>) -> u64 {
    let Some(b) = tip_block else {
        return 0;
    };
    let Some(turn) = b.certificate.as_ref().map(|c| c.turn) else {
        return 0;
    };
    let ended = wire::BlockHeader::decode(b.header.as_slice()).is_ok_and(|h| h.last_of_turn);
    if ended { turn.saturating_add(1) } else { turn }
}

/// Whether a decided value is a turn end (no block).
fn is_turn_end(value: &wire::DecidedValue) -> bool {
    matches!(
        value.value.as_ref().and_then(|v| v.kind.as_ref()),
        Some(wire::proposed_value::Kind::TurnEnd(_))
    )
}
