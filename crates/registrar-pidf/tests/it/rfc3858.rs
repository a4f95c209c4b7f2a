//! RFC 3858: watcher information documents.

use registrar_pidf::{DocState, Document, WatcherEvent, WatcherStatus};

use crate::support::fixture;

#[test]
fn s5_full_document() {
    let Document::WatcherInfo(w) = Document::parse(&fixture(
        "conformance/valid/rfc3858-s5-watcherinfo-full.xml",
    ))
    .unwrap() else {
        panic!("not watcherinfo");
    };
    assert_eq!(w.version, "0");
    assert_eq!(w.state, DocState::Full);
    let l = &w.lists[0];
    assert_eq!(l.resource, "sip:professor@example.net");
    assert_eq!(l.package, "presence");
    assert_eq!(l.watchers[0].status, WatcherStatus::Active);
    assert_eq!(l.watchers[0].event, WatcherEvent::Approved);
    assert_eq!(l.watchers[0].uri, "sip:userA@example.net");
    assert_eq!(l.watchers[0].duration_subscribed.as_deref(), Some("509"));
    assert_eq!(
        l.watchers[1].display_name.as_deref(),
        Some("Mr. Subscriber")
    );
}

#[test]
fn bad_watcher_values_are_refused() {
    for (attrs, what) in [
        (r#"id="1" status="busy" event="subscribe""#, "status"),
        (r#"id="1" status="active" event="sleeping""#, "event"),
        (r#"status="active" event="approved""#, "id"),
        (
            r#"id="1" status="active" event="approved" expiration="-5""#,
            "expiration",
        ),
    ] {
        let doc = format!(
            r#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list resource="sip:a@b" package="presence"><watcher {attrs}>sip:c@d</watcher></watcher-list></watcherinfo>"#
        );
        let err = Document::parse(doc.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(what), "{what}: {err}");
    }
    let doc =
        r#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="x" state="full"/>"#;
    assert!(Document::parse(doc.as_bytes()).is_err());
    let doc =
        r#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="1" state="some"/>"#;
    assert!(Document::parse(doc.as_bytes()).is_err());
}
