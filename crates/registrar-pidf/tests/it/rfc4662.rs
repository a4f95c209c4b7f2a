//! RFC 4662: resource list meta-information.

use registrar_pidf::{Document, InstanceState};

use crate::support::fixture;

#[test]
fn s5_1_example() {
    let Document::Rlmi(l) =
        Document::parse(&fixture("conformance/valid/rfc4662-s5.1-rlmi-example.xml")).unwrap()
    else {
        panic!("not rlmi");
    };
    assert_eq!(l.uri, "sip:adam-friends@lists.vancouver.example.com");
    assert_eq!(l.version, "7");
    assert!(l.full_state);
    assert_eq!(l.names[1].lang.as_deref(), Some("fr"));
    assert_eq!(l.resources.len(), 4);
    let jim = &l.resources[2];
    assert_eq!(jim.instances[0].state, InstanceState::Terminated);
    assert_eq!(jim.instances[0].reason.as_deref(), Some("rejected"));
    assert_eq!(
        l.resources[0].instances[0].cid.as_deref(),
        Some("12345.aaa@vancouver.example.com")
    );
}

#[test]
fn partial_list() {
    let Document::Rlmi(l) =
        Document::parse(&fixture("conformance/valid/rfc4662-s6-rlmi-partial.xml")).unwrap()
    else {
        panic!("not rlmi");
    };
    assert!(!l.full_state);
    assert_eq!(l.resources[1].names.len(), 2);
}
