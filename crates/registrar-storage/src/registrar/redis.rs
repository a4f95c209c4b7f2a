//! Shared mode: registrations, publications and subscriptions in Redis, so several nodes serve the same
//! users. Any node answers for any user; a node can die without losing state.
//!
//! Layout (every key starts with the configured prefix `P`):
//! - `P:loc:{<aor>}` — one hash per AoR: `set` (the encoded bindings, the record of the embedded mode) and `v`
//!   (a version counter). The key expires a minute after its last binding (`PEXPIREAT`): the sweep of some
//!   node removes expired bindings first (and tells their watchers), and Redis forgets the AoR even if no
//!   node is left to sweep it.
//! - `P:pres:{<aor>}` — the same for a presentity's publications.
//! - `P:loc:idx`, `P:pres:idx` — sorted sets: each AoR scored by its earliest expiry (sweeps cost
//!   O(expired)); `P:loc:aors` — the registered AoRs in lexical order (paging, counts).
//! - `P:gruu:<key>` — the AoR of a temporary GRUU series, expiring with its binding.
//! - `P:sub:<node>`, `P:lists:<node>` — one hash per node each: the subscriptions (to presentities, to buddy
//!   lists) whose dialogs that node serves.
//! - `P:rules:{<presentity>}` — a hash of the presentity's decisions (watcher → decision), with the index set
//!   `P:rules:idx`; `P:buddies:{<owner>}` — the owner's buddy list (one record, in order), with the index set
//!   `P:buddies:idx`; `P:joined` — the set of users in their domain's automatic lists. These are the users'
//!   own settings: every node reads and writes the same ones.
//! - channel `P:changes` — a notice `<node>\n<loc|pres|rules|buddies|joined>\n<aor>` after every change.
//!
//! Updates are atomic per AoR and apply the RFC 3261 plan exactly once: a node reads the set and its version,
//! computes the new set (the registry's rules, in Rust), and a Lua script writes it only if the version is
//! unchanged, together with the indexes and the notice; otherwise the node reads again and recomputes.
//! Redis Cluster works too ([`Redis::connect_cluster`]): the `{<aor>}` hash tag keeps an AoR's key in one
//! slot, and the script then touches that key only; the indexes, which live in slots of their own, are updated
//! right after it (a node dying in between leaves an index entry stale, which the next sweep repairs, or
//! missing, in which case the key's own expiry still removes the AoR). Sentinel discovery is not supported.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use registrar_presence::{
    Buddy, Error as PresenceError, PresenceStore, Publication, StoredPresence, SubscriptionChange,
    SubscriptionStore, UpdateFn as PresenceUpdateFn, WatcherDecision,
};
use registrar_registry::{Error as RegistryError, LocationStore, UpdateFn};
use registrar_types::{Aor, Binding, Timestamp};
use tokio::sync::mpsc;

use crate::Error;
use crate::codec::{
    decode_bindings, decode_buddies, decode_decision, decode_publications, decode_subscription,
    dialog_key, encode_bindings, encode_buddies, encode_decision, encode_publications,
    encode_subscription,
};

/// How often an update is tried when other nodes changed the same AoR in between.
const MAX_TRIES: u32 = 32;
/// After the second lost compare-and-set in a row an update waits a random time below this, doubled per
/// further loss up to [`MAX_BACKOFF_MS`], so that many writers to one AoR (a burst of REGISTERs from the
/// devices of one user, spread over nodes) spread out instead of colliding again and again.
const BASE_BACKOFF_MS: u64 = 1;
/// The most one wait between tries can be; with [`MAX_TRIES`] an update gives up after about a second.
const MAX_BACKOFF_MS: u64 = 40;
/// How long a key outlives the last expiry in it: long enough for a node's sweep to find the expired
/// entries and tell their watchers (sweeps run every second), short enough that Redis forgets an AoR soon
/// when no node is left to sweep it.
const KEY_GRACE_MS: u64 = 60_000;
/// How long a node's subscription hash outlives its last change (longer than the longest subscription).
const SUBS_TTL_SECS: u64 = 90_000;
/// Most AoRs one sweep looks at (the next sweep takes the rest).
const SWEEP_BATCH: isize = 1000;

const CAS: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[6])
  if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[6]) end
else
  redis.call('HSET', KEYS[1], 'v', tostring((tonumber(v) or 0) + 1), 'set', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
  if KEYS[3] then redis.call('ZADD', KEYS[3], 0, ARGV[6]) end
end
redis.call('PUBLISH', ARGV[5], ARGV[7])
return 1
";

/// The same write for Redis Cluster: the AoR's own key only (one slot); the indexes are written after it.
const CAS_ONE_KEY: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('HSET', KEYS[1], 'v', tostring((tonumber(v) or 0) + 1), 'set', ARGV[2])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
redis.call('PUBLISH', ARGV[5], ARGV[7])
return 1
";

/// A connection to one Redis or to a Redis Cluster (both multiplexed and cheap to clone).
#[derive(Clone)]
enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// What changed on another node, from the change notices.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Change {
    /// The bindings of an AoR.
    Location(Aor),
    /// The publications of a presentity.
    Presence(Aor),
    /// The watcher decisions of a presentity.
    Decisions(Aor),
    /// The buddy list of an owner.
    Buddies(Aor),
    /// A user joined its domain's automatic lists.
    Joined(Aor),
    /// The notice channel was (re)connected: notices may have been missed, so every cache must be dropped.
    Resync,
}

/// A connection to the shared Redis, for one node.
pub struct Redis {
    /// Where the notice channel is followed from (in a cluster, any node hears every notice): tried in turn.
    notice_clients: Vec<redis::Client>,
    conn: Conn,
    cluster: bool,
    prefix: String,
    node: String,
    cas: Script,
    /// One lock per stripe of AoRs: a node's own updates to one AoR wait their turn here, so only updates
    /// from different nodes can collide in Redis (a burst of REGISTERs for one user on one node would
    /// otherwise retry against each other until some gave up).
    writers: WriterLocks,
}

/// Striped locks over AoRs, with the hasher that picks the stripe.
struct WriterLocks {
    stripes: Box<[tokio::sync::Mutex<()>]>,
    hasher: std::hash::RandomState,
}

/// How many stripes [`WriterLocks`] has: far more than concurrent updates a node has in flight, so unrelated
/// AoRs rarely share one.
const WRITER_STRIPES: usize = 1024;

impl WriterLocks {
    fn new() -> Self {
        Self {
            stripes: (0..WRITER_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            hasher: std::hash::RandomState::new(),
        }
    }

    async fn lock(&self, kind: Kind, aor: &Aor) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let h = self.hasher.hash_one((kind.tag(), aor.as_str()));
        // The remainder is below `WRITER_STRIPES`, so it fits a usize.
        #[allow(clippy::cast_possible_truncation)]
        let i = (h % WRITER_STRIPES as u64) as usize;
        self.stripes[i].lock().await
    }
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

fn redis_err(e: &redis::RedisError) -> Error {
    Error::Redis(e.to_string())
}

/// Which kind of entry a key holds.
#[derive(Clone, Copy)]
enum Kind {
    Location,
    Presence,
}

impl Kind {
    const fn tag(self) -> &'static str {
        match self {
            Self::Location => "loc",
            Self::Presence => "pres",
        }
    }
}

impl Redis {
    /// Connect to `url` as node `node`, with keys under `prefix`. Commands time out after a second, so a
    /// node whose Redis is gone answers 503 at once; the connection comes back by itself when Redis does.
    ///
    /// # Errors
    /// The URL is invalid or Redis cannot be reached now.
    pub async fn connect(url: &str, prefix: &str, node: &str) -> Result<Arc<Self>, Error> {
        let client = redis::Client::open(url).map_err(|e| Error::Redis(format!("{url}: {e}")))?;
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(
            Duration::from_secs(3),
            client.get_connection_manager_with_config(cfg),
        )
        .await
        .map_err(|_| Error::Redis(format!("{url}: no answer")))?
        .map_err(|e| Error::Redis(format!("{url}: {e}")))?;
        Ok(Arc::new(Self {
            notice_clients: vec![client],
            conn: Conn::Single(conn),
            cluster: false,
            prefix: prefix.to_owned(),
            node: node.to_owned(),
            cas: Script::new(CAS),
            writers: WriterLocks::new(),
        }))
    }

    /// Connect to the Redis Cluster that `seeds` (some of its nodes' URLs) belong to, as node `node`, with
    /// keys under `prefix`. Same timeouts as [`connect`](Self::connect); the cluster's topology is followed
    /// as it changes.
    ///
    /// # Errors
    /// A URL is invalid or no seed can be reached now.
    pub async fn connect_cluster(
        seeds: &[String],
        prefix: &str,
        node: &str,
    ) -> Result<Arc<Self>, Error> {
        let all = seeds.join(",");
        let client = redis::cluster::ClusterClient::builder(seeds.iter().map(String::as_str))
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(1))
            .retries(1)
            .build()
            .map_err(|e| Error::Redis(format!("{all}: {e}")))?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_async_connection())
            .await
            .map_err(|_| Error::Redis(format!("{all}: no answer")))?
            .map_err(|e| Error::Redis(format!("{all}: {e}")))?;
        let notice_clients = seeds
            .iter()
            .map(|u| redis::Client::open(u.as_str()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Redis(format!("{all}: {e}")))?;
        Ok(Arc::new(Self {
            notice_clients,
            conn: Conn::Cluster(conn),
            cluster: true,
            prefix: prefix.to_owned(),
            node: node.to_owned(),
            cas: Script::new(CAS_ONE_KEY),
            writers: WriterLocks::new(),
        }))
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn key(&self, kind: Kind, aor: &str) -> String {
        format!("{}:{}:{{{aor}}}", self.prefix, kind.tag())
    }

    fn index(&self, kind: Kind) -> String {
        format!("{}:{}:idx", self.prefix, kind.tag())
    }

    fn aors_key(&self) -> String {
        format!("{}:loc:aors", self.prefix)
    }

    fn gruu_key(&self, key: u64) -> String {
        format!("{}:gruu:{key:016x}", self.prefix)
    }

    fn subs_key(&self) -> String {
        format!("{}:sub:{}", self.prefix, self.node)
    }

    fn lists_key(&self) -> String {
        format!("{}:lists:{}", self.prefix, self.node)
    }

    fn rules_key(&self, presentity: &Aor) -> String {
        format!("{}:rules:{{{presentity}}}", self.prefix)
    }

    fn buddies_key(&self, owner: &Aor) -> String {
        format!("{}:buddies:{{{owner}}}", self.prefix)
    }

    fn settings_index(&self, what: &str) -> String {
        format!("{}:{what}:idx", self.prefix)
    }

    fn joined_key(&self) -> String {
        format!("{}:joined", self.prefix)
    }

    /// The notice of a change of `kind` to `aor`.
    fn notice(&self, kind: &str, aor: &Aor) -> String {
        format!("{}\n{kind}\n{aor}", self.node)
    }

    /// The channel of the change notices.
    pub fn channel(&self) -> String {
        format!("{}:changes", self.prefix)
    }

    /// The version and record of an entry.
    async fn read(&self, kind: Kind, aor: &Aor) -> Result<(String, Option<Vec<u8>>), Error> {
        let mut c = self.conn.clone();
        let (v, set): (Option<String>, Option<Vec<u8>>) = redis::cmd("HMGET")
            .arg(self.key(kind, aor.as_str()))
            .arg("v")
            .arg("set")
            .query_async(&mut c)
            .await
            .map_err(|e| redis_err(&e))?;
        Ok((v.unwrap_or_default(), set))
    }

    /// Write `record` (or remove the entry) if its version is still `expected`; `false` when another node
    /// changed it first. `first`/`last` are the earliest and latest expiry of the record, in ms.
    async fn compare_and_set(
        &self,
        kind: Kind,
        aor: &Aor,
        expected: &str,
        record: Option<(&[u8], u64, u64)>,
    ) -> Result<bool, Error> {
        let mut inv = self.cas.prepare_invoke();
        inv.key(self.key(kind, aor.as_str()));
        if !self.cluster {
            inv.key(self.index(kind));
            if matches!(kind, Kind::Location) {
                inv.key(self.aors_key());
            }
        }
        let (bytes, last, first): (&[u8], u64, u64) = record.unwrap_or((&[], 0, 0));
        inv.arg(expected)
            .arg(bytes)
            .arg(last)
            .arg(first)
            .arg(self.channel())
            .arg(aor.as_str())
            .arg(format!("{}\n{}\n{}", self.node, kind.tag(), aor));
        let mut c = self.conn.clone();
        let done: i64 = inv.invoke_async(&mut c).await.map_err(|e| redis_err(&e))?;
        if done == 1 && self.cluster {
            // The indexes live in other slots: one command each, after the write.
            let (verb, score) = match record {
                Some((_, _, first)) => ("ZADD", Some(first)),
                None => ("ZREM", None),
            };
            let mut keys = vec![(self.index(kind), score)];
            if matches!(kind, Kind::Location) {
                keys.push((self.aors_key(), score.map(|_| 0)));
            }
            for (key, score) in keys {
                let mut cmd = redis::cmd(verb);
                cmd.arg(key);
                if let Some(s) = score {
                    cmd.arg(s);
                }
                cmd.arg(aor.as_str())
                    .query_async::<()>(&mut c)
                    .await
                    .map_err(|e| redis_err(&e))?;
            }
        }
        Ok(done == 1)
    }

    /// The AoRs of `kind` with something due at `now` (at most a batch).
    async fn due(&self, kind: Kind, now: Timestamp) -> Result<Vec<Aor>, Error> {
        let mut c = self.conn.clone();
        let names: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.index(kind))
            .arg("-inf")
            .arg(now.as_millis())
            .arg("LIMIT")
            .arg(0)
            .arg(SWEEP_BATCH)
            .query_async(&mut c)
            .await
            .map_err(|e| redis_err(&e))?;
        Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
    }

    /// Put `aor` back in the expiry index at `at` (its record said so), or drop it when it has no record.
    async fn reindex(&self, kind: Kind, aor: &Aor, at: Option<u64>) -> Result<(), Error> {
        let mut c = self.conn.clone();
        let cmd = match at {
            Some(ms) => {
                let mut c = redis::cmd("ZADD");
                c.arg(self.index(kind)).arg(ms).arg(aor.as_str());
                c
            }
            None => {
                let mut c = redis::cmd("ZREM");
                c.arg(self.index(kind)).arg(aor.as_str());
                c
            }
        };
        cmd.query_async::<()>(&mut c)
            .await
            .map_err(|e| redis_err(&e))
    }

    async fn next_due(&self, kind: Kind) -> Result<Option<Timestamp>, Error> {
        let mut c = self.conn.clone();
        let first: Vec<(String, f64)> = redis::cmd("ZRANGE")
            .arg(self.index(kind))
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .map_err(|e| redis_err(&e))?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Ok(first
            .first()
            .map(|(_, ms)| Timestamp::from_millis(ms.max(0.0) as u64)))
    }

    /// Follow the change notices of the other nodes into `tx` until it closes: a [`Change::Resync`] after
    /// every (re)connection, then one change per notice. Reconnects by itself (every 200 ms to 2 s).
    pub fn listen(self: &Arc<Self>, tx: mpsc::Sender<Change>) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            let mut attempt = 0usize;
            while !tx.is_closed() {
                let client = &me.notice_clients[attempt % me.notice_clients.len()];
                attempt = attempt.wrapping_add(1);
                let connected =
                    tokio::time::timeout(Duration::from_secs(2), client.get_async_pubsub()).await;
                let mut ps = match connected {
                    Ok(Ok(ps)) => ps,
                    _ => {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(2));
                        continue;
                    }
                };
                if ps.subscribe(me.channel()).await.is_err() {
                    tokio::time::sleep(backoff).await;
                    continue;
                }
                backoff = Duration::from_millis(200);
                if tx.send(Change::Resync).await.is_err() {
                    return;
                }
                let mut stream = ps.on_message();
                while let Some(msg) = futures_lite_next(&mut stream).await {
                    let Ok(text) = std::str::from_utf8(msg.get_payload_bytes()) else {
                        continue;
                    };
                    let mut parts = text.splitn(3, '\n');
                    let (Some(node), Some(kind), Some(aor)) =
                        (parts.next(), parts.next(), parts.next())
                    else {
                        continue;
                    };
                    if node == me.node {
                        continue;
                    }
                    let Ok(aor) = aor.parse::<Aor>() else {
                        continue;
                    };
                    let change = match kind {
                        "loc" => Change::Location(aor),
                        "pres" => Change::Presence(aor),
                        "rules" => Change::Decisions(aor),
                        "buddies" => Change::Buddies(aor),
                        "joined" => Change::Joined(aor),
                        _ => continue,
                    };
                    if tx.send(change).await.is_err() {
                        return;
                    }
                }
                // The connection dropped: connect again; the Resync then drops what may be stale.
            }
        })
    }
}

/// How long to wait after `losses` + 2 lost compare-and-sets in a row: uniformly random below
/// `BASE_BACKOFF_MS << losses`, capped at [`MAX_BACKOFF_MS`] ("full jitter": writers that collided once
/// rarely pick the same moment again).
fn backoff(losses: u32) -> Duration {
    use std::hash::BuildHasher;
    let ceiling_us = backoff_ceiling_ms(losses) * 1000;
    // A fresh `RandomState` is seeded differently on every call: enough randomness for spreading retries
    // without a random-number crate.
    let r = std::hash::RandomState::new().hash_one(losses);
    Duration::from_micros(r % (ceiling_us + 1))
}

/// The longest [`backoff`] after `losses` + 2 lost compare-and-sets, in milliseconds.
fn backoff_ceiling_ms(losses: u32) -> u64 {
    (BASE_BACKOFF_MS << losses.min(16)).min(MAX_BACKOFF_MS)
}

/// The next item of a stream, without pulling in a stream-combinator crate.
async fn futures_lite_next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

fn reg_err(e: Error) -> RegistryError {
    RegistryError::Storage(e.boxed())
}

fn pres_err(e: Error) -> PresenceError {
    PresenceError::Storage(e.boxed())
}

/// What one AoR's stored set is made of: bindings or publications. Both are kept the same way; this is what
/// differs.
trait Entry: Clone + Send + Sync + 'static {
    const KIND: Kind;
    fn expires_at(&self) -> Timestamp;
    fn is_live(&self, now: Timestamp) -> bool;
    fn encode(set: &[Self]) -> Vec<u8>;
    fn decode(bytes: &[u8]) -> Result<Vec<Self>, Error>;
}

impl Entry for Binding {
    const KIND: Kind = Kind::Location;
    fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    fn is_live(&self, now: Timestamp) -> bool {
        Self::is_live(self, now)
    }
    fn encode(set: &[Self]) -> Vec<u8> {
        encode_bindings(set)
    }
    fn decode(bytes: &[u8]) -> Result<Vec<Self>, Error> {
        decode_bindings(bytes)
    }
}

impl Entry for Publication {
    const KIND: Kind = Kind::Presence;
    fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    fn is_live(&self, now: Timestamp) -> bool {
        Self::is_live(self, now)
    }
    fn encode(set: &[Self]) -> Vec<u8> {
        encode_publications(set)
    }
    fn decode(bytes: &[u8]) -> Result<Vec<Self>, Error> {
        decode_publications(bytes)
    }
}

/// A layer's update function over a set of `T`, failing with the layer's error `E`.
type SetFn<'a, T, E> = dyn FnMut(&[T]) -> Result<Option<Arc<[T]>>, E> + Send + 'a;

impl Redis {
    /// The stored set of `aor` and its version.
    async fn current<T: Entry>(&self, aor: &Aor) -> Result<(String, Vec<T>), Error> {
        let (v, set) = self.read(T::KIND, aor).await?;
        let entries = match set {
            Some(b) => T::decode(&b)?,
            None => Vec::new(),
        };
        Ok((v, entries))
    }

    /// Change the set of `aor` with `f`, optimistically: read, apply, compare-and-set, and again on a
    /// conflict. Returns the set written (`None`: `f` changed nothing).
    async fn update_set<T: Entry, E>(
        &self,
        aor: &Aor,
        f: &mut SetFn<'_, T, E>,
        storage: fn(Error) -> E,
    ) -> Result<Option<Arc<[T]>>, E> {
        let _turn = self.writers.lock(T::KIND, aor).await;
        for attempt in 0..MAX_TRIES {
            if attempt > 1 {
                tokio::time::sleep(backoff(attempt - 2)).await;
            }
            let (version, cur) = self.current::<T>(aor).await.map_err(storage)?;
            let Some(new) = f(&cur)? else {
                return Ok(None);
            };
            let record = (!new.is_empty()).then(|| T::encode(&new));
            let (mut first, mut last) = (u64::MAX, 0);
            for t in new.iter().map(|e| e.expires_at().as_millis()) {
                first = first.min(t);
                last = last.max(t);
            }
            let done = self
                .compare_and_set(
                    T::KIND,
                    aor,
                    &version,
                    record.as_deref().map(|r| (r, last + KEY_GRACE_MS, first)),
                )
                .await
                .map_err(storage)?;
            if done {
                return Ok(Some(new));
            }
        }
        Err(storage(Error::Contention(aor.to_string())))
    }

    /// Remove every entry expired at `now` from the AoRs the index says are due; returns them with their
    /// AoR.
    async fn sweep<T: Entry, E>(
        &self,
        now: Timestamp,
        storage: fn(Error) -> E,
    ) -> Result<Vec<(Aor, T)>, E> {
        let mut removed = Vec::new();
        for aor in self.due(T::KIND, now).await.map_err(storage)? {
            let mut dead = Vec::new();
            let mut first_live = None;
            self.update_set::<T, E>(
                &aor,
                &mut |cur| {
                    let (live, gone): (Vec<T>, Vec<T>) =
                        cur.iter().cloned().partition(|e| e.is_live(now));
                    first_live = live.iter().map(|e| e.expires_at().as_millis()).min();
                    dead = gone;
                    Ok((!dead.is_empty()).then(|| Arc::from(live)))
                },
                storage,
            )
            .await?;
            if dead.is_empty() {
                // Nothing was due after all (another node swept it, or the key expired in Redis): put the
                // index right so the next sweep does not look again.
                self.reindex(T::KIND, &aor, first_live)
                    .await
                    .map_err(storage)?;
            }
            removed.extend(dead.into_iter().map(|e| (aor.clone(), e)));
        }
        Ok(removed)
    }
}

/// A [`LocationStore`] in Redis, shared by every node. Reads go to Redis (no node caches bindings, so a
/// lookup on any node sees a REGISTER on any other at once).
#[derive(Debug)]
pub struct SharedLocationStore {
    redis: Arc<Redis>,
}

impl SharedLocationStore {
    /// Bindings in `redis`.
    pub const fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl LocationStore for SharedLocationStore {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, RegistryError> {
        let (_, b) = self.redis.current::<Binding>(aor).await.map_err(reg_err)?;
        Ok(Arc::from(b))
    }

    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), RegistryError> {
        let Some(new) = self.redis.update_set(aor, f, reg_err).await? else {
            return Ok(());
        };
        // One command per temporary GRUU series: in a cluster, each key has its own slot.
        for b in new.iter() {
            let Some(t) = b.temp_gruu else {
                continue;
            };
            let mut c = self.redis.conn.clone();
            redis::cmd("SET")
                .arg(self.redis.gruu_key(t.key))
                .arg(aor.as_str())
                .arg("PXAT")
                .arg(b.expires_at.as_millis())
                .query_async::<()>(&mut c)
                .await
                .map_err(|e| reg_err(redis_err(&e)))?;
        }
        Ok(())
    }

    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, RegistryError> {
        self.redis.sweep(now, reg_err).await
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, RegistryError> {
        self.redis.next_due(Kind::Location).await.map_err(reg_err)
    }

    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, RegistryError> {
        let mut c = self.redis.conn.clone();
        let aor: Option<String> = redis::cmd("GET")
            .arg(self.redis.gruu_key(key))
            .query_async(&mut c)
            .await
            .map_err(|e| reg_err(redis_err(&e)))?;
        Ok(aor.and_then(|a| a.parse().ok()))
    }

    async fn aor_count(&self) -> Result<usize, RegistryError> {
        let mut c = self.redis.conn.clone();
        redis::cmd("ZCARD")
            .arg(self.redis.aors_key())
            .query_async(&mut c)
            .await
            .map_err(|e| reg_err(redis_err(&e)))
    }

    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, RegistryError> {
        let mut c = self.redis.conn.clone();
        let from = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        let names: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.redis.aors_key())
            .arg(from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut c)
            .await
            .map_err(|e| reg_err(redis_err(&e)))?;
        Ok(names.iter().filter_map(|n| n.parse().ok()).collect())
    }
}

/// A [`PresenceStore`] in Redis, shared by every node; each change sends a notice so that the other nodes
/// drop their composed-document cache and notify their watchers.
#[derive(Debug)]
pub struct SharedPresenceStore {
    redis: Arc<Redis>,
}

impl SharedPresenceStore {
    /// Publications in `redis`.
    pub const fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl PresenceStore for SharedPresenceStore {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, PresenceError> {
        let (_, p) = self
            .redis
            .current::<Publication>(aor)
            .await
            .map_err(pres_err)?;
        Ok(Arc::from(p))
    }

    async fn update(&self, aor: &Aor, f: &mut PresenceUpdateFn<'_>) -> Result<(), PresenceError> {
        self.redis.update_set(aor, f, pres_err).await.map(|_| ())
    }

    async fn remove_expired(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(Aor, Publication)>, PresenceError> {
        self.redis.sweep(now, pres_err).await
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, PresenceError> {
        self.redis.next_due(Kind::Presence).await.map_err(pres_err)
    }
}

/// A [`SubscriptionStore`] in Redis: one hash per node holding the subscriptions whose dialogs that node
/// serves (their NOTIFYs leave from it), so a restarted node resumes its own.
#[derive(Debug)]
pub struct SharedSubscriptionStore {
    redis: Arc<Redis>,
}

impl SharedSubscriptionStore {
    /// This node's subscriptions in `redis`.
    pub const fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl SubscriptionStore for SharedSubscriptionStore {
    async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresenceError> {
        let r = &self.redis;
        let (subs, lists) = (r.subs_key(), r.lists_key());
        // This node's dialogs: one hash per kind, each written atomically (each is one key, so one slot).
        let mut own = redis::pipe();
        own.atomic();
        let mut own_lists = redis::pipe();
        own_lists.atomic();
        // The users' settings, every node's: one command at a time (in a cluster their keys live in many
        // slots, which one pipeline may not cross), each change followed by its notice.
        let mut settings: Vec<redis::Cmd> = Vec::new();
        let (mut own_used, mut lists_used) = (false, false);
        for c in changes {
            match c {
                SubscriptionChange::Put(s) => {
                    own.cmd("HSET")
                        .arg(&subs)
                        .arg(dialog_key(&s.dialog))
                        .arg(encode_subscription(s))
                        .ignore();
                    own_used = true;
                }
                SubscriptionChange::Remove(d) => {
                    own.cmd("HDEL").arg(&subs).arg(dialog_key(d)).ignore();
                    own_used = true;
                }
                SubscriptionChange::PutList(s) => {
                    own_lists
                        .cmd("HSET")
                        .arg(&lists)
                        .arg(dialog_key(&s.dialog))
                        .arg(encode_subscription(s))
                        .ignore();
                    lists_used = true;
                }
                SubscriptionChange::RemoveList(d) => {
                    own_lists
                        .cmd("HDEL")
                        .arg(&lists)
                        .arg(dialog_key(d))
                        .ignore();
                    lists_used = true;
                }
                SubscriptionChange::Rule {
                    presentity,
                    watcher,
                    decision,
                } => {
                    settings.push(
                        redis::cmd("HSET")
                            .arg(r.rules_key(presentity))
                            .arg(watcher.to_string())
                            .arg(encode_decision(*decision))
                            .clone(),
                    );
                    settings.push(
                        redis::cmd("SADD")
                            .arg(r.settings_index("rules"))
                            .arg(presentity.to_string())
                            .clone(),
                    );
                    settings.push(
                        redis::cmd("PUBLISH")
                            .arg(r.channel())
                            .arg(r.notice("rules", presentity))
                            .clone(),
                    );
                }
                SubscriptionChange::Buddies { owner, list } => {
                    if list.is_empty() {
                        settings.push(redis::cmd("DEL").arg(r.buddies_key(owner)).clone());
                        settings.push(
                            redis::cmd("SREM")
                                .arg(r.settings_index("buddies"))
                                .arg(owner.to_string())
                                .clone(),
                        );
                    } else {
                        settings.push(
                            redis::cmd("SET")
                                .arg(r.buddies_key(owner))
                                .arg(encode_buddies(list))
                                .clone(),
                        );
                        settings.push(
                            redis::cmd("SADD")
                                .arg(r.settings_index("buddies"))
                                .arg(owner.to_string())
                                .clone(),
                        );
                    }
                    settings.push(
                        redis::cmd("PUBLISH")
                            .arg(r.channel())
                            .arg(r.notice("buddies", owner))
                            .clone(),
                    );
                }
                SubscriptionChange::Joined(user) => {
                    settings.push(
                        redis::cmd("SADD")
                            .arg(r.joined_key())
                            .arg(user.to_string())
                            .clone(),
                    );
                    settings.push(
                        redis::cmd("PUBLISH")
                            .arg(r.channel())
                            .arg(r.notice("joined", user))
                            .clone(),
                    );
                }
                _ => {}
            }
        }
        let mut c = r.conn.clone();
        // A node that never comes back leaves its hashes behind: they go a day after the last change, when
        // every subscription in them has expired (subscriptions last at most a day).
        for (mut p, key, used) in [(own, &subs, own_used), (own_lists, &lists, lists_used)] {
            if used {
                p.cmd("EXPIRE").arg(key).arg(SUBS_TTL_SECS).ignore();
                p.query_async::<()>(&mut c)
                    .await
                    .map_err(|e| pres_err(redis_err(&e)))?;
            }
        }
        for cmd in &settings {
            cmd.query_async::<()>(&mut c)
                .await
                .map_err(|e| pres_err(redis_err(&e)))?;
        }
        Ok(())
    }

    async fn load(&self) -> Result<StoredPresence, PresenceError> {
        let r = &self.redis;
        let err = |e: redis::RedisError| pres_err(redis_err(&e));
        let mut c = r.conn.clone();
        let mut out = StoredPresence::default();
        for (key, into_lists) in [(r.subs_key(), false), (r.lists_key(), true)] {
            let all: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut c)
                .await
                .map_err(err)?;
            for (_, b) in &all {
                let s = decode_subscription(b).map_err(pres_err)?;
                if into_lists {
                    out.lists.push(s);
                } else {
                    out.subscriptions.push(s);
                }
            }
        }
        let presentities: Vec<String> = redis::cmd("SMEMBERS")
            .arg(r.settings_index("rules"))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        for p in presentities {
            let p: Aor = p.parse().map_err(|_| bad_aor(&p))?;
            for (w, d) in self.rules_of(&p).await? {
                out.rules.push((p.clone(), w, d));
            }
        }
        let owners: Vec<String> = redis::cmd("SMEMBERS")
            .arg(r.settings_index("buddies"))
            .query_async(&mut c)
            .await
            .map_err(err)?;
        for o in owners {
            let o: Aor = o.parse().map_err(|_| bad_aor(&o))?;
            let list = self.buddies_of(&o).await?;
            if !list.is_empty() {
                out.buddies.push((o, list));
            }
        }
        let joined: Vec<String> = redis::cmd("SMEMBERS")
            .arg(r.joined_key())
            .query_async(&mut c)
            .await
            .map_err(err)?;
        let mut joined = joined
            .iter()
            .map(|u| u.parse().map_err(|_| bad_aor(u)))
            .collect::<Result<Vec<Aor>, _>>()?;
        joined.sort();
        out.joined = joined;
        Ok(out)
    }

    async fn rules_of(
        &self,
        presentity: &Aor,
    ) -> Result<Vec<(Aor, WatcherDecision)>, PresenceError> {
        let mut c = self.redis.conn.clone();
        let all: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
            .arg(self.redis.rules_key(presentity))
            .query_async(&mut c)
            .await
            .map_err(|e| pres_err(redis_err(&e)))?;
        all.iter()
            .map(|(w, d)| {
                let w: Aor = w.parse().map_err(|_| bad_aor(w))?;
                Ok((w, decode_decision(d).map_err(pres_err)?))
            })
            .collect()
    }

    async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, PresenceError> {
        let mut c = self.redis.conn.clone();
        let list: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.redis.buddies_key(owner))
            .query_async(&mut c)
            .await
            .map_err(|e| pres_err(redis_err(&e)))?;
        list.map_or_else(|| Ok(Vec::new()), |b| decode_buddies(&b).map_err(pres_err))
    }
}

fn bad_aor(s: &str) -> PresenceError {
    pres_err(Error::Corrupt(format!("{s:?} is not an address-of-record")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling_and_varies() {
        for losses in 0..40 {
            let ceiling = backoff_ceiling_ms(losses);
            let waits: Vec<Duration> = (0..64).map(|_| backoff(losses)).collect();
            assert!(
                waits.iter().all(|w| *w <= Duration::from_millis(ceiling)),
                "{losses}: {waits:?}"
            );
            let first = waits[0];
            assert!(
                waits.iter().any(|w| *w != first),
                "{losses}: the waits are random"
            );
        }
    }
}
