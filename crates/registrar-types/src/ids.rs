//! Identifier newtypes parsed at the edge: address-of-record, Call-ID, CSeq, q-value, instance and reg ids.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::Error;
use crate::uri::{Host, SipUri};

/// The canonical address-of-record of a SIP URI (RFC 3261 §10.3 step 5): `sip:user@host[:port]`.
///
/// Built by removing every URI parameter and header, lower-casing the host, keeping the user as written
/// (escapes of unreserved characters decoded; escapes of reserved characters kept, so the result is still a
/// valid URI), and writing `sips:` as `sip:` — a user reached over `sips:` is the same user, and a registrar
/// that kept two location records for one person would route calls to half of their devices.
///
/// Cheap to clone (a reference-counted string) and usable as a map key: equal AoRs have equal text.
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Aor(Arc<str>);

impl Aor {
    /// The canonical AoR of `uri`.
    pub fn from_uri(uri: &SipUri) -> Self {
        let mut s = String::with_capacity(48);
        s.push_str("sip:");
        if let Some(u) = uri.user() {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&uri.host().to_string());
        if let Some(p) = uri.port() {
            s.push(':');
            s.push_str(&p.to_string());
        }
        Self(Arc::from(s))
    }

    /// The AoR as text, e.g. `sip:alice@example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The AoR as a URI (without parameters).
    pub fn to_uri(&self) -> SipUri {
        // Every `Aor` is built from a parsed URI, and its text is printed from that URI's parts.
        self.0
            .parse()
            .unwrap_or_else(|e| unreachable!("an AoR's text is a valid URI: {e}"))
    }

    /// The user part, if any.
    pub fn user(&self) -> Option<&str> {
        let rest = &self.0[4..];
        rest.find('@').map(|at| &rest[..at])
    }

    /// The host and optional port, e.g. `example.com` or `example.com:5070`.
    pub fn hostport(&self) -> &str {
        let rest = &self.0[4..];
        rest.find('@').map_or(rest, |at| &rest[at + 1..])
    }

    /// The host alone, as the domain a registrar serves.
    pub fn domain(&self) -> &str {
        let hp = self.hostport();
        if hp.starts_with('[') {
            return hp.find(']').map_or(hp, |e| &hp[..=e]);
        }
        hp.split(':').next().unwrap_or(hp)
    }
}

impl FromStr for Aor {
    type Err = Error;

    /// Parse any SIP URI and take its canonical AoR.
    fn from_str(s: &str) -> Result<Self, Error> {
        let uri: SipUri = s.parse()?;
        Ok(Self::from_uri(&uri))
    }
}

impl From<&SipUri> for Aor {
    fn from(uri: &SipUri) -> Self {
        Self::from_uri(uri)
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aor({})", self.0)
    }
}

/// The longest Call-ID we accept.
pub const MAX_CALL_ID_LEN: usize = 256;

/// A Call-ID (RFC 3261 §20.8): visible ASCII, compared case-sensitively.
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct CallId(Arc<str>);

impl CallId {
    /// The Call-ID text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CallId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "Call-ID";
        if s.is_empty() {
            return Err(Error::Empty { what: WHAT });
        }
        if s.len() > MAX_CALL_ID_LEN {
            return Err(Error::TooLong {
                what: WHAT,
                max: MAX_CALL_ID_LEN,
            });
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(WHAT, "not visible ASCII", s));
        }
        Ok(Self(Arc::from(s)))
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({})", self.0)
    }
}

/// A CSeq sequence number (RFC 3261 §8.1.1.5: below 2³¹).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct CSeq(u32);

impl CSeq {
    /// The largest sequence number RFC 3261 allows.
    pub const MAX: u32 = (1 << 31) - 1;

    /// A CSeq number.
    ///
    /// # Errors
    /// When `n` is 2³¹ or more.
    pub fn new(n: u32) -> Result<Self, Error> {
        if n > Self::MAX {
            return Err(Error::invalid("CSeq", "2^31 or more", &n.to_string()));
        }
        Ok(Self(n))
    }

    /// The number.
    pub const fn value(self) -> u32 {
        self.0
    }
}

impl FromStr for CSeq {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("CSeq", "not a number", s));
        }
        let n: u64 = s
            .parse()
            .map_err(|_| Error::invalid("CSeq", "not a number", s))?;
        let n = u32::try_from(n).map_err(|_| Error::invalid("CSeq", "2^31 or more", s))?;
        Self::new(n)
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A q-value (RFC 3261 §20.10): 0 to 1 with at most three decimals, held in thousandths.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct QValue(u16);

impl QValue {
    /// `q=1`, the value a binding has when its Contact carried none.
    pub const ONE: Self = Self(1000);
    /// `q=0`.
    pub const ZERO: Self = Self(0);

    /// A q-value from thousandths (0 to 1000).
    ///
    /// # Errors
    /// When `thousandths` is above 1000.
    pub fn from_thousandths(thousandths: u16) -> Result<Self, Error> {
        if thousandths > 1000 {
            return Err(Error::invalid(
                "q-value",
                "above 1",
                &thousandths.to_string(),
            ));
        }
        Ok(Self(thousandths))
    }

    /// The value in thousandths.
    pub const fn thousandths(self) -> u16 {
        self.0
    }
}

impl Default for QValue {
    fn default() -> Self {
        Self::ONE
    }
}

impl FromStr for QValue {
    type Err = Error;

    /// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, nothing else.
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::invalid("q-value", "not 0 to 1 with at most three decimals", s);
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let mut thousandths: u16 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let place = [100, 10, 1][i];
            thousandths += u16::from(b - b'0') * place;
        }
        match int {
            "0" => Ok(Self(thousandths)),
            "1" if thousandths == 0 => Ok(Self::ONE),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for QValue {
    /// Shortest form: `1`, `0`, `0.5`, `0.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1000 => f.write_str("1"),
            0 => f.write_str("0"),
            n => {
                let mut digits = format!("{n:03}");
                while digits.ends_with('0') {
                    digits.pop();
                }
                write!(f, "0.{digits}")
            }
        }
    }
}

/// A device's `+sip.instance` (RFC 5626 §4.1): a URN, held without the quotes and angle brackets.
///
/// `urn:` and the namespace are compared case-insensitively; a `urn:uuid:` value is lower-cased whole, since
/// UUID hex digits are case-insensitive.
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct InstanceId(Arc<str>);

/// The longest instance id we accept.
pub const MAX_INSTANCE_ID_LEN: usize = 256;

impl InstanceId {
    /// The URN, e.g. `urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Contact parameter value: `"<urn:…>"`.
    pub fn to_param_value(&self) -> String {
        format!("\"<{}>\"", self.0)
    }
}

impl FromStr for InstanceId {
    type Err = Error;

    /// Accepts the parameter value as written (`"<urn:uuid:…>"`), or the bare URN.
    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "+sip.instance";
        if s.len() > MAX_INSTANCE_ID_LEN {
            return Err(Error::TooLong {
                what: WHAT,
                max: MAX_INSTANCE_ID_LEN,
            });
        }
        let inner = s
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(s);
        let inner = inner
            .strip_prefix('<')
            .and_then(|x| x.strip_suffix('>'))
            .unwrap_or(inner);
        let mut parts = inner.splitn(3, ':');
        let (Some(urn), Some(nid), Some(nss)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(Error::invalid(WHAT, "not a URN", s));
        };
        if !urn.eq_ignore_ascii_case("urn")
            || nid.is_empty()
            || nss.is_empty()
            || !nid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            || !inner
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'<' && b != b'>')
        {
            return Err(Error::invalid(WHAT, "not a URN", s));
        }
        let nid = nid.to_ascii_lowercase();
        let nss = if nid == "uuid" {
            nss.to_ascii_lowercase()
        } else {
            nss.to_owned()
        };
        Ok(Self(Arc::from(format!("urn:{nid}:{nss}"))))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstanceId({})", self.0)
    }
}

/// An outbound flow number, the `reg-id` Contact parameter (RFC 5626 §4.2): 1 to 2³¹−1.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct RegId(u32);

impl RegId {
    /// A reg-id.
    ///
    /// # Errors
    /// When `n` is 0 or 2³¹ or more.
    pub fn new(n: u32) -> Result<Self, Error> {
        if n == 0 || n > CSeq::MAX {
            return Err(Error::invalid("reg-id", "not 1 to 2^31-1", &n.to_string()));
        }
        Ok(Self(n))
    }

    /// The number.
    pub const fn value(self) -> u32 {
        self.0
    }
}

impl FromStr for RegId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("reg-id", "not a number", s));
        }
        let n: u64 = s
            .parse()
            .map_err(|_| Error::invalid("reg-id", "not a number", s))?;
        Self::new(u32::try_from(n).map_err(|_| Error::invalid("reg-id", "too large", s))?)
    }
}

impl fmt::Display for RegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The transport a REGISTER arrived on.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Transport {
    /// UDP
    Udp,
    /// TCP
    Tcp,
    /// TLS over TCP
    Tls,
    /// SCTP
    Sctp,
    /// WebSocket (RFC 7118)
    Ws,
    /// Secure WebSocket
    Wss,
    /// Any other transport token, kept as written (upper-cased).
    Other(Box<str>),
}

impl Transport {
    /// The Via transport token (`UDP`, `TCP`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Sctp => "SCTP",
            Self::Ws => "WS",
            Self::Wss => "WSS",
            Self::Other(s) => s,
        }
    }
}

impl FromStr for Transport {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.is_empty()
            || s.len() > 16
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::invalid("transport", "not a token", s));
        }
        let up = s.to_ascii_uppercase();
        Ok(match up.as_str() {
            "UDP" => Self::Udp,
            "TCP" => Self::Tcp,
            "TLS" => Self::Tls,
            "SCTP" => Self::Sctp,
            "WS" => Self::Ws,
            "WSS" => Self::Wss,
            _ => Self::Other(up.into_boxed_str()),
        })
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entity-tag naming one publication (RFC 3903 §4): the `SIP-ETag` we issue and the `SIP-If-Match` a
/// client sends back. A token of at most 128 characters, compared exactly.
#[derive(Clone, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct ETag(Arc<str>);

impl ETag {
    /// The longest entity-tag accepted.
    pub const MAX_LEN: usize = 128;

    /// An entity-tag made from 128 random bits: unguessable, and unique across restarts without any state.
    pub fn from_random(bits: u128) -> Self {
        Self(Arc::from(format!("{bits:032x}")))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ETag {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        const WHAT: &str = "entity-tag";
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Empty { what: WHAT });
        }
        if s.len() > Self::MAX_LEN {
            return Err(Error::TooLong {
                what: WHAT,
                max: Self::MAX_LEN,
            });
        }
        // RFC 3261 token characters.
        let token = |b: u8| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b);
        if !s.bytes().all(token) {
            return Err(Error::invalid(WHAT, "not a token", s));
        }
        Ok(Self(Arc::from(s)))
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ETag({})", self.0)
    }
}

/// Whether `host` is one of ours: used when a registrar serves a list of domains.
pub fn host_matches(host: &Host, domain: &str) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            let domain = domain.strip_suffix('.').unwrap_or(domain);
            d.eq_ignore_ascii_case(domain)
        }
        other => other.to_string() == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aor_is_canonical() {
        let a: Aor = "SIPS:%61lice@Example.COM;transport=tcp?subject=x"
            .parse()
            .unwrap();
        assert_eq!(a.as_str(), "sip:alice@example.com");
        assert_eq!(a.user(), Some("alice"));
        assert_eq!(a.domain(), "example.com");
        let b: Aor = "sip:alice@example.com:5070".parse().unwrap();
        assert_eq!(b.hostport(), "example.com:5070");
        assert_eq!(b.domain(), "example.com");
        assert_ne!(a, b);
        let c: Aor = "sip:[2001:db8::1]".parse().unwrap();
        assert_eq!(c.domain(), "[2001:db8::1]");
        assert_eq!(c.user(), None);
        assert_eq!(c.to_uri().to_string(), "sip:[2001:db8::1]");
    }

    #[test]
    fn call_id_rules() {
        assert_eq!(
            "a84b4c76e66710@pc33.atlanta.com"
                .parse::<CallId>()
                .unwrap()
                .as_str(),
            "a84b4c76e66710@pc33.atlanta.com"
        );
        assert_ne!(
            "abc".parse::<CallId>().unwrap(),
            "ABC".parse::<CallId>().unwrap()
        );
        assert!("".parse::<CallId>().is_err());
        assert!("a b".parse::<CallId>().is_err());
        assert!("a\u{e9}".parse::<CallId>().is_err());
        assert!("x".repeat(MAX_CALL_ID_LEN + 1).parse::<CallId>().is_err());
    }

    #[test]
    fn cseq_rules() {
        assert_eq!("1826".parse::<CSeq>().unwrap().value(), 1826);
        assert_eq!("2147483647".parse::<CSeq>().unwrap().value(), CSeq::MAX);
        for bad in ["", "-1", "2147483648", "99999999999", "1a", " 1"] {
            assert!(bad.parse::<CSeq>().is_err(), "{bad}");
        }
    }

    #[test]
    fn qvalue_is_strict() {
        for (s, t) in [
            ("0", 0),
            ("0.", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.125", 125),
            ("1", 1000),
            ("1.0", 1000),
            ("1.000", 1000),
        ] {
            assert_eq!(s.parse::<QValue>().unwrap().thousandths(), t, "{s}");
        }
        for bad in [
            "", "1.5", "1.001", "0.1234", "2", "-0", ".5", "0,5", "00.5", "1e0", "0.5 ",
        ] {
            assert!(bad.parse::<QValue>().is_err(), "{bad}");
        }
        assert_eq!(QValue::from_thousandths(500).unwrap().to_string(), "0.5");
        assert_eq!(QValue::from_thousandths(120).unwrap().to_string(), "0.12");
        assert_eq!(QValue::ONE.to_string(), "1");
        assert!(QValue::from_thousandths(1001).is_err());
    }

    #[test]
    fn instance_id_forms() {
        let a: InstanceId = "\"<urn:uuid:F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6>\""
            .parse()
            .unwrap();
        let b: InstanceId = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
            .parse()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.to_param_value(),
            "\"<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>\""
        );
        let imei: InstanceId = "<urn:gsma:imei:90420156-025763-0>".parse().unwrap();
        assert_eq!(imei.as_str(), "urn:gsma:imei:90420156-025763-0");
        for bad in [
            "",
            "\"<>\"",
            "uuid:1234",
            "urn::x",
            "urn:uuid:",
            "<urn:uuid:a b>",
        ] {
            assert!(bad.parse::<InstanceId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reg_id_range() {
        assert_eq!("1".parse::<RegId>().unwrap().value(), 1);
        for bad in ["0", "", "x", "2147483648"] {
            assert!(bad.parse::<RegId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn etag_rules() {
        let e = ETag::from_random(0xdead_beef);
        assert_eq!(e.as_str(), "000000000000000000000000deadbeef");
        assert_eq!(e.as_str().parse::<ETag>().unwrap(), e);
        assert_eq!(" dx200xyz ".parse::<ETag>().unwrap().as_str(), "dx200xyz");
        for bad in ["", "a b", "a;b", "\"q\""] {
            assert!(bad.parse::<ETag>().is_err(), "{bad}");
        }
        assert!("x".repeat(129).parse::<ETag>().is_err());
    }

    #[test]
    fn transport_tokens() {
        assert_eq!("udp".parse::<Transport>().unwrap(), Transport::Udp);
        assert_eq!("ws".parse::<Transport>().unwrap().as_str(), "WS");
        assert_eq!("quic".parse::<Transport>().unwrap().as_str(), "QUIC");
        assert!("".parse::<Transport>().is_err());
    }
}
