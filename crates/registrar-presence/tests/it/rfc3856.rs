//! RFC 3856: subscriptions to presence — watcher authorization, fan-out of one shared body.

use std::sync::Arc;

use registrar_pidf::{Basic, Presence};
use registrar_presence::{
    DefaultWatcherPolicy, Error, PublishRequest, Reason, SubState, SubscribeRequest,
    WatcherDecision,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";

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
