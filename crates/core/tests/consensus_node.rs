//! The composite `ConsensusNode` over a small lossless in-memory network: regions elect their
//! endorsers, endorsers take turns as primary, each turn's beacon picks a committee, PBFT
//! decides blocks and turn ends, and every node decides the same chain.

use medblock_core::consensus::node::{
    ChainValidator, ConsensusNode, NodeAction, NodeInput, NodeSetup, RegionSetup,
};
use medblock_core::consensus::{ConsensusConfig, InvalidProposal, TurnStart};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, tagged_hash, wire};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

/// Blocks: height, previous id, a nonce. Counts the full checks it makes per height (a ledger
/// block's full check verifies every event signature, so a repeat is real work).
#[derive(Default)]
struct Blocks {
    checks: RefCell<BTreeMap<u64, u32>>,
}

/// A block: height, previous id, a nonce and whether it ends its primary's turn.
fn block(height: u64, previous: &Hash32, nonce: u64, last_of_turn: bool) -> Vec<u8> {
    let mut v = height.to_be_bytes().to_vec();
    v.extend_from_slice(previous.as_bytes());
    v.extend_from_slice(&nonce.to_be_bytes());
    v.push(u8::from(last_of_turn));
    v
}

impl ChainValidator for Blocks {
    fn validate(
        &self,
        height: u64,
        previous: &Hash32,
        payload: &[u8],
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        let bad = |r: &str| InvalidProposal {
            height,
            reason: r.to_string(),
            blame: true,
        };
        if payload.len() != 49 {
            return Err(bad("length"));
        }
        let h = payload
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes);
        if h != Some(height) {
            return Err(bad("height"));
        }
        if payload.get(8..40) != Some(previous.as_bytes().as_slice()) {
            return Err(bad("previous"));
        }
        *self.checks.borrow_mut().entry(height).or_default() += 1;
        Ok(tagged_hash("test-block", &[payload]))
    }

    fn decided_id(
        &self,
        _height: u64,
        _previous: &Hash32,
        payload: &[u8],
        _now_ms: u64,
    ) -> Result<Hash32, InvalidProposal> {
        Ok(tagged_hash("test-block", &[payload]))
    }

    fn ends_turn(&self, height: u64, payload: &[u8]) -> Result<bool, InvalidProposal> {
        match payload.get(48) {
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            _ => Err(InvalidProposal {
                height,
                reason: "malformed".to_string(),
                blame: true,
            }),
        }
    }
}

/// The block a decided value carries (empty for a turn end).
fn payload_of(dv: &wire::DecidedValue) -> Vec<u8> {
    use prost::Message as _;
    match dv.value.as_ref().and_then(|v| v.kind.as_ref()) {
        Some(wire::proposed_value::Kind::Proposal(env)) => {
            wire::ProposalBody::decode(env.body.as_slice())
                .map(|b| b.payload)
                .unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

struct Net {
    nodes: Vec<ConsensusNode>,
    /// Each node's validator.
    blocks: Vec<Blocks>,
    keys: Vec<PublicKey>,
    timers: Vec<Option<u64>>,
    queue: VecDeque<(usize, usize, wire::ConsensusMessage)>,
    chains: Vec<BTreeMap<u64, Hash32>>,
    proposed: Vec<u64>,
    /// Blocks each primary proposes per turn before ending it.
    per_turn: u64,
    /// Whether primaries flag their last block of a turn (ending the turn with it) instead of
    /// ending it with a separate turn end.
    flag_last: bool,
    /// Signed ends of turn sent (each one a PBFT round of its own).
    end_turns_sent: usize,
    /// Primaries sign proposals whose last-of-turn flag contradicts their block's.
    contradict_flag: bool,
    /// Block proposals left to make, all primaries together (`None`: no bound). A turn whose
    /// primary's block is refused with evidence ends at once, so without a bound primaries
    /// that only propose invalid blocks would turn the turns over forever at one instant of
    /// this network without delays.
    proposals_left: Option<u64>,
    /// Nodes that never answer `NeedProposal` (stalled primaries).
    stalled: Vec<bool>,
    turns_seen: Vec<Vec<(u64, PublicKey)>>,
    now: u64,
    /// Primaries propose nothing above this height (the lossless network has no delay).
    max_height: u64,
    /// Messages this picks (from, to, message) are held back and delivered only once nothing
    /// else is in flight: a network that reorders them behind everything else.
    slow: Option<Slow>,
    held: VecDeque<(usize, usize, wire::ConsensusMessage)>,
    /// (node, height): the node's driver commits every block as soon as any node decides it,
    /// before the node hears of the decision (a committer that handles the gossiped block
    /// first, or fetches it itself), and decided values below `height` never reach the node
    /// (lost gossip: turn ends are learned from nothing else).
    committer_first: Option<(usize, u64)>,
    /// For each block that driver committed: the block's turn and the node's turn after it.
    committed_turns: Vec<(u64, Option<u64>)>,
    /// A node that hears of blocks only from its driver, which commits each one late (once
    /// nothing else is in flight), while decided turn ends reach it at once: the turn end
    /// above a block arrives before the block is committed.
    late_driver: Option<usize>,
    /// The blocks that driver has yet to commit.
    late_commits: VecDeque<NodeInput>,
}

type Slow = fn(usize, usize, &wire::ConsensusMessage) -> bool;

fn cfg() -> ConsensusConfig {
    ConsensusConfig {
        committee_size: 4,
        turn_timeout_ms: 3_000,
        view_change_timeout_ms: 500,
        checkpoint_interval: 4,
        ..ConsensusConfig::default()
    }
}

impl Net {
    /// Two regions of three voters (two candidates each) and five orderers.
    fn new(stall: &[usize]) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let keys: Vec<SigningKey> = (0..11).map(|_| SigningKey::generate(&mut rng)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
        let regions = vec![
            RegionSetup {
                name: "north".into(),
                voters: pubs[0..3].to_vec(),
                candidates: pubs[0..2].to_vec(),
            },
            RegionSetup {
                name: "south".into(),
                voters: pubs[3..6].to_vec(),
                candidates: pubs[3..5].to_vec(),
            },
        ];
        let orderers = pubs[6..11].to_vec();
        let start = TurnStart {
            turn: 0,
            start_height: 1,
            chain_hash: Hash32::ZERO,
        };
        let mut net = Net {
            nodes: Vec::new(),
            blocks: (0..11).map(|_| Blocks::default()).collect(),
            keys: pubs.clone(),
            timers: vec![None; 11],
            queue: VecDeque::new(),
            chains: vec![BTreeMap::new(); 11],
            proposed: vec![0; 11],
            per_turn: 2,
            flag_last: false,
            end_turns_sent: 0,
            contradict_flag: false,
            proposals_left: None,
            stalled: (0..11).map(|i| stall.contains(&i)).collect(),
            turns_seen: vec![Vec::new(); 11],
            now: 0,
            max_height: 12,
            slow: None,
            held: VecDeque::new(),
            committer_first: None,
            committed_turns: Vec::new(),
            late_driver: None,
            late_commits: VecDeque::new(),
        };
        let mut first = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let region = if i < 3 { "north" } else { "south" };
            let setup = NodeSetup {
                cfg: cfg(),
                key: k.clone(),
                region: region.into(),
                voter: i < 6,
                endorser: matches!(i, 0 | 1 | 3 | 4),
                orderer: i >= 6,
                regions: regions.clone(),
                orderers: orderers.clone(),
                start,
            };
            let (n, acts) = ConsensusNode::new(setup, 0).expect("valid setup");
            net.nodes.push(n);
            first.push(acts);
        }
        for (i, acts) in first.into_iter().enumerate() {
            net.dispatch(i, acts);
        }
        net
    }

    fn index(&self, k: &PublicKey) -> Option<usize> {
        self.keys.iter().position(|x| x == k)
    }

    fn input(&mut self, i: usize, input: NodeInput) {
        let acts = self.nodes[i].handle(input, self.now, &self.blocks[i]);
        self.dispatch(i, acts);
    }

    fn dispatch(&mut self, i: usize, acts: Vec<NodeAction>) {
        for a in acts {
            if let NodeAction::Broadcast(m) | NodeAction::Multicast { msg: m, .. } = &a
                && matches!(m.kind, Some(wire::consensus_message::Kind::EndTurn(_)))
            {
                self.end_turns_sent += 1;
            }
            match a {
                NodeAction::Broadcast(m) => {
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.queue.push_back((i, j, m.clone()));
                        }
                    }
                }
                NodeAction::Send { to, msg } => {
                    if let Some(j) = self.index(&to) {
                        self.queue.push_back((i, j, msg));
                    }
                }
                NodeAction::Multicast { to, msg } => {
                    for k in to {
                        if let Some(j) = self.index(&k)
                            && j != i
                        {
                            self.queue.push_back((i, j, msg.clone()));
                        }
                    }
                }
                NodeAction::SetTimer { at_ms } => self.timers[i] = Some(at_ms),
                NodeAction::Decided(dv) => {
                    let c = dv.certificate.clone().expect("certificate");
                    let id = Hash32::from_slice(&c.block_id).expect("id");
                    assert!(
                        self.chains[i].insert(c.height, id).is_none(),
                        "decided twice"
                    );
                    let payload = payload_of(&dv);
                    let acts = self.nodes[i].handle(
                        NodeInput::Committed {
                            height: c.height,
                            block_id: id,
                            turn: c.turn,
                            // Committed right after `Decided`: the node already knows the
                            // block (and whether it ended the turn).
                            last_of_turn: false,
                            certificate: Some(c.clone()),
                        },
                        self.now,
                        &self.blocks[i],
                    );
                    self.dispatch(i, acts);
                    if let Some((x, _)) = self.committer_first
                        && x != i
                        && self.nodes[x].next_height() == c.height
                    {
                        // Node x's driver commits the block before x hears of it.
                        self.chains[x].insert(c.height, id);
                        let last_of_turn = self.blocks[x]
                            .ends_turn(c.height, &payload)
                            .expect("a block");
                        let input = NodeInput::Committed {
                            height: c.height,
                            block_id: id,
                            turn: c.turn,
                            last_of_turn,
                            certificate: Some(c.clone()),
                        };
                        self.input(x, input);
                        let now_in = self.nodes[x].status().turn;
                        self.committed_turns.push((c.turn, now_in));
                    }
                    if let Some(x) = self.late_driver
                        && x != i
                        && !self.chains[x].contains_key(&c.height)
                    {
                        self.chains[x].insert(c.height, id);
                        let last_of_turn = self.blocks[x]
                            .ends_turn(c.height, &payload)
                            .expect("a block");
                        self.late_commits.push_back(NodeInput::Committed {
                            height: c.height,
                            block_id: id,
                            turn: c.turn,
                            last_of_turn,
                            certificate: Some(c.clone()),
                        });
                    }
                }
                NodeAction::NeedProposal {
                    height, previous, ..
                } => {
                    if self.stalled[i] || height > self.max_height || self.proposals_left == Some(0)
                    {
                        continue;
                    }
                    let input = if self.proposed[i] >= self.per_turn {
                        NodeInput::EndMyTurn
                    } else {
                        self.proposed[i] += 1;
                        self.proposals_left = self.proposals_left.map(|n| n.saturating_sub(1));
                        let last = self.flag_last && self.proposed[i] >= self.per_turn;
                        NodeInput::Propose {
                            height,
                            payload: block(height, &previous, i as u64, last),
                            last_of_turn: last != self.contradict_flag,
                        }
                    };
                    let acts = self.nodes[i].handle(input, self.now, &self.blocks[i]);
                    self.dispatch(i, acts);
                }
                NodeAction::MyTurn { .. } => self.proposed[i] = 0,
                NodeAction::TurnChanged {
                    turn,
                    primary,
                    committee: None,
                } => self.turns_seen[i].push((turn, primary)),
                NodeAction::CatchUp { from_height, .. } => {
                    // Ask the next node.
                    let j = (i + 1) % self.nodes.len();
                    let m = wire::ConsensusMessage {
                        kind: Some(wire::consensus_message::Kind::CatchUpRequest(
                            wire::CatchUpRequest {
                                from_height,
                                max_count: 32,
                            },
                        )),
                    };
                    self.queue.push_back((i, j, m));
                }
                _ => {}
            }
        }
    }

    /// Delivers everything queued (held messages last), then fires due timers; repeats until
    /// `until`.
    fn run(&mut self, until: u64) {
        loop {
            self.deliver();
            let next = self.timers.iter().flatten().min().copied();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for i in 0..self.nodes.len() {
                        if self.timers[i].is_some_and(|x| x <= self.now) {
                            self.timers[i] = None;
                            self.input(i, NodeInput::Tick);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn deliver(&mut self) {
        loop {
            while let Some((from, to, msg)) = self.queue.pop_front() {
                if self.lost(to, &msg) {
                    continue;
                }
                if self.slow.is_some_and(|slow| slow(from, to, &msg)) {
                    self.held.push_back((from, to, msg));
                    continue;
                }
                let from = self.keys[from];
                self.input(to, NodeInput::Message { from, msg });
            }
            let Some((from, to, msg)) = self.held.pop_front() else {
                match (self.late_driver, self.late_commits.pop_front()) {
                    (Some(x), Some(input)) => {
                        self.input(x, input);
                        continue;
                    }
                    _ => return,
                }
            };
            let from = self.keys[from];
            self.input(to, NodeInput::Message { from, msg });
        }
    }

    /// Whether `msg` to `to` is a decided value (or a catch-up answer with one) that the
    /// network loses (`committer_first`).
    fn lost(&self, to: usize, msg: &wire::ConsensusMessage) -> bool {
        use wire::consensus_message::Kind;
        if self.late_driver == Some(to) {
            // Blocks reach it only through its driver.
            let block = |dv: &wire::DecidedValue| !payload_of(dv).is_empty();
            return match &msg.kind {
                Some(Kind::Decided(dv)) => block(dv),
                Some(Kind::CatchUpResponse(_)) => true,
                _ => false,
            };
        }
        let Some((x, below)) = self.committer_first else {
            return false;
        };
        let low =
            |dv: &wire::DecidedValue| dv.certificate.as_ref().is_some_and(|c| c.height < below);
        to == x
            && match &msg.kind {
                Some(Kind::Decided(dv)) => low(dv),
                Some(Kind::CatchUpResponse(r)) => r.decided.iter().any(low),
                _ => false,
            }
    }

    /// The virtual time at which every node has decided `n` blocks (timers fire only when no
    /// message is in flight, so a chain that needs no re-send decides at the time it started).
    fn time_to_decide(&mut self, n: u64, limit: u64) -> Option<u64> {
        loop {
            self.deliver();
            if self.chains.iter().all(|c| c.len() as u64 >= n) {
                return Some(self.now);
            }
            let next = self.timers.iter().flatten().min().copied()?;
            if next > limit {
                return None;
            }
            self.now = self.now.max(next);
            for i in 0..self.nodes.len() {
                if self.timers[i].is_some_and(|x| x <= self.now) {
                    self.timers[i] = None;
                    self.input(i, NodeInput::Tick);
                }
            }
        }
    }

    fn assert_agree(&self) -> u64 {
        let mut all: BTreeMap<u64, Hash32> = BTreeMap::new();
        for c in &self.chains {
            for (h, id) in c {
                assert_eq!(*all.entry(*h).or_insert(*id), *id, "two values at {h}");
            }
        }
        self.chains
            .iter()
            .map(|c| c.len() as u64)
            .min()
            .unwrap_or(0)
    }
}

#[test]
fn regions_elect_primaries_rotate_and_all_nodes_decide_one_chain() {
    let mut net = Net::new(&[]);
    net.run(20_000);
    let min = net.assert_agree();
    assert_eq!(min, 12, "every node decided all 12 blocks");
    let st = net.nodes[6].status();
    assert!(st.turn.unwrap_or(0) >= 4, "turns rotate: {st:?}");
    assert!(st.regions.iter().all(|r| r.endorser.is_some()));
    // Every node saw the same turns with the same primaries, alternating regions.
    for i in 1..11 {
        let n = net.turns_seen[i].len().min(net.turns_seen[0].len());
        assert_eq!(net.turns_seen[i][..n], net.turns_seen[0][..n]);
    }
    let primaries: Vec<PublicKey> = net.turns_seen[0].iter().map(|t| t.1).collect();
    assert!(primaries.windows(2).all(|w| w[0] != w[1]));
    // Two blocks per turn, then the primary's own end of turn (skips only once the primaries
    // run out of blocks at height 12).
    assert!(st.stats.turn_ends >= 6);
    assert!(st.stats.turn_ends > st.stats.skipped_turns);
}

#[test]
fn a_primarys_flagged_last_block_ends_its_turn_without_a_turn_end_round() {
    let mut net = Net::new(&[]);
    net.flag_last = true;
    net.run(20_000);
    assert_eq!(net.assert_agree(), 12, "every node decided all 12 blocks");
    let st = net.nodes[6].status();
    assert!(st.turn.unwrap_or(0) >= 5, "turns rotate: {st:?}");
    for i in 1..11 {
        let n = net.turns_seen[i].len().min(net.turns_seen[0].len());
        assert_eq!(net.turns_seen[i][..n], net.turns_seen[0][..n]);
    }
    let primaries: Vec<PublicKey> = net.turns_seen[0].iter().map(|t| t.1).collect();
    assert!(primaries.windows(2).all(|w| w[0] != w[1]));
    // Two blocks per turn, the second flagged: six turns end with their blocks, and no
    // primary ever sends a separate end of turn.
    assert_eq!(net.end_turns_sent, 0, "a primary ended a turn on its own");
    assert!(st.stats.turn_ends >= 6, "{st:?}");
    // The same network with separate ends of turn sends one per full turn.
    let mut separate = Net::new(&[]);
    separate.run(20_000);
    assert!(separate.end_turns_sent >= 5, "{}", separate.end_turns_sent);
}

#[test]
fn a_proposal_whose_last_of_turn_flag_contradicts_its_block_is_never_decided() {
    // The flag in the primary's signed proposal is what the committee acts on; the block's is
    // what its id (the certificate) binds. A primary that signs one and packs the other could
    // split the nodes on where its turn ended, so the committee refuses such proposals.
    let mut net = Net::new(&[]);
    net.flag_last = true;
    net.contradict_flag = true;
    net.proposals_left = Some(40);
    net.run(20_000);
    assert_eq!(
        net.assert_agree(),
        0,
        "a contradicting proposal was decided"
    );
    let st = net.nodes[6].status();
    assert!(st.stats.skipped_turns >= 1, "{st:?}");
    // Each such turn ended at once, on the refused proposal as evidence, not on the turn
    // timeout: 40 proposals, hence dozens of turns, within the 20 s run (the timeout is 3 s).
    let faults: u64 = net
        .nodes
        .iter()
        .map(|n| n.status().stats.faulty_primaries)
        .sum();
    assert!(faults >= 1, "no turn ended on evidence");
    assert!(st.stats.skipped_turns >= 10, "{st:?}");
}

#[test]
fn a_stalled_primary_is_skipped_by_its_committee() {
    // Node 0 (north's first candidate, elected) never proposes.
    let mut net = Net::new(&[0]);
    net.run(30_000);
    let min = net.assert_agree();
    assert_eq!(min, 12, "the others keep deciding");
    // Node 0 never proposed, yet its turns came and passed.
    assert!(net.turns_seen[7].iter().any(|t| t.1 == net.keys[0]));
    let st = net.nodes[7].status();
    assert!(st.stats.skipped_turns >= 1, "{st:?}");
}

fn is_beacon(m: &wire::ConsensusMessage) -> bool {
    matches!(m.kind, Some(wire::consensus_message::Kind::Beacon(_)))
}

fn is_turn_end(m: &wire::ConsensusMessage) -> bool {
    use wire::proposed_value::Kind;
    matches!(
        &m.kind,
        Some(wire::consensus_message::Kind::Decided(dv))
            if matches!(dv.value.as_ref().and_then(|v| v.kind.as_ref()), Some(Kind::TurnEnd(_)))
    )
}

fn is_decision_news(m: &wire::ConsensusMessage) -> bool {
    use wire::consensus_message::Kind;
    match &m.kind {
        Some(Kind::Decided(_)) => true,
        Some(Kind::Vote(v)) => {
            v.kind == medblock_core::consensus::statement::VoteKind::Commit as u32
        }
        _ => false,
    }
}

#[test]
fn proposals_that_overtake_the_turns_beacon_are_kept_for_the_committee() {
    // Baseline: the time the chain takes on an orderly network.
    let mut orderly = Net::new(&[]);
    let baseline = orderly.time_to_decide(12, 60_000).expect("decides");
    // Every beacon reaches the orderers only after everything else in flight: each turn's
    // proposal and pre-prepare arrive before the replicas know the committee.
    let mut net = Net::new(&[]);
    net.slow = Some(|_, to, m| to >= 6 && is_beacon(m));
    let t = net.time_to_decide(12, 60_000).expect("decides");
    net.assert_agree();
    assert_eq!(t, baseline, "no re-send was needed");
}

#[test]
fn an_orderer_checks_each_block_once_when_its_pre_prepare_waits_for_the_block_under_it() {
    // As above: orderers 6 and 7 hear of each decision last, so both the primary's next
    // proposal and the leader's pre-prepare of it wait for the block under them. Checking a
    // ledger block verifies every event signature: the pre-prepare must reuse the proposal's
    // check, not repeat it.
    let mut net = Net::new(&[]);
    net.slow = Some(|_, to, m| (to == 6 || to == 7) && is_decision_news(m));
    net.time_to_decide(12, 60_000).expect("decides");
    net.assert_agree();
    for i in 6..11 {
        let checks = net.blocks[i].checks.borrow();
        assert!(!checks.is_empty(), "orderer {i} checked blocks");
        let repeated: Vec<_> = checks.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            repeated.is_empty(),
            "orderer {i} checked these heights more than once: {repeated:?}"
        );
    }
}

#[test]
fn a_proposal_ahead_of_the_replicas_last_decision_is_checked_once_it_is_decided() {
    let mut orderly = Net::new(&[]);
    let baseline = orderly.time_to_decide(12, 60_000).expect("decides");
    // Commit votes and decided blocks reach orderers 6 and 7 last: the primary's next
    // proposal arrives before they decided the block under it.
    let mut net = Net::new(&[]);
    net.slow = Some(|_, to, m| (to == 6 || to == 7) && is_decision_news(m));
    let t = net.time_to_decide(12, 60_000).expect("decides");
    net.assert_agree();
    assert_eq!(t, baseline, "no re-send was needed");
}

#[test]
fn a_node_whose_driver_commits_a_later_turns_block_first_enters_that_turn() {
    // A node's committer may commit a block before the node's consensus machine has heard of
    // it (it handles the gossiped block first, or fetched it in its own catch-up), and the
    // turn end that closed the node's turn may never arrive (lost gossip; the ledger does not
    // hold turn ends) or arrive after the next turn's block was committed (then below the
    // node's next height). The committed block's certificate proves the earlier turns ended:
    // the node enters the block's turn from it. Before that, such a node sat in its old turn
    // for good while its ledger grew, and its region timed out every turn it was primary.
    // (name, node, decided values lost below this height, primaries flag their last block,
    // messages held back until nothing else is in flight)
    type Case = (&'static str, usize, u64, bool, Option<Slow>);
    let cases: [Case; 6] = [
        ("north voter, turn ends lost", 2, 9, false, None),
        ("south voter, turn ends lost", 5, 9, false, None),
        ("south's endorser, turn ends lost", 3, 9, false, None),
        ("north voter, flagged last blocks", 2, 9, true, None),
        ("north voter, nothing lost", 2, 0, false, None),
        (
            "north voter, turn ends late",
            2,
            0,
            false,
            Some(|_, to, m| to == 2 && is_turn_end(m)),
        ),
    ];
    for (name, x, lost_below, flag_last, slow) in cases {
        let mut net = Net::new(&[]);
        net.flag_last = flag_last;
        net.committer_first = Some((x, lost_below));
        net.slow = slow;
        net.run(60_000);
        assert_eq!(
            net.assert_agree(),
            12,
            "{name}: every node has all 12 blocks"
        );
        assert!(
            !net.committed_turns.is_empty(),
            "{name}: the driver committed"
        );
        for (h, (block_turn, node_turn)) in net.committed_turns.iter().enumerate() {
            assert!(
                node_turn.is_some_and(|t| t >= *block_turn),
                "{name}: after its driver committed block {} of turn {block_turn}, node {x} \
                 is in turn {node_turn:?} ({:?})",
                h + 1,
                net.committed_turns,
            );
        }
        // The turns it saw are the others' (it skips those whose end it never heard of), and
        // from the turn of the first block whose decided value reached it, it saw them all.
        let seen = &net.turns_seen[x];
        let reference = &net.turns_seen[6];
        for t in seen {
            assert!(
                reference.contains(t),
                "{name}: node {x} saw {t:?}: {seen:?}"
            );
        }
        let heard_from = match lost_below {
            0 | 1 => 0,
            h => net.committed_turns[(h - 1) as usize].0,
        };
        let last = seen
            .last()
            .map_or(0, |t| t.0)
            .min(reference.last().map_or(0, |t| t.0));
        assert!(
            last >= 5,
            "{name}: node {x} stopped at turn {last}: {seen:?}"
        );
        for t in reference
            .iter()
            .filter(|t| t.0 >= heard_from && t.0 <= last)
        {
            assert!(seen.contains(t), "{name}: node {x} missed {t:?}: {seen:?}");
        }
    }
}

#[test]
fn a_turn_end_that_arrives_before_the_block_under_it_is_applied_once_the_driver_commits_it() {
    // A node's orderer may hear of a decided turn end before its committer has handed it the
    // block below (the committer caught that block up late). The turn end waits; once the
    // block is committed it must be applied, not wait for the next decided value, which never
    // comes when the turn it ends was the last before this node's own: the node never learned
    // its turn began, and the turn timed out. Node 0 is north's elected endorser.
    let mut orderly = Net::new(&[]);
    let baseline = orderly.time_to_decide(12, 120_000).expect("decides");
    for x in [0, 2, 3] {
        let mut net = Net::new(&[]);
        net.late_driver = Some(x);
        let t = net.time_to_decide(12, 120_000).expect("decides");
        net.assert_agree();
        assert_eq!(t, baseline, "node {x}: no turn timed out");
        let seen = &net.turns_seen[x];
        let reference = &net.turns_seen[6];
        let n = seen.len().min(reference.len());
        assert!(n >= 6, "node {x}: {seen:?}");
        assert_eq!(seen[..n], reference[..n], "node {x}'s turns");
    }
}
