//! RFC 3857 / RFC 3858: a presentity watches its own watcher list through `presence.winfo`.

use std::sync::Arc;

use registrar_pidf::{DocState, Document, WatcherEvent, WatcherInfo, WatcherStatus};
use registrar_presence::{
    EventPackage, NotifyIntent, SubscribeRequest, SubscriptionPolicy, Subscriptions,
    WatcherDecision,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";

fn doc() -> Arc<str> {
    Arc::from(String::from_utf8(pidf("t", "open")).unwrap())
}

fn winfo(n: &NotifyIntent) -> WatcherInfo {
    assert_eq!(n.content_type(), Some("application/watcherinfo+xml"));
    match Document::parse(n.body.as_ref().unwrap().as_bytes()).unwrap() {
        Document::WatcherInfo(w) => w,
        other => panic!("{}", other.kind()),
    }
}

fn winfo_subscribe(
    s: &Subscriptions,
    n: u32,
    who: &str,
) -> Result<registrar_presence::SubscribeOutcome, registrar_presence::Error> {
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(n), aor(who), aor(ALICE)).event(EventPackage::PresenceWinfo),
        &doc(),
    )
}

/// §3: the presentity gets the full watcher list at once, version 0.
#[test]
fn full_list_on_subscribe() {
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)),
        &doc(),
    )
    .unwrap();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(2), aor(EVE), aor(ALICE)),
        &doc(),
    )
    .unwrap();
    let out = winfo_subscribe(&s, 10, ALICE).unwrap();
    assert_eq!(out.status, 200);
    let w = winfo(&out.notify);
    assert_eq!(w.version, "0");
    assert_eq!(w.state, DocState::Full);
    assert_eq!(w.lists[0].resource, ALICE);
    assert_eq!(w.lists[0].package, "presence");
    let mut seen: Vec<_> = w.lists[0]
        .watchers
        .iter()
        .map(|x| (x.uri.as_str(), x.status, x.event))
        .collect();
    seen.sort_by_key(|x| x.0);
    assert_eq!(
        seen,
        [
            (BOB, WatcherStatus::Active, WatcherEvent::Approved),
            (EVE, WatcherStatus::Pending, WatcherEvent::Subscribe)
        ]
    );
}

/// Only the presentity sees who watches it.
#[test]
fn others_cannot_see_the_watcher_list() {
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    assert_eq!(winfo_subscribe(&s, 10, BOB).unwrap_err().sip_status(), 403);
}

/// §5: watchers coming, being approved, leaving and expiring produce partial documents with rising versions.
#[test]
fn partial_updates_follow_every_watcher_change() {
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    winfo_subscribe(&s, 10, ALICE).unwrap();

    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(2), aor(EVE), aor(ALICE)),
            &doc(),
        )
        .unwrap();
    assert_eq!(out.also_notify.len(), 1);
    let w = winfo(&out.also_notify[0]);
    assert_eq!((w.version.as_str(), w.state), ("1", DocState::Partial));
    assert_eq!(w.lists[0].watchers[0].status, WatcherStatus::Pending);
    assert_eq!(w.lists[0].watchers[0].uri, EVE);
    assert_eq!(out.also_notify[0].presentity, aor(ALICE));
    assert_eq!(
        out.also_notify[0].watcher,
        aor(ALICE),
        "sent to the presentity's own subscription"
    );

    let out = s.authorize_watcher(&aor(ALICE), &aor(EVE), WatcherDecision::Allow, &doc(), T0);
    let update = out
        .iter()
        .find(|n| n.event == EventPackage::PresenceWinfo)
        .unwrap();
    let w = winfo(update);
    assert_eq!(w.version, "2");
    assert_eq!(
        (w.lists[0].watchers[0].status, w.lists[0].watchers[0].event),
        (WatcherStatus::Active, WatcherEvent::Approved)
    );

    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(2), aor(EVE), aor(ALICE))
                .expires(0)
                .in_dialog(),
            &doc(),
        )
        .unwrap();
    let w = winfo(&out.also_notify[0]);
    assert_eq!(w.version, "3");
    assert_eq!(
        (w.lists[0].watchers[0].status, w.lists[0].watchers[0].event),
        (WatcherStatus::Terminated, WatcherEvent::Timeout)
    );

    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(3), aor(BOB), aor(ALICE)).expires(60),
        &doc(),
    )
    .unwrap();
    let out = s.expire(T0.plus_secs(60));
    let update = out
        .iter()
        .find(|n| n.event == EventPackage::PresenceWinfo)
        .unwrap();
    let w = winfo(update);
    assert_eq!(w.version, "5");
    assert_eq!(w.lists[0].watchers[0].uri, BOB);
    assert_eq!(w.lists[0].watchers[0].event, WatcherEvent::Timeout);
}

/// A blocked watcher appears as rejected; presence changes never reach the watcher-list subscription.
#[test]
fn rejection_is_reported_and_presence_changes_are_not() {
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    winfo_subscribe(&s, 10, ALICE).unwrap();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(2), aor(EVE), aor(ALICE)),
        &doc(),
    )
    .unwrap();
    let out = s.authorize_watcher(&aor(ALICE), &aor(EVE), WatcherDecision::Block, &doc(), T0);
    let update = out
        .iter()
        .find(|n| n.event == EventPackage::PresenceWinfo)
        .unwrap();
    assert_eq!(
        winfo(update).lists[0].watchers[0].event,
        WatcherEvent::Rejected
    );
    assert!(
        s.notify_change(&aor(ALICE), &doc(), T0).is_empty(),
        "no presence watcher left, and winfo is not presence"
    );
}
