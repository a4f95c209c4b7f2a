//! The event bus: sequence numbers, batches, filters, lag notices.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use registrar_events::{
    BuddyChange, Delivery, EventBus, EventFilter, EventKind, InProcessBus, RegistrarEvent,
};
use registrar_types::{Aor, Timestamp};

#[cfg(feature = "infra-common")]
mod infra;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn aor(s: &str) -> Aor {
    s.parse().unwrap()
}

fn changed(who: &str) -> RegistrarEvent {
    RegistrarEvent::PresenceChanged {
        aor: aor(who),
        pidf: Arc::from("<presence/>"),
    }
}

fn buddy(owner: &str, buddy: &str) -> RegistrarEvent {
    RegistrarEvent::BuddyListChanged {
        owner: aor(owner),
        buddy: aor(buddy),
        change: BuddyChange::Added,
    }
}

fn events(d: Delivery) -> Vec<(u64, RegistrarEvent)> {
    match d {
        Delivery::Events(e) => e.iter().map(|e| (e.seq, e.event.clone())).collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

#[tokio::test]
async fn sequence_numbers_and_batches() {
    let bus = InProcessBus::new(16);
    assert_eq!(bus.last_seq(), 0);
    let mut s = bus.subscribe(EventFilter::all());
    assert_eq!(bus.publish(T0, changed("sip:a@x.org")), 1);
    let r = bus.publish_batch(
        T0.plus_secs(1),
        vec![changed("sip:b@x.org"), changed("sip:c@x.org")],
    );
    assert_eq!(r, 2..4);
    assert_eq!(bus.publish_batch(T0, Vec::new()), 4..4);
    assert_eq!(bus.last_seq(), 3);

    let first = events(s.next().await.unwrap());
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, 1);
    // One operation's events arrive as one delivery, in order, with its timestamp.
    match s.next().await.unwrap() {
        Delivery::Events(e) => {
            assert_eq!(e.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3]);
            assert!(e.iter().all(|e| e.at == T0.plus_secs(1)));
        }
        other => panic!("{other:?}"),
    }
    assert!(s.try_next().is_none());
    assert_eq!(s.last_seq(), 3);
}

#[tokio::test]
async fn a_late_subscriber_starts_after_the_last_event() {
    let bus = InProcessBus::new(16);
    bus.publish(T0, changed("sip:a@x.org"));
    let mut s = bus.subscribe(EventFilter::all());
    bus.publish(T0, changed("sip:b@x.org"));
    assert_eq!(events(s.next().await.unwrap())[0].0, 2);
}

#[tokio::test]
async fn filters_by_kind_and_address() {
    let bus = InProcessBus::new(16);
    let mut presence = bus.subscribe(EventFilter::all().kinds(&[EventKind::Presence]));
    let mut bob = bus.subscribe(EventFilter::all().aor(aor("sip:bob@x.org")));
    let mut bob_lists = bus.subscribe(
        EventFilter::all()
            .kinds(&[EventKind::BuddyList])
            .aor(aor("sip:bob@x.org")),
    );
    bus.publish_batch(
        T0,
        vec![
            changed("sip:alice@x.org"),
            buddy("sip:alice@x.org", "sip:bob@x.org"),
            changed("sip:bob@x.org"),
        ],
    );
    let p = events(presence.next().await.unwrap());
    assert_eq!(p.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 3]);
    let b = events(bob.next().await.unwrap());
    assert_eq!(b.iter().map(|e| e.0).collect::<Vec<_>>(), [2, 3]);
    let bl = events(bob_lists.next().await.unwrap());
    assert_eq!(bl.iter().map(|e| e.0).collect::<Vec<_>>(), [2]);
    // A batch with nothing for a subscriber is not delivered to it at all.
    bus.publish(T0, changed("sip:carol@x.org"));
    assert!(bob.try_next().is_none());
    assert_eq!(bob.last_seq(), 4);
}

/// A subscriber that falls behind is told how many events it missed, then continues; the publisher never
/// waits for it, and other subscribers miss nothing.
#[tokio::test]
async fn slow_subscribers_get_a_lag_notice() {
    let bus = InProcessBus::new(4);
    let mut slow = bus.subscribe(EventFilter::all());
    let mut fast = bus.subscribe(EventFilter::all());
    let mut seen_fast = Vec::new();
    for i in 0..10 {
        bus.publish_batch(T0, vec![changed("sip:a@x.org"), changed("sip:b@x.org")]);
        // The fast one keeps up.
        for (seq, _) in events(fast.next().await.unwrap()) {
            seen_fast.push(seq);
        }
        assert_eq!(bus.last_seq(), (i + 1) * 2);
    }
    assert_eq!(seen_fast, (1..=20).collect::<Vec<_>>());
    // 10 batches of 2, room for 4: the first 6 batches (12 events) are gone for the slow one.
    assert_eq!(
        slow.next().await.unwrap(),
        Delivery::Lagged {
            missed: 12,
            resumes_at: 13
        }
    );
    let mut rest = Vec::new();
    while let Some(d) = slow.try_next() {
        rest.extend(events(d).into_iter().map(|e| e.0));
    }
    assert_eq!(rest, (13..=20).collect::<Vec<_>>());
}

/// Concurrent publishers: every subscriber sees every sequence number exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_keep_order() {
    let bus = Arc::new(InProcessBus::new(100_000));
    let mut s = bus.subscribe(EventFilter::all());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let bus = Arc::clone(&bus);
        tasks.push(tokio::spawn(async move {
            for i in 0..1000 {
                bus.publish(T0, changed(&format!("sip:u{t}-{i}@x.org")));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut expected = 1;
    while expected <= 4000 {
        for (seq, _) in events(s.next().await.unwrap()) {
            assert_eq!(seq, expected);
            expected += 1;
        }
    }
    assert_eq!(bus.last_seq(), 4000);
}

#[tokio::test]
async fn the_stream_ends_when_the_bus_is_gone() {
    let bus = InProcessBus::new(4);
    let mut s = bus.subscribe(EventFilter::all());
    bus.publish(T0, changed("sip:a@x.org"));
    drop(bus);
    assert!(matches!(s.next().await, Some(Delivery::Events(_))));
    assert_eq!(s.next().await, None);
}
