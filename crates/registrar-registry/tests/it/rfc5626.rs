//! RFC 5626 §6: outbound registrations, keyed by instance id and reg-id.

use registrar_registry::{ChangeKind, Error, RegistrarPolicy, Supported};
use registrar_types::RegId;

use crate::support::*;

const INST: &str = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>";

fn flow(uri_text: &str, reg: u32) -> registrar_registry::ContactSpec {
    contact(uri_text)
        .instance(instance(INST))
        .reg_id(RegId::new(reg).unwrap())
}

fn outbound() -> Supported {
    Supported::from_tags(["outbound", "path"])
}

/// The same instance and reg-id name the same flow: a new contact URI replaces the binding.
#[tokio::test]
async fn same_instance_and_reg_id_replace_the_binding() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(flow("sip:alice@192.0.2.1:5060", 1))
                .supported(outbound()),
        )
        .await
        .unwrap();
    assert!(out.outbound);
    let out = h
        .register(
            &req(ALICE, "c2", 1)
                .contact(flow("sip:alice@198.51.100.7:40000", 1))
                .supported(outbound()),
        )
        .await
        .unwrap();
    assert_eq!(out.changes[0].kind, ChangeKind::Updated);
    assert_eq!(h.contacts(ALICE).await, ["sip:alice@198.51.100.7:40000"]);
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    assert_eq!(b.reg_id.map(RegId::value), Some(1));
}

/// Two flows of one device (reg-id 1 and 2) are two bindings.
#[tokio::test]
async fn different_reg_ids_are_different_flows() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(flow("sip:alice@192.0.2.1", 1))
            .supported(outbound()),
    )
    .await
    .unwrap();
    h.register(
        &req(ALICE, "c2", 1)
            .contact(flow("sip:alice@192.0.2.1;transport=tcp", 2))
            .supported(outbound()),
    )
    .await
    .unwrap();
    assert_eq!(h.contacts(ALICE).await.len(), 2);
}

/// The Call-ID/CSeq rule applies to a flow matched by instance and reg-id.
#[tokio::test]
async fn cseq_rule_applies_to_flows() {
    let h = Harness::new();
    h.register(&req(ALICE, "c1", 5).contact(flow("sip:alice@192.0.2.1", 1)))
        .await
        .unwrap();
    let err = h
        .register(&req(ALICE, "c1", 5).contact(flow("sip:alice@192.0.2.99", 1)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StaleCSeq { .. }));
}

/// A reg-id without +sip.instance is ignored: an ordinary registration.
#[tokio::test]
async fn reg_id_without_instance_is_ignored() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(contact("sip:alice@192.0.2.1").reg_id(RegId::new(1).unwrap())),
        )
        .await
        .unwrap();
    assert!(!out.outbound);
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    assert_eq!(b.reg_id, None);
}

/// More than one Contact with a reg-id in one REGISTER is a 400.
#[tokio::test]
async fn one_flow_per_register() {
    let h = Harness::new();
    let err = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(flow("sip:alice@192.0.2.1", 1))
                .contact(flow("sip:alice@192.0.2.2", 2)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MultipleRegIds));
    assert_eq!(err.sip_status(), 400);
}

/// Behind an edge proxy, the first Path URI must carry `ob`; without it a UA that asked for outbound gets
/// 439 and one that did not is registered as an ordinary contact.
#[tokio::test]
async fn first_hop_must_support_outbound() {
    let h = Harness::new();
    let edge_without_ob = vec![uri("sip:edge.example.com;lr")];
    let err = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(flow("sip:alice@192.0.2.1", 1))
                .path(edge_without_ob.clone())
                .supported(outbound()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::FirstHopLacksOutbound));
    assert_eq!(err.sip_status(), 439);

    let out = h
        .register(
            &req(ALICE, "c1", 2)
                .contact(flow("sip:alice@192.0.2.1", 1))
                .path(edge_without_ob),
        )
        .await
        .unwrap();
    assert!(!out.outbound);

    let out = h
        .register(
            &req(ALICE, "c2", 1)
                .contact(flow("sip:alice@192.0.2.2", 1))
                .path(vec![uri("sip:edge.example.com;lr;ob")])
                .supported(outbound()),
        )
        .await
        .unwrap();
    assert!(out.outbound);
}

/// With outbound switched off by policy, reg-ids are ignored.
#[tokio::test]
async fn outbound_can_be_disabled() {
    let mut p = RegistrarPolicy::default();
    p.outbound = false;
    let h = Harness::with_policy(p);
    let out = h
        .register(&req(ALICE, "c1", 1).contact(flow("sip:alice@192.0.2.1", 1)))
        .await
        .unwrap();
    assert!(!out.outbound);
    // Now the same flow from another address is a second binding, matched by URI only.
    h.register(&req(ALICE, "c2", 1).contact(flow("sip:alice@192.0.2.2", 1)))
        .await
        .unwrap();
    assert_eq!(h.contacts(ALICE).await.len(), 2);
}
