//! The service driven in-process with 1 M users on this machine's cores: registrations per second, lookups
//! per second with p50/p99 latency, presence fan-out NOTIFYs per second, resident memory per user, and a
//! check that the event stream lost nothing. Prints one `name value unit` line per figure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use registrar_events::{Delivery, EventBus, EventFilter, InProcessBus};
use registrar_presence::{
    DialogId, NotifyIntent, PublishRequest, SubscribeRequest, SubscriptionPolicy,
};
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::{Notifier, RegistrarService};
use registrar_types::{Aor, CSeq};

const USERS: usize = 1_000_000;
const WATCHERS: usize = 10_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// This machine's main-memory latency right now: a chase of dependent loads through a random cycle over
/// 512 MiB, as context for the lookup figures (a lookup over 1 M users waits for about two such loads).
fn memory_latency_ns() -> f64 {
    const N: usize = 64 << 20;
    // A single random cycle through all N slots (Sattolo's algorithm, with a xorshift generator).
    let mut next: Vec<u64> = (0..N as u64).collect();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in (1..N).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % i as u64) as usize;
        next.swap(i, j);
    }
    let steps = 5_000_000;
    let mut at = 0usize;
    let t = Instant::now();
    for _ in 0..steps {
        at = next[at] as usize;
    }
    let ns = t.elapsed().as_nanos() as f64 / f64::from(steps);
    std::hint::black_box(at);
    ns
}

/// How much of the resident memory is on transparent huge pages, in percent (`/proc/self/smaps_rollup`), and
/// the host's THP mode, as context for the lookup figures (memory on huge pages needs fewer page-table walks).
/// With `[madvise]`, the usual mode, glibc's malloc gets none.
fn huge_pages() -> (u64, String) {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    let kb = |name: &str| -> u64 {
        rollup
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let share = (kb("AnonHugePages:") * 100)
        .checked_div(kb("Rss:"))
        .unwrap_or(0);
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|m| {
            let (_, rest) = m.split_once('[')?;
            Some(rest.split_once(']')?.0.to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    (share, mode)
}

fn user(i: usize) -> Aor {
    format!("sip:user{i}@example.com").parse().unwrap()
}

fn register_request(i: usize) -> RegisterRequest {
    RegisterRequest::new(
        user(i),
        format!("call-{i}@192.0.2.1").parse().unwrap(),
        CSeq::new(1).unwrap(),
    )
    .contact(
        ContactSpec::new(
            format!("sip:user{i}@192.0.2.{}:{}", i % 250, 5060 + i % 1000)
                .parse()
                .unwrap(),
        )
        .expires(3600),
    )
    .user_agent("bench-phone/1.0")
}

/// Counts NOTIFYs instead of sending them.
#[derive(Default)]
struct Counting(AtomicU64);

#[async_trait]
impl Notifier for Counting {
    async fn notify(&self, intents: Vec<NotifyIntent>) {
        self.0.fetch_add(intents.len() as u64, Ordering::Relaxed);
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(threads));
}

async fn run(threads: usize) {
    let bus = Arc::new(InProcessBus::new(1 << 16));
    let counting = Arc::new(Counting::default());
    let mut policy = SubscriptionPolicy::default();
    policy.max_per_watcher = usize::MAX;
    let svc = RegistrarService::builder()
        .event_bus(bus.clone())
        .notifier(counting.clone())
        .subscription_policy(policy)
        .build()
        .unwrap();

    // An event consumer that must see every event: it counts them and the gaps it is told about. It runs on
    // its own thread, as a consumer in another part of a program would, sharing the cores with the service.
    let mut stream = bus.subscribe(EventFilter::all());
    let consumer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (mut seen, mut lost) = (0u64, 0u64);
            while let Some(d) = stream.next().await {
                match d {
                    Delivery::Events(e) => seen += e.len() as u64,
                    Delivery::Lagged { missed, .. } => lost += missed,
                    _ => {}
                }
            }
            (seen, lost)
        })
    });

    // Registrations: 1 M users, one contact each, from `threads` tasks.
    let before = rss_bytes();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..threads {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < USERS {
                svc.register(&register_request(i)).await.unwrap();
                i += threads;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "service_registrations_per_sec {:.0} ops/s",
        USERS as f64 / secs
    );
    let after = rss_bytes();
    println!(
        "service_rss_per_user {:.0} bytes",
        after.saturating_sub(before) as f64 / USERS as f64
    );
    let (share, mode) = huge_pages();
    println!("service_memory_on_huge_pages {share} % (host THP mode: {mode})");

    // Lookups: latency of each call on one task, then throughput on all cores.
    let keys: Vec<Aor> = (0..USERS).map(|i| user((i * 7919) % USERS)).collect();
    // Five passes over all users in that order; each pass gives a p50 and a p99. The figures printed are the
    // median pass (by p99), so one burst of interference from other tenants of a shared host does not decide
    // them; the worst pass is printed too. The cost of reading the timer is printed for reference.
    let mut lat = Vec::with_capacity(USERS);
    let mut passes = Vec::new();
    for _ in 0..5 {
        lat.clear();
        for k in &keys {
            let t = Instant::now();
            let b = svc.lookup(k).await.unwrap();
            lat.push(t.elapsed().as_nanos() as u64);
            assert_eq!(b.len(), 1);
        }
        lat.sort_unstable();
        passes.push((lat[lat.len() * 99 / 100], lat[lat.len() / 2]));
    }
    passes.sort_unstable();
    println!("service_lookup_p50 {} ns", passes[2].1);
    println!("service_lookup_p99 {} ns", passes[2].0);
    println!("service_lookup_p99_worst_pass {} ns", passes[4].0);
    lat.clear();
    for _ in 0..100_000 {
        let t = Instant::now();
        lat.push(t.elapsed().as_nanos() as u64);
    }
    lat.sort_unstable();
    println!("service_lookup_timer_overhead {} ns", lat[lat.len() / 2]);
    println!("machine_memory_latency {:.0} ns", memory_latency_ns());
    let keys = Arc::new(keys);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..threads {
        let svc = svc.clone();
        let keys = Arc::clone(&keys);
        tasks.push(tokio::spawn(async move {
            let mut found = 0usize;
            let mut i = t;
            while i < keys.len() {
                found += svc.lookup(&keys[i]).await.unwrap().len();
                i += threads;
            }
            found
        }));
    }
    let mut found = 0;
    for t in tasks {
        found += t.await.unwrap();
    }
    assert_eq!(found, USERS);
    println!(
        "service_lookups_per_sec {:.0} ops/s",
        USERS as f64 / start.elapsed().as_secs_f64()
    );

    // Fan-out: one presentity watched by 10 000 users; each PUBLISH notifies all of them.
    let star = user(0);
    for w in 1..=WATCHERS {
        let d = DialogId::new(format!("sub-{w}").parse().unwrap(), "f", "t");
        svc.subscribe(&SubscribeRequest::new(d, user(w), star.clone()), false)
            .await
            .unwrap();
    }
    let body = |basic: &str| {
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:user0@example.com"><tuple id="desk"><status><basic>{basic}</basic></status></tuple></presence>"#).into_bytes()
    };
    let first = svc
        .publish(&PublishRequest::initial(star.clone(), &body("open")))
        .await
        .unwrap();
    let mut etag = first.outcome.etag.unwrap();
    let sent_before = counting.0.load(Ordering::Relaxed);
    let rounds = 50;
    let start = Instant::now();
    for r in 0..rounds {
        let b = body(if r % 2 == 0 { "closed" } else { "open" });
        let res = svc
            .publish(&PublishRequest::modify(star.clone(), etag, &b))
            .await
            .unwrap();
        etag = res.outcome.etag.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let sent = counting.0.load(Ordering::Relaxed) - sent_before;
    assert_eq!(sent, (rounds * WATCHERS) as u64);
    println!(
        "service_fanout_notifies_per_sec {:.0} notifies/s",
        sent as f64 / secs
    );

    // Every event published reached the consumer.
    let published = bus.last_seq();
    drop(svc);
    drop(bus);
    let (seen, lost) = consumer.join().unwrap();
    println!("service_events_published {published} events");
    println!("service_events_lost {} events", published - seen);
    assert_eq!(lost, published - seen, "every loss is reported");
}
