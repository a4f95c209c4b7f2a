//! Dialog state (RFC 4235), the body of `dialog` NOTIFYs and PUBLISHes: what busy lamp fields show.

use crate::Error;
use crate::common::{check_unsigned, path, required_attr, set_once, token_attr, trimmed};
use crate::ns;
use crate::tokens::{DocState, token_enum};
use crate::xml::{Attribute, Element, Name};

token_enum! {
    /// State of one dialog (RFC 4235 §3.7.1).
    DialogState {
        /// An INVITE was sent or received, no provisional answer yet.
        Trying = "trying",
        /// A provisional answer without a tag.
        Proceeding = "proceeding",
        /// An early dialog (a provisional answer with a tag): ringing.
        Early = "early",
        /// Answered.
        Confirmed = "confirmed",
        /// Ended.
        Terminated = "terminated",
    }
}

token_enum! {
    /// Why a dialog changed state: the `event` attribute of `<state>` (RFC 4235 §4.1.2).
    DialogEvent {
        /// The INVITE was cancelled.
        Cancelled = "cancelled",
        /// The INVITE was refused (the `code` says how).
        Rejected = "rejected",
        /// Replaced by another dialog (RFC 3891).
        Replaced = "replaced",
        /// This side hung up.
        LocalBye = "local-bye",
        /// The other side hung up.
        RemoteBye = "remote-bye",
        /// An error ended it.
        Error = "error",
        /// A timeout ended it.
        Timeout = "timeout",
    }
}

token_enum! {
    /// Who sent the INVITE (RFC 4235 §4.1.2).
    Direction {
        /// The entity called.
        Initiator = "initiator",
        /// The entity was called.
        Recipient = "recipient",
    }
}

/// A `<dialog-info>` document.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct DialogInfo {
    /// `version`, as written.
    pub version: String,
    /// `state`: every dialog, or only those that changed.
    pub state: DocState,
    /// `entity`: whose dialogs these are.
    pub entity: String,
    /// `<dialog>`s.
    pub dialogs: Vec<Dialog>,
    /// Other elements.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// One dialog of the entity.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Dialog {
    /// `id`: unique in the document.
    pub id: String,
    /// `call-id`
    pub call_id: Option<String>,
    /// `local-tag`
    pub local_tag: Option<String>,
    /// `remote-tag`
    pub remote_tag: Option<String>,
    /// `direction`
    pub direction: Option<Direction>,
    /// `<state>`
    pub state: DialogState,
    /// `<state event="…">`
    pub event: Option<DialogEvent>,
    /// `<state code="…">`: the SIP status that caused the state (100–699).
    pub code: Option<u16>,
    /// `<duration>` in seconds, as written.
    pub duration: Option<String>,
    /// `<local>`
    pub local: Option<DialogParticipant>,
    /// `<remote>`
    pub remote: Option<DialogParticipant>,
    /// Other elements (`<replaces>`, `<referred-by>`, `<route-set>` and any extension), kept as written.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// `<local>` or `<remote>` of a dialog.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct DialogParticipant {
    /// `<identity>`: the URI, trimmed.
    pub identity: Option<String>,
    /// `<identity display="…">`
    pub display: Option<String>,
    /// `<target uri="…">`
    pub target: Option<String>,
    /// `<target>`'s `<param pname="…" pval="…"/>`s.
    pub target_params: Vec<(String, String)>,
    /// Other elements (`<session-description>`, `<cseq>`, extensions), kept as written.
    pub extensions: Vec<Element>,
}

impl DialogInfo {
    /// A document of `state` at `version` about `entity`, with no dialog.
    pub fn new(version: u64, state: DocState, entity: &str) -> Self {
        Self {
            version: version.to_string(),
            state,
            entity: entity.to_owned(),
            dialogs: Vec::new(),
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    pub(crate) fn from_element(mut root: Element) -> Result<Self, Error> {
        const AT: &str = "dialog-info";
        let version = required_attr(&mut root, "version", AT)?;
        check_unsigned(&version, "dialog-info@version")?;
        let state = token_attr(&mut root, "state", AT, DocState::EXPECTED)?;
        let entity = required_attr(&mut root, "entity", AT)?;
        let mut d = Self::new(0, state, entity.trim());
        d.version = version;
        let mut n = 0;
        for child in root.take_elements() {
            if child.name.is(ns::DIALOG_INFO, "dialog") {
                let at = path(AT, "dialog", Some(n));
                n += 1;
                let dialog = Dialog::from_element(child, &at)?;
                if d.dialogs.iter().any(|o| o.id == dialog.id) {
                    return Err(Error::DuplicateId { at, id: dialog.id });
                }
                d.dialogs.push(dialog);
            } else {
                d.extensions.push(child);
            }
        }
        d.other_attrs = root.attrs;
        Ok(d)
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::DIALOG_INFO), "dialog-info"))
            .attr("version", &self.version)
            .attr("state", self.state.as_str())
            .attr("entity", &self.entity);
        e.attrs.extend(self.other_attrs.iter().cloned());
        for d in &self.dialogs {
            e.push(d.to_element());
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl Dialog {
    /// A dialog in `state` with only its id.
    pub fn new(id: &str, state: DialogState) -> Self {
        Self {
            id: id.to_owned(),
            call_id: None,
            local_tag: None,
            remote_tag: None,
            direction: None,
            state,
            event: None,
            code: None,
            duration: None,
            local: None,
            remote: None,
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let id = required_attr(&mut e, "id", at)?;
        let mut d = Self::new(&id, DialogState::Trying);
        d.call_id = e.take_attr("call-id");
        d.local_tag = e.take_attr("local-tag");
        d.remote_tag = e.take_attr("remote-tag");
        if let Some(v) = e.take_attr("direction") {
            d.direction = Some(crate::common::parse_token(
                &v,
                &format!("{at}@direction"),
                Direction::EXPECTED,
            )?);
        }
        let mut state = None;
        let mut duration = None;
        for mut child in e.take_elements() {
            let name = &child.name;
            if name.is(ns::DIALOG_INFO, "state") {
                let sat = format!("{at}/state");
                let s: DialogState =
                    crate::common::parse_token(&trimmed(&child), &sat, DialogState::EXPECTED)?;
                set_once(&mut state, s, at, "state")?;
                if let Some(v) = child.take_attr("event") {
                    d.event = Some(crate::common::parse_token(
                        &v,
                        &format!("{sat}@event"),
                        DialogEvent::EXPECTED,
                    )?);
                }
                if let Some(v) = child.take_attr("code") {
                    d.code = Some(parse_code(&v, &format!("{sat}@code"))?);
                }
            } else if name.is(ns::DIALOG_INFO, "duration") {
                let v = trimmed(&child);
                check_unsigned(&v, &format!("{at}/duration"))?;
                set_once(&mut duration, v, at, "duration")?;
            } else if name.is(ns::DIALOG_INFO, "local") {
                let p = DialogParticipant::from_element(child, &format!("{at}/local"))?;
                set_once(&mut d.local, p, at, "local")?;
            } else if name.is(ns::DIALOG_INFO, "remote") {
                let p = DialogParticipant::from_element(child, &format!("{at}/remote"))?;
                set_once(&mut d.remote, p, at, "remote")?;
            } else {
                d.extensions.push(child);
            }
        }
        d.state = state.ok_or_else(|| Error::MissingElement {
            at: at.to_owned(),
            element: "state",
        })?;
        d.duration = duration;
        d.other_attrs = e.attrs;
        Ok(d)
    }

    fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::DIALOG_INFO), "dialog"))
            .attr("id", &self.id)
            .attr_opt("call-id", self.call_id.as_deref())
            .attr_opt("local-tag", self.local_tag.as_deref())
            .attr_opt("remote-tag", self.remote_tag.as_deref())
            .attr_opt("direction", self.direction.map(Direction::as_str));
        e.attrs.extend(self.other_attrs.iter().cloned());
        let code = self.code.map(|c| c.to_string());
        e.push(
            Element::with_text(ns::DIALOG_INFO, "state", self.state.as_str())
                .attr_opt("event", self.event.map(DialogEvent::as_str))
                .attr_opt("code", code.as_deref()),
        );
        if let Some(v) = &self.duration {
            e.push(Element::with_text(ns::DIALOG_INFO, "duration", v));
        }
        for (p, local) in [(&self.local, "local"), (&self.remote, "remote")] {
            if let Some(p) = p {
                e.push(p.to_element(local));
            }
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

fn parse_code(v: &str, at: &str) -> Result<u16, Error> {
    v.trim()
        .parse::<u16>()
        .ok()
        .filter(|c| (100..=699).contains(c))
        .ok_or_else(|| Error::InvalidValue {
            at: at.to_owned(),
            value: v.to_owned(),
            expected: "a SIP status code (100-699)",
        })
}

impl DialogParticipant {
    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut p = Self::default();
        for mut child in e.take_elements() {
            if child.name.is(ns::DIALOG_INFO, "identity") {
                let display = child.take_attr("display");
                set_once(&mut p.identity, trimmed(&child), at, "identity")?;
                p.display = display;
            } else if child.name.is(ns::DIALOG_INFO, "target") {
                let tat = format!("{at}/target");
                let uri = required_attr(&mut child, "uri", &tat)?;
                set_once(&mut p.target, uri.trim().to_owned(), at, "target")?;
                for mut param in child.take_elements() {
                    if param.name.is(ns::DIALOG_INFO, "param") {
                        let name = required_attr(&mut param, "pname", &format!("{tat}/param"))?;
                        let value = required_attr(&mut param, "pval", &format!("{tat}/param"))?;
                        p.target_params.push((name, value));
                    }
                }
            } else {
                p.extensions.push(child);
            }
        }
        Ok(p)
    }

    fn to_element(&self, local: &'static str) -> Element {
        let mut e = Element::new(Name::new(Some(ns::DIALOG_INFO), local));
        if let Some(uri) = &self.identity {
            e.push(
                Element::with_text(ns::DIALOG_INFO, "identity", uri)
                    .attr_opt("display", self.display.as_deref()),
            );
        }
        if let Some(uri) = &self.target {
            let mut t = Element::new(Name::new(Some(ns::DIALOG_INFO), "target")).attr("uri", uri);
            for (name, value) in &self.target_params {
                t.push(
                    Element::new(Name::new(Some(ns::DIALOG_INFO), "param"))
                        .attr("pname", name)
                        .attr("pval", value),
                );
            }
            e.push(t);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl DialogInfo {
    /// The document as XML (deterministic).
    pub fn to_xml(&self) -> String {
        crate::xml::write_document(&self.to_element())
    }

    /// Parse a dialog-info document with default limits.
    ///
    /// # Errors
    /// See [`Error`]; another root is [`Error::WrongRoot`].
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Self::parse_with(input, &crate::Limits::default())
    }

    /// Parse a dialog-info document with the given limits.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn parse_with(input: &[u8], limits: &crate::Limits) -> Result<Self, Error> {
        let root = crate::xml::parse_tree(input, limits)?;
        if !root.name.is(ns::DIALOG_INFO, "dialog-info") {
            return Err(Error::WrongRoot {
                found: root.name.expanded(),
                expected: "dialog-info",
            });
        }
        Self::from_element(root)
    }
}
