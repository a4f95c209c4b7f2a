//! Many devices publish for one user: the composed document, its cache, expiry and the API path.

use std::sync::Arc;

use proptest::prelude::*;
use registrar_pidf::{Basic, Presence, Tuple};
use registrar_presence::{PublishRequest, compose_publications};

use crate::support::*;

/// Two devices: the user is available when either is; when the open one expires, watchers must learn it.
#[tokio::test]
async fn expiry_changes_the_composed_state() {
    let p = presences();
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("desk", "closed")).expires(3600),
        tag(1),
    )
    .await
    .unwrap();
    let r = p
        .publish_with_etag(
            T0,
            &PublishRequest::initial(aor(ALICE), &pidf("mobile", "open")).expires(60),
            tag(2),
        )
        .await
        .unwrap();
    let doc = &r.changed.unwrap().document;
    assert_eq!(doc.basic(), Some(Basic::Open));
    assert_eq!(doc.tuples[0].id, "mobile", "open tuples come first");
    assert_eq!(p.next_expiry().await.unwrap(), Some(T0.plus_secs(60)));
    assert!(p.expire(T0.plus_secs(59)).await.unwrap().is_empty());
    let changed = p.expire(T0.plus_secs(60)).await.unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].aor, aor(ALICE));
    assert_eq!(changed[0].expired.len(), 1);
    assert_eq!(changed[0].expired[0].etag, tag(2));
    assert_eq!(changed[0].composed.document.basic(), Some(Basic::Closed));
    let cached = p.presence(&aor(ALICE), T0.plus_secs(60)).await.unwrap();
    assert!(Arc::ptr_eq(&cached, &changed[0].composed));
}

/// The cache holds one document per presentity, shared by every reader, rebuilt only when it changes.
#[tokio::test]
async fn composed_document_is_built_once_per_change() {
    let p = presences();
    p.publish_with_etag(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("t", "open")),
        tag(1),
    )
    .await
    .unwrap();
    let a = p.presence(&aor(ALICE), T0).await.unwrap();
    let b = p.presence(&aor(ALICE), T0).await.unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(Arc::ptr_eq(&a.xml, &b.xml));
    // Another user's change does not touch Alice's document.
    p.publish(
        T0,
        &PublishRequest::initial(aor("sip:bob@example.com"), &pidf("t", "closed")),
    )
    .await
    .unwrap();
    assert!(Arc::ptr_eq(&a, &p.presence(&aor(ALICE), T0).await.unwrap()));
    assert!(Presence::parse(a.xml.as_bytes()).is_ok());
}

/// Nobody published: a document with no tuple.
#[tokio::test]
async fn no_publication_is_an_empty_document() {
    let p = presences();
    let c = p
        .presence(&aor("sip:nobody@example.com"), T0)
        .await
        .unwrap();
    assert!(c.document.tuples.is_empty());
    assert_eq!(c.document.entity, "sip:nobody@example.com");
}

/// Presence set through the API takes the same path and replaces its own publication each time.
#[tokio::test]
async fn update_presence_uses_the_publish_path() {
    let p = presences();
    let mut doc = Presence::new(ALICE);
    doc.tuples.push(Tuple::new("api", Basic::Open));
    let r = p.update_presence(T0, &aor(ALICE), &doc, 600).await.unwrap();
    assert_eq!(r.changed.unwrap().document.basic(), Some(Basic::Open));
    doc.tuples[0] = Tuple::new("api", Basic::Closed);
    p.update_presence(T0, &aor(ALICE), &doc, 600).await.unwrap();
    assert_eq!(
        p.publications(&aor(ALICE), T0).await.unwrap().len(),
        1,
        "replaced, not added"
    );
    assert_eq!(
        p.presence(&aor(ALICE), T0).await.unwrap().document.basic(),
        Some(Basic::Closed)
    );
    let err = p
        .update_presence(T0, &aor(ALICE), &doc, 5)
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 423);
}

proptest! {
    /// Composition does not depend on the order publications arrive in.
    #[test]
    fn composition_is_independent_of_publication_order(bases in proptest::collection::vec((any::<bool>(), 0u64..5), 1..5), shift in 0usize..5) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(async {
            let p = presences();
            for (i, (open, t)) in bases.iter().enumerate() {
                let basic = if *open { "open" } else { "closed" };
                p.publish_with_etag(T0.plus_secs(*t), &PublishRequest::initial(aor(ALICE), &pidf(&format!("t{}", i % 2), basic)), tag(i as u128)).await.unwrap();
            }
            let mut pubs = p.publications(&aor(ALICE), T0).await.unwrap();
            let a = compose_publications(&aor(ALICE), &pubs, T0);
            let n = pubs.len();
            pubs.rotate_left(shift % n);
            pubs.reverse();
            let b = compose_publications(&aor(ALICE), &pubs, T0);
            assert_eq!(a, b);
            let open = bases.iter().any(|(o, _)| *o);
            assert_eq!(a.basic(), Some(if open { Basic::Open } else { Basic::Closed }));
        });
    }
}
