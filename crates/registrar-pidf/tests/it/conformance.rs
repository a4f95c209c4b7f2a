//! ../shared/conformance/pidf: every valid document parses and round-trips; every invalid one is refused.

use registrar_pidf::{Document, Error};

use crate::support::corpus;

#[test]
fn every_valid_document_parses_and_round_trips() {
    let docs = corpus("valid");
    assert!(docs.len() >= 44, "only {} valid fixtures", docs.len());
    for (name, bytes) in docs {
        let doc = Document::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected_kind = if name.contains("winfo") || name.contains("watcherinfo") {
            "watcherinfo"
        } else if name.contains("reginfo") {
            "reginfo"
        } else if name.contains("rlmi") {
            "rlmi"
        } else if name.contains("dialog-info") {
            "dialog-info"
        } else {
            "pidf"
        };
        assert_eq!(doc.kind(), expected_kind, "{name}");
        let xml = doc.to_xml();
        let again = Document::parse(xml.as_bytes())
            .unwrap_or_else(|e| panic!("{name} rebuilt: {e}\n{xml}"));
        assert_eq!(again, doc, "{name} does not round-trip:\n{xml}");
        assert_eq!(again.to_xml(), xml, "{name}: writing is not deterministic");
    }
}

#[test]
fn every_invalid_document_is_refused() {
    let docs = corpus("invalid");
    assert!(docs.len() >= 24, "only {} invalid fixtures", docs.len());
    for (name, bytes) in docs {
        let result = Document::parse(&bytes);
        assert!(result.is_err(), "{name} was accepted: {result:?}");
    }
}

/// Each synthetic invalid document is refused for the reason it was written for.
#[test]
fn invalid_documents_fail_for_the_right_reason() {
    type Check = fn(&Error) -> bool;
    let cases: &[(&str, Check)] = &[
        (
            "bad-basic-invalid-value.xml",
            |e| matches!(e, Error::InvalidValue { at, .. } if at.ends_with("status/basic")),
        ),
        ("bad-billion-laughs.xml", |e| {
            matches!(e, Error::Doctype { line: 2 })
        }),
        ("bad-xxe-file-passwd.xml", |e| {
            matches!(e, Error::Doctype { .. })
        }),
        ("bad-deep-nesting-50000.xml", |e| {
            matches!(e, Error::TooDeep { max: 32, .. })
        }),
        (
            "bad-duplicate-tuple-ids.xml",
            |e| matches!(e, Error::DuplicateId { id, .. } if id == "dup1"),
        ),
        ("bad-empty-document.xml", |e| matches!(e, Error::Empty)),
        ("bad-invalid-utf8.xml", |e| {
            matches!(e, Error::InvalidUtf8 { line: 7 })
        }),
        ("bad-missing-entity.xml", |e| {
            matches!(
                e,
                Error::MissingAttribute {
                    attribute: "entity",
                    ..
                }
            )
        }),
        ("bad-namespace-missing.xml", |e| {
            matches!(e, Error::WrongRoot { .. })
        }),
        ("bad-namespace-trailing-colon.xml", |e| {
            matches!(e, Error::WrongRoot { .. })
        }),
        ("bad-not-well-formed-unclosed-tuple.xml", |e| {
            matches!(e, Error::Syntax { .. })
        }),
        ("bad-tuple-without-id.xml", |e| {
            matches!(
                e,
                Error::MissingAttribute {
                    attribute: "id",
                    ..
                }
            )
        }),
        ("bad-tuple-without-status.xml", |e| {
            matches!(
                e,
                Error::MissingElement {
                    element: "status",
                    ..
                }
            )
        }),
        ("bad-wrong-root-conference-info.xml", |e| {
            matches!(e, Error::WrongRoot { .. })
        }),
        (
            "kamailio-xmlops-basic-none.xml",
            |e| matches!(e, Error::InvalidValue { value, .. } if value == "none"),
        ),
        ("impp-draft-cpim-pidf-namespace.xml", |e| {
            matches!(e, Error::WrongRoot { .. })
        }),
        ("polycom-vvx101-xpidf-open.xml", |e| {
            matches!(e, Error::Doctype { .. })
        }),
        ("rfc4479-s7.1-no-entity.xml", |e| {
            matches!(
                e,
                Error::MissingAttribute {
                    attribute: "entity",
                    ..
                }
            )
        }),
        ("rfc4482-s4-cipid-mismatched-end-tag.xml", |e| {
            matches!(e, Error::Syntax { .. })
        }),
    ];
    for (name, check) in cases {
        let bytes = crate::support::fixture(&format!("conformance/invalid/{name}"));
        let err = Document::parse(&bytes).expect_err(name);
        assert!(check(&err), "{name}: wrong error {err:?}");
        assert!(!err.to_string().is_empty());
    }
}
