//! SIP and SIPS URIs (RFC 3261 §19.1) with the comparison rules of §19.1.4.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::Arc;

use crate::Error;

/// The longest URI we parse. Real URIs are far shorter; the cap bounds memory per binding.
pub const MAX_URI_LEN: usize = 2048;

/// The longest host name (RFC 1035 allows 253 characters plus a trailing dot).
const MAX_HOST_LEN: usize = 255;

/// `sip` or `sips`.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop)
    Sips,
}

impl Scheme {
    /// The scheme as written in a URI, without the colon.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sip => "sip",
            Self::Sips => "sips",
        }
    }
}

/// The host part of a SIP URI.
///
/// Domain names are stored lower-cased (they compare case-insensitively); IP addresses are stored parsed, so
/// `[::1]` and `[0:0::1]` are the same host.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Host {
    /// A host name, lower-cased.
    Domain(Box<str>),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => f.write_str(d),
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "[{a}]"),
        }
    }
}

/// One `;name[=value]` URI parameter, in normalized escaped form (see [`SipUri`]).
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct UriParam {
    name: Box<str>,
    value: Option<Box<str>>,
}

impl UriParam {
    /// The parameter name as written (normalized escapes).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, if the parameter has one.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// One `name=value` URI header (`?subject=…`), in normalized escaped form.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct UriHeader {
    name: Box<str>,
    value: Box<str>,
}

impl UriHeader {
    /// The header name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header value (may be empty).
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// A parsed `sip:` or `sips:` URI.
///
/// Each component is kept in a normalized escaped form: an escape of an unreserved character (`%61`) is
/// decoded (`a`), every other escape is kept with upper-case hex (`%3B`). Two URIs that differ only in how they
/// escape unreserved characters therefore have the same components, as RFC 3261 §19.1.4 requires.
///
/// Passwords in the userinfo are refused: RFC 3261 deprecates them and a registrar must never store one.
///
/// `PartialEq` implements the comparison of RFC 3261 §19.1.4. It is not an equivalence relation (a parameter
/// present in only one URI is ignored, so `a;x=1 == a == a;x=2` while `a;x=1 != a;x=2`), which is why the type
/// implements neither `Eq` nor `Hash`; use [`crate::Aor`] as a map key.
///
/// Cloning is cheap: the parts are shared behind an `Arc`, and the `with_*` builders copy on write.
#[derive(Clone, Debug)]
pub struct SipUri(Arc<Parts>);

#[derive(Clone, Debug)]
struct Parts {
    scheme: Scheme,
    user: Option<Box<str>>,
    host: Host,
    port: Option<u16>,
    params: Vec<UriParam>,
    headers: Vec<UriHeader>,
}

/// Parameters that, present in only one of two URIs, make them differ (RFC 3261 §19.1.4).
const STRICT_PARAMS: [&str; 5] = ["user", "ttl", "method", "maddr", "transport"];

impl SipUri {
    /// A URI with only a scheme, an optional user and a host; user must already be valid user text.
    ///
    /// # Errors
    /// When `user` or `host` do not follow the RFC 3261 grammar.
    pub fn new(scheme: Scheme, user: Option<&str>, host: &str) -> Result<Self, Error> {
        let user = user
            .map(|u| normalize("SIP URI user", u, is_user_char).map(String::into_boxed_str))
            .transpose()?;
        Ok(Self(Arc::new(Parts {
            scheme,
            user,
            host: parse_host(host)?,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        })))
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.0.scheme
    }

    /// The user part, in normalized escaped form.
    pub fn user(&self) -> Option<&str> {
        self.0.user.as_deref()
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.0.host
    }

    /// The port, if one was written.
    pub fn port(&self) -> Option<u16> {
        self.0.port
    }

    /// The URI parameters in the order written.
    pub fn params(&self) -> &[UriParam] {
        &self.0.params
    }

    /// The headers in the order written.
    pub fn headers(&self) -> &[UriHeader] {
        &self.0.headers
    }

    /// The parameter `name` (case-insensitive): `None` if absent, `Some(None)` if present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.0
            .params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref())
    }

    /// Whether the parameter `name` is present (with or without a value).
    pub fn has_param(&self, name: &str) -> bool {
        self.param(name).is_some()
    }

    /// This URI with the port set.
    #[must_use]
    pub fn with_port(mut self, port: Option<u16>) -> Self {
        Arc::make_mut(&mut self.0).port = port;
        self
    }

    /// This URI with a parameter added or replaced.
    ///
    /// # Errors
    /// When the name or value contain characters a URI parameter cannot hold.
    pub fn with_param(mut self, name: &str, value: Option<&str>) -> Result<Self, Error> {
        let name = normalize("SIP URI parameter", name, is_param_char)?;
        if name.is_empty() {
            return Err(Error::Empty {
                what: "SIP URI parameter name",
            });
        }
        let value = value
            .map(|v| normalize("SIP URI parameter", v, is_param_char).map(String::into_boxed_str))
            .transpose()?;
        let parts = Arc::make_mut(&mut self.0);
        parts.params.retain(|p| !p.name.eq_ignore_ascii_case(&name));
        parts.params.push(UriParam {
            name: name.into_boxed_str(),
            value,
        });
        Ok(self)
    }

    /// This URI without the parameter `name` (case-insensitive).
    #[must_use]
    pub fn without_param(mut self, name: &str) -> Self {
        if self.has_param(name) {
            Arc::make_mut(&mut self.0)
                .params
                .retain(|p| !p.name.eq_ignore_ascii_case(name));
        }
        self
    }

    /// This URI without any parameters or headers.
    #[must_use]
    pub fn without_params(mut self) -> Self {
        let parts = Arc::make_mut(&mut self.0);
        parts.params = Vec::new();
        parts.headers = Vec::new();
        self
    }
}

impl PartialEq for SipUri {
    /// RFC 3261 §19.1.4.
    fn eq(&self, other: &Self) -> bool {
        if self.0.scheme != other.0.scheme
            || self.0.user != other.0.user
            || self.0.host != other.0.host
            || self.0.port != other.0.port
        {
            return false;
        }
        for p in &self.0.params {
            match other.param(&p.name) {
                Some(v) => {
                    if !opt_eq_ignore_case(p.value.as_deref(), v) {
                        return false;
                    }
                }
                None => {
                    if STRICT_PARAMS.iter().any(|s| p.name.eq_ignore_ascii_case(s)) {
                        return false;
                    }
                }
            }
        }
        // Parameters present in both were compared above; only presence matters from the other side.
        for p in &other.0.params {
            if self.param(&p.name).is_none()
                && STRICT_PARAMS.iter().any(|s| p.name.eq_ignore_ascii_case(s))
            {
                return false;
            }
        }
        headers_eq(&self.0.headers, &other.0.headers)
    }
}

fn opt_eq_ignore_case(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

/// Headers are never ignored: each header of one URI must be in the other with the same value.
fn headers_eq(a: &[UriHeader], b: &[UriHeader]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let contains = |set: &[UriHeader], h: &UriHeader| {
        set.iter()
            .any(|x| x.name.eq_ignore_ascii_case(&h.name) && x.value == h.value)
    };
    a.iter().all(|h| contains(b, h)) && b.iter().all(|h| contains(a, h))
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.scheme.as_str())?;
        f.write_str(":")?;
        if let Some(user) = &self.0.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.0.host)?;
        if let Some(port) = self.0.port {
            write!(f, ":{port}")?;
        }
        for p in &self.0.params {
            write!(f, ";{}", p.name)?;
            if let Some(v) = &p.value {
                write!(f, "={v}")?;
            }
        }
        for (i, h) in self.0.headers.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '&' };
            write!(f, "{sep}{}={}", h.name, h.value)?;
        }
        Ok(())
    }
}

impl FromStr for SipUri {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "SIP URI";
        if s.is_empty() {
            return Err(Error::Empty { what: WHAT });
        }
        if s.len() > MAX_URI_LEN {
            return Err(Error::TooLong {
                what: WHAT,
                max: MAX_URI_LEN,
            });
        }
        let Some((scheme, rest)) = s.split_once(':') else {
            return Err(Error::invalid(WHAT, "no scheme", s));
        };
        let scheme = if scheme.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else {
            return Err(Error::invalid(WHAT, "scheme is not sip or sips", s));
        };

        // '@' appears only as the end of the userinfo: user, host, parameters and headers never hold it raw.
        let (user, rest) = match rest.find('@') {
            Some(at) => {
                let userinfo = &rest[..at];
                if userinfo.contains(':') {
                    return Err(Error::invalid(WHAT, "passwords are not accepted", s));
                }
                if userinfo.is_empty() {
                    return Err(Error::invalid(WHAT, "empty user before '@'", s));
                }
                let user = normalize("SIP URI user", userinfo, is_user_char)?;
                (Some(user.into_boxed_str()), &rest[at + 1..])
            }
            None => (None, rest),
        };

        let (hostport, rest) = match rest.find([';', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = split_host_port(hostport, s)?;
        let (params_text, headers_text) = match rest.find('?') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };

        let mut params: Vec<UriParam> = Vec::new();
        if let Some(list) = params_text.strip_prefix(';') {
            for item in list.split(';') {
                let (name, value) = match item.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (item, None),
                };
                if name.is_empty() {
                    return Err(Error::invalid(WHAT, "empty parameter name", s));
                }
                let name = normalize("SIP URI parameter", name, is_param_char)?;
                let value = value
                    .map(|v| {
                        normalize("SIP URI parameter", v, is_param_char).map(String::into_boxed_str)
                    })
                    .transpose()?;
                if params.iter().any(|p| p.name.eq_ignore_ascii_case(&name)) {
                    return Err(Error::invalid(WHAT, "duplicate parameter", s));
                }
                params.push(UriParam {
                    name: name.into_boxed_str(),
                    value,
                });
            }
        }

        let mut headers = Vec::new();
        if let Some(list) = headers_text {
            for item in list.split('&') {
                let Some((name, value)) = item.split_once('=') else {
                    return Err(Error::invalid(WHAT, "header without '='", s));
                };
                if name.is_empty() {
                    return Err(Error::invalid(WHAT, "empty header name", s));
                }
                headers.push(UriHeader {
                    name: normalize("SIP URI header", name, is_header_char)?.into_boxed_str(),
                    value: normalize("SIP URI header", value, is_header_char)?.into_boxed_str(),
                });
            }
        }

        Ok(Self(Arc::new(Parts {
            scheme,
            user,
            host: parse_host(host)?,
            port,
            params,
            headers,
        })))
    }
}

fn split_host_port<'a>(hostport: &'a str, whole: &str) -> Result<(&'a str, Option<u16>), Error> {
    const WHAT: &str = "SIP URI";
    let (host, port) = if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return Err(Error::invalid(WHAT, "unclosed IPv6 reference", whole));
        };
        let after = &hostport[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => (&hostport[..=end], Some(p)),
            None if after.is_empty() => (&hostport[..=end], None),
            None => return Err(Error::invalid(WHAT, "text after IPv6 reference", whole)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::invalid(WHAT, "invalid port", whole));
            }
            Some(
                p.parse::<u16>()
                    .map_err(|_| Error::invalid(WHAT, "port out of range", whole))?,
            )
        }
    };
    Ok((host, port))
}

fn parse_host(host: &str) -> Result<Host, Error> {
    const WHAT: &str = "SIP URI host";
    if host.is_empty() {
        return Err(Error::Empty { what: WHAT });
    }
    if host.len() > MAX_HOST_LEN {
        return Err(Error::TooLong {
            what: WHAT,
            max: MAX_HOST_LEN,
        });
    }
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| Error::invalid(WHAT, "unclosed IPv6 reference", host))?;
        return inner
            .parse::<Ipv6Addr>()
            .map(Host::Ipv6)
            .map_err(|_| Error::invalid(WHAT, "invalid IPv6 address", host));
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ipv4(v4));
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let labels_ok = !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !labels_ok {
        return Err(Error::invalid(WHAT, "invalid host name", host));
    }
    Ok(Host::Domain(host.to_ascii_lowercase().into_boxed_str()))
}

/// RFC 3261 `unreserved`: alphanumerics and marks.
pub(crate) const fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

const fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/')
}

const fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$')
}

const fn is_header_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$')
}

/// Check a component against its allowed raw characters and normalize its escapes: escapes of unreserved
/// characters are decoded, others are kept with upper-case hex.
pub(crate) fn normalize(
    what: &'static str,
    input: &str,
    allowed_raw: fn(u8) -> bool,
) -> Result<String, Error> {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2)) else {
                return Err(Error::invalid(what, "truncated escape", input));
            };
            let (Some(h), Some(l)) = (hex_val(h), hex_val(l)) else {
                return Err(Error::invalid(what, "invalid escape", input));
            };
            let decoded = h << 4 | l;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(h)]));
                out.push(char::from(HEX[usize::from(l)]));
            }
            i += 3;
        } else if allowed_raw(b) {
            out.push(char::from(b));
            i += 1;
        } else {
            return Err(Error::invalid(what, "character not allowed", input));
        }
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `value` made fit for a URI parameter value: every byte not allowed raw there (and `%` itself) written
/// as a `%XX` escape. [`unescape`] undoes it.
pub fn escape_param_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b != b'%' && is_param_char(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// `value` with every `%XX` escape decoded; `None` for a malformed escape or a result that is not UTF-8.
pub fn unescape(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let h = hex_val(*bytes.get(i + 1)?)?;
            let l = hex_val(*bytes.get(i + 2)?)?;
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

const fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> SipUri {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// The equivalent pairs printed in RFC 3261 §19.1.4.
    #[test]
    fn rfc3261_s19_1_4_equivalent() {
        let pairs = [
            (
                "sip:%61lice@atlanta.com;transport=TCP",
                "sip:alice@AtLanTa.CoM;Transport=tcp",
            ),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
            ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
            (
                "sip:carol@chicago.com;newparam=5",
                "sip:carol@chicago.com;security=on",
            ),
            (
                "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
                "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
            ),
            (
                "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
                "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(uri(a), uri(b), "{a} should equal {b}");
            assert_eq!(uri(b), uri(a), "{b} should equal {a}");
        }
    }

    /// The non-equivalent pairs printed in RFC 3261 §19.1.4.
    #[test]
    fn rfc3261_s19_1_4_not_equivalent() {
        let pairs = [
            (
                "SIP:ALICE@AtLanTa.CoM;Transport=udp",
                "sip:alice@AtLanTa.CoM;Transport=UDP",
            ),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
            ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
            (
                "sip:bob@biloxi.com",
                "sip:bob@biloxi.com:6000;transport=tcp",
            ),
            (
                "sip:carol@chicago.com",
                "sip:carol@chicago.com?Subject=next%20meeting",
            ),
            ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ];
        for (a, b) in pairs {
            assert_ne!(uri(a), uri(b), "{a} should differ from {b}");
            assert_ne!(uri(b), uri(a), "{b} should differ from {a}");
        }
    }

    #[test]
    fn strict_params_in_one_uri_only_differ() {
        for p in ["user=phone", "ttl=1", "method=INVITE", "maddr=239.1.1.1"] {
            let with = format!("sip:a@b.example;{p}");
            assert_ne!(uri("sip:a@b.example"), uri(&with), "{p}");
        }
        assert_eq!(uri("sip:a@b.example"), uri("sip:a@b.example;lr"));
    }

    #[test]
    fn sip_and_sips_never_equal() {
        assert_ne!(uri("sip:a@b.example"), uri("sips:a@b.example"));
    }

    #[test]
    fn escapes_of_reserved_characters_are_not_their_raw_form() {
        // ';' is reserved: "%3B" and ";" differ in a user part.
        assert_ne!(uri("sip:a%3bb@x.example"), uri("sip:a;b@x.example"));
        assert_eq!(uri("sip:a%3bb@x.example"), uri("sip:a%3Bb@x.example"));
        assert_eq!(uri("sip:a%3bb@x.example").user(), Some("a%3Bb"));
    }

    #[test]
    fn ipv6_hosts_compare_by_address() {
        assert_eq!(uri("sip:a@[::1]:5060"), uri("sip:a@[0:0::1]:5060"));
        assert_eq!(uri("sip:a@[::1]:5060").to_string(), "sip:a@[::1]:5060");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "alice@example.com",
            "http://example.com",
            "sip:",
            "sip:alice:secret@example.com",
            "sip:@example.com",
            "sip:alice@",
            "sip:alice@exa mple.com",
            "sip:alice@example.com:",
            "sip:alice@example.com:99999",
            "sip:alice@example.com:5o60",
            "sip:al%2@example.com",
            "sip:al%zz@example.com",
            "sip:alice@[::1",
            "sip:alice@[zz::1]",
            "sip:alice@example.com;;lr",
            "sip:alice@example.com;lr;LR",
            "sip:alice@example.com?subject",
            "sip:alice@-bad-.example",
            "sip:al<ice@example.com",
            "sip:alicé@example.com",
        ] {
            assert!(bad.parse::<SipUri>().is_err(), "accepted {bad:?}");
        }
        let long = format!("sip:{}@example.com", "a".repeat(MAX_URI_LEN));
        assert!(matches!(long.parse::<SipUri>(), Err(Error::TooLong { .. })));
    }

    #[test]
    fn prints_normalized_form() {
        let u = uri("SIP:%61lice@AtLanTa.CoM:5070;Transport=TCP;lr?Subject=a%2fb");
        assert_eq!(
            u.to_string(),
            "sip:alice@atlanta.com:5070;Transport=TCP;lr?Subject=a%2Fb"
        );
        assert_eq!(u.param("transport"), Some(Some("TCP")));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("maddr"), None);
        assert_eq!(u.port(), Some(5070));
    }

    #[test]
    fn builders_escape_checks() {
        let u = SipUri::new(Scheme::Sip, Some("bob"), "Example.COM")
            .unwrap()
            .with_param("gr", Some("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"))
            .unwrap();
        assert_eq!(
            u.to_string(),
            "sip:bob@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
        );
        assert!(SipUri::new(Scheme::Sip, Some("b b"), "x.example").is_err());
        assert!(u.clone().with_param("", None).is_err());
        assert_eq!(u.without_params().to_string(), "sip:bob@example.com");
    }
}
