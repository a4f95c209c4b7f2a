//! RFC 6665: the life of a subscription — SUBSCRIBE, refresh, unsubscribe, expiry, errors, rate control —
//! shown with the `presence` package.

use std::sync::Arc;

use registrar_presence::{
    Error, EventPackage, SubscribeRequest, SubscriptionPolicy, Subscriptions,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";

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
        .event(EventPackage::from_header("conference"));
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
    // §4.2.1: a subscriber that accepts none of the package's body types gets 406; no Accept, `*/*` and
    // `application/*` accept the default type.
    let req = SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE))
        .accept("text/plain, application/cpim-pidf+xml");
    assert_eq!(
        s.subscribe(T0, &req, &doc("open"))
            .unwrap_err()
            .sip_status(),
        406
    );
    for (n, accept) in [
        (20, "*/*"),
        (21, "application/*;q=0.5"),
        (22, "Application/PIDF+XML;charset=utf-8"),
    ] {
        let req = SubscribeRequest::new(dialog(n), aor(BOB), aor(ALICE)).accept(accept);
        let out = s.subscribe(T0, &req, &doc("open")).unwrap();
        assert_eq!(out.subscription.unwrap().accept.len(), 1, "{accept}");
    }
    let winfo = SubscribeRequest::new(dialog(23), aor(ALICE), aor(ALICE))
        .event(EventPackage::PresenceWinfo)
        .accept("application/pidf+xml");
    assert_eq!(
        s.subscribe(T0, &winfo, &doc("open"))
            .unwrap_err()
            .sip_status(),
        406
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
