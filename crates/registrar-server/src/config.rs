//! The configuration file (TOML) and its defaults. Every key is documented in `docs/operations.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) sip: SipSection,
    pub(crate) registrar: RegistrarSection,
    pub(crate) presence: PresenceSection,
    pub(crate) auth: AuthSection,
    pub(crate) http: HttpSection,
    pub(crate) storage: StorageSection,
    pub(crate) directory: DirectorySection,
    pub(crate) federation: FederationSection,
    pub(crate) push: PushSection,
}

/// `[push]`: push notifications for sleeping phones (RFC 8599). Off unless a provider section is present.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PushSection {
    /// Longest wait of a wake-up (`POST /v1/registrations/{aor}/wake`) for the woken devices to register.
    pub(crate) max_wait_ms: u64,
    /// The wait of a wake-up that names none.
    pub(crate) default_wait_ms: u64,
    /// `Feature-Caps: +sip.pnsreg`: seconds before expiry a device that refreshes by itself should refresh.
    pub(crate) pnsreg_secs: u32,
    /// Seconds before expiry a device that cannot refresh by itself is pushed to refresh.
    pub(crate) refresh_before_secs: u32,
    /// How long one request to a push service may take.
    pub(crate) timeout_ms: u64,
    pub(crate) apns: Option<ApnsSection>,
    pub(crate) fcm: Option<FcmSection>,
    pub(crate) webpush: Option<WebPushSection>,
}

impl Default for PushSection {
    fn default() -> Self {
        Self {
            max_wait_ms: 30_000,
            default_wait_ms: 10_000,
            pnsreg_secs: 130,
            refresh_before_secs: 120,
            timeout_ms: 10_000,
            apns: None,
            fcm: None,
            webpush: None,
        }
    }
}

/// `[push.apns]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ApnsSection {
    /// Empty: production (`https://api.push.apple.com`).
    pub(crate) url: String,
    pub(crate) team_id: String,
    pub(crate) key_id: String,
    /// The `.p8` authentication key.
    pub(crate) key_file: std::path::PathBuf,
    /// Allowed topics; empty: any of the team.
    pub(crate) topics: Vec<String>,
    /// Extra trusted CA certificates (PEM).
    pub(crate) ca_file: String,
}

/// `[push.fcm]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FcmSection {
    /// The service account key (JSON) from the Firebase console.
    pub(crate) service_account_file: std::path::PathBuf,
    /// Empty: `https://fcm.googleapis.com`.
    pub(crate) url: String,
    /// Empty: the key file's `token_uri`.
    pub(crate) token_url: String,
    pub(crate) ca_file: String,
}

/// `[push.webpush]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct WebPushSection {
    /// The VAPID key (PKCS#8 PEM, P-256).
    pub(crate) vapid_key_file: std::path::PathBuf,
    /// `mailto:` or `https:` contact of the operator.
    pub(crate) subject: String,
    /// Push service hosts subscriptions may name; empty: the browsers' public services.
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) ca_file: String,
}

/// `[federation]`: this directory server among others (docs/directory.md, "Federation").
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct FederationSection {
    /// This server's id, as its peers list it; empty: federation off.
    pub(crate) server_id: String,
    /// This server's Ed25519 private key (32-byte seed, base64url; `registrar keygen`).
    pub(crate) private_key: String,
    /// Or a file holding it.
    pub(crate) private_key_file: std::path::PathBuf,
    /// The domains this server answers for (participant ids and email addresses).
    pub(crate) domains: Vec<String>,
    /// How long a peer has to answer one lookup.
    pub(crate) timeout_ms: u64,
    /// How old (or how far in the future) a signed request may be; a signature is accepted once.
    pub(crate) replay_window_secs: u64,
    /// Consecutive failures that open a peer's circuit breaker.
    pub(crate) breaker_failures: u32,
    /// How long an open breaker stays open before one probe is let through.
    pub(crate) breaker_cooldown_secs: u64,
    /// How long a peer's answer to the same lookup is reused (0: never).
    pub(crate) cache_secs: u64,
    /// Whether a domain no peer is configured for is looked up in DNS (`_registrar-directory.<domain>`).
    pub(crate) dns_discovery: bool,
    /// Lookups each peer may make per minute (beyond: 429 with Retry-After).
    pub(crate) lookups_per_minute: u32,
    /// The peers.
    pub(crate) peers: Vec<PeerSection>,
}

impl Default for FederationSection {
    fn default() -> Self {
        Self {
            server_id: String::new(),
            private_key: String::new(),
            private_key_file: std::path::PathBuf::new(),
            domains: Vec::new(),
            timeout_ms: 1_500,
            replay_window_secs: 60,
            breaker_failures: 3,
            breaker_cooldown_secs: 30,
            cache_secs: 10,
            dns_discovery: true,
            lookups_per_minute: 6_000,
            peers: Vec::new(),
        }
    }
}

/// `[[federation.peers]]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PeerSection {
    /// The peer's server id (its `federation.server_id`).
    pub(crate) id: String,
    /// Its base URL (`http://host:port`).
    pub(crate) url: String,
    /// Its Ed25519 public key (base64url).
    pub(crate) public_key: String,
    /// trusted, verified, provisional, restricted or blocked.
    pub(crate) trust: String,
    /// The domains it answers for.
    pub(crate) domains: Vec<String>,
    /// For an `https://` URL: the certificates (PEM) to trust for it instead of the system's roots.
    pub(crate) ca_file: std::path::PathBuf,
}

/// `[[directory.oidc]]`: an OpenID Connect provider whose ID tokens verify participants' identities.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct OidcSection {
    /// The provider's issuer (`iss`), exactly.
    pub(crate) issuer: String,
    /// The client id tokens must be issued to (`aud`).
    pub(crate) audience: String,
    /// The provider's signing keys as a JWKS document (JSON, RSA and Ed25519 keys).
    pub(crate) jwks: String,
    /// Or a file holding it.
    pub(crate) jwks_file: std::path::PathBuf,
    /// The verification a valid token gives: `email` (default) or `organization`.
    pub(crate) level: String,
}

/// `[directory]`: the participant directory's HTTP API.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DirectorySection {
    /// The HS256 key of the bearer tokens; empty: the directory API is off (503).
    pub(crate) jwt_secret: String,
    /// Ed25519 public keys (base64url) of EdDSA bearer tokens.
    pub(crate) jwt_ed25519_public_keys: Vec<String>,
    pub(crate) discovery_per_hour: u32,
    pub(crate) ratings_per_day: u32,
    pub(crate) contact_requests_per_hour: u32,
    /// Shared mode: the PostgreSQL of the directory (required there for the API to be on).
    pub(crate) database_url: String,
    /// Shared mode: most connections to it.
    pub(crate) database_connections: u32,
    /// Shared mode: how long the change feed keeps entries (a node cut off longer reloads everything).
    pub(crate) feed_retention_secs: u64,
    /// The directory's image (memory written to a file, read at start instead of rebuilding everything);
    /// relative to `storage.data_dir`; empty: no image.
    pub(crate) image_file: std::path::PathBuf,
    /// Also write the image every this many seconds when the directory changed (0: at shutdown only).
    pub(crate) image_interval_secs: u64,
    /// Name servers for the directory's DNS lookups (`IP:PORT`); empty: the system's.
    pub(crate) dns_servers: Vec<String>,
    /// OpenID Connect providers.
    pub(crate) oidc: Vec<OidcSection>,
}

impl Default for DirectorySection {
    fn default() -> Self {
        Self {
            jwt_secret: String::new(),
            jwt_ed25519_public_keys: Vec::new(),
            discovery_per_hour: 100,
            ratings_per_day: 50,
            contact_requests_per_hour: 20,
            database_url: String::new(),
            database_connections: 8,
            feed_retention_secs: registrar_storage::FEED_RETENTION_SECS,
            image_file: "directory.image".into(),
            image_interval_secs: 0,
            dns_servers: Vec::new(),
            oidc: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StorageSection {
    pub(crate) mode: StorageMode,
    pub(crate) data_dir: std::path::PathBuf,
    pub(crate) redis_url: String,
    /// Non-empty: a Redis Cluster, reached through these seed nodes (`redis_url` is then unused).
    pub(crate) redis_cluster: Vec<String>,
    pub(crate) redis_prefix: String,
    /// Empty: the host name and the first SIP listen address.
    pub(crate) node_id: String,
}

impl Default for StorageSection {
    fn default() -> Self {
        Self {
            mode: StorageMode::Embedded,
            data_dir: "registrar-data".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_cluster: Vec::new(),
            redis_prefix: "registrar".into(),
            node_id: String::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum StorageMode {
    Memory,
    Embedded,
    Shared,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct SipSection {
    pub(crate) listen: Vec<String>,
    pub(crate) domains: Vec<String>,
    pub(crate) advertise: Option<String>,
    pub(crate) max_message_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) rate_limit_per_source: u32,
    pub(crate) rate_limit_burst: u32,
    pub(crate) udp_workers: usize,
    /// Threads serving the TCP and TLS connections, each with a runtime of its own that accepts connections
    /// and serves them from start to end; 0: one per CPU core.
    pub(crate) stream_workers: usize,
    /// Receive and send buffer of each UDP socket (SO_RCVBUF / SO_SNDBUF), bytes; 0: the system's default.
    pub(crate) udp_buffer_bytes: usize,
    pub(crate) t1_ms: u64,
    /// `tls:` and `wss:` listeners: the certificate chain (PEM), reloaded when it changes or on SIGHUP.
    pub(crate) tls_cert: std::path::PathBuf,
    /// Its private key (PEM).
    pub(crate) tls_key: std::path::PathBuf,
    /// Certificates (PEM) of the authorities whose client certificates are verified (trunks); empty: none
    /// asked for.
    pub(crate) tls_client_ca: std::path::PathBuf,
    /// With `tls_client_ca`: refuse a client without a certificate (otherwise a certificate is optional).
    pub(crate) tls_require_client_cert: bool,
    /// A TLS handshake (TLS, WSS) not finished within this is dropped.
    pub(crate) tls_handshake_timeout_ms: u64,
    /// `ws:`/`wss:`: the `Origin` values a WebSocket upgrade may carry (empty: any; an upgrade without
    /// `Origin`, from a client that is not a browser, is always accepted).
    pub(crate) ws_origins: Vec<String>,
    /// Connections of the SIP stream listeners (TCP, TLS, WS, WSS) together; 0: as many as the open-file
    /// limit allows after the HTTP listener's and the rest's share.
    pub(crate) max_connections: usize,
    /// Connections from one IP address.
    pub(crate) max_connections_per_source: usize,
    /// A message whose first byte arrived must be complete within this, or the connection is closed.
    pub(crate) message_timeout_ms: u64,
    /// A connection that carries no registration is closed after this long without a message.
    pub(crate) idle_timeout_secs: u64,
    /// A connection over which a REGISTER or SUBSCRIBE succeeded is closed after this long without a
    /// message or keep-alive.
    pub(crate) registered_idle_timeout_secs: u64,
    /// `Flow-Timer` of the 200 OK to an outbound REGISTER over a connection (RFC 5626), seconds; 0: none.
    pub(crate) flow_timer_secs: u32,
    /// Messages waiting to be written to one connection; a peer that lets more pile up is disconnected.
    pub(crate) write_queue: usize,
    /// A write that the peer does not take within this closes the connection.
    pub(crate) write_timeout_ms: u64,
    /// Seconds between OPTIONS pings to devices registered over UDP without outbound; 0: no pings.
    pub(crate) nat_ping_interval_secs: u64,
    /// Pings a device may leave unanswered in a row before its binding ends.
    pub(crate) nat_ping_failures: u32,
}

impl Default for SipSection {
    fn default() -> Self {
        Self {
            listen: vec!["udp:0.0.0.0:5060".into(), "tcp:0.0.0.0:5060".into()],
            domains: Vec::new(),
            advertise: None,
            max_message_bytes: 65_535,
            max_headers: 128,
            rate_limit_per_source: 5_000,
            rate_limit_burst: 10_000,
            udp_workers: 0,
            stream_workers: 0,
            udp_buffer_bytes: 4 << 20,
            t1_ms: 500,
            tls_cert: std::path::PathBuf::new(),
            tls_key: std::path::PathBuf::new(),
            tls_client_ca: std::path::PathBuf::new(),
            tls_require_client_cert: false,
            tls_handshake_timeout_ms: 5_000,
            ws_origins: Vec::new(),
            max_connections: 0,
            max_connections_per_source: 256,
            message_timeout_ms: 10_000,
            idle_timeout_secs: 30,
            registered_idle_timeout_secs: 3_900,
            flow_timer_secs: 120,
            write_queue: 256,
            write_timeout_ms: 10_000,
            nat_ping_interval_secs: 0,
            nat_ping_failures: 3,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RegistrarSection {
    pub(crate) min_expires: u32,
    pub(crate) default_expires: u32,
    pub(crate) max_expires: u32,
    pub(crate) max_contacts: usize,
    pub(crate) max_contacts_policy: ContactsPolicy,
}

impl Default for RegistrarSection {
    fn default() -> Self {
        Self {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts: 10,
            max_contacts_policy: ContactsPolicy::Reject,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ContactsPolicy {
    Reject,
    EvictOldest,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct PresenceSection {
    pub(crate) min_expires: u32,
    pub(crate) max_expires: u32,
    pub(crate) default_watcher_policy: WatcherPolicy,
    pub(crate) mode: ServiceMode,
    /// The RPID activity a user's presence shows during a confirmed call the SIP stack reported ("" for none).
    pub(crate) call_activity: String,
    /// Seconds reported call state lives after the user's last report.
    pub(crate) call_state_expires: u32,
}

impl Default for PresenceSection {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 7200,
            default_watcher_policy: WatcherPolicy::Allow,
            mode: ServiceMode::P2p,
            call_activity: "on-the-phone".to_owned(),
            call_state_expires: 43_200,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum WatcherPolicy {
    Allow,
    Confirm,
    Block,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ServiceMode {
    P2p,
    B2bua,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthSection {
    pub(crate) enabled: bool,
    pub(crate) realm: String,
    pub(crate) nonce_ttl: u64,
    pub(crate) algorithms: Vec<String>,
    pub(crate) users: BTreeMap<String, UserHashes>,
}

impl Default for AuthSection {
    fn default() -> Self {
        Self {
            enabled: false,
            realm: "registrar".into(),
            nonce_ttl: 300,
            algorithms: vec!["SHA-256".into(), "MD5".into()],
            users: BTreeMap::new(),
        }
    }
}

/// One user's HA1 hashes: `md5` = MD5(user:realm:password), `sha256` = SHA-256(user:realm:password).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserHashes {
    pub(crate) md5: Option<String>,
    pub(crate) sha256: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct HttpSection {
    pub(crate) listen: String,
    /// HTTPS: the certificate chain (PEM); with `tls_key`. Empty: plain HTTP.
    pub(crate) tls_cert: std::path::PathBuf,
    /// HTTPS: the private key (PEM).
    pub(crate) tls_key: std::path::PathBuf,
    /// Connections at once (kept below the open-file limit).
    pub(crate) max_connections: usize,
    /// Connections from one IP address.
    pub(crate) max_connections_per_source: usize,
    /// A request's header must arrive within this (also how long a kept-alive connection may wait for its
    /// next request); a TLS handshake likewise.
    pub(crate) header_timeout_ms: u64,
    /// Bearer tokens that may use the admin API (besides directory tokens with the admin scope).
    pub(crate) admin_tokens: Vec<String>,
    /// Serve the admin API without credentials on a non-loopback address (refused otherwise).
    pub(crate) allow_unauthenticated: bool,
    /// `/metrics` requires an admin token too.
    pub(crate) metrics_require_token: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            tls_cert: std::path::PathBuf::new(),
            tls_key: std::path::PathBuf::new(),
            max_connections: 1_024,
            max_connections_per_source: 64,
            header_timeout_ms: 10_000,
            admin_tokens: Vec::new(),
            allow_unauthenticated: false,
            metrics_require_token: false,
        }
    }
}

/// A SIP transport a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ListenKind {
    Udp,
    Tcp,
    Tls,
    Ws,
    Wss,
}

/// A listening address: `udp:`, `tcp:`, `tls:`, `ws:` or `wss:` followed by `IP:PORT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Listen {
    pub(crate) kind: ListenKind,
    pub(crate) addr: SocketAddr,
}

pub(crate) fn parse_listen(s: &str) -> Result<Listen, String> {
    let (proto, addr) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not `TRANSPORT:IP:PORT` (udp, tcp, tls, ws or wss)"))?;
    let kind = match proto.to_ascii_lowercase().as_str() {
        "udp" => ListenKind::Udp,
        "tcp" => ListenKind::Tcp,
        "tls" => ListenKind::Tls,
        "ws" => ListenKind::Ws,
        "wss" => ListenKind::Wss,
        other => {
            return Err(format!(
                "`{s}`: transport `{other}` is not udp, tcp, tls, ws or wss"
            ));
        }
    };
    let addr = addr
        .parse()
        .map_err(|e| format!("`{s}`: `{addr}` is not IP:PORT ({e})"))?;
    Ok(Listen { kind, addr })
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Config {
    /// Read and check a file; the error names the file, the key and the problem.
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let c: Self = toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
        Ok(c)
    }

    /// Check the values together; the error names the key.
    /// The configuration as TOML, every key with its effective value, secrets shown as `"(set)"`: what
    /// `registrar serve --check-config` prints.
    pub(crate) fn to_effective_toml(&self) -> Result<String, String> {
        let mut c = self.clone();
        let hide = |s: &mut String| {
            if !s.is_empty() {
                *s = "(set)".to_owned();
            }
        };
        hide(&mut c.directory.jwt_secret);
        hide(&mut c.directory.database_url);
        hide(&mut c.federation.private_key);
        for t in &mut c.http.admin_tokens {
            hide(t);
        }
        for o in &mut c.directory.oidc {
            hide(&mut o.jwks);
        }
        for u in c.auth.users.values_mut() {
            for h in [&mut u.md5, &mut u.sha256].into_iter().flatten() {
                hide(h);
            }
        }
        toml::to_string(&c).map_err(|e| e.to_string())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.sip.listen.is_empty() {
            return Err("sip.listen: at least one address is needed".into());
        }
        let mut secure = false;
        for l in &self.sip.listen {
            let l = parse_listen(l).map_err(|e| format!("sip.listen: {e}"))?;
            secure |= matches!(l.kind, ListenKind::Tls | ListenKind::Wss);
        }
        if secure
            && (self.sip.tls_cert.as_os_str().is_empty() || self.sip.tls_key.as_os_str().is_empty())
        {
            return Err(
                "sip.tls_cert and sip.tls_key: a tls: or wss: listener needs a certificate and key"
                    .into(),
            );
        }
        if self.sip.tls_require_client_cert && self.sip.tls_client_ca.as_os_str().is_empty() {
            return Err("sip.tls_require_client_cert: needs sip.tls_client_ca".into());
        }
        for (key, v) in [
            (
                "sip.max_connections_per_source",
                self.sip.max_connections_per_source,
            ),
            ("sip.write_queue", self.sip.write_queue),
            ("http.max_connections", self.http.max_connections),
            (
                "http.max_connections_per_source",
                self.http.max_connections_per_source,
            ),
        ] {
            if v == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        for (key, v) in [
            ("sip.message_timeout_ms", self.sip.message_timeout_ms),
            (
                "sip.tls_handshake_timeout_ms",
                self.sip.tls_handshake_timeout_ms,
            ),
            ("sip.idle_timeout_secs", self.sip.idle_timeout_secs),
            (
                "sip.registered_idle_timeout_secs",
                self.sip.registered_idle_timeout_secs,
            ),
            ("sip.write_timeout_ms", self.sip.write_timeout_ms),
            ("http.header_timeout_ms", self.http.header_timeout_ms),
        ] {
            if v == 0 {
                return Err(format!("{key}: must be above 0"));
            }
        }
        if self.sip.flow_timer_secs > 0
            && u64::from(self.sip.flow_timer_secs) >= self.sip.registered_idle_timeout_secs
        {
            return Err(
                "sip.flow_timer_secs: must be below sip.registered_idle_timeout_secs (a device keeping to it would be disconnected)"
                    .into(),
            );
        }
        if self.sip.max_message_bytes < 1024 {
            return Err("sip.max_message_bytes: must be at least 1024".into());
        }
        if self.sip.max_headers < 8 {
            return Err("sip.max_headers: must be at least 8".into());
        }
        if self.storage.mode == StorageMode::Embedded
            && self.storage.data_dir.as_os_str().is_empty()
        {
            return Err("storage.data_dir: must name a directory in embedded mode".into());
        }
        if self.storage.mode == StorageMode::Shared {
            if !self.storage.redis_url.starts_with("redis://")
                && !self.storage.redis_url.starts_with("unix://")
            {
                return Err("storage.redis_url: must be a redis:// or unix:// URL".into());
            }
            if let Some(bad) = self
                .storage
                .redis_cluster
                .iter()
                .find(|u| !u.starts_with("redis://"))
            {
                return Err(format!(
                    "storage.redis_cluster: {bad:?} is not a redis:// URL"
                ));
            }
            if self.storage.redis_prefix.is_empty()
                || self.storage.redis_prefix.contains(['{', '}', ' '])
            {
                return Err(
                    "storage.redis_prefix: must be non-empty, without braces or spaces".into(),
                );
            }
        }
        if self.http.tls_cert.as_os_str().is_empty() != self.http.tls_key.as_os_str().is_empty() {
            return Err("http.tls_cert and http.tls_key: set both (HTTPS) or neither".into());
        }
        if self.sip.t1_ms == 0 {
            return Err("sip.t1_ms: must be positive".into());
        }
        let r = &self.registrar;
        if r.min_expires > r.max_expires {
            return Err(format!(
                "registrar.min_expires ({}) is above registrar.max_expires ({})",
                r.min_expires, r.max_expires
            ));
        }
        if r.default_expires < r.min_expires || r.default_expires > r.max_expires {
            return Err(format!(
                "registrar.default_expires ({}) is outside registrar.min_expires..registrar.max_expires ({}..{})",
                r.default_expires, r.min_expires, r.max_expires
            ));
        }
        if r.max_contacts == 0 {
            return Err("registrar.max_contacts: must be at least 1".into());
        }
        let p = &self.presence;
        if p.min_expires > p.max_expires {
            return Err(format!(
                "presence.min_expires ({}) is above presence.max_expires ({})",
                p.min_expires, p.max_expires
            ));
        }
        if p.call_activity.len() > 64
            || !p
                .call_activity
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
        {
            return Err(format!(
                "presence.call_activity: {:?} is not an RPID activity such as on-the-phone (or \"\" for none)",
                p.call_activity
            ));
        }
        let admin_keys = !self.http.admin_tokens.is_empty()
            || !self.directory.jwt_secret.is_empty()
            || !self.directory.jwt_ed25519_public_keys.is_empty();
        let loopback = self
            .http
            .listen
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if !admin_keys && !loopback && !self.http.allow_unauthenticated {
            return Err(format!(
                "http.listen {} is not a loopback address and the admin API has no credentials: anyone who \
                 reaches it could read and remove registrations. Set http.admin_tokens (or the directory's \
                 keys, then use `registrar token --admin`), or http.allow_unauthenticated = true",
                self.http.listen
            ));
        }
        if let Some(t) = self.http.admin_tokens.iter().find(|t| t.len() < 16) {
            return Err(format!(
                "http.admin_tokens: a token of {} characters is too easy to guess; use at least 16 (for example `openssl rand -hex 24`)",
                t.len()
            ));
        }
        if p.call_state_expires == 0 {
            return Err("presence.call_state_expires: must be at least 1 second".into());
        }
        if self.auth.enabled {
            if self.auth.realm.is_empty() || self.auth.realm.contains('"') {
                return Err("auth.realm: must be non-empty and without quotes".into());
            }
            if self.auth.algorithms.is_empty() {
                return Err("auth.algorithms: at least one of \"SHA-256\", \"MD5\"".into());
            }
            for a in &self.auth.algorithms {
                if registrar_sip::auth::DigestAuth::algorithm(a).is_none() {
                    return Err(format!(
                        "auth.algorithms: `{a}` is not \"SHA-256\" or \"MD5\""
                    ));
                }
            }
            for (user, h) in &self.auth.users {
                if h.md5.is_none() && h.sha256.is_none() {
                    return Err(format!("auth.users.{user}: needs md5 or sha256"));
                }
                if h.md5.as_deref().is_some_and(|v| !is_hex(v, 32)) {
                    return Err(format!("auth.users.{user}.md5: not 32 hex digits"));
                }
                if h.sha256.as_deref().is_some_and(|v| !is_hex(v, 64)) {
                    return Err(format!("auth.users.{user}.sha256: not 64 hex digits"));
                }
            }
        }
        self.http
            .listen
            .parse::<SocketAddr>()
            .map_err(|e| format!("http.listen: `{}` is not IP:PORT ({e})", self.http.listen))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::parse("").expect("empty file");
        c.validate().expect("defaults");
        assert_eq!(c.sip.listen.len(), 2);
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::parse("[registrar]\nmin_expire = 3\n").expect_err("unknown key");
        assert!(e.contains("min_expire"), "{e}");
        let e =
            Config::parse("[registrar]\nmax_contacts_policy = \"drop\"\n").expect_err("bad enum");
        assert!(
            e.contains("max_contacts_policy") || e.contains("drop"),
            "{e}"
        );
        let c = Config::parse("[registrar]\nmin_expires = 9000\n").expect("parses");
        let e = c.validate().expect_err("min above max");
        assert!(e.starts_with("registrar.min_expires"), "{e}");
        let c = Config::parse("[sip]\nlisten = [\"sctp:1.2.3.4:5\"]\n").expect("parses");
        assert!(c.validate().expect_err("bad").starts_with("sip.listen"));
    }

    #[test]
    fn users_with_hashes() {
        let c = Config::parse(
            "[auth]\nenabled = true\nrealm = \"example.com\"\n[auth.users.alice]\nmd5 = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .expect("parses");
        c.validate().expect("valid");
        let c = Config::parse("[auth]\nenabled = true\n[auth.users.bob]\nmd5 = \"xyz\"\n")
            .expect("parses");
        assert_eq!(
            c.validate().expect_err("bad hash"),
            "auth.users.bob.md5: not 32 hex digits"
        );
    }
}

/// `registrar.example.toml` at the repository's root lists every key the configuration accepts, each with its
/// default, and parses.
#[cfg(test)]
mod example {
    use super::Config;

    const EXAMPLE: &str = include_str!("../../../registrar.example.toml");

    /// The fields a table accepts, from the message `deny_unknown_fields` gives for an unknown one.
    fn accepted(table_header: &str) -> Vec<String> {
        let text = format!("{table_header}\nzz_not_a_key = 1\n");
        let err = Config::parse(&text).expect_err("an unknown key is refused");
        let list = err
            .split("expected one of ")
            .nth(1)
            .or_else(|| err.split("expected ").nth(1))
            .unwrap_or_else(|| panic!("no field list in {err:?}"));
        list.split(',')
            .filter_map(|f| {
                let f = f.trim();
                let start = f.find('`')? + 1;
                let end = start + f[start..].find('`')?;
                Some(f[start..end].to_owned())
            })
            .collect()
    }

    /// The lines of the example's block under `header` (a table header, possibly commented out), up to the
    /// next header.
    fn block(header: &str) -> Vec<&'static str> {
        let is_header = |l: &str| {
            let t = l.trim_start_matches('#').trim();
            t.starts_with('[') && t.ends_with(']')
        };
        let mut lines = EXAMPLE.lines();
        for l in lines.by_ref() {
            if l.trim_start_matches('#').trim() == header {
                break;
            }
        }
        lines.take_while(|l| !is_header(l)).collect()
    }

    #[test]
    fn the_example_parses_and_lists_every_key() {
        let c = Config::parse(EXAMPLE).expect("the example parses");
        c.validate().expect("the example is valid");
        for (header, probe) in [
            ("[sip]", "[sip]"),
            ("[registrar]", "[registrar]"),
            ("[presence]", "[presence]"),
            ("[auth]", "[auth]"),
            ("[auth.users.alice]", "[auth.users.x]"),
            ("[http]", "[http]"),
            ("[storage]", "[storage]"),
            ("[directory]", "[directory]"),
            ("[[directory.oidc]]", "[[directory.oidc]]"),
            ("[federation]", "[federation]"),
            ("[[federation.peers]]", "[[federation.peers]]"),
        ] {
            let lines = block(header);
            assert!(!lines.is_empty(), "{header} is in the example");
            for key in accepted(probe) {
                // Sub-tables are shown as their own blocks.
                if matches!(key.as_str(), "users" | "oidc" | "peers") {
                    continue;
                }
                let listed = lines.iter().any(|l| {
                    let l = l.trim_start_matches('#').trim_start();
                    l.strip_prefix(key.as_str())
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                });
                assert!(listed, "{header} {key} is not in registrar.example.toml");
            }
        }
        // And every section of the configuration is in it.
        for section in accepted("") {
            assert!(
                EXAMPLE.contains(&format!("[{section}]")),
                "[{section}] is not in registrar.example.toml"
            );
        }
    }

    #[test]
    fn the_example_holds_the_defaults() {
        let c = Config::parse(EXAMPLE).unwrap();
        let d = Config::default();
        assert_eq!(format!("{:?}", c.sip), format!("{:?}", d.sip));
        assert_eq!(format!("{:?}", c.registrar), format!("{:?}", d.registrar));
        assert_eq!(format!("{:?}", c.presence), format!("{:?}", d.presence));
        assert_eq!(format!("{:?}", c.auth), format!("{:?}", d.auth));
        assert_eq!(format!("{:?}", c.http), format!("{:?}", d.http));
        assert_eq!(format!("{:?}", c.storage), format!("{:?}", d.storage));
        assert_eq!(format!("{:?}", c.directory), format!("{:?}", d.directory));
        assert_eq!(format!("{:?}", c.federation), format!("{:?}", d.federation));
    }
}

#[cfg(test)]
mod effective {
    use super::Config;

    /// What `--check-config` prints reads back as the same configuration, and hides secrets.
    #[test]
    fn effective_toml_round_trips_and_hides_secrets() {
        let c = Config::parse(include_str!("../../../registrar.example.toml")).unwrap();
        let text = c.to_effective_toml().unwrap();
        let back = Config::parse(&text).unwrap();
        assert_eq!(format!("{back:?}"), format!("{c:?}"));
        let secret = Config::parse("[directory]\njwt_secret = \"hunter2\"\n").unwrap();
        let text = secret.to_effective_toml().unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("jwt_secret = \"(set)\""), "{text}");
    }
}
