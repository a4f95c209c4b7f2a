//! RFC 3680: subscriptions to a user's registration state (`reg`), fed by the location service.

use registrar_pidf::{ContactEvent, ContactState, DocState, Document, RegInfo, RegistrationState};
use registrar_presence::{
    DialogId, EventPackage, NotifyIntent, SubscribeRequest, SubscriptionPolicy, Subscriptions,
};
use registrar_registry::{ChangeKind, ContactSpec, MemoryLocationStore, RegisterRequest, Registry};
use registrar_types::CSeq;

use crate::support::*;

fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("reg-{n}").parse().unwrap(),
        &format!("f{n}"),
        &format!("t{n}"),
    )
}

fn reginfo(n: &NotifyIntent) -> RegInfo {
    assert_eq!(n.content_type(), Some("application/reginfo+xml"));
    match Document::parse(n.body.as_ref().unwrap().as_bytes()).unwrap() {
        Document::RegInfo(r) => r,
        other => panic!("{}", other.kind()),
    }
}

async fn registry_with_two_devices() -> Registry<MemoryLocationStore> {
    let registry = Registry::new(MemoryLocationStore::new(), Default::default()).unwrap();
    for (n, ip) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        let req = RegisterRequest::new(
            aor(ALICE),
            format!("c{n}").parse().unwrap(),
            CSeq::new(1).unwrap(),
        )
        .contact(ContactSpec::new(format!("sip:alice@{ip}").parse().unwrap()))
        .expires(600);
        registry.register(T0, &req).await.unwrap();
    }
    registry
}

fn reg_subscribe(n: u32, who: &str) -> SubscribeRequest {
    SubscribeRequest::new(dialog(n), aor(who), aor(ALICE)).event(EventPackage::Reg)
}

/// §5: the first NOTIFY carries the full registration state.
#[tokio::test]
async fn full_state_on_subscribe() {
    let registry = registry_with_two_devices().await;
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    let bindings = registry.lookup(&aor(ALICE), T0).await.unwrap().to_vec();
    let out = s
        .subscribe_reg(T0, &reg_subscribe(1, ALICE), &bindings)
        .unwrap();
    assert_eq!(out.status, 200);
    let r = reginfo(&out.notify);
    assert_eq!((r.version.as_str(), r.state), ("0", DocState::Full));
    let reg = &r.registrations[0];
    assert_eq!(reg.aor, ALICE);
    assert_eq!(reg.state, RegistrationState::Active);
    let mut uris: Vec<_> = reg.contacts.iter().map(|c| c.uri.as_str()).collect();
    uris.sort_unstable();
    assert_eq!(uris, ["sip:alice@192.0.2.1", "sip:alice@192.0.2.2"]);
    assert!(
        reg.contacts
            .iter()
            .all(|c| c.state == ContactState::Active && c.expires.as_deref() == Some("600"))
    );
}

/// An AoR with nothing registered is in state `init`; another user may not watch it.
#[test]
fn init_state_and_authorization() {
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    let out = s.subscribe_reg(T0, &reg_subscribe(1, ALICE), &[]).unwrap();
    let r = reginfo(&out.notify);
    assert_eq!(r.registrations[0].state, RegistrationState::Init);
    assert!(r.registrations[0].contacts.is_empty());
    assert_eq!(
        s.subscribe_reg(T0, &reg_subscribe(2, "sip:bob@example.com"), &[])
            .unwrap_err()
            .sip_status(),
        403
    );
}

/// §5.2: each change of the bindings gives a partial document with the changed contacts and the next version.
#[tokio::test]
async fn binding_changes_are_notified() {
    let registry = registry_with_two_devices().await;
    let s = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    let bindings = registry.lookup(&aor(ALICE), T0).await.unwrap().to_vec();
    s.subscribe_reg(T0, &reg_subscribe(1, ALICE), &bindings)
        .unwrap();

    // One device unregisters.
    let bye = RegisterRequest::new(aor(ALICE), "c0".parse().unwrap(), CSeq::new(2).unwrap())
        .contact(ContactSpec::new("sip:alice@192.0.2.1".parse().unwrap()).expires(0));
    let outcome = registry.register(T0, &bye).await.unwrap();
    let changes: Vec<_> = outcome
        .changes
        .iter()
        .map(|c| {
            assert_eq!(c.kind, ChangeKind::Removed);
            (
                c.binding.clone(),
                ContactState::Terminated,
                ContactEvent::Unregistered,
            )
        })
        .collect();
    let left = !outcome.bindings.is_empty();
    let out = s.registration_changed(&aor(ALICE), &changes, left, T0);
    assert_eq!(out.len(), 1);
    let r = reginfo(&out[0]);
    assert_eq!((r.version.as_str(), r.state), ("1", DocState::Partial));
    assert_eq!(
        r.registrations[0].state,
        RegistrationState::Active,
        "the other device is still registered"
    );
    let c = &r.registrations[0].contacts[0];
    assert_eq!(
        (c.uri.as_str(), c.state, c.event),
        (
            "sip:alice@192.0.2.1",
            ContactState::Terminated,
            ContactEvent::Unregistered
        )
    );
    assert_eq!(out[0].cseq, 2);

    // The other expires: the registration is terminated.
    let gone = registry.expire(T0.plus_secs(600)).await.unwrap();
    let changes: Vec<_> = gone
        .into_iter()
        .map(|(_, b)| (b, ContactState::Terminated, ContactEvent::Expired))
        .collect();
    let out = s.registration_changed(&aor(ALICE), &changes, false, T0.plus_secs(600));
    let r = reginfo(&out[0]);
    assert_eq!(r.version, "2");
    assert_eq!(r.registrations[0].state, RegistrationState::Terminated);
    assert!(
        s.registration_changed(&aor("sip:bob@example.com"), &changes, false, T0)
            .is_empty()
    );
}
