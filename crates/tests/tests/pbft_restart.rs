//! An orderer killed between prepare and commit and restarted never equivocates (issue 19), on
//! the real 10-node network (RocksDB, libp2p, actors).
//!
//! orderer-2 stops right after it persisted and sent its prepare for a block (a test-only crash
//! point) while orderer-4 is down, so the height cannot be decided without orderer-2.
//! orderer-2 is killed and restarted from its data dir.
//! The test then plays a Byzantine leader: it signs, with the leader's key, a second
//! pre-prepare for the same (turn, view, height) carrying another valid value (the primary's
//! signed end of turn), and hands it to the restarted orderer. An orderer that forgot its
//! prepare signs a prepare for that value too, and every honest orderer then holds two
//! prepares from its key for one slot: `equivocation` evidence. With its safety record it
//! refuses, and no honest node sees an equivocation.

mod common;

use common::cluster::{Cluster, block_on, node_dir, standard, test_params, visits};
use common::enrol::enrol_visits_in_process;
use medblock_actors::byzantine::ByzantineConfig;
use medblock_actors::orderer::ingress::{ConsensusIn, GetConsensusStatus};
use medblock_actors::shared::Counters;
use medblock_core::consensus::node::{ConsensusStatus, turn_end_id};
use medblock_core::consensus::pbft::SignedKind;
use medblock_core::consensus::pbft::messages::seal;
use medblock_core::consensus::statement;
use medblock_core::consensus::turns::sign_end_turn;
use medblock_core::keys::{PublicKey, SigningKey};
use medblock_core::{Hash32, wire};
use medblock_node::ca::files;
use medblock_storage::SafetyStore;
use medblock_storage::keyfile::load_identity;
use std::time::{Duration, Instant};

const CRASHING: &str = "orderer-2";
const DOWN: &str = "orderer-4";
const WATCHER: &str = "orderer-3";

fn consensus(c: &Cluster, i: usize) -> Option<ConsensusStatus> {
    let node = c.node(i).node.clone();
    block_on(async move { node.orderer.status.send(GetConsensusStatus).await }).ok()
}

fn wait<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn signing_key(c: &Cluster, key: &PublicKey) -> SigningKey {
    c.specs
        .iter()
        .map(|s| {
            load_identity(&node_dir(c.dir.path(), &s.name).join(files::NODE_KEY))
                .expect("key file")
                .signing
        })
        .find(|k| k.public() == *key)
        .expect("a node holds the key")
}

#[test]
fn an_orderer_restarted_between_prepare_and_commit_never_equivocates() {
    let mut c = Cluster::create(standard(), test_params());
    let (crashing, silent, watcher) = (c.index(CRASHING), c.index(DOWN), c.index(WATCHER));
    c.byzantine.insert(
        crashing,
        ByzantineConfig {
            crash_after_prepare: true,
            ..Default::default()
        },
    );
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    // With orderer-4 down, the three others are exactly a quorum: nothing is decided without
    // orderer-2 once it stops. (A Byzantine orderer that only withholds its votes is not
    // enough: it still decides from the others' commits and gossips a certificate holding its
    // own.)
    c.kill(silent);

    // A few visits, so the primary proposes a block.
    let dept = c.node(c.index("h1-cardiology")).node.clone();
    let v = visits("restart", 5, 5);
    enrol_visits_in_process(&dept, &v);
    let _load = std::thread::spawn(move || {
        let _ = block_on(async move { dept.submit(v, false, Duration::from_secs(5)).await });
    });

    // orderer-2 prepares a block and stops. The others cannot decide the block without it.
    wait(
        "orderer-2 to stop after its prepare",
        Duration::from_secs(90),
        || consensus(&c, crashing).is_none().then_some(()),
    );
    c.kill(crashing);
    // What it signed last before the crash, from its own safety record: the slot to attack.
    let record = SafetyStore::open(&c.options(crashing).data_dir.join("pbft-safety"))
        .expect("safety store")
        .load()
        .expect("record readable")
        .expect("a record was written before the prepare left");
    let (view, height) = record
        .signed
        .iter()
        .filter(|e| e.kind == SignedKind::Prepare as u32)
        .map(|e| (e.view, e.height))
        .max_by_key(|(v, h)| (*h, *v))
        .expect("a prepare in the record");
    let turn = record.turn;
    let at = wait(
        "the watcher at the slot orderer-2 prepared",
        Duration::from_secs(20),
        || {
            consensus(&c, watcher).filter(|s| {
                s.turn == Some(turn) && s.next_height == height && s.committee.is_some()
            })
        },
    );
    let below = c.status(watcher);
    assert_eq!(below.height + 1, height, "the block waits for orderer-2");
    let members = at.committee.expect("a committee");
    let leader = members[(view % members.len() as u64) as usize];
    let primary = at.primary.expect("a primary");
    let previous = Hash32::from_hex(&below.tip_hash).expect("tip hash");

    // The Byzantine leader's second pre-prepare for the slot: the primary's signed end of
    // turn at this height, a valid value, and not the block orderer-2 prepared.
    let end = sign_end_turn(&signing_key(&c, &primary), turn, height, &previous);
    let body = wire::PrePrepareBody {
        turn,
        view,
        height,
        leader: leader.as_bytes().to_vec(),
        value: Some(wire::ProposedValue {
            kind: Some(wire::proposed_value::Kind::TurnEnd(wire::TurnEnd {
                turn,
                next: None,
                end_turn: Some(end),
                refused: None,
            })),
        }),
        digest: turn_end_id(turn, height, &previous).0.to_vec(),
    };
    let pp = seal(&signing_key(&c, &leader), statement::PRE_PREPARE, &body);
    let msg = wire::ConsensusMessage {
        kind: Some(wire::consensus_message::Kind::PrePrepare(pp)),
    };

    // Restarted from its data dir, it gets the second pre-prepare first: it waits until the
    // node rejoins the turn's committee, before anything the others send it.
    c.byzantine.remove(&crashing);
    c.start(crashing);
    c.node(crashing)
        .node
        .orderer
        .consensus
        .do_send(ConsensusIn { from: leader, msg });
    wait(
        "the restarted orderer-2 back in the turn's committee",
        Duration::from_secs(60),
        || {
            consensus(&c, crashing)
                .filter(|s| s.turn == Some(turn) && s.pbft_view.is_some())
                .map(|_| ())
        },
    );

    // Whatever orderer-2 signs reaches the others within a few seconds.
    std::thread::sleep(Duration::from_secs(5));
    let seen: Vec<(String, u64)> = c
        .running()
        .into_iter()
        .filter(|i| *i != crashing)
        .map(|i| {
            (
                c.specs[i].name.clone(),
                Counters::get(&c.node(i).node.ctx.counters.equivocations),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert!(
        seen.is_empty(),
        "the restarted orderer signed two values for (turn {turn}, view {view}, height {height}): {seen:?}"
    );
}
