//! A walk through the location service: three devices register for one user, one refreshes, one leaves,
//! one expires, and lookups show what a proxy would fork to. Runs on a manual clock, so it is instant.
//!
//! Run with `cargo run --locked -p registrar-examples --example registry`.

use std::time::Duration;

use registrar_registry::{
    ContactSpec, MemoryLocationStore, RegisterRequest, RegistrarPolicy, Registry, Supported,
};
use registrar_types::{Aor, CSeq, Clock, ManualClock, QValue, Timestamp};

type Error = Box<dyn std::error::Error>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let clock = ManualClock::new(Timestamp::from_secs(1_700_000_000));
    let registry = Registry::new(MemoryLocationStore::new(), RegistrarPolicy::default())?;
    let alice: Aor = "sip:alice@example.com".parse()?;

    let desk = RegisterRequest::new(alice.clone(), "desk-1".parse()?, CSeq::new(1)?)
        .contact(ContactSpec::new("sip:alice@192.0.2.10:5060".parse()?).q(QValue::ONE))
        .expires(3600);
    let mobile = RegisterRequest::new(alice.clone(), "mobile-1".parse()?, CSeq::new(1)?)
        .contact(
            ContactSpec::new("sip:alice@198.51.100.7:41234;transport=tcp".parse()?)
                .q(QValue::from_thousandths(700)?)
                .instance("<urn:uuid:6e1b4c8e-35a4-4a8d-9d41-2b3f6f0d0c11>".parse()?),
        )
        .supported(Supported::from_tags(["gruu", "outbound", "path"]))
        .expires(300);
    let laptop = RegisterRequest::new(alice.clone(), "laptop-1".parse()?, CSeq::new(1)?)
        .contact(
            ContactSpec::new("sip:alice@203.0.113.5:5080".parse()?)
                .q(QValue::from_thousandths(500)?),
        )
        .expires(120);

    for (name, req) in [
        ("desk phone", &desk),
        ("mobile", &mobile),
        ("laptop", &laptop),
    ] {
        let outcome = registry.register(clock.now(), req).await?;
        println!(
            "REGISTER from the {name}: 200 OK with {} contacts",
            outcome.contacts().count()
        );
        for c in outcome.contacts() {
            print!(
                "  Contact: <{}>;q={};expires={}",
                c.binding.contact, c.binding.q, c.expires
            );
            if let (Some(p), Some(t)) = (&c.pub_gruu, &c.temp_gruu) {
                print!(";pub-gruu=\"{p}\";temp-gruu=\"{t}\"");
            }
            println!();
        }
    }

    show(&registry, &alice, &clock, "after three registrations").await?;

    // The laptop sends the same Call-ID with an old CSeq: the request fails and nothing changes.
    let stale = RegisterRequest::new(alice.clone(), "laptop-1".parse()?, CSeq::new(1)?)
        .contact(ContactSpec::new("sip:alice@203.0.113.5:5080".parse()?))
        .expires(0);
    match registry.register(clock.now(), &stale).await {
        Ok(_) => println!("unexpected: a stale CSeq was accepted"),
        Err(e) => println!("stale REGISTER refused with {}: {e}", e.sip_status()),
    }

    // A too-short expiry gets 423 with the minimum.
    let brief = RegisterRequest::new(alice.clone(), "x".parse()?, CSeq::new(1)?)
        .contact(ContactSpec::new("sip:alice@192.0.2.99".parse()?))
        .expires(5);
    if let Err(e) = registry.register(clock.now(), &brief).await {
        println!("brief REGISTER refused with {}: {e}", e.sip_status());
    }

    clock.advance(Duration::from_secs(130));
    let expired = registry.expire(clock.now()).await?;
    for (aor, b) in &expired {
        println!("expired after 130 s: {aor} -> {}", b.contact);
    }
    show(&registry, &alice, &clock, "after 130 seconds").await?;

    let bye = RegisterRequest::new(alice.clone(), "desk-1".parse()?, CSeq::new(2)?)
        .contact(ContactSpec::new("sip:alice@192.0.2.10:5060".parse()?).expires(0));
    registry.register(clock.now(), &bye).await?;
    show(
        &registry,
        &alice,
        &clock,
        "after the desk phone unregistered",
    )
    .await?;
    Ok(())
}

async fn show(
    registry: &Registry<MemoryLocationStore>,
    aor: &Aor,
    clock: &ManualClock,
    when: &str,
) -> Result<(), Error> {
    let found = registry.lookup(aor, clock.now()).await?;
    println!("lookup {aor} {when}: {} binding(s)", found.len());
    for b in found.iter() {
        println!(
            "  q={} expires in {:>4} s  {}",
            b.q,
            b.expires_in(clock.now()),
            b.contact
        );
    }
    Ok(())
}
