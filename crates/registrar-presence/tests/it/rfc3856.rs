//! RFC 6665 / RFC 3856: subscriptions to presence, watcher authorization, NOTIFY intents.

use std::sync::Arc;

use registrar_pidf::{Basic, Presence};
use registrar_presence::{
    DefaultWatcherPolicy, DialogId, Error, EventPackage, PublishRequest, Reason, SubState,
    SubscribeRequest, SubscriptionPolicy, Subscriptions, WatcherDecision,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";

fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("call-{n}").parse().unwrap(),
        &format!("from-{n}"),
        &format!("to-{n}"),
    )
}

fn subs() -> Subscriptions {
    Subscriptions::new(SubscriptionPolicy::default()).unwrap()
}

fn doc(basic: &str) -> Arc<str> {
    Arc::from(String::from_utf8(pidf("t", basic)).unwrap())
}

/// §4.2.1.1: an accepted SUBSCRIBE gets 200 and an immediate NOTIFY with the full state.
#[test]
fn initial_subscribe_is_active_with_full_state() {
    let s = subs();
    let open = doc("open");
    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).expires(600),
            &open,
        )
        .unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(out.expires, 600);
    assert_eq!(out.notify.state.to_string(), "active;expires=600");
    assert!(Arc::ptr_eq(out.notify.body.as_ref().unwrap(), &open));
    assert_eq!(out.notify.content_type(), Some("application/pidf+xml"));
    assert_eq!(out.notify.cseq, 1);
    assert_eq!(out.notify.event, EventPackage::Presence);
    assert_eq!(s.watchers_of(&aor(ALICE), T0).len(), 1);
}

/// A watcher from another domain waits for a decision: 202, a NOTIFY without presence.
#[test]
fn foreign_watcher_is_pending_without_state() {
    let s = subs();
    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(1), aor(EVE), aor(ALICE)),
            &doc("open"),
        )
        .unwrap();
    assert_eq!(out.status, 202);
    assert_eq!(out.notify.state.to_string(), "pending;expires=3600");
    assert!(out.notify.body.is_none());
    assert_eq!(out.notify.content_type(), None);
}

/// §4.2.1.2: a refresh extends the subscription and sends the full state again, next CSeq.
#[test]
fn refresh_extends_and_notifies() {
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).expires(600),
        &doc("open"),
    )
    .unwrap();
    let later = T0.plus_secs(300);
    let out = s
        .subscribe(
            later,
            &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE))
                .expires(600)
                .in_dialog(),
            &doc("closed"),
        )
        .unwrap();
    assert_eq!(out.notify.cseq, 2);
    assert_eq!(out.notify.state.to_string(), "active;expires=600");
    assert_eq!(
        s.watchers_of(&aor(ALICE), later)[0].expires_at,
        later.plus_secs(600)
    );
    assert_eq!(
        s.watchers_of(&aor(ALICE), later).len(),
        1,
        "a refresh is not a second subscription"
    );
}

/// §4.2.1.4: `Expires: 0` ends the subscription with a final NOTIFY `terminated`.
#[test]
fn unsubscribe_sends_final_notify() {
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)),
        &doc("open"),
    )
    .unwrap();
    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE))
                .expires(0)
                .in_dialog(),
            &doc("open"),
        )
        .unwrap();
    assert_eq!(out.notify.state.to_string(), "terminated;reason=timeout");
    assert_eq!(out.notify.cseq, 2);
    assert!(out.subscription.is_none());
    assert!(s.watchers_of(&aor(ALICE), T0).is_empty());
    // A refresh of the ended subscription names a dialog that is gone: 481.
    let err = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).in_dialog(),
            &doc("open"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::NoSuchSubscription));
    assert_eq!(err.sip_status(), 481);
}

/// 489 for another package, 423 below the minimum, 503 past the per-watcher limit.
#[test]
fn request_errors() {
    let s = subs();
    let req = SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE))
        .event(EventPackage::from_header("dialog"));
    assert_eq!(
        s.subscribe(T0, &req, &doc("open"))
            .unwrap_err()
            .sip_status(),
        489
    );
    let req = SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).expires(10);
    assert_eq!(
        s.subscribe(T0, &req, &doc("open"))
            .unwrap_err()
            .sip_status(),
        423
    );
    let mut policy = SubscriptionPolicy::default();
    policy.max_per_watcher = 2;
    let s = Subscriptions::new(policy).unwrap();
    for n in 0..2 {
        s.subscribe(
            T0,
            &SubscribeRequest::new(dialog(n), aor(BOB), aor(&format!("sip:u{n}@example.com"))),
            &doc("open"),
        )
        .unwrap();
    }
    let err = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(9), aor(BOB), aor(ALICE)),
            &doc("open"),
        )
        .unwrap_err();
    assert_eq!(err.sip_status(), 503);
}

/// A change of presence notifies every active, allowed watcher with one shared body, and nobody else.
#[tokio::test]
async fn publish_fans_out_one_shared_body() {
    let p = presences();
    let s = subs();
    let now = T0;
    let initial = p.presence(&aor(ALICE), now).await.unwrap();
    for n in 0..3 {
        s.subscribe(
            now,
            &SubscribeRequest::new(dialog(n), aor(&format!("sip:w{n}@example.com")), aor(ALICE)),
            &initial.xml,
        )
        .unwrap();
    }
    s.subscribe(
        now,
        &SubscribeRequest::new(dialog(10), aor(EVE), aor(ALICE)),
        &initial.xml,
    )
    .unwrap();
    let r = p
        .publish(
            now,
            &PublishRequest::initial(aor(ALICE), &pidf("desk", "open")),
        )
        .await
        .unwrap();
    let composed = r.changed.unwrap();
    let intents = s.notify_change(&aor(ALICE), &composed.xml, now);
    assert_eq!(intents.len(), 3, "the pending watcher is not told");
    for i in &intents {
        assert!(
            Arc::ptr_eq(i.body.as_ref().unwrap(), &composed.xml),
            "one body for every watcher"
        );
        assert_eq!(i.cseq, 2);
        assert!(i.state.to_string().starts_with("active;expires="));
    }
    assert!(
        s.notify_change(&aor("sip:nobody@example.com"), &composed.xml, now)
            .is_empty()
    );
}

/// Block: refused with 403; a later block ends a pending subscription with `reason=rejected`.
#[test]
fn blocked_watchers() {
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(EVE), aor(ALICE)),
        &doc("open"),
    )
    .unwrap();
    let out = s.authorize_watcher(
        &aor(ALICE),
        &aor(EVE),
        WatcherDecision::Block,
        &doc("open"),
        T0,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state.state, SubState::Terminated(Reason::Rejected));
    assert!(
        out[0].body.is_none(),
        "a blocked watcher never receives state"
    );
    assert!(s.watchers_of(&aor(ALICE), T0).is_empty());
    let err = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(2), aor(EVE), aor(ALICE)),
            &doc("open"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden));
    assert_eq!(err.sip_status(), 403);
}

/// Polite block: the subscription looks active, the watcher only ever sees `closed`, never the real state.
#[test]
fn politely_blocked_watcher_sees_closed_only() {
    let s = subs();
    s.authorize_watcher(
        &aor(ALICE),
        &aor(EVE),
        WatcherDecision::PoliteBlock,
        &doc("open"),
        T0,
    );
    let real = doc("open");
    let out = s
        .subscribe(
            T0,
            &SubscribeRequest::new(dialog(1), aor(EVE), aor(ALICE)),
            &real,
        )
        .unwrap();
    assert_eq!(out.status, 200);
    let body = out.notify.body.unwrap();
    assert!(!Arc::ptr_eq(&body, &real));
    let shown = Presence::parse(body.as_bytes()).unwrap();
    assert_eq!(shown.basic(), Some(Basic::Closed));
    assert_eq!(shown.entity, ALICE);
    assert!(
        s.notify_change(&aor(ALICE), &real, T0).is_empty(),
        "changes are not sent to a polite-blocked watcher"
    );
}

/// Confirm, then allow: the pending subscription becomes active with a NOTIFY carrying the state.
#[test]
fn decision_activates_pending_subscription() {
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(EVE), aor(ALICE)),
        &doc("open"),
    )
    .unwrap();
    let open = doc("open");
    let out = s.authorize_watcher(
        &aor(ALICE),
        &aor(EVE),
        WatcherDecision::Allow,
        &open,
        T0.plus_secs(10),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state.to_string(), "active;expires=3590");
    assert!(Arc::ptr_eq(out[0].body.as_ref().unwrap(), &open));
    assert_eq!(out[0].cseq, 2);
    assert_eq!(
        s.notify_change(&aor(ALICE), &open, T0.plus_secs(10)).len(),
        1
    );
    assert_eq!(s.decision(&aor(ALICE), &aor(EVE)), WatcherDecision::Allow);
}

/// Expiry ends the subscription with `terminated;reason=timeout` and no body.
#[test]
fn expiry_sends_timeout() {
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).expires(60),
        &doc("open"),
    )
    .unwrap();
    assert_eq!(s.next_expiry(), Some(T0.plus_secs(60)));
    assert!(s.expire(T0.plus_secs(59)).is_empty());
    let out = s.expire(T0.plus_secs(60));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].state.to_string(), "terminated;reason=timeout");
    assert!(out[0].body.is_none());
    assert!(s.watchers_of(&aor(ALICE), T0.plus_secs(60)).is_empty());
}

/// The default policy: same domain allowed, others confirmed, a user always sees themselves.
#[test]
fn default_watcher_policy() {
    let d = DefaultWatcherPolicy::SameDomainElseConfirm;
    assert_eq!(d.decide(&aor(BOB), &aor(ALICE)), WatcherDecision::Allow);
    assert_eq!(d.decide(&aor(EVE), &aor(ALICE)), WatcherDecision::Confirm);
    assert_eq!(
        DefaultWatcherPolicy::Block.decide(&aor(ALICE), &aor(ALICE)),
        WatcherDecision::Allow
    );
    assert_eq!(
        DefaultWatcherPolicy::Block.decide(&aor(BOB), &aor(ALICE)),
        WatcherDecision::Block
    );
}

/// Rate control: changes faster than the minimum interval are coalesced; the newest state is sent when the
/// interval ends, nothing is lost.
#[test]
fn notifications_are_coalesced_newest_state_wins() {
    let mut policy = SubscriptionPolicy::default();
    policy.min_notify_interval_ms = 5_000;
    let s = Subscriptions::new(policy).unwrap();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)),
        &doc("closed"),
    )
    .unwrap();
    let t = |ms: u64| registrar_types::Timestamp::from_millis(T0.as_millis() + ms);
    assert!(
        s.notify_change(&aor(ALICE), &doc("open"), t(1_000))
            .is_empty(),
        "too soon: deferred"
    );
    assert!(
        s.notify_change(&aor(ALICE), &doc("closed"), t(2_000))
            .is_empty()
    );
    assert_eq!(s.next_flush(), Some(t(5_000)));
    let newest = doc("open");
    let current = |_: &registrar_types::Aor| Arc::clone(&newest);
    assert!(s.flush_deferred(t(4_999), &current).is_empty());
    let sent = s.flush_deferred(t(5_000), &current);
    assert_eq!(sent.len(), 1, "one NOTIFY for both changes");
    assert!(
        Arc::ptr_eq(sent[0].body.as_ref().unwrap(), &newest),
        "with the newest state"
    );
    assert_eq!(sent[0].cseq, 2);
    assert!(
        s.flush_deferred(t(10_000), &current).is_empty(),
        "nothing left"
    );
    assert_eq!(
        s.notify_change(&aor(ALICE), &doc("closed"), t(20_000))
            .len(),
        1,
        "after the interval: at once"
    );
    // Without rate control every change is sent.
    let s = subs();
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)),
        &doc("closed"),
    )
    .unwrap();
    assert_eq!(s.notify_change(&aor(ALICE), &doc("open"), T0).len(), 1);
    assert_eq!(s.notify_change(&aor(ALICE), &doc("closed"), T0).len(), 1);
}
