//! The simulation loop: a seeded event queue in virtual time driving one [`ConsensusNode`] per
//! node (orderers and region nodes: voters and endorser candidates) over many turns; the
//! Byzantine behaviours; then the safety and liveness verdicts.

use crate::block::{SimBlock, SimEvent};
pub use crate::byzantine::Behaviour;
use crate::byzantine::byzantine;
use crate::network::NetworkModel;
use crate::node::{SimNode, SimView};
use crate::reconfig::{self, Script, ScriptedValidator};
use medblock_core::consensus::node::ChainValidator;
use medblock_core::consensus::proposer::{
    Proposer, ProposerAction, ProposerConfig, ProposerInput, heartbeat_ms,
};
use medblock_core::consensus::{
    ConsensusConfig, ConsensusNode, NodeAction, NodeInput, NodeSetup, Reconfiguration, RegionSetup,
    TurnStart, catchup,
};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, wire};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// One run's parameters.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Eligible orderers.
    pub orderers: usize,
    /// Byzantine orderers among them.
    pub byzantine: usize,
    /// The seed.
    pub seed: u64,
    /// Heights to decide.
    pub target_height: u64,
    /// Blocks a primary proposes per turn at most (the proposer's budget).
    pub blocks_per_turn: u64,
    /// Events per block at most.
    pub block_events: usize,
    /// The block interval the proposer plans with (ms).
    pub block_interval_ms: u64,
    /// Regions, each with `voters_per_region` voters, two of them endorser candidates.
    pub regions: usize,
    /// Voters per region.
    pub voters_per_region: usize,
    /// The Byzantine behaviour; `None` picks one from the seed.
    pub behaviour: Option<Behaviour>,
    /// When the network heals (loss and partitions stop).
    pub heal_at_ms: u64,
    /// How long after healing every honest node must have reached the target.
    pub liveness_window_ms: u64,
    /// Whether to partition the network before healing.
    pub partitions: bool,
    /// Consensus parameters.
    pub consensus: ConsensusConfig,
    /// Honest orderers that crash right after sending a prepare and restart (see
    /// `restart.rs`), up to `crashes_per_node` times each.
    pub crash_restarts: usize,
    /// Crashes per crash-prone orderer.
    pub crashes_per_node: u32,
    /// Whether a restarted orderer gets back its persisted PBFT safety record (off only to
    /// show what goes wrong without it).
    pub persist_safety: bool,
    /// Whether primaries carry the scripted membership changes of `reconfig.rs` (see
    /// [`SimConfig::reconfiguration`]).
    pub reconfigure: bool,
    /// An idle run (see [`SimConfig::idle`]): every queue starts empty, and one urgent record
    /// reaches the second region's first endorser candidate at this virtual time.
    pub idle_until_ms: Option<u64>,
    /// Crash the first endorser candidate of region `.0` (its endorser at start) at virtual
    /// time `.1`: its region elects another while the turns run, which may land while one of
    /// its turns waits for the dead endorser's beacon.
    pub crash_endorser: Option<(usize, u64)>,
}

impl SimConfig {
    /// Defaults sized for many seeds in CI: three regions of three voters, committees of
    /// 3f+1 drawn by each turn's beacon from the eligible orderers.
    pub fn new(orderers: usize, byzantine: usize, seed: u64) -> Self {
        let committee = if byzantine == 0 {
            orderers
        } else {
            orderers.min(3 * byzantine + 1)
        };
        Self {
            orderers,
            byzantine,
            seed,
            target_height: 4,
            blocks_per_turn: 2,
            block_events: 3,
            block_interval_ms: 100,
            regions: 3,
            voters_per_region: 3,
            behaviour: None,
            heal_at_ms: 1_500,
            liveness_window_ms: 60_000,
            partitions: true,
            consensus: ConsensusConfig {
                committee_size: committee.max(1),
                turn_timeout_ms: 2_000,
                view_change_timeout_ms: 300,
                checkpoint_interval: 2,
                ..ConsensusConfig::default()
            },
            crash_restarts: 0,
            crashes_per_node: 3,
            persist_safety: true,
            reconfigure: false,
            idle_until_ms: None,
            crash_endorser: None,
        }
    }

    /// An idle network of honest nodes that sees its first upload at `upload_at_ms`: nothing
    /// to propose until then (the turns held a heartbeat each, see the proposer's
    /// `IDLE_HEARTBEAT_MS`), then one record that must be decided (target height 1).
    pub fn idle(seed: u64, upload_at_ms: u64) -> Self {
        let mut cfg = Self::new(4, 0, seed);
        cfg.behaviour = Some(Behaviour::Silent);
        cfg.partitions = false;
        cfg.target_height = 1;
        cfg.idle_until_ms = Some(upload_at_ms);
        cfg
    }

    /// A run through the membership changes of `reconfig.rs`: seven orderer nodes, four of
    /// them in the first pool with committees of four, and two Byzantine orderers that are f of
    /// whichever membership is in force. Long enough for every change and two more turns.
    pub fn reconfiguration(seed: u64) -> Self {
        let mut cfg = Self::new(reconfig::ORDERER_NODES, 2, seed);
        cfg.consensus.committee_size = reconfig::FIRST_POOL;
        cfg.reconfigure = true;
        // Two regions keep the runs short. The last change is due at height 10 at the latest;
        // a run goes on a turn past it when it comes later (`Sim::target`).
        cfg.regions = 2;
        cfg.target_height = 12;
        cfg
    }
}

/// One run's verdict and figures.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The Byzantine behaviour used.
    pub behaviour: Behaviour,
    /// No two honest nodes decided different values at one height.
    pub safety: bool,
    /// Every honest node reached the target after healing.
    pub liveness: bool,
    /// Lowest height reached by an honest node.
    pub min_height: u64,
    /// Highest height reached by an honest node.
    pub max_height: u64,
    /// Messages sent in total.
    pub messages: u64,
    /// Messages per decided height.
    pub messages_per_decision: f64,
    /// View changes started by honest nodes.
    pub view_changes: u64,
    /// Highest turn an honest node reached.
    pub turns: u64,
    /// Turns skipped (stalled or replaced primaries), as the most advanced honest node saw.
    pub skipped_turns: u64,
    /// Endorser elections verified, as the most advanced honest node saw (regions count once
    /// each at start).
    pub elections: u64,
    /// Virtual time at which the last honest node reached the target (ms).
    pub finished_at_ms: u64,
    /// Crash-and-restarts of honest orderers (see `SimConfig::crash_restarts`).
    pub restarts: u64,
    /// Turns passed to a newly elected endorser before their beacon, summed over nodes.
    pub take_overs: u64,
}

pub(crate) enum Event {
    Deliver {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        at: u64,
    },
    ProposerTimer {
        node: usize,
        at: u64,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
    Detect {
        node: usize,
    },
    /// An urgent record joins the node's queue (idle runs).
    Upload {
        node: usize,
    },
}

pub(crate) struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: BTreeMap<u64, Event>,
    seq: u64,
}

impl Queue {
    pub(crate) fn push(&mut self, at: u64, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq)));
        self.events.insert(self.seq, e);
    }
}

/// Who plays which role.
pub(crate) struct World {
    pub(crate) keys: Vec<SigningKey>,
    pub(crate) publics: Vec<PublicKey>,
    pub(crate) orderers: usize,
    pub(crate) byz: Vec<bool>,
    pub(crate) behaviour: Behaviour,
    /// Region index of each region node (`None` for orderers).
    pub(crate) region_of: Vec<Option<usize>>,
    pub(crate) region_names: Vec<String>,
    /// The membership changes and when each node is Byzantine (`byz` says who ever is).
    pub(crate) script: Script,
}

impl World {
    pub(crate) fn index(&self, k: &PublicKey) -> Option<usize> {
        self.publics.iter().position(|p| p == k)
    }

    /// The chain validator every node uses: the simulator's blocks with this run's changes.
    pub(crate) fn validator(&self) -> ScriptedValidator<'_> {
        ScriptedValidator {
            script: &self.script,
        }
    }
}

/// What a run through membership changes ends with.
#[derive(Clone, Debug)]
pub struct MembershipReport {
    /// The run's verdict and figures.
    pub report: RunReport,
    /// What the script's last change says.
    pub expected: Option<Reconfiguration>,
    /// The membership every honest node ended with.
    pub memberships: Vec<Reconfiguration>,
    /// The fewest changes an honest node's chain carries.
    pub changes_min: u8,
    /// The height of the last change's block (the highest over honest nodes).
    pub last_change_height: u64,
}

/// Runs one seeded simulation.
pub fn run(cfg: &SimConfig) -> RunReport {
    run_nodes(cfg).0
}

/// Runs one seeded simulation through membership changes (set `cfg.reconfigure`, e.g. with
/// [`SimConfig::reconfiguration`]) and reports the memberships the honest nodes end with.
pub fn run_membership(cfg: &SimConfig) -> MembershipReport {
    let (report, world, nodes, epochs) = run_nodes(cfg);
    let honest: Vec<&SimNode> = nodes.iter().filter(|nd| honest(&world, nd)).collect();
    let changes = world.script.memberships.len();
    let last_change_height = honest
        .iter()
        .filter_map(|nd| {
            nd.decided.iter().rev().find_map(|dv| {
                let c = dv.certificate.as_ref()?;
                let b = SimBlock::decode(&decided_payload(dv)?)?;
                (usize::from(b.config) == changes).then_some(c.height)
            })
        })
        .max()
        .unwrap_or(0);
    MembershipReport {
        report,
        expected: u8::try_from(changes)
            .ok()
            .and_then(|k| world.script.membership(k))
            .cloned(),
        memberships: honest.iter().map(|nd| nd.node.membership()).collect(),
        changes_min: honest.iter().map(|nd| epochs[nd.index]).min().unwrap_or(0),
        last_change_height,
    }
}

fn run_nodes(cfg: &SimConfig) -> (RunReport, World, Vec<SimNode>, Vec<u8>) {
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let n = cfg.orderers.max(1);
    let behaviour = cfg
        .behaviour
        .unwrap_or(Behaviour::ALL[(cfg.seed % Behaviour::ALL.len() as u64) as usize]);
    let regions = cfg.regions.max(1);
    let vpr = cfg.voters_per_region.max(1);
    let total = n + regions * vpr;
    let keys: Vec<SigningKey> = (0..total).map(|_| SigningKey::generate(&mut rng)).collect();
    let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
    let mut byz = vec![false; total];
    let mut picked = 0;
    while !cfg.reconfigure && picked < cfg.byzantine.min(n) {
        let i = (rng.next_u64() % n as u64) as usize;
        if !byz[i] {
            byz[i] = true;
            picked += 1;
        }
    }
    let region_names: Vec<String> = (0..regions).map(|r| format!("r{r}")).collect();
    let mut region_of = vec![None; total];
    let mut setups = Vec::new();
    for (r, name) in region_names.iter().enumerate() {
        let members: Vec<usize> = (0..vpr).map(|v| n + r * vpr + v).collect();
        for &m in &members {
            region_of[m] = Some(r);
        }
        setups.push(RegionSetup {
            name: name.clone(),
            voters: members.iter().map(|&m| publics[m]).collect(),
            candidates: members.iter().take(2).map(|&m| publics[m]).collect(),
        });
    }
    let script = if cfg.reconfigure {
        reconfig::script(cfg, &publics[..n], &setups, &mut byz, &mut rng)
    } else {
        Script::fixed(&byz)
    };
    let first_pool = if cfg.reconfigure {
        reconfig::FIRST_POOL.min(n)
    } else {
        n
    };
    let world = World {
        keys: keys.clone(),
        publics: publics.clone(),
        orderers: n,
        byz,
        behaviour,
        region_of,
        region_names,
        script,
    };
    let start = TurnStart {
        turn: 0,
        start_height: 1,
        chain_hash: Hash32::ZERO,
    };
    let mut q = Queue {
        heap: BinaryHeap::new(),
        events: BTreeMap::new(),
        seq: 0,
    };
    let mut nodes = Vec::with_capacity(total);
    let mut first = Vec::new();
    let proposer_cfg = ProposerConfig {
        blocks_per_turn: cfg.blocks_per_turn as usize,
        max_events: cfg.block_events.max(1),
        block_interval_ms: cfg.block_interval_ms,
        regions: regions as u64,
        heartbeat_ms: heartbeat_ms(cfg.consensus.turn_timeout_ms, cfg.block_interval_ms),
    };
    // The workload: every endorser candidate holds urgent records (due now), more than the run
    // can commit, so every turn of an honest primary is a busy one (the policy then packs
    // blocks of `block_events` up to `blocks_per_turn`, the last flagged). Numbered distinctly
    // per node.
    let backlog = match cfg.idle_until_ms {
        Some(_) => 0,
        None => cfg.block_events.max(1) as u64 * (cfg.target_height + cfg.blocks_per_turn),
    };
    for (i, k) in keys.iter().enumerate() {
        let (region, voter, endorser) = match world.region_of[i] {
            Some(r) => (world.region_names[r].clone(), true, (i - n) % vpr < 2),
            None => (world.region_names[0].clone(), false, false),
        };
        let setup = NodeSetup {
            cfg: cfg.consensus.clone(),
            key: k.clone(),
            region,
            voter,
            endorser,
            orderer: i < n,
            regions: setups.clone(),
            orderers: publics[..first_pool].to_vec(),
            start,
        };
        let setup_copy = setup.clone();
        let Ok((node, acts)) = ConsensusNode::new(setup, 0) else {
            continue;
        };
        let pending = if endorser {
            (0..backlog).map(|k| (i as u64 * backlog + k, 0)).collect()
        } else {
            Vec::new()
        };
        nodes.push(SimNode {
            index: i,
            setup: setup_copy,
            safety: None,
            crash_left: 0,
            restarts: 0,
            node,
            decided: Vec::new(),
            chain: Vec::new(),
            timer: None,
            proposer: Proposer::new(proposer_cfg.clone()),
            pending,
            sent: Default::default(),
            proposer_timer: None,
            tip_at_ms: 0,
            turns_as_primary: 0,
            crashed: false,
            recent: Default::default(),
        });
        first.push(acts);
    }
    crate::restart::plan_crashes(cfg, &world, &mut rng, &mut nodes);
    let side: Vec<bool> = (0..total)
        .map(|_| rng.next_u32().is_multiple_of(2))
        .collect();
    let net = NetworkModel {
        heal_at_ms: cfg.heal_at_ms,
        loss_permille: 50,
        dup_permille: 20,
        min_delay_ms: 1,
        max_delay_ms: 60,
        partition: cfg.partitions.then(|| (200, cfg.heal_at_ms.min(900), side)),
    };
    let mut messages = 0u64;
    let end = cfg.heal_at_ms + cfg.liveness_window_ms;
    let first_endorser = n; // region r0's first candidate: turn 0's primary
    if behaviour == Behaviour::CrashPrimary {
        q.push(
            150,
            Event::Crash {
                node: first_endorser,
            },
        );
    }
    if let Some((region, at)) = cfg.crash_endorser {
        q.push(
            at,
            Event::Crash {
                node: (n + region * vpr).min(total - 1),
            },
        );
    }
    for i in n..total {
        q.push(500 + i as u64, Event::Detect { node: i });
    }
    if let Some(at) = cfg.idle_until_ms {
        // The second region's first candidate (its endorser unless it crashed), so the record
        // reaches an endorser that is not always the primary holding the turn.
        let node = n + vpr.min(total - n - 1);
        q.push(at, Event::Upload { node });
    }
    let mut last_heard = vec![0u64; total];
    let mut sim = Sim {
        cfg,
        world: &world,
        rng: &mut rng,
        net: &net,
        messages: &mut messages,
        epochs: vec![0; total],
        change_at: vec![0; total],
    };
    for (i, acts) in first.into_iter().enumerate() {
        sim.dispatch(&mut nodes, &mut q, i, acts, 0);
    }
    let mut finished_at = 0;
    while let Some(Reverse((now, id))) = q.heap.pop() {
        if now > end {
            break;
        }
        let Some(ev) = q.events.remove(&id) else {
            continue;
        };
        match ev {
            Event::Crash { node } => {
                if let Some(nd) = nodes.get_mut(node) {
                    nd.crashed = true;
                }
            }
            Event::Restart { node } => sim.restart(&mut nodes, &mut q, node, now),
            Event::Upload { node } => {
                let event = u64::MAX - node as u64;
                nodes[node].pending.push((event, now));
                sim.drive_proposer(&mut nodes, &mut q, node, ProposerInput::Arrived, now);
            }
            Event::Timer { node, at } => {
                if nodes[node].timer == Some(at) && !nodes[node].crashed {
                    nodes[node].timer = None;
                    let acts = nodes[node]
                        .node
                        .handle(NodeInput::Tick, now, &world.validator());
                    sim.dispatch(&mut nodes, &mut q, node, acts, now);
                }
            }
            Event::ProposerTimer { node, at } => {
                if nodes[node].proposer_timer == Some(at) && !nodes[node].crashed {
                    nodes[node].proposer_timer = None;
                    sim.drive_proposer(&mut nodes, &mut q, node, ProposerInput::Tick, now);
                }
            }
            Event::Detect { node } => {
                // The driver's failure detector: the region's endorser has been silent for
                // three turn timeouts.
                if !nodes[node].crashed
                    && let Some(r) = world.region_of[node]
                {
                    let st = nodes[node].node.status();
                    let endorser = st
                        .regions
                        .iter()
                        .find(|x| x.name == world.region_names[r])
                        .and_then(|x| x.endorser);
                    if let Some(e) = endorser.and_then(|e| world.index(&e))
                        && e != node
                        && now > last_heard[e] + 3 * cfg.consensus.turn_timeout_ms
                    {
                        let input = NodeInput::SuspectEndorser {
                            region: world.region_names[r].clone(),
                        };
                        let acts = nodes[node].node.handle(input, now, &world.validator());
                        sim.dispatch(&mut nodes, &mut q, node, acts, now);
                    }
                    q.push(now + 500, Event::Detect { node });
                }
            }
            Event::Deliver { to, from, bytes } => {
                last_heard[from] = now;
                let silent = world.script.deaf(to, sim.epochs[to]) && behaviour.silent_orderers();
                if nodes[to].crashed || silent {
                    continue;
                }
                let Ok(msg) = catchup::decode_message(&bytes, cfg.consensus.max_message_bytes)
                else {
                    continue;
                };
                // The driver serves catch-up from its ledger; the node answers with what it
                // keeps (recent values and turn ends).
                if let Some(wire::consensus_message::Kind::CatchUpRequest(req)) = &msg.kind {
                    let resp = catchup::serve(nodes[to].decided.iter(), req, 64);
                    if let Some(wire::consensus_message::Kind::CatchUpResponse(r)) = &resp.kind
                        && !r.decided.is_empty()
                    {
                        sim.send(&mut q, to, from, &resp, now);
                    }
                }
                let input = NodeInput::Message {
                    from: world.publics[from],
                    msg,
                };
                let acts = nodes[to].node.handle(input, now, &world.validator());
                sim.dispatch(&mut nodes, &mut q, to, acts, now);
            }
        }
        // Scripted changes: every one decided, too (a run without them has none to wait for).
        let changes = world.script.memberships.len();
        let done = nodes.iter().filter(|nd| honest(&world, nd)).all(|nd| {
            nd.chain.len() as u64 >= sim.target(nd.index)
                && usize::from(sim.epochs[nd.index]) >= changes
        });
        if done && now >= cfg.heal_at_ms {
            finished_at = now;
            break;
        }
    }
    if std::env::var_os("MEDBLOCK_SIM_DEBUG").is_some() {
        for nd in &nodes {
            eprintln!(
                "node {} byz {} crashed {} chain {} status {:?}",
                nd.index,
                world.byz[nd.index],
                nd.crashed,
                nd.chain.len(),
                nd.node.status()
            );
        }
    }
    let epochs = sim.epochs;
    let report = verdict(cfg, behaviour, &world, &nodes, messages, finished_at);
    (report, world, nodes, epochs)
}

fn honest(world: &World, nd: &SimNode) -> bool {
    !world.byz[nd.index] && !nd.crashed
}

pub(crate) struct Sim<'a> {
    pub(crate) cfg: &'a SimConfig,
    pub(crate) world: &'a World,
    pub(crate) rng: &'a mut ChaCha20Rng,
    pub(crate) net: &'a NetworkModel,
    pub(crate) messages: &'a mut u64,
    /// Per node, the scripted changes its decided chain carries (the membership in force on
    /// it, which says whether a Byzantine node misbehaves now).
    pub(crate) epochs: Vec<u8>,
    /// Per node, the height of the last change its chain carries (0: none).
    pub(crate) change_at: Vec<u64>,
}

impl Sim<'_> {
    /// The height node `i` must reach: the run's target, and a whole turn (two blocks) past
    /// the last scripted membership change, however late that change came (no bound while one
    /// is still to come on its chain).
    fn target(&self, i: usize) -> u64 {
        let epoch = self.epochs.get(i).copied().unwrap_or(0);
        if usize::from(epoch) < self.world.script.memberships.len() {
            return u64::MAX;
        }
        match self.change_at.get(i) {
            Some(h) if *h > 0 => self.cfg.target_height.max(h + 2),
            _ => self.cfg.target_height,
        }
    }

    pub(crate) fn send(
        &mut self,
        q: &mut Queue,
        from: usize,
        to: usize,
        msg: &wire::ConsensusMessage,
        now: u64,
    ) {
        let msg = if self.world.script.byzantine(from, self.epochs[from]) {
            match byzantine(self.world, from, to, msg.clone(), self.rng) {
                Some(m) => m,
                None => return,
            }
        } else {
            msg.clone()
        };
        let bytes = msg.encode_to_vec();
        for delay in self.net.deliveries(self.rng, now, from, to) {
            *self.messages += 1;
            q.push(
                now + delay,
                Event::Deliver {
                    to,
                    from,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    pub(crate) fn dispatch(
        &mut self,
        nodes: &mut [SimNode],
        q: &mut Queue,
        i: usize,
        acts: Vec<NodeAction>,
        now: u64,
    ) {
        if nodes[i].crashed {
            return;
        }
        let total = nodes.len();
        for a in acts {
            match a {
                NodeAction::Broadcast(m) => {
                    for j in (0..total).filter(|j| *j != i) {
                        self.send(q, i, j, &m, now);
                    }
                    let recent = &mut nodes[i].recent;
                    recent.push_back(m);
                    while recent.len() > crate::node::RECENT_BROADCASTS {
                        recent.pop_front();
                    }
                }
                NodeAction::Multicast { to, msg } => {
                    for k in to {
                        if let Some(j) = self.world.index(&k)
                            && j != i
                        {
                            self.send(q, i, j, &msg, now);
                        }
                    }
                    if self.crash_after(nodes, q, i, &msg, now) {
                        return;
                    }
                }
                NodeAction::PersistSafety(record) => nodes[i].safety = Some(*record),
                NodeAction::Equivocation { .. } => {}
                NodeAction::Send { to, msg } => {
                    if let Some(j) = self.world.index(&to) {
                        self.send(q, i, j, &msg, now);
                    }
                }
                NodeAction::SetTimer { at_ms } => {
                    nodes[i].timer = Some(at_ms);
                    q.push(at_ms.max(now), Event::Timer { node: i, at: at_ms });
                }
                NodeAction::Decided(dv) => {
                    let Some(c) = dv.certificate.clone() else {
                        continue;
                    };
                    let Some(id) = Hash32::from_slice(&c.block_id) else {
                        continue;
                    };
                    // As a committer does: the flag from the committed block itself.
                    let last_of_turn = decided_payload(&dv)
                        .and_then(|p| {
                            ChainValidator::ends_turn(&self.world.validator(), c.height, &p).ok()
                        })
                        .unwrap_or(false);
                    let change = decided_payload(&dv)
                        .and_then(|p| SimBlock::decode(&p))
                        .map_or(0, |b| b.config);
                    if change != 0 {
                        self.epochs[i] = change;
                        self.change_at[i] = c.height;
                    }
                    nodes[i].chain.push(id);
                    nodes[i].tip_at_ms = now;
                    // As an endorser's queue does: the committed block's events leave it (the
                    // events of a block this node proposed, when that block is the one decided).
                    let nd = &mut nodes[i];
                    let ours = nd.sent.get(&c.height).map(|(p, _)| p.as_slice());
                    if ours.is_some() && ours == decided_payload(&dv).as_deref() {
                        let done: Vec<u64> =
                            nd.proposer.in_flight(c.height).unwrap_or_default().to_vec();
                        nd.pending.retain(|(e, _)| !done.contains(e));
                    }
                    nd.sent.retain(|h, _| *h > c.height);
                    nodes[i].decided.push(*dv);
                    let committed = ProposerInput::Committed { height: c.height };
                    self.drive_proposer(nodes, q, i, committed, now);
                    let input = NodeInput::Committed {
                        height: c.height,
                        block_id: id,
                        turn: c.turn,
                        last_of_turn,
                        certificate: Some(c.clone()),
                    };
                    let acts = nodes[i].node.handle(input, now, &self.world.validator());
                    self.dispatch(nodes, q, i, acts, now);
                }
                NodeAction::MyTurn { turn, .. } => {
                    nodes[i].turns_as_primary += 1;
                    self.drive_proposer(nodes, q, i, ProposerInput::MyTurn { turn }, now);
                }
                NodeAction::NeedProposal {
                    turn,
                    height,
                    previous,
                } => {
                    let stalled = self.world.behaviour == Behaviour::StallPrimary
                        && self.world.region_of[i] == Some(1)
                        && nodes[i].turns_as_primary > 1;
                    if stalled {
                        continue;
                    }
                    if height > self.target(i) {
                        // The run's end, not the policy: above the target primaries hand their
                        // turns over, so runs end with the heights they were asked for.
                        let acts = nodes[i].node.handle(
                            NodeInput::EndMyTurn,
                            now,
                            &self.world.validator(),
                        );
                        self.dispatch(nodes, q, i, acts, now);
                        continue;
                    }
                    let input = ProposerInput::NeedProposal {
                        turn,
                        height,
                        previous,
                    };
                    self.drive_proposer(nodes, q, i, input, now);
                }
                NodeAction::TurnChanged { turn, .. } => {
                    // As the orderer tells its endorser: what was in flight goes back.
                    nodes[i].sent.clear();
                    self.drive_proposer(nodes, q, i, ProposerInput::TurnChanged { turn }, now);
                }
                NodeAction::CatchUp { from_height, .. } => {
                    let j = pick_peer(self.rng, total, i);
                    let m = wire::ConsensusMessage {
                        kind: Some(wire::consensus_message::Kind::CatchUpRequest(
                            wire::CatchUpRequest {
                                from_height,
                                max_count: 32,
                            },
                        )),
                    };
                    self.send(q, i, j, &m, now);
                }
                NodeAction::Elected { .. } | NodeAction::Rejected { .. } => {}
            }
        }
    }

    /// Feeds node `i`'s proposer one input and carries out what it asks, as the endorser actor
    /// does: a block proposed (or sent again) or the turn ended goes to the node's consensus
    /// machine, a wake-up becomes a timer.
    fn drive_proposer(
        &mut self,
        nodes: &mut [SimNode],
        q: &mut Queue,
        i: usize,
        input: ProposerInput,
        now: u64,
    ) {
        if nodes[i].crashed {
            return;
        }
        let nd = &mut nodes[i];
        let mut view = SimView {
            tip: nd.tip(),
            pending: &nd.pending,
        };
        let actions = nd.proposer.handle(input, now, &mut view);
        for a in actions {
            let input = match a {
                ProposerAction::Propose {
                    height,
                    previous,
                    events,
                    last_of_turn,
                    ..
                } => {
                    let invalid = self.world.behaviour == Behaviour::InvalidPrimary
                        && self.world.region_of[i] == Some(0)
                        && self.rng.next_u32().is_multiple_of(2);
                    // As many events as the policy packed, stamped with the proposal time as
                    // the simulator always did: stamping the records' own upload times would
                    // change every block id, hence the beacon's seeds and every later
                    // committee, and the recorded runs with them, for nothing the run checks.
                    let stamps: Vec<u64> = (now..).take(events.len()).collect();
                    // A scripted change rides in the turn's last block once its height came.
                    let change = if last_of_turn {
                        self.world.script.next_change(self.epochs[i], height)
                    } else {
                        0
                    };
                    let mut payload = block(height, previous, 0, &stamps, (invalid, last_of_turn));
                    if change != 0
                        && let Some(mut b) = SimBlock::decode(&payload)
                    {
                        b.config = change;
                        payload = b.encode();
                    }
                    nodes[i]
                        .sent
                        .insert(height, (payload.clone(), last_of_turn));
                    NodeInput::Propose {
                        height,
                        payload,
                        last_of_turn,
                    }
                }
                ProposerAction::ProposeAgain { height } => {
                    let Some((payload, last_of_turn)) = nodes[i].sent.get(&height).cloned() else {
                        continue;
                    };
                    NodeInput::Propose {
                        height,
                        payload,
                        last_of_turn,
                    }
                }
                ProposerAction::EndTurn { .. } => NodeInput::EndMyTurn,
                ProposerAction::WakeAt { at_ms } => {
                    nodes[i].proposer_timer = Some(at_ms);
                    q.push(at_ms.max(now), Event::ProposerTimer { node: i, at: at_ms });
                    continue;
                }
            };
            let acts = nodes[i].node.handle(input, now, &self.world.validator());
            self.dispatch(nodes, q, i, acts, now);
        }
    }
}

fn pick_peer(rng: &mut ChaCha20Rng, n: usize, me: usize) -> usize {
    if n <= 1 {
        return me;
    }
    let k = (rng.next_u64() % (n as u64 - 1)) as usize;
    if k >= me { k + 1 } else { k }
}

/// The simulator block at `height` extending `previous` with events uploaded at `stamps`; a
/// Byzantine primary marks its second event invalid, an equivocating one varies the nonce.
pub(crate) fn block(
    height: u64,
    previous: Hash32,
    nonce: u64,
    stamps: &[u64],
    (invalid, last_of_turn): (bool, bool),
) -> Vec<u8> {
    let events = stamps
        .iter()
        .enumerate()
        .map(|(i, e)| SimEvent {
            uploaded_at_ms: *e,
            valid: !(invalid && i == 1),
        })
        .collect();
    SimBlock {
        height,
        previous,
        nonce,
        last_of_turn,
        events,
        config: 0,
    }
    .encode()
}

/// The block of a decided value, if it is one.
pub(crate) fn decided_payload(dv: &wire::DecidedValue) -> Option<Vec<u8>> {
    match dv.value.as_ref()?.kind.as_ref()? {
        wire::proposed_value::Kind::Proposal(env) => {
            wire::ProposalBody::decode(env.body.as_slice())
                .ok()
                .map(|b| b.payload)
        }
        wire::proposed_value::Kind::TurnEnd(_) => None,
    }
}

fn verdict(
    cfg: &SimConfig,
    behaviour: Behaviour,
    world: &World,
    nodes: &[SimNode],
    messages: u64,
    finished_at: u64,
) -> RunReport {
    let honest: Vec<&SimNode> = nodes.iter().filter(|nd| honest(world, nd)).collect();
    let mut safety = true;
    let max_len = honest.iter().map(|nd| nd.chain.len()).max().unwrap_or(0);
    for h in 0..max_len {
        let mut seen: Option<Hash32> = None;
        for nd in &honest {
            if let Some(id) = nd.chain.get(h) {
                match seen {
                    None => seen = Some(*id),
                    Some(s) if s != *id => safety = false,
                    _ => {}
                }
            }
        }
    }
    let min_height = honest
        .iter()
        .map(|nd| nd.chain.len() as u64)
        .min()
        .unwrap_or(0);
    let liveness = min_height >= cfg.target_height;
    let statuses: Vec<_> = honest.iter().map(|nd| nd.node.status()).collect();
    let view_changes = statuses.iter().map(|s| s.stats.view_changes).sum();
    let lead = statuses.iter().max_by_key(|s| (s.turn, s.next_height));
    RunReport {
        seed: cfg.seed,
        behaviour,
        safety,
        liveness,
        min_height,
        max_height: max_len as u64,
        messages,
        messages_per_decision: if max_len == 0 {
            0.0
        } else {
            messages as f64 / max_len as f64
        },
        view_changes,
        turns: lead.and_then(|s| s.turn).unwrap_or(0),
        skipped_turns: lead.map_or(0, |s| s.stats.skipped_turns),
        elections: lead.map_or(0, |s| s.stats.elections),
        finished_at_ms: finished_at,
        restarts: nodes.iter().map(|nd| nd.restarts).sum(),
        take_overs: nodes
            .iter()
            .map(|nd| nd.node.status().stats.take_overs)
            .sum(),
    }
}
