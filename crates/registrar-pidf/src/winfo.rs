//! Watcher information (RFC 3858), the body of `presence.winfo` NOTIFYs (RFC 3857).

use crate::Error;
use crate::common::{check_unsigned, path, required_attr, token_attr, trimmed};
use crate::ns;
use crate::tokens::{DocState, token_enum};
use crate::xml::{Attribute, Element, Name};

token_enum! {
    /// A watcher's subscription state (RFC 3858 §4).
    WatcherStatus {
        /// Waiting for authorization.
        Pending = "pending",
        /// Authorized and receiving notifications.
        Active = "active",
        /// Refused or ended, and waiting to be told about the presentity's return.
        Waiting = "waiting",
        /// Ended.
        Terminated = "terminated",
    }
}

token_enum! {
    /// What last changed a watcher's state (RFC 3858 §4).
    WatcherEvent {
        /// It subscribed.
        Subscribe = "subscribe",
        /// It was authorized.
        Approved = "approved",
        /// Its subscription was deactivated.
        Deactivated = "deactivated",
        /// It is on probation.
        Probation = "probation",
        /// It was refused.
        Rejected = "rejected",
        /// Its subscription timed out.
        Timeout = "timeout",
        /// The server gave up on it.
        Giveup = "giveup",
        /// The resource is gone.
        Noresource = "noresource",
    }
}

/// A `<watcherinfo>` document.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct WatcherInfo {
    /// `version`, as written (a non-negative integer).
    pub version: String,
    /// `state`: full or partial.
    pub state: DocState,
    /// The `<watcher-list>`s.
    pub lists: Vec<WatcherList>,
    /// Other elements.
    pub extensions: Vec<Element>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

/// The watchers of one resource for one event package.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct WatcherList {
    /// `resource`: the watched URI.
    pub resource: String,
    /// `package`: the event package (`presence`).
    pub package: String,
    /// The watchers.
    pub watchers: Vec<Watcher>,
    /// Other elements.
    pub extensions: Vec<Element>,
}

/// One watcher.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct Watcher {
    /// `id`: names the subscription.
    pub id: String,
    /// `status`
    pub status: WatcherStatus,
    /// `event`
    pub event: WatcherEvent,
    /// The watcher's URI (element text, trimmed).
    pub uri: String,
    /// `display-name`
    pub display_name: Option<String>,
    /// `expiration` (seconds)
    pub expiration: Option<String>,
    /// `duration-subscribed` (seconds)
    pub duration_subscribed: Option<String>,
    /// `xml:lang`
    pub lang: Option<String>,
    /// Unknown attributes.
    pub other_attrs: Vec<Attribute>,
}

impl WatcherInfo {
    /// A document of `state` at `version` with no lists.
    pub fn new(version: u64, state: DocState) -> Self {
        Self {
            version: version.to_string(),
            state,
            lists: Vec::new(),
            extensions: Vec::new(),
            other_attrs: Vec::new(),
        }
    }

    pub(crate) fn from_element(mut root: Element) -> Result<Self, Error> {
        const AT: &str = "watcherinfo";
        let version = required_attr(&mut root, "version", AT)?;
        check_unsigned(&version, "watcherinfo@version")?;
        let state = token_attr(&mut root, "state", AT, DocState::EXPECTED)?;
        let mut w = Self::new(0, state);
        w.version = version;
        let mut n = 0;
        for child in root.take_elements() {
            if child.name.is(ns::WATCHERINFO, "watcher-list") {
                let at = path(AT, "watcher-list", Some(n));
                n += 1;
                w.lists.push(WatcherList::from_element(child, &at)?);
            } else {
                w.extensions.push(child);
            }
        }
        w.other_attrs = root.attrs;
        Ok(w)
    }

    pub(crate) fn to_element(&self) -> Element {
        let mut e = Element::new(Name::new(Some(ns::WATCHERINFO), "watcherinfo"))
            .attr("version", &self.version)
            .attr("state", self.state.as_str());
        e.attrs.extend(self.other_attrs.iter().cloned());
        for l in &self.lists {
            let mut le = Element::new(Name::new(Some(ns::WATCHERINFO), "watcher-list"))
                .attr("resource", &l.resource)
                .attr("package", &l.package);
            for w in &l.watchers {
                let mut we = Element::with_text(ns::WATCHERINFO, "watcher", &w.uri)
                    .attr("id", &w.id)
                    .attr("status", w.status.as_str())
                    .attr("event", w.event.as_str())
                    .attr_opt("display-name", w.display_name.as_deref())
                    .attr_opt("expiration", w.expiration.as_deref())
                    .attr_opt("duration-subscribed", w.duration_subscribed.as_deref());
                if let Some(lang) = &w.lang {
                    we.attrs.push(Attribute {
                        name: Name::new(Some(ns::XML), "lang"),
                        value: lang.clone(),
                    });
                }
                we.attrs.extend(w.other_attrs.iter().cloned());
                le.push(we);
            }
            for x in &l.extensions {
                le.push(x.clone());
            }
            e.push(le);
        }
        for x in &self.extensions {
            e.push(x.clone());
        }
        e
    }
}

impl WatcherList {
    /// An empty list for `resource` and `package`.
    pub fn new(resource: &str, package: &str) -> Self {
        Self {
            resource: resource.to_owned(),
            package: package.to_owned(),
            watchers: Vec::new(),
            extensions: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let mut l = Self::new(
            &required_attr(&mut e, "resource", at)?,
            &required_attr(&mut e, "package", at)?,
        );
        let mut n = 0;
        for child in e.take_elements() {
            if child.name.is(ns::WATCHERINFO, "watcher") {
                let wat = path(at, "watcher", Some(n));
                n += 1;
                l.watchers.push(Watcher::from_element(child, &wat)?);
            } else {
                l.extensions.push(child);
            }
        }
        Ok(l)
    }
}

impl Watcher {
    /// A watcher with the required fields.
    pub fn new(id: &str, uri: &str, status: WatcherStatus, event: WatcherEvent) -> Self {
        Self {
            id: id.to_owned(),
            status,
            event,
            uri: uri.to_owned(),
            display_name: None,
            expiration: None,
            duration_subscribed: None,
            lang: None,
            other_attrs: Vec::new(),
        }
    }

    fn from_element(mut e: Element, at: &str) -> Result<Self, Error> {
        let id = required_attr(&mut e, "id", at)?;
        let status = token_attr(&mut e, "status", at, WatcherStatus::EXPECTED)?;
        let event = token_attr(&mut e, "event", at, WatcherEvent::EXPECTED)?;
        let expiration = e.take_attr("expiration");
        let duration_subscribed = e.take_attr("duration-subscribed");
        for (v, name) in [
            (&expiration, "expiration"),
            (&duration_subscribed, "duration-subscribed"),
        ] {
            if let Some(v) = v {
                check_unsigned(v, &format!("{at}@{name}"))?;
            }
        }
        Ok(Self {
            id,
            status,
            event,
            uri: trimmed(&e),
            display_name: e.take_attr("display-name"),
            expiration,
            duration_subscribed,
            lang: e.take_lang(),
            other_attrs: e.attrs,
        })
    }
}
