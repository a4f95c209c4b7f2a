//! Criterion benches of the location service: lookup against a bare `DashMap::get`, register, refresh and
//! the expiry sweep, at 10 k, 100 k and 1 M AoRs.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{NOW, aor, filled, ready, request};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use dashmap::DashMap;
use registrar_types::{Aor, Binding, CSeq, Timestamp};

const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("lookup");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let registry = filled(n);
        // The baseline: a bare DashMap with the same keys and values.
        let bare: DashMap<Aor, Arc<[Binding]>> = DashMap::with_capacity(n);
        for i in 0..n {
            let a = aor(i);
            bare.insert(a.clone(), registry.store().stored(&a));
        }
        // Every key of the table, in a scattered order (7919 is prime to every size): a small working set would
        // stay in the caches and flatter every figure at 1 M.
        let keys: Vec<Aor> = (0..n).map(|i| aor(i * 7919 % n)).collect();
        let mut k = 0usize;
        g.bench_function(BenchmarkId::new("dashmap_get_baseline", n), |b| {
            b.iter(|| {
                k = if k + 1 == n { 0 } else { k + 1 };
                let e = bare.get(black_box(&keys[k]));
                // Read what a lookup reads: the first binding, not just the slice length in the entry.
                black_box(e.and_then(|v| v.first().map(|b| b.q)))
            });
        });
        g.bench_function(BenchmarkId::new("memory_store", n), |b| {
            b.iter(|| {
                k = if k + 1 == n { 0 } else { k + 1 };
                let found = registry.store().lookup(black_box(&keys[k]), NOW);
                black_box(found.iter().next().map(|b| b.q))
            });
        });
        g.bench_function(BenchmarkId::new("registry_async", n), |b| {
            b.iter(|| {
                k = if k + 1 == n { 0 } else { k + 1 };
                let found = ready(registry.lookup(black_box(&keys[k]), NOW)).unwrap();
                black_box(found.iter().next().map(|b| b.q))
            });
        });
    }
    g.finish();
}

fn register(c: &mut Criterion) {
    let mut g = c.benchmark_group("register");
    g.throughput(Throughput::Elements(1));
    for n in SIZES {
        let registry = filled(n);
        // A REGISTER with a new Call-ID for an AoR that has a binding: the binding is replaced.
        let sample = 65_536.min(n);
        let reqs: Vec<_> = (0..sample)
            .flat_map(|i| {
                let i = i * 7919 % n;
                [request(i, "b", 1), request(i, "a", 1)]
            })
            .collect();
        let mut k = 0usize;
        g.bench_function(BenchmarkId::new("new_call_id", n), |b| {
            b.iter(|| {
                // Requests alternate Call-IDs "b", "a" per AoR, starting from the stored "a".
                let r = &reqs[k];
                k = (k + 1) % reqs.len();
                black_box(ready(registry.register_with_entropy(NOW, r, k as u64)).unwrap())
            });
        });
        // A refresh: same Call-ID, next CSeq.
        let mut refresh = request(n / 2, "a", 1);
        let mut cseq = 1u32;
        g.bench_function(BenchmarkId::new("refresh", n), |b| {
            b.iter(|| {
                cseq += 1;
                refresh.cseq = CSeq::new(cseq).unwrap();
                black_box(ready(registry.register_with_entropy(NOW, &refresh, 7)).unwrap())
            });
        });
    }
    g.finish();
}

fn expiry_sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("expiry_sweep");
    const EXPIRING: usize = 1_000;
    g.throughput(Throughput::Elements(EXPIRING as u64));
    for n in [100_000, 1_000_000] {
        let registry = filled(n);
        let mut round = 0u64;
        g.bench_function(BenchmarkId::new("1000_due", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    // Rounds run long before the filled bindings expire (NOW + 3600 s), so only the 1000 are due.
                    let at = Timestamp::from_secs(NOW.as_millis() / 1000 - 10_000_000 + round * 10);
                    // Untimed: 1000 fresh AoRs that expire 60 s after `at`.
                    for j in 0..EXPIRING {
                        let mut r = request(n + j, "x", 1);
                        r.call_id = format!("x{round}-{j}").parse().unwrap();
                        r.expires = Some(60);
                        ready(registry.register_with_entropy(at, &r, j as u64)).unwrap();
                    }
                    let start = Instant::now();
                    let gone = ready(registry.expire(at.plus_secs(60))).unwrap();
                    total += start.elapsed();
                    assert_eq!(gone.len(), EXPIRING);
                }
                total
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = lookup, register, expiry_sweep
}
criterion_main!(benches);
