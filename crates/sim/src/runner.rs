//! The simulation loop: a seeded event queue in virtual time, the orderers, the primary
//! endorser and the Byzantine behaviours; then the safety and liveness verdicts.

use crate::block::{SimBlock, SimEvent};
use crate::network::NetworkModel;
use crate::node::{Dest, SimOrderer};
use medblock_core::consensus::catchup::CatchUp;
use medblock_core::consensus::pbft::{PbftMessage, Replica, messages};
use medblock_core::consensus::statement::{self, VoteKind};
use medblock_core::consensus::{Beacon, ConsensusConfig, select_committee};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, wire};
use prost::Message;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// What the Byzantine orderers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
pub enum Behaviour {
    /// Send nothing.
    Silent,
    /// As PBFT leader, send two different pre-prepares (colluding with the primary, which signs
    /// two blocks for one height).
    Equivocate,
    /// Send votes with forged signatures or impersonating other members.
    Forge,
    /// Send validly signed votes for wrong views.
    WrongView,
    /// Stay silent while the primary endorser proposes blocks with invalid events.
    InvalidPrimary,
}

impl Behaviour {
    /// Every behaviour, so a seed range covers them all.
    pub const ALL: [Behaviour; 5] = [
        Self::Silent,
        Self::Equivocate,
        Self::Forge,
        Self::WrongView,
        Self::InvalidPrimary,
    ];
}

/// One run's parameters.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Orderers (3f+1).
    pub orderers: usize,
    /// Byzantine orderers among them.
    pub byzantine: usize,
    /// The seed.
    pub seed: u64,
    /// Heights to decide.
    pub target_height: u64,
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
}

impl SimConfig {
    /// Defaults sized for many seeds in CI.
    pub fn new(orderers: usize, byzantine: usize, seed: u64) -> Self {
        Self {
            orderers,
            byzantine,
            seed,
            target_height: 4,
            behaviour: None,
            heal_at_ms: 1_500,
            liveness_window_ms: 60_000,
            partitions: true,
            consensus: ConsensusConfig {
                committee_size: orderers,
                view_change_timeout_ms: 300,
                checkpoint_interval: 2,
                ..ConsensusConfig::default()
            },
        }
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
    /// Virtual time at which the last honest node reached the target (ms).
    pub finished_at_ms: u64,
}

enum Event {
    Deliver {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        at: u64,
    },
    Propose,
    Tick {
        node: usize,
    },
}

/// Runs one seeded simulation.
pub fn run(cfg: &SimConfig) -> RunReport {
    let mut rng = ChaCha20Rng::seed_from_u64(cfg.seed);
    let n = cfg.orderers.max(1);
    let behaviour = cfg
        .behaviour
        .unwrap_or(Behaviour::ALL[(cfg.seed % 5) as usize]);
    let keys: Vec<SigningKey> = (0..n).map(|_| SigningKey::generate(&mut rng)).collect();
    let primary_key = SigningKey::generate(&mut rng);
    let primary = primary_key.public();
    let publics: Vec<PublicKey> = keys.iter().map(SigningKey::public).collect();
    let beacon = Beacon::sign(&primary_key, 0, Hash32::ZERO, 1);
    let committee = select_committee(&beacon.seed(), &publics, cfg.consensus.committee_size);
    // Byzantine members: chosen by the seed among the committee.
    let mut byz = vec![false; n];
    let mut picked = 0;
    while picked < cfg.byzantine.min(n) {
        let i = (rng.next_u64() % n as u64) as usize;
        if !byz[i] {
            byz[i] = true;
            picked += 1;
        }
    }
    let primary_index = n;
    let mut nodes: Vec<SimOrderer> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| SimOrderer {
            index: i,
            replica: Replica::new(
                cfg.consensus.clone(),
                k.clone(),
                0,
                Some(beacon.clone()),
                committee.clone(),
                1,
            ),
            catchup: CatchUp::new(64),
            decided: Vec::new(),
            chain: Vec::new(),
            timer: None,
            primary,
            catch_up_requests: 0,
            members: publics.clone(),
        })
        .collect();
    let side: Vec<bool> = (0..=n).map(|_| rng.next_u32().is_multiple_of(2)).collect();
    let net = NetworkModel {
        heal_at_ms: cfg.heal_at_ms,
        loss_permille: 50,
        dup_permille: 20,
        min_delay_ms: 1,
        max_delay_ms: 60,
        partition: cfg.partitions.then(|| (200, cfg.heal_at_ms.min(900), side)),
    };
    let mut queue: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut events: BTreeMap<u64, Event> = BTreeMap::new();
    let mut seq = 0u64;
    let mut push = |queue: &mut BinaryHeap<Reverse<(u64, u64)>>,
                    events: &mut BTreeMap<u64, Event>,
                    at: u64,
                    e: Event| {
        seq += 1;
        queue.push(Reverse((at, seq)));
        events.insert(seq, e);
    };
    let mut messages = 0u64;
    let mut primary_decided = 0u64;
    let end = cfg.heal_at_ms + cfg.liveness_window_ms;
    push(&mut queue, &mut events, 0, Event::Propose);
    for i in 0..n {
        push(
            &mut queue,
            &mut events,
            1_000 + i as u64,
            Event::Tick { node: i },
        );
    }
    let mut finished_at = 0;
    let mut scheduled: Vec<Option<u64>> = vec![None; n];
    while let Some(Reverse((now, id))) = queue.pop() {
        if now > end {
            break;
        }
        let Some(ev) = events.remove(&id) else {
            continue;
        };
        let mut outgoing: Vec<(usize, Dest, wire::ConsensusMessage)> = Vec::new();
        match ev {
            Event::Propose => {
                if primary_decided < cfg.target_height {
                    let h = primary_decided + 1;
                    let invalid =
                        behaviour == Behaviour::InvalidPrimary && rng.next_u32().is_multiple_of(2);
                    let m = proposal(&primary_key, h, 0, invalid, now);
                    outgoing.push((primary_index, Dest::Orderers, m));
                    // The primary re-sends until the height is decided (messages get lost).
                    push(&mut queue, &mut events, now + 400, Event::Propose);
                }
            }
            Event::Tick { node } => {
                // Anti-entropy, as committers' ledger gossip does in the node: ask one peer for
                // anything decided above our height.
                let hint = pick_peer(&mut rng, n, node);
                let req = wire::ConsensusMessage {
                    kind: Some(wire::consensus_message::Kind::CatchUpRequest(
                        wire::CatchUpRequest {
                            from_height: nodes[node].replica.next_height(),
                            max_count: 32,
                        },
                    )),
                };
                outgoing.push((node, Dest::Node(hint), req));
                push(&mut queue, &mut events, now + 1_000, Event::Tick { node });
            }
            Event::Timer { node, at } => {
                if nodes[node].timer == Some(at) {
                    let hint = pick_peer(&mut rng, n, node);
                    for (d, m) in nodes[node].on_timer(now, hint) {
                        outgoing.push((node, d, m));
                    }
                }
            }
            Event::Deliver { to, from, bytes } => {
                if to == primary_index {
                    if let Ok(wire::ConsensusMessage {
                        kind: Some(wire::consensus_message::Kind::Decided(dv)),
                    }) = wire::ConsensusMessage::decode(bytes.as_slice())
                        && let Some(c) = dv.certificate
                        && c.height == primary_decided + 1
                        && medblock_core::consensus::certificate::verify_with_committee(
                            &c, &committee,
                        )
                        .is_ok()
                    {
                        primary_decided = c.height;
                        push(&mut queue, &mut events, now + 1, Event::Propose);
                    }
                } else if !(byz[to] && behaviour_silent(behaviour)) {
                    let hint = pick_peer(&mut rng, n, to);
                    for (d, m) in nodes[to].on_message(from, &bytes, now, hint) {
                        outgoing.push((to, d, m));
                    }
                }
            }
        }
        // Timers: schedule each new deadline once; stale ones are filtered when they fire.
        for (i, node) in nodes.iter().enumerate() {
            if let Some(at) = node.timer
                && scheduled[i] != Some(at)
            {
                scheduled[i] = Some(at);
                push(
                    &mut queue,
                    &mut events,
                    at.max(now),
                    Event::Timer { node: i, at },
                );
            }
        }
        for (from, dest, msg) in outgoing {
            let targets: Vec<usize> = match dest {
                Dest::Orderers => (0..n).filter(|j| *j != from).collect(),
                Dest::Node(j) => vec![j],
                Dest::Primary => vec![primary_index],
            };
            for to in targets {
                let msg = if from < n && byz[from] {
                    match byzantine(
                        behaviour,
                        &keys[from],
                        &primary_key,
                        &publics,
                        to,
                        msg.clone(),
                        &mut rng,
                    ) {
                        Some(m) => m,
                        None => continue,
                    }
                } else {
                    msg.clone()
                };
                let bytes = msg.encode_to_vec();
                for delay in net.deliveries(&mut rng, now, from, to) {
                    messages += 1;
                    push(
                        &mut queue,
                        &mut events,
                        now + delay,
                        Event::Deliver {
                            to,
                            from,
                            bytes: bytes.clone(),
                        },
                    );
                }
            }
        }
        let honest_done = nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| !byz[*i])
            .all(|(_, nd)| nd.chain.len() as u64 >= cfg.target_height);
        if honest_done && now >= cfg.heal_at_ms {
            finished_at = now;
            break;
        }
    }
    if std::env::var_os("MEDBLOCK_SIM_DEBUG").is_some() {
        for nd in &nodes {
            eprintln!(
                "node {} byz {} next {} view {} changing {} timer {:?} buffered {} stats {:?}",
                nd.index,
                byz[nd.index],
                nd.replica.next_height(),
                nd.replica.view(),
                nd.replica.is_changing_view(),
                nd.timer,
                nd.replica.buffered(),
                nd.replica.stats()
            );
        }
    }
    verdict(cfg, behaviour, &nodes, &byz, messages, finished_at)
}

fn behaviour_silent(b: Behaviour) -> bool {
    matches!(b, Behaviour::Silent | Behaviour::InvalidPrimary)
}

fn pick_peer(rng: &mut ChaCha20Rng, n: usize, me: usize) -> usize {
    if n <= 1 {
        return me;
    }
    let k = (rng.next_u64() % (n as u64 - 1)) as usize;
    if k >= me { k + 1 } else { k }
}

fn proposal(
    key: &SigningKey,
    height: u64,
    nonce: u64,
    invalid: bool,
    now: u64,
) -> wire::ConsensusMessage {
    let events = (0..3u64)
        .map(|i| SimEvent {
            uploaded_at_ms: now + i,
            valid: !(invalid && i == 1),
        })
        .collect();
    let block = SimBlock {
        height,
        nonce,
        events,
    };
    let body = wire::ProposalBody {
        turn: 0,
        height,
        primary_key: key.public().as_bytes().to_vec(),
        payload: block.encode(),
    };
    let env = messages::seal(key, statement::PROPOSAL, &body);
    wire::ConsensusMessage {
        kind: Some(wire::consensus_message::Kind::Proposal(env)),
    }
}

/// Rewrites what a Byzantine orderer sends to `to`; `None` drops it.
fn byzantine(
    b: Behaviour,
    key: &SigningKey,
    primary_key: &SigningKey,
    publics: &[PublicKey],
    to: usize,
    msg: wire::ConsensusMessage,
    rng: &mut ChaCha20Rng,
) -> Option<wire::ConsensusMessage> {
    use wire::consensus_message::Kind;
    match b {
        Behaviour::Silent | Behaviour::InvalidPrimary => None,
        Behaviour::Equivocate => {
            let Some(Kind::PrePrepare(env)) = &msg.kind else {
                return Some(msg);
            };
            if to.is_multiple_of(2) {
                return Some(msg);
            }
            let mut body = wire::PrePrepareBody::decode(env.body.as_slice()).ok()?;
            // The colluding primary signs a second, different block for the same height.
            let alt = proposal(
                primary_key,
                body.height,
                1 + rng.next_u64() % 1000,
                false,
                7,
            );
            let Some(Kind::Proposal(penv)) = alt.kind else {
                return Some(msg);
            };
            let pbody = wire::ProposalBody::decode(penv.body.as_slice()).ok()?;
            body.digest = medblock_core::tagged_hash("medblock-sim/block/v1", &[&pbody.payload])
                .0
                .to_vec();
            body.value = Some(wire::ProposedValue {
                kind: Some(wire::proposed_value::Kind::Proposal(penv)),
            });
            let env = messages::seal(key, statement::PRE_PREPARE, &body);
            Some(PbftMessage::PrePrepare(env).to_wire())
        }
        Behaviour::Forge => {
            let mut msg = msg;
            match &mut msg.kind {
                Some(Kind::Vote(v)) => {
                    if rng.next_u32().is_multiple_of(2) {
                        if let Some(b) = v.signature.get_mut(0) {
                            *b ^= 0x55;
                        }
                    } else {
                        // Impersonate another member with our own signature.
                        let other = publics.get(to).copied().unwrap_or_else(|| key.public());
                        v.voter = other.as_bytes().to_vec();
                    }
                }
                Some(Kind::PrePrepare(e)) | Some(Kind::ViewChange(e)) | Some(Kind::NewView(e)) => {
                    if let Some(b) = e.signature.get_mut(3) {
                        *b ^= 0xAA;
                    }
                }
                _ => {}
            }
            Some(msg)
        }
        Behaviour::WrongView => {
            let Some(Kind::Vote(v)) = &msg.kind else {
                return Some(msg);
            };
            let kind = VoteKind::from_wire(v.kind)?;
            let digest = Hash32::from_slice(&v.digest)?;
            let view = v.view + 1 + rng.next_u64() % 3;
            let v = messages::sign_vote(key, kind, v.turn, view, v.height, &digest);
            Some(PbftMessage::Vote(v).to_wire())
        }
    }
}

fn verdict(
    cfg: &SimConfig,
    behaviour: Behaviour,
    nodes: &[SimOrderer],
    byz: &[bool],
    messages: u64,
    finished_at: u64,
) -> RunReport {
    let honest: Vec<&SimOrderer> = nodes.iter().filter(|nd| !byz[nd.index]).collect();
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
    let view_changes = honest
        .iter()
        .map(|nd| nd.replica.stats().view_changes_started)
        .sum();
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
        finished_at_ms: finished_at,
    }
}
