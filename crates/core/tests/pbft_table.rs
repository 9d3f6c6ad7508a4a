//! Table-driven tests of `pbft::Replica`, in the manner of malachite's `core-driver/tests/it`:
//! each case is a replica (which committee member it is) and a list of steps; each step is one
//! input at one time, the exact actions the replica must return for it and the state it must be
//! in afterwards. Ed25519 signatures are deterministic, so the messages a step expects are
//! built with the same keys and compared byte for byte.
//!
//! The committee is four members in index order (leader of view v = member v mod 4), f = 1,
//! quorum 3, weak quorum 2; the turn has no beacon and starts at height 1.

use medblock_core::consensus::ConsensusConfig;
use medblock_core::consensus::InvalidProposal;
use medblock_core::consensus::certificate;
use medblock_core::consensus::committee::Committee;
use medblock_core::consensus::pbft::messages::{seal, sign_vote};
use medblock_core::consensus::pbft::{
    PbftMessage, Replica, ReplicaAction, ReplicaInput, ReplicaStats, ValueCheck,
};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, tagged_hash, wire};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const TURN: u64 = 7;
/// The view-change timeout; the replica doubles it for each view change it started.
const T: u64 = 100;
const OUTSIDER: usize = 4;

fn cfg() -> ConsensusConfig {
    ConsensusConfig {
        committee_size: 4,
        view_change_timeout_ms: T,
        checkpoint_interval: 2,
        future_buffer_per_sender: 3,
        ..ConsensusConfig::default()
    }
}

/// Four members and one outsider (index 4).
fn keys() -> Vec<SigningKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    (0..5).map(|_| SigningKey::generate(&mut rng)).collect()
}

fn key(i: usize) -> SigningKey {
    keys().swap_remove(i)
}

fn public(i: usize) -> PublicKey {
    key(i).public()
}

fn committee() -> Committee {
    Committee::new((0..4).map(public).collect())
}

/// Values are opaque to the replica; the test check refuses those named "bad...".
fn value(name: &str) -> wire::ProposedValue {
    wire::ProposedValue {
        kind: Some(wire::proposed_value::Kind::Proposal(wire::SignedEnvelope {
            body: name.as_bytes().to_vec(),
            signature: Vec::new(),
        })),
    }
}

fn digest(name: &str) -> Hash32 {
    tagged_hash("pbft-table/value", &[name.as_bytes()])
}

struct Check;

impl ValueCheck for Check {
    fn check(
        &self,
        height: u64,
        value: &wire::ProposedValue,
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let body = match &value.kind {
            Some(wire::proposed_value::Kind::Proposal(e)) => e.body.clone(),
            _ => Vec::new(),
        };
        if body.starts_with(b"bad") || body.is_empty() {
            return Err(InvalidProposal {
                height,
                reason: "bad value".into(),
                blame: true,
            });
        }
        Ok(tagged_hash("pbft-table/value", &[&body]))
    }
}

// --- Messages, built exactly as a member signs them. ---

fn pre_prepare_env(leader: usize, view: u64, height: u64, v: &str) -> wire::SignedEnvelope {
    let body = wire::PrePrepareBody {
        turn: TURN,
        view,
        height,
        leader: public(leader).as_bytes().to_vec(),
        value: Some(value(v)),
        digest: digest(v).0.to_vec(),
    };
    seal(&key(leader), statement::PRE_PREPARE, &body)
}

fn pp(leader: usize, view: u64, height: u64, v: &str) -> PbftMessage {
    PbftMessage::PrePrepare(pre_prepare_env(leader, view, height, v))
}

fn vote_of(kind: VoteKind, who: usize, view: u64, height: u64, v: &str) -> wire::Vote {
    sign_vote(&key(who), kind, TURN, view, height, &digest(v))
}

fn prepare(who: usize, view: u64, height: u64, v: &str) -> PbftMessage {
    PbftMessage::Vote(vote_of(VoteKind::Prepare, who, view, height, v))
}

fn commit(who: usize, view: u64, height: u64, v: &str) -> PbftMessage {
    PbftMessage::Vote(vote_of(VoteKind::Commit, who, view, height, v))
}

fn checkpoint(who: usize, view: u64, height: u64, v: &str) -> PbftMessage {
    PbftMessage::Vote(vote_of(VoteKind::Checkpoint, who, view, height, v))
}

/// Members sorted by key: the order the replica's log (a map by key) lists their votes in.
fn by_key(members: &[usize]) -> Vec<usize> {
    let mut m = members.to_vec();
    m.sort_by_key(|i| public(*i));
    m
}

/// The commit certificate of `members`' commits for (view, height, v).
fn cert(view: u64, height: u64, v: &str, members: &[usize]) -> wire::CommitCertificate {
    let commits: Vec<_> = by_key(members)
        .into_iter()
        .map(|i| {
            let vote = vote_of(VoteKind::Commit, i, view, height, v);
            let sig = medblock_core::keys::Signature::from_slice(&vote.signature)
                .expect("test signature");
            (public(i), sig)
        })
        .collect();
    certificate::build(TURN, view, height, digest(v), &commits, None)
}

/// The prepared certificate of `leader`'s pre-prepare and `members`' prepares.
fn prepared(
    leader: usize,
    view: u64,
    height: u64,
    v: &str,
    members: &[usize],
) -> wire::PreparedCertificate {
    wire::PreparedCertificate {
        pre_prepare: Some(pre_prepare_env(leader, view, height, v)),
        prepares: by_key(members)
            .into_iter()
            .map(|i| vote_of(VoteKind::Prepare, i, view, height, v))
            .collect(),
    }
}

fn vc_env(
    who: usize,
    new_view: u64,
    next_height: u64,
    last_decided: Option<wire::CommitCertificate>,
    prepared: Option<wire::PreparedCertificate>,
) -> wire::SignedEnvelope {
    let body = wire::ViewChangeBody {
        turn: TURN,
        new_view,
        next_height,
        last_decided,
        prepared,
        sender: public(who).as_bytes().to_vec(),
    };
    seal(&key(who), statement::VIEW_CHANGE, &body)
}

/// A view change from a member that has decided nothing in this turn and prepared nothing.
fn vc(who: usize, new_view: u64) -> PbftMessage {
    PbftMessage::ViewChange(vc_env(who, new_view, 1, None, None))
}

fn new_view(leader: usize, view: u64, vcs: Vec<(usize, wire::SignedEnvelope)>) -> PbftMessage {
    let mut vcs = vcs;
    vcs.sort_by_key(|(i, _)| public(*i));
    let body = wire::NewViewBody {
        turn: TURN,
        view,
        view_changes: vcs.into_iter().map(|(_, e)| e).collect(),
        leader: public(leader).as_bytes().to_vec(),
    };
    PbftMessage::NewView(seal(&key(leader), statement::NEW_VIEW, &body))
}

// --- Inputs and actions, short. ---

fn msg(m: PbftMessage) -> ReplicaInput {
    ReplicaInput::Message(m)
}

fn propose(height: u64, v: &str) -> ReplicaInput {
    ReplicaInput::Propose {
        height,
        value: value(v),
    }
}

fn decided(view: u64, height: u64, v: &str, members: &[usize]) -> ReplicaInput {
    ReplicaInput::Decided {
        height,
        value: value(v),
        digest: digest(v),
        certificate: cert(view, height, v, members),
    }
}

fn send(m: PbftMessage) -> ReplicaAction {
    ReplicaAction::Broadcast(m)
}

fn timer(at_ms: u64) -> ReplicaAction {
    ReplicaAction::SetTimer { at_ms }
}

fn decide(view: u64, height: u64, v: &str, members: &[usize]) -> ReplicaAction {
    ReplicaAction::Decide(Box::new(medblock_core::consensus::pbft::Decision {
        height,
        value: value(v),
        digest: digest(v),
        certificate: cert(view, height, v, members),
    }))
}

fn catch_up(from_height: u64) -> ReplicaAction {
    ReplicaAction::CatchUp { from_height }
}

// --- The table machinery. ---

/// What a step expects of the replica afterwards.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    view: u64,
    next_height: u64,
    changing_view: bool,
    leader: bool,
    log_len: usize,
    buffered: usize,
    stable_checkpoint: u64,
    stats: ReplicaStats,
}

/// Height 1, view 0, nothing logged.
const START: State = State {
    view: 0,
    next_height: 1,
    changing_view: false,
    leader: false,
    log_len: 0,
    buffered: 0,
    stable_checkpoint: 0,
    stats: ReplicaStats {
        rejected: 0,
        invalid_values: 0,
        view_changes_started: 0,
        views_entered: 0,
        equivocations: 0,
        stable_checkpoints: 0,
        leaders_lost: 0,
    },
};

fn stats(f: impl FnOnce(&mut ReplicaStats)) -> ReplicaStats {
    let mut s = ReplicaStats::default();
    f(&mut s);
    s
}

struct Step {
    what: &'static str,
    at_ms: u64,
    input: ReplicaInput,
    actions: Vec<ReplicaAction>,
    state: State,
}

struct Case {
    name: &'static str,
    /// Which member the replica is.
    me: usize,
    steps: Vec<Step>,
}

fn state_of(r: &Replica) -> State {
    State {
        view: r.view(),
        next_height: r.next_height(),
        changing_view: r.is_changing_view(),
        leader: r.is_leader(),
        log_len: r.log_len(),
        buffered: r.buffered(),
        stable_checkpoint: r.stable_checkpoint(),
        stats: r.stats().clone(),
    }
}

fn run(case: Case) {
    let mut r = Replica::new(cfg(), key(case.me), TURN, None, committee(), 1);
    for (i, step) in case.steps.into_iter().enumerate() {
        // The safety record a step persists is checked in `pbft_recovery.rs`; the tables
        // compare what is sent and decided.
        let actions: Vec<_> = r
            .handle(step.input, step.at_ms, &Check)
            .into_iter()
            .filter(|a| !matches!(a, ReplicaAction::Persist(_)))
            .collect();
        assert_eq!(
            actions, step.actions,
            "case {:?}, step {i} ({}): actions",
            case.name, step.what
        );
        assert_eq!(
            state_of(&r),
            step.state,
            "case {:?}, step {i} ({}): state",
            case.name,
            step.what
        );
    }
}

// --- The tables. ---

/// Normal case: pre-prepare, prepare, commit, decide, for a backup and for the leader.
#[test]
fn normal_case_phases() {
    let cases = vec![
        Case {
            name: "backup: pre-prepare, 2f+1 prepares, 2f+1 commits",
            me: 1,
            steps: vec![
                Step {
                    what: "leader's pre-prepare: prepare sent, view-change timer armed",
                    at_ms: 0,
                    input: msg(pp(0, 0, 1, "a")),
                    actions: vec![send(prepare(1, 0, 1, "a")), timer(T)],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a second prepare: two of three, nothing yet",
                    at_ms: 10,
                    input: msg(prepare(0, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a prepare for another digest does not count",
                    at_ms: 11,
                    input: msg(prepare(3, 0, 1, "x")),
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "third matching prepare: prepared, commit sent",
                    at_ms: 12,
                    input: msg(prepare(2, 0, 1, "a")),
                    actions: vec![send(commit(1, 0, 1, "a"))],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a prepare repeated after that changes nothing",
                    at_ms: 13,
                    input: msg(prepare(2, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "second commit",
                    at_ms: 20,
                    input: msg(commit(0, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "third commit: decided with the three commits; height 1 is no checkpoint",
                    at_ms: 21,
                    input: msg(commit(2, 0, 1, "a")),
                    actions: vec![decide(0, 1, "a", &[0, 1, 2])],
                    state: State {
                        next_height: 2,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a late commit for the decided height is ignored",
                    at_ms: 22,
                    input: msg(commit(3, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        next_height: 2,
                        log_len: 1,
                        ..START
                    },
                },
            ],
        },
        Case {
            name: "leader: a proposal becomes its pre-prepare",
            me: 0,
            steps: vec![
                Step {
                    what: "the primary's value: pre-prepare and own prepare sent",
                    at_ms: 0,
                    input: propose(1, "a"),
                    actions: vec![
                        send(pp(0, 0, 1, "a")),
                        send(prepare(0, 0, 1, "a")),
                        timer(T),
                    ],
                    state: State {
                        leader: true,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "the same proposal again: no second pre-prepare",
                    at_ms: 5,
                    input: propose(1, "a"),
                    actions: vec![],
                    state: State {
                        leader: true,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "prepare from 1",
                    at_ms: 10,
                    input: msg(prepare(1, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        leader: true,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "prepare from 3: commit",
                    at_ms: 11,
                    input: msg(prepare(3, 0, 1, "a")),
                    actions: vec![send(commit(0, 0, 1, "a"))],
                    state: State {
                        leader: true,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "commit from 3",
                    at_ms: 12,
                    input: msg(commit(3, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        leader: true,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "commit from 1: decided",
                    at_ms: 13,
                    input: msg(commit(1, 0, 1, "a")),
                    actions: vec![decide(0, 1, "a", &[0, 1, 3])],
                    state: State {
                        leader: true,
                        next_height: 2,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "the next height's value: pre-prepared at once",
                    at_ms: 14,
                    input: propose(2, "b"),
                    actions: vec![
                        send(pp(0, 0, 2, "b")),
                        send(prepare(0, 0, 2, "b")),
                        timer(14 + T),
                    ],
                    state: State {
                        leader: true,
                        next_height: 2,
                        log_len: 2,
                        ..START
                    },
                },
            ],
        },
        Case {
            name: "proposals at a backup and proposals out of order",
            me: 2,
            steps: vec![
                Step {
                    what: "an invalid proposal is dropped and arms no timer (the primary's fault, not the leader's); it is reported as the primary's fault",
                    at_ms: 0,
                    input: propose(1, "bad"),
                    actions: vec![ReplicaAction::Refused {
                        height: 1,
                        value: value("bad"),
                    }],
                    state: START,
                },
                Step {
                    what: "a valid proposal at a backup: it expects the leader to pre-prepare it",
                    at_ms: 1,
                    input: propose(1, "a"),
                    actions: vec![timer(1 + T)],
                    state: START,
                },
                Step {
                    what: "a proposal for the next height waits for height 1",
                    at_ms: 2,
                    input: propose(2, "b"),
                    actions: vec![],
                    state: START,
                },
                Step {
                    what: "height 1 decided elsewhere (catch-up): decided, the timer no longer tracked",
                    at_ms: 3,
                    input: decided(0, 1, "a", &[0, 1, 3]),
                    actions: vec![decide(0, 1, "a", &[0, 1, 3]), timer(3 + T)],
                    state: State {
                        next_height: 2,
                        ..START
                    },
                },
                Step {
                    what: "a decision for a height not next is ignored",
                    at_ms: 4,
                    input: decided(0, 5, "e", &[0, 1, 3]),
                    actions: vec![],
                    state: State {
                        next_height: 2,
                        ..START
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}

/// Messages that must be refused or dropped, each one counted.
#[test]
fn refused_messages() {
    let mut wrong_turn = vote_of(VoteKind::Prepare, 2, 0, 1, "a");
    wrong_turn.turn = TURN + 1;
    let mut forged = vote_of(VoteKind::Prepare, 2, 0, 1, "a");
    if let Some(b) = forged.signature.get_mut(0) {
        *b ^= 1;
    }
    let mut impersonated = vote_of(VoteKind::Prepare, 2, 0, 1, "a");
    impersonated.voter = public(3).as_bytes().to_vec();
    let logged = State {
        log_len: 1,
        ..START
    };
    let rejected = |n| State {
        stats: stats(|s| s.rejected = n),
        ..logged.clone()
    };
    run(Case {
        name: "refusals",
        me: 1,
        steps: vec![
            Step {
                what: "pre-prepare signed by a member that does not lead view 0",
                at_ms: 0,
                input: msg(pp(2, 0, 1, "a")),
                actions: vec![],
                state: State {
                    stats: stats(|s| s.rejected = 1),
                    ..START
                },
            },
            Step {
                what: "the leader's pre-prepare",
                at_ms: 1,
                input: msg(pp(0, 0, 1, "a")),
                actions: vec![send(prepare(1, 0, 1, "a")), timer(1 + T)],
                state: rejected(1),
            },
            Step {
                what: "vote for another turn",
                at_ms: 2,
                input: msg(PbftMessage::Vote(wrong_turn)),
                actions: vec![],
                state: rejected(2),
            },
            Step {
                what: "vote with a bad signature",
                at_ms: 3,
                input: msg(PbftMessage::Vote(forged)),
                actions: vec![],
                state: rejected(3),
            },
            Step {
                what: "vote naming another member than its signer",
                at_ms: 4,
                input: msg(PbftMessage::Vote(impersonated)),
                actions: vec![],
                state: rejected(4),
            },
            Step {
                what: "vote from outside the committee",
                at_ms: 5,
                input: msg(prepare(OUTSIDER, 0, 1, "a")),
                actions: vec![],
                state: rejected(5),
            },
            Step {
                what: "view change from outside the committee",
                at_ms: 6,
                input: msg(vc(OUTSIDER, 1)),
                actions: vec![],
                state: rejected(6),
            },
            Step {
                what: "view change claiming a height without the certificate that proves it",
                at_ms: 7,
                input: msg(PbftMessage::ViewChange(vc_env(2, 1, 2, None, None))),
                actions: vec![],
                state: rejected(7),
            },
            Step {
                what: "refused votes did not count: two honest prepares are still short of three",
                at_ms: 8,
                input: msg(prepare(0, 0, 1, "a")),
                actions: vec![],
                state: rejected(7),
            },
            Step {
                what: "the third valid prepare: commit",
                at_ms: 9,
                input: msg(prepare(2, 0, 1, "a")),
                actions: vec![send(commit(1, 0, 1, "a"))],
                state: rejected(7),
            },
        ],
    });
}

/// Faulty leaders and silent networks: view changes, new views, re-proposal of prepared values.
#[test]
fn view_changes() {
    let changing = |at_view: u64, s: ReplicaStats, log_len| State {
        view: at_view,
        changing_view: true,
        log_len,
        stats: s,
        ..START
    };
    let cases = vec![
        Case {
            name: "the driver lost a peer: the leader moves the view at once, a follower nothing",
            me: 1,
            steps: vec![
                Step {
                    what: "a follower lost: no view change",
                    at_ms: 0,
                    input: ReplicaInput::LeaderLost(public(2)),
                    actions: vec![],
                    state: START,
                },
                Step {
                    what: "the leader lost: view change to 1 now, not at the timeout",
                    at_ms: 5,
                    input: ReplicaInput::LeaderLost(public(0)),
                    actions: vec![send(vc(1, 1)), timer(5 + 2 * T)],
                    state: changing(
                        0,
                        stats(|s| {
                            s.view_changes_started = 1;
                            s.leaders_lost = 1;
                        }),
                        0,
                    ),
                },
            ],
        },
        Case {
            name: "invalid pre-prepare: the leader is faulty",
            me: 1,
            steps: vec![Step {
                what: "view change to 1 sent, timer doubled",
                at_ms: 0,
                input: msg(pp(0, 0, 1, "bad")),
                actions: vec![send(vc(1, 1)), timer(2 * T)],
                state: changing(
                    0,
                    stats(|s| {
                        s.rejected = 1;
                        s.invalid_values = 1;
                        s.view_changes_started = 1;
                    }),
                    // The slot was opened to look for an earlier pre-prepare; it stays empty.
                    1,
                ),
            }],
        },
        Case {
            name: "equivocating leader",
            me: 1,
            steps: vec![
                Step {
                    what: "first pre-prepare",
                    at_ms: 0,
                    input: msg(pp(0, 0, 1, "a")),
                    actions: vec![send(prepare(1, 0, 1, "a")), timer(T)],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a second, different one for the same slot: view change",
                    at_ms: 10,
                    input: msg(pp(0, 0, 1, "b")),
                    actions: vec![
                        ReplicaAction::Equivocation {
                            signer: public(0),
                            what: "pre-prepare",
                            view: 0,
                            height: 1,
                        },
                        send(vc(1, 1)),
                        timer(10 + 2 * T),
                    ],
                    state: changing(
                        0,
                        stats(|s| {
                            s.equivocations = 1;
                            s.view_changes_started = 1;
                        }),
                        1,
                    ),
                },
            ],
        },
        Case {
            name: "timeouts",
            me: 1,
            steps: vec![
                Step {
                    what: "pre-prepare arms the timer",
                    at_ms: 0,
                    input: msg(pp(0, 0, 1, "a")),
                    actions: vec![send(prepare(1, 0, 1, "a")), timer(T)],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "a timeout before the deadline is stale",
                    at_ms: T - 1,
                    input: ReplicaInput::Timeout,
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "the deadline: view change to 1, next timeout twice as long",
                    at_ms: T,
                    input: ReplicaInput::Timeout,
                    actions: vec![send(vc(1, 1)), timer(T + 2 * T)],
                    state: changing(0, stats(|s| s.view_changes_started = 1), 1),
                },
                Step {
                    what: "no new view in time: view change to 2, four times as long",
                    at_ms: 3 * T,
                    input: ReplicaInput::Timeout,
                    actions: vec![send(vc(1, 2)), timer(3 * T + 4 * T)],
                    state: changing(0, stats(|s| s.view_changes_started = 2), 1),
                },
            ],
        },
        Case {
            name: "the next leader gathers 2f+1 view changes",
            me: 1,
            steps: vec![
                Step {
                    what: "one view change (f): not enough to join",
                    at_ms: 0,
                    input: msg(vc(2, 1)),
                    actions: vec![],
                    state: START,
                },
                Step {
                    what: "a second (f+1): join; with its own that is 2f+1, so it sends the new view and enters it",
                    at_ms: 5,
                    input: msg(vc(3, 1)),
                    actions: vec![
                        send(vc(1, 1)),
                        timer(5 + 2 * T),
                        send(new_view(
                            1,
                            1,
                            vec![
                                (1, vc_env(1, 1, 1, None, None)),
                                (2, vc_env(2, 1, 1, None, None)),
                                (3, vc_env(3, 1, 1, None, None)),
                            ],
                        )),
                        timer(5 + 2 * T),
                    ],
                    state: State {
                        view: 1,
                        leader: true,
                        stats: stats(|s| {
                            s.view_changes_started = 1;
                            s.views_entered = 1;
                        }),
                        ..START
                    },
                },
                Step {
                    what: "a proposal in the new view: pre-prepared in view 1",
                    at_ms: 6,
                    input: propose(1, "a"),
                    actions: vec![send(pp(1, 1, 1, "a")), send(prepare(1, 1, 1, "a"))],
                    state: State {
                        view: 1,
                        leader: true,
                        log_len: 1,
                        stats: stats(|s| {
                            s.view_changes_started = 1;
                            s.views_entered = 1;
                        }),
                        ..START
                    },
                },
            ],
        },
        Case {
            name: "a prepared value survives the view change",
            me: 2,
            steps: vec![
                Step {
                    what: "pre-prepare of a",
                    at_ms: 0,
                    input: msg(pp(0, 0, 1, "a")),
                    actions: vec![send(prepare(2, 0, 1, "a")), timer(T)],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "prepare from 0",
                    at_ms: 1,
                    input: msg(prepare(0, 0, 1, "a")),
                    actions: vec![],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "prepare from 3: prepared",
                    at_ms: 2,
                    input: msg(prepare(3, 0, 1, "a")),
                    actions: vec![send(commit(2, 0, 1, "a"))],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "no commits in time: its view change carries the prepared certificate",
                    at_ms: T,
                    input: ReplicaInput::Timeout,
                    actions: vec![
                        send(PbftMessage::ViewChange(vc_env(
                            2,
                            1,
                            1,
                            None,
                            Some(prepared(0, 0, 1, "a", &[0, 2, 3])),
                        ))),
                        timer(3 * T),
                    ],
                    state: changing(0, stats(|s| s.view_changes_started = 1), 1),
                },
                Step {
                    what: "new view from 1 carrying a: entered, view 0's slot dropped",
                    at_ms: T + 10,
                    input: msg(new_view(
                        1,
                        1,
                        vec![
                            (
                                2,
                                vc_env(2, 1, 1, None, Some(prepared(0, 0, 1, "a", &[0, 2, 3]))),
                            ),
                            (1, vc_env(1, 1, 1, None, None)),
                            (3, vc_env(3, 1, 1, None, None)),
                        ],
                    )),
                    actions: vec![timer(T + 10 + 2 * T)],
                    state: State {
                        view: 1,
                        stats: stats(|s| {
                            s.view_changes_started = 1;
                            s.views_entered = 1;
                        }),
                        ..START
                    },
                },
                Step {
                    what: "the new leader pre-prepares another value: it dropped the carried one, view change to 2, still carrying a",
                    at_ms: T + 20,
                    input: msg(pp(1, 1, 1, "b")),
                    actions: vec![
                        send(PbftMessage::ViewChange(vc_env(
                            2,
                            2,
                            1,
                            None,
                            Some(prepared(0, 0, 1, "a", &[0, 2, 3])),
                        ))),
                        timer(T + 20 + 4 * T),
                    ],
                    state: State {
                        view: 1,
                        changing_view: true,
                        // The empty slot opened for (1, 1).
                        log_len: 1,
                        stats: stats(|s| {
                            s.rejected = 1;
                            s.invalid_values = 1;
                            s.view_changes_started = 2;
                            s.views_entered = 1;
                        }),
                        ..START
                    },
                },
            ],
        },
        Case {
            name: "re-proposing the carried value in the new view",
            me: 2,
            steps: vec![
                Step {
                    what: "new view carrying a, from view changes of others",
                    at_ms: 0,
                    input: msg(new_view(
                        1,
                        1,
                        vec![
                            (
                                0,
                                vc_env(0, 1, 1, None, Some(prepared(0, 0, 1, "a", &[0, 1, 3]))),
                            ),
                            (1, vc_env(1, 1, 1, None, None)),
                            (3, vc_env(3, 1, 1, None, None)),
                        ],
                    )),
                    actions: vec![timer(T)],
                    state: State {
                        view: 1,
                        stats: stats(|s| s.views_entered = 1),
                        ..START
                    },
                },
                Step {
                    what: "the leader pre-prepares a in view 1: prepared for",
                    at_ms: 5,
                    input: msg(pp(1, 1, 1, "a")),
                    actions: vec![send(prepare(2, 1, 1, "a"))],
                    state: State {
                        view: 1,
                        log_len: 1,
                        stats: stats(|s| s.views_entered = 1),
                        ..START
                    },
                },
            ],
        },
        Case {
            name: "peers behind and ahead",
            me: 2,
            steps: vec![
                Step {
                    what: "height 1 decided",
                    at_ms: 0,
                    input: decided(0, 1, "a", &[0, 2, 3]),
                    actions: vec![decide(0, 1, "a", &[0, 2, 3])],
                    state: State {
                        next_height: 2,
                        ..START
                    },
                },
                Step {
                    what: "a member still at height 1 asks for a view change: send it what it lacks",
                    at_ms: 1,
                    input: msg(vc(3, 1)),
                    actions: vec![ReplicaAction::PeerBehind {
                        peer: public(3),
                        from_height: 1,
                    }],
                    state: State {
                        next_height: 2,
                        ..START
                    },
                },
                Step {
                    what: "a member that proves height 2 decided: catch up from 2; and with it f+1 ask for view 1, so join, proving height 1 by its certificate",
                    at_ms: 2,
                    input: msg(PbftMessage::ViewChange(vc_env(
                        0,
                        1,
                        3,
                        Some(cert(0, 2, "b", &[0, 2, 3])),
                        None,
                    ))),
                    actions: vec![
                        catch_up(2),
                        send(PbftMessage::ViewChange(vc_env(
                            2,
                            1,
                            2,
                            Some(cert(0, 1, "a", &[0, 2, 3])),
                            None,
                        ))),
                        timer(2 + 2 * T),
                    ],
                    state: State {
                        next_height: 2,
                        changing_view: true,
                        stats: stats(|s| s.view_changes_started = 1),
                        ..START
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}

/// Checkpoints every 2 heights: signed on decision, stable at 2f+1, the log collected.
#[test]
fn checkpoints() {
    let at2 = State {
        next_height: 3,
        log_len: 2,
        ..START
    };
    let cases = vec![
        Case {
            name: "checkpoint at height 2",
            me: 1,
            steps: vec![
                Step {
                    what: "pre-prepare at 1",
                    at_ms: 0,
                    input: msg(pp(0, 0, 1, "a")),
                    actions: vec![send(prepare(1, 0, 1, "a")), timer(T)],
                    state: State {
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "commits from 0, 2, 3 decide 1 (catch-up by certificate would too)",
                    at_ms: 1,
                    input: decided(0, 1, "a", &[0, 2, 3]),
                    actions: vec![decide(0, 1, "a", &[0, 2, 3])],
                    state: State {
                        next_height: 2,
                        log_len: 1,
                        ..START
                    },
                },
                Step {
                    what: "pre-prepare at 2",
                    at_ms: 2,
                    input: msg(pp(0, 0, 2, "b")),
                    actions: vec![send(prepare(1, 0, 2, "b")), timer(2 + T)],
                    state: State {
                        next_height: 2,
                        log_len: 2,
                        ..START
                    },
                },
                Step {
                    what: "height 2 decided: a checkpoint height, so the checkpoint vote goes out",
                    at_ms: 3,
                    input: decided(0, 2, "b", &[0, 2, 3]),
                    actions: vec![
                        decide(0, 2, "b", &[0, 2, 3]),
                        send(checkpoint(1, 0, 2, "b")),
                    ],
                    state: at2.clone(),
                },
                Step {
                    what: "a checkpoint vote for another id does not agree",
                    at_ms: 4,
                    input: msg(checkpoint(3, 0, 2, "z")),
                    actions: vec![],
                    state: at2.clone(),
                },
                Step {
                    what: "a checkpoint vote at a height that is no checkpoint is ignored",
                    at_ms: 5,
                    input: msg(checkpoint(0, 0, 3, "c")),
                    actions: vec![],
                    state: at2.clone(),
                },
                Step {
                    what: "second agreeing vote",
                    at_ms: 6,
                    input: msg(checkpoint(0, 0, 2, "b")),
                    actions: vec![],
                    state: at2.clone(),
                },
                Step {
                    what: "third agreeing vote: stable at 2, heights 1 and 2 dropped from the log",
                    at_ms: 7,
                    input: msg(checkpoint(2, 0, 2, "b")),
                    actions: vec![],
                    state: State {
                        log_len: 0,
                        stable_checkpoint: 2,
                        stats: stats(|s| s.stable_checkpoints = 1),
                        ..at2.clone()
                    },
                },
            ],
        },
        Case {
            name: "a stable checkpoint above the replica's height",
            me: 3,
            steps: vec![
                Step {
                    what: "vote from 0",
                    at_ms: 0,
                    input: msg(checkpoint(0, 0, 2, "b")),
                    actions: vec![],
                    state: START,
                },
                Step {
                    what: "vote from 1",
                    at_ms: 1,
                    input: msg(checkpoint(1, 0, 2, "b")),
                    actions: vec![],
                    state: START,
                },
                Step {
                    what: "vote from 2: stable at 2, which this replica has not decided: catch up",
                    at_ms: 2,
                    input: msg(checkpoint(2, 0, 2, "b")),
                    actions: vec![catch_up(1)],
                    state: State {
                        stable_checkpoint: 2,
                        stats: stats(|s| s.stable_checkpoints = 1),
                        ..START
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}

/// Messages ahead of the replica wait in a buffer bounded per sender, and are replayed when the
/// replica gets there.
#[test]
fn future_buffer() {
    let buffered = |n| State {
        buffered: n,
        ..START
    };
    let cases = vec![
        Case {
            name: "bounded per sender, furthest dropped",
            me: 1,
            steps: vec![
                Step {
                    what: "prepare for height 2",
                    at_ms: 0,
                    input: msg(prepare(2, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(1),
                },
                Step {
                    what: "the same again is not kept twice",
                    at_ms: 1,
                    input: msg(prepare(2, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(1),
                },
                Step {
                    what: "prepare for height 4",
                    at_ms: 2,
                    input: msg(prepare(2, 0, 4, "d")),
                    actions: vec![],
                    state: buffered(2),
                },
                Step {
                    what: "a commit for height 3: kept, and a member committed ahead, so catch up",
                    at_ms: 3,
                    input: msg(commit(2, 0, 3, "c")),
                    actions: vec![catch_up(1)],
                    state: buffered(3),
                },
                Step {
                    what: "a fourth from the same sender: over its quota of 3, one dropped",
                    at_ms: 4,
                    input: msg(prepare(2, 0, 5, "e")),
                    actions: vec![],
                    state: buffered(3),
                },
                Step {
                    what: "another sender has its own quota",
                    at_ms: 5,
                    input: msg(prepare(3, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(4),
                },
                Step {
                    what: "beyond the height window (16): not kept",
                    at_ms: 6,
                    input: msg(prepare(3, 0, 17, "q")),
                    actions: vec![],
                    state: buffered(4),
                },
                Step {
                    what: "beyond the view window (64): not kept",
                    at_ms: 7,
                    input: msg(prepare(3, 65, 1, "a")),
                    actions: vec![],
                    state: buffered(4),
                },
            ],
        },
        Case {
            name: "replayed when the replica reaches the height",
            me: 1,
            steps: vec![
                Step {
                    what: "pre-prepare for height 2 arrives first",
                    at_ms: 0,
                    input: msg(pp(0, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(1),
                },
                Step {
                    what: "prepares for height 2 from 0 and 2",
                    at_ms: 1,
                    input: msg(prepare(0, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(2),
                },
                Step {
                    what: "and from 2",
                    at_ms: 2,
                    input: msg(prepare(2, 0, 2, "b")),
                    actions: vec![],
                    state: buffered(3),
                },
                Step {
                    what: "height 1 decided: the buffer replays, prepare then commit for height 2 at once",
                    at_ms: 3,
                    input: decided(0, 1, "a", &[0, 2, 3]),
                    actions: vec![
                        decide(0, 1, "a", &[0, 2, 3]),
                        send(prepare(1, 0, 2, "b")),
                        send(commit(1, 0, 2, "b")),
                        timer(3 + T),
                    ],
                    state: State {
                        next_height: 2,
                        log_len: 1,
                        ..START
                    },
                },
            ],
        },
    ];
    for c in cases {
        run(c);
    }
}
