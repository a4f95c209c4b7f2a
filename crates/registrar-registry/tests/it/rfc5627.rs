//! RFC 5627: public and temporary GRUUs.

use registrar_registry::{Error, RegistrarPolicy, Supported};

use crate::support::*;

const INST: &str = "\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\"";

fn gruu() -> Supported {
    Supported::from_tags(["gruu"])
}

/// A device with an instance id that supports GRUU gets a public and a temporary GRUU.
#[tokio::test]
async fn issues_public_and_temporary_gruu() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1").instance(instance(INST)))
                .supported(gruu()),
        )
        .await
        .unwrap();
    let c = out.contacts().next().unwrap();
    assert_eq!(
        c.pub_gruu.as_ref().unwrap().to_string(),
        "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
    );
    let temp = c.temp_gruu.as_ref().unwrap().to_string();
    assert!(temp.starts_with("sip:tgruu."), "{temp}");
    assert!(temp.ends_with("@example.com;gr"), "{temp}");
    assert!(
        !temp.contains("alice"),
        "a temporary GRUU must not reveal the user"
    );
    let resolved = h
        .registry
        .resolve_gruu(c.pub_gruu.as_ref().unwrap(), h.now())
        .await
        .unwrap();
    assert_eq!(resolved.unwrap().contact.to_string(), "sip:alice@192.0.2.1");
}

/// No GRUU without `Supported: gruu`, and none without an instance id.
#[tokio::test]
async fn no_gruu_unless_asked_and_identified() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1).contact(contact("sip:alice@192.0.2.1").instance(instance(INST))),
        )
        .await
        .unwrap();
    assert!(out.contacts().next().unwrap().pub_gruu.is_none());
    let out = h
        .register(
            &req(ALICE, "c2", 1)
                .contact(contact("sip:alice@192.0.2.2"))
                .supported(gruu()),
        )
        .await
        .unwrap();
    assert!(
        out.contacts()
            .all(|c| c.pub_gruu.is_none() || c.binding.instance_id.is_some())
    );
    let mut p = RegistrarPolicy::default();
    p.gruu = false;
    let h = Harness::with_policy(p);
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1").instance(instance(INST)))
                .supported(gruu()),
        )
        .await
        .unwrap();
    assert!(out.contacts().next().unwrap().temp_gruu.is_none());
}

/// Each refresh issues a new temporary GRUU; earlier ones stay valid while the Call-ID is unchanged, and all
/// stop resolving when the Call-ID changes.
#[tokio::test]
async fn temporary_gruus_live_until_call_id_changes() {
    let h = Harness::new();
    let reg = |call: &'static str, cseq| {
        req(ALICE, call, cseq)
            .contact(contact("sip:alice@192.0.2.1").instance(instance(INST)))
            .supported(gruu())
    };
    let first = h
        .register(&reg("c1", 1))
        .await
        .unwrap()
        .contacts()
        .next()
        .unwrap()
        .temp_gruu
        .unwrap();
    let second = h
        .register(&reg("c1", 2))
        .await
        .unwrap()
        .contacts()
        .next()
        .unwrap()
        .temp_gruu
        .unwrap();
    assert_ne!(first.to_string(), second.to_string());
    for t in [&first, &second] {
        assert!(
            h.registry.resolve_gruu(t, h.now()).await.unwrap().is_some(),
            "{t}"
        );
    }
    let third = h
        .register(&reg("c2", 1))
        .await
        .unwrap()
        .contacts()
        .next()
        .unwrap()
        .temp_gruu
        .unwrap();
    for t in [&first, &second] {
        assert!(
            h.registry.resolve_gruu(t, h.now()).await.unwrap().is_none(),
            "{t} must be retired"
        );
    }
    assert!(
        h.registry
            .resolve_gruu(&third, h.now())
            .await
            .unwrap()
            .is_some()
    );
    // A GRUU from the future of the series is not valid.
    let forged: registrar_types::SipUri = third
        .to_string()
        .replace("00000000@", "00000009@")
        .parse()
        .unwrap();
    assert!(
        h.registry
            .resolve_gruu(&forged, h.now())
            .await
            .unwrap()
            .is_none()
    );
    // Removing the binding retires its GRUUs.
    h.register(&req(ALICE, "c2", 2).wildcard().expires(0))
        .await
        .unwrap();
    assert!(
        h.registry
            .resolve_gruu(&third, h.now())
            .await
            .unwrap()
            .is_none()
    );
}

/// Registering one of the AoR's own GRUUs as a contact would loop: 403.
#[tokio::test]
async fn gruu_as_contact_is_forbidden() {
    let h = Harness::new();
    let err = h
        .register(&req(ALICE, "c1", 1).contact(contact(
            "sip:alice@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        )))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ContactIsGruu { .. }));
    assert_eq!(err.sip_status(), 403);
}
