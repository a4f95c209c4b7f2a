//! Each storage mode through the service API (`RegistrarService::register` and `lookup`, the calls a SIP
//! stack makes): registrations per second from 1024 concurrent callers, each answered only once its change is
//! stored as the mode promises (memory: in memory; embedded: fsynced in a group commit; shared: written to
//! Redis), then refreshes of every user in random order, then the p99 of single lookups in random order.
//! The shared mode runs when `REDIS_URL` is set. Prints one `name value unit` line per figure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::{request, user};
use registrar_presence::{MemoryPresenceStore, PresenceStore};
use registrar_registry::{LocationStore, MemoryLocationStore};
use registrar_service::RegistrarService;
use registrar_storage::{
    EmbeddedLocationStore, EmbeddedPresenceStore, Journal, Redis, SharedLocationStore,
    SharedPresenceStore,
};
use registrar_types::{CSeq, Clock, SystemClock};

const USERS: usize = 200_000;
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

async fn measure<L: LocationStore + 'static, P: PresenceStore + 'static>(
    mode: &str,
    svc: RegistrarService<L, P>,
) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..CONCURRENT {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < USERS {
                svc.register(&request(i)).await.unwrap();
                i += CONCURRENT;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode}_service_registrations_per_sec {:.0} ops/s",
        USERS as f64 / secs
    );
    // Refreshes of random users (as phones re-register): every change rewrites a stored record.
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..CONCURRENT {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = t;
            while n < USERS {
                let i = (n * 7919) % USERS;
                let mut r = request(i);
                r.cseq = CSeq::new(2).unwrap();
                svc.register(&r).await.unwrap();
                n += CONCURRENT;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode}_service_refreshes_per_sec {:.0} ops/s",
        USERS as f64 / secs
    );
    let mut lat = Vec::with_capacity(USERS);
    for i in 0..USERS {
        let k = user((i * 7919) % USERS);
        let t = Instant::now();
        let b = svc.lookup(&k).await.unwrap();
        lat.push(t.elapsed().as_nanos() as u64);
        assert_eq!(b.len(), 1);
    }
    lat.sort_unstable();
    println!("{mode}_service_lookup_p50 {} ns", lat[lat.len() / 2]);
    println!("{mode}_service_lookup_p99 {} ns", lat[lat.len() * 99 / 100]);
}

async fn run() {
    let now = SystemClock.now();
    measure(
        "memory",
        RegistrarService::builder()
            .location_store(MemoryLocationStore::new())
            .presence_store(MemoryPresenceStore::new())
            .build()
            .unwrap(),
    )
    .await;

    let dir = std::env::temp_dir().join(format!("registrar-bench-modes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    {
        let journal = Arc::new(Journal::open(&dir).unwrap());
        let (location, _) = EmbeddedLocationStore::load(Arc::clone(&journal), now)
            .await
            .unwrap();
        let (presence, _) = EmbeddedPresenceStore::load(journal, now).await.unwrap();
        measure(
            "embedded",
            RegistrarService::builder()
                .location_store(location)
                .presence_store(presence)
                .build()
                .unwrap(),
        )
        .await;
    }
    let _ = std::fs::remove_dir_all(&dir);

    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let prefix = format!("bench-{}", std::process::id());
            let redis = Redis::connect(&url, &prefix, "bench").await.unwrap();
            measure(
                "shared",
                RegistrarService::builder()
                    .location_store(SharedLocationStore::new(Arc::clone(&redis)))
                    .presence_store(SharedPresenceStore::new(redis))
                    .build()
                    .unwrap(),
            )
            .await;
            remove_keys(&url, &prefix).await;
        }
        _ => println!("# shared mode skipped: REDIS_URL is not set"),
    }
}

/// Remove what the shared-mode run wrote.
async fn remove_keys(url: &str, prefix: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut c)
            .await
            .unwrap();
        if !keys.is_empty() {
            redis::cmd("UNLINK")
                .arg(&keys)
                .query_async::<()>(&mut c)
                .await
                .unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
}
