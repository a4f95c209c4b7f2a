//! Wire parsing: a SIP message from bytes, with `ezk-sip-types` doing the grammar and this module guarding
//! what it does not (size and header-count caps before any parsing, exact case-sensitive methods, bodies
//! framed by `Content-Length`, every sub-parse handed a slice of the message's own buffer).

use std::ops::Range;

use bytes::Bytes;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::{CSeq as EzkCSeq, FromTo, Via as EzkVia};
use ezk_sip_types::msg::PullParser;
use ezk_sip_types::parse::Parse;

use crate::Error;

/// Caps on what a peer may send, applied before parsing.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message in bytes (head and body).
    pub max_message: usize,
    /// The most header lines in one message.
    pub max_headers: usize,
}

impl Limits {
    /// Limits of `max_message` bytes and `max_headers` header lines.
    pub const fn new(max_message: usize, max_headers: usize) -> Self {
        Self {
            max_message,
            max_headers,
        }
    }
}

impl Default for Limits {
    /// 64 KiB (the largest UDP datagram) and 128 header lines.
    fn default() -> Self {
        Self::new(65_535, 128)
    }
}

/// The methods this server knows; the rest are kept as text (and answered 405).
#[derive(Clone, Debug, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub enum Method {
    /// REGISTER.
    Register,
    /// SUBSCRIBE.
    Subscribe,
    /// NOTIFY.
    Notify,
    /// PUBLISH.
    Publish,
    /// OPTIONS.
    Options,
    /// ACK.
    Ack,
    /// CANCEL.
    Cancel,
    /// INVITE.
    Invite,
    /// Any other method token.
    Other(String),
}

impl Method {
    fn from_token(t: &str) -> Self {
        // Methods are case-sensitive (RFC 3261 §7.1).
        match t {
            "REGISTER" => Self::Register,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "PUBLISH" => Self::Publish,
            "OPTIONS" => Self::Options,
            "ACK" => Self::Ack,
            "CANCEL" => Self::Cancel,
            "INVITE" => Self::Invite,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The method token.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Register => "REGISTER",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Options => "OPTIONS",
            Self::Ack => "ACK",
            Self::Cancel => "CANCEL",
            Self::Invite => "INVITE",
            Self::Other(s) => s,
        }
    }
}

/// The headers this server reads, by their canonical name (compact forms map here too).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Hdr {
    /// Via (v).
    Via,
    /// From (f).
    From,
    /// To (t).
    To,
    /// Call-ID (i).
    CallId,
    /// CSeq.
    CSeq,
    /// Contact (m).
    Contact,
    /// Expires.
    Expires,
    /// Event (o).
    Event,
    /// Accept.
    Accept,
    /// Supported (k).
    Supported,
    /// Require.
    Require,
    /// Proxy-Require.
    ProxyRequire,
    /// Path.
    Path,
    /// Record-Route.
    RecordRoute,
    /// User-Agent.
    UserAgent,
    /// Content-Type (c).
    ContentType,
    /// Content-Length (l).
    ContentLength,
    /// Content-Encoding (e).
    ContentEncoding,
    /// SIP-If-Match.
    SipIfMatch,
    /// Authorization.
    Authorization,
    /// Max-Forwards.
    MaxForwards,
    /// Subscription-State.
    SubscriptionState,
    /// Date.
    Date,
    /// Anything else.
    Other,
}

impl Hdr {
    /// The header for a name as written (any case, long or compact form). `ezk-sip-types` splits the line
    /// and knows the names too, but comparing its `Name` against each known name costs more than one match
    /// on the lower-cased text.
    fn of(raw: &str) -> Self {
        let mut buf = [0u8; 24];
        if raw.len() > buf.len() {
            return Self::Other;
        }
        for (d, s) in buf.iter_mut().zip(raw.bytes()) {
            *d = s.to_ascii_lowercase();
        }
        match &buf[..raw.len()] {
            b"via" | b"v" => Self::Via,
            b"from" | b"f" => Self::From,
            b"to" | b"t" => Self::To,
            b"call-id" | b"i" => Self::CallId,
            b"cseq" => Self::CSeq,
            b"contact" | b"m" => Self::Contact,
            b"expires" => Self::Expires,
            b"event" | b"o" => Self::Event,
            b"accept" => Self::Accept,
            b"supported" | b"k" => Self::Supported,
            b"require" => Self::Require,
            b"proxy-require" => Self::ProxyRequire,
            b"path" => Self::Path,
            b"record-route" => Self::RecordRoute,
            b"user-agent" => Self::UserAgent,
            b"content-type" | b"c" => Self::ContentType,
            b"content-length" | b"l" => Self::ContentLength,
            b"content-encoding" | b"e" => Self::ContentEncoding,
            b"sip-if-match" => Self::SipIfMatch,
            b"authorization" => Self::Authorization,
            b"max-forwards" => Self::MaxForwards,
            b"subscription-state" => Self::SubscriptionState,
            b"date" => Self::Date,
            _ => Self::Other,
        }
    }

    /// Whether several values of this header may share one line, separated by commas.
    const fn is_list(self) -> bool {
        matches!(
            self,
            Self::Via
                | Self::Contact
                | Self::Accept
                | Self::Supported
                | Self::Require
                | Self::ProxyRequire
                | Self::Path
                | Self::RecordRoute
        )
    }
}

#[derive(Clone, Debug)]
struct HeaderLine {
    hdr: Hdr,
    name: Range<usize>,
    value: Range<usize>,
}

/// The first line.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StartLine {
    /// A request: its method and Request-URI.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI, as sent.
        uri: Range<usize>,
    },
    /// A response: its status code.
    Response {
        /// The status code.
        status: u16,
    },
}

/// The top Via, parsed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TopVia {
    /// The transport token (`UDP`, `TCP`, …), upper case.
    pub transport: String,
    /// The sent-by host.
    pub host: String,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// The branch parameter.
    pub branch: Option<String>,
    /// Whether `rport` was present (RFC 3581).
    pub rport: bool,
}

/// A SIP message that passed the caps and the grammar checks this server needs.
#[derive(Clone, Debug)]
pub struct Message {
    src: Bytes,
    start: StartLine,
    headers: Vec<HeaderLine>,
    body: Range<usize>,
    via: TopVia,
    cseq: (u32, Range<usize>),
    from_tag: Option<String>,
    to_tag: Option<String>,
}

/// How much of a stream buffer is one whole message: the head up to its blank line plus `Content-Length`.
///
/// `Ok(None)` means more bytes are needed; `Ok(Some(n))` that the first `n` bytes are a message (or, when
/// the buffer starts with blank lines, `n` bytes of keep-alive CRLFs to skip).
///
/// # Errors
/// [`Error::TooLarge`] when the message would exceed `limits`, [`Error::Malformed`] for a head without a
/// usable `Content-Length` (required on streams, RFC 3261 §18.3).
pub fn frame_len(buf: &[u8], limits: Limits) -> Result<Option<usize>, Error> {
    let lead = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if lead > 0 {
        return Ok(Some(lead));
    }
    let Some(head_end) = find_head_end(buf) else {
        if buf.len() > limits.max_message {
            return Err(Error::TooLarge);
        }
        return Ok(None);
    };
    let head = &buf[..head_end];
    let mut len = None;
    for line in head.split(|b| *b == b'\n') {
        let line = std::str::from_utf8(line).unwrap_or("").trim();
        if let Some((n, v)) = line.split_once(':') {
            let n = n.trim();
            if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l") {
                len = Some(
                    v.trim()
                        .parse::<usize>()
                        .map_err(|_| Error::malformed("Content-Length is not a number"))?,
                );
            }
        }
    }
    let len = len.ok_or_else(|| Error::malformed("Content-Length is required on a stream"))?;
    let total = head_end.saturating_add(len);
    if total > limits.max_message {
        return Err(Error::TooLarge);
    }
    Ok((buf.len() >= total).then_some(total))
}

/// A host as `ezk-sip-types` writes it (IPv6 in brackets), without the formatting machinery for IPv4.
fn host_text(h: &ezk_sip_types::host::Host) -> String {
    use ezk_sip_types::host::Host;
    match h {
        Host::IP4(ip) => {
            let mut s = String::with_capacity(15);
            crate::text::push_ip(&mut s, std::net::IpAddr::V4(*ip));
            s
        }
        Host::Name(n) => n.to_string(),
        other => other.to_string(),
    }
}

/// The index just past the blank line ending the head.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' {
            if buf[i + 1] == b'\n' {
                return Some(i + 2);
            }
            if buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

impl Message {
    /// Parse one message. On a datagram the body is what follows the head, cut to `Content-Length`
    /// (RFC 3261 §18.3: a shorter datagram than `Content-Length` says is malformed).
    ///
    /// # Errors
    /// [`Error::TooLarge`], [`Error::TooManyHeaders`], or [`Error::Malformed`] naming the problem; the
    /// caller answers with [`Error::status`] when the message carries what a response needs.
    pub fn parse(src: Bytes, limits: Limits) -> Result<Self, Error> {
        if src.len() > limits.max_message {
            return Err(Error::TooLarge);
        }
        let head_end = find_head_end(&src).ok_or_else(|| Error::malformed("no end of head"))?;
        // The header-count cap, before any grammar runs.
        // (A sum the compiler vectorizes; a filtered count goes byte by byte.)
        let lines: usize = src[..head_end]
            .iter()
            .map(|b| usize::from(*b == b'\n'))
            .sum();
        if lines > limits.max_headers + 2 {
            return Err(Error::TooManyHeaders);
        }
        let head_str = std::str::from_utf8(&src[..head_end])
            .map_err(|_| Error::malformed("the head is not UTF-8"))?;
        let mut parser = PullParser::new(&src[..head_end], 0);
        let first = match parser.next() {
            Some(Ok(l)) => l,
            _ => return Err(Error::malformed("no start line")),
        };
        let first_str = sub_str(head_str, &src, first);
        let start = parse_start(&src, first_str)?;
        let mut headers = Vec::with_capacity(16);
        for line in parser.by_ref() {
            let Ok(line) = line else {
                return Err(Error::malformed("incomplete header line"));
            };
            let text = sub_str(head_str, &src, line);
            let Some(colon) = text.find(':') else {
                return Err(Error::malformed("header line without a colon"));
            };
            let raw_name = text[..colon].trim();
            if raw_name.is_empty() || !raw_name.bytes().all(is_token) {
                return Err(Error::malformed(format!(
                    "bad header name: {}",
                    clip(raw_name)
                )));
            }
            let name_start = offset(&src, raw_name);
            let value = text[colon + 1..].trim();
            let value_start = if value.is_empty() {
                offset(&src, text) + text.len()
            } else {
                offset(&src, value)
            };
            headers.push(HeaderLine {
                hdr: Hdr::of(raw_name),
                name: name_start..name_start + raw_name.len(),
                value: value_start..value_start + value.len(),
            });
        }
        let mut msg = Self {
            src: src.clone(),
            start,
            headers,
            body: head_end..src.len(),
            via: TopVia {
                transport: String::new(),
                host: String::new(),
                port: None,
                branch: None,
                rport: false,
            },
            cseq: (0, 0..0),
            from_tag: None,
            to_tag: None,
        };
        msg.check_body()?;
        msg.check_mandatory()?;
        Ok(msg)
    }

    fn check_body(&mut self) -> Result<(), Error> {
        let mut lens = self.values(Hdr::ContentLength);
        let first = lens.next().map(|v| v.trim().parse::<usize>());
        let more = lens.next().is_some();
        drop(lens);
        if let Some(n) = first {
            let n = n.map_err(|_| Error::malformed("Content-Length is not a number"))?;
            if more {
                return Err(Error::malformed("more than one Content-Length"));
            }
            let available = self.body.len();
            if n > available {
                return Err(Error::malformed(
                    "the body is shorter than Content-Length says",
                ));
            }
            self.body = self.body.start..self.body.start + n;
        }
        Ok(())
    }

    /// Via, From, To, Call-ID and CSeq must be present and well formed (RFC 3261 §8.1.1).
    fn check_mandatory(&mut self) -> Result<(), Error> {
        let src = self.src.clone();
        if self.first_raw(Hdr::Via).is_none() {
            return Err(Error::malformed("no Via"));
        }
        for line in self.values(Hdr::Via) {
            if line.split(',').any(|e| e.trim().is_empty())
                || line.split([',', ';']).skip(1).any(|p| p.trim().is_empty())
            {
                return Err(Error::malformed("a Via has an empty element or parameter"));
            }
        }
        let mut top = None;
        for element in self.list(Hdr::Via) {
            let (vsrc, range) = tidy(&src, element, true);
            let text = std::str::from_utf8(&vsrc[range]).unwrap_or("");
            match EzkVia::parse(&vsrc, text) {
                Ok((rest, v)) if rest.trim().is_empty() => {
                    if top.is_none() {
                        top = Some(v);
                    }
                }
                _ => return Err(Error::malformed("a Via is malformed")),
            }
        }
        let v = top.ok_or_else(|| Error::malformed("no Via"))?;
        self.via = TopVia {
            transport: v.transport.to_ascii_uppercase(),
            host: host_text(&v.sent_by.host),
            port: v.sent_by.port,
            branch: v.params.get_val("branch").map(|b| b.to_string()),
            rport: v.params.get("rport").is_some(),
        };
        for (h, name) in [(Hdr::From, "From"), (Hdr::To, "To")] {
            let r = self
                .first_raw(h)
                .ok_or_else(|| Error::malformed(format!("no {name}")))?;
            if self.values(h).nth(1).is_some() {
                return Err(Error::malformed(format!("more than one {name}")));
            }
            let s = self.str_at(&r);
            if s.contains("< ") || s.contains(" >") || s.contains("<\t") || s.contains("\t>") {
                // RFC 3261 §25.1: no LWS inside the angle brackets of a name-addr.
                return Err(Error::malformed(format!("{name} has spaces inside < >")));
            }
            let s = strip_display_name(s)
                .ok_or_else(|| Error::malformed(format!("{name} has a malformed display name")))?;
            let (fsrc, range) = tidy(&src, s, false);
            let s = std::str::from_utf8(&fsrc[range]).unwrap_or("");
            let (rest, ft) = FromTo::parse(&fsrc, s)
                .map_err(|_| Error::malformed(format!("{name} is malformed")))?;
            if !rest.trim().is_empty() {
                return Err(Error::malformed(format!("{name} is malformed")));
            }
            let tag = ft.tag.map(|t| t.to_string());
            if h == Hdr::From {
                self.from_tag = tag;
            } else {
                self.to_tag = tag;
            }
        }
        let call_id = self
            .header(Hdr::CallId)
            .ok_or_else(|| Error::malformed("no Call-ID"))?;
        if self.values(Hdr::CallId).nth(1).is_some() {
            return Err(Error::malformed("more than one Call-ID"));
        }
        if self.values(Hdr::CSeq).nth(1).is_some() {
            return Err(Error::malformed("more than one CSeq"));
        }
        if let Some(d) = self.header(Hdr::Date)
            && !d.trim_end().ends_with(" GMT")
        {
            // RFC 3261 §20.17: an rfc1123-date, always in GMT.
            return Err(Error::malformed("Date is not in GMT"));
        }
        if call_id.is_empty() || call_id.contains(char::is_whitespace) {
            return Err(Error::malformed("Call-ID is malformed"));
        }
        let cseq = self
            .first_raw(Hdr::CSeq)
            .ok_or_else(|| Error::malformed("no CSeq"))?;
        let cs_raw = std::str::from_utf8(&src[cseq.clone()]).unwrap_or("");
        let (csrc, crange) = unfold(&src, cs_raw);
        let cs = std::str::from_utf8(&csrc[crange]).unwrap_or("");
        let (rest, parsed) =
            EzkCSeq::parse(&csrc, cs).map_err(|_| Error::malformed("CSeq is malformed"))?;
        if !rest.trim().is_empty() {
            return Err(Error::malformed("CSeq is malformed"));
        }
        let method_text = cs_raw.split_whitespace().nth(1).unwrap_or("");
        let m_start = offset(&src, method_text);
        self.cseq = (parsed.cseq, m_start..m_start + method_text.len());
        if let StartLine::Request { method, .. } = &self.start
            && method.as_str() != method_text
            && !(matches!(method, Method::Ack | Method::Cancel))
        {
            return Err(Error::malformed(
                "the CSeq method differs from the request method",
            ));
        }
        Ok(())
    }

    fn first_raw(&self, h: Hdr) -> Option<Range<usize>> {
        self.headers
            .iter()
            .find(|l| l.hdr == h)
            .map(|l| l.value.clone())
    }

    fn str_at(&self, r: &Range<usize>) -> &str {
        std::str::from_utf8(&self.src[r.clone()]).unwrap_or("")
    }

    /// The start line.
    pub const fn start(&self) -> &StartLine {
        &self.start
    }

    /// The method of a request.
    pub const fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status of a response.
    pub const fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { status } => Some(*status),
            StartLine::Request { .. } => None,
        }
    }

    /// The Request-URI of a request, as sent.
    pub fn request_uri(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { uri, .. } => Some(self.str_at(uri)),
            StartLine::Response { .. } => None,
        }
    }

    /// The first value of header `h` (the whole line's value).
    pub fn header(&self, h: Hdr) -> Option<&str> {
        self.headers
            .iter()
            .find(|l| l.hdr == h)
            .map(|l| self.str_at(&l.value))
    }

    /// Every line's value of header `h`, in order.
    pub fn values(&self, h: Hdr) -> impl Iterator<Item = &str> + '_ {
        self.headers
            .iter()
            .filter(move |l| l.hdr == h)
            .map(|l| self.str_at(&l.value))
    }

    /// Every element of a list header `h` (lines split at commas outside quotes and angle brackets).
    pub fn list(&self, h: Hdr) -> impl Iterator<Item = &str> + '_ {
        debug_assert!(h.is_list());
        self.values(h)
            .flat_map(registrar_core::sip::split_list)
            .filter(|v| !v.is_empty())
    }

    /// Every header line as written: (name, value).
    pub fn raw_headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.headers
            .iter()
            .map(|l| (self.str_at(&l.name), self.str_at(&l.value)))
    }

    /// The top Via.
    pub const fn top_via(&self) -> &TopVia {
        &self.via
    }

    /// The CSeq number.
    pub const fn cseq(&self) -> u32 {
        self.cseq.0
    }

    /// The length of the head (start line, headers and the blank line).
    pub(crate) const fn head_len(&self) -> usize {
        self.body.start
    }

    /// The CSeq method.
    pub fn cseq_method(&self) -> &str {
        self.str_at(&self.cseq.1)
    }

    /// The From tag.
    pub fn from_tag(&self) -> Option<&str> {
        self.from_tag.as_deref()
    }

    /// The To tag.
    pub fn to_tag(&self) -> Option<&str> {
        self.to_tag.as_deref()
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.src[self.body.clone()]
    }

    /// The URI inside a From or To value (`<uri>` or a bare addr-spec without parameters).
    pub fn uri_of(h: &str) -> &str {
        uri_in(h)
    }
}

/// The URI of a name-addr or addr-spec value.
pub(crate) fn uri_in(v: &str) -> &str {
    let v = v.trim();
    if let Some(open) = v.find('<') {
        let rest = &v[open + 1..];
        return rest.split('>').next().unwrap_or("").trim();
    }
    v.split(';').next().unwrap_or("").trim()
}

fn parse_start(src: &Bytes, line: &str) -> Result<StartLine, Error> {
    if line.starts_with("SIP/") {
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if version != "SIP/2.0" {
            return Err(Error::malformed("unsupported SIP version"));
        }
        let code = parts.next().unwrap_or("");
        let status: u16 = code
            .parse()
            .ok()
            .filter(|c| (100..700).contains(c))
            .ok_or_else(|| Error::malformed("bad status code"))?;
        return Ok(StartLine::Response { status });
    }
    let mut parts = line.split(' ');
    let (Some(m), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::malformed(
            "the request line is not METHOD URI SIP/2.0",
        ));
    };
    if !m.bytes().all(is_token) || m.is_empty() {
        return Err(Error::malformed("the method is not a token"));
    }
    if version != "SIP/2.0" {
        return Err(Error::VersionNotSupported);
    }
    let Some((scheme, _)) = uri.split_once(':') else {
        return Err(Error::malformed("the Request-URI has no scheme"));
    };
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(Error::malformed("the Request-URI is malformed"));
    }
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return Err(Error::UnsupportedScheme);
    }
    // The user part may hold '?' (user-unreserved); the part after the host may not.
    if uri.rsplit_once('@').map_or(uri, |(_, h)| h).contains('?') {
        // RFC 3261 §19.1.1: headers are not allowed in a Request-URI.
        return Err(Error::malformed("headers in the Request-URI"));
    }
    // The grammar check of the Request-URI (the method and version are checked above: `ezk-sip-types`'
    // whole request-line parser would try every method name and the status-line grammar again).
    match ezk_sip_types::uri::SipUri::parse(src)(uri) {
        Ok(("", _)) => {}
        _ => return Err(Error::malformed("the Request-URI is malformed")),
    }
    let start = offset(src, uri);
    Ok(StartLine::Request {
        method: Method::from_token(m),
        uri: start..start + uri.len(),
    })
}

/// The `<uri>;params` part of a name-addr whose display name is well formed (a quoted string with valid
/// quoted-pairs, or tokens and white space), or the whole value for an addr-spec. `None` when the display
/// name is malformed (RFC 4475 §3.1.2.5 and §3.1.2.14).
fn strip_display_name(v: &str) -> Option<&str> {
    let t = v.trim_start();
    if let Some(q) = t.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in q.char_indices() {
            if escaped {
                // quoted-pair: any octet but CR and LF (RFC 3261 §25.1).
                if c == '\r' || c == '\n' {
                    return None;
                }
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                let rest = q[i + 1..].trim_start();
                return rest.starts_with('<').then_some(rest);
            }
        }
        return None;
    }
    match t.find('<') {
        Some(open) => {
            let display = &t[..open];
            display
                .bytes()
                .all(|b| is_token(b) || b.is_ascii_whitespace())
                .then_some(&t[open..])
        }
        None => Some(t),
    }
}

/// The value unfolded (see [`unfold`]) and, outside quotes and angle brackets, without white space around
/// `;` and `=` (and `/` in a Via's sent-protocol), which the RFC's LWS rules allow and the grammar crate
/// does not.
fn tidy(src: &Bytes, value: &str, via: bool) -> (Bytes, Range<usize>) {
    let (buf, range) = unfold(src, value);
    let text = std::str::from_utf8(&buf[range.clone()]).unwrap_or("");
    let seps: &[char] = if via { &[';', '=', '/'] } else { &[';', '='] };
    let needs = text.char_indices().any(|(i, c)| {
        c.is_ascii_whitespace()
            && (text[i + 1..].trim_start().starts_with(seps)
                || text[..i].trim_end().ends_with(seps))
    });
    if !needs {
        return (buf, range);
    }
    let mut out = String::with_capacity(text.len());
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if escaped {
            escaped = false;
            out.push(c);
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            _ => {}
        }
        if c.is_ascii_whitespace() && !quoted && !angle {
            let next = chars[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            let prev = out.chars().last();
            if next.is_some_and(|n| seps.contains(n)) || prev.is_some_and(|p| seps.contains(&p)) {
                continue;
            }
            if prev.is_some_and(|p| p.is_ascii_whitespace()) {
                continue;
            }
        }
        out.push(c);
    }
    let len = out.trim_end().len();
    (Bytes::from(out), 0..len)
}

/// A header value with its line folding (CRLF + white space) replaced by one space, as a buffer and the
/// range of the value in it: the message's own buffer when there was no folding, a copy otherwise (the
/// grammar's sub-parsers need the value to lie inside the buffer they are given).
fn unfold(src: &Bytes, value: &str) -> (Bytes, Range<usize>) {
    if !value.contains(['\r', '\n']) {
        let start = offset(src, value);
        return (src.clone(), start..start + value.len());
    }
    let mut out = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in value.chars() {
        if c == '\r' || c == '\n' {
            pending_space = true;
            continue;
        }
        if pending_space {
            if !(c == ' ' || c == '\t') {
                out.push(' ');
            }
            pending_space = false;
            if c == ' ' || c == '\t' {
                out.push(' ');
                continue;
            }
        }
        out.push(c);
    }
    let len = out.len();
    (Bytes::from(out), 0..len)
}

/// The text of `sub`, a slice of `src`, as a slice of `head` (so that sub-parsers get a slice of `src`).
fn sub_str<'a>(head: &'a str, src: &Bytes, sub: &[u8]) -> &'a str {
    let start = sub.as_ptr() as usize - src.as_ptr() as usize;
    head.get(start..start + sub.len()).unwrap_or("")
}

fn offset(src: &Bytes, sub: &str) -> usize {
    (sub.as_ptr() as usize).saturating_sub(src.as_ptr() as usize)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

const fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Message, Error> {
        Message::parse(Bytes::copy_from_slice(s.as_bytes()), Limits::default())
    }

    const REG: &str = "REGISTER sip:example.com SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport\r\nf: <sip:alice@example.com>;tag=a\r\nt: <sip:alice@example.com>\r\ni: c1\r\nCSeq: 7 REGISTER\r\nm: <sip:alice@192.0.2.1:5070>, <sip:alice@192.0.2.2>\r\nl: 0\r\n\r\n";

    #[test]
    fn compact_forms_and_lists() {
        let m = parse(REG).expect("parses");
        assert_eq!(m.method(), Some(&Method::Register));
        assert_eq!(m.header(Hdr::CallId), Some("c1"));
        assert_eq!(m.cseq(), 7);
        assert_eq!(m.from_tag(), Some("a"));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.list(Hdr::Contact).count(), 2);
        let v = m.top_via();
        assert_eq!(
            (v.transport.as_str(), v.host.as_str(), v.port, v.rport),
            ("UDP", "192.0.2.1", Some(5070), true)
        );
        assert_eq!(v.branch.as_deref(), Some("z9hG4bK1"));
    }

    #[test]
    fn mismatched_cseq_method_is_malformed() {
        let bad = REG.replace("7 REGISTER", "7 INVITE");
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn too_many_headers_are_refused_before_parsing() {
        let many = REG.replace("l: 0\r\n", &"X-A: b\r\n".repeat(200));
        assert!(matches!(parse(&many), Err(Error::TooManyHeaders)));
    }

    #[test]
    fn framing_on_streams() {
        let l = Limits::default();
        assert_eq!(frame_len(b"\r\n\r\n", l).expect("ok"), Some(4));
        assert_eq!(frame_len(&REG.as_bytes()[..20], l).expect("ok"), None);
        assert_eq!(frame_len(REG.as_bytes(), l).expect("ok"), Some(REG.len()));
        let no_len = REG.replace("l: 0\r\n", "");
        assert!(frame_len(no_len.as_bytes(), l).is_err());
    }
}
