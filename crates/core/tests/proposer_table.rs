//! Table-driven tests of the primary's policy (`consensus::proposer::Proposer`), in the manner of
//! malachite's `core-driver/tests/it`: each case is a policy and a list of steps; each step
//! changes the driver's world (queue, chain tip) if it says so, feeds one input at one time, and
//! names the exact actions and the exact state (`ProposerStatus`) that must follow.
//!
//! Events are numbers; a queue entry is (event, deadline). The view hands out entries in
//! deadline order, skipping what the machine says is in flight, like the endorser's queue.

use medblock_core::Hash32;
use medblock_core::consensus::proposer::{
    EMPTY_TURN_HOLD_MS, Proposer, ProposerAction, ProposerConfig, ProposerInput, ProposerStatus,
    ProposerView, TIP_RETRY_MS, Taken, Tip,
};
use std::collections::BTreeSet;

/// Block ids: height h has id [h; 32].
fn id(height: u64) -> Hash32 {
    Hash32([height as u8; 32])
}

/// The driver's world: its pending queue and its chain.
struct World {
    /// (event, deadline), kept in deadline order (then event order, as the queue's key is).
    queue: Vec<(u64, u64)>,
    /// Entries the driver reads but may not pack (committed meanwhile, revoked, unreadable).
    stale: BTreeSet<u64>,
    tip: Tip,
    unreadable: bool,
    /// A configuration change waits for a block.
    config: bool,
}

impl ProposerView<u64> for World {
    fn tip(&self) -> Tip {
        self.tip
    }

    fn config_waiting(&self) -> bool {
        self.config
    }

    fn deadlines(&mut self, skip: &BTreeSet<u64>) -> Option<Vec<u64>> {
        if self.unreadable {
            return None;
        }
        Some(
            self.queue
                .iter()
                .filter(|(e, _)| !skip.contains(e))
                .map(|(_, d)| *d)
                .collect(),
        )
    }

    fn oldest(&mut self, limit: usize, skip: &BTreeSet<u64>) -> Taken<u64> {
        if self.unreadable {
            return Taken {
                events: vec![],
                read: 0,
            };
        }
        let read: Vec<u64> = self
            .queue
            .iter()
            .filter(|(e, _)| !skip.contains(e))
            .take(limit)
            .map(|(e, _)| *e)
            .collect();
        let events = read
            .iter()
            .copied()
            .filter(|e| !self.stale.contains(e))
            .collect();
        Taken {
            events,
            read: read.len(),
        }
    }
}

/// A change to the world before a step's input.
enum Change {
    /// Events join the queue with these deadlines.
    Add(Vec<(u64, u64)>),
    /// Events leave the queue (committed).
    Remove(Vec<u64>),
    /// The driver's chain is at this height, its last block stamped at this time.
    Tip(u64, u64),
    /// These entries are read but may not be packed.
    Stale(Vec<u64>),
    /// The queue cannot be read.
    Unreadable,
    /// A configuration change waits for a block.
    Config,
}

struct Step {
    what: &'static str,
    change: Vec<Change>,
    at_ms: u64,
    input: ProposerInput,
    actions: Vec<ProposerAction<u64>>,
    state: ProposerStatus,
}

struct Case {
    name: &'static str,
    cfg: ProposerConfig,
    /// The queue at the start.
    queue: Vec<(u64, u64)>,
    steps: Vec<Step>,
}

fn run(case: Case) {
    let mut p = Proposer::new(case.cfg.clone());
    let mut world = World {
        queue: case.queue,
        stale: BTreeSet::new(),
        tip: Tip {
            height: 0,
            id: id(0),
            timestamp_ms: 0,
        },
        unreadable: false,
        config: false,
    };
    world.queue.sort_by_key(|(e, d)| (*d, *e));
    for (i, step) in case.steps.into_iter().enumerate() {
        for c in step.change {
            match c {
                Change::Add(es) => {
                    world.queue.extend(es);
                    world.queue.sort_by_key(|(e, d)| (*d, *e));
                }
                Change::Remove(es) => world.queue.retain(|(e, _)| !es.contains(e)),
                Change::Tip(height, timestamp_ms) => {
                    world.tip = Tip {
                        height,
                        id: id(height),
                        timestamp_ms,
                    }
                }
                Change::Stale(es) => world.stale.extend(es),
                Change::Unreadable => world.unreadable = true,
                Change::Config => world.config = true,
            }
        }
        let actions = p.handle(step.input, step.at_ms, &mut world);
        assert_eq!(
            actions, step.actions,
            "case {:?}, step {i} ({}): actions",
            case.name, step.what
        );
        assert_eq!(
            p.status(),
            step.state,
            "case {:?}, step {i} ({}): state",
            case.name,
            step.what
        );
    }
}

// --- Short forms. ---

fn my_turn(turn: u64) -> ProposerInput {
    ProposerInput::MyTurn { turn }
}

/// Consensus asks for `height` on top of the block below it.
fn need(turn: u64, height: u64) -> ProposerInput {
    ProposerInput::NeedProposal {
        turn,
        height,
        previous: id(height - 1),
    }
}

fn committed(height: u64) -> ProposerInput {
    ProposerInput::Committed { height }
}

fn propose(turn: u64, height: u64, events: &[u64], last_of_turn: bool) -> ProposerAction<u64> {
    ProposerAction::Propose {
        turn,
        height,
        previous: id(height - 1),
        events: events.to_vec(),
        last_of_turn,
    }
}

fn end(turn: u64) -> ProposerAction<u64> {
    ProposerAction::EndTurn { turn }
}

fn wake(at_ms: u64) -> ProposerAction<u64> {
    ProposerAction::WakeAt { at_ms }
}

/// `n` events numbered from `first`, all due at `deadline`.
fn events(first: u64, n: u64, deadline: u64) -> Vec<(u64, u64)> {
    (first..first + n).map(|e| (e, deadline)).collect()
}

/// Three blocks of at most two events per turn, a 100 ms block interval, two regions (so the
/// first turn assumes a 200 ms rotation).
fn small() -> ProposerConfig {
    ProposerConfig {
        blocks_per_turn: 3,
        max_events: 2,
        block_interval_ms: 100,
        regions: 2,
        heartbeat_ms: 1_000,
    }
}

/// The state right after the first turn began at any time with a fully urgent queue.
fn first_turn(turn: u64, quota: usize) -> ProposerStatus {
    ProposerStatus {
        turn: Some(turn),
        quota_left: quota,
        rotation_ms: 200,
        typical_rotation_ms: 200,
        ..ProposerStatus::default()
    }
}

#[test]
fn blocks_of_a_turn() {
    let cases = vec![
        Case {
            name: "an urgent backlog: blocks of max_events until the quota is spent",
            cfg: small(),
            queue: events(1, 5, 0),
            steps: vec![
                Step {
                    what: "our turn: the five urgent events are the quota",
                    change: vec![Change::Tip(0, 990)],
                    at_ms: 1_000,
                    input: my_turn(1),
                    actions: vec![],
                    state: first_turn(1, 5),
                },
                Step {
                    what: "height 1: the two oldest",
                    change: vec![],
                    at_ms: 1_001,
                    input: need(1, 1),
                    actions: vec![propose(1, 1, &[1, 2], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(1, 3)
                    },
                },
                Step {
                    what: "height 1 committed, height 2: the next two",
                    change: vec![Change::Remove(vec![1, 2]), Change::Tip(1, 1_010)],
                    at_ms: 1_020,
                    input: need(1, 2),
                    actions: vec![propose(1, 2, &[3, 4], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        ..first_turn(1, 1)
                    },
                },
                Step {
                    what: "height 3 before 2 is committed (pipelined is refused: the chain must hold 2)",
                    change: vec![],
                    at_ms: 1_021,
                    input: need(1, 3),
                    actions: vec![wake(1_021 + TIP_RETRY_MS)],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        waiting: Some((3, 1_021 + TIP_RETRY_MS)),
                        ..first_turn(1, 1)
                    },
                },
                Step {
                    what: "the chain reaches 2; the retry packs the last event, the quota is spent: last of turn",
                    change: vec![Change::Remove(vec![3, 4]), Change::Tip(2, 1_030)],
                    at_ms: 1_021 + TIP_RETRY_MS,
                    input: ProposerInput::Tick,
                    actions: vec![propose(1, 3, &[5], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 3,
                        in_flight: vec![1, 2, 3],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "commits clear what is in flight",
                    change: vec![],
                    at_ms: 1_050,
                    input: committed(2),
                    actions: vec![],
                    state: ProposerStatus {
                        blocks_this_turn: 3,
                        in_flight: vec![3],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "asked for height 4 in the closed turn: nothing (the turn ends with 3)",
                    change: vec![Change::Remove(vec![5]), Change::Tip(3, 1_060)],
                    at_ms: 1_061,
                    input: need(1, 4),
                    actions: vec![],
                    state: ProposerStatus {
                        blocks_this_turn: 3,
                        in_flight: vec![3],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
            ],
        },
        Case {
            name: "the block budget ends the turn",
            cfg: ProposerConfig {
                blocks_per_turn: 2,
                ..small()
            },
            queue: events(1, 10, 0),
            steps: vec![
                Step {
                    what: "our turn, asked at once for height 1 (no MyTurn first)",
                    change: vec![],
                    at_ms: 0,
                    input: need(4, 1),
                    actions: vec![propose(4, 1, &[1, 2], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(4, 8)
                    },
                },
                Step {
                    what: "the second block is the budget: last of turn though 6 are still owed",
                    change: vec![Change::Tip(1, 5)],
                    at_ms: 10,
                    input: need(4, 2),
                    actions: vec![propose(4, 2, &[3, 4], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        turn_closed: true,
                        ..first_turn(4, 6)
                    },
                },
                Step {
                    what: "consensus asks again for height 2 (a view change): the same block",
                    change: vec![],
                    at_ms: 20,
                    input: need(4, 2),
                    actions: vec![ProposerAction::ProposeAgain { height: 2 }],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        turn_closed: true,
                        ..first_turn(4, 6)
                    },
                },
                Step {
                    what: "a turn change naming our own turn keeps it; what was in flight goes back to the queue",
                    change: vec![],
                    at_ms: 21,
                    input: ProposerInput::TurnChanged { turn: 4 },
                    actions: vec![],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        turn_closed: true,
                        ..first_turn(4, 6)
                    },
                },
            ],
        },
        Case {
            name: "the queue drains under the turn (entries dropped by the driver)",
            cfg: small(),
            queue: events(1, 4, 0),
            steps: vec![
                Step {
                    what: "our turn: quota 4",
                    change: vec![],
                    at_ms: 0,
                    input: my_turn(2),
                    actions: vec![],
                    state: first_turn(2, 4),
                },
                Step {
                    what: "1 and 2 read, 2 committed elsewhere meanwhile: a block of 1 alone",
                    change: vec![Change::Stale(vec![2])],
                    at_ms: 1,
                    input: need(2, 1),
                    actions: vec![propose(2, 1, &[1], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(2, 3)
                    },
                },
                Step {
                    what: "2 and 4 leave the queue; 3 is all there is: drained, last of turn with 2 still owed",
                    change: vec![Change::Remove(vec![2, 4]), Change::Tip(1, 2)],
                    at_ms: 3,
                    input: need(2, 2),
                    actions: vec![propose(2, 2, &[3], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        turn_closed: true,
                        ..first_turn(2, 2)
                    },
                },
            ],
        },
        Case {
            name: "nothing left to pack after the first block: the turn is ended, not held",
            cfg: small(),
            queue: events(1, 4, 0),
            steps: vec![
                Step {
                    what: "height 1",
                    change: vec![],
                    at_ms: 0,
                    input: need(3, 1),
                    actions: vec![propose(3, 1, &[1, 2], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(3, 2)
                    },
                },
                Step {
                    what: "3 and 4 committed by another endorser, stale here: nothing to pack, end of turn",
                    change: vec![Change::Stale(vec![3, 4]), Change::Tip(1, 1)],
                    at_ms: 2,
                    input: need(3, 2),
                    actions: vec![end(3)],
                    state: ProposerStatus {
                        turn: None,
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(3, 2)
                    },
                },
            ],
        },
        Case {
            name: "uploads after the turn's first block wait for the next turn, even urgent ones",
            cfg: small(),
            queue: events(1, 3, 0),
            steps: vec![
                Step {
                    what: "height 1: quota 3",
                    change: vec![],
                    at_ms: 0,
                    input: need(1, 1),
                    actions: vec![propose(1, 1, &[1, 2], false)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(1, 1)
                    },
                },
                Step {
                    what: "two urgent uploads arrive",
                    change: vec![Change::Add(events(10, 2, 0))],
                    at_ms: 1,
                    input: ProposerInput::Arrived,
                    actions: vec![],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        ..first_turn(1, 1)
                    },
                },
                Step {
                    what: "height 2 packs what the quota left: 3 alone, last of turn",
                    change: vec![Change::Tip(1, 1)],
                    at_ms: 2,
                    input: need(1, 2),
                    actions: vec![propose(1, 2, &[3], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 2,
                        in_flight: vec![1, 2],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "another region's turn: what was in flight goes back to the queue",
                    change: vec![],
                    at_ms: 50,
                    input: ProposerInput::TurnChanged { turn: 2 },
                    actions: vec![],
                    state: ProposerStatus {
                        turn: None,
                        blocks_this_turn: 2,
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "our next turn, 250 ms later: the five are owed (none was committed)",
                    change: vec![],
                    at_ms: 250,
                    input: my_turn(3),
                    actions: vec![],
                    state: ProposerStatus {
                        turn: Some(3),
                        quota_left: 5,
                        rotation_ms: 250,
                        // (200 * 3 + 250) / 4
                        typical_rotation_ms: 212,
                        ..ProposerStatus::default()
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}

/// The state of a turn held since 5 s on an idle network whose last block is 3 s old (the
/// first turn assumes one rotation of 2 x 1 s), until `until`.
fn idle_held(turn: u64, until: u64) -> ProposerStatus {
    ProposerStatus {
        turn: Some(turn),
        held: Some((1, until)),
        rotation_ms: 2_000,
        typical_rotation_ms: 2_000,
        ..ProposerStatus::default()
    }
}

trait WithoutHold {
    fn without_hold(self) -> Self;
}

impl WithoutHold for ProposerStatus {
    fn without_hold(self) -> Self {
        ProposerStatus { held: None, ..self }
    }
}

#[test]
fn empty_turns() {
    let held = |until: u64| ProposerStatus {
        held: Some((1, until)),
        ..first_turn(1, 0)
    };
    let cases = vec![
        Case {
            name: "busy network: an empty turn is held briefly, then handed over",
            cfg: small(),
            queue: vec![],
            steps: vec![
                Step {
                    what: "nothing due: held EMPTY_TURN_HOLD_MS",
                    change: vec![Change::Tip(0, 4_900)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(5_000 + EMPTY_TURN_HOLD_MS)],
                    state: held(5_000 + EMPTY_TURN_HOLD_MS),
                },
                Step {
                    what: "an early tick changes nothing but asks for the wake-up again",
                    change: vec![],
                    at_ms: 5_050,
                    input: ProposerInput::Tick,
                    actions: vec![wake(5_000 + EMPTY_TURN_HOLD_MS)],
                    state: held(5_000 + EMPTY_TURN_HOLD_MS),
                },
                Step {
                    what: "the hold ends with nothing due: end of turn",
                    change: vec![],
                    at_ms: 5_000 + EMPTY_TURN_HOLD_MS,
                    input: ProposerInput::Tick,
                    actions: vec![end(1)],
                    state: ProposerStatus {
                        turn: None,
                        // The hold re-read the queue: pacing settled at 5_100.
                        ..first_turn(1, 0)
                    },
                },
            ],
        },
        Case {
            name: "an upload during the hold is proposed at once",
            cfg: small(),
            queue: vec![],
            steps: vec![
                Step {
                    what: "nothing due: held",
                    change: vec![Change::Tip(0, 4_900)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(5_000 + EMPTY_TURN_HOLD_MS)],
                    state: held(5_000 + EMPTY_TURN_HOLD_MS),
                },
                Step {
                    what: "an urgent upload: proposed now, alone, and the turn ends with it",
                    change: vec![Change::Add(vec![(7, 5_010)])],
                    at_ms: 5_010,
                    input: ProposerInput::Arrived,
                    actions: vec![propose(1, 1, &[7], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "the hold's wake-up comes anyway: nothing happens",
                    change: vec![],
                    at_ms: 5_000 + EMPTY_TURN_HOLD_MS,
                    input: ProposerInput::Tick,
                    actions: vec![],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        turn_closed: true,
                        ..first_turn(1, 0)
                    },
                },
            ],
        },
        Case {
            name: "an upload that may wait does not resume the hold",
            cfg: small(),
            queue: vec![],
            steps: vec![
                Step {
                    what: "nothing due: held",
                    change: vec![Change::Tip(0, 4_900)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(5_000 + EMPTY_TURN_HOLD_MS)],
                    state: held(5_000 + EMPTY_TURN_HOLD_MS),
                },
                Step {
                    what: "one record that may wait an hour: the pace owes nothing for 10 ms",
                    change: vec![Change::Add(vec![(7, 3_605_000)])],
                    at_ms: 5_010,
                    input: ProposerInput::Arrived,
                    actions: vec![],
                    state: ProposerStatus {
                        deferred: 1,
                        unpaid_ms: 10,
                        ..held(5_000 + EMPTY_TURN_HOLD_MS)
                    },
                },
                Step {
                    what: "the hold ends: still nothing owed, end of turn; the record stays queued",
                    change: vec![],
                    at_ms: 5_000 + EMPTY_TURN_HOLD_MS,
                    input: ProposerInput::Tick,
                    actions: vec![end(1)],
                    state: ProposerStatus {
                        turn: None,
                        deferred: 1,
                        unpaid_ms: 100,
                        ..first_turn(1, 0)
                    },
                },
            ],
        },
        Case {
            name: "idle network: an empty turn is held a whole heartbeat, then handed over",
            cfg: ProposerConfig {
                block_interval_ms: 1_000,
                heartbeat_ms: 4_000,
                ..small()
            },
            queue: vec![],
            steps: vec![
                Step {
                    what: "last block 3 s ago: held a heartbeat (4 s), not a block interval",
                    change: vec![Change::Tip(0, 2_000)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(9_000)],
                    state: idle_held(1, 9_000),
                },
                Step {
                    what: "a block interval later: still held (no turn end, no consensus round)",
                    change: vec![],
                    at_ms: 6_000,
                    input: ProposerInput::Tick,
                    actions: vec![wake(9_000)],
                    state: idle_held(1, 9_000),
                },
                Step {
                    what: "the heartbeat: the turn is handed over",
                    change: vec![],
                    at_ms: 9_000,
                    input: ProposerInput::Tick,
                    actions: vec![end(1)],
                    state: ProposerStatus {
                        turn: None,
                        ..idle_held(1, 0)
                    }
                    .without_hold(),
                },
            ],
        },
        Case {
            name: "idle network: an upload during the heartbeat's hold is proposed at once",
            cfg: ProposerConfig {
                block_interval_ms: 1_000,
                heartbeat_ms: 4_000,
                ..small()
            },
            queue: vec![],
            steps: vec![
                Step {
                    what: "idle: held a heartbeat",
                    change: vec![Change::Tip(0, 2_000)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(9_000)],
                    state: idle_held(1, 9_000),
                },
                Step {
                    what: "an urgent upload 100 ms in: proposed now, the turn ends with it",
                    change: vec![Change::Add(vec![(7, 5_100)])],
                    at_ms: 5_100,
                    input: ProposerInput::Arrived,
                    actions: vec![propose(1, 1, &[7], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        turn_closed: true,
                        ..idle_held(1, 0)
                    }
                    .without_hold(),
                },
            ],
        },
        Case {
            name: "idle network: a configuration change is proposed at once, not after the heartbeat",
            cfg: ProposerConfig {
                block_interval_ms: 1_000,
                heartbeat_ms: 4_000,
                ..small()
            },
            queue: vec![],
            steps: vec![
                Step {
                    what: "idle: held a heartbeat",
                    change: vec![Change::Tip(0, 2_000)],
                    at_ms: 5_000,
                    input: need(1, 1),
                    actions: vec![wake(9_000)],
                    state: idle_held(1, 9_000),
                },
                Step {
                    what: "a change waits for a block: a block with no event, the turn's last",
                    change: vec![Change::Config],
                    at_ms: 5_200,
                    input: ProposerInput::Arrived,
                    actions: vec![propose(1, 1, &[], true)],
                    state: ProposerStatus {
                        blocks_this_turn: 1,
                        in_flight: vec![1],
                        turn_closed: true,
                        ..idle_held(1, 0)
                    }
                    .without_hold(),
                },
            ],
        },
        Case {
            name: "idle network, a change already waiting: proposed in the turn's first block",
            cfg: ProposerConfig {
                block_interval_ms: 1_000,
                heartbeat_ms: 4_000,
                ..small()
            },
            queue: vec![],
            steps: vec![Step {
                what: "nothing to pack but the change: proposed, not held",
                change: vec![Change::Tip(0, 2_000), Change::Config],
                at_ms: 5_000,
                input: need(1, 1),
                actions: vec![propose(1, 1, &[], true)],
                state: ProposerStatus {
                    blocks_this_turn: 1,
                    in_flight: vec![1],
                    turn_closed: true,
                    ..idle_held(1, 0)
                }
                .without_hold(),
            }],
        },
        Case {
            name: "an unreadable queue packs nothing",
            cfg: small(),
            queue: events(1, 3, 0),
            steps: vec![Step {
                what: "our turn with the queue unreadable: held, as if empty",
                change: vec![Change::Unreadable, Change::Tip(0, 4_950)],
                at_ms: 5_000,
                input: need(1, 1),
                actions: vec![wake(5_000 + EMPTY_TURN_HOLD_MS)],
                state: ProposerStatus {
                    rotation_ms: 200,
                    typical_rotation_ms: 200,
                    ..held(5_000 + EMPTY_TURN_HOLD_MS)
                },
            }],
        },
        Case {
            name: "a new turn drops the hold and the retry of the old one",
            cfg: small(),
            queue: vec![],
            steps: vec![
                Step {
                    what: "the chain lags: retry",
                    change: vec![Change::Tip(0, 0)],
                    at_ms: 10,
                    input: need(1, 2),
                    actions: vec![wake(10 + TIP_RETRY_MS)],
                    state: ProposerStatus {
                        waiting: Some((2, 10 + TIP_RETRY_MS)),
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "the turn changes: nothing to retry",
                    change: vec![],
                    at_ms: 15,
                    input: ProposerInput::TurnChanged { turn: 2 },
                    actions: vec![],
                    state: ProposerStatus {
                        turn: None,
                        ..first_turn(1, 0)
                    },
                },
                Step {
                    what: "the stale wake-up: nothing",
                    change: vec![Change::Tip(1, 12)],
                    at_ms: 10 + TIP_RETRY_MS,
                    input: ProposerInput::Tick,
                    actions: vec![],
                    state: ProposerStatus {
                        turn: None,
                        ..first_turn(1, 0)
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}

#[test]
fn pacing_over_turns() {
    // One block of up to 100 events per turn, one region, 1 s block interval.
    let cfg = ProposerConfig {
        blocks_per_turn: 1,
        max_events: 100,
        block_interval_ms: 1_000,
        regions: 1,
        heartbeat_ms: 5_000,
    };
    let status =
        |turn, quota_left, unpaid_ms, deferred, typical_rotation_ms, rotation_ms| ProposerStatus {
            turn: Some(turn),
            quota_left,
            unpaid_ms,
            deferred,
            typical_rotation_ms,
            rotation_ms,
            ..ProposerStatus::default()
        };
    run(Case {
        name: "1000 records that may wait 100 s, a turn a second: 10 a turn",
        cfg,
        queue: events(1, 1_000, 100_000),
        steps: vec![
            Step {
                what: "first turn: one assumed rotation (1 s) of pace, 1000 / 100 s = 10",
                change: vec![],
                at_ms: 0,
                input: my_turn(1),
                actions: vec![],
                state: status(1, 10, 0, 990, 1_000, 1_000),
            },
            Step {
                what: "its block: the ten oldest, last of turn (the block budget)",
                change: vec![],
                at_ms: 1,
                input: need(1, 1),
                actions: vec![propose(1, 1, &(1..=10).collect::<Vec<_>>(), true)],
                state: ProposerStatus {
                    blocks_this_turn: 1,
                    in_flight: vec![1],
                    turn_closed: true,
                    ..status(1, 0, 0, 990, 1_000, 1_000)
                },
            },
            Step {
                what: "committed",
                change: vec![Change::Remove((1..=10).collect()), Change::Tip(1, 2)],
                at_ms: 2,
                input: committed(1),
                actions: vec![],
                state: ProposerStatus {
                    blocks_this_turn: 1,
                    turn_closed: true,
                    ..status(1, 0, 0, 990, 1_000, 1_000)
                },
            },
            Step {
                what: "a turn 500 ms later: half a second of pace, 990 over 99.5 s, 4 whole events; the 97 ms they do not pay for are carried",
                change: vec![],
                at_ms: 500,
                input: my_turn(2),
                actions: vec![],
                state: status(2, 4, 97, 986, 875, 500),
            },
            Step {
                what: "a stall of 10 s (turn 2 proposed nothing): owed two typical rotations (1750 ms), not the stall: 990 over 89.5 s, 19",
                change: vec![],
                at_ms: 10_500,
                input: my_turn(3),
                actions: vec![],
                state: status(3, 19, 32, 971, 3_156, 10_000),
            },
        ],
    });
}

#[test]
fn the_heartbeat_stays_below_the_turn_timeout() {
    use medblock_core::consensus::proposer::{IDLE_HEARTBEAT_MS, heartbeat_ms};
    // The default genesis (10 s turn timeout, 500 ms blocks): the documented default.
    assert_eq!(heartbeat_ms(10_000, 500), IDLE_HEARTBEAT_MS);
    assert_eq!(IDLE_HEARTBEAT_MS, 5_000);
    // A longer timeout does not stretch it.
    assert_eq!(heartbeat_ms(60_000, 500), IDLE_HEARTBEAT_MS);
    // Half a short timeout (the test networks' 4 s), so a held turn never looks stalled.
    assert_eq!(heartbeat_ms(4_000, 200), 2_000);
    // Never shorter than the block interval (what an idle turn was held before).
    assert_eq!(heartbeat_ms(1_000, 800), 800);
    // The live policy's constructor and a timeout changed on the ledger.
    let mut cfg = ProposerConfig::new(1_000, 500, 2, 10_000);
    assert_eq!(cfg.heartbeat_ms, 5_000);
    cfg.set_turn_timeout(3_000);
    assert_eq!(cfg.heartbeat_ms, 1_500);
}
