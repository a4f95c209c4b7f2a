//! Resource lists (RFC 4826, `application/resource-lists+xml`) as a SUBSCRIBE carries them to ask for an
//! ad-hoc resource list subscription (RFC 5367): the URIs of its entries, in document order.
//!
//! Nested `<list>`s are flattened. `<entry-ref>` and `<external>` name lists held elsewhere (an XCAP server),
//! which this crate does not fetch: a document using them is refused with [`Error::InvalidValue`], so the
//! subscriber learns at once that its list was not understood rather than watching part of it.

use crate::Error;
use crate::ns;
use crate::xml::{Element, Limits, parse_tree};

/// The most entries accepted.
pub const MAX_ENTRIES: usize = 1000;

/// The entry URIs of a resource-lists document, in document order, each once.
///
/// # Errors
/// The hostile-input errors of every document here, [`Error::WrongRoot`] for another root,
/// [`Error::MissingAttribute`] for an entry without `uri`, [`Error::InvalidValue`] for `entry-ref`,
/// `external` or more than [`MAX_ENTRIES`] entries.
pub fn parse_resource_lists(input: &[u8], limits: &Limits) -> Result<Vec<String>, Error> {
    let root = parse_tree(input, limits)?;
    if !root.name.is(ns::RESOURCE_LISTS, "resource-lists") {
        return Err(Error::WrongRoot {
            found: root.name.expanded(),
            expected: "{urn:ietf:params:xml:ns:resource-lists}resource-lists",
        });
    }
    let mut out = Vec::new();
    for list in root.elements() {
        if list.name.is(ns::RESOURCE_LISTS, "list") {
            collect(list, "resource-lists/list", &mut out)?;
        }
    }
    Ok(out)
}

fn collect(list: &Element, at: &str, out: &mut Vec<String>) -> Result<(), Error> {
    for e in list.elements() {
        if e.name.ns() != Some(ns::RESOURCE_LISTS) {
            continue;
        }
        match e.name.local() {
            "entry" => {
                let Some(uri) = e.attribute("uri") else {
                    return Err(Error::MissingAttribute {
                        at: format!("{at}/entry"),
                        attribute: "uri",
                    });
                };
                let uri = uri.trim();
                if !out.iter().any(|u| u == uri) {
                    if out.len() == MAX_ENTRIES {
                        return Err(Error::InvalidValue {
                            at: at.to_owned(),
                            value: format!("more than {MAX_ENTRIES} entries"),
                            expected: "at most 1000 entries",
                        });
                    }
                    out.push(uri.to_owned());
                }
            }
            "list" => collect(e, &format!("{at}/list"), out)?,
            other @ ("entry-ref" | "external") => {
                return Err(Error::InvalidValue {
                    at: format!("{at}/{other}"),
                    value: other.to_owned(),
                    expected: "<entry uri=…> (lists held elsewhere are not fetched)",
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Linphone (liblinphone 5.1) sends in its friend list SUBSCRIBE.
    const LINPHONE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:ietf:params:xml:ns:resource-lists">
 <list>
  <entry uri="sip:pat@example.com"/>
  <entry uri="sip:quinn@example.com"><display-name>Quinn</display-name></entry>
 </list>
</resource-lists>
"#;

    #[test]
    fn linphone_friend_list() {
        let uris = parse_resource_lists(LINPHONE.as_bytes(), &Limits::default()).unwrap();
        assert_eq!(uris, ["sip:pat@example.com", "sip:quinn@example.com"]);
    }

    #[test]
    fn nested_lists_are_flattened_and_repeats_dropped() {
        let doc = r#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list name="a"><entry uri="sip:a@x"/><list name="b"><entry uri="sip:b@x"/><entry uri="sip:a@x"/></list></list></resource-lists>"#;
        assert_eq!(
            parse_resource_lists(doc.as_bytes(), &Limits::default()).unwrap(),
            ["sip:a@x", "sip:b@x"]
        );
    }

    #[test]
    fn references_and_bad_documents_are_refused() {
        for (doc, what) in [
            (
                r#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry-ref ref="x"/></list></resource-lists>"#,
                "entry-ref",
            ),
            (
                r#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry/></list></resource-lists>"#,
                "uri",
            ),
            (
                r#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>"#,
                "resource-lists",
            ),
            ("<!DOCTYPE x><resource-lists/>", "DOCTYPE"),
        ] {
            let e = parse_resource_lists(doc.as_bytes(), &Limits::default()).unwrap_err();
            assert!(e.to_string().contains(what), "{e}");
        }
    }

    #[test]
    fn at_most_max_entries() {
        let mut doc =
            String::from(r#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list>"#);
        for i in 0..=MAX_ENTRIES {
            doc.push_str(&format!(r#"<entry uri="sip:u{i}@x"/>"#));
        }
        doc.push_str("</list></resource-lists>");
        assert!(parse_resource_lists(doc.as_bytes(), &Limits::default()).is_err());
    }
}
