//! Triage of short, typical (~500 bytes) and maximum-size (8 KiB) narratives.
//! Budget (issue 14): triage and route of 500 bytes <= 10 µs median, in the routing bench.

use std::hint::black_box;

use bluelight::domain::MAX_NARRATIVE_BYTES;
use bluelight::triage::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;

fn triage(c: &mut Criterion) {
    let engine = Engine::default_rules();
    let mut g = c.benchmark_group("triage");
    for (name, bytes) in [
        ("short_80B", 80),
        ("typical_500B", 500),
        ("max_8KiB", MAX_NARRATIVE_BYTES),
    ] {
        let contacts: Vec<_> = (0..16)
            .map(|seed| common::contact(bytes, seed, "CM1 1AA"))
            .collect();
        g.throughput(Throughput::Bytes(contacts[0].narrative.len() as u64));
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % contacts.len();
                black_box(engine.classify(black_box(&contacts[i])))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, triage);
criterion_main!(benches);
