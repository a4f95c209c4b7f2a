//! RFC 3680: registration information documents.

use registrar_pidf::{ContactEvent, ContactState, DocState, Document, RegistrationState};

use crate::support::fixture;

#[test]
fn s5_3_full_document() {
    let Document::RegInfo(r) =
        Document::parse(&fixture("conformance/valid/rfc3680-s5.3-reginfo-full.xml")).unwrap()
    else {
        panic!("not reginfo");
    };
    assert_eq!(r.state, DocState::Full);
    let reg = &r.registrations[0];
    assert_eq!(reg.aor, "sip:user@example.com");
    assert_eq!(reg.state, RegistrationState::Active);
    assert_eq!(reg.contacts.len(), 2);
    let c = &reg.contacts[1];
    assert_eq!(c.state, ContactState::Terminated);
    assert_eq!(c.event, ContactEvent::Expired);
    assert_eq!(c.q.as_deref(), Some("0.5"));
    assert_eq!(c.uri, "sip:user@university.edu");
}

#[test]
fn contact_needs_uri_and_valid_tokens() {
    let base = |inner: &str| {
        format!(
            r#"<reginfo xmlns="urn:ietf:params:xml:ns:reginfo" version="0" state="full"><registration aor="sip:a@b" id="r" state="active">{inner}</registration></reginfo>"#
        )
    };
    let missing_uri = base(r#"<contact id="c" state="active" event="registered"/>"#);
    assert!(
        Document::parse(missing_uri.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("uri")
    );
    let bad_event =
        base(r#"<contact id="c" state="active" event="wandered"><uri>sip:x@y</uri></contact>"#);
    assert!(Document::parse(bad_event.as_bytes()).is_err());
    let ok = base(
        r#"<contact id="c" state="active" event="registered"><uri>sip:x@y</uri><unknown-param name="+sip.instance">&lt;urn:uuid:1&gt;</unknown-param></contact>"#,
    );
    let Document::RegInfo(r) = Document::parse(ok.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(
        r.registrations[0].contacts[0].unknown_params,
        [("+sip.instance".to_owned(), "<urn:uuid:1>".to_owned())]
    );
}
