//! Namespace URIs of the documents this crate reads and writes. Elements are matched by these, never by prefix.

/// PIDF (RFC 3863).
pub const PIDF: &str = "urn:ietf:params:xml:ns:pidf";
/// The presence data model (RFC 4479): `person`, `device`, `deviceID`.
pub const DATA_MODEL: &str = "urn:ietf:params:xml:ns:pidf:data-model";
/// Rich presence (RFC 4480).
pub const RPID: &str = "urn:ietf:params:xml:ns:pidf:rpid";
/// Contact information (RFC 4482).
pub const CIPID: &str = "urn:ietf:params:xml:ns:pidf:cipid";
/// Capabilities (RFC 5196).
pub const CAPS: &str = "urn:ietf:params:xml:ns:pidf:caps";
/// Location types (RFC 4589), used by RPID `place-type`.
pub const LOCATION_TYPE: &str = "urn:ietf:params:xml:ns:location-type";
/// Watcher information (RFC 3858).
pub const WATCHERINFO: &str = "urn:ietf:params:xml:ns:watcherinfo";
/// Registration information (RFC 3680).
pub const REGINFO: &str = "urn:ietf:params:xml:ns:reginfo";
/// Resource list meta-information (RFC 4662).
pub const RLMI: &str = "urn:ietf:params:xml:ns:rlmi";
/// Dialog state (RFC 4235).
pub const DIALOG_INFO: &str = "urn:ietf:params:xml:ns:dialog-info";
/// The `xml:` namespace (for `xml:lang`).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

use std::borrow::Cow;

/// A namespace URI, borrowed from the constants above when it is one of them.
pub(crate) fn intern(ns: &str) -> Cow<'static, str> {
    match ns {
        PIDF => Cow::Borrowed(PIDF),
        DATA_MODEL => Cow::Borrowed(DATA_MODEL),
        RPID => Cow::Borrowed(RPID),
        CIPID => Cow::Borrowed(CIPID),
        CAPS => Cow::Borrowed(CAPS),
        LOCATION_TYPE => Cow::Borrowed(LOCATION_TYPE),
        WATCHERINFO => Cow::Borrowed(WATCHERINFO),
        REGINFO => Cow::Borrowed(REGINFO),
        RLMI => Cow::Borrowed(RLMI),
        XML => Cow::Borrowed(XML),
        other => Cow::Owned(other.to_owned()),
    }
}

/// Element and attribute names of the documents this crate reads.
const LOCAL_NAMES: &[&str] = &[
    "presence",
    "tuple",
    "status",
    "basic",
    "contact",
    "note",
    "timestamp",
    "person",
    "device",
    "deviceID",
    "entity",
    "id",
    "priority",
    "lang",
    "activities",
    "mood",
    "place-type",
    "place-is",
    "privacy",
    "sphere",
    "class",
    "status-icon",
    "time-offset",
    "user-input",
    "relationship",
    "service-class",
    "other",
    "from",
    "until",
    "idle-threshold",
    "last-input",
    "description",
    "card",
    "display-name",
    "homepage",
    "icon",
    "map",
    "sound",
    "servcaps",
    "devcaps",
    "supported",
    "notsupported",
    "audio",
    "video",
    "text",
    "message",
    "methods",
    "extensions",
    "schemes",
    "away",
    "busy",
    "meeting",
    "on-the-phone",
    "unknown",
    "watcherinfo",
    "watcher-list",
    "watcher",
    "version",
    "state",
    "resource",
    "package",
    "event",
    "expiration",
    "duration-subscribed",
    "reginfo",
    "registration",
    "aor",
    "uri",
    "duration-registered",
    "expires",
    "q",
    "callid",
    "cseq",
    "list",
    "name",
    "instance",
    "cid",
    "reason",
    "fullState",
    "self",
    "electronic",
];

/// A local name, borrowed from the vocabulary when it is in it.
pub(crate) fn intern_local(local: &str) -> Cow<'static, str> {
    LOCAL_NAMES
        .iter()
        .find(|n| **n == local)
        .map_or_else(|| Cow::Owned(local.to_owned()), |n| Cow::Borrowed(*n))
}

/// The prefix our writer gives a well-known namespace.
pub(crate) fn preferred_prefix(ns: &str) -> Option<&'static str> {
    Some(match ns {
        PIDF => "pidf",
        DATA_MODEL => "dm",
        RPID => "rpid",
        CIPID => "c",
        CAPS => "caps",
        LOCATION_TYPE => "lt",
        WATCHERINFO => "wi",
        REGINFO => "ri",
        RLMI => "rlmi",
        "urn:ietf:params:xml:ns:pidf:geopriv10" => "gp",
        "urn:ietf:params:xml:ns:pidf:timed-status" => "ts",
        _ => return None,
    })
}
