//! From parsed SIP header values to service calls, and from their results to response and NOTIFY headers.
//!
//! A SIP stack parses the wire message with its own parser and hands over header values as text; these
//! helpers validate them (newtypes parsed at the edge), call the service, and say what to answer. Errors
//! become the right status with the headers it needs (`Min-Expires` for 423, `Require` for 421,
//! `Allow-Events` for 489, `Accept` for 406, `Retry-After` for a store failure).

use registrar_presence::{
    EventPackage, NotifyIntent, PublishRequest, PublishResult, SubscribeOutcome, SubscribeRequest,
};
use registrar_registry::{
    ContactEntry, ContactSpec, LocationStore, RegisterOutcome, RegisterRequest, Supported,
};
use registrar_service::RegistrarService;
use registrar_types::{Aor, CSeq, CallId, ETag, InstanceId, QValue, RegId, SipUri, Timestamp};

/// Why a request could not be turned into a service call, or why the service refused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A header value is malformed (400).
    #[error("invalid {header} header: {reason}")]
    InvalidHeader {
        /// The header.
        header: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The body is not what the request says it carries (400).
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// The service refused the request.
    #[error(transparent)]
    Service(#[from] registrar_service::Error),
}

impl Error {
    fn header(header: &'static str, reason: impl ToString) -> Self {
        Self::InvalidHeader {
            header,
            reason: reason.to_string(),
        }
    }

    /// The response to send: status, reason phrase, and the headers the status calls for.
    pub fn response(&self) -> Response {
        let Self::Service(e) = self else {
            return Response::warning(400, &self.to_string());
        };
        let status = e.sip_status();
        let mut r = Response::new(status);
        use registrar_service::Error as S;
        match e {
            S::Registry(registrar_registry::Error::IntervalTooBrief { min })
            | S::Presence(registrar_presence::Error::IntervalTooBrief { min }) => {
                r = r.with("Min-Expires", min.to_string());
            }
            S::Registry(registrar_registry::Error::ExtensionRequired { extension }) => {
                r = r.with("Require", (*extension).to_owned());
            }
            S::Presence(registrar_presence::Error::EventlistRequired) => {
                r = r.with("Require", "eventlist".to_owned());
            }
            S::Presence(registrar_presence::Error::BadEvent(_)) => {
                r = r.with("Allow-Events", ALLOW_EVENTS.to_owned());
            }
            S::Presence(registrar_presence::Error::NotAcceptable(t)) => {
                r = r.with("Accept", (*t).to_owned());
            }
            S::Presence(registrar_presence::Error::UnsupportedMediaType { want, .. }) => {
                r = r.with("Accept", (*want).to_owned());
            }
            S::PushNotSupported { supported, .. } => {
                // RFC 8599 §5.3: the services this server does support.
                r = r.with(
                    "Feature-Caps",
                    format!("*;+sip.pns=\"{}\"", supported.join(",")),
                );
            }
            S::InvalidPushParam(p) => {
                r = r.with("Warning", warning(&format!("Contact {p}")));
            }
            S::Registry(registrar_registry::Error::Storage(_))
            | S::Presence(registrar_presence::Error::Storage(_)) => {
                r = r.with("Retry-After", "5".to_owned());
            }
            _ => {}
        }
        r
    }
}

/// A response to send: status, reason phrase and headers (besides Via, From, To, Call-ID, CSeq, which the
/// stack copies from the request), and the To tag when the answer chose one. The one response type of the
/// workspace: `registrar-sip` builds its wire responses from it.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: &'static str,
    /// Further headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The To tag to answer with when the request had none (a dialog this answer creates); `None`: the stack
    /// picks one.
    pub to_tag: Option<String>,
}

impl Response {
    /// A response with `status`, its reason phrase and no header.
    pub fn new(status: u16) -> Self {
        Self {
            status,
            reason: reason_phrase(status),
            headers: Vec::new(),
            to_tag: None,
        }
    }

    /// A response with `status` and a `Warning` naming the problem ([`warning`]).
    pub fn warning(status: u16, text: &str) -> Self {
        Self::new(status).with("Warning", warning(text))
    }

    /// The same response with one more header.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The event packages this server serves, for `Allow-Events` (RFC 6665 §8.2.2).
pub const ALLOW_EVENTS: &str = "presence, presence.winfo, reg, dialog, message-summary";

/// The reason phrase for a status this registrar sends (RFC 3261 §21 and the extensions it implements). The
/// one table of the workspace.
pub const fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        412 => "Conditional Request Failed",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        439 => "First Hop Lacks Outbound Support",
        481 => "Call/Transaction Does Not Exist",
        489 => "Bad Event",
        500 => "Server Internal Error",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        555 => "Push Notification Service Not Supported",
        _ => "Unknown",
    }
}

/// A `Warning` value (RFC 3261 §20.43, code 399 "miscellaneous", agent `registrar`) carrying `text` as a
/// safe quoted string: control characters dropped, quotes and backslashes replaced, at most 200 characters.
/// The one Warning formatter of the workspace.
pub fn warning(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
        .take(200)
        .collect();
    format!("399 registrar \"{clean}\"")
}

// ----- REGISTER -----

/// The header values of a REGISTER, as the stack parsed them.
///
/// Not `#[non_exhaustive]`: callers fill it with struct syntax and `..Default::default()`, which stays valid
/// when fields are added.
#[derive(Clone, Debug, Default)]
pub struct RegisterHeaders<'a> {
    /// The To URI (the address-of-record).
    pub to: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// Each Contact header value (one header may hold several contacts separated by commas).
    pub contact: Vec<&'a str>,
    /// Expires.
    pub expires: Option<&'a str>,
    /// Each Supported header value.
    pub supported: Vec<&'a str>,
    /// Each Path header value (RFC 3327), first hop first.
    pub path: Vec<&'a str>,
    /// User-Agent.
    pub user_agent: Option<&'a str>,
}

impl<'a> RegisterHeaders<'a> {
    /// A REGISTER for `to` with this Call-ID and CSeq and no Contact (a query).
    pub fn new(to: &'a str, call_id: &'a str, cseq: u32) -> Self {
        Self {
            to,
            call_id,
            cseq,
            ..Self::default()
        }
    }

    /// Add a Contact header value.
    #[must_use]
    pub fn contact(mut self, value: &'a str) -> Self {
        self.contact.push(value);
        self
    }

    /// Set Expires.
    #[must_use]
    pub const fn expires(mut self, value: &'a str) -> Self {
        self.expires = Some(value);
        self
    }

    /// Add a Supported header value.
    #[must_use]
    pub fn supported(mut self, value: &'a str) -> Self {
        self.supported.push(value);
        self
    }
}

/// The registry's request for these headers.
///
/// # Errors
/// [`Error::InvalidHeader`] for a malformed To, Call-ID, CSeq, Contact, Expires or Path.
pub fn register_request(h: &RegisterHeaders<'_>) -> Result<RegisterRequest, Error> {
    let aor: Aor = h.to.trim().parse().map_err(|e| Error::header("To", e))?;
    let call_id: CallId = h
        .call_id
        .trim()
        .parse()
        .map_err(|e| Error::header("Call-ID", e))?;
    let cseq = CSeq::new(h.cseq).map_err(|e| Error::header("CSeq", e))?;
    let mut req = RegisterRequest::new(aor, call_id, cseq);
    for value in &h.contact {
        for entry in parse_contacts(value)? {
            match entry {
                ContactEntry::Wildcard => req = req.wildcard(),
                ContactEntry::Contact(c) => req = req.contact(c),
                // Any entry kind added later is passed through as parsed.
                _ => {}
            }
        }
    }
    if let Some(e) = h.expires {
        req = req.expires(parse_expires(e, "Expires")?);
    }
    let tags = h.supported.iter().flat_map(|v| v.split(','));
    req = req.supported(Supported::from_tags(tags));
    let mut path = Vec::new();
    for value in &h.path {
        for hop in split_list(value) {
            let uri = hop
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("");
            path.push(
                uri.parse::<SipUri>()
                    .map_err(|e| Error::header("Path", e))?,
            );
        }
    }
    if !path.is_empty() {
        req = req.path(path);
    }
    if let Some(ua) = h.user_agent {
        req = req.user_agent(ua);
    }
    Ok(req)
}

/// The 200 OK to a REGISTER: every current binding as a Contact with its remaining expiry, its q-value when
/// it is not the default 1 (phones show it, and other registrars echo it too), and GRUUs when issued;
/// `Require: outbound` for an accepted outbound registration.
pub fn register_response(out: &RegisterOutcome) -> Response {
    let mut r = Response::new(200);
    for c in out.contacts() {
        let b = c.binding;
        let mut v = format!("<{}>;expires={}", b.contact, c.expires);
        if b.q != QValue::ONE {
            v.push_str(&format!(";q={}", b.q));
        }
        if let Some(i) = &b.instance_id {
            v.push_str(";+sip.instance=");
            v.push_str(&i.to_param_value());
        }
        if let Some(id) = &b.reg_id {
            v.push_str(&format!(";reg-id={id}"));
        }
        if let Some(g) = &c.pub_gruu {
            v.push_str(&format!(";pub-gruu=\"{g}\""));
        }
        if let Some(g) = &c.temp_gruu {
            v.push_str(&format!(";temp-gruu=\"{g}\""));
        }
        r = r.with("Contact", v);
    }
    if out.outbound {
        r = r.with("Require", "outbound".to_owned());
    }
    r
}

/// Turn the headers into a request, apply it, and say what to answer.
pub async fn handle_register<L, P>(
    svc: &RegistrarService<L, P>,
    h: &RegisterHeaders<'_>,
) -> Response
where
    L: LocationStore + 'static,
    P: registrar_presence::PresenceStore + 'static,
{
    let req = match register_request(h) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    match svc.register(&req).await {
        Ok(out) => {
            let r = register_response(&out);
            match svc.push_feature_caps(&req) {
                Some(caps) => r.with("Feature-Caps", caps),
                None => r,
            }
        }
        Err(e) => Error::from(e).response(),
    }
}

/// Parse one Contact header value: `*`, or one or more `name-addr` / `addr-spec` entries with their `expires`,
/// `q`, `+sip.instance` and `reg-id` parameters (others are ignored).
///
/// # Errors
/// [`Error::InvalidHeader`] for a malformed entry or parameter.
pub fn parse_contacts(value: &str) -> Result<Vec<ContactEntry>, Error> {
    const H: &str = "Contact";
    let mut out = Vec::new();
    for item in split_list(value) {
        let item = item.trim();
        if item == "*" {
            out.push(ContactEntry::Wildcard);
            continue;
        }
        if item.is_empty() {
            return Err(Error::header(H, "empty entry"));
        }
        let (uri, params) = match item.find('<') {
            Some(lt) => {
                let rest = &item[lt + 1..];
                let gt = rest
                    .find('>')
                    .ok_or_else(|| Error::header(H, "'<' without '>'"))?;
                (&rest[..gt], &rest[gt + 1..])
            }
            // addr-spec: the URI cannot hold ';' (RFC 3261 §20.10), so what follows is header parameters.
            None => {
                if item.contains('?') {
                    return Err(Error::header(
                        H,
                        "a URI with headers ('?') must be enclosed in '<' '>'",
                    ));
                }
                item.split_at(item.find(';').unwrap_or(item.len()))
            }
        };
        let uri: SipUri = uri.trim().parse().map_err(|e| Error::header(H, e))?;
        let mut spec = ContactSpec::new(uri);
        for p in params.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, val) = p
                .split_once('=')
                .map_or((p, ""), |(n, v)| (n.trim(), v.trim()));
            match name.to_ascii_lowercase().as_str() {
                "expires" => spec = spec.expires(parse_expires(val, "Contact expires")?),
                "q" => spec = spec.q(val.parse::<QValue>().map_err(|e| Error::header(H, e))?),
                "+sip.instance" => {
                    spec =
                        spec.instance(val.parse::<InstanceId>().map_err(|e| Error::header(H, e))?);
                }
                "reg-id" => {
                    spec = spec.reg_id(val.parse::<RegId>().map_err(|e| Error::header(H, e))?)
                }
                // RFC 8599 §4.1.4: a feature tag without a value.
                "+sip.pnsreg" => spec = spec.pnsreg(),
                _ => {}
            }
        }
        out.push(ContactEntry::Contact(spec));
    }
    Ok(out)
}

/// Split a header value at the commas that separate list entries — not those inside a quoted string (where
/// `\"` escapes a quote) or inside `<…>` — each entry trimmed; empty entries are kept (`a, , b` has three),
/// for the caller to refuse or skip. The one list splitter of the workspace (`registrar-sip` uses it too).
pub fn split_list(value: &str) -> impl Iterator<Item = &str> + '_ {
    let bytes = value.as_bytes();
    let (mut quoted, mut angle, mut escaped) = (false, false, false);
    let (mut start, mut i, mut done) = (0, 0, false);
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if escaped {
                escaped = false;
                continue;
            }
            match b {
                b'\\' if quoted => escaped = true,
                b'"' if !angle => quoted = !quoted,
                b'<' if !quoted => angle = true,
                b'>' if !quoted => angle = false,
                b',' if !quoted && !angle => {
                    let item = value[start..i - 1].trim();
                    start = i;
                    return Some(item);
                }
                _ => {}
            }
        }
        done = true;
        Some(value[start..].trim())
    })
}

/// A delta-seconds value; values past `u32::MAX` mean "as long as allowed".
fn parse_expires(v: &str, header: &'static str) -> Result<u32, Error> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::header(header, format!("{v:?} is not delta-seconds")));
    }
    Ok(v.parse::<u64>()
        .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX)))
}

// ----- SUBSCRIBE -----

/// The header values of a SUBSCRIBE.
///
/// Not `#[non_exhaustive]`: callers fill it with struct syntax and `..Default::default()`, which stays valid
/// when fields are added.
#[derive(Clone, Debug, Default)]
pub struct SubscribeHeaders<'a> {
    /// The Request-URI (the presentity, an AoR for `reg`, or a buddy list URI).
    pub request_uri: &'a str,
    /// The From URI (the watcher).
    pub from: &'a str,
    /// The From tag.
    pub from_tag: &'a str,
    /// The To tag: present on a refresh or unsubscribe inside the dialog.
    pub to_tag: Option<&'a str>,
    /// The tag the stack puts in the To of its answer (for a new dialog; the same as `to_tag` otherwise).
    pub local_tag: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// Event.
    pub event: &'a str,
    /// Expires.
    pub expires: Option<&'a str>,
    /// Accept (all values joined with commas), if present.
    pub accept: Option<&'a str>,
    /// Each Supported header value.
    pub supported: Vec<&'a str>,
    /// Each Require header value (`recipient-list-subscribe` asks for an ad-hoc list, RFC 5367).
    pub require: Vec<&'a str>,
    /// Content-Type, if there is a body.
    pub content_type: Option<&'a str>,
    /// The body (empty for none): the resource list of an ad-hoc list subscription.
    pub body: &'a [u8],
}

/// The presence layer's request for these headers, and whether the subscriber supports `eventlist`.
///
/// A SUBSCRIBE with `Require: recipient-list-subscribe` (RFC 5367) carries its resource list in an
/// `application/resource-lists+xml` body; the list's entries become the request's resources.
///
/// # Errors
/// [`Error::InvalidHeader`] for a malformed Request-URI, From, Call-ID or Expires; [`Error::InvalidBody`]
/// for a recipient list that is missing, of another type, not a resource-lists document, or with an entry
/// that is not a SIP URI.
pub fn subscribe_request(h: &SubscribeHeaders<'_>) -> Result<(SubscribeRequest, bool), Error> {
    let presentity: Aor = h
        .request_uri
        .trim()
        .parse()
        .map_err(|e| Error::header("Request-URI", e))?;
    let watcher: Aor = h
        .from
        .trim()
        .parse()
        .map_err(|e| Error::header("From", e))?;
    let call_id: CallId = h
        .call_id
        .trim()
        .parse()
        .map_err(|e| Error::header("Call-ID", e))?;
    let local = h.to_tag.unwrap_or(h.local_tag);
    let dialog = registrar_presence::DialogId::new(call_id, h.from_tag, local);
    let mut req = SubscribeRequest::new(dialog, watcher, presentity)
        .event(EventPackage::from_header(h.event));
    if let Some(e) = h.expires {
        req = req.expires(parse_expires(e, "Expires")?);
    }
    if let Some(a) = h.accept {
        req = req.accept(a);
    }
    if h.to_tag.is_some() {
        req = req.in_dialog();
    }
    let recipient_list = h
        .require
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("recipient-list-subscribe"));
    if recipient_list && !h.body.is_empty() {
        req = req.with_resources(recipient_list_of(h.content_type, h.body)?);
    } else if recipient_list && h.to_tag.is_none() {
        return Err(Error::InvalidBody(
            "Require: recipient-list-subscribe without a resource list".to_owned(),
        ));
    }
    let eventlist = h
        .supported
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("eventlist"));
    Ok((req, eventlist))
}

/// The resources of an RFC 5367 recipient list body.
fn recipient_list_of(content_type: Option<&str>, body: &[u8]) -> Result<Vec<Aor>, Error> {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if !ct.eq_ignore_ascii_case("application/resource-lists+xml") {
        return Err(Error::InvalidBody(format!(
            "a recipient list is application/resource-lists+xml, not {ct:?}"
        )));
    }
    let limits = registrar_pidf::Limits::default().max_bytes(256 * 1024);
    let uris = registrar_pidf::parse_resource_lists(body, &limits)
        .map_err(|e| Error::InvalidBody(e.to_string()))?;
    uris.iter()
        .map(|u| {
            u.parse::<Aor>()
                .map_err(|e| Error::InvalidBody(format!("entry {u:?}: {e}")))
        })
        .collect()
}

/// The answer to an accepted SUBSCRIBE: 200 or 202, `Expires`, and `Require: eventlist` for a list.
pub fn subscribe_response(out: &SubscribeOutcome) -> Response {
    let mut r = Response::new(out.status).with("Expires", out.expires.to_string());
    if out.eventlist {
        r = r.with("Require", "eventlist".to_owned());
    }
    r
}

/// Turn the headers into a request, apply it, and say what to answer. The NOTIFYs go to the service's
/// notifier.
pub async fn handle_subscribe<L, P>(
    svc: &RegistrarService<L, P>,
    h: &SubscribeHeaders<'_>,
) -> Response
where
    L: LocationStore + 'static,
    P: registrar_presence::PresenceStore + 'static,
{
    let (req, eventlist) = match subscribe_request(h) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    match svc.subscribe(&req, eventlist).await {
        Ok(out) => subscribe_response(&out),
        Err(e) => Error::from(e).response(),
    }
}

/// The headers of a NOTIFY besides the dialog's: `Event`, `Subscription-State`, `Content-Type` (exactly, for
/// phones that refuse parameters) and `Require: eventlist` for a list, and `Content-Length` (0 without body:
/// some phones fail on a bodiless NOTIFY without it).
pub fn notify_headers(n: &NotifyIntent) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (
            "Event",
            n.event_header.unwrap_or(n.event.as_str()).to_owned(),
        ),
        ("Subscription-State", n.state.to_string()),
    ];
    if n.requires_eventlist() {
        h.push(("Require", "eventlist".to_owned()));
    }
    if let Some(ct) = n.content_type() {
        h.push(("Content-Type", ct.to_owned()));
    }
    let len = n.body_text().map_or(0, |b| b.len());
    h.push(("Content-Length", len.to_string()));
    h
}

// ----- PUBLISH -----

/// The header values and body of a PUBLISH.
///
/// Not `#[non_exhaustive]`: callers fill it with struct syntax and `..Default::default()`, which stays valid
/// when fields are added.
#[derive(Clone, Debug, Default)]
pub struct PublishHeaders<'a> {
    /// The Request-URI (the presentity).
    pub request_uri: &'a str,
    /// Event.
    pub event: &'a str,
    /// SIP-If-Match.
    pub sip_if_match: Option<&'a str>,
    /// Expires.
    pub expires: Option<&'a str>,
    /// Content-Type, if there is a body.
    pub content_type: Option<&'a str>,
    /// The body (empty for none).
    pub body: &'a [u8],
}

/// The presence layer's request for these headers.
///
/// # Errors
/// [`Error::InvalidHeader`] for a malformed Request-URI, SIP-If-Match or Expires.
pub fn publish_request(h: &PublishHeaders<'_>) -> Result<PublishRequest, Error> {
    let aor: Aor = h
        .request_uri
        .trim()
        .parse()
        .map_err(|e| Error::header("Request-URI", e))?;
    let mut req = PublishRequest::initial(aor, h.body).event(EventPackage::from_header(h.event));
    req.body = if h.body.is_empty() {
        None
    } else {
        let ct = h.content_type.unwrap_or("").split(';').next().unwrap_or("");
        Some((ct.trim().to_ascii_lowercase(), h.body.to_vec()))
    };
    if let Some(m) = h.sip_if_match {
        req.if_match = Some(
            m.trim()
                .parse::<ETag>()
                .map_err(|e| Error::header("SIP-If-Match", e))?,
        );
    }
    if let Some(e) = h.expires {
        req = req.expires(parse_expires(e, "Expires")?);
    }
    Ok(req)
}

/// The 200 OK to a PUBLISH: `SIP-ETag` (none after a removal) and `Expires`.
pub fn publish_response(r: &PublishResult) -> Response {
    let mut resp = Response::new(200);
    if let Some(e) = &r.outcome.etag {
        resp = resp.with("SIP-ETag", e.to_string());
    }
    resp.with("Expires", r.outcome.expires.to_string())
}

/// Turn the headers into a request, apply it, and say what to answer. NOTIFYs to watchers go to the
/// service's notifier.
pub async fn handle_publish<L, P>(svc: &RegistrarService<L, P>, h: &PublishHeaders<'_>) -> Response
where
    L: LocationStore + 'static,
    P: registrar_presence::PresenceStore + 'static,
{
    handle_publish_at(svc, svc.now(), h).await
}

/// [`handle_publish`] at `now`, the time the caller took once for the whole request.
pub async fn handle_publish_at<L, P>(
    svc: &RegistrarService<L, P>,
    now: Timestamp,
    h: &PublishHeaders<'_>,
) -> Response
where
    L: LocationStore + 'static,
    P: registrar_presence::PresenceStore + 'static,
{
    let req = match publish_request(h) {
        Ok(r) => r,
        Err(e) => return e.response(),
    };
    match svc.publish_at(now, &req).await {
        Ok(r) => publish_response(&r),
        Err(e) => Error::from(e).response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_brackets() {
        let v: Vec<_> = split_list("\"a, b\" <sip:x;y=1,2>, sip:z").collect();
        assert_eq!(v, ["\"a, b\" <sip:x;y=1,2>", "sip:z"]);
        let v: Vec<_> = split_list("\"a \\\" , b\" <sip:x>, , c").collect();
        assert_eq!(v, ["\"a \\\" , b\" <sip:x>", "", "c"]);
    }

    /// A store failure of either layer is a 503 with `Retry-After` (the documented answer; see
    /// docs/architecture.md, "When a seam fails").
    #[test]
    fn store_failures_are_503_with_retry_after() {
        for e in [
            registrar_service::Error::Registry(registrar_registry::Error::Storage("down".into())),
            registrar_service::Error::Presence(registrar_presence::Error::Storage("down".into())),
        ] {
            let r = Error::from(e).response();
            assert_eq!(r.status, 503);
            assert_eq!(r.header("Retry-After"), Some("5"));
        }
    }

    #[test]
    fn warnings_are_safe_quoted_strings() {
        assert_eq!(warning("a \"b\"\r\nc"), "399 registrar \"a 'b'c\"");
        assert_eq!(
            Error::header("To", "a \"quoted\" reason")
                .response()
                .header("Warning"),
            Some("399 registrar \"invalid To header: a 'quoted' reason\"")
        );
    }

    #[test]
    fn every_status_sent_has_its_reason() {
        for s in [
            200, 202, 400, 401, 403, 404, 405, 406, 412, 413, 415, 416, 420, 421, 423, 439, 481,
            489, 500, 503, 505, 513,
        ] {
            assert_ne!(reason_phrase(s), "Unknown", "{s}");
        }
    }
}
