//! Routing alone (`route`), and triage then route (`triage_route`) on 500-byte narratives.
//! Budgets: route <= 200 ns median; triage + route <= 10 µs median.

use std::hint::black_box;

use bluelight::routing::{Load, Table};
use bluelight::triage::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;

const POSTCODES: &[&str] = &[
    "CM1 1AA", "SS14 3AB", "CO15 1XY", "RM17 6DD", "IG10 4AA", "ZZ99 9ZZ", "",
];

fn route(c: &mut Criterion) {
    let engine = Engine::default_rules();
    let table = Table::default_desks();
    let load = Load::default();
    let contacts: Vec<_> = (0..64)
        .map(|seed| common::contact(500, seed, POSTCODES[seed as usize % POSTCODES.len()]))
        .collect();
    let triaged: Vec<_> = contacts
        .iter()
        .map(|c| (engine.classify(c), c.location.clone()))
        .collect();

    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("typical", |b| {
        b.iter(|| {
            i = (i + 1) % triaged.len();
            let (t, l) = &triaged[i];
            black_box(table.route(black_box(t), black_box(l), &load))
        })
    });
    g.finish();

    let mut g = c.benchmark_group("triage_route");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("typical_500B", |b| {
        b.iter(|| {
            i = (i + 1) % contacts.len();
            let c = &contacts[i];
            let t = engine.classify(black_box(c));
            black_box(table.route(&t, &c.location, &load))
        })
    });
    g.finish();
}

criterion_group!(benches, route);
criterion_main!(benches);
