//! Embedded mode through the service's store API, on a real data file: registrations per second with group
//! commit (many concurrent REGISTERs, each acknowledged only after its fsync), lookup latency (memory only),
//! and the time to load 1 M registrations at start-up. Prints one `name value unit` line per figure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{request, user};
use registrar_registry::{RegistrarPolicy, Registry};
use registrar_storage::{EmbeddedLocationStore, Journal};
use registrar_types::{Clock, SystemClock};

const USERS: usize = 1_000_000;
const CONCURRENT: usize = 1_024;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let dir = std::env::temp_dir().join(format!("registrar-bench-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let now = SystemClock.now();
    {
        let journal = Arc::new(Journal::open(&dir).unwrap());
        let (store, _) = EmbeddedLocationStore::load(Arc::clone(&journal), now)
            .await
            .unwrap();
        let reg = Arc::new(Registry::new(store, RegistrarPolicy::default()).unwrap());

        // 1 M first registrations from 1024 concurrent tasks (as 1024 phones waiting for their 200 OK).
        let start = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..CONCURRENT {
            let reg = Arc::clone(&reg);
            tasks.push(tokio::spawn(async move {
                let mut i = t;
                while i < USERS {
                    reg.register(now, &request(i)).await.unwrap();
                    i += CONCURRENT;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let secs = start.elapsed().as_secs_f64();
        let s = journal.stats();
        println!(
            "embedded_registrations_per_sec {:.0} ops/s",
            USERS as f64 / secs
        );
        println!(
            "embedded_changes_per_commit {:.0} changes",
            s.changes as f64 / s.commits.max(1) as f64
        );

        // Lookups read memory only: same path as the memory mode.
        let mut lat = Vec::with_capacity(USERS);
        for i in 0..USERS {
            let k = user((i * 7919) % USERS);
            let t = Instant::now();
            let b = reg.lookup(&k, now).await.unwrap();
            lat.push(t.elapsed().as_nanos() as u64);
            assert_eq!(b.len(), 1);
        }
        lat.sort_unstable();
        println!("embedded_lookup_p50 {} ns", lat[lat.len() / 2]);
        println!("embedded_lookup_p99 {} ns", lat[lat.len() * 99 / 100]);
    }
    let size = std::fs::metadata(dir.join("registrar.redb")).map_or(0, |m| m.len());
    println!(
        "embedded_file_bytes_per_registration {} bytes",
        size / USERS as u64
    );

    // Start-up: open the file and load every registration into memory.
    let start = Instant::now();
    let journal = Arc::new(Journal::open(&dir).unwrap());
    let (store, report) = EmbeddedLocationStore::load(journal, now).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.loaded, USERS);
    assert_eq!(store.memory().len(), USERS);
    println!("embedded_load_1m_registrations {secs:.2} s");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
