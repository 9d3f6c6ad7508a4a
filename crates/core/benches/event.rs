//! One event end to end: seal + sign (build), parse, verify both signatures, and the patient
//! opening the summary; then each step alone.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use criterion::{Criterion, criterion_group, criterion_main};
use medblock_core::event::ParsedEvent;
use medblock_core::sealing;
use prost::Message;
use std::hint::black_box;

fn event(c: &mut Criterion) {
    let mut fx = Fixture::new(700);
    let bytes = fx.event(1).encode_to_vec();
    let parsed = ParsedEvent::parse(&bytes).unwrap();
    let binding = parsed.binding();
    let mut g = c.benchmark_group("event");
    g.bench_function("build+parse+verify+open", |b| {
        b.iter(|| {
            let bytes = fx.event(1).encode_to_vec();
            let p = ParsedEvent::parse(&bytes).unwrap();
            p.verify_signatures().unwrap();
            sealing::open(
                &p.event.encrypted_summary,
                &p.binding(),
                &fx.patient.sealing,
            )
            .unwrap()
        })
    });
    g.bench_function("build (seal + 2 signatures)", |b| {
        b.iter(|| black_box(fx.event(1)))
    });
    g.bench_function("parse", |b| {
        b.iter(|| ParsedEvent::parse(black_box(&bytes)).unwrap())
    });
    g.bench_function("verify_signatures", |b| {
        b.iter(|| black_box(&parsed).verify_signatures().unwrap())
    });
    g.bench_function("open (patient)", |b| {
        b.iter(|| {
            sealing::open(
                black_box(&parsed.event.encrypted_summary),
                &binding,
                &fx.patient.sealing,
            )
            .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, event);
criterion_main!(benches);
