//! RFC 3863: PIDF.

use registrar_pidf::{Basic, Document, Error, Presence};

use crate::support::fixture;

fn pidf(rel: &str) -> Presence {
    match Document::parse(&fixture(rel)).unwrap() {
        Document::Pidf(p) => p,
        other => panic!("{rel}: {}", other.kind()),
    }
}

/// §4.2.2: the same document with a prefix and with a default namespace reads the same.
#[test]
fn s4_2_2_prefix_does_not_matter() {
    let a = pidf("conformance/valid/rfc3863-s4.2.2-prefixed-namespace.xml");
    let b = pidf("conformance/valid/rfc3863-s4.2.2-default-namespace.xml");
    assert_eq!(a.tuples, b.tuples);
    assert_eq!(a.entity, "pres:someone@example.com");
    let t = &a.tuples[0];
    assert_eq!(t.status.basic, Some(Basic::Open));
    assert_eq!(t.contact.as_ref().unwrap().uri, "tel:+09012345678");
    assert_eq!(t.contact.as_ref().unwrap().priority.as_deref(), Some("0.8"));
}

/// §4.1.4: basic is open or closed, nothing else.
#[test]
fn basic_is_open_or_closed() {
    for (value, ok) in [
        ("open", true),
        ("closed", true),
        (" open ", true),
        ("unknown", false),
        ("Open", false),
    ] {
        let doc = format!(
            r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status><basic>{value}</basic></status></tuple></presence>"#
        );
        assert_eq!(Presence::parse(doc.as_bytes()).is_ok(), ok, "{value}");
    }
}

/// baresip's first PUBLISH carries `<basic>unknown</basic>`: refused with a message naming the value.
#[test]
fn baresip_unknown_basic_is_refused_clearly() {
    let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@127.0.0.1"><tuple id="1234"><status><basic>unknown</basic></status><contact>sip:alice@127.0.0.1</contact></tuple></presence>"#;
    let err = Presence::parse(doc).unwrap_err();
    assert_eq!(
        err.to_string(),
        "presence/tuple[1]/status/basic: invalid value \"unknown\", expected open or closed"
    );
}

/// §4.3: status extensions, tuple extensions and `mustUnderstand` elements are kept.
#[test]
fn s4_3_extensions_are_kept() {
    let p = pidf("conformance/valid/rfc3863-s4.3.3-mustunderstand.xml");
    assert_eq!(p.tuples[0].extensions.len(), 1);
    assert_eq!(p.tuples[0].extensions[0].name.local(), "complexExtension");
    assert_eq!(p.extensions[0].name.local(), "mytag");
    let xml = p.to_xml();
    assert!(xml.contains("mustUnderstand=\"1\""), "{xml}");
    let p = pidf("conformance/valid/rfc3863-s4.3.1-status-extensions.xml");
    assert!(!p.tuples[0].status.extensions.is_empty());
}

/// Tuple ids that are not XML names, priority written `1.00`, CRLF line ends: all accepted.
#[test]
fn real_client_leniency() {
    let doc = "<presence xmlns='urn:ietf:params:xml:ns:pidf' entity='sip:6001@pbx'>\r\n<tuple id='6001'><status><basic>closed</basic></status><contact priority='1.00'>sip:6001@pbx</contact><note>line one\r\nline two</note></tuple>\r\n<tuple id='0x81475a0'><status><basic>open</basic></status></tuple></presence>";
    let p = Presence::parse(doc.as_bytes()).unwrap();
    assert_eq!(p.tuples[0].id, "6001");
    assert_eq!(p.tuples[1].id, "0x81475a0");
    assert_eq!(
        p.tuples[0].contact.as_ref().unwrap().priority_value(),
        Some(1.0)
    );
    assert_eq!(p.tuples[0].notes[0].text, "line one\nline two");
    assert_eq!(p.basic(), Some(Basic::Open));
}

/// A priority that is not a number from 0 to 1 is refused.
#[test]
fn contact_priority_is_checked() {
    for bad in ["high", "1.5", "-0.1", ""] {
        let doc = format!(
            r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status/><contact priority="{bad}">sip:a@b</contact></tuple></presence>"#
        );
        assert!(
            matches!(
                Presence::parse(doc.as_bytes()),
                Err(Error::InvalidValue { .. })
            ),
            "{bad}"
        );
    }
}

/// ISO-8859-1 documents are read with their accented characters.
#[test]
fn iso_8859_1_is_transcoded() {
    let mut doc = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:a@b\"><note>Ne d".to_vec();
    doc.push(0xe9);
    doc.extend_from_slice(b"rangez pas</note></presence>");
    assert_eq!(
        Presence::parse(&doc).unwrap().notes[0].text,
        "Ne dérangez pas"
    );
    let p = pidf("conformance/valid/asterisk-chan_sip-away-closed.xml");
    assert_eq!(p.basic(), Some(Basic::Closed));
}

/// Single-valued elements appearing twice are refused.
#[test]
fn repeated_single_elements_are_refused() {
    let doc = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="t"><status/><status/></tuple></presence>"#;
    assert!(matches!(
        Presence::parse(doc.as_bytes()),
        Err(Error::Repeated {
            element: "status",
            ..
        })
    ));
}
