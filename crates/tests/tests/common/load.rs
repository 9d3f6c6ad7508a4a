//! Load and watching under faults: visits through one department until stopped (what was
//! answered "committed"), and the longest time the best height of the running nodes stood
//! still.

#![allow(dead_code)]

use super::cluster::{Cluster, block_on, visits};
use super::enrol::enrol_visits_in_process;
use medblock_actors::client::ingress::SubmitOutcome;
use medblock_actors::committer::ingress::FindEvent;
use medblock_core::event::EventKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Visits through one department until stopped; what was answered "committed". `started`
/// is set once the first batch is committed (the patients are enrolled by then).
pub fn load(
    c: &Cluster,
    dept: &str,
    stop: Arc<AtomicBool>,
    started: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<SubmitOutcome>> {
    let node = c.node(c.index(dept)).node.clone();
    let v = visits(&format!("reconfig-{dept}"), 3_000, 30);
    enrol_visits_in_process(&node, &v);
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        for batch in v.chunks(5) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let node = node.clone();
            let batch = batch.to_vec();
            let out =
                block_on(async move { node.submit(batch, true, Duration::from_secs(90)).await })
                    .expect("visits answered");
            acked.extend(out.into_iter().filter(|o| o.status == "committed"));
            started.store(true, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(150));
        }
        acked
    })
}

/// Watches the best height of the running nodes; the longest time it stood still.
pub struct Watch {
    pub stop: Arc<AtomicBool>,
    pub longest_ms: Arc<AtomicU64>,
}

impl Watch {
    pub fn start(c: &Cluster) -> (Self, std::thread::JoinHandle<()>) {
        let stop = Arc::new(AtomicBool::new(false));
        let longest_ms = Arc::new(AtomicU64::new(0));
        // Read the committers' ledgers directly (a status call per node would itself take
        // a good part of the interval measured).
        let ledgers: Vec<_> = c
            .running()
            .into_iter()
            .map(|i| c.node(i).node.clone())
            .collect();
        let (s, l) = (stop.clone(), longest_ms.clone());
        let h = std::thread::spawn(move || {
            let best = || {
                ledgers
                    .iter()
                    .map(|n| {
                        let n = n.clone();
                        block_on(async move { n.status().await.map(|s| s.height).unwrap_or(0) })
                    })
                    .max()
                    .unwrap_or(0)
            };
            let mut last = best();
            let mut since = Instant::now();
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let h = best();
                if h > last {
                    if since.elapsed() > Duration::from_millis(1_000) {
                        eprintln!(
                            "stall of {:?} at height {last} (until {h}) ending at {}",
                            since.elapsed(),
                            medblock_actors::clock::now_ms()
                        );
                    }
                    last = h;
                    since = Instant::now();
                }
                l.fetch_max(since.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
        });
        (Self { stop, longest_ms }, h)
    }
}

/// How many of `acked` node `via`'s ledger does not hold where they were acknowledged.
pub fn missing(c: &Cluster, via: usize, acked: Vec<SubmitOutcome>) -> usize {
    let node = c.node(via).node.clone();
    block_on(async move {
        let mut missing = 0;
        for o in acked {
            let at = node
                .committer
                .find_event
                .send(FindEvent(EventKey::new(
                    &o.hospital,
                    &o.department,
                    o.sequence,
                )))
                .await
                .expect("committer answers")
                .expect("ledger readable");
            if at.map(|(h, b)| (h, b.to_hex())) != Some((o.height, o.block_hash.clone())) {
                missing += 1;
            }
        }
        missing
    })
}
