//! Decided blocks per second and messages per decision in the simulator, for 4, 7, 13 and 31
//! eligible orderers (committee = all of them, f = (n-1)/3 Byzantine and silent, three regions
//! of three region nodes), over several turns: elections, beacons, PBFT blocks and turn ends,
//! every node running `ConsensusNode`. Criterion measures wall time per run of `HEIGHTS`
//! decisions (blocks per second = HEIGHTS / time); messages per decision are printed once per
//! size.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medblock_sim::{Behaviour, SimConfig, run};
use std::hint::black_box;

const HEIGHTS: u64 = 6;

fn config(n: usize, seed: u64) -> SimConfig {
    let mut cfg = SimConfig::new(n, (n - 1) / 3, seed);
    cfg.consensus.committee_size = n;
    cfg.target_height = HEIGHTS;
    cfg.behaviour = Some(Behaviour::Silent);
    cfg.partitions = false;
    cfg.heal_at_ms = 0;
    cfg
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decided_blocks");
    g.sample_size(10);
    for n in [4usize, 7, 13, 31] {
        let t = std::time::Instant::now();
        let r = run(&config(n, 1));
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "orderers {n}: messages/decision {:.1}, blocks/s (one run, wall) {:.1}, turns {}, \
             virtual ms to {HEIGHTS} heights {}, safety {} liveness {}",
            r.messages_per_decision,
            HEIGHTS as f64 / secs,
            r.turns,
            r.finished_at_ms,
            r.safety,
            r.liveness
        );
        g.throughput(Throughput::Elements(HEIGHTS));
        g.bench_function(format!("orderers_{n}"), |b| {
            b.iter(|| black_box(run(&config(n, 1))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
