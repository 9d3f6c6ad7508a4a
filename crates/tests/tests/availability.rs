//! Availability under crashes (issue 20, point 1), on a real network: RocksDB, libp2p on
//! 127.0.0.1, every actor. A department records visits the whole time while the four orderers
//! are restarted one after another, each as soon as the previous one is back (a rolling
//! restart): commits never stand still for 2 s, and every visit acknowledged as committed is on
//! the ledger where it was acknowledged.

mod common;

use common::cluster::{Cluster, standard, test_params};
use common::load::{Watch, load, missing};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The goal: commits resume within 2 s of any single crash.
const STALL_BOUND_MS: u64 = 2_000;

#[test]
fn a_rolling_restart_of_every_orderer_under_load_never_stops_commits_for_two_seconds() {
    let mut c = Cluster::create(standard(), test_params());
    c.start_all();
    c.wait_ready(Duration::from_secs(60));
    let dept = "h1-cardiology";
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let sender = load(&c, dept, stop.clone(), started.clone());
    while !started.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let (watch, watcher) = Watch::start(&c);

    // Rolling restart: each orderer crashes and comes back with its data, the next one goes
    // down as soon as it is back (connected to every running peer and at the height the
    // others had when it came up).
    for name in ["orderer-1", "orderer-2", "orderer-3", "orderer-4"] {
        let i = c.index(name);
        c.kill(i);
        c.start(i);
        let others = c.running().len() - 1;
        let target = c.status(c.index(dept)).height;
        c.wait_for(&format!("{name} back"), Duration::from_secs(30), |st| {
            st.iter()
                .any(|(j, s)| *j == i && s.peers.len() >= others && s.height >= target)
        });
        eprintln!("{name} restarted at {}", medblock_actors::clock::now_ms());
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let acked = sender.join().expect("sender");
    watch.stop.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher");
    let longest = watch.longest_ms.load(Ordering::Relaxed);
    eprintln!(
        "rolling restart under load: {} visits committed, longest stall {longest} ms",
        acked.len()
    );
    assert!(!acked.is_empty(), "no visit committed");
    assert!(
        longest <= STALL_BOUND_MS,
        "commits stood still {longest} ms (bound {STALL_BOUND_MS} ms)"
    );

    // Every ledger agrees, and holds every acknowledged visit where it was acknowledged.
    let st = c.wait_for("every ledger at one tip", Duration::from_secs(60), |st| {
        st.windows(2)
            .all(|w| (w[0].1.height, &w[0].1.tip_hash) == (w[1].1.height, &w[1].1.tip_hash))
    });
    assert_eq!(missing(&c, st[0].0, acked), 0, "acknowledged visits lost");
}
