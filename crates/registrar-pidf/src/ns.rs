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
/// The `xml:` namespace (for `xml:lang`).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

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
