//! Helpers shared by the document readers: paths for messages, notes, required values.

use crate::xml::{Element, Name};
use crate::{Error, ns};

/// A human-readable language-tagged text: `<note xml:lang="en">…</note>` and friends.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
pub struct Note {
    /// The text as written (entities resolved).
    pub text: String,
    /// `xml:lang`, if given.
    pub lang: Option<String>,
}

impl Note {
    /// A note without language.
    pub fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            lang: None,
        }
    }

    /// A note in language `lang`.
    pub fn with_lang(text: &str, lang: &str) -> Self {
        Self {
            text: text.to_owned(),
            lang: Some(lang.to_owned()),
        }
    }

    pub(crate) fn from_element(mut e: Element) -> Self {
        let lang = e.take_lang();
        Self {
            text: e.take_text(),
            lang,
        }
    }

    pub(crate) fn to_element(&self, ns: &str, local: &str) -> Element {
        let mut e = Element::with_text(ns, local, &self.text);
        if let Some(lang) = &self.lang {
            e.attrs.push(crate::xml::Attribute {
                name: Name::new(Some(ns::XML), "lang"),
                value: lang.clone(),
            });
        }
        e
    }
}

/// `parent/child` or `parent/child[n]` for messages.
pub(crate) fn path(parent: &str, child: &str, index: Option<usize>) -> String {
    match index {
        Some(i) => format!("{parent}/{child}[{}]", i + 1),
        None => format!("{parent}/{child}"),
    }
}

/// Take a required attribute.
pub(crate) fn required_attr(
    e: &mut Element,
    attr: &'static str,
    at: &str,
) -> Result<String, Error> {
    e.take_attr(attr).ok_or_else(|| Error::MissingAttribute {
        at: at.to_owned(),
        attribute: attr,
    })
}

/// Take a required attribute whose value must be one of a token enum's.
pub(crate) fn token_attr<T: std::str::FromStr>(
    e: &mut Element,
    attr: &'static str,
    at: &str,
    expected: &'static str,
) -> Result<T, Error> {
    let v = required_attr(e, attr, at)?;
    parse_token(&v, &format!("{at}@{attr}"), expected)
}

pub(crate) fn parse_token<T: std::str::FromStr>(
    v: &str,
    at: &str,
    expected: &'static str,
) -> Result<T, Error> {
    v.trim().parse().map_err(|_| Error::InvalidValue {
        at: at.to_owned(),
        value: v.to_owned(),
        expected,
    })
}

/// Store a single-valued child, refusing a second one.
pub(crate) fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    at: &str,
    element: &'static str,
) -> Result<(), Error> {
    if slot.is_some() {
        return Err(Error::Repeated {
            at: at.to_owned(),
            element,
        });
    }
    *slot = Some(value);
    Ok(())
}

/// The trimmed text of an element.
pub(crate) fn trimmed(e: &Element) -> String {
    let text = match e.children.as_slice() {
        [crate::xml::Node::Text(t)] => std::borrow::Cow::Borrowed(t.as_str()),
        _ => std::borrow::Cow::Owned(e.text()),
    };
    text.trim().to_owned()
}

/// A non-negative integer attribute value (versions, durations), as written.
pub(crate) fn check_unsigned(v: &str, at: &str) -> Result<(), Error> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) || v.len() > 20 {
        return Err(Error::InvalidValue {
            at: at.to_owned(),
            value: v.to_owned(),
            expected: "a non-negative integer",
        });
    }
    Ok(())
}
