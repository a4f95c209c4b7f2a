//! Expiry on a manual clock: lookups hide expired bindings; sweeps remove them and report them.

use registrar_registry::Supported;

use crate::support::*;

#[tokio::test]
async fn binding_disappears_at_its_expiry_instant() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(60),
    )
    .await
    .unwrap();
    h.advance(59);
    assert_eq!(h.contacts(ALICE).await.len(), 1);
    h.advance(1);
    assert!(
        h.contacts(ALICE).await.is_empty(),
        "expired at exactly expires_at"
    );
}

#[tokio::test]
async fn sweep_removes_only_what_expired_and_reports_it() {
    let h = Harness::new();
    for i in 0..100 {
        let expires = if i % 10 == 0 { 60 } else { 3600 };
        h.register(
            &req(&format!("sip:u{i}@example.com"), "c", 1)
                .contact(contact(&format!("sip:u{i}@192.0.2.1")))
                .expires(expires),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        h.registry.next_expiry().await.unwrap(),
        Some(START.plus_secs(60))
    );
    assert!(h.registry.expire(h.now()).await.unwrap().is_empty());
    h.advance(60);
    let mut gone: Vec<String> = h
        .registry
        .expire(h.now())
        .await
        .unwrap()
        .into_iter()
        .map(|(a, _)| a.to_string())
        .collect();
    gone.sort();
    let mut want: Vec<String> = (0..100)
        .step_by(10)
        .map(|i| format!("sip:u{i}@example.com"))
        .collect();
    want.sort();
    assert_eq!(gone, want);
    assert_eq!(h.registry.store().len(), 90);
    assert_eq!(
        h.registry.next_expiry().await.unwrap(),
        Some(START.plus_secs(3600))
    );
    assert!(
        h.registry.expire(h.now()).await.unwrap().is_empty(),
        "a second sweep finds nothing"
    );
}

#[tokio::test]
async fn refreshed_binding_survives_its_old_deadline() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(60),
    )
    .await
    .unwrap();
    h.advance(30);
    h.register(
        &req(ALICE, "c1", 2)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(60),
    )
    .await
    .unwrap();
    h.advance(31);
    assert!(h.registry.expire(h.now()).await.unwrap().is_empty());
    assert_eq!(h.contacts(ALICE).await.len(), 1);
    h.advance(30);
    let gone = h.registry.expire(h.now()).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].1.contact.to_string(), "sip:alice@192.0.2.1");
}

#[tokio::test]
async fn sweep_keeps_live_bindings_of_the_same_aor() {
    let h = Harness::new();
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .expires(60),
    )
    .await
    .unwrap();
    h.register(
        &req(ALICE, "c2", 1)
            .contact(contact("sip:alice@192.0.2.2"))
            .expires(600),
    )
    .await
    .unwrap();
    h.advance(61);
    let gone = h.registry.expire(h.now()).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(h.contacts(ALICE).await, ["sip:alice@192.0.2.2"]);
}

#[tokio::test]
async fn expiry_retires_temporary_gruus() {
    let h = Harness::new();
    let out = h
        .register(
            &req(ALICE, "c1", 1)
                .contact(
                    contact("sip:alice@192.0.2.1")
                        .instance(instance("urn:uuid:0a0a0a0a-0000-4000-8000-000000000001")),
                )
                .supported(Supported::from_tags(["gruu"]))
                .expires(60),
        )
        .await
        .unwrap();
    let temp = out.contacts().next().unwrap().temp_gruu.unwrap();
    h.advance(60);
    h.registry.expire(h.now()).await.unwrap();
    use registrar_registry::LocationStore;
    let key = match registrar_registry::gruu::parse_gruu(&temp) {
        Some(registrar_registry::gruu::GruuRef::Temporary { key, .. }) => key,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        h.registry.store().aor_for_temp_gruu(key).await.unwrap(),
        None
    );
}

/// Registered users in pages: ascending, each page after the last AoR of the previous one, every user once.
#[tokio::test]
async fn registered_users_in_pages() {
    let h = Harness::new();
    for i in (0..25).rev() {
        h.register(
            &req(&format!("sip:u{i:02}@example.com"), "c", 1)
                .contact(contact(&format!("sip:u{i}@192.0.2.1")))
                .expires(3600),
        )
        .await
        .unwrap();
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .registry
            .registered_users(after.as_ref(), 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        after = page.last().cloned();
        all.extend(page);
    }
    let expected: Vec<String> = (0..25)
        .map(|i| format!("sip:u{i:02}@example.com"))
        .collect();
    let got: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert_eq!(got, expected);
    assert!(
        h.registry
            .registered_users(None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}
