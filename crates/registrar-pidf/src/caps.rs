//! Capabilities (RFC 5196): `<servcaps>` in a tuple, `<devcaps>` in a device.

use crate::common::{Note, trimmed};
use crate::ns;
use crate::xml::{Attribute, Element, Name};

/// A `<servcaps>` or `<devcaps>` element.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Caps {
    /// The capability elements in order.
    pub items: Vec<Capability>,
    /// Elements of other namespaces inside, kept for round trips.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// One capability, e.g. `audio` = true, or `methods` with supported and unsupported lists.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Capability {
    /// The local name (`audio`, `methods`, `description`, …).
    pub name: String,
    /// Its value.
    pub value: CapValue,
}

/// What a capability says.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum CapValue {
    /// `true` / `false` features (`audio`, `video`, `message`, `isfocus`, …).
    Bool(bool),
    /// Text such as `description`.
    Text(Note),
    /// `<supported>` and `<notsupported>` lists; their entries are kept as elements
    /// (`<caps:INVITE/>`, `<caps:s>sip</caps:s>`, `<caps:lowerthan maxvalue="10"/>`).
    Lists {
        /// Entries of `<supported>`.
        supported: Vec<Element>,
        /// Entries of `<notsupported>`.
        notsupported: Vec<Element>,
    },
}

impl Caps {
    /// Whether the capability `name` is set to true.
    pub fn flag(&self, name: &str) -> Option<bool> {
        self.items
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| match c.value {
                CapValue::Bool(b) => Some(b),
                _ => None,
            })
    }

    pub(crate) fn from_element(mut e: Element) -> Self {
        let mut caps = Self::default();
        for mut child in e.take_elements() {
            if child.name.ns() != Some(ns::CAPS) {
                caps.extensions.push(child);
                continue;
            }
            let Some(value) = cap_value(&mut child) else {
                // Not a shape RFC 5196 defines: kept whole, untouched.
                caps.extensions.push(child);
                continue;
            };
            caps.items.push(Capability {
                name: child.name.local().to_owned(),
                value,
            });
        }
        caps.other_attrs = e.attrs;
        caps
    }

    pub(crate) fn to_element(&self, local: &str) -> Element {
        let mut e = Element::new(Name::new(Some(ns::CAPS), local));
        e.attrs.extend(self.other_attrs.iter().cloned());
        for c in &self.items {
            let child = match &c.value {
                CapValue::Bool(b) => {
                    Element::with_text(ns::CAPS, &c.name, if *b { "true" } else { "false" })
                }
                CapValue::Text(n) => n.to_element(ns::CAPS, &c.name),
                CapValue::Lists {
                    supported,
                    notsupported,
                } => {
                    let mut x = Element::new(Name::new(Some(ns::CAPS), &c.name));
                    let both_empty = supported.is_empty() && notsupported.is_empty();
                    for (list, entries) in
                        [("supported", supported), ("notsupported", notsupported)]
                    {
                        // Two empty lists are still lists: an empty <supported/> keeps the shape.
                        if !entries.is_empty() || (both_empty && list == "supported") {
                            let mut l = Element::new(Name::new(Some(ns::CAPS), list));
                            for en in entries {
                                l.push(en.clone());
                            }
                            x.push(l);
                        }
                    }
                    x
                }
            };
            e.push(child);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

/// Read a capability element, or `None` (leaving it untouched) when it has a shape the RFC does not define.
fn cap_value(child: &mut Element) -> Option<CapValue> {
    let is_list =
        |l: &Element| l.name.is(ns::CAPS, "supported") || l.name.is(ns::CAPS, "notsupported");
    if child.elements().next().is_none() {
        if child.attrs.iter().any(|a| !a.name.is(ns::XML, "lang")) {
            return None;
        }
        return Some(match trimmed(child).as_str() {
            "true" if child.attrs.is_empty() => CapValue::Bool(true),
            "false" if child.attrs.is_empty() => CapValue::Bool(false),
            _ => CapValue::Text(Note::from_element(std::mem::replace(
                child,
                Element::new(child.name.clone()),
            ))),
        });
    }
    // Lists: only <supported>/<notsupported> children, each holding only elements, no attributes, no text.
    let rfc_lists = child.attrs.is_empty()
        && child.text().trim().is_empty()
        && child
            .elements()
            .all(|l| is_list(l) && l.attrs.is_empty() && l.text().trim().is_empty());
    if !rfc_lists {
        return None;
    }
    let mut supported = Vec::new();
    let mut notsupported = Vec::new();
    for mut l in child.take_elements() {
        if l.name.is(ns::CAPS, "supported") {
            supported.extend(l.take_elements());
        } else {
            notsupported.extend(l.take_elements());
        }
    }
    Some(CapValue::Lists {
        supported,
        notsupported,
    })
}
