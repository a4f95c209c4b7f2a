//! The SIP integration helpers: header values in, service calls, responses and NOTIFY headers out.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use proptest::prelude::*;
use registrar_core::prelude::*;
use registrar_core::registry::ContactEntry;
use registrar_core::sip::{
    self, PublishHeaders, RegisterHeaders, SubscribeHeaders, handle_publish, handle_register,
    handle_subscribe, notify_headers, parse_contacts,
};
use registrar_core::types::ManualClock;

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn service() -> (RegistrarService, tokio::sync::mpsc::Receiver<NotifyIntent>) {
    let (n, rx) = ChannelNotifier::new(100);
    let svc = RegistrarService::builder()
        .clock(Arc::new(ManualClock::new(T0)))
        .notifier(Arc::new(n))
        .build()
        .unwrap();
    (svc, rx)
}

#[test]
fn contact_values() {
    let v = parse_contacts(
        r#""Alice, at home" <sip:alice@192.0.2.1:5060;transport=tcp>;expires=60;q=0.5;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1, sip:alice@192.0.2.2;expires=30"#,
    )
    .unwrap();
    assert_eq!(v.len(), 2);
    let ContactEntry::Contact(a) = &v[0] else {
        panic!()
    };
    assert_eq!(a.uri.to_string(), "sip:alice@192.0.2.1:5060;transport=tcp");
    assert_eq!(a.expires, Some(60));
    assert_eq!(a.q.unwrap().to_string(), "0.5");
    assert!(a.instance_id.is_some());
    assert!(a.reg_id.is_some());
    let ContactEntry::Contact(b) = &v[1] else {
        panic!()
    };
    assert_eq!(b.uri.to_string(), "sip:alice@192.0.2.2");
    assert_eq!(b.expires, Some(30));
    assert!(matches!(
        parse_contacts(" * ").unwrap()[..],
        [ContactEntry::Wildcard]
    ));
    for bad in [
        "<sip:a@b",
        "",
        "sip:a@b;expires=soon",
        "<sip:a@b>;q=2",
        "<http://x>",
    ] {
        let e = parse_contacts(bad).unwrap_err();
        assert_eq!(e.response().status, 400, "{bad}");
    }
}

proptest! {
    #[test]
    fn contact_parsing_never_panics(s in "\\PC{0,200}") {
        let _ = parse_contacts(&s);
    }

    #[test]
    fn contact_lists_split_where_they_should(n in 1usize..6, expires in 0u32..100_000) {
        let value = (0..n)
            .map(|i| format!("\"U, {i}\" <sip:u{i}@192.0.2.{i}>;expires={expires}"))
            .collect::<Vec<_>>()
            .join(", ");
        let parsed = parse_contacts(&value).unwrap();
        prop_assert_eq!(parsed.len(), n);
    }
}

#[tokio::test]
async fn register_end_to_end() {
    let (svc, _rx) = service();
    let h = RegisterHeaders::new("sip:alice@example.com", "call-1", 1)
        .contact("<sip:alice@192.0.2.1>;expires=600")
        .supported("path, gruu");
    let r = handle_register(&svc, &h).await;
    assert_eq!((r.status, r.reason), (200, "OK"));
    let contact = r.header("Contact").unwrap();
    assert!(
        contact.starts_with("<sip:alice@192.0.2.1>;expires=600"),
        "{contact}"
    );

    let brief = RegisterHeaders::new("sip:alice@example.com", "call-1", 2)
        .contact("<sip:alice@192.0.2.1>")
        .expires("10");
    let r = handle_register(&svc, &brief).await;
    assert_eq!(r.status, 423);
    assert_eq!(r.header("Min-Expires"), Some("60"));

    let bad = RegisterHeaders::new("sip:alice@example.com", "call 1", 3);
    assert_eq!(handle_register(&svc, &bad).await.status, 400);
    let stale =
        RegisterHeaders::new("sip:alice@example.com", "call-1", 1).contact("<sip:alice@192.0.2.1>");
    assert_eq!(handle_register(&svc, &stale).await.status, 500);
}

#[tokio::test]
async fn publish_and_subscribe_end_to_end() {
    let (svc, mut rx) = service();
    let body = br#"<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="t"><status><basic>open</basic></status></tuple></presence>"#;
    let p = PublishHeaders {
        request_uri: "sip:alice@example.com",
        event: "presence",
        expires: Some("600"),
        content_type: Some("application/pidf+xml"),
        body,
        ..PublishHeaders::default()
    };
    let r = handle_publish(&svc, &p).await;
    assert_eq!(r.status, 200);
    let etag = r.header("SIP-ETag").unwrap().to_owned();
    assert_eq!(r.header("Expires"), Some("600"));
    let unknown = PublishHeaders {
        sip_if_match: Some("nope"),
        body: b"",
        content_type: None,
        ..p.clone()
    };
    assert_eq!(handle_publish(&svc, &unknown).await.status, 412);
    let refresh = PublishHeaders {
        sip_if_match: Some(&etag),
        body: b"",
        content_type: None,
        ..p.clone()
    };
    assert_eq!(handle_publish(&svc, &refresh).await.status, 200);

    let s = SubscribeHeaders {
        request_uri: "sip:alice@example.com",
        from: "sip:bob@example.com",
        from_tag: "f1",
        local_tag: "l1",
        call_id: "sub-1",
        event: "presence",
        expires: Some("300"),
        accept: Some("application/pidf+xml"),
        ..SubscribeHeaders::default()
    };
    let r = handle_subscribe(&svc, &s).await;
    assert_eq!((r.status, r.header("Expires")), (200, Some("300")));
    let n = rx.recv().await.unwrap();
    let headers = notify_headers(&n);
    insta::assert_debug_snapshot!(headers);

    let list = SubscribeHeaders {
        request_uri: "sip:bob-buddies@example.com",
        call_id: "sub-2",
        from: "sip:bob@example.com",
        ..s.clone()
    };
    let r = handle_subscribe(&svc, &list).await;
    assert_eq!((r.status, r.header("Require")), (421, Some("eventlist")));
    let other = SubscribeHeaders {
        event: "conference",
        call_id: "sub-3",
        ..s.clone()
    };
    let r = handle_subscribe(&svc, &other).await;
    assert_eq!(r.status, 489);
    assert!(r.header("Allow-Events").unwrap().contains("presence"));
    let unknown_dialog = SubscribeHeaders {
        to_tag: Some("zzz"),
        call_id: "sub-9",
        ..s.clone()
    };
    assert_eq!(handle_subscribe(&svc, &unknown_dialog).await.status, 481);
    assert_eq!(sip::reason_phrase(481), "Call/Transaction Does Not Exist");
}
