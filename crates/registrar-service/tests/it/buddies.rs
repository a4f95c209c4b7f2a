//! Buddy lists through the service: automatic lists in B2BUA mode, resource list subscriptions.

use registrar_events::{BuddyChange, RegistrarEvent};
use registrar_presence::{Buddy, BuddyPresence};
use registrar_service::{Mode, RegistrarService};

use crate::support::*;

/// B2BUA mode pairs users of one domain on first registration, once.
#[tokio::test]
async fn automatic_lists_in_b2bua_mode() {
    let mut h = Harness::with(RegistrarService::builder().mode(Mode::B2BUA));
    h.register(ALICE, "a1", "sip:alice@192.0.2.1", 600).await;
    h.register(BOB, "b1", "sip:bob@192.0.2.2", 600).await;
    h.register(BOB, "b2", "sip:bob@192.0.2.3", 600).await;
    h.register("sip:zed@other.example.org", "z1", "sip:zed@192.0.2.9", 600)
        .await;
    let alice: Vec<String> = h
        .svc
        .buddies(&aor(ALICE))
        .iter()
        .map(|b| b.uri.to_string())
        .collect();
    assert_eq!(alice, [BOB]);
    let bob: Vec<String> = h
        .svc
        .buddies(&aor(BOB))
        .iter()
        .map(|b| b.uri.to_string())
        .collect();
    assert_eq!(bob, [ALICE]);
    let added = h
        .take_events()
        .into_iter()
        .filter(|e| {
            matches!(
                e.event,
                RegistrarEvent::BuddyListChanged {
                    change: BuddyChange::Added,
                    ..
                }
            )
        })
        .count();
    assert_eq!(added, 2);

    // P2P mode leaves lists alone.
    let p2p = Harness::new();
    p2p.register(ALICE, "a1", "sip:alice@192.0.2.1", 600).await;
    p2p.register(BOB, "b1", "sip:bob@192.0.2.2", 600).await;
    assert!(p2p.svc.buddies(&aor(ALICE)).is_empty());
}

/// A phone watches its whole list through one subscription: 421 without eventlist, full state first, then
/// the buddy that changed; list edits send full state; the bulk query agrees.
#[tokio::test]
async fn resource_list_subscription() {
    let mut h = Harness::new();
    let carol = "sip:carol@example.com";
    h.svc
        .add_buddy(&aor(ALICE), Buddy::new(aor(BOB)).named("Bob"))
        .await
        .unwrap();
    h.svc
        .add_buddy(&aor(ALICE), Buddy::new(aor(carol)))
        .await
        .unwrap();
    h.svc
        .publish(&publish(BOB, "t", "open", "bob here"))
        .await
        .unwrap();
    let list = h.svc.buddy_list_uri(&aor(ALICE)).unwrap();
    assert_eq!(list.as_str(), "sip:alice-buddies@example.com");

    let req =
        registrar_presence::SubscribeRequest::new(dialog(1), aor(ALICE), list.clone()).expires(600);
    assert_eq!(
        h.svc.subscribe(&req, false).await.unwrap_err().sip_status(),
        421
    );
    let out = h.svc.subscribe(&req, true).await.unwrap();
    assert!(out.eventlist);
    let full = h.take_notifies();
    assert_eq!(full.len(), 1);
    assert!(full[0].requires_eventlist());
    let body = full[0].body.as_ref().unwrap();
    assert!(body.contains("fullState=\"true\""));
    assert!(body.contains("bob here"));

    h.svc
        .publish(&publish(carol, "t", "open", "carol here"))
        .await
        .unwrap();
    let partial = h.take_notifies();
    assert_eq!(partial.len(), 1);
    let body = partial[0].body.as_ref().unwrap();
    assert!(body.contains("fullState=\"false\""));
    assert!(body.contains("carol here"));
    assert!(!body.contains("bob here"));

    h.svc.remove_buddy(&aor(ALICE), &aor(carol)).await.unwrap();
    let edited = h.take_notifies();
    assert!(
        edited[0]
            .body
            .as_ref()
            .unwrap()
            .contains("fullState=\"true\"")
    );
    assert!(!edited[0].body.as_ref().unwrap().contains("carol"));

    let bulk = h.svc.buddy_presence(&aor(ALICE)).await.unwrap();
    assert_eq!(bulk.len(), 1);
    assert!(matches!(&bulk[0].1, BuddyPresence::Visible(p) if p.xml.contains("bob here")));
    assert_eq!(h.svc.watching(&aor(ALICE)).len(), 1);
}
