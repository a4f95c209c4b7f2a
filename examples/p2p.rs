//! A SIP stack using the registrar in P2P mode: phones register, publish and watch each other; the stack
//! turns its parsed requests into service calls with `registrar_core::sip` and sends what comes back.
//!
//! Run: `cargo run -p registrar-examples --example p2p`

use std::sync::Arc;

use registrar_core::prelude::*;
use registrar_core::sip::{
    PublishHeaders, RegisterHeaders, SubscribeHeaders, handle_publish, handle_register,
    handle_subscribe, notify_headers,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // NOTIFYs leave through a channel the stack drains; events go to the in-process bus.
    let (notifier, mut notifies) = ChannelNotifier::new(1024);
    let svc = RegistrarService::builder()
        .mode(Mode::P2P)
        .notifier(Arc::new(notifier))
        .build()?;
    let mut events = svc.events(EventFilter::all());
    svc.start();

    // REGISTER from Alice's desk phone and Bob's softphone.
    for (user, contact) in [
        (
            "sip:alice@example.com",
            "<sip:alice@192.0.2.10:5060>;expires=3600",
        ),
        (
            "sip:bob@example.com",
            "<sip:bob@192.0.2.20:5060>;expires=3600",
        ),
    ] {
        let h = RegisterHeaders::new(user, "example-call", 1).contact(contact);
        let r = handle_register(&svc, &h).await;
        println!(
            "REGISTER {user} -> {} {} {:?}",
            r.status, r.reason, r.headers
        );
    }

    // In P2P mode a call to Alice goes straight to her contacts.
    let alice: Aor = "sip:alice@example.com".parse()?;
    for b in svc.lookup(&alice).await?.iter() {
        println!("INVITE for alice goes to {}", b.contact);
    }

    // Bob watches Alice (same domain: allowed by the default policy).
    let s = SubscribeHeaders {
        request_uri: "sip:alice@example.com",
        from: "sip:bob@example.com",
        from_tag: "bob-tag",
        local_tag: "reg-tag",
        call_id: "bob-watches-alice",
        event: "presence",
        expires: Some("600"),
        ..SubscribeHeaders::default()
    };
    let r = handle_subscribe(&svc, &s).await;
    println!("SUBSCRIBE -> {} {} {:?}", r.status, r.reason, r.headers);

    // Alice's phone publishes "open".
    let body = br#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="desk"><status><basic>open</basic></status></tuple></presence>"#;
    let p = PublishHeaders {
        request_uri: "sip:alice@example.com",
        event: "presence",
        expires: Some("600"),
        content_type: Some("application/pidf+xml"),
        body,
        ..PublishHeaders::default()
    };
    let r = handle_publish(&svc, &p).await;
    println!("PUBLISH -> {} {} {:?}", r.status, r.reason, r.headers);

    // The stack sends these NOTIFYs in Bob's dialog: the initial state, then Alice's change.
    for _ in 0..2 {
        let n = notifies.recv().await.ok_or("notifier closed")?;
        println!(
            "NOTIFY cseq {} to {}: {:?}",
            n.cseq,
            n.watcher,
            notify_headers(&n)
        );
    }

    svc.shutdown().await;
    while let Some(registrar_core::events::Delivery::Events(batch)) = events.try_next() {
        for e in batch.iter() {
            println!("event #{} {:?}", e.seq, e.event.kind());
        }
    }
    Ok(())
}
