//! Idle costs nothing (issue 20, point 2), on a real network in one process (RocksDB ledgers,
//! libp2p over 127.0.0.1, the actors): with no uploads, turns pass at most once a heartbeat (a
//! turn end is a PBFT round of the turn's committee and gossip to every peer) and no block is
//! added; the first uploads after the idle spell, in either region, are still committed.

mod common;

use common::cluster::{Cluster, block_on, standard, test_params};
use common::enrol::enrol_visits_in_process;
use medblock_core::consensus::ConsensusConfig;
use medblock_core::consensus::proposer::{IDLE_AFTER_MS, heartbeat_ms};
use std::time::{Duration, Instant};

/// How long the idle network is watched.
const WINDOW: Duration = Duration::from_secs(16);

/// The highest turn and height any running node is at.
fn turn_and_height(c: &Cluster) -> (u64, u64) {
    c.running()
        .into_iter()
        .map(|i| c.status(i))
        .fold((0, 0), |(t, h), s| (t.max(s.turn), h.max(s.height)))
}

/// One visit through department node `name` (its patient enrolled first), waited for until
/// committed; returns the height it was committed at.
fn visit(c: &Cluster, name: &str, prefix: &str) -> u64 {
    let node = c.node(c.index(name)).node.clone();
    let v = common::cluster::visits(prefix, 1, 1);
    enrol_visits_in_process(&node, &v);
    let out = block_on(async move { node.submit(v, true, Duration::from_secs(60)).await })
        .expect("the visit is committed");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, "committed", "{:?}", out[0]);
    out[0].height
}

#[test]
fn an_idle_network_passes_turns_once_a_heartbeat_and_commits_the_next_uploads() {
    let params = test_params();
    let cfg = ConsensusConfig::from(&params);
    let heartbeat = heartbeat_ms(cfg.turn_timeout_ms, params.block_interval_ms);
    // The rule under test, not the block interval, must be what spaces the turns.
    assert!(
        heartbeat >= 5 * params.block_interval_ms,
        "heartbeat {heartbeat} ms"
    );
    let mut c = Cluster::create(standard(), params);
    c.start_all();
    c.wait_ready(Duration::from_secs(30));
    // A first block, then the network goes idle (no block for IDLE_AFTER_MS).
    let first = visit(&c, "h1-cardiology", "warm");
    std::thread::sleep(Duration::from_millis(IDLE_AFTER_MS + heartbeat));
    let (turn0, height0) = turn_and_height(&c);
    let started = Instant::now();
    std::thread::sleep(WINDOW);
    let (turn1, height1) = turn_and_height(&c);
    let watched = started.elapsed().as_millis() as u64;
    let turns = turn1 - turn0;
    eprintln!("{turns} turns in {watched} ms of idleness, heartbeat {heartbeat} ms");
    // At most one turn end per heartbeat (and one more for where the window fell). Before the
    // rule, empty turns were held one block interval: about 50 turns in this window.
    let most = watched / heartbeat + 1;
    assert!(
        turns <= most,
        "{turns} turns in {watched} ms of idleness, at most {most} (heartbeat {heartbeat} ms)"
    );
    // The rotation goes on (its beacons, and every region's turn).
    assert!(
        turns >= 2,
        "only {turns} turns in {watched} ms: turns stopped passing"
    );
    // No empty blocks either.
    assert_eq!(height1, height0, "an idle network added blocks");
    assert!(height0 >= first);
    // Uploads right after the idle spell, in both regions (one of them is not the holding
    // primary's), are committed; the bound is generous: liveness, not latency.
    let h2 = visit(&c, "h2-oncology", "after-idle-2");
    let h1 = visit(&c, "h1-cardiology", "after-idle-1");
    assert!(
        h2 > height1 && h1 > height1,
        "heights {h1} and {h2} above {height1}"
    );
}
