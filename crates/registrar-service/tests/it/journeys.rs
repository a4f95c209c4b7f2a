//! Whole journeys: register, publish, subscribe, expire — the right NOTIFYs and events, in order.

use registrar_events::RegistrarEvent;
use registrar_pidf::{Basic, Document, Presence};
use registrar_presence::{EventPackage, SubscribeRequest, WatcherDecision};
use registrar_service::Error;

use crate::support::*;

fn basic_of(body: &str) -> Option<Basic> {
    match Document::parse(body.as_bytes()).unwrap() {
        Document::Pidf(p) => p.basic(),
        other => panic!("{other:?}"),
    }
}

/// Three devices register; two publish; a watcher subscribes; a device's publication expires; the watcher
/// gets the right NOTIFYs in order, and every step is an event.
#[tokio::test]
async fn three_devices_two_publishers_one_watcher() {
    let mut h = Harness::new();
    h.register(ALICE, "desk-1", "sip:alice@192.0.2.1", 3600)
        .await;
    h.register(ALICE, "mobile-1", "sip:alice@192.0.2.2", 3600)
        .await;
    h.register(ALICE, "laptop-1", "sip:alice@192.0.2.3", 120)
        .await;
    assert_eq!(h.svc.lookup(&aor(ALICE)).await.unwrap().len(), 3);

    // Desk open for 3600 s, mobile closed for 120 s.
    h.svc
        .publish(&publish(ALICE, "desk", "open", "at my desk").expires(3600))
        .await
        .unwrap();
    h.svc
        .publish(&publish(ALICE, "mobile", "closed", "phone off").expires(120))
        .await
        .unwrap();

    let out = h
        .svc
        .subscribe(&subscribe(1, BOB, ALICE), false)
        .await
        .unwrap();
    assert_eq!(out.status, 200);
    let first = h.take_notifies();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].cseq, 1);
    assert_eq!(basic_of(first[0].body.as_ref().unwrap()), Some(Basic::Open));
    assert!(first[0].body.as_ref().unwrap().contains("at my desk"));

    // The desk goes closed: one NOTIFY with the new state.
    let desk_etag = {
        let pubs = h.svc.presence(&aor(ALICE)).await.unwrap();
        assert_eq!(pubs.document.tuples.len(), 2);
        pubs
    };
    drop(desk_etag);
    h.advance(60);
    h.svc
        .update_presence(&aor(ALICE), &closed_note(ALICE, "lunch"), 3600)
        .await
        .unwrap();
    let second = h.take_notifies();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].cseq, 2);
    assert!(second[0].body.as_ref().unwrap().contains("lunch"));

    // At 120 s the laptop's binding and the mobile's publication expire.
    h.advance(60);
    assert_eq!(h.svc.next_deadline().await, Some(T0.plus_secs(120)));
    h.svc.run_due().await;
    assert_eq!(h.svc.lookup(&aor(ALICE)).await.unwrap().len(), 2);
    let third = h.take_notifies();
    assert_eq!(third.len(), 1, "{third:?}");
    assert_eq!(third[0].cseq, 3);
    assert!(!third[0].body.as_ref().unwrap().contains("phone off"));

    // Events: every step, in order, with no gap.
    let events = h.take_events();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.event {
            RegistrarEvent::RegistrationAdded { .. } => "reg+",
            RegistrarEvent::RegistrationExpired { .. } => "reg-expired",
            RegistrarEvent::PresencePublished { .. } => "published",
            RegistrarEvent::PresenceChanged { .. } => "changed",
            RegistrarEvent::PresenceExpired { .. } => "pub-expired",
            RegistrarEvent::SubscriptionCreated { pending: false, .. } => "sub+",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "reg+",
            "reg+",
            "reg+",
            "published",
            "changed",
            "published",
            "changed",
            "sub+",
            "published",
            "changed",
            "reg-expired",
            "pub-expired",
            "changed"
        ]
    );
    assert_eq!(events[0].seq, 1);
    assert_eq!(events.last().unwrap().at, T0.plus_secs(120));
}

fn closed_note(entity: &str, note: &str) -> Presence {
    match Document::parse(&pidf(entity, "api", "closed", note)).unwrap() {
        Document::Pidf(p) => p,
        other => panic!("{other:?}"),
    }
}

/// Lookups: nobody registered is an empty list; bulk lookups keep order; users come in pages; unregister
/// removes everything and says so.
#[tokio::test]
async fn lookups_pages_and_unregister() {
    let mut h = Harness::new();
    assert!(h.svc.lookup(&aor(ALICE)).await.unwrap().is_empty());
    for i in 0..5 {
        h.register(
            &format!("sip:u{i}@example.com"),
            &format!("c{i}"),
            &format!("sip:u{i}@192.0.2.{i}"),
            600,
        )
        .await;
    }
    let many = h
        .svc
        .lookup_many(&[
            aor("sip:u3@example.com"),
            aor(ALICE),
            aor("sip:u0@example.com"),
        ])
        .await
        .unwrap();
    assert_eq!(many.iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 0, 1]);
    let p1 = h.svc.registered_users(None, 2).await.unwrap();
    assert_eq!(p1.users.len(), 2);
    let p2 = h.svc.registered_users(p1.next.as_ref(), 2).await.unwrap();
    let p3 = h.svc.registered_users(p2.next.as_ref(), 2).await.unwrap();
    assert_eq!(p3.users.len(), 1);
    assert_eq!(p3.next, None);
    h.take_events();
    let removed = h.svc.unregister(&aor("sip:u1@example.com")).await.unwrap();
    assert_eq!(removed.len(), 1);
    assert!(
        h.svc
            .lookup(&aor("sip:u1@example.com"))
            .await
            .unwrap()
            .is_empty()
    );
    let ev = h.take_events();
    assert!(matches!(
        events_only(&ev)[..],
        [RegistrarEvent::RegistrationRemoved { evicted: false, .. }]
    ));
}

/// A watcher from another domain waits; the presentity allows it: activation, a NOTIFY with the state, and
/// events for both. `watchers_of` and `watching` see it.
#[tokio::test]
async fn authorization_later_activates() {
    let mut h = Harness::new();
    let eve = "sip:eve@elsewhere.example.org";
    h.svc
        .publish(&publish(ALICE, "desk", "open", "here"))
        .await
        .unwrap();
    let out = h
        .svc
        .subscribe(&subscribe(1, eve, ALICE), false)
        .await
        .unwrap();
    assert_eq!(out.status, 202);
    let pending = h.take_notifies();
    assert_eq!(pending[0].state.to_string(), "pending;expires=600");
    assert_eq!(pending[0].body, None);
    assert_eq!(h.svc.watchers_of(&aor(ALICE)).len(), 1);
    assert_eq!(h.svc.watching(&aor(eve)).len(), 1);

    h.svc
        .authorize_watcher(&aor(ALICE), &aor(eve), WatcherDecision::Allow)
        .await
        .unwrap();
    let active = h.take_notifies();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].state.to_string(), "active;expires=600");
    assert!(active[0].body.as_ref().unwrap().contains("here"));
    let ev = h.take_events();
    let tail: Vec<&RegistrarEvent> = events_only(&ev).into_iter().rev().take(2).collect();
    assert!(matches!(
        tail[0],
        RegistrarEvent::SubscriptionActivated { .. }
    ));
    assert!(matches!(
        tail[1],
        RegistrarEvent::WatcherAuthorized { decision, .. } if decision == "allow"
    ));
    assert_eq!(
        h.svc.watcher_decision(&aor(ALICE), &aor(eve)),
        WatcherDecision::Allow
    );

    // Unsubscribe through the API: a final NOTIFY and a termination event.
    h.svc.unsubscribe(&dialog(1)).await.unwrap();
    let last = h.take_notifies();
    assert_eq!(last[0].state.to_string(), "terminated;reason=timeout");
    assert!(h.svc.watchers_of(&aor(ALICE)).is_empty());
    assert_eq!(
        h.svc
            .unsubscribe(&dialog(1))
            .await
            .unwrap_err()
            .sip_status(),
        481
    );
}

/// `reg` subscribers follow the AoR's bindings: full state, then each change, including expiry.
#[tokio::test]
async fn registration_state_subscribers() {
    let mut h = Harness::new();
    h.register(ALICE, "desk-1", "sip:alice@192.0.2.1", 600)
        .await;
    let req = SubscribeRequest::new(dialog(7), aor(ALICE), aor(ALICE))
        .event(EventPackage::Reg)
        .expires(3600);
    h.svc.subscribe(&req, false).await.unwrap();
    let full = h.take_notifies();
    assert_eq!(full[0].content_type(), Some("application/reginfo+xml"));
    assert!(full[0].body.as_ref().unwrap().contains("state=\"full\""));
    h.register(ALICE, "mobile-1", "sip:alice@192.0.2.2", 60)
        .await;
    let added = h.take_notifies();
    assert_eq!(added.len(), 1);
    assert!(added[0].body.as_ref().unwrap().contains("192.0.2.2"));
    assert!(
        added[0]
            .body
            .as_ref()
            .unwrap()
            .contains("event=\"registered\"")
    );
    h.advance(60);
    h.svc.run_due().await;
    let expired = h.take_notifies();
    assert_eq!(expired.len(), 1);
    assert!(
        expired[0]
            .body
            .as_ref()
            .unwrap()
            .contains("event=\"expired\"")
    );
}

/// Errors keep their SIP status through the service.
#[tokio::test]
async fn errors_map_to_sip_statuses() {
    let h = Harness::new();
    let e = h
        .svc
        .subscribe(
            &subscribe(1, BOB, ALICE).event(EventPackage::from_header("conference")),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Presence(_)));
    assert_eq!(e.sip_status(), 489);
    let e = h
        .svc
        .publish(&registrar_presence::PublishRequest::refresh(
            aor(ALICE),
            registrar_types::ETag::from_random(7),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.sip_status(), 412);
}
