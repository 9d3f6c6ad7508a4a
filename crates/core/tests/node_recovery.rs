//! A node's turns after restarts and races, each found by the chaos test on a real network.
//!
//! A node restarted mid-run learns the regions' endorsers from what its peers replay to it
//! (their recent broadcasts: view certificates, votes, crash signals), in whatever order they
//! arrive. It must start its turns from them however they interleave. In the chaos run an endorser killed and restarted three times in a row got, on its
//! third start, its own region's certificate, then three crash signals its region's voters
//! had sent against it during an earlier outage, then the other region's certificate. The
//! crash quorum opened a round that excluded the region's only candidate, so the region had
//! no endorser when the last certificate came, the node never started its turns, and every
//! turn of its own was skipped on a timeout (10 s each) for the next 20 s.
//!
//! A region may elect a new endorser just as its turn begins. In a 100-kill chaos run three
//! orderers began the turn with the deposed endorser (killed) and the other nodes with the new
//! one: the three refused the new endorser's beacon and nobody could skip the turn, which
//! stalled 50.9 s until the deposed endorser was back and elected again.
//!
//! An endorser may leave a turn whose primary it found unreachable on a skip quorum (with two
//! endorsers, its own skip) while that primary, back just then, has its block decided by the
//! turn's committee. It must begin its own turn again above that block: in a chaos run it had
//! signed its beacon for the lower start, which no orderer could accept, and the network
//! waited the turn timeout (10 s).

use medblock_core::consensus::election::{sign_crash, sign_vote};
use medblock_core::consensus::node::{
    ChainValidator, ConsensusNode, NodeAction, NodeInput, NodeSetup, RegionSetup,
};
use medblock_core::consensus::{Beacon, ConsensusConfig, InvalidProposal, TurnStart};
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, wire};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// No blocks reach these nodes; elections and turns only.
struct NoBlocks;

fn no_blocks(height: u64) -> InvalidProposal {
    InvalidProposal {
        height,
        reason: "no blocks in this test".into(),
        blame: true,
    }
}

impl ChainValidator for NoBlocks {
    fn validate(&self, h: u64, _: &Hash32, _: &[u8], _: u64) -> Result<Hash32, InvalidProposal> {
        Err(no_blocks(h))
    }

    fn ends_turn(&self, h: u64, _: &[u8]) -> Result<bool, InvalidProposal> {
        Err(no_blocks(h))
    }
}

/// Two regions of four voters each (endorser, two orderers, a department, as the testnet lays
/// them out), with `candidates` endorser candidates each (the first ones of its voters).
struct Layout {
    keys: Vec<SigningKey>,
    regions: Vec<RegionSetup>,
}

impl Layout {
    fn new(candidates: usize) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let keys: Vec<SigningKey> = (0..8).map(|_| SigningKey::generate(&mut rng)).collect();
        let pubs: Vec<PublicKey> = keys.iter().map(|k| k.public()).collect();
        let regions = vec![
            RegionSetup {
                name: "north".into(),
                voters: pubs[0..4].to_vec(),
                candidates: pubs[0..candidates].to_vec(),
            },
            RegionSetup {
                name: "south".into(),
                voters: pubs[4..8].to_vec(),
                candidates: pubs[4..4 + candidates].to_vec(),
            },
        ];
        Layout { keys, regions }
    }

    /// Node `i` started afresh (a restart: its elections know nothing yet).
    fn node(&self, i: usize) -> ConsensusNode {
        let region = if i < 4 { "north" } else { "south" };
        let candidates = &self.regions[usize::from(i >= 4)].candidates;
        let setup = NodeSetup {
            cfg: ConsensusConfig {
                committee_size: 4,
                ..ConsensusConfig::default()
            },
            key: self.keys[i].clone(),
            region: region.into(),
            voter: true,
            endorser: candidates.contains(&self.keys[i].public()),
            orderer: matches!(i, 1 | 2 | 5 | 6),
            regions: self.regions.clone(),
            orderers: [1, 2, 5, 6]
                .iter()
                .map(|&j| self.keys[j].public())
                .collect(),
            start: TurnStart {
                turn: 7,
                start_height: 30,
                chain_hash: Hash32::ZERO,
            },
        };
        ConsensusNode::new(setup, 0).expect("valid setup").0
    }

    /// The view-0 certificate of `region` electing `endorser`, signed by three of its voters.
    fn certificate(
        &self,
        region: &str,
        endorser: usize,
        voters: [usize; 3],
    ) -> wire::ConsensusMessage {
        self.certificate_at(region, 0, endorser, voters)
    }

    /// The certificate of `view` in `region` electing `endorser`, signed by three voters.
    fn certificate_at(
        &self,
        region: &str,
        view: u64,
        endorser: usize,
        voters: [usize; 3],
    ) -> wire::ConsensusMessage {
        let candidate = self.keys[endorser].public();
        let votes = voters
            .iter()
            .map(|&v| sign_vote(&self.keys[v], region, view, &candidate))
            .collect();
        msg(wire::consensus_message::Kind::ViewAnnouncement(
            wire::ViewCertificate {
                region: region.into(),
                view,
                endorser_key: candidate.as_bytes().to_vec(),
                votes,
            },
        ))
    }

    /// `signer`'s crash signal against `endorser` in view 0 of `region`.
    fn crash(&self, region: &str, signer: usize, endorser: usize) -> wire::ConsensusMessage {
        let endorser = self.keys[endorser].public();
        msg(wire::consensus_message::Kind::CrashSignal(sign_crash(
            &self.keys[signer],
            region,
            0,
            &endorser,
        )))
    }
}

fn msg(kind: wire::consensus_message::Kind) -> wire::ConsensusMessage {
    wire::ConsensusMessage { kind: Some(kind) }
}

/// Feeds `msgs` (each from `from`) to `node` and returns every action.
fn feed(
    node: &mut ConsensusNode,
    from: PublicKey,
    msgs: Vec<wire::ConsensusMessage>,
) -> Vec<NodeAction> {
    let mut out = Vec::new();
    for m in msgs {
        out.extend(node.handle(NodeInput::Message { from, msg: m }, 10, &NoBlocks));
    }
    out
}

fn turns_started(acts: &[NodeAction]) -> Vec<u64> {
    acts.iter()
        .filter_map(|a| match a {
            NodeAction::TurnChanged { turn, .. } => Some(*turn),
            _ => None,
        })
        .collect()
}

#[test]
fn an_endorser_restarted_into_old_crash_signals_against_it_still_starts_its_turns() {
    // One candidate per region (the testnet's layout). Node 0, north's endorser, restarts.
    let l = Layout::new(1);
    let mut node = l.node(0);
    let peer = l.keys[1].public();
    let replayed = vec![
        l.certificate("north", 0, [1, 2, 3]),
        // Sent by north's three other voters while node 0 was down, a restart ago.
        l.crash("north", 1, 0),
        l.crash("north", 2, 0),
        l.crash("north", 3, 0),
        l.certificate("south", 4, [5, 6, 7]),
    ];
    let acts = feed(&mut node, peer, replayed);
    assert_eq!(turns_started(&acts), vec![7], "{acts:?}");
    // North keeps its only candidate: no round opened that could elect no one.
    assert_eq!(node.status().turn, Some(7));
    let north = acts.iter().any(|a| {
        matches!(a, NodeAction::Elected { region, endorser, .. }
            if region == "north" && *endorser == l.keys[0].public())
    });
    assert!(north, "{acts:?}");
}

#[test]
fn a_node_restarted_while_its_region_elects_again_starts_its_turns_from_the_last_endorser() {
    // Two candidates per region: a crash quorum opens a round that may elect the other one.
    // Node 1, a north voter, restarts while that round runs (its votes are not in yet).
    let l = Layout::new(2);
    let mut node = l.node(1);
    let peer = l.keys[2].public();
    let mut acts = feed(
        &mut node,
        peer,
        vec![
            l.certificate("north", 0, [1, 2, 3]),
            l.crash("north", 2, 0),
            l.crash("north", 3, 0),
        ],
    );
    // Its own crash signal (its driver finds north's endorser unreachable) makes the quorum:
    // north's round 1 opens, and north has no endorser until it elects.
    acts.extend(node.handle(
        NodeInput::SuspectEndorser {
            region: "north".into(),
        },
        10,
        &NoBlocks,
    ));
    assert_eq!(node.status().turn, None);
    acts.extend(feed(
        &mut node,
        peer,
        vec![l.certificate("south", 4, [5, 6, 7])],
    ));
    let started = turns_started(&acts);
    assert_eq!(started.first(), Some(&7), "{acts:?}");
    // The node votes in north's new round for the other candidate.
    let voted = acts.iter().any(|a| {
        matches!(a, NodeAction::Broadcast(m) if matches!(&m.kind,
            Some(wire::consensus_message::Kind::ElectionVote(v)) if v.view == 1))
    });
    assert!(voted, "{acts:?}");
}

#[test]
fn a_primary_that_skipped_ahead_begins_its_turn_again_above_the_previous_turns_late_block() {
    // Node 0, north's endorser: turn 7 is south's (turns go by region name), turn 8 its own.
    let l = Layout::new(1);
    let mut node = l.node(0);
    let peer = l.keys[1].public();
    feed(
        &mut node,
        peer,
        vec![
            l.certificate("north", 0, [1, 2, 3]),
            l.certificate("south", 4, [5, 6, 7]),
        ],
    );
    assert_eq!(node.status().turn, Some(7));
    // South's endorser is unreachable and turn 7 times out: node 0's skip is the quorum of
    // the other endorsers (one of one), and it begins turn 8 at height 30 with its beacon.
    let acts = node.handle(NodeInput::Tick, 1_000_000, &NoBlocks);
    assert_eq!(node.status().turn, Some(8), "{acts:?}");
    assert_eq!(beacon_starts(&acts), vec![30]);
    // South's endorser was back: turn 7's committee decided its last block at height 30.
    let acts = node.handle(
        NodeInput::Committed {
            height: 30,
            block_id: Hash32([7; 32]),
            turn: 7,
            last_of_turn: true,
            certificate: None,
        },
        1_000_100,
        &NoBlocks,
    );
    assert_eq!(turns_started(&acts), vec![8, 8], "{acts:?}");
    assert_eq!(
        beacon_starts(&acts),
        vec![31],
        "signed again above the block"
    );
    assert_eq!(node.status().next_height, 31);
}

/// The start heights of the beacons `acts` broadcast (each once).
fn beacon_starts(acts: &[NodeAction]) -> Vec<u64> {
    let mut starts: Vec<u64> = acts
        .iter()
        .filter_map(|a| match a {
            NodeAction::Broadcast(m) => match &m.kind {
                Some(wire::consensus_message::Kind::Beacon(b)) => Some(b.start_height),
                _ => None,
            },
            _ => None,
        })
        .collect();
    starts.dedup();
    starts
}

#[test]
fn a_node_behind_asks_each_peer_that_shows_it_a_later_turn_once_without_waiting() {
    let l = Layout::new(1);
    let mut node = l.node(1);
    feed(
        &mut node,
        l.keys[2].public(),
        vec![
            l.certificate("north", 0, [1, 2, 3]),
            l.certificate("south", 4, [5, 6, 7]),
        ],
    );
    assert_eq!(node.status().turn, Some(7));
    // A message of turn 9: this node missed the ends of turns 7 and 8.
    let later = || {
        msg(wire::consensus_message::Kind::Beacon(wire::BeaconShare {
            turn: 9,
            ..Default::default()
        }))
    };
    let asked = |acts: &[NodeAction]| -> Vec<Option<PublicKey>> {
        acts.iter()
            .filter_map(|a| match a {
                NodeAction::CatchUp { from_height, ask } => {
                    assert_eq!(*from_height, 30);
                    Some(*ask)
                }
                _ => None,
            })
            .collect()
    };
    let (p, q) = (l.keys[5].public(), l.keys[6].public());
    assert_eq!(asked(&feed(&mut node, p, vec![later()])), vec![Some(p)]);
    // The same peer again, within the interval: asked already.
    assert_eq!(asked(&feed(&mut node, p, vec![later()])), vec![]);
    // Another peer that has it (the first may be as far behind, or slow): asked at once.
    assert_eq!(asked(&feed(&mut node, q, vec![later()])), vec![Some(q)]);
    assert_eq!(asked(&feed(&mut node, q, vec![later()])), vec![]);
}

fn committees(acts: &[NodeAction]) -> Vec<(u64, PublicKey)> {
    acts.iter()
        .filter_map(|a| match a {
            NodeAction::TurnChanged {
                turn,
                primary,
                committee: Some(_),
            } => Some((*turn, *primary)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_orderer_that_began_the_turn_with_a_deposed_endorser_joins_the_new_endorsers_committee() {
    // Two candidates per region. Turn 7 is south's; node 2 (a north orderer) begins it with
    // south's first endorser, node 4, which then crashes before its beacon goes out.
    let l = Layout::new(2);
    let mut node = l.node(2);
    let peer = l.keys[1].public();
    let acts = feed(
        &mut node,
        peer,
        vec![
            l.certificate("north", 0, [1, 2, 3]),
            l.certificate("south", 4, [5, 6, 7]),
        ],
    );
    assert_eq!(turns_started(&acts), vec![7], "{acts:?}");
    assert_eq!(node.status().primary, Some(l.keys[4].public()));
    // South elects node 5 in view 1: the turn, still without a beacon, passes to it.
    let acts = feed(
        &mut node,
        peer,
        vec![l.certificate_at("south", 1, 5, [4, 6, 7])],
    );
    assert_eq!(node.status().primary, Some(l.keys[5].public()), "{acts:?}");
    assert_eq!(turns_started(&acts), vec![7]);
    // Its beacon draws the committee, and node 2 sits in it.
    let beacon = Beacon::sign(&l.keys[5], 7, Hash32::ZERO, 30);
    let acts = feed(
        &mut node,
        l.keys[5].public(),
        vec![msg(wire::consensus_message::Kind::Beacon(beacon.to_wire()))],
    );
    assert_eq!(committees(&acts), vec![(7, l.keys[5].public())], "{acts:?}");
    assert!(node.status().in_committee);
    assert_eq!(node.status().stats.rejected, 0);
}
