//! The SIP endpoint: bytes in, service calls, bytes out. It owns the server transactions (retransmission
//! absorption), the subscription dialogs' routes, and the NOTIFY client transactions; it opens no socket
//! and reads no clock — the caller passes `now` and sends what comes back.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dashmap::DashMap;
use registrar_core::sip::{
    self as helpers, PublishHeaders, RegisterHeaders, Response, SubscribeHeaders,
};
use registrar_presence::{DialogId, NotifyIntent, PresenceStore, SubState};
use registrar_registry::LocationStore;
use registrar_service::RegistrarService;
use registrar_types::{Aor, Timestamp, Transport};

use crate::auth::{DigestAuth, Verdict};
use crate::message::{Hdr, Limits, Message, Method, StartLine, uri_in};
use crate::ratelimit::RateLimiter;
use crate::text;
use crate::{Error, lenient};

/// The transport a message came over or goes out on.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub enum Proto {
    /// UDP: datagrams, with retransmissions.
    Udp,
    /// TCP: a stream, reliable.
    Tcp,
}

impl Proto {
    /// The Via transport token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
        }
    }
}

/// A peer: the transport, its address, and on a stream the connection the caller knows it by.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub struct Peer {
    /// The transport.
    pub proto: Proto,
    /// The remote address.
    pub addr: SocketAddr,
    /// The caller's connection id on a stream transport.
    pub conn: Option<u64>,
}

impl Peer {
    /// A UDP peer.
    pub const fn udp(addr: SocketAddr) -> Self {
        Self {
            proto: Proto::Udp,
            addr,
            conn: None,
        }
    }

    /// A TCP peer on connection `conn`.
    pub const fn tcp(addr: SocketAddr, conn: u64) -> Self {
        Self {
            proto: Proto::Tcp,
            addr,
            conn: Some(conn),
        }
    }
}

/// A message to send.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// Where to.
    pub to: Peer,
    /// The bytes.
    pub bytes: Bytes,
}

/// What handling one incoming message produced, and what to count.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Handled {
    /// Messages to send.
    pub out: Vec<Outgoing>,
    /// The request's method, if it was a request.
    pub method: Option<Method>,
    /// The status answered (`None`: nothing answered, or a retransmission).
    pub status: Option<u16>,
    /// Whether the message could not be parsed.
    pub parse_error: bool,
    /// Whether it was a retransmission absorbed by its transaction.
    pub retransmission: bool,
}

/// How the endpoint behaves.
#[derive(Debug)]
#[non_exhaustive]
pub struct SipConfig {
    /// The domains served (lower case); empty serves any.
    pub domains: Vec<String>,
    /// Size and header caps.
    pub limits: Limits,
    /// Digest authentication of REGISTER, PUBLISH and SUBSCRIBE, when set.
    pub auth: Option<DigestAuth>,
    /// Per-source rate limits, when set.
    pub rate_limit: Option<RateLimiter>,
    /// The `Server` header and Warning agent.
    pub server_name: String,
    /// RFC 3261 timer T1 in milliseconds (500).
    pub t1_ms: u64,
    /// RFC 3261 timer T2 in milliseconds (4000).
    pub t2_ms: u64,
    /// The host\[:port\] this server puts in the Via and Contact of what it sends, when the listening
    /// address is a wildcard.
    pub advertise: Option<String>,
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            domains: Vec::new(),
            limits: Limits::default(),
            auth: None,
            rate_limit: None,
            server_name: concat!("registrar/", env!("CARGO_PKG_VERSION")).to_owned(),
            t1_ms: 500,
            t2_ms: 4_000,
            advertise: None,
        }
    }
}

impl SipConfig {
    /// Serve these domains (empty: any).
    #[must_use]
    pub fn domains<S: AsRef<str>>(mut self, d: &[S]) -> Self {
        self.domains = d.iter().map(|s| s.as_ref().to_ascii_lowercase()).collect();
        self
    }

    /// Authenticate with this realm and users.
    #[must_use]
    pub fn auth(mut self, auth: DigestAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Limit each source address.
    #[must_use]
    pub fn rate_limit(mut self, r: RateLimiter) -> Self {
        self.rate_limit = Some(r);
        self
    }

    /// Size and header caps.
    #[must_use]
    pub const fn limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }

    /// Timers T1 and T2 in milliseconds.
    #[must_use]
    pub const fn timers(mut self, t1_ms: u64, t2_ms: u64) -> Self {
        self.t1_ms = t1_ms;
        self.t2_ms = t2_ms;
        self
    }

    /// The host\[:port\] for our Via and Contact when listening on a wildcard address.
    #[must_use]
    pub fn advertise(mut self, a: &str) -> Self {
        self.advertise = Some(a.to_owned());
        self
    }
}

/// Counters for metrics.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Stats {
    /// NOTIFY requests sent (first transmissions).
    pub notifies_sent: AtomicU64,
    /// NOTIFY transactions that failed (error response or timeout).
    pub notifies_failed: AtomicU64,
    /// NOTIFY retransmissions over UDP.
    pub notify_retransmissions: AtomicU64,
}

#[derive(Clone, Debug)]
enum ServerTx {
    /// Being handled: a retransmission now is dropped.
    Proceeding,
    /// Answered: a retransmission gets this again.
    Completed(Outgoing),
}

/// What a subscription dialog needs to send NOTIFYs (RFC 6665 §4.2.2, RFC 3261 §12).
#[derive(Clone, Debug)]
struct Route {
    peer: Peer,
    local: String,
    remote_target: String,
    /// Our From: the SUBSCRIBE's To with our tag.
    from: String,
    /// Our To: the SUBSCRIBE's From (with the subscriber's tag).
    to: String,
    route_set: Vec<String>,
    event_id: Option<String>,
    dead: bool,
}

impl Route {
    /// The route as text kept with its subscription (see `Subscription::route`): one field per line, the
    /// route set last. Header values hold no line feed, so the lines split back unambiguously.
    fn encode(&self) -> String {
        let mut s = format!(
            "r1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.peer.proto.as_str(),
            self.peer.addr,
            self.local,
            self.remote_target,
            self.from,
            self.to,
            self.event_id.as_deref().unwrap_or("")
        );
        for r in &self.route_set {
            s.push('\n');
            s.push_str(r);
        }
        s
    }

    /// A route from [`Route::encode`]'s text; `None` when it is not one. A stream peer comes back without
    /// its connection (gone with the old process): the transport opens a new one for the next NOTIFY.
    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.split('\n');
        if lines.next()? != "r1" {
            return None;
        }
        let proto = match lines.next()? {
            "UDP" => Proto::Udp,
            "TCP" => Proto::Tcp,
            _ => return None,
        };
        let addr: SocketAddr = lines.next()?.parse().ok()?;
        let local = lines.next()?.to_owned();
        let remote_target = lines.next()?.to_owned();
        let from = lines.next()?.to_owned();
        let to = lines.next()?.to_owned();
        let event_id = Some(lines.next()?)
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        Some(Self {
            peer: Peer {
                proto,
                addr,
                conn: None,
            },
            local,
            remote_target,
            from,
            to,
            route_set: lines.map(str::to_owned).collect(),
            event_id,
            dead: false,
        })
    }
}

/// Completed server transactions in the order they end (timer J is the same for all of them), in chunks of a
/// fixed size: under load the queue holds a million entries, and growing one contiguous buffer would copy
/// them all while requests wait for its lock.
#[derive(Debug, Default)]
struct ExpiryQueue {
    chunks: VecDeque<VecDeque<(u64, u128)>>,
}

impl ExpiryQueue {
    const CHUNK: usize = 4_096;

    fn push(&mut self, until_ms: u64, key: u128) {
        match self.chunks.back_mut() {
            Some(c) if c.len() < Self::CHUNK => c.push_back((until_ms, key)),
            _ => {
                let mut c = VecDeque::with_capacity(Self::CHUNK);
                c.push_back((until_ms, key));
                self.chunks.push_back(c);
            }
        }
    }

    /// The keys due at `now_ms`, from the front.
    fn take_due(&mut self, now_ms: u64) -> Vec<u128> {
        let mut due = Vec::new();
        while let Some(front) = self.chunks.front_mut() {
            while front.front().is_some_and(|(t, _)| *t <= now_ms) {
                if let Some((_, k)) = front.pop_front() {
                    due.push(k);
                }
            }
            if front.is_empty() {
                self.chunks.pop_front();
            } else {
                break;
            }
        }
        due
    }
}

#[derive(Clone, Debug)]
struct ClientTx {
    out: Outgoing,
    dialog: DialogId,
    interval_ms: u64,
    next_ms: u64,
    deadline_ms: u64,
}

/// The methods this server answers.
pub const ALLOW: &str = "REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS, ACK, CANCEL";
/// The option tags this server supports.
pub const SUPPORTED: &str = "path, gruu, outbound, eventlist";
const SUPPORTED_TAGS: [&str; 4] = ["path", "gruu", "outbound", "eventlist"];

/// The SIP endpoint over a [`RegistrarService`].
pub struct Endpoint<L: LocationStore + 'static, P: PresenceStore + 'static> {
    svc: RegistrarService<L, P>,
    cfg: SipConfig,
    server_tx: crate::prehashed::PrehashedMap<u128, ServerTx>,
    tx_expiry: Mutex<ExpiryQueue>,
    tx_hash: (std::hash::RandomState, std::hash::RandomState),
    dialogs: DashMap<DialogId, Route>,
    client_tx: DashMap<String, ClientTx>,
    stats: Stats,
    counter: AtomicU64,
    last_auth_sweep: AtomicU64,
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> std::fmt::Debug for Endpoint<L, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("server_transactions", &self.server_tx.len())
            .field("dialogs", &self.dialogs.len())
            .field("client_transactions", &self.client_tx.len())
            .finish_non_exhaustive()
    }
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    /// An endpoint answering for `svc`. NOTIFYs the service decides reach [`Endpoint::notify`] through the
    /// service's notifier (the server wires a channel between them).
    pub fn new(svc: RegistrarService<L, P>, cfg: SipConfig) -> Self {
        Self {
            svc,
            cfg,
            server_tx: crate::prehashed::map(),
            tx_expiry: Mutex::new(ExpiryQueue::default()),
            tx_hash: (std::hash::RandomState::new(), std::hash::RandomState::new()),
            dialogs: DashMap::new(),
            client_tx: DashMap::new(),
            stats: Stats::default(),
            counter: AtomicU64::new(1),
            last_auth_sweep: AtomicU64::new(0),
        }
    }

    /// The service.
    pub const fn service(&self) -> &RegistrarService<L, P> {
        &self.svc
    }

    /// The counters.
    pub const fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Open server transactions, subscription dialogs, and NOTIFY transactions in flight.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (
            self.server_tx.len(),
            self.dialogs.len(),
            self.client_tx.len(),
        )
    }

    /// Take back the dialog routes of subscriptions a store kept across a restart (each subscription's
    /// `route`), so their NOTIFYs can be sent again; call it before the service restores the subscriptions.
    /// Returns how many routes were usable; a subscription without one gets no NOTIFY and ends when its
    /// subscriber's refresh finds no dialog (481).
    pub fn restore_routes(&self, subs: &[registrar_presence::Subscription]) -> usize {
        let mut n = 0;
        for s in subs {
            if let Some(route) = s.route.as_deref().and_then(Route::decode) {
                self.dialogs.insert(s.dialog.clone(), route);
                n += 1;
            }
        }
        n
    }

    fn token(&self, now: Timestamp) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Unique per process (counter) and across restarts (time).
        format!("{:x}{:x}", now.as_millis() & 0xff_ffff_ffff, n)
    }

    /// Handle one incoming message from `from`, received on local address `local`.
    pub async fn handle(
        &self,
        now: Timestamp,
        from: Peer,
        local: SocketAddr,
        data: Bytes,
    ) -> Handled {
        let msg = match Message::parse(data.clone(), self.cfg.limits) {
            Ok(m) => m,
            Err(e) => return self.unparseable(&data, &e, from),
        };
        match msg.start() {
            StartLine::Response { status } => {
                let status = *status;
                self.on_response(now, &msg, status).await;
                Handled::default()
            }
            StartLine::Request { method, .. } => {
                let method = method.clone();
                let mut h = self.on_request(now, &msg, &method, from, local).await;
                h.method = Some(method);
                h
            }
        }
    }

    fn unparseable(&self, data: &[u8], e: &Error, from: Peer) -> Handled {
        let mut h = Handled {
            parse_error: true,
            ..Handled::default()
        };
        if let Some(bytes) = lenient::answer(data, e, &self.cfg.server_name) {
            h.status = Some(e.status());
            h.out.push(Outgoing {
                to: from,
                bytes: bytes.into(),
            });
        }
        h
    }

    async fn on_request(
        &self,
        now: Timestamp,
        msg: &Message,
        method: &Method,
        from: Peer,
        local: SocketAddr,
    ) -> Handled {
        if *method == Method::Ack {
            // ACK for a non-2xx final response to INVITE would be absorbed by the INVITE transaction; we
            // answer no INVITE, so there is nothing to do.
            return Handled::default();
        }
        let key = (from.proto == Proto::Udp).then(|| self.tx_id(msg, method));
        if let Some(k) = key {
            match self.server_tx.entry(k) {
                dashmap::Entry::Occupied(e) => {
                    let out = match e.get() {
                        ServerTx::Completed(o) => vec![Outgoing {
                            to: response_target(msg, from),
                            bytes: o.bytes.clone(),
                        }],
                        ServerTx::Proceeding => Vec::new(),
                    };
                    return Handled {
                        out,
                        retransmission: true,
                        ..Handled::default()
                    };
                }
                dashmap::Entry::Vacant(v) => {
                    v.insert(ServerTx::Proceeding);
                }
            }
        }
        let reply = self.dispatch(now, msg, method, from, local).await;
        let status = reply.status;
        let bytes = self.build_response(msg, from, &reply);
        let out = Outgoing {
            to: response_target(msg, from),
            bytes,
        };
        if let Some(k) = key {
            // Timer J: 64*T1 for unreliable transports (RFC 3261 §17.2.2).
            let until = now.as_millis() + 64 * self.cfg.t1_ms;
            self.server_tx.insert(k, ServerTx::Completed(out.clone()));
            if let Ok(mut q) = self.tx_expiry.lock() {
                q.push(until, k);
            }
        }
        Handled {
            out: vec![out],
            status: Some(status),
            ..Handled::default()
        }
    }

    /// A server transaction's key (RFC 3261 §17.2.3: branch, sent-by and method; plus Call-ID and CSeq,
    /// because some peers reuse branch values and a request of another dialog must never get a cached
    /// response; RFC 2543 peers without a magic-cookie branch are matched by their identifying headers) as
    /// 128 bits from two independently keyed hashes: nothing allocated, and a collision between two live
    /// transactions is out of reach (about 2^-88 with a million of them).
    fn tx_id(&self, msg: &Message, method: &Method) -> u128 {
        use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
        let via = msg.top_via();
        let call_id = msg.header(Hdr::CallId).unwrap_or("");
        let mut hashers = [self.tx_hash.0.build_hasher(), self.tx_hash.1.build_hasher()];
        for h in &mut hashers {
            match via.branch.as_deref() {
                Some(b) if b.starts_with("z9hG4bK") => {
                    (b, &via.host, via.port, method.as_str()).hash(h);
                }
                _ => {
                    (
                        msg.request_uri().unwrap_or(""),
                        msg.from_tag().unwrap_or(""),
                        msg.values(Hdr::Via).next().unwrap_or(""),
                    )
                        .hash(h);
                }
            }
            (call_id, msg.cseq()).hash(h);
        }
        let [a, b] = hashers.map(|h| h.finish());
        (u128::from(a) << 64) | u128::from(b)
    }

    async fn dispatch(
        &self,
        now: Timestamp,
        msg: &Message,
        method: &Method,
        from: Peer,
        local: SocketAddr,
    ) -> Response {
        // RFC 3261 §8.2.2.3: option tags we do not support.
        let unsupported: Vec<&str> = msg
            .list(Hdr::Require)
            .filter(|t| !SUPPORTED_TAGS.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .collect();
        if !unsupported.is_empty() && *method != Method::Cancel {
            return Response::new(420).with("Unsupported", unsupported.join(", "));
        }
        if let Some(rl) = &self.cfg.rate_limit
            && let Some(wait) = rl.check(now, from.addr.ip())
        {
            return Response::new(503).with("Retry-After", wait.to_string());
        }
        match method {
            Method::Options => Response::new(200)
                .with("Allow", ALLOW.to_owned())
                .with("Accept", "application/pidf+xml".to_owned())
                .with("Supported", SUPPORTED.to_owned())
                .with("Allow-Events", "presence, presence.winfo, reg".to_owned()),
            Method::Cancel => Response::new(481),
            Method::Notify => Response::new(481),
            Method::Register => self.register(now, msg, from).await,
            Method::Publish => self.publish(now, msg).await,
            Method::Subscribe => self.subscribe(now, msg, from, local).await,
            _ => Response::new(405).with("Allow", ALLOW.to_owned()),
        }
    }

    fn serves(&self, domain: &str) -> bool {
        self.cfg.domains.is_empty()
            || self
                .cfg
                .domains
                .iter()
                .any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Digest authentication, when enabled: `Ok(None)` without auth, `Ok(Some(user))` when authenticated,
    /// `Err(reply)` with the 401/400 to send.
    fn authenticate(&self, now: Timestamp, msg: &Message) -> Result<Option<String>, Response> {
        let Some(auth) = &self.cfg.auth else {
            return Ok(None);
        };
        let method = msg.method().map_or("", Method::as_str);
        match auth.verify(now, method, msg.values(Hdr::Authorization)) {
            Verdict::Authenticated(user) => Ok(Some(user)),
            Verdict::Challenge { stale } => {
                let mut r = Response::new(401);
                for c in auth.challenges(now, stale) {
                    r = r.with("WWW-Authenticate", c);
                }
                Err(r)
            }
            Verdict::Malformed(why) => Err(Response::warning(400, why)),
        }
    }

    async fn register(&self, now: Timestamp, msg: &Message, from: Peer) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        let rhost = uri_host(ruri);
        if !self.serves(rhost) {
            return Response::warning(403, "not a domain served here");
        }
        let to = uri_in(msg.header(Hdr::To).unwrap_or(""));
        let aor: Aor = match to.parse() {
            Ok(a) => a,
            Err(e) => return Response::warning(400, &format!("invalid To: {e}")),
        };
        // RFC 3261 §10.3 step 3: the AoR must belong to the Request-URI's domain.
        if !aor.domain().eq_ignore_ascii_case(rhost) {
            return Response::warning(404, "the To address is not in the Request-URI's domain");
        }
        match self.authenticate(now, msg) {
            Ok(Some(user)) if aor.user().is_none_or(|u| u != user) => {
                return Response::warning(403, "credentials do not match the address-of-record");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        let h = RegisterHeaders {
            to,
            call_id: msg.header(Hdr::CallId).unwrap_or(""),
            cseq: msg.cseq(),
            contact: msg.values(Hdr::Contact).collect(),
            expires: msg.header(Hdr::Expires),
            supported: msg.values(Hdr::Supported).collect(),
            path: msg.values(Hdr::Path).collect(),
            user_agent: msg.header(Hdr::UserAgent),
        };
        let req = match helpers::register_request(&h) {
            Ok(r) => r.from_addr(
                from.addr,
                match from.proto {
                    Proto::Udp => Transport::Udp,
                    Proto::Tcp => Transport::Tcp,
                },
            ),
            Err(e) => return e.response(),
        };
        let mut r = match self.svc.register(&req).await {
            Ok(out) => helpers::register_response(&out),
            Err(e) => helpers::Error::from(e).response(),
        };
        if r.status == 200 && !h.path.is_empty() {
            // RFC 3327 §5.3: echo the Path when the UA supports it.
            for p in &h.path {
                r = r.with("Path", (*p).to_owned());
            }
        }
        r
    }

    async fn publish(&self, now: Timestamp, msg: &Message) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        if !self.serves(uri_host(ruri)) {
            return Response::warning(404, "not a domain served here");
        }
        match self.authenticate(now, msg) {
            Ok(Some(user)) if uri_user(ruri) != Some(user.as_str()) => {
                return Response::warning(403, "credentials do not match the presentity");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        if msg.header(Hdr::ContentEncoding).is_some() {
            return Response::new(415).with("Accept-Encoding", "identity".to_owned());
        }
        let h = PublishHeaders {
            request_uri: ruri,
            event: msg.header(Hdr::Event).unwrap_or(""),
            sip_if_match: msg.header(Hdr::SipIfMatch),
            expires: msg.header(Hdr::Expires),
            content_type: msg.header(Hdr::ContentType),
            body: msg.body(),
        };
        if h.event.is_empty() {
            return Response::new(489).with("Allow-Events", "presence".to_owned());
        }
        helpers::handle_publish(&self.svc, &h).await
    }

    async fn subscribe(
        &self,
        now: Timestamp,
        msg: &Message,
        from: Peer,
        local: SocketAddr,
    ) -> Response {
        let ruri = msg.request_uri().unwrap_or("");
        let event_raw = msg.header(Hdr::Event).unwrap_or("");
        if event_raw.is_empty() {
            return Response::new(489)
                .with("Allow-Events", "presence, presence.winfo, reg".to_owned());
        }
        if !self.serves(uri_host(ruri)) {
            return Response::warning(404, "not a domain served here");
        }
        let from_uri = uri_in(msg.header(Hdr::From).unwrap_or(""));
        match self.authenticate(now, msg) {
            Ok(Some(user)) if uri_user(from_uri) != Some(user.as_str()) => {
                return Response::warning(403, "credentials do not match the subscriber");
            }
            Ok(_) => {}
            Err(r) => return r,
        }
        let Some(from_tag) = msg.from_tag() else {
            return Response::warning(400, "From has no tag");
        };
        let mut parts = event_raw.split(';');
        let package = parts.next().unwrap_or("").trim();
        let event_id = parts
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("id"))
            .map(|(_, v)| v.trim().to_owned());
        let to_tag = msg.to_tag().map(str::to_owned);
        let local_tag = to_tag.clone().unwrap_or_else(|| self.token(now));
        let accept: Vec<&str> = msg.values(Hdr::Accept).collect();
        let accept_joined = accept.join(", ");
        let h = SubscribeHeaders {
            request_uri: ruri,
            from: from_uri,
            from_tag,
            to_tag: to_tag.as_deref(),
            local_tag: &local_tag,
            call_id: msg.header(Hdr::CallId).unwrap_or(""),
            event: package,
            expires: msg.header(Hdr::Expires),
            accept: (!accept.is_empty()).then_some(accept_joined.as_str()),
            supported: msg.values(Hdr::Supported).collect(),
        };
        let (mut req, eventlist) = match helpers::subscribe_request(&h) {
            Ok(r) => r,
            Err(e) => return e.response(),
        };
        let contact = msg.list(Hdr::Contact).next().map(|c| uri_in(c).to_owned());
        let dialog = req.dialog.clone();
        let existed = self.dialogs.contains_key(&dialog);
        if to_tag.is_some() && !existed {
            return Response::new(481);
        }
        let local_host = self.local_hostport(local, msg);
        if existed {
            if let Some(c) = contact
                && let Some(mut r) = self.dialogs.get_mut(&dialog)
            {
                r.remote_target = c;
                r.peer = from;
                req.route = Some(Arc::from(r.encode()));
            }
        } else {
            let Some(target) = contact else {
                return Response::warning(400, "SUBSCRIBE without Contact");
            };
            let to_raw = msg.header(Hdr::To).unwrap_or("");
            let route = Route {
                peer: from,
                local: local_host.clone(),
                remote_target: target,
                from: format!("{to_raw};tag={local_tag}"),
                to: msg.header(Hdr::From).unwrap_or("").to_owned(),
                route_set: msg.list(Hdr::RecordRoute).map(str::to_owned).collect(),
                event_id,
                dead: false,
            };
            req.route = Some(Arc::from(route.encode()));
            self.dialogs.insert(dialog.clone(), route);
        }
        match self.svc.subscribe(&req, eventlist).await {
            Ok(out) => {
                let mut r = helpers::subscribe_response(&out);
                r.to_tag = Some(local_tag);
                let transport = match from.proto {
                    Proto::Udp => "",
                    Proto::Tcp => ";transport=tcp",
                };
                r.with("Contact", format!("<sip:{local_host}{transport}>"))
            }
            Err(e) => {
                if !existed {
                    self.dialogs.remove(&dialog);
                }
                helpers::Error::from(e).response()
            }
        }
    }

    fn local_hostport(&self, local: SocketAddr, msg: &Message) -> String {
        if !local.ip().is_unspecified() {
            return local.to_string();
        }
        if let Some(a) = &self.cfg.advertise {
            return a.clone();
        }
        // A wildcard listener with nothing advertised: the host the peer addressed, on our port.
        let host = uri_host(msg.request_uri().unwrap_or(""));
        format!("{host}:{}", local.port())
    }

    /// Turn a NOTIFY the service decided into a request to send, and start its client transaction.
    /// `None` when the dialog is gone or was ended by a failed NOTIFY.
    pub fn notify(&self, now: Timestamp, intent: &NotifyIntent) -> Option<Outgoing> {
        let terminated = matches!(intent.state.state, SubState::Terminated(_));
        let route = if terminated {
            self.dialogs.remove(&intent.dialog).map(|(_, r)| r)?
        } else {
            self.dialogs.get(&intent.dialog)?.clone()
        };
        if route.dead {
            return None;
        }
        let branch = format!("z9hG4bK{}", self.token(now));
        let mut s = String::with_capacity(512 + intent.body.as_ref().map_or(0, |b| b.len()));
        let _ = write!(
            s,
            "NOTIFY {} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            route.remote_target,
            route.peer.proto.as_str(),
            route.local
        );
        for r in &route.route_set {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} NOTIFY\r\nContact: <sip:{}>\r\n",
            route.from, route.to, intent.dialog.call_id, intent.cseq, route.local
        );
        for (name, value) in helpers::notify_headers(intent) {
            if name == "Event"
                && let Some(id) = &route.event_id
            {
                let _ = write!(s, "Event: {value};id={id}\r\n");
                continue;
            }
            let _ = write!(s, "{name}: {value}\r\n");
        }
        let _ = write!(s, "Server: {}\r\n\r\n", self.cfg.server_name);
        if let Some(b) = &intent.body {
            s.push_str(b);
        }
        let out = Outgoing {
            to: route.peer,
            bytes: Bytes::from(s),
        };
        let now_ms = now.as_millis();
        self.client_tx.insert(
            branch,
            ClientTx {
                out: out.clone(),
                dialog: intent.dialog.clone(),
                interval_ms: self.cfg.t1_ms,
                next_ms: if route.peer.proto == Proto::Udp {
                    now_ms + self.cfg.t1_ms
                } else {
                    u64::MAX
                },
                deadline_ms: now_ms + 64 * self.cfg.t1_ms,
            },
        );
        self.stats.notifies_sent.fetch_add(1, Ordering::Relaxed);
        Some(out)
    }

    async fn on_response(&self, now: Timestamp, msg: &Message, status: u16) {
        if status < 200 || msg.cseq_method() != "NOTIFY" {
            return;
        }
        let Some(branch) = msg.top_via().branch.as_deref() else {
            return;
        };
        let Some((_, tx)) = self.client_tx.remove(branch) else {
            return;
        };
        if (200..300).contains(&status) {
            return;
        }
        self.stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
        // RFC 6665 §4.2.2 and RFC 5057 §5.1: these end the dialog usage, so the subscription.
        if matches!(
            status,
            404 | 408 | 410 | 416 | 480 | 481 | 482 | 483 | 484 | 485 | 489 | 501 | 604
        ) {
            self.end_subscription(now, &tx.dialog).await;
        }
    }

    async fn end_subscription(&self, _now: Timestamp, dialog: &DialogId) {
        let existed = self
            .dialogs
            .get_mut(dialog)
            .map(|mut r| r.dead = true)
            .is_some();
        if existed {
            // The service removes it and emits its events; the final NOTIFY it asks for is not sent
            // (the route is dead).
            let _ = self.svc.unsubscribe(dialog).await;
            self.dialogs.remove(dialog);
        }
    }

    /// Run the timers due at `now`: NOTIFY retransmissions over UDP (timer E), NOTIFY timeouts (timer F,
    /// which end the subscription), and the end of completed server transactions (timer J).
    pub async fn poll(&self, now: Timestamp) -> Vec<Outgoing> {
        let now_ms = now.as_millis();
        // Taken under the queue's lock, removed after it, so requests filing new transactions never wait for
        // the removals.
        let ended = self
            .tx_expiry
            .lock()
            .map(|mut q| q.take_due(now_ms))
            .unwrap_or_default();
        for k in ended {
            self.server_tx.remove(&k);
        }
        let mut out = Vec::new();
        let mut timed_out = Vec::new();
        for mut e in self.client_tx.iter_mut() {
            let (key, tx) = e.pair_mut();
            if now_ms >= tx.deadline_ms {
                timed_out.push((key.clone(), tx.dialog.clone()));
            } else if now_ms >= tx.next_ms {
                out.push(tx.out.clone());
                tx.interval_ms = (tx.interval_ms * 2).min(self.cfg.t2_ms);
                tx.next_ms = now_ms + tx.interval_ms;
            }
        }
        self.stats
            .notify_retransmissions
            .fetch_add(out.len() as u64, Ordering::Relaxed);
        for (branch, dialog) in timed_out {
            self.client_tx.remove(&branch);
            self.stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
            self.end_subscription(now, &dialog).await;
        }
        // Forget the nonce counts of expired nonces once a minute.
        if let Some(a) = &self.cfg.auth {
            let last = self.last_auth_sweep.load(Ordering::Relaxed);
            if now_ms.saturating_sub(last) >= 60_000
                && self
                    .last_auth_sweep
                    .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                a.sweep(now);
            }
        }
        out
    }

    fn build_response(&self, msg: &Message, from: Peer, reply: &Response) -> Bytes {
        // Room for the copied headers and what is added, so the text is not reallocated while it grows.
        let extra: usize = reply
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum();
        let mut s = String::with_capacity(msg.head_len() + extra + 256);
        let reason = reply.reason;
        s.push_str("SIP/2.0 ");
        text::push_u64(&mut s, u64::from(reply.status));
        text::push_all(&mut s, &[" ", reason, "\r\n"]);
        let mut first = true;
        for v in msg.list(Hdr::Via) {
            if first {
                first = false;
                s.push_str("Via: ");
                push_top_via(&mut s, v, msg, from);
                s.push_str("\r\n");
            } else {
                text::push_all(&mut s, &["Via: ", v, "\r\n"]);
            }
        }
        text::push_all(
            &mut s,
            &["From: ", msg.header(Hdr::From).unwrap_or(""), "\r\n"],
        );
        let to = msg.header(Hdr::To).unwrap_or("");
        match (&reply.to_tag, msg.to_tag()) {
            (_, Some(_)) => text::push_all(&mut s, &["To: ", to, "\r\n"]),
            (Some(t), None) => text::push_all(&mut s, &["To: ", to, ";tag=", t, "\r\n"]),
            (None, None) => {
                // A tag derived from the transaction, the same on every retransmission.
                let tag = tag_of(msg);
                text::push_all(&mut s, &["To: ", to, ";tag=", &tag, "\r\n"]);
            }
        }
        text::push_all(
            &mut s,
            &[
                "Call-ID: ",
                msg.header(Hdr::CallId).unwrap_or(""),
                "\r\nCSeq: ",
            ],
        );
        text::push_u64(&mut s, u64::from(msg.cseq()));
        text::push_all(&mut s, &[" ", msg.cseq_method(), "\r\n"]);
        for (n, v) in &reply.headers {
            text::push_all(&mut s, &[n, ": ", v, "\r\n"]);
        }
        text::push_all(
            &mut s,
            &[
                "Server: ",
                &self.cfg.server_name,
                "\r\nContent-Length: 0\r\n\r\n",
            ],
        );
        Bytes::from(s)
    }
}

fn push_top_via(s: &mut String, v: &str, msg: &Message, from: Peer) {
    // RFC 3261 §18.2.1 (received) and RFC 3581 §4 (rport).
    let via = msg.top_via();
    let mut params = v.split(';');
    s.push_str(params.next().unwrap_or("").trim());
    for p in params {
        let name = p.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("rport") || name.eq_ignore_ascii_case("received") {
            continue;
        }
        s.push(';');
        s.push_str(p.trim());
    }
    let ip = from.addr.ip();
    let host_is_source = via
        .host
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|h| h == ip);
    if !host_is_source || via.rport {
        s.push_str(";received=");
        text::push_ip(s, ip);
    }
    if via.rport {
        s.push_str(";rport=");
        text::push_u64(s, u64::from(from.addr.port()));
    }
}

/// Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4): back on the connection for a stream; for a
/// datagram to the source address, on the source port when `rport` was asked for, else the sent-by port.
fn response_target(msg: &Message, from: Peer) -> Peer {
    match from.proto {
        Proto::Tcp => from,
        Proto::Udp => {
            let via = msg.top_via();
            let port = if via.rport {
                from.addr.port()
            } else {
                via.port.unwrap_or(5060)
            };
            Peer::udp(SocketAddr::new(from.addr.ip(), port))
        }
    }
}

fn tag_of(msg: &Message) -> String {
    // FNV-1a over the transaction's identity: stable across retransmissions, no state.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        msg.header(Hdr::CallId).unwrap_or(""),
        msg.from_tag().unwrap_or(""),
        msg.top_via().branch.as_deref().unwrap_or(""),
    ] {
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:x}")
}

fn uri_host(uri: &str) -> &str {
    let rest = uri.split_once(':').map_or(uri, |(_, r)| r);
    let rest = rest.split(['?']).next().unwrap_or("");
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split(';').next().unwrap_or("");
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    hostport.split(':').next().unwrap_or("")
}

fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.split_once(':').map(|(_, r)| r)?;
    let (user, _) = rest.rsplit_once('@')?;
    Some(user.split(':').next().unwrap_or(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expiry_queue_hands_out_what_is_due_in_order_across_chunks() {
        let mut q = ExpiryQueue::default();
        let n = ExpiryQueue::CHUNK * 2 + 10;
        for i in 0..n {
            q.push(i as u64, i as u128);
        }
        assert_eq!(q.chunks.len(), 3);
        assert!(q.take_due(0).len() == 1);
        let due = q.take_due(ExpiryQueue::CHUNK as u64 + 5);
        assert_eq!(due.first(), Some(&1));
        assert_eq!(due.last(), Some(&(ExpiryQueue::CHUNK as u128 + 5)));
        assert_eq!(due.len(), ExpiryQueue::CHUNK + 5);
        assert_eq!(q.chunks.len(), 2);
        assert_eq!(q.take_due(u64::MAX).len(), n - ExpiryQueue::CHUNK - 6);
        assert!(q.chunks.is_empty());
        q.push(7, 7);
        assert_eq!(q.take_due(6), Vec::<u128>::new());
        assert_eq!(q.take_due(7), vec![7]);
    }

    #[test]
    fn hosts_and_users_of_uris() {
        assert_eq!(
            uri_host("sip:alice@Example.com:5070;transport=tcp"),
            "Example.com"
        );
        assert_eq!(uri_host("sip:example.com"), "example.com");
        assert_eq!(uri_host("sip:bob@[2001:db8::1]:5060"), "2001:db8::1");
        assert_eq!(uri_user("sip:alice@example.com"), Some("alice"));
        assert_eq!(uri_user("sip:example.com"), None);
    }

    #[test]
    fn routes_survive_their_text_form() {
        for (route_set, event_id) in [
            (vec![], None),
            (
                vec![
                    "<sip:p1.example.com;lr>".to_owned(),
                    "<sip:p2;lr>".to_owned(),
                ],
                Some("7".to_owned()),
            ),
        ] {
            let r = Route {
                peer: Peer::tcp("192.0.2.1:5070".parse().unwrap(), 9),
                local: "127.0.0.1:5060".to_owned(),
                remote_target: "sip:bob@192.0.2.1:5070;transport=tcp".to_owned(),
                from: "<sip:alice@example.com>;tag=ours".to_owned(),
                to: "\"Bob\" <sip:bob@example.com>;tag=theirs".to_owned(),
                route_set,
                event_id,
                dead: false,
            };
            let back = Route::decode(&r.encode()).unwrap();
            assert_eq!(
                back.peer,
                Peer {
                    conn: None,
                    ..r.peer
                }
            );
            assert_eq!(
                (back.local, back.remote_target, back.from, back.to),
                (r.local, r.remote_target, r.from, r.to)
            );
            assert_eq!((back.route_set, back.event_id), (r.route_set, r.event_id));
        }
        assert!(Route::decode("r2\nUDP").is_none());
        assert!(Route::decode("r1\nSCTP\n1.2.3.4:5\na\nb\nc\nd\ne").is_none());
        assert!(Route::decode("r1\nUDP\nnot-an-address\na\nb\nc\nd\ne").is_none());
        assert!(Route::decode("r1\nUDP\n1.2.3.4:5\na").is_none());
    }
}
