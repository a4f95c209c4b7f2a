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
/// Resource lists (RFC 4826), as a SUBSCRIBE carries them for an ad-hoc list (RFC 5367).
pub const RESOURCE_LISTS: &str = "urn:ietf:params:xml:ns:resource-lists";
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
        DIALOG_INFO => Cow::Borrowed(DIALOG_INFO),
        RESOURCE_LISTS => Cow::Borrowed(RESOURCE_LISTS),
        XML => Cow::Borrowed(XML),
        other => Cow::Owned(other.to_owned()),
    }
}

/// Element and attribute names of the documents this crate reads, sorted (looked up by binary search).
const LOCAL_NAMES: &[&str] = &[
    "activities",
    "aor",
    "audio",
    "away",
    "basic",
    "busy",
    "call-id",
    "callid",
    "card",
    "cid",
    "class",
    "code",
    "contact",
    "cseq",
    "description",
    "devcaps",
    "device",
    "deviceID",
    "dialog",
    "dialog-info",
    "direction",
    "display",
    "display-name",
    "duration",
    "duration-registered",
    "duration-subscribed",
    "electronic",
    "entity",
    "event",
    "expiration",
    "expires",
    "extensions",
    "from",
    "fullState",
    "homepage",
    "icon",
    "id",
    "identity",
    "idle-threshold",
    "instance",
    "lang",
    "last-input",
    "list",
    "local",
    "local-tag",
    "map",
    "meeting",
    "message",
    "methods",
    "mood",
    "name",
    "note",
    "notsupported",
    "on-the-phone",
    "other",
    "package",
    "param",
    "person",
    "place-is",
    "place-type",
    "pname",
    "presence",
    "priority",
    "privacy",
    "pval",
    "q",
    "reason",
    "reginfo",
    "registration",
    "relationship",
    "remote",
    "remote-tag",
    "resource",
    "schemes",
    "self",
    "servcaps",
    "service-class",
    "sound",
    "sphere",
    "state",
    "status",
    "status-icon",
    "supported",
    "target",
    "text",
    "time-offset",
    "timestamp",
    "tuple",
    "unknown",
    "until",
    "uri",
    "user-input",
    "version",
    "video",
    "watcher",
    "watcher-list",
    "watcherinfo",
];

/// A local name, borrowed from the vocabulary when it is in it.
pub(crate) fn intern_local(local: &str) -> Cow<'static, str> {
    // Bucketed by length, then by first byte: most names are rejected or found without a string compare.
    let b = local.as_bytes();
    let found = by_length()
        .get(b.len())
        .and_then(|bucket| {
            bucket
                .iter()
                .find(|n| n.as_bytes()[0] == b[0] && n.as_bytes() == b)
        })
        .copied();
    found.map_or_else(|| Cow::Owned(local.to_owned()), Cow::Borrowed)
}

/// The vocabulary by name length.
fn by_length() -> &'static [Vec<&'static str>] {
    static TABLE: std::sync::OnceLock<Vec<Vec<&'static str>>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let longest = LOCAL_NAMES.iter().map(|n| n.len()).max().unwrap_or(0);
        let mut t = vec![Vec::new(); longest + 1];
        for n in LOCAL_NAMES {
            t[n.len()].push(*n);
        }
        t
    })
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

#[cfg(test)]
mod tests {
    #[test]
    fn local_names_are_sorted_and_found() {
        assert!(super::LOCAL_NAMES.is_sorted());
        for n in super::LOCAL_NAMES {
            assert!(matches!(
                super::intern_local(n),
                std::borrow::Cow::Borrowed(_)
            ));
        }
        assert!(matches!(
            super::intern_local("not-a-known-name"),
            std::borrow::Cow::Owned(_)
        ));
    }
}
