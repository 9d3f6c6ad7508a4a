//! The primary endorser's policy as a pure state machine: when its turn comes, how many of its
//! pending events it proposes and in how many blocks, when it holds an empty turn open for
//! uploads about to arrive, and when it hands the turn over.
//!
//! The machine reads the pending queue and the chain tip through a [`ProposerView`] the driver
//! lends it for each input (the endorser's durable queue and ledger, or the simulator's lists),
//! takes the time as an argument, and answers with [`ProposerAction`]s: propose these events as
//! the block at a height, propose again the block already proposed there, end the turn, or wake
//! it at a given time. The endorser actor and the simulator drive this same code, so the
//! simulator exercises the policy that runs.
//!
//! Pacing (see [`crate::pacing`]): each turn packs what the deadlines of its queue ask for, the
//! fewest events that still meet every deadline at a steady pace, and every event due before its
//! next turn can come.

use crate::hash::Hash32;
use crate::pacing;
use std::collections::{BTreeMap, BTreeSet};

/// Blocks one primary proposes in a turn before handing over, so every region gets its turn
/// (the paper's turn-based upload).
pub const BLOCKS_PER_TURN: usize = 8;

/// How long a primary with nothing due keeps its turn open for uploads about to arrive, while
/// the network is busy. Short, because an empty turn holds every other region's records back;
/// an upload that arrives meanwhile is proposed at once, without waiting for the end.
pub const EMPTY_TURN_HOLD_MS: u64 = 100;

/// The shortest rotation pacing assumes (two turns cannot be closer than a PBFT round).
pub const MIN_ROTATION_MS: u64 = 10;

/// With no block for this long the network is idle: empty turns are then held a whole
/// heartbeat ([`ProposerConfig::heartbeat_ms`]), so idle endorsers do not spin through turns.
pub const IDLE_AFTER_MS: u64 = 2_000;

/// The idle network's heartbeat by default: how long a primary of an idle network holds a turn
/// it has nothing to pack before handing it over. Every turn end is a PBFT round of the turn's
/// committee, its decision gossiped to every peer, and the next primary's beacon too; held one
/// block interval (500 ms on the default genesis), turns ended about twice a second and 100
/// idle peers used 1.55 cores. Held a heartbeat, an idle network runs one round per heartbeat.
/// What arrives at the holding primary (an upload, a configuration change) is proposed at once;
/// an upload at another region's endorser waits for that region's turn, at most about a
/// heartbeat per region ahead of it. [`heartbeat_ms`] caps it below the turn timeout.
pub const IDLE_HEARTBEAT_MS: u64 = 5_000;

/// The heartbeat of a network whose turns time out after `turn_timeout_ms`:
/// [`IDLE_HEARTBEAT_MS`], at most half the turn timeout (a committee takes a turn without
/// progress for a whole turn timeout for a stalled one and skips it: a held turn must end well
/// before), and never less than the block interval (the hold before this rule).
pub fn heartbeat_ms(turn_timeout_ms: u64, block_interval_ms: u64) -> u64 {
    IDLE_HEARTBEAT_MS
        .min(turn_timeout_ms / 2)
        .max(block_interval_ms)
}

/// How soon to try again when the driver's chain does not hold the block under the height asked
/// for yet (its committer appends a decided block a moment after consensus decides it).
pub const TIP_RETRY_MS: u64 = 20;

/// The policy's knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposerConfig {
    /// Blocks per turn at most ([`BLOCKS_PER_TURN`] on a live network).
    pub blocks_per_turn: usize,
    /// Events per block at most (genesis `max_block_events`).
    pub max_events: usize,
    /// The network's block interval (genesis `block_interval_ms`): the longest an empty turn of
    /// a busy network is held, and the least time pacing lets pass before the next turn.
    pub block_interval_ms: u64,
    /// Regions taking turns: the first turn assumes a rotation of one block interval each.
    pub regions: u64,
    /// How long an idle network's primary holds a turn with nothing to pack (see
    /// [`IDLE_HEARTBEAT_MS`] and [`heartbeat_ms`]); never less than the block interval.
    pub heartbeat_ms: u64,
}

impl ProposerConfig {
    /// The live network's policy for genesis' `max_block_events`, `block_interval_ms` (floored
    /// at 10 ms), number of regions and `turn_timeout_ms` (which caps the heartbeat).
    pub fn new(
        max_events: usize,
        block_interval_ms: u64,
        regions: usize,
        turn_timeout_ms: u64,
    ) -> Self {
        let block_interval_ms = block_interval_ms.max(10);
        Self {
            blocks_per_turn: BLOCKS_PER_TURN,
            max_events: max_events.max(1),
            block_interval_ms,
            regions: (regions as u64).max(1),
            heartbeat_ms: heartbeat_ms(turn_timeout_ms, block_interval_ms),
        }
    }

    /// Sets the heartbeat for a turn timeout changed on the ledger (see [`heartbeat_ms`]).
    pub fn set_turn_timeout(&mut self, turn_timeout_ms: u64) {
        self.heartbeat_ms = heartbeat_ms(turn_timeout_ms, self.block_interval_ms);
    }
}

/// The driver's chain as the primary must extend it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    /// Height of its last block (0 before the first).
    pub height: u64,
    /// Id of that block.
    pub id: Hash32,
    /// The ordering time stamped on that block: how long the network has been without one.
    pub timestamp_ms: u64,
}

/// What [`ProposerView::oldest`] read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken<K> {
    /// Events to pack, in queue (deadline) order.
    pub events: Vec<K>,
    /// Entries read from the queue, before the driver dropped any it may not pack (committed
    /// meanwhile, revoked authorization, unreadable): fewer than asked means the queue is drained.
    pub read: usize,
}

/// The driver's queue and chain, read by the machine while it handles one input.
pub trait ProposerView<K> {
    /// The chain the next block must extend.
    fn tip(&self) -> Tip;
    /// Deadlines of the pending events not in `skip`, ascending; `None` when the queue cannot be
    /// read (the turn then packs nothing it was not already owed).
    fn deadlines(&mut self, skip: &BTreeSet<K>) -> Option<Vec<u64>>;
    /// Up to `limit` pending events not in `skip`, in queue order.
    fn oldest(&mut self, limit: usize, skip: &BTreeSet<K>) -> Taken<K>;
    /// Whether configuration changes wait for a block. They ride in the turn's last block (one
    /// that changes membership must end its turn), so a waiting change makes the next block
    /// the last of the turn, and is proposed even with no event.
    fn config_waiting(&self) -> bool {
        false
    }
}

/// What drives the proposer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposerInput {
    /// The local endorser is primary of `turn` (consensus' `MyTurn`).
    MyTurn {
        /// The turn.
        turn: u64,
    },
    /// Consensus asks for the block at `height`, on top of `previous`, in `turn`.
    NeedProposal {
        /// The turn.
        turn: u64,
        /// Height to fill.
        height: u64,
        /// Id of the block at `height - 1`.
        previous: Hash32,
    },
    /// Another turn began (`turn`): whatever was in flight and not decided goes back to the
    /// queue, and a held or waiting proposal is dropped.
    TurnChanged {
        /// The new turn.
        turn: u64,
    },
    /// The driver committed the block at `height`: its events leave the queue.
    Committed {
        /// The height.
        height: u64,
    },
    /// Uploads joined the queue: a turn held open with nothing due may have something now.
    Arrived,
    /// The time of the last [`ProposerAction::WakeAt`] came.
    Tick,
}

/// What the proposer asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposerAction<K> {
    /// Pack `events`, in this order, as the block at `height` on top of `previous` and propose
    /// it in `turn`; `last_of_turn` ends the turn once the block is decided.
    Propose {
        /// The turn.
        turn: u64,
        /// The height.
        height: u64,
        /// Id of the block at `height - 1`.
        previous: Hash32,
        /// The events, oldest first.
        events: Vec<K>,
        /// Whether the turn ends with this block.
        last_of_turn: bool,
    },
    /// Consensus asked again for a height already proposed (a PBFT view change): send the very
    /// block proposed there before, never a different one.
    ProposeAgain {
        /// The height.
        height: u64,
    },
    /// Hand the turn over (a signed end of turn).
    EndTurn {
        /// The turn.
        turn: u64,
    },
    /// Feed [`ProposerInput::Tick`] at `at_ms`, replacing any earlier wake-up.
    WakeAt {
        /// Deadline in the driver's milliseconds.
        at_ms: u64,
    },
}

/// Where consensus asked for a block: (turn, height, previous).
type Ask = (u64, u64, Hash32);

/// The machine's state, for drivers' metrics and for tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProposerStatus {
    /// The turn this endorser is primary of, until it hands it over.
    pub turn: Option<u64>,
    /// Blocks proposed in it.
    pub blocks_this_turn: usize,
    /// Events the turn may still pack.
    pub quota_left: usize,
    /// Its last block is proposed: nothing more is packed in it.
    pub turn_closed: bool,
    /// Heights proposed and not committed.
    pub in_flight: Vec<u64>,
    /// The height of a turn held open with nothing due, and until when.
    pub held: Option<(u64, u64)>,
    /// The height waiting for the driver's chain to reach the block under it, and until when.
    pub waiting: Option<(u64, u64)>,
    /// The last rotation measured (time between two of our turns).
    pub rotation_ms: u64,
    /// The typical rotation pacing plans with.
    pub typical_rotation_ms: u64,
    /// Time the pace was owed for and not yet paid by a whole event.
    pub unpaid_ms: u64,
    /// Pending events the last quota left for later turns.
    pub deferred: usize,
}

/// The primary's policy for one endorser.
#[derive(Clone, Debug)]
pub struct Proposer<K> {
    cfg: ProposerConfig,
    turn: Option<u64>,
    blocks_this_turn: usize,
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
    /// The events of each block proposed and not yet committed, by height.
    in_flight: BTreeMap<u64, Vec<K>>,
    /// The turn's last block is proposed (flagged `last_of_turn`): the turn ends when it is
    /// decided, and nothing more is packed in it.
    turn_closed: bool,
    /// A proposal waiting for the driver's chain, retried at the time given.
    waiting: Option<(Ask, u64)>,
    /// The turn held open with nothing due, handed over at the time given unless an upload
    /// resumes it first.
    held: Option<(Ask, u64)>,
    /// The wake-up last asked for.
    wake_at: Option<u64>,
    deferred: usize,
}

impl<K: Clone + Ord> Proposer<K> {
    /// A proposer that has had no turn yet.
    pub fn new(cfg: ProposerConfig) -> Self {
        Self {
            cfg,
            turn: None,
            blocks_this_turn: 0,
            quota_left: 0,
            last_turn_at_ms: None,
            rotation_ms: 0,
            typical_rotation_ms: 0,
            paced_at_ms: None,
            unpaid_ms: 0,
            in_flight: BTreeMap::new(),
            turn_closed: false,
            waiting: None,
            held: None,
            wake_at: None,
            deferred: 0,
        }
    }

    /// The policy's knobs.
    pub fn config(&self) -> &ProposerConfig {
        &self.cfg
    }

    /// Follows a turn timeout changed on the ledger: the heartbeat stays below it (see
    /// [`heartbeat_ms`]). A turn held already keeps its time.
    pub fn set_turn_timeout(&mut self, turn_timeout_ms: u64) {
        self.cfg.set_turn_timeout(turn_timeout_ms);
    }

    /// The events of the block proposed at `height`, while it is in flight.
    pub fn in_flight(&self, height: u64) -> Option<&[K]> {
        self.in_flight.get(&height).map(Vec::as_slice)
    }

    /// The state, for metrics and tests.
    pub fn status(&self) -> ProposerStatus {
        ProposerStatus {
            turn: self.turn,
            blocks_this_turn: self.blocks_this_turn,
            quota_left: self.quota_left,
            turn_closed: self.turn_closed,
            in_flight: self.in_flight.keys().copied().collect(),
            held: self.held.map(|((_, h, _), at)| (h, at)),
            waiting: self.waiting.map(|((_, h, _), at)| (h, at)),
            rotation_ms: self.rotation_ms,
            typical_rotation_ms: self.typical_rotation_ms,
            unpaid_ms: self.unpaid_ms,
            deferred: self.deferred,
        }
    }

    /// Handles one input at `now_ms`, reading the queue and chain through `view`.
    pub fn handle(
        &mut self,
        input: ProposerInput,
        now_ms: u64,
        view: &mut dyn ProposerView<K>,
    ) -> Vec<ProposerAction<K>> {
        let mut out = Vec::new();
        match input {
            ProposerInput::MyTurn { turn } => self.begin_turn(turn, now_ms, view),
            ProposerInput::NeedProposal {
                turn,
                height,
                previous,
            } => {
                if self.turn != Some(turn) {
                    self.begin_turn(turn, now_ms, view);
                }
                self.propose((turn, height, previous), now_ms, view, &mut out);
            }
            ProposerInput::TurnChanged { turn } => {
                if self.turn.is_some_and(|t| t != turn) {
                    self.turn = None;
                }
                self.in_flight.clear();
                self.waiting = None;
                self.held = None;
            }
            ProposerInput::Committed { height } => {
                self.in_flight.retain(|h, _| *h > height);
            }
            ProposerInput::Arrived => {
                if self.held.is_some() {
                    self.resume_held(now_ms, view, &mut out);
                }
            }
            ProposerInput::Tick => self.on_tick(now_ms, view, &mut out),
        }
        self.update_wake(&mut out);
        out
    }

    fn on_tick(
        &mut self,
        now_ms: u64,
        view: &mut dyn ProposerView<K>,
        out: &mut Vec<ProposerAction<K>>,
    ) {
        // The tick uses up the wake-up: one that came early (a driver whose timer and clock
        // disagree by a millisecond) is asked for again below, instead of leaving a held turn
        // with nothing to wake it.
        self.wake_at = None;
        if let Some((ask, at)) = self.waiting
            && at <= now_ms
        {
            self.waiting = None;
            self.propose(ask, now_ms, view, out);
        }
        if let Some(((turn, _, _), at)) = self.held
            && at <= now_ms
            && !self.resume_held(now_ms, view, out)
        {
            self.held = None;
            self.finish_turn(turn, out);
        }
    }

    /// Asks for the earliest pending deadline when it changed.
    fn update_wake(&mut self, out: &mut Vec<ProposerAction<K>>) {
        let want = [self.waiting, self.held]
            .into_iter()
            .flatten()
            .map(|(_, at)| at)
            .min();
        if want != self.wake_at {
            self.wake_at = want;
            if let Some(at_ms) = want {
                out.push(ProposerAction::WakeAt { at_ms });
            }
        }
    }

    fn in_flight_keys(&self) -> BTreeSet<K> {
        self.in_flight
            .values()
            .flat_map(|events| events.iter().cloned())
            .collect()
    }

    /// A turn of ours begins: measure the rotation and set the turn's quota.
    ///
    /// The quota is the pace times the time since pacing last settled (what that pace owes
    /// since then), not times a guess of the rotation: under load turns come every few tens of
    /// milliseconds, and a floor of one block interval made the quota several times the pace,
    /// so records that may wait hours went out within minutes. The fraction of an event a turn
    /// owes is carried to the next turn rather than rounded up.
    fn begin_turn(&mut self, turn: u64, now: u64, view: &mut dyn ProposerView<K>) {
        self.rotation_ms = match self.last_turn_at_ms {
            Some(prev) => now.saturating_sub(prev).max(MIN_ROTATION_MS),
            None => self.cfg.block_interval_ms.saturating_mul(self.cfg.regions),
        };
        self.last_turn_at_ms = Some(now);
        self.turn = Some(turn);
        self.turn_closed = false;
        self.blocks_this_turn = 0;
        if self.typical_rotation_ms == 0 {
            self.typical_rotation_ms = self.rotation_ms;
        }
        // The quota is set against the rotations before this one: a stall just measured is
        // not repaid at once (see `pacing::owed_ms`).
        self.quota_left = self.due_now(now, view);
        self.typical_rotation_ms =
            pacing::typical_rotation_ms(self.typical_rotation_ms, self.rotation_ms);
    }

    /// How long our next turn may take to come: the typical rotation, and at least one block
    /// interval (a busy turn of another region can take that long), so deferred records are
    /// not left past their deadline. One long rotation (a stall) does not widen it at once:
    /// that made every record due within the stall's length urgent in the next turn, a spike
    /// in the committed flow right after the dip.
    fn horizon_ms(&self) -> u64 {
        self.typical_rotation_ms.max(self.cfg.block_interval_ms)
    }

    /// What pacing asks this turn to pack, from the queue's deadlines (events in flight are
    /// already proposed).
    fn due_now(&mut self, now: u64, view: &mut dyn ProposerView<K>) -> usize {
        let skip = self.in_flight_keys();
        let Some(deadlines) = view.deadlines(&skip) else {
            return 0;
        };
        // The pace is owed for the time since it was last settled (a rotation before the first
        // turn), plus what earlier turns left unpaid.
        let since = self
            .paced_at_ms
            .map_or(self.rotation_ms, |at| now.saturating_sub(at));
        let owed = pacing::owed_ms(self.unpaid_ms, since, self.typical_rotation_ms);
        let q = pacing::paced_quota(&deadlines, now, owed, self.horizon_ms());
        self.paced_at_ms = Some(now);
        self.unpaid_ms = owed.saturating_sub(q.paid_ms);
        self.deferred = deadlines.len().saturating_sub(q.events);
        q.events
    }

    /// Packs and proposes the block asked for, or holds or ends the turn when there is nothing
    /// to pack.
    fn propose(
        &mut self,
        ask: Ask,
        now: u64,
        view: &mut dyn ProposerView<K>,
        out: &mut Vec<ProposerAction<K>>,
    ) {
        let (turn, height, previous) = ask;
        if self.turn != Some(turn) {
            return;
        }
        if self.in_flight.contains_key(&height) {
            // Asked again (a PBFT view change): the same block.
            out.push(ProposerAction::ProposeAgain { height });
            return;
        }
        if self.turn_closed {
            // The turn's last block is out; consensus ends the turn when it is decided.
            return;
        }
        let tip = view.tip();
        if tip.height.saturating_add(1) != height || tip.id != previous {
            // The driver's chain does not hold height - 1 yet: try again shortly.
            self.waiting = Some((ask, now.saturating_add(TIP_RETRY_MS)));
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
            let horizon = now.saturating_add(self.horizon_ms());
            let due = view
                .deadlines(&skip)
                .map_or(0, |d| d.partition_point(|d| *d <= horizon));
            self.quota_left = self.quota_left.max(due);
        }
        let limit = self.cfg.max_events.min(self.quota_left);
        let taken = view.oldest(limit, &skip);
        // Fewer than asked for: the queue holds nothing more to pack right now.
        let drained = taken.read < limit;
        let events = taken.events;
        let config = view.config_waiting();
        if (events.is_empty() && !config) || self.blocks_this_turn >= self.cfg.blocks_per_turn {
            if events.is_empty() && self.blocks_this_turn == 0 {
                // Give uploads a moment to arrive before handing the turn over. On an idle
                // network that moment is the heartbeat: handing an empty turn over costs a
                // consensus round and gossip to every peer, and nothing is waiting for it
                // (an upload or change reaching us meanwhile is proposed at once).
                let idle = now.saturating_sub(tip.timestamp_ms) > IDLE_AFTER_MS;
                let hold = if idle {
                    self.cfg.heartbeat_ms.max(self.cfg.block_interval_ms)
                } else {
                    EMPTY_TURN_HOLD_MS.min(self.cfg.block_interval_ms)
                };
                self.held = Some((ask, now.saturating_add(hold)));
                return;
            }
            self.finish_turn(turn, out);
            return;
        }
        self.blocks_this_turn += 1;
        self.quota_left = self.quota_left.saturating_sub(events.len());
        // The turn ends with this block when nothing more would be packed in it: its quota is
        // spent, the queue is drained, or its block budget is used. Ending it with the block
        // saves the separate turn-end round (a whole PBFT round per turn, most of a turn
        // under steady load, where turns carry one block). Uploads that arrive meanwhile go
        // with our next turn, as they would have after a separate end.
        let last_of_turn = config
            || self.quota_left == 0
            || drained
            || self.blocks_this_turn >= self.cfg.blocks_per_turn;
        if last_of_turn {
            self.turn_closed = true;
        }
        self.in_flight.insert(height, events.clone());
        out.push(ProposerAction::Propose {
            turn,
            height,
            previous,
            events,
            last_of_turn,
        });
    }

    /// Proposes in the turn held open with nothing due, if something is due now; false if
    /// still nothing is.
    fn resume_held(
        &mut self,
        now: u64,
        view: &mut dyn ProposerView<K>,
        out: &mut Vec<ProposerAction<K>>,
    ) -> bool {
        let Some((ask, _)) = self.held else {
            return false;
        };
        if self.turn != Some(ask.0) || self.blocks_this_turn != 0 {
            self.held = None;
            return false;
        }
        self.quota_left = self.due_now(now, view);
        if self.quota_left == 0 && !view.config_waiting() {
            return false;
        }
        self.held = None;
        self.propose(ask, now, view, out);
        true
    }

    fn finish_turn(&mut self, turn: u64, out: &mut Vec<ProposerAction<K>>) {
        if self.turn == Some(turn) {
            self.turn = None;
            out.push(ProposerAction::EndTurn { turn });
        }
    }
}
