//! Bread-crumb lookup against a full ledger scan, at 10k, 100k and 1M events.
//!
//! Each ledger holds real, signed, sealed events (50 per patient, 1,000 per block), built once
//! and kept under `$CARGO_TARGET_DIR/medblock-bench-ledgers/` so later runs start at once.
//! Run: `cargo bench -p medblock-storage --bench crumbs` (add `-- --quick` for a short run);
//! `MEDBLOCK_BENCH_SIZES=10000,100000` limits the ledger sizes.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use medblock_core::ChainTip;
use medblock_core::crumbs::{Pseudonym, pseudonym};
use medblock_core::synthetic::World;
use medblock_storage::{Ledger, OpenCheck};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::path::PathBuf;
use std::time::Instant;

const RECORDS_PER_PATIENT: usize = 50;
const EVENTS_PER_BLOCK: usize = 1000;

fn bench_dir() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    PathBuf::from(target).join("medblock-bench-ledgers")
}

/// Opens (building on first use) a ledger of `events` events; returns it and a patient to look up.
fn ledger_with(events: usize) -> (Ledger, Pseudonym) {
    let patients = events / RECORDS_PER_PATIENT;
    let mut r = ChaCha20Rng::seed_from_u64(events as u64);
    let mut world = World::generate(&mut r, 2, patients);
    let probe = pseudonym(&world.patients[patients / 2].signing.public());
    let dir = bench_dir().join(format!("{events}"));
    let blocks = (events / EVENTS_PER_BLOCK) as u64;
    if let Ok(l) = Ledger::open(&dir, OpenCheck::HashChain, 4096)
        && l.tip().height == blocks
    {
        return (l, probe);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ledger = Ledger::open(&dir, OpenCheck::HashChain, 4096).expect("open bench ledger");
    // Every patient gets exactly RECORDS_PER_PATIENT visits, in shuffled order.
    let mut visits: Vec<usize> = (0..events).map(|i| i % patients).collect();
    for i in (1..visits.len()).rev() {
        let j = r.random_range(0..=i);
        visits.swap(i, j);
    }
    let departments = world.departments.len();
    let started = Instant::now();
    let mut tip = ChainTip::GENESIS;
    for (b, chunk) in visits.chunks(EVENTS_PER_BLOCK).enumerate() {
        let base = tip.timestamp_ms + 1;
        let evs = chunk
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let d = r.random_range(0..departments);
                world
                    .event(p, d, base + i as u64, &mut r)
                    .expect("indexes in range")
            })
            .collect();
        let block = world
            .block(&tip, evs, base + EVENTS_PER_BLOCK as u64)
            .expect("valid block");
        tip = ledger.commit(&block).expect("commit");
        if b % 50 == 49 {
            eprintln!(
                "  built {} of {blocks} blocks ({:.0?})",
                b + 1,
                started.elapsed()
            );
        }
    }
    eprintln!(
        "built a ledger of {events} events in {:.1?}",
        started.elapsed()
    );
    (ledger, probe)
}

fn crumbs(c: &mut Criterion) {
    let mut group = c.benchmark_group("records_lookup");
    group.sample_size(10);
    let sizes: Vec<usize> = std::env::var("MEDBLOCK_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    for events in sizes {
        let (ledger, patient) = ledger_with(events);
        // Every size measured in the same settled state (RocksDB compacts in the background).
        ledger.compact_indexes().expect("compact");
        let found = ledger.crumbs(&patient).expect("crumbs").len();
        assert!(found > 0 && found <= RECORDS_PER_PATIENT);
        group.bench_with_input(BenchmarkId::new("bread_crumbs", events), &events, |b, _| {
            b.iter(|| ledger.crumbs(&patient).expect("crumbs"))
        });
        group.bench_with_input(BenchmarkId::new("full_scan", events), &events, |b, _| {
            b.iter(|| ledger.scan_crumbs(&patient).expect("scan"))
        });
    }
    group.finish();
}

criterion_group!(benches, crumbs);
criterion_main!(benches);
