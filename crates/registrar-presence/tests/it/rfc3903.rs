//! RFC 3903 §6: processing PUBLISH requests.

use registrar_pidf::Basic;
use registrar_presence::{Error, EventPackage, PresencePolicy, PublishKind, PublishRequest};

use crate::support::*;

/// Step 5: an initial PUBLISH creates a publication with a new entity-tag and the expiry granted.
#[tokio::test]
async fn initial_publish_creates_with_new_etag() {
    let p = presences();
    let r = p
        .publish_with_etag(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(600),
            tag(1),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.kind, PublishKind::Created);
    assert_eq!(r.outcome.etag, Some(tag(1)));
    assert_eq!(r.outcome.expires, 600);
    let composed = r.changed.unwrap();
    assert_eq!(composed.document.basic(), Some(Basic::Open));
    assert_eq!(composed.document.entity, ALICE);
}

/// Entity-tags we generate are distinct every time.
#[tokio::test]
async fn generated_etags_are_unique() {
    let p = presences();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..100 {
        let r = p
            .publish(T0, &PublishRequest::initial(aor(ALICE), &pidf("t", "open")))
            .await;
        let etag = match r {
            Ok(r) => r.outcome.etag.unwrap(),
            Err(Error::TooManyPublications { .. }) => break,
            Err(e) => panic!("{e}"),
        };
        assert!(seen.insert(etag.as_str().to_owned()));
        assert_eq!(etag.as_str().len(), 32);
    }
}

/// Step 5: an initial PUBLISH needs a body.
#[tokio::test]
async fn initial_publish_without_body_is_400() {
    let p = presences();
    let mut req = PublishRequest::initial(aor(ALICE), &[]);
    req.body = None;
    let err = p.publish(T0, &req).await.unwrap_err();
    assert!(matches!(err, Error::MissingBody));
    assert_eq!(err.sip_status(), 400);
}

/// Step 4: a refresh gets a new entity-tag and expiry, keeps the document, and changes nothing watchers see.
#[tokio::test]
async fn refresh_issues_new_etag_and_expiry() {
    let p = presences();
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(100),
        tag(1),
    )
    .await
    .unwrap();
    let before = p.presence(&aor(ALICE), T0).await.unwrap();
    let later = T0.plus_secs(50);
    let r = p
        .publish_with_etag(
            later,
            &PublishRequest::refresh(aor(ALICE), tag(1)).expires(300),
            tag(2),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.kind, PublishKind::Refreshed);
    assert_eq!(r.outcome.etag, Some(tag(2)));
    assert!(
        r.changed.is_none(),
        "a refresh does not change the composed state"
    );
    let after = p.presence(&aor(ALICE), later).await.unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&before, &after),
        "the cached document is not rebuilt"
    );
    let pubs = p.publications(&aor(ALICE), later).await.unwrap();
    assert_eq!(pubs[0].expires_at, later.plus_secs(300));
    // The old entity-tag is no longer valid.
    let err = p
        .publish(later, &PublishRequest::refresh(aor(ALICE), tag(1)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownETag(_)));
}

/// Step 4: an unknown or expired entity-tag is 412, and nothing changes.
#[tokio::test]
async fn unknown_or_expired_etag_is_412() {
    let p = presences();
    let err = p
        .publish(T0, &PublishRequest::refresh(aor(ALICE), tag(99)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownETag(_)));
    assert_eq!(err.sip_status(), 412);
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(60),
        tag(1),
    )
    .await
    .unwrap();
    let err = p
        .publish(
            T0.plus_secs(60),
            &PublishRequest::refresh(aor(ALICE), tag(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 412, "expired at exactly its expiry");
    // A removal that comes back at once does not resurrect it (Kamailio does; we follow the RFC).
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t2", "open")),
        tag(5),
    )
    .await
    .unwrap();
    p.publish(T0, &PublishRequest::remove(aor(ALICE), tag(5)))
        .await
        .unwrap();
    let err = p
        .publish(T0, &PublishRequest::refresh(aor(ALICE), tag(5)))
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 412);
}

/// A modification replaces the document and changes the composed state.
#[tokio::test]
async fn modify_replaces_document() {
    let p = presences();
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")),
        tag(1),
    )
    .await
    .unwrap();
    let r = p
        .publish_with_etag(
            T0.plus_secs(1),
            &PublishRequest::modify(aor(ALICE), tag(1), &pidf("t1", "closed")),
            tag(2),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.kind, PublishKind::Modified);
    assert_eq!(r.changed.unwrap().document.basic(), Some(Basic::Closed));
    assert_eq!(p.publications(&aor(ALICE), T0).await.unwrap().len(), 1);
}

/// `Expires: 0` removes the publication; without SIP-If-Match it is a 400.
#[tokio::test]
async fn remove_with_expires_zero() {
    let p = presences();
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")),
        tag(1),
    )
    .await
    .unwrap();
    let r = p
        .publish(T0, &PublishRequest::remove(aor(ALICE), tag(1)))
        .await
        .unwrap();
    assert_eq!(r.outcome.kind, PublishKind::Removed);
    assert_eq!(r.outcome.etag, None);
    assert_eq!(r.outcome.expires, 0);
    assert!(r.changed.unwrap().document.tuples.is_empty());
    let err = p
        .publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(0),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::RemoveWithoutETag));
    assert_eq!(err.sip_status(), 400);
}

/// Step 3: an expiry below the minimum is 423; above the maximum it is lowered.
#[tokio::test]
async fn expiry_limits() {
    let p = presences();
    let err = p
        .publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(59),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IntervalTooBrief { min: 60 }));
    assert_eq!(err.sip_status(), 423);
    let r = p
        .publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t1", "open")).expires(1_000_000),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.expires, 86_400);
    let r = p
        .publish(
            T0,
            &PublishRequest::initial(aor("sip:bob@example.com"), &pidf("t", "open")),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.expires, 3600, "default expiry");
}

/// Step 2: `presence`, `dialog` and `message-summary` are published here: 489 otherwise.
#[tokio::test]
async fn other_event_packages_are_489() {
    let p = presences();
    for event in ["conference", "presence.winfo", "reg", "refer"] {
        let req = PublishRequest::initial(aor(ALICE), &pidf("t1", "open"))
            .event(EventPackage::from_header(event));
        let err = p.publish(T0, &req).await.unwrap_err();
        assert_eq!(err.sip_status(), 489, "{event}");
    }
    assert_eq!(
        EventPackage::from_header("Presence;id=1"),
        EventPackage::Presence
    );
}

/// The body must be valid PIDF in `application/pidf+xml`: 415 and 400 otherwise, and nothing changes.
#[tokio::test]
async fn body_type_and_content_are_checked() {
    let p = presences();
    let mut req = PublishRequest::initial(aor(ALICE), &pidf("t1", "open"));
    req.body = Some(("application/xpidf+xml".into(), pidf("t1", "open")));
    assert_eq!(p.publish(T0, &req).await.unwrap_err().sip_status(), 415);
    req.body = Some((
        "application/pidf+xml;charset=utf-8".into(),
        pidf("t1", "open"),
    ));
    assert!(
        p.publish(T0, &req).await.is_ok(),
        "parameters of the type are fine"
    );
    // baresip's first PUBLISH says <basic>unknown</basic>: refused as 400, the other publication stays.
    let err = p
        .publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t2", "unknown")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidDocument(_)));
    assert_eq!(err.sip_status(), 400);
    assert_eq!(p.publications(&aor(ALICE), T0).await.unwrap().len(), 1);
}

/// The per-presentity publication limit.
#[tokio::test]
async fn publication_limit() {
    let mut policy = PresencePolicy::default();
    policy.max_publications = 2;
    let p =
        registrar_presence::Presences::new(registrar_presence::MemoryPresenceStore::new(), policy)
            .unwrap();
    for i in 0..2 {
        p.publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf(&format!("t{i}"), "open")),
        )
        .await
        .unwrap();
    }
    let err = p
        .publish(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("t9", "open")),
        )
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 503);
}
