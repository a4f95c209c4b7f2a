//! Any document this crate reads, told apart by its root element's expanded name.

use crate::Error;
use crate::dialoginfo::DialogInfo;
use crate::ns;
use crate::pidf::Presence;
use crate::reginfo::RegInfo;
use crate::rlmi::ResourceList;
use crate::winfo::WatcherInfo;
use crate::xml::{Limits, parse_tree, write_document};

/// A parsed presence-related document.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Document {
    /// `application/pidf+xml` (RFC 3863).
    Pidf(Presence),
    /// `application/watcherinfo+xml` (RFC 3858).
    WatcherInfo(WatcherInfo),
    /// `application/reginfo+xml` (RFC 3680).
    RegInfo(RegInfo),
    /// `application/rlmi+xml` (RFC 4662).
    Rlmi(ResourceList),
    /// `application/dialog-info+xml` (RFC 4235).
    DialogInfo(DialogInfo),
}

impl Document {
    /// Parse any of the five kinds with default limits.
    ///
    /// # Errors
    /// See [`Error`]; a root that is none of the five is [`Error::WrongRoot`].
    pub fn parse(input: &[u8]) -> Result<Self, Error> {
        Self::parse_with(input, &Limits::default())
    }

    /// Parse any of the five kinds with the given limits.
    ///
    /// # Errors
    /// See [`Error`].
    pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Self, Error> {
        let root = parse_tree(input, limits)?;
        let name = &root.name;
        if name.is(ns::PIDF, "presence") {
            Presence::from_element(root).map(Self::Pidf)
        } else if name.is(ns::WATCHERINFO, "watcherinfo") {
            WatcherInfo::from_element(root).map(Self::WatcherInfo)
        } else if name.is(ns::REGINFO, "reginfo") {
            RegInfo::from_element(root).map(Self::RegInfo)
        } else if name.is(ns::RLMI, "list") {
            ResourceList::from_element(root).map(Self::Rlmi)
        } else if name.is(ns::DIALOG_INFO, "dialog-info") {
            DialogInfo::from_element(root).map(Self::DialogInfo)
        } else {
            Err(Error::WrongRoot {
                found: name.expanded(),
                expected: "PIDF presence, watcherinfo, reginfo, RLMI list or dialog-info",
            })
        }
    }

    /// `pidf`, `watcherinfo`, `reginfo` or `rlmi`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Pidf(_) => "pidf",
            Self::WatcherInfo(_) => "watcherinfo",
            Self::RegInfo(_) => "reginfo",
            Self::Rlmi(_) => "rlmi",
            Self::DialogInfo(_) => "dialog-info",
        }
    }

    /// The MIME type of the document.
    pub const fn content_type(&self) -> &'static str {
        match self {
            Self::Pidf(_) => "application/pidf+xml",
            Self::WatcherInfo(_) => "application/watcherinfo+xml",
            Self::RegInfo(_) => "application/reginfo+xml",
            Self::Rlmi(_) => "application/rlmi+xml",
            Self::DialogInfo(_) => "application/dialog-info+xml",
        }
    }

    /// The document as XML (deterministic).
    pub fn to_xml(&self) -> String {
        write_document(&match self {
            Self::Pidf(p) => p.to_element(),
            Self::WatcherInfo(w) => w.to_element(),
            Self::RegInfo(r) => r.to_element(),
            Self::Rlmi(l) => l.to_element(),
            Self::DialogInfo(d) => d.to_element(),
        })
    }
}

impl WatcherInfo {
    /// The document as XML (deterministic).
    pub fn to_xml(&self) -> String {
        write_document(&self.to_element())
    }
}

impl RegInfo {
    /// The document as XML (deterministic).
    pub fn to_xml(&self) -> String {
        write_document(&self.to_element())
    }
}

impl ResourceList {
    /// The document as XML (deterministic).
    pub fn to_xml(&self) -> String {
        write_document(&self.to_element())
    }
}
