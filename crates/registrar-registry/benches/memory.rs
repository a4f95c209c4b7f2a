//! Whole-store figures at 1 M AoRs: resident bytes per single-contact registration (from /proc), the rate of
//! first registrations on one core, and lookups per second. Prints `name value unit` lines.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{NOW, aor, ready, request};
use registrar_registry::{MemoryLocationStore, Registry};

const N: usize = 1_000_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Memory: each request is built inside the loop and dropped after it, so everything the store keeps
    // (URIs, Call-IDs, User-Agents) is counted in the difference.
    let before = rss_bytes();
    let measured =
        Registry::new(MemoryLocationStore::with_capacity(N), Default::default()).unwrap();
    for i in 0..N {
        ready(measured.register_with_entropy(NOW, &request(i, "a", 1), i as u64)).unwrap();
    }
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / N as f64;
    println!("registry_rss_per_registration {per:.0} bytes");

    // Rate: the requests are parsed beforehand, as the SIP layer hands them over already parsed.
    let reqs: Vec<_> = (0..N).map(|i| request(i, "a", 1)).collect();
    let registry =
        Registry::new(MemoryLocationStore::with_capacity(N), Default::default()).unwrap();
    let start = Instant::now();
    for (i, r) in reqs.iter().enumerate() {
        ready(registry.register_with_entropy(NOW, r, i as u64)).unwrap();
    }
    let elapsed = start.elapsed();
    drop(reqs);
    println!(
        "registry_first_registrations_per_sec_one_core {:.0} ops/s",
        N as f64 / elapsed.as_secs_f64()
    );
    drop(measured);

    let keys: Vec<_> = (0..N).map(|i| aor(i * 7919 % N)).collect();
    let start = Instant::now();
    let mut live = 0usize;
    for k in &keys {
        live += registry.store().lookup(black_box(k), NOW).len();
    }
    let elapsed = start.elapsed();
    assert_eq!(live, N);
    println!(
        "registry_lookups_per_sec_one_core {:.0} ops/s",
        N as f64 / elapsed.as_secs_f64()
    );
}
