//! Many users at once: every registration lands, every event is delivered once, in sequence.

use std::sync::Arc;

use registrar_events::{Delivery, EventBus, EventFilter, InProcessBus, RegistrarEvent};
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::RegistrarService;
use registrar_types::{CSeq, ManualClock};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_users_at_once() {
    let bus = Arc::new(InProcessBus::new(100_000));
    let svc = RegistrarService::builder()
        .clock(Arc::new(ManualClock::new(T0)))
        .event_bus(bus.clone())
        .build()
        .unwrap();
    let mut events = svc.events(EventFilter::all());
    let mut tasks = Vec::new();
    for t in 0..8 {
        let svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..500 {
                let who = format!("sip:u{t}x{i}@example.com");
                for d in 0..2 {
                    svc.register(
                        &RegisterRequest::new(
                            aor(&who),
                            format!("c{t}-{i}-{d}").parse().unwrap(),
                            CSeq::new(1).unwrap(),
                        )
                        .contact(
                            ContactSpec::new(
                                format!("sip:dev{d}@192.0.2.{t}:{}", 5000 + i)
                                    .parse()
                                    .unwrap(),
                            )
                            .expires(600),
                        ),
                    )
                    .await
                    .unwrap();
                }
                svc.publish(&publish(&who, "t", "open", "x")).await.unwrap();
                assert_eq!(svc.lookup(&aor(&who)).await.unwrap().len(), 2);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        svc.registered_users(None, 10_000)
            .await
            .unwrap()
            .users
            .len(),
        4000
    );
    // 8000 bindings added, 4000 publications with 4000 changes: 16 000 events, sequence 1..=16 000.
    let mut expected = 1u64;
    let mut added = 0;
    while expected <= 16_000 {
        match events.next().await.unwrap() {
            Delivery::Events(batch) => {
                for e in batch.iter() {
                    assert_eq!(e.seq, expected);
                    expected += 1;
                    if matches!(e.event, RegistrarEvent::RegistrationAdded { .. }) {
                        added += 1;
                    }
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(added, 8000);
    assert_eq!(bus.last_seq(), 16_000);
}
