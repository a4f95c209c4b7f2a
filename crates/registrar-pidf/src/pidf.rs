//! PIDF (RFC 3863) with the data model of RFC 4479: presence, tuples, persons, devices.

use crate::Error;
use crate::caps::Caps;
use crate::common::{Note, path, required_attr, set_once, trimmed};
use crate::ns;
use crate::rpid::{Cipid, Rpid};
use crate::tokens::Basic;
use crate::xml::{Attribute, Element, Limits, Name, parse_tree, write_document};

/// A PIDF document: the presence of one entity.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Presence {
    /// `entity`: the presentity's URI (`pres:` or `sip:`; some servers omit the scheme), trimmed.
    pub entity: String,
    /// Tuples in document order; ids are unique.
    pub tuples: Vec<Tuple>,
    /// Presence-level `<note>`s.
    pub notes: Vec<Note>,
    /// `<dm:person>` elements.
    pub persons: Vec<Person>,
    /// `<dm:device>` elements.
    pub devices: Vec<Device>,
    /// Other top-level elements (extensions), kept in order for round trips.
    pub extensions: Vec<Element>,
    /// Unknown attributes of `<presence>`.
    pub other_attrs: Vec<Attribute>,
}

/// A `<tuple>`: one way of reaching the presentity, with its status.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Tuple {
    /// `id`, unique in the document (not necessarily an XML name: phones send `6001` or `0x81475a0`).
    pub id: String,
    /// `<status>`.
    pub status: Status,
    /// `<contact>`.
    pub contact: Option<Contact>,
    /// `<note>`s.
    pub notes: Vec<Note>,
    /// `<timestamp>`, trimmed, as written.
    pub timestamp: Option<String>,
    /// `<dm:deviceID>` (RFC 4479), trimmed.
    pub device_id: Option<String>,
    /// RPID elements of the tuple (relationship, service-class, class, status-icon, …).
    pub rpid: Rpid,
    /// CIPID elements of the tuple.
    pub cipid: Cipid,
    /// `<caps:servcaps>` (RFC 5196).
    pub servcaps: Option<Caps>,
    /// Other elements, kept in order.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// A tuple's `<status>`.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Status {
    /// `<basic>`: open or closed. Optional in RFC 3863.
    pub basic: Option<Basic>,
    /// Status extensions (other elements inside `<status>`).
    pub extensions: Vec<Element>,
}

/// A tuple's `<contact>`.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Contact {
    /// The URI, trimmed.
    pub uri: String,
    /// `priority` as written (`0.8`, `1.00`); checked to be a number from 0 to 1.
    pub priority: Option<String>,
}

impl Contact {
    /// A contact without priority.
    pub fn new(uri: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            priority: None,
        }
    }

    /// A contact with a priority, written as given (`"0.8"`).
    pub fn with_priority(uri: &str, priority: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            priority: Some(priority.to_owned()),
        }
    }

    /// The priority as a number.
    pub fn priority_value(&self) -> Option<f64> {
        self.priority.as_deref().and_then(|p| p.trim().parse().ok())
    }
}

/// A `<dm:person>` (RFC 4479 §3.1): the human side of the presentity.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Person {
    /// `id`; optional here because real phones omit it.
    pub id: Option<String>,
    /// RPID elements: activities, mood, place-type, …
    pub rpid: Rpid,
    /// CIPID elements: display-name, card, homepage, …
    pub cipid: Cipid,
    /// `<dm:note>`s.
    pub notes: Vec<Note>,
    /// `<dm:timestamp>`, trimmed.
    pub timestamp: Option<String>,
    /// Other elements, kept in order.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// A `<dm:device>` (RFC 4479 §3.3).
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Device {
    /// `id`; optional here because real phones omit it.
    pub id: Option<String>,
    /// `<dm:deviceID>`, trimmed.
    pub device_id: Option<String>,
    /// RPID elements (user-input, class, …).
    pub rpid: Rpid,
    /// `<caps:devcaps>`.
    pub devcaps: Option<Caps>,
    /// `<dm:note>`s.
    pub notes: Vec<Note>,
    /// `<dm:timestamp>`, trimmed.
    pub timestamp: Option<String>,
    /// Other elements, kept in order.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl Presence {
    /// An empty document for `entity`.
    pub fn new(entity: &str) -> Self {
        Self {
            entity: entity.to_owned(),
            ..Self::default()
        }
    }

    /// Parse a PIDF document with default limits.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Self::parse_with(input, &Limits::default())
    }

    /// Parse a PIDF document with the given limits.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Self, Error> {
        let root = parse_tree(input, limits)?;
        if !root.name.is(ns::PIDF, "presence") {
            return Err(Error::WrongRoot {
                found: root.name.expanded(),
                expected: "{urn:ietf:params:xml:ns:pidf}presence",
            });
        }
        Self::from_element(root)
    }

    /// The document as XML: deterministic, escaped, every namespace declared on the root.
    pub fn to_xml(&self) -> String {
        write_document(&self.to_element())
    }

    /// The overall basic status: open when any tuple is open, closed when tuples exist and none is open,
    /// `None` without any basic.
    pub fn basic(&self) -> Option<Basic> {
        let mut seen = None;
        for t in &self.tuples {
            match t.status.basic {
                Some(Basic::Open) => return Some(Basic::Open),
                Some(Basic::Closed) => seen = Some(Basic::Closed),
                None => {}
            }
        }
        seen
    }

    pub(crate) fn from_element(mut root: Element) -> Result<Self, Error> {
        const AT: &str = "presence";
        let entity = required_attr(&mut root, "entity", AT)?.trim().to_owned();
        // RFC 3863 asks for a URI; OpenSIPS sends a bare `user@host`, so only emptiness is refused.
        if entity.is_empty() {
            return Err(Error::InvalidValue {
                at: "presence@entity".into(),
                value: entity,
                expected: "a URI",
            });
        }
        let mut p = Self::new(&entity);
        let (mut nt, mut np, mut nd) = (0, 0, 0);
        for child in root.take_elements() {
            if child.name.is(ns::PIDF, "tuple") {
                let at = path(AT, "tuple", Some(nt));
                nt += 1;
                let t = Tuple::from_element(child, &at)?;
                if p.tuples.iter().any(|x| x.id == t.id) {
                    return Err(Error::DuplicateId { at, id: t.id });
                }
                p.tuples.push(t);
            } else if child.name.is(ns::PIDF, "note") {
                p.notes.push(Note::from_element(child));
            } else if child.name.is(ns::DATA_MODEL, "person") {
                let at = path(AT, "person", Some(np));
                np += 1;
                p.persons.push(Person::from_element(child, &at)?);
            } else if child.name.is(ns::DATA_MODEL, "device") {
                let at = path(AT, "device", Some(nd));
                nd += 1;
                p.devices.push(Device::from_element(child, &at)?);
            } else {
                p.extensions.push(child);
            }
        }
        p.other_attrs = root.attrs;
        Ok(p)
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut e =
            Element::new(Name::new(Some(ns::PIDF), "presence")).attr("entity", &self.entity);
        e.attrs.extend(self.other_attrs.iter().cloned());
        for t in &self.tuples {
            e.push(t.to_element());
        }
        for n in &self.notes {
            e.push(n.to_element(ns::PIDF, "note"));
        }
        for p in &self.persons {
            e.push(p.to_element());
        }
        for d in &self.devices {
            e.push(d.to_element());
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl Tuple {
    /// A tuple with an id and a basic status.
    pub fn new(id: &str, basic: Basic) -> Self {
        Self {
            id: id.to_owned(),
            status: Status {
                basic: Some(basic),
                extensions: Vec::new(),
            },
            ..Self::default()
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let id = required_attr(&mut e, "id", at)?;
        let mut t = Self {
            id,
            ..Self::default()
        };
        let mut status = None;
        for child in e.take_elements() {
            if child.name.ns() == Some(ns::PIDF) {
                match child.name.local() {
                    "status" => {
                        let s = Status::from_element(child, at)?;
                        set_once(&mut status, s, at, "status")?;
                        continue;
                    }
                    "contact" => {
                        let c = Contact::from_element(child, at)?;
                        set_once(&mut t.contact, c, at, "contact")?;
                        continue;
                    }
                    "note" => {
                        t.notes.push(Note::from_element(child));
                        continue;
                    }
                    "timestamp" => {
                        set_once(&mut t.timestamp, trimmed(&child), at, "timestamp")?;
                        continue;
                    }
                    _ => {}
                }
            }
            if child.name.is(ns::DATA_MODEL, "deviceID") {
                set_once(&mut t.device_id, trimmed(&child), at, "deviceID")?;
                continue;
            }
            if child.name.is(ns::CAPS, "servcaps") {
                set_once(&mut t.servcaps, Caps::from_element(child), at, "servcaps")?;
                continue;
            }
            let Some(child) = t.rpid.absorb(child, at)? else {
                continue;
            };
            let Some(child) = t.cipid.absorb(child, at)? else {
                continue;
            };
            t.extensions.push(child);
        }
        t.status = status.ok_or_else(|| Error::MissingElement {
            at: at.to_owned(),
            element: "status",
        })?;
        t.other_attrs = e.attrs;
        Ok(t)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::PIDF), "tuple")).attr("id", &self.id);
        e.attrs.extend(self.other_attrs.iter().cloned());
        e.push(self.status.to_element());
        if let Some(d) = &self.device_id {
            e.push(Element::with_text(ns::DATA_MODEL, "deviceID", d));
        }
        for x in self.rpid.to_elements() {
            e.push(x);
        }
        for x in self.cipid.to_elements() {
            e.push(x);
        }
        if let Some(c) = &self.servcaps {
            e.push(c.to_element("servcaps"));
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        if let Some(c) = &self.contact {
            e.push(
                Element::with_text(ns::PIDF, "contact", &c.uri)
                    .attr_opt("priority", c.priority.as_deref()),
            );
        }
        for n in &self.notes {
            e.push(n.to_element(ns::PIDF, "note"));
        }
        if let Some(ts) = &self.timestamp {
            e.push(Element::with_text(ns::PIDF, "timestamp", ts));
        }
        e
    }
}

impl Status {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut s = Self::default();
        for child in e.take_elements() {
            if child.name.is(ns::PIDF, "basic") {
                let v = trimmed(&child);
                let b = v.parse::<Basic>().map_err(|()| Error::InvalidValue {
                    at: format!("{at}/status/basic"),
                    value: v,
                    expected: "open or closed",
                })?;
                if s.basic.is_some() {
                    return Err(Error::Repeated {
                        at: format!("{at}/status"),
                        element: "basic",
                    });
                }
                s.basic = Some(b);
            } else {
                s.extensions.push(child);
            }
        }
        Ok(s)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::PIDF), "status"));
        if let Some(b) = self.basic {
            e.push(Element::with_text(ns::PIDF, "basic", b.as_str()));
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl Contact {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let priority = e.take_attr("priority");
        if let Some(p) = &priority {
            // RFC 3863 says qvalue; phones write `1.00` or `0.500000`, so any decimal from 0 to 1 passes.
            let ok = p
                .trim()
                .parse::<f64>()
                .is_ok_and(|v| (0.0..=1.0).contains(&v))
                && p.trim().bytes().all(|b| b.is_ascii_digit() || b == b'.');
            if !ok {
                return Err(Error::InvalidValue {
                    at: format!("{at}/contact@priority"),
                    value: p.clone(),
                    expected: "a number from 0 to 1",
                });
            }
        }
        Ok(Self {
            uri: trimmed(&e),
            priority,
        })
    }
}

impl Person {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut p = Self {
            id: e.take_attr("id"),
            ..Self::default()
        };
        for child in e.take_elements() {
            if child.name.is(ns::DATA_MODEL, "note") {
                p.notes.push(Note::from_element(child));
                continue;
            }
            if child.name.is(ns::DATA_MODEL, "timestamp") {
                set_once(&mut p.timestamp, trimmed(&child), at, "timestamp")?;
                continue;
            }
            let Some(child) = p.rpid.absorb(child, at)? else {
                continue;
            };
            let Some(child) = p.cipid.absorb(child, at)? else {
                continue;
            };
            p.extensions.push(child);
        }
        p.other_attrs = e.attrs;
        Ok(p)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::DATA_MODEL), "person"))
            .attr_opt("id", self.id.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        for x in self.rpid.to_elements() {
            e.push(x);
        }
        for x in self.cipid.to_elements() {
            e.push(x);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        for n in &self.notes {
            e.push(n.to_element(ns::DATA_MODEL, "note"));
        }
        if let Some(ts) = &self.timestamp {
            e.push(Element::with_text(ns::DATA_MODEL, "timestamp", ts));
        }
        e
    }
}

impl Device {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut d = Self {
            id: e.take_attr("id"),
            ..Self::default()
        };
        for child in e.take_elements() {
            if child.name.is(ns::DATA_MODEL, "deviceID") {
                set_once(&mut d.device_id, trimmed(&child), at, "deviceID")?;
                continue;
            }
            if child.name.is(ns::DATA_MODEL, "note") {
                d.notes.push(Note::from_element(child));
                continue;
            }
            if child.name.is(ns::DATA_MODEL, "timestamp") {
                set_once(&mut d.timestamp, trimmed(&child), at, "timestamp")?;
                continue;
            }
            if child.name.is(ns::CAPS, "devcaps") {
                set_once(&mut d.devcaps, Caps::from_element(child), at, "devcaps")?;
                continue;
            }
            let Some(child) = d.rpid.absorb(child, at)? else {
                continue;
            };
            d.extensions.push(child);
        }
        d.other_attrs = e.attrs;
        Ok(d)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::DATA_MODEL), "device"))
            .attr_opt("id", self.id.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        for x in self.rpid.to_elements() {
            e.push(x);
        }
        if let Some(c) = &self.devcaps {
            e.push(c.to_element("devcaps"));
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        if let Some(d) = &self.device_id {
            e.push(Element::with_text(ns::DATA_MODEL, "deviceID", d));
        }
        for n in &self.notes {
            e.push(n.to_element(ns::DATA_MODEL, "note"));
        }
        if let Some(ts) = &self.timestamp {
            e.push(Element::with_text(ns::DATA_MODEL, "timestamp", ts));
        }
        e
    }
}
