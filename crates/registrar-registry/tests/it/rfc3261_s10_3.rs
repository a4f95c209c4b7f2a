//! RFC 3261 §10.3: processing REGISTER requests, step by step.

use registrar_registry::{ChangeKind, ContactLimitPolicy, Error, RegistrarPolicy};
use registrar_types::QValue;

use crate::support::*;

/// Step 8: a REGISTER without Contact is a query that returns the current bindings and changes nothing.
#[tokio::test]
async fn step8_query_without_contact_returns_bindings_unchanged() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(600),
    )
    .await
    .unwrap();
    h.advance(100);
    let out = h.register(&req(ALICE, "q1", 1)).await.unwrap();
    assert!(out.changes.is_empty());
    let replies: Vec<_> = out.contacts().collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(
        replies[0].expires, 500,
        "a query must not refresh the binding"
    );
}

/// A query for an AoR with nobody registered is an empty list, not an error.
#[tokio::test]
async fn query_of_unknown_aor_is_empty() {
    let h = Harness::new();
    let out = h
        .register(&req("sip:nobody@example.com", "q", 1))
        .await
        .unwrap();
    assert_eq!(out.contacts().count(), 0);
    assert!(h.contacts("sip:nobody@example.com").await.is_empty());
}

/// Step 6: `Contact: *` with `Expires: 0` removes every binding of the AoR.
#[tokio::test]
async fn step6_wildcard_removes_all_bindings() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    h.register(&req(ALICE, "c2", 1).contact(contact("sip:alice@192.0.2.2")))
        .await
        .unwrap();
    let out = h
        .register(&req(ALICE, "c3", 1).wildcard().expires(0))
        .await
        .unwrap();
    assert_eq!(out.contacts().count(), 0);
    assert_eq!(
        out.changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Removed)
            .count(),
        2
    );
    assert!(h.contacts(ALICE).await.is_empty());
}

/// Step 6: `*` is only valid with `Expires: 0`.
#[tokio::test]
async fn step6_wildcard_requires_expires_zero() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    for r in [
        req(ALICE, "c2", 1).wildcard(),
        req(ALICE, "c2", 1).wildcard().expires(60),
    ] {
        let err = h.register(&r).await.unwrap_err();
        assert!(matches!(err, Error::WildcardNeedsZeroExpires), "{err}");
        assert_eq!(err.sip_status(), 400);
    }
    assert_eq!(h.contacts(ALICE).await.len(), 1);
}

/// Step 6: `*` must be the only Contact value.
#[tokio::test]
async fn step6_wildcard_must_be_alone() {
    let h = Harness::new();
    let r = req(ALICE, "c1", 1)
        .contact(contact("sip:alice@192.0.2.1"))
        .wildcard()
        .expires(0);
    let err = h.register(&r).await.unwrap_err();
    assert!(matches!(err, Error::WildcardNotAlone));
    assert_eq!(err.sip_status(), 400);
    assert!(h.contacts(ALICE).await.is_empty());
}

/// Step 6: for a binding with the request's Call-ID, `*` removes it only with a higher CSeq; otherwise the
/// whole request fails and nothing is removed.
#[tokio::test]
async fn step6_wildcard_obeys_call_id_and_cseq() {
    let h = Harness::new();
    h.register(&req(ALICE, "same", 5).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    h.register(&req(ALICE, "other", 9).contact(contact("sip:alice@192.0.2.2")))
        .await
        .unwrap();
    for cseq in [4, 5] {
        let err = h
            .register(&req(ALICE, "same", cseq).wildcard().expires(0))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::StaleCSeq { .. }), "cseq {cseq}: {err}");
        assert_eq!(
            h.contacts(ALICE).await.len(),
            2,
            "nothing removed at cseq {cseq}"
        );
    }
    // A different Call-ID removes regardless of CSeq.
    h.register(&req(ALICE, "same", 6).wildcard().expires(0))
        .await
        .unwrap();
    assert!(h.contacts(ALICE).await.is_empty());
}

/// Step 7: expiry comes from the Contact's `expires`, then the Expires header, then the default.
#[tokio::test]
async fn step7_expiry_precedence() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1").expires(120))
                .contact(contact("sip:alice@192.0.2.2"))
                .expires(300),
        )
        .await
        .unwrap();
    let mut got: Vec<(String, u64)> = out
        .contacts()
        .map(|c| (c.binding.contact.to_string(), c.expires))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("sip:alice@192.0.2.1".into(), 120),
            ("sip:alice@192.0.2.2".into(), 300)
        ]
    );
    let out = h
        .register(&req("sip:bob@example.com", "c2", 1).contact(contact("sip:bob@192.0.2.3")))
        .await
        .unwrap();
    assert_eq!(
        out.contacts().next().unwrap().expires,
        3600,
        "default_expires"
    );
}

/// Step 7: a non-zero expiry below the minimum fails with 423 and the minimum; zero and the minimum itself
/// are accepted.
#[tokio::test]
async fn step7_interval_too_brief() {
    let h = Harness::new();
    let err = h
        .register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1").expires(59)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IntervalTooBrief { min: 60 }));
    assert_eq!(err.sip_status(), 423);
    let err = h
        .register(
            &req(ALICE, "c1", 2)
                .contact(contact("sip:alice@192.0.2.1"))
                .expires(1),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IntervalTooBrief { min: 60 }));
    assert!(h.contacts(ALICE).await.is_empty());
    h.register(&req(ALICE, "c1", 3).contact(contact("sip:alice@192.0.2.1").expires(60)))
        .await
        .unwrap();
    h.register(&req(ALICE, "c1", 4).contact(contact("sip:alice@192.0.2.9").expires(0)))
        .await
        .unwrap();
    assert_eq!(h.contacts(ALICE).await.len(), 1);
}

/// Step 7: an expiry above the maximum is lowered to it.
#[tokio::test]
async fn step7_expiry_capped_at_maximum() {
    let mut p = RegistrarPolicy::default();
    p.max_expires = 7200;
    let h = Harness::with_policy(p);
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1"))
                .expires(100_000),
        )
        .await
        .unwrap();
    assert_eq!(out.contacts().next().unwrap().expires, 7200);
}

/// Step 7: an existing binding is found by RFC 3261 §19.1.4 URI equality, not by text.
#[tokio::test]
async fn step7_binding_found_by_uri_equality() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:%61lice@PC33.Example.com;transport=UDP")))
        .await
        .unwrap();
    let out = h
        .register(&req(ALICE, "c1", 2).contact(contact("sip:alice@pc33.example.com;Transport=udp")))
        .await
        .unwrap();
    assert_eq!(out.contacts().count(), 1);
    assert_eq!(out.changes[0].kind, ChangeKind::Refreshed);
}

/// Step 7: a different Call-ID replaces the binding.
#[tokio::test]
async fn step7_different_call_id_updates_binding() {
    let h = Harness::new();
    h.register(&req(ALICE, "boot-1", 50).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    // After a reboot the phone starts a new Call-ID with a low CSeq: that must still update.
    let out = h
        .register(&req(ALICE, "boot-2", 1).contact(contact("sip:alice@192.0.2.1").expires(90)))
        .await
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].kind, ChangeKind::Updated);
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    assert_eq!(b.call_id.as_str(), "boot-2");
    assert_eq!(b.cseq.value(), 1);
    assert_eq!(b.expires_in(h.now()), 90);
}

/// Step 7: with the same Call-ID, a higher CSeq refreshes; equal or lower fails and changes nothing.
#[tokio::test]
async fn step7_same_call_id_needs_higher_cseq() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 10).contact(contact("sip:alice@192.0.2.1").expires(100)))
        .await
        .unwrap();
    for cseq in [10, 9, 1] {
        let err = h
            .register(&req(ALICE, "c1", cseq).contact(contact("sip:alice@192.0.2.1").expires(900)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::StaleCSeq { stored, got } if stored.value() == 10 && got.value() == cseq),
            "{err}"
        );
        assert_eq!(err.sip_status(), 500);
    }
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    assert_eq!(
        b.expires_in(h.now()),
        100,
        "a failed request changes nothing"
    );
    let out = h
        .register(&req(ALICE, "c1", 11).contact(contact("sip:alice@192.0.2.1").expires(900)))
        .await
        .unwrap();
    assert_eq!(out.changes[0].kind, ChangeKind::Refreshed);
    assert_eq!(out.contacts().next().unwrap().expires, 900);
}

/// Step 7: one stale contact fails the whole request: the other contacts are not added either.
#[tokio::test]
async fn step7_request_is_all_or_nothing() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 10).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    let err = h
        .register(
            &req(ALICE, "c1", 10)
                .contact(contact("sip:alice@192.0.2.2"))
                .contact(contact("sip:alice@192.0.2.1")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StaleCSeq { .. }));
    assert_eq!(h.contacts(ALICE).await, ["sip:alice@192.0.2.1"]);
    // Same for a contact whose expiry is too brief after a valid one.
    let err = h
        .register(
            &req(ALICE, "c2", 1)
                .contact(contact("sip:alice@192.0.2.3"))
                .contact(contact("sip:alice@192.0.2.4").expires(5)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IntervalTooBrief { .. }));
    assert_eq!(h.contacts(ALICE).await, ["sip:alice@192.0.2.1"]);
}

/// Step 7: `expires=0` removes one binding; for an unknown contact it does nothing.
#[tokio::test]
async fn step7_expires_zero_removes_one_binding() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .contact(contact("sip:alice@192.0.2.2")),
    )
    .await
    .unwrap();
    let out = h
        .register(&req(ALICE, "c1", 2).contact(contact("sip:alice@192.0.2.1").expires(0)))
        .await
        .unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].kind, ChangeKind::Removed);
    assert_eq!(h.contacts(ALICE).await, ["sip:alice@192.0.2.2"]);
    let out = h
        .register(
            &req(ALICE, "c1", 3)
                .contact(contact("sip:alice@192.0.2.77"))
                .expires(0),
        )
        .await
        .unwrap();
    assert!(out.changes.is_empty());
    assert_eq!(h.contacts(ALICE).await.len(), 1);
}

/// The same contact twice in one request is refused.
#[tokio::test]
async fn duplicate_contact_in_one_request_is_refused() {
    let h = Harness::new();
    let err = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1"))
                .contact(contact("sip:alice@192.0.2.1;lr")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DuplicateContact { .. }));
    assert_eq!(err.sip_status(), 400);
}

/// An expired binding that was not swept yet counts as absent: no CSeq conflict with it.
#[tokio::test]
async fn expired_binding_is_absent() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 10).contact(contact("sip:alice@192.0.2.1").expires(60)))
        .await
        .unwrap();
    h.advance(61);
    let out = h
        .register(&req(ALICE, "c1", 3).contact(contact("sip:alice@192.0.2.1").expires(60)))
        .await
        .unwrap();
    let kinds: Vec<_> = out.changes.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ChangeKind::Expired, ChangeKind::Added]);
}

/// Step 8: the 200 OK lists every current binding with its remaining expiry.
#[tokio::test]
async fn step8_outcome_lists_all_bindings_with_remaining_expiry() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(600),
    )
    .await
    .unwrap();
    h.advance(200);
    let out = h
        .register(
            &req(ALICE, "c2", 1)
                .contact(contact("sip:alice@192.0.2.2"))
                .expires(300),
        )
        .await
        .unwrap();
    let mut got: Vec<(String, u64)> = out
        .contacts()
        .map(|c| (c.binding.contact.to_string(), c.expires))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("sip:alice@192.0.2.1".into(), 400),
            ("sip:alice@192.0.2.2".into(), 300)
        ]
    );
}

/// The contact limit with the reject policy: 503 and nothing changes.
#[tokio::test]
async fn contact_limit_reject() {
    let mut p = RegistrarPolicy::default();
    p.max_contacts = 2;
    let h = Harness::with_policy(p);
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    h.register(&req(ALICE, "c2", 1).contact(contact("sip:alice@192.0.2.2")))
        .await
        .unwrap();
    let err = h
        .register(&req(ALICE, "c3", 1).contact(contact("sip:alice@192.0.2.3")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyContacts { max: 2 }));
    assert_eq!(err.sip_status(), 503);
    assert_eq!(h.contacts(ALICE).await.len(), 2);
    // Refreshing an existing one is still fine at the limit.
    h.register(&req(ALICE, "c1", 2).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
}

/// The contact limit with the evict-oldest policy: the binding registered longest ago goes.
#[tokio::test]
async fn contact_limit_evict_oldest() {
    let mut p = RegistrarPolicy::default();
    p.max_contacts = 2;
    p.contact_limit = ContactLimitPolicy::EvictOldest;
    let h = Harness::with_policy(p);
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    h.advance(1);
    h.register(&req(ALICE, "c2", 1).contact(contact("sip:alice@192.0.2.2")))
        .await
        .unwrap();
    h.advance(1);
    let out = h
        .register(&req(ALICE, "c3", 1).contact(contact("sip:alice@192.0.2.3")))
        .await
        .unwrap();
    let evicted: Vec<_> = out
        .changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Evicted)
        .map(|c| c.binding.contact.to_string())
        .collect();
    assert_eq!(evicted, ["sip:alice@192.0.2.1"]);
    let mut now = h.contacts(ALICE).await;
    now.sort();
    assert_eq!(now, ["sip:alice@192.0.2.2", "sip:alice@192.0.2.3"]);
    // A request that alone exceeds the limit cannot be satisfied by evicting.
    let err = h
        .register(
            &req(ALICE, "c4", 1)
                .contact(contact("sip:alice@192.0.2.4"))
                .contact(contact("sip:alice@192.0.2.5"))
                .contact(contact("sip:alice@192.0.2.6")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyContacts { .. }));
}

/// Lookup: highest q first, then most recently refreshed.
#[tokio::test]
async fn lookup_orders_by_q_then_recency() {
    let h = Harness::new();
    let q = |t| QValue::from_thousandths(t).unwrap();
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1").q(q(500))))
        .await
        .unwrap();
    h.advance(1);
    h.register(&req(ALICE, "c2", 1).contact(contact("sip:alice@192.0.2.2").q(q(500))))
        .await
        .unwrap();
    h.advance(1);
    h.register(&req(ALICE, "c3", 1).contact(contact("sip:alice@192.0.2.3").q(q(900))))
        .await
        .unwrap();
    h.advance(1);
    h.register(&req(ALICE, "c4", 1).contact(contact("sip:alice@192.0.2.4").q(q(100))))
        .await
        .unwrap();
    assert_eq!(
        h.contacts(ALICE).await,
        [
            "sip:alice@192.0.2.3",
            "sip:alice@192.0.2.2",
            "sip:alice@192.0.2.1",
            "sip:alice@192.0.2.4"
        ]
    );
    // Refreshing the older q=0.5 contact moves it ahead of the other.
    h.advance(1);
    h.register(&req(ALICE, "c1", 2).contact(contact("sip:alice@192.0.2.1").q(q(500))))
        .await
        .unwrap();
    assert_eq!(h.contacts(ALICE).await[1], "sip:alice@192.0.2.1");
}

/// The AoR is the canonical form of the To URI: parameters dropped, host case folded, sips = sip.
#[tokio::test]
async fn aor_canonical_form_finds_same_user() {
    let h = Harness::new();
    h.register(
        &req("sips:alice@EXAMPLE.com;user=phone", "c1", 1).contact(contact("sip:alice@192.0.2.1")),
    )
    .await
    .unwrap();
    assert_eq!(h.contacts("sip:alice@example.com").await.len(), 1);
    assert!(
        h.contacts("sip:Alice@example.com").await.is_empty(),
        "user part is case-sensitive"
    );
}

/// An operator's removal takes everything and reports what was live.
#[tokio::test]
async fn remove_all_clears_aor() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    let gone = h.registry.remove_all(&aor(ALICE), h.now()).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert!(h.contacts(ALICE).await.is_empty());
    assert_eq!(
        h.registry
            .remove_all(&aor(ALICE), h.now())
            .await
            .unwrap()
            .len(),
        0
    );
}

/// The policy is checked when the registry is built.
#[test]
fn inconsistent_policy_is_refused() {
    let mut p = RegistrarPolicy::default();
    p.min_expires = 4000;
    assert!(
        registrar_registry::Registry::new(registrar_registry::MemoryLocationStore::new(), p)
            .is_err()
    );
    let mut p = RegistrarPolicy::default();
    p.max_contacts = 0;
    assert!(p.validate().is_err());
}
