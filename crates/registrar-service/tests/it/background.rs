//! The background task on tokio's paused clock: it sleeps until the next deadline, expires what is due, and
//! stops without losing events.

use std::sync::Arc;
use std::time::Duration;

use registrar_events::{Delivery, EventFilter, RegistrarEvent};
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::{ChannelNotifier, RegistrarService};
use registrar_types::{CSeq, Clock, Timestamp};

use crate::support::*;

/// A clock that follows tokio's (paused, auto-advancing) time from `T0`.
#[derive(Debug)]
struct TokioClock {
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap();
        Timestamp::from_millis(T0.as_millis() + ms)
    }
}

#[tokio::test(start_paused = true)]
async fn expiry_runs_at_the_deadline_and_shutdown_keeps_events() {
    let clock = Arc::new(TokioClock {
        start: tokio::time::Instant::now(),
    });
    let (notifier, mut notifies) = ChannelNotifier::new(100);
    let svc = RegistrarService::builder()
        .clock(clock.clone())
        .notifier(Arc::new(notifier))
        .build()
        .unwrap();
    let mut events = svc.events(EventFilter::all());
    svc.start();
    svc.start(); // a second call starts nothing more
    svc.register(
        &RegisterRequest::new(aor(ALICE), "c1".parse().unwrap(), CSeq::new(1).unwrap())
            .contact(ContactSpec::new("sip:alice@192.0.2.1".parse().unwrap()).expires(60)),
    )
    .await
    .unwrap();
    svc.subscribe(&subscribe(1, BOB, ALICE).expires(90), false)
        .await
        .unwrap();
    assert!(notifies.recv().await.is_some(), "the first NOTIFY");

    // Nothing is due before 60 s.
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(svc.lookup(&aor(ALICE)).await.unwrap().len(), 1);
    // The task wakes at the binding's deadline and sweeps it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    let stored = svc.registered_users(None, 10).await.unwrap();
    assert!(stored.users.is_empty(), "swept, not just hidden");
    // And at the subscription's deadline, a final NOTIFY.
    let last = tokio::time::timeout(Duration::from_secs(60), notifies.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.state.to_string(), "terminated;reason=timeout");
    assert!(clock.now() >= T0.plus_secs(90));

    svc.shutdown().await;
    let mut seen = Vec::new();
    while let Some(Delivery::Events(e)) = events.try_next() {
        seen.extend(e.iter().map(|e| e.event.clone()));
    }
    assert!(matches!(seen[0], RegistrarEvent::RegistrationAdded { .. }));
    assert!(matches!(
        seen[1],
        RegistrarEvent::SubscriptionCreated { .. }
    ));
    assert!(matches!(
        seen[2],
        RegistrarEvent::RegistrationExpired { .. }
    ));
    assert!(matches!(
        seen[3],
        RegistrarEvent::SubscriptionTerminated { .. }
    ));
    assert_eq!(seen.len(), 4);
}
