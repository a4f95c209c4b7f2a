//! The directory over the network, against real `registrar serve` processes (release build):
//! - discovery through `POST /v1/discovery` with DIRECTORY_BENCH_N (default 1 M) participants, their
//!   relationships and topics loaded from the embedded store at start;
//! - federated discovery across three local servers (DIRECTORY_FED_N participants each, default 100 000):
//!   A answers from its own directory and fans out to B and C with signed lookups, merging all three;
//! - two nodes in shared mode on one PostgreSQL (DATABASE_URL, REDIS_URL; DIRECTORY_PG_N participants,
//!   default 1 M): each node's start-up, discovery on node A while node B applies 100 changes per second,
//!   and the lag between a change's 2xx on B and its visibility on A.
//!
//! Each figure is printed as `name value unit`. `cargo xtask bench directory-http`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../registrar-directory/benches/population.rs"]
mod population;

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use population::{Link, Rng, first, last, org, pct, person};
use registrar_directory::{DirectoryChange, DirectoryStore as _, ParticipantId};

const KEY: &str = "bench-key-of-some-length";

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Write `n` participants (ids moved to `domain` when given), and with `links` their relationships and
/// topics, into the embedded store of `dir`.
fn populate(dir: &Path, n: usize, domain: Option<&str>, links: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let journal = Arc::new(registrar_storage::Journal::open(dir).unwrap());
        let store = registrar_storage::EmbeddedDirectoryStore::open(journal)
            .await
            .unwrap();
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..n {
            let mut p = person(i);
            if let Some(d) = domain {
                let local = p.id.as_str().split('@').next().unwrap().to_owned();
                p.id = ParticipantId::parse(&format!("{local}@{d}")).unwrap();
            }
            batch.push(DirectoryChange::PutParticipant(Box::new(p)));
            if batch.len() == 10_000 {
                store.apply(&batch).await.unwrap();
                batch.clear();
            }
        }
        store.apply(&batch).await.unwrap();
        if links {
            let mut pending = Vec::new();
            population::links(n, &mut Rng(42), |l| {
                pending.push(match l {
                    Link::Relationship(r) => DirectoryChange::PutRelationship(r),
                    Link::Topic(t) => DirectoryChange::PutTopic(t),
                });
            });
            for c in pending.chunks(10_000) {
                store.apply(c).await.unwrap();
            }
        }
    });
}

/// A running server, killed on drop.
struct Server {
    child: Child,
    http: SocketAddr,
    _dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Server {
    /// Stop with SIGTERM (the server writes its directory image) and keep the data directory: the
    /// directory and how long stopping took.
    fn stop(mut self) -> (PathBuf, Duration) {
        let t = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        (self._dir.take().unwrap(), t.elapsed())
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_registrar")
}

fn start(dir: PathBuf, http_port: u16, extra: &str) -> Server {
    start_with(dir, http_port, "", extra)
}

/// [`start`] with `storage` lines in `[storage]`.
fn start_with(dir: PathBuf, http_port: u16, storage: &str, extra: &str) -> Server {
    let sip = free_port();
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{sip}\"]\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n\
         [storage]\ndata_dir = \"{}\"\n{storage}\n[directory]\njwt_secret = \"{KEY}\"\ndiscovery_per_hour = 100000000\n{extra}\n",
        dir.display()
    );
    let path = dir.join("registrar.toml");
    std::fs::write(&path, config).unwrap();
    let log = std::fs::File::create(dir.join("server.log")).unwrap();
    let child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let s = Server {
        child,
        http: SocketAddr::from(([127, 0, 0, 1], http_port)),
        _dir: Some(dir),
    };
    // The HTTP API answers once the directory is loaded.
    let deadline = Instant::now() + Duration::from_secs(1_800);
    while std::net::TcpStream::connect(s.http).is_err() || !healthy(s.http) {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    s
}

fn healthy(addr: SocketAddr) -> bool {
    use std::io::Read as _;
    let Ok(mut c) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut s = String::new();
    let _ = c.read_to_string(&mut s);
    s.starts_with("HTTP/1.1 200")
}

fn token(subject: &str) -> String {
    let mut c = Command::new(bin())
        .args(["token", subject, "--hours", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(c.stdin.take().unwrap(), "{KEY}").unwrap();
    String::from_utf8(c.wait_with_output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_owned()
}

fn keygen() -> (String, String) {
    let out = Command::new(bin()).arg("keygen").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} = \"")))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap()
            .to_owned()
    };
    (field("private"), field("public"))
}

fn temp(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("registrar-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// `queries` discoveries at `addr` over one kept-alive connection; the latencies, and how many answers
/// had candidates from `want_servers` distinct servers.
fn discover(
    addr: SocketAddr,
    tok: &str,
    queries: usize,
    n: usize,
    want_servers: usize,
) -> Vec<Duration> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut r = Rng(7);
        let mut lat = Vec::with_capacity(queries);
        let mut merged = 0usize;
        for q in 0..queries {
            let target = r.below(n);
            let body = serde_json::json!({
                "text": format!("{} {}", first(target), last(target)),
                "hints": {"organization": (q % 2 == 0).then(|| format!("Org{}", org(target)))},
            })
            .to_string();
            let req = hyper::Request::post("/v1/discovery")
                .header("host", "bench")
                .header("authorization", format!("Bearer {tok}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            let t = Instant::now();
            let resp = sender.send_request(req).await.unwrap();
            let status = resp.status();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            lat.push(t.elapsed());
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
            let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert!(
                v["failed_peers"].as_array().is_none_or(Vec::is_empty),
                "{v}"
            );
            let servers: std::collections::HashSet<String> = v["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["server"].as_str().unwrap_or("local").to_owned())
                .collect();
            if servers.len() >= want_servers {
                merged += 1;
            }
        }
        println!("  answers with candidates from {want_servers} server(s): {merged} of {queries}");
        lat
    })
}

/// Write `n` participants with their relationships and topics into the PostgreSQL directory at `url`.
fn populate_pg(url: &str, n: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = registrar_storage::PostgresDirectoryStore::connect(url, 4)
            .await
            .unwrap();
        let mut batch = Vec::with_capacity(10_000);
        for i in 0..n {
            batch.push(DirectoryChange::PutParticipant(Box::new(person(i))));
            if batch.len() == 10_000 {
                store.apply(&batch).await.unwrap();
                batch.clear();
            }
        }
        store.apply(&batch).await.unwrap();
        let mut pending = Vec::new();
        population::links(n, &mut Rng(42), |l| {
            pending.push(match l {
                Link::Relationship(r) => DirectoryChange::PutRelationship(r),
                Link::Topic(t) => DirectoryChange::PutTopic(t),
            });
        });
        for c in pending.chunks(10_000) {
            store.apply(c).await.unwrap();
        }
    });
}

/// A schema of its own in the database of `url`: the URL that uses it, and its name.
fn pg_schema(url: &str) -> (String, String) {
    let name = format!("registrar_bench_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .unwrap();
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    (format!("{url}{sep}options=-c%20search_path%3D{name}"), name)
}

fn drop_pg_schema(url: &str, name: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&pool)
            .await;
    });
}

/// One HTTP/1.1 request on a fresh connection: status and body.
fn http(addr: SocketAddr, method: &str, path: &str, tok: &str, body: &str) -> (u16, String) {
    use std::io::Read as _;
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    write!(
        c,
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nAuthorization: Bearer {tok}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Participant `i` renamed to `name`, as the directory API takes it.
fn renamed(i: usize, name: &str) -> (String, String) {
    let mut p = person(i);
    p.identities[0].name = name.to_owned();
    (
        format!("/v1/participants/{}", p.id.as_str()),
        serde_json::to_string(&p).unwrap(),
    )
}

/// Two nodes on one PostgreSQL: start-up, discovery under a stream of changes, and the visibility lag.
fn two_nodes(n: usize, queries: usize) {
    let (Ok(db), Ok(redis)) = (std::env::var("DATABASE_URL"), std::env::var("REDIS_URL")) else {
        println!("two_nodes: skipped (set DATABASE_URL and REDIS_URL)");
        return;
    };
    let (url, schema) = pg_schema(&db);
    let t = Instant::now();
    populate_pg(&url, n);
    println!(
        "pg_store_write {:.1} s ({n} participants with relationships and topics)",
        t.elapsed().as_secs_f64()
    );
    let prefix = format!("bench{}", std::process::id());
    let storage = |id: &str| {
        format!(
            "mode = \"shared\"\nredis_url = \"{redis}\"\nredis_prefix = \"{prefix}\"\nnode_id = \"{id}\"\n"
        )
    };
    let directory = format!("database_url = \"{url}\"\n");
    let t = Instant::now();
    let a = start_with(temp("pg-a"), free_port(), &storage("a"), &directory);
    println!(
        "pg_node_start {:.1} s (node A: load {n} participants from PostgreSQL and index them)",
        t.elapsed().as_secs_f64()
    );
    let b = start_with(temp("pg-b"), free_port(), &storage("b"), &directory);
    let admin = {
        let mut c = Command::new(bin())
            .args(["token", "ops@example.com", "--admin", "--hours", "4"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "{KEY}").unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned()
    };
    // Node B: 100 changes per second (90 in the background, 10 whose visibility on A is timed).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (b_addr, a_addr) = (b.http, a.http);
    let writer = {
        let stop = Arc::clone(&stop);
        let admin = admin.clone();
        std::thread::spawn(move || {
            let mut k = 0usize;
            let start = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                k += 1;
                let (path, body) = renamed(k * 7 % n, &format!("Bulk Change {k}"));
                let (st, text) = http(b_addr, "PUT", &path, &admin, &body);
                assert!(st == 204 || st == 201, "{st} {text}");
                let due = start + Duration::from_millis(k as u64 * 1000 / 90);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            k
        })
    };
    let prober = {
        let stop = Arc::clone(&stop);
        let admin = admin.clone();
        std::thread::spawn(move || {
            let mut lags = Vec::new();
            let mut k = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                k += 1;
                let i = (k * 13 + 5) % n;
                let name = format!("Probe Change {k}");
                let (path, body) = renamed(i, &name);
                let (st, text) = http(b_addr, "PUT", &path, &admin, &body);
                assert!(st == 204 || st == 201, "{st} {text}");
                let acked = Instant::now();
                loop {
                    let (_, got) = http(a_addr, "GET", &path, &admin, "");
                    if got.contains(&name) {
                        lags.push(acked.elapsed());
                        break;
                    }
                    assert!(
                        acked.elapsed() < Duration::from_secs(30),
                        "not visible on A"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(100).saturating_sub(acked.elapsed()));
            }
            lags
        })
    };
    let tok = token(population::pid(1).as_str());
    discover(a.http, &tok, 200.min(queries), n, 1);
    let mut lat = discover(a.http, &tok, queries, n, 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = writer.join().unwrap();
    let mut lags = prober.join().unwrap();
    report("two_node_discovery_under_changes", &mut lat);
    println!(
        "  background changes on node B: {changes}, timed changes: {}",
        lags.len()
    );
    report("two_node_visibility_lag", &mut lags);
    // Node A stopped (writing its image); node B changes 100 participants meanwhile; node A started again
    // from its image and the feed entries after it.
    let a_port = a.http.port();
    let (a_dir, stopping) = a.stop();
    println!(
        "pg_node_stop {:.1} s (writing the directory image, {} MiB)",
        stopping.as_secs_f64(),
        std::fs::metadata(a_dir.join("directory.image")).map_or(0, |m| m.len() >> 20)
    );
    let mut last = String::new();
    for k in 0..100 {
        let (path, body) = renamed(k * 11 % n, &format!("While Down {k}"));
        let (st, text) = http(b.http, "PUT", &path, &admin, &body);
        assert!(st == 204 || st == 201, "{st} {text}");
        last = path;
    }
    let t = Instant::now();
    let a = start_with(a_dir, a_port, &storage("a"), &directory);
    println!(
        "pg_node_start_from_image {:.1} s (node A: its image, then 100 feed entries)",
        t.elapsed().as_secs_f64()
    );
    let (_, got) = http(a.http, "GET", &last, &admin, "");
    assert!(
        got.contains("While Down 99"),
        "a change made while node A was down: {got}"
    );
    drop(a);
    drop(b);
    drop_pg_schema(&db, &schema);
}

fn report(name: &str, lat: &mut [Duration]) {
    println!("{name}_p50 {:.2} ms", pct(lat, 0.50));
    println!("{name}_p95 {:.2} ms", pct(lat, 0.95));
    println!("{name}_p99 {:.2} ms", pct(lat, 0.99));
}

fn main() {
    let n = env_n("DIRECTORY_BENCH_N", 1_000_000);
    let fed_n = env_n("DIRECTORY_FED_N", 100_000);
    let queries = env_n("DIRECTORY_HTTP_QUERIES", 2_000);
    // DIRECTORY_HTTP_PART=two-nodes runs only the two-node part, one-node only the first.
    if std::env::var("DIRECTORY_HTTP_PART").is_ok_and(|p| p == "two-nodes") {
        two_nodes(env_n("DIRECTORY_PG_N", n), queries);
        return;
    }

    // Discovery over HTTP at scale.
    let dir = temp("http");
    let t = Instant::now();
    populate(&dir, n, None, true);
    println!(
        "http_store_write {:.1} s ({n} participants with relationships and topics)",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let s = start(dir, free_port(), "");
    println!(
        "http_server_start {:.1} s (load and index)",
        t.elapsed().as_secs_f64()
    );
    let tok = token(population::pid(1).as_str());
    discover(s.http, &tok, 200.min(queries), n, 1); // warm-up
    let mut lat = discover(s.http, &tok, queries, n, 1);
    report("http_discovery", &mut lat);
    // Stopped (writing its directory image) and started again from it.
    let port = s.http.port();
    let (dir, stopping) = s.stop();
    println!(
        "http_server_stop {:.1} s (writing the directory image, {} MiB)",
        stopping.as_secs_f64(),
        std::fs::metadata(dir.join("directory.image")).map_or(0, |m| m.len() >> 20)
    );
    let t = Instant::now();
    let s = start(dir, port, "");
    println!(
        "http_server_start_from_image {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut lat = discover(s.http, &tok, queries, n, 1);
    report("http_discovery_after_image_start", &mut lat);
    drop(s);
    if std::env::var("DIRECTORY_HTTP_PART").is_ok_and(|p| p == "one-node") {
        return;
    }

    // Federated discovery across three servers.
    let ports = [free_port(), free_port(), free_port()];
    let keys = [keygen(), keygen(), keygen()];
    let names = ["a", "b", "c"];
    let mut servers = Vec::new();
    for k in 0..3 {
        let dir = temp(&format!("fed-{}", names[k]));
        populate(&dir, fed_n, Some(&format!("{}.example", names[k])), false);
        let mut extra = format!(
            "\n[federation]\nserver_id = \"{}\"\nprivate_key = \"{}\"\ndomains = [\"{}.example\"]\ncache_secs = 0\ntimeout_ms = 1000\n",
            names[k], keys[k].0, names[k]
        );
        for j in (0..3).filter(|j| *j != k) {
            extra.push_str(&format!(
                "\n[[federation.peers]]\nid = \"{}\"\nurl = \"http://127.0.0.1:{}\"\npublic_key = \"{}\"\ntrust = \"verified\"\ndomains = [\"{}.example\"]\n",
                names[j], ports[j], keys[j].1, names[j]
            ));
        }
        servers.push(start(dir, ports[k], &extra));
    }
    let tok = token("asker@a.example");
    discover(servers[0].http, &tok, 200.min(queries), fed_n, 3);
    let mut lat = discover(servers[0].http, &tok, queries, fed_n, 3);
    report("federated_discovery", &mut lat);
    drop(servers);

    two_nodes(env_n("DIRECTORY_PG_N", n), queries);
}
