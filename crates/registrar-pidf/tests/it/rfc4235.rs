//! RFC 4235: dialog state documents (busy lamp fields).

use registrar_pidf::{
    Dialog, DialogEvent, DialogInfo, DialogState, Direction, DocState, Document, Error,
};

use crate::support::fixture;

#[test]
fn s4_every_element_reads() {
    let Document::DialogInfo(d) =
        Document::parse(&fixture("rfc/rfc4235-s4-two-dialogs.xml")).unwrap()
    else {
        panic!("not dialog-info");
    };
    assert_eq!(d.version, "1");
    assert_eq!(d.state, DocState::Full);
    assert_eq!(d.entity, "sip:alice@example.com");
    let x = &d.dialogs[0];
    assert_eq!(x.id, "as7d900as8");
    assert_eq!(x.call_id.as_deref(), Some("a84b4c76e66710"));
    assert_eq!(x.local_tag.as_deref(), Some("1928301774"));
    assert_eq!(x.remote_tag.as_deref(), Some("456887766"));
    assert_eq!(x.direction, Some(Direction::Initiator));
    assert_eq!(x.state, DialogState::Terminated);
    assert_eq!(x.event, Some(DialogEvent::Rejected));
    assert_eq!(x.code, Some(486));
    assert_eq!(x.duration.as_deref(), Some("274"));
    let local = x.local.as_ref().unwrap();
    assert_eq!(local.identity.as_deref(), Some("sip:alice@example.com"));
    assert_eq!(local.display.as_deref(), Some("Alice"));
    assert_eq!(local.target.as_deref(), Some("sip:alice@pc33.example.com"));
    assert_eq!(
        local.target_params,
        [("+sip.rendering".to_owned(), "yes".to_owned())]
    );
    let remote = x.remote.as_ref().unwrap();
    assert_eq!(remote.identity.as_deref(), Some("sip:bob@example.org"));
    assert_eq!(d.dialogs[1].state, DialogState::Early);
    assert_eq!(d.dialogs[1].direction, Some(Direction::Recipient));
    // Written and read back: the same document.
    assert_eq!(DialogInfo::parse(d.to_xml().as_bytes()).unwrap(), d);
}

#[test]
fn s4_1_rules_are_enforced_with_a_path() {
    let doc = |attrs: &str, inner: &str| {
        format!(
            r#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" {attrs}>{inner}</dialog-info>"#
        )
    };
    let ok = r#"version="0" state="partial" entity="sip:a@b""#;
    let cases: [(String, &str); 9] = [
        (doc(r#"version="0" state="full""#, ""), "entity"),
        (
            doc(r#"version="x" state="full" entity="sip:a@b""#, ""),
            "version",
        ),
        (
            doc(r#"version="0" state="some" entity="sip:a@b""#, ""),
            "state",
        ),
        (doc(ok, "<dialog><state>early</state></dialog>"), "id"),
        (doc(ok, r#"<dialog id="1"/>"#), "state"),
        (
            doc(ok, r#"<dialog id="1"><state>ringing</state></dialog>"#),
            "dialog[1]/state",
        ),
        (
            doc(
                ok,
                r#"<dialog id="1"><state code="999">terminated</state></dialog>"#,
            ),
            "code",
        ),
        (
            doc(
                ok,
                r#"<dialog id="1" direction="sideways"><state>early</state></dialog>"#,
            ),
            "direction",
        ),
        (
            doc(
                ok,
                r#"<dialog id="1"><state>early</state></dialog><dialog id="1"><state>confirmed</state></dialog>"#,
            ),
            "duplicate id",
        ),
    ];
    for (xml, needle) in cases {
        let e = Document::parse(xml.as_bytes()).unwrap_err().to_string();
        assert!(e.contains(needle), "{xml}: {e}");
    }
}

#[test]
fn hostile_input_is_refused_before_any_work() {
    let doctype = r#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "y">]><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:a@b"/>"#;
    assert!(matches!(
        DialogInfo::parse(doctype.as_bytes()),
        Err(Error::Doctype { .. })
    ));
    let presence = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"/>"#;
    assert!(matches!(
        DialogInfo::parse(presence.as_bytes()),
        Err(Error::WrongRoot { .. })
    ));
    let many: String = (0..20_000)
        .map(|i| format!(r#"<dialog id="{i}"><state>early</state></dialog>"#))
        .collect();
    let big = format!(
        r#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:a@b">{many}</dialog-info>"#
    );
    assert!(DialogInfo::parse(big.as_bytes()).is_err());
}

#[test]
fn unknown_elements_and_attributes_round_trip() {
    let xml = r#"<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:sa="urn:example:sa" version="3" state="full" entity="sip:a@b" sa:x="1"><dialog id="d" sa:line="2"><state>confirmed</state><replaces call-id="c" local-tag="l" remote-tag="r"/><sa:park slot="701"/></dialog></dialog-info>"#;
    let d = DialogInfo::parse(xml.as_bytes()).unwrap();
    assert_eq!(d.dialogs[0].extensions.len(), 2);
    assert_eq!(DialogInfo::parse(d.to_xml().as_bytes()).unwrap(), d);
    let mut built = DialogInfo::new(3, DocState::Full, "sip:a@b");
    built.dialogs.push(Dialog::new("x", DialogState::Trying));
    assert_eq!(DialogInfo::parse(built.to_xml().as_bytes()).unwrap(), built);
}
