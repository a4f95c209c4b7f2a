//! Resident memory per presence subscription at 100 000 subscriptions (from /proc). Prints `name value unit`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::Arc;

use registrar_presence::{DialogId, SubscribeRequest, SubscriptionPolicy, Subscriptions};
use registrar_types::{Aor, Timestamp};

const N: u64 = 100_000;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let xml: Arc<str> = Arc::from("<presence/>");
    let mut policy = SubscriptionPolicy::default();
    policy.max_per_watcher = usize::MAX;
    let before = rss_bytes();
    let subs = Subscriptions::new(policy).unwrap();
    for n in 0..N {
        let watcher: Aor = format!("sip:watcher{n}@example.com").parse().unwrap();
        let presentity: Aor = format!("sip:user{}@example.com", n % 10_000)
            .parse()
            .unwrap();
        let dialog = DialogId::new(
            format!("{n:032x}@192.0.2.1").parse().unwrap(),
            &format!("{n:016x}"),
            &format!("{:016x}", n.wrapping_mul(31)),
        );
        subs.subscribe(
            Timestamp::from_secs(1_700_000_000),
            &SubscribeRequest::new(dialog, watcher, presentity),
            &xml,
        )
        .unwrap();
    }
    let after = rss_bytes();
    assert_eq!(subs.len() as u64, N);
    println!(
        "presence_rss_per_subscription {:.0} bytes",
        (after.saturating_sub(before)) as f64 / N as f64
    );
}
