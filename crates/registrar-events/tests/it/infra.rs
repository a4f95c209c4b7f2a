//! The bridge onto rvoip's infra-common `GlobalEventCoordinator` (feature `infra-common`).

use std::sync::Arc;
use std::time::Duration;

use registrar_events::infra::{
    BUDDY_LIST_EVENT_TYPE, CoordinatorBridge, EVENT_TYPE_IDS, PRESENCE_EVENT_TYPE,
    RegistrarCrossCrateEvent, event_type_id,
};
use registrar_events::{EventBus, EventFilter, EventKind, InProcessBus, RegistrarEvent};
use rvoip_infra_common::events::config::EventCoordinatorConfig;
use rvoip_infra_common::events::coordinator::GlobalEventCoordinator;
use rvoip_infra_common::events::cross_crate::CrossCrateEvent;
use tokio::sync::mpsc::Receiver;

use super::{T0, buddy, changed};

async fn coordinator() -> Arc<GlobalEventCoordinator> {
    Arc::new(
        GlobalEventCoordinator::new(EventCoordinatorConfig::monolithic())
            .await
            .unwrap(),
    )
}

/// What session-core does with a coordinator event: downcast it to the type it expects.
async fn recv(rx: &mut Receiver<Arc<dyn CrossCrateEvent>>) -> RegistrarCrossCrateEvent {
    let e = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("an event within 5 s")
        .expect("coordinator open");
    e.as_any()
        .downcast_ref::<RegistrarCrossCrateEvent>()
        .expect("a registrar event")
        .clone()
}

fn event(e: RegistrarCrossCrateEvent) -> (u64, RegistrarEvent, bool) {
    match e {
        RegistrarCrossCrateEvent::Event {
            envelope,
            last_in_batch,
        } => (envelope.seq, envelope.event, last_in_batch),
        other => panic!("expected an event, got {other:?}"),
    }
}

#[test]
fn one_event_type_id_per_kind() {
    assert_eq!(event_type_id(EventKind::Presence), PRESENCE_EVENT_TYPE);
    let mut ids = EVENT_TYPE_IDS.to_vec();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    assert!(ids.iter().all(|i| i.starts_with("registrar.")));
}

#[tokio::test]
async fn events_reach_coordinator_subscribers_by_kind_in_order() {
    let bus = InProcessBus::new(64);
    let coord = coordinator().await;
    let mut presence = coord.subscribe(PRESENCE_EVENT_TYPE).await.unwrap();
    let mut buddies = coord.subscribe(BUDDY_LIST_EVENT_TYPE).await.unwrap();
    let bridge = CoordinatorBridge::spawn(&bus, EventFilter::all(), Arc::clone(&coord));

    bus.publish(T0, changed("sip:a@x.org"));
    bus.publish_batch(
        T0.plus_secs(1),
        vec![
            buddy("sip:a@x.org", "sip:b@x.org"),
            changed("sip:b@x.org"),
            changed("sip:c@x.org"),
        ],
    );

    let (seq, e, last) = event(recv(&mut presence).await);
    assert_eq!((seq, last), (1, true));
    assert_eq!(e, changed("sip:a@x.org"));
    let (seq, _, last) = event(recv(&mut presence).await);
    assert_eq!((seq, last), (3, false));
    let got = recv(&mut presence).await;
    assert_eq!(got.event_type(), PRESENCE_EVENT_TYPE);
    let (seq, e, last) = event(got);
    assert_eq!((seq, last), (4, true), "the batch's last event is marked");
    assert_eq!(e, changed("sip:c@x.org"));
    let (seq, e, _) = event(recv(&mut buddies).await);
    assert_eq!(seq, 2);
    assert_eq!(e, buddy("sip:a@x.org", "sip:b@x.org"));

    let stats = bridge.stop().await;
    assert_eq!((stats.forwarded, stats.missed, stats.refused), (4, 0, 0));
}

#[tokio::test]
async fn the_filter_decides_what_is_forwarded() {
    let bus = InProcessBus::new(64);
    let coord = coordinator().await;
    let mut presence = coord.subscribe(PRESENCE_EVENT_TYPE).await.unwrap();
    let filter = EventFilter::all().aor("sip:b@x.org".parse().unwrap());
    let bridge = CoordinatorBridge::spawn(&bus, filter, Arc::clone(&coord));
    bus.publish(T0, changed("sip:a@x.org"));
    bus.publish(T0, changed("sip:b@x.org"));
    let (seq, e, _) = event(recv(&mut presence).await);
    assert_eq!(seq, 2);
    assert_eq!(e, changed("sip:b@x.org"));
    assert_eq!(bridge.stop().await.forwarded, 1);
}

#[tokio::test]
async fn stop_forwards_everything_published_before_it() {
    let bus = InProcessBus::new(1024);
    let coord = coordinator().await;
    let mut presence = coord.subscribe(PRESENCE_EVENT_TYPE).await.unwrap();
    let bridge = CoordinatorBridge::spawn(&bus, EventFilter::all(), Arc::clone(&coord));
    // On this single-threaded runtime the bridge has not run yet: all 500 are still queued at the stop.
    for i in 0..500 {
        bus.publish(T0, changed(&format!("sip:u{i}@x.org")));
    }
    let stats = bridge.stop().await;
    assert_eq!(stats.forwarded, 500);
    for want in 1..=500 {
        assert_eq!(event(recv(&mut presence).await).0, want);
    }
}

#[tokio::test]
async fn a_lagging_bridge_tells_every_kind_it_forwards_how_many_were_missed() {
    let bus = InProcessBus::new(4);
    let coord = coordinator().await;
    let mut presence = coord.subscribe(PRESENCE_EVENT_TYPE).await.unwrap();
    let mut buddies = coord.subscribe(BUDDY_LIST_EVENT_TYPE).await.unwrap();
    let filter = EventFilter::all().kinds(&[EventKind::Presence, EventKind::BuddyList]);
    let bridge = CoordinatorBridge::spawn(&bus, filter, Arc::clone(&coord));
    // Ten batches into a bus that holds four, before the bridge gets to run.
    for i in 0..10 {
        bus.publish(T0, changed(&format!("sip:u{i}@x.org")));
    }
    for rx in [&mut presence, &mut buddies] {
        match recv(rx).await {
            RegistrarCrossCrateEvent::Lagged {
                missed, resumes_at, ..
            } => assert_eq!((missed, resumes_at), (6, 7)),
            other => panic!("expected a lag notice, got {other:?}"),
        }
    }
    for want in 7..=10 {
        assert_eq!(event(recv(&mut presence).await).0, want);
    }
    let stats = bridge.stop().await;
    assert_eq!((stats.forwarded, stats.missed), (4, 6));
}

#[tokio::test]
async fn a_coordinator_shut_down_refuses_and_the_bridge_counts_it() {
    let bus = InProcessBus::new(16);
    let coord = coordinator().await;
    let bridge = CoordinatorBridge::spawn(&bus, EventFilter::all(), Arc::clone(&coord));
    coord.shutdown().await.unwrap();
    bus.publish(T0, changed("sip:a@x.org"));
    let stats = bridge.stop().await;
    assert_eq!((stats.forwarded, stats.refused), (0, 1));
}
