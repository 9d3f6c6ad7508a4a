//! Validation of a 1,000-event block (`VerifiedBlock::verify`, signatures batch-verified),
//! reported per block and per event.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use medblock_core::block::VerifiedBlock;
use std::hint::black_box;

const EVENTS: usize = 1000;

fn block(c: &mut Criterion) {
    let mut fx = Fixture::new(701);
    let block = fx.block(EVENTS);
    assert!(VerifiedBlock::verify(block.clone(), EVENTS).is_ok());
    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    // Criterion reports the time per block and, through the throughput, events per second;
    // per-event cost is the block time / 1,000.
    g.throughput(Throughput::Elements(EVENTS as u64));
    g.bench_function("verify 1000 events", |b| {
        b.iter_batched(
            || block.clone(),
            |blk| VerifiedBlock::verify(black_box(blk), EVENTS).unwrap(),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, block);
criterion_main!(benches);
