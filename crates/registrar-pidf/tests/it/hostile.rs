//! Documents written to hurt a server: refused quickly, without panic or unbounded allocation.

use registrar_pidf::{Document, Error, Limits, Presence};

#[test]
fn ten_megabyte_document_is_refused_by_the_size_limit() {
    let mut doc = String::from(
        r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com"><tuple id="t"><status><basic>open</basic></status>"#,
    );
    while doc.len() < 10 * 1024 * 1024 {
        doc.push_str("<note>padding padding padding padding padding padding padding</note>");
    }
    doc.push_str("</tuple></presence>");
    let err = Presence::parse(doc.as_bytes()).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { max: 1_048_576, .. }),
        "{err}"
    );
    // A raised limit lets the same document through: the limit, not the content, refused it.
    let limits = Limits::default()
        .max_bytes(11 * 1024 * 1024)
        .max_elements(1_000_000);
    assert!(Presence::parse_with(doc.as_bytes(), &limits).is_ok());
}

#[test]
fn external_entities_are_never_read() {
    for doc in [
        r#"<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"/>"#,
        r#"<!DOCTYPE p SYSTEM "http://127.0.0.1:1/dtd"><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"/>"#,
    ] {
        assert!(matches!(
            Document::parse(doc.as_bytes()),
            Err(Error::Doctype { .. })
        ));
    }
    // An entity reference without a DOCTYPE is an unknown entity, never a file read.
    let doc = r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><note>&xxe;</note></presence>"#;
    assert!(
        matches!(Document::parse(doc.as_bytes()), Err(Error::UnknownEntity { name, .. }) if name == "xxe")
    );
}

#[test]
fn wide_documents_hit_the_element_limit() {
    let mut doc =
        String::from(r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b">"#);
    for _ in 0..20_000 {
        doc.push_str("<x/>");
    }
    doc.push_str("</presence>");
    assert!(matches!(
        Document::parse(doc.as_bytes()),
        Err(Error::TooManyElements { max: 10_000, .. })
    ));
}

#[test]
fn forbidden_characters_are_refused() {
    for doc in [
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>\u{7}</note></presence>",
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>&#x1;</note></presence>",
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a@b\"><note>\u{FFFF}</note></presence>",
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"pres:a&#x0;@b\"/>",
    ] {
        let err = Document::parse(doc.as_bytes()).unwrap_err();
        assert!(
            matches!(err, Error::ForbiddenCharacter { .. } | Error::Syntax { .. }),
            "{err:?}"
        );
    }
}

#[test]
fn truncations_of_a_valid_document_never_panic() {
    let doc = crate::support::fixture("conformance/valid/rfc4480-s4-rpid-full-example.xml");
    for cut in 0..doc.len() {
        let _ = Document::parse(&doc[..cut]);
    }
}

/// Inputs the fuzzer found: each must write and read back to the same document.
#[test]
fn fuzz_regressions_round_trip() {
    let dir = crate::support::fixtures().join("fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        n += 1;
        let doc = Document::parse(&std::fs::read(&path).unwrap()).unwrap();
        let xml = doc.to_xml();
        assert_eq!(
            Document::parse(xml.as_bytes()).unwrap(),
            doc,
            "{}",
            path.display()
        );
    }
    assert!(n >= 5);
}
