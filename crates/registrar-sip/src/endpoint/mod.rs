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

mod flows;
mod methods;
mod notifications;
mod pings;
mod responses;
mod timers;

use flows::Flow;
use notifications::{ClientTx, Route};
use pings::{PingState, PingTx};
use responses::response_target;
use timers::ExpiryQueue;

/// The transport a message came over or goes out on.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub enum Proto {
    /// UDP: datagrams, with retransmissions.
    Udp,
    /// TCP: a stream, reliable.
    Tcp,
    /// TLS over TCP (RFC 3261 §26, RFC 5630).
    Tls,
    /// WebSocket (RFC 7118), one message per frame.
    Ws,
    /// WebSocket over TLS (RFC 7118).
    Wss,
}

impl Proto {
    /// The Via transport token.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The transport named by a Via token, case-insensitively.
    pub fn parse(token: &str) -> Option<Self> {
        [Self::Udp, Self::Tcp, Self::Tls, Self::Ws, Self::Wss]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(token))
    }

    /// Whether it runs over a connection (everything but UDP): responses and in-dialog requests reuse it.
    pub const fn is_stream(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// Whether it is encrypted (TLS, WSS): what a `sips:` address requires (RFC 5630).
    pub const fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// The binding transport of the registry.
    pub const fn transport(self) -> Transport {
        match self {
            Self::Udp => Transport::Udp,
            Self::Tcp => Transport::Tcp,
            Self::Tls => Transport::Tls,
            Self::Ws => Transport::Ws,
            Self::Wss => Transport::Wss,
        }
    }

    /// The same transport from the registry's name for it (`None` for one SIP here does not carry).
    pub const fn from_transport(t: &Transport) -> Option<Self> {
        match t {
            Transport::Udp => Some(Self::Udp),
            Transport::Tcp => Some(Self::Tcp),
            Transport::Tls => Some(Self::Tls),
            Transport::Ws => Some(Self::Ws),
            Transport::Wss => Some(Self::Wss),
            _ => None,
        }
    }

    /// The URI parameter naming it in a Contact of ours (none for UDP, the default).
    pub const fn uri_param(self) -> &'static str {
        match self {
            Self::Udp => "",
            Self::Tcp => ";transport=tcp",
            Self::Tls => ";transport=tls",
            Self::Ws => ";transport=ws",
            Self::Wss => ";transport=wss",
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
        Self::stream(Proto::Tcp, addr, conn)
    }

    /// A peer on connection `conn` of a stream transport (TCP, TLS, WS, WSS).
    pub const fn stream(proto: Proto, addr: SocketAddr, conn: u64) -> Self {
        Self {
            proto,
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
    /// The `Flow-Timer` (seconds) of the 200 OK to an outbound REGISTER over a connection (RFC 5626 §4.4.1):
    /// how often the device should send its keep-alive. 0: none sent.
    pub flow_timer: u32,
    /// OPTIONS pings ([`Endpoint::ping`]) a binding may leave unanswered in a row before it ends.
    pub ping_failures: u32,
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
            flow_timer: 120,
            ping_failures: 3,
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

    /// The `Flow-Timer` of outbound registrations over connections, in seconds (0: none).
    #[must_use]
    pub const fn flow_timer(mut self, secs: u32) -> Self {
        self.flow_timer = secs;
        self
    }

    /// How many OPTIONS pings in a row a binding may leave unanswered before it ends.
    #[must_use]
    pub const fn ping_failures(mut self, n: u32) -> Self {
        self.ping_failures = n;
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

/// The methods this server answers.
pub const ALLOW: &str = "REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS, ACK, CANCEL";
/// The option tags this server supports.
pub const SUPPORTED: &str = "path, gruu, outbound, eventlist, recipient-list-subscribe";
const SUPPORTED_TAGS: [&str; 5] = [
    "path",
    "gruu",
    "outbound",
    "eventlist",
    "recipient-list-subscribe",
];

/// The SIP endpoint over a [`RegistrarService`].
pub struct Endpoint<L: LocationStore + 'static, P: PresenceStore + 'static> {
    svc: RegistrarService<L, P>,
    cfg: SipConfig,
    server_tx: crate::prehashed::PrehashedMap<u128, ServerTx>,
    tx_expiry: Mutex<ExpiryQueue>,
    tx_hash: (std::hash::RandomState, std::hash::RandomState),
    dialogs: DashMap<DialogId, Route>,
    /// The outbound flows (RFC 5626): per connection, the AoRs that registered an outbound binding over it.
    flows: DashMap<u64, Flow>,
    /// OPTIONS pings waiting for their answers, by branch, and each pinged binding's state.
    pings: DashMap<String, PingTx>,
    ping_state: DashMap<(Aor, Arc<str>), PingState>,
    next_ping_deadline: AtomicU64,
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
            flows: DashMap::new(),
            pings: DashMap::new(),
            ping_state: DashMap::new(),
            next_ping_deadline: AtomicU64::new(u64::MAX),
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
                .with(
                    "Accept",
                    "application/pidf+xml, application/dialog-info+xml, application/simple-message-summary"
                        .to_owned(),
                )
                .with("Supported", SUPPORTED.to_owned())
                .with("Allow-Events", registrar_core::sip::ALLOW_EVENTS.to_owned()),
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
}
