//! RFC 3327: the Path header is stored with the binding and returned.

use registrar_registry::{Error, RegistrarPolicy, Supported};

use crate::support::*;

/// Path URIs are stored in order with each binding of the request.
#[tokio::test]
async fn path_is_stored_in_order() {
    let h = Harness::new();
    let path = vec![uri("sip:p1.example.com;lr"), uri("sip:p2.example.com;lr")];
    h.register(
        &req(ALICE, "c1", 1)
            .contact(contact("sip:alice@192.0.2.1"))
            .path(path)
            .supported(Supported::from_tags(["path"])),
    )
    .await
    .unwrap();
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    let got: Vec<String> = b.path.iter().map(ToString::to_string).collect();
    assert_eq!(got, ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]);
    // A refresh without Path clears it: the route to the UA is what the latest REGISTER took.
    h.register(&req(ALICE, "c1", 2).contact(contact("sip:alice@192.0.2.1")))
        .await
        .unwrap();
    let b = &h
        .registry
        .lookup(&aor(ALICE), h.now())
        .await
        .unwrap()
        .to_vec()[0];
    assert!(b.path.is_empty());
}

/// A registrar configured to require `Supported: path` answers 421 to a Path from a UA without it.
#[tokio::test]
async fn path_support_can_be_required() {
    let mut p = RegistrarPolicy::default();
    p.require_path_support = true;
    let h = Harness::with_policy(p);
    let r = req(ALICE, "c1", 1)
        .contact(contact("sip:alice@192.0.2.1"))
        .path(vec![uri("sip:p1.example.com;lr")]);
    let err = h.register(&r).await.unwrap_err();
    assert!(matches!(
        err,
        Error::ExtensionRequired { extension: "path" }
    ));
    assert_eq!(err.sip_status(), 421);
    h.register(&r.supported(Supported::from_tags(["path"])))
        .await
        .unwrap();
    // Without a Path, support does not matter.
    h.register(&req(ALICE, "c2", 1).contact(contact("sip:alice@192.0.2.2")))
        .await
        .unwrap();
}
