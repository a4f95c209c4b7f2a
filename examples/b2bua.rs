//! A B2BUA in front of every user: automatic buddy lists (on by default in this mode), a phone watching its
//! whole list through one RFC 4662 subscription, and the event stream the B2BUA reacts to.
//!
//! Run: `cargo run -p registrar-examples --example b2bua`

use std::sync::Arc;

use registrar_core::events::{Delivery, EventKind};
use registrar_core::prelude::*;
use registrar_core::sip::{
    RegisterHeaders, SubscribeHeaders, handle_register, handle_subscribe, notify_headers,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (notifier, mut notifies) = ChannelNotifier::new(1024);
    let svc = RegistrarService::builder()
        .mode(Mode::B2BUA)
        .notifier(Arc::new(notifier))
        .build()?;
    // The B2BUA follows registrations to know whom it can reach.
    let mut registrations = svc.events(EventFilter::all().kinds(&[EventKind::Registration]));
    svc.start();

    for (i, user) in ["alice", "bob", "carol"].iter().enumerate() {
        let aor = format!("sip:{user}@example.com");
        let contact = format!("<sip:{user}@192.0.2.{}:5060>;expires=3600", 10 + i);
        let r = handle_register(
            &svc,
            &RegisterHeaders::new(&aor, "b2bua-call", 1).contact(&contact),
        )
        .await;
        println!("REGISTER {aor} -> {}", r.status);
    }

    // First registrations paired the users of example.com on each other's lists.
    let alice: Aor = "sip:alice@example.com".parse()?;
    for b in svc.buddies(&alice) {
        println!("alice's list: {}", b.uri);
    }

    // Alice's phone subscribes to her list URI with Supported: eventlist.
    let list = svc.buddy_list_uri(&alice).ok_or("alice has no list URI")?;
    let list_uri = list.to_string();
    let s = SubscribeHeaders {
        request_uri: &list_uri,
        from: "sip:alice@example.com",
        from_tag: "alice-tag",
        local_tag: "rls-tag",
        call_id: "alice-list",
        event: "presence",
        expires: Some("600"),
        accept: Some("multipart/related, application/rlmi+xml, application/pidf+xml"),
        supported: vec!["eventlist"],
        ..SubscribeHeaders::default()
    };
    let r = handle_subscribe(&svc, &s).await;
    println!("SUBSCRIBE {list_uri} -> {} {:?}", r.status, r.headers);

    // Bob's presence changes through the API: Alice's phone gets a partial list NOTIFY.
    let bob: Aor = "sip:bob@example.com".parse()?;
    let mut doc = Presence::new(bob.as_str());
    doc.tuples
        .push(registrar_core::pidf::Tuple::new("api", Basic::Open));
    svc.update_presence(&bob, &doc, 600).await?;

    for _ in 0..2 {
        let n = notifies.recv().await.ok_or("notifier closed")?;
        let body = n.body.as_deref().unwrap_or("");
        let full = if body.contains("fullState=\"true\"") {
            "full"
        } else {
            "partial"
        };
        println!(
            "NOTIFY cseq {} ({full} state, {} bytes): {:?}",
            n.cseq,
            body.len(),
            notify_headers(&n)
        );
    }

    svc.shutdown().await;
    while let Some(Delivery::Events(batch)) = registrations.try_next() {
        for e in batch.iter() {
            println!("registration event #{}: {:?}", e.seq, e.event.aors()[0]);
        }
    }
    Ok(())
}
