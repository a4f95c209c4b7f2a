//! Registration information (RFC 3680), the body of `reg` NOTIFYs.

use crate::Error;
use crate::common::{Note, check_unsigned, path, required_attr, token_attr, trimmed};
use crate::ns;
use crate::tokens::{DocState, token_enum};
use crate::xml::{Attribute, Element, Name};

token_enum! {
    /// State of a registration (an AoR) (RFC 3680 §5.1).
    RegistrationState {
        /// No contact yet.
        Init = "init",
        /// At least one active contact.
        Active = "active",
        /// No active contact left.
        Terminated = "terminated",
    }
}

token_enum! {
    /// State of one contact.
    ContactState {
        /// Registered.
        Active = "active",
        /// Gone.
        Terminated = "terminated",
    }
}

token_enum! {
    /// What changed a contact (RFC 3680 §5.1).
    ContactEvent {
        /// Registered.
        Registered = "registered",
        /// Created by the registrar.
        Created = "created",
        /// Refreshed.
        Refreshed = "refreshed",
        /// Its expiry was shortened.
        Shortened = "shortened",
        /// It expired.
        Expired = "expired",
        /// Deactivated by the registrar.
        Deactivated = "deactivated",
        /// On probation.
        Probation = "probation",
        /// Unregistered by the UA.
        Unregistered = "unregistered",
        /// Rejected.
        Rejected = "rejected",
    }
}

/// A `<reginfo>` document.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct RegInfo {
    /// `version`, as written.
    pub version: String,
    /// `state`
    pub state: DocState,
    /// `<registration>`s.
    pub registrations: Vec<Registration>,
    /// Other elements.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// The registration state of one AoR.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Registration {
    /// `aor`
    pub aor: String,
    /// `id`
    pub id: String,
    /// `state`
    pub state: RegistrationState,
    /// `<contact>`s.
    pub contacts: Vec<RegContact>,
    /// Other elements.
    pub extensions: Vec<Element>,
}

/// One contact of a registration.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct RegContact {
    /// `id`
    pub id: String,
    /// `state`
    pub state: ContactState,
    /// `event`
    pub event: ContactEvent,
    /// `duration-registered` (seconds)
    pub duration_registered: Option<String>,
    /// `expires` (seconds)
    pub expires: Option<String>,
    /// `retry-after` (seconds)
    pub retry_after: Option<String>,
    /// `q`
    pub q: Option<String>,
    /// `callid`
    pub callid: Option<String>,
    /// `cseq`
    pub cseq: Option<String>,
    /// `<uri>`, trimmed.
    pub uri: String,
    /// `<display-name>`
    pub display_name: Option<Note>,
    /// `<unknown-param name="…">value</unknown-param>`s: Contact parameters the registrar did not know.
    pub unknown_params: Vec<(String, String)>,
    /// Other elements.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl RegInfo {
    /// A document of `state` at `version` with no registration.
    pub fn new(version: u64, state: DocState) -> Self {
        Self {
            version: version.to_string(),
            state,
            registrations: Vec::new(),
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    pub(crate) fn from_element(mut root: Element) -> Result<Self, Error> {
        const AT: &str = "reginfo";
        let version = required_attr(&mut root, "version", AT)?;
        check_unsigned(&version, "reginfo@version")?;
        let state = token_attr(&mut root, "state", AT, DocState::EXPECTED)?;
        let mut r = Self::new(0, state);
        r.version = version;
        let mut n = 0;
        for child in root.take_elements() {
            if child.name.is(ns::REGINFO, "registration") {
                let at = path(AT, "registration", Some(n));
                n += 1;
                r.registrations
                    .push(Registration::from_element(child, &at)?);
            } else {
                r.extensions.push(child);
            }
        }
        r.other_attrs = root.attrs;
        Ok(r)
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::REGINFO), "reginfo"))
            .attr("version", &self.version)
            .attr("state", self.state.as_str());
        e.attrs.extend(self.other_attrs.iter().cloned());
        for r in &self.registrations {
            let mut re = Element::new(Name::new(Some(ns::REGINFO), "registration"))
                .attr("aor", &r.aor)
                .attr("id", &r.id)
                .attr("state", r.state.as_str());
            for c in &r.contacts {
                re.push(c.to_element());
            }
            for x in &r.extensions {
                re.push(x.clone());
            }
            e.push(re);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl Registration {
    /// A registration with no contact.
    pub fn new(aor: &str, id: &str, state: RegistrationState) -> Self {
        Self {
            aor: aor.to_owned(),
            id: id.to_owned(),
            state,
            contacts: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let aor = required_attr(&mut e, "aor", at)?;
        let id = required_attr(&mut e, "id", at)?;
        let state = token_attr(&mut e, "state", at, RegistrationState::EXPECTED)?;
        let mut r = Self::new(&aor, &id, state);
        let mut n = 0;
        for child in e.take_elements() {
            if child.name.is(ns::REGINFO, "contact") {
                let cat = path(at, "contact", Some(n));
                n += 1;
                r.contacts.push(RegContact::from_element(child, &cat)?);
            } else {
                r.extensions.push(child);
            }
        }
        Ok(r)
    }
}

impl RegContact {
    /// A contact with the required fields.
    pub fn new(id: &str, uri: &str, state: ContactState, event: ContactEvent) -> Self {
        Self {
            id: id.to_owned(),
            state,
            event,
            duration_registered: None,
            expires: None,
            retry_after: None,
            q: None,
            callid: None,
            cseq: None,
            uri: uri.to_owned(),
            display_name: None,
            unknown_params: Vec::new(),
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let id = required_attr(&mut e, "id", at)?;
        let state = token_attr(&mut e, "state", at, ContactState::EXPECTED)?;
        let event = token_attr(&mut e, "event", at, ContactEvent::EXPECTED)?;
        let mut c = Self::new(&id, "", state, event);
        c.duration_registered = e.take_attr("duration-registered");
        c.expires = e.take_attr("expires");
        c.retry_after = e.take_attr("retry-after");
        for (v, name) in [
            (&c.duration_registered, "duration-registered"),
            (&c.expires, "expires"),
            (&c.retry_after, "retry-after"),
        ] {
            if let Some(v) = v {
                check_unsigned(v, &format!("{at}@{name}"))?;
            }
        }
        c.q = e.take_attr("q");
        c.callid = e.take_attr("callid");
        c.cseq = e.take_attr("cseq");
        let mut uri = None;
        for mut child in e.take_elements() {
            if child.name.is(ns::REGINFO, "uri") {
                crate::common::set_once(&mut uri, trimmed(&child), at, "uri")?;
            } else if child.name.is(ns::REGINFO, "display-name") {
                c.display_name = Some(Note::from_element(child));
            } else if child.name.is(ns::REGINFO, "unknown-param") {
                let name = required_attr(&mut child, "name", &format!("{at}/unknown-param"))?;
                c.unknown_params.push((name, child.text()));
            } else {
                c.extensions.push(child);
            }
        }
        c.uri = uri.ok_or_else(|| Error::MissingElement {
            at: at.to_owned(),
            element: "uri",
        })?;
        c.other_attrs = e.attrs;
        Ok(c)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::REGINFO), "contact"))
            .attr("id", &self.id)
            .attr("state", self.state.as_str())
            .attr("event", self.event.as_str())
            .attr_opt("duration-registered", self.duration_registered.as_deref())
            .attr_opt("expires", self.expires.as_deref())
            .attr_opt("retry-after", self.retry_after.as_deref())
            .attr_opt("q", self.q.as_deref())
            .attr_opt("callid", self.callid.as_deref())
            .attr_opt("cseq", self.cseq.as_deref());
        e.attrs.extend(self.other_attrs.iter().cloned());
        e.push(Element::with_text(ns::REGINFO, "uri", &self.uri));
        if let Some(d) = &self.display_name {
            e.push(d.to_element(ns::REGINFO, "display-name"));
        }
        for (name, value) in &self.unknown_params {
            e.push(Element::with_text(ns::REGINFO, "unknown-param", value).attr("name", name));
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}
