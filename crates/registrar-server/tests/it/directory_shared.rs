//! The directory on several nodes (shared mode: one Redis, one PostgreSQL): every change acknowledged by
//! one node is applied by the other before it answers a request that arrives afterwards — creation, update,
//! block and unblock, relationship, grant, erasure; a node killed during a stream of changes catches up when
//! it comes back; while PostgreSQL cannot be reached, the nodes answer 503 with Retry-After, and they
//! recover without a restart. Each run gets a schema of its own in the PostgreSQL of `DATABASE_URL`.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::directory::{KEY, call, json, token};
use crate::support::Server;

/// `(DATABASE_URL, REDIS_URL)`, or `None` after saying the test was skipped (a failure under `CI=true`).
fn services(test: &str) -> Option<(String, String)> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (get("DATABASE_URL"), get("REDIS_URL")) {
        (Some(d), Some(r)) => Some((d, r)),
        _ => {
            crate::support::skipped(
                test,
                "DATABASE_URL or REDIS_URL is not set (.ci/run sets them)",
            );
            None
        }
    }
}

/// A schema of its own in the database of `url`; the URL that uses it.
fn schema(url: &str, tag: &str) -> (String, String) {
    let name = format!(
        "registrar_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await
            .unwrap();
    });
    let sep = if url.contains('?') { '&' } else { '?' };
    (format!("{url}{sep}options=-c%20search_path%3D{name}"), name)
}

fn drop_schema(url: &str, name: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let _ = sqlx::query(&format!("DROP SCHEMA {name} CASCADE"))
            .execute(&pool)
            .await;
    });
}

fn node(redis: &str, prefix: &str, id: &str, database_url: &str) -> String {
    // Each node's own directory for its directory image.
    let data = std::env::temp_dir().join(format!("registrar-it-{prefix}-{id}"));
    format!(
        "[storage]\nmode = \"shared\"\nredis_url = \"{redis}\"\nredis_prefix = \"{prefix}\"\nnode_id = \"{id}\"\n\
         data_dir = \"{}\"\n\n\
         [directory]\njwt_secret = \"{KEY}\"\ndatabase_url = \"{database_url}\"\ndiscovery_per_hour = 100000\n",
        data.display()
    )
}

fn participant(id: &str, name: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "id": id,
        "entity": "human",
        "identities": [{"name": name, "organization": "Lab"}],
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v.to_string()
}

fn put(s: &Server, tok: &str, id: &str, body: &str) {
    let (st, _, out) = call(s, "PUT", &format!("/v1/participants/{id}"), tok, body);
    assert!(st == 201 || st == 204, "PUT {id}: {st} {out}");
}

fn sees(s: &Server, tok: &str, id: &str) -> Option<String> {
    let (st, _, out) = call(s, "GET", &format!("/v1/participants/{id}"), tok, "");
    match st {
        200 => Some(json(&out)["name"].as_str().unwrap().to_owned()),
        404 => None,
        other => panic!("GET {id}: {other} {out}"),
    }
}

fn finds(s: &Server, tok: &str, text: &str, id: &str) -> bool {
    let (st, _, out) = call(
        s,
        "POST",
        "/v1/discovery",
        tok,
        &serde_json::json!({"text": text, "local_only": true}).to_string(),
    );
    assert_eq!(st, 200, "{out}");
    json(&out)["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["participant"]["id"] == id)
}

#[test]
fn every_change_one_node_acknowledged_holds_on_the_other_at_once() {
    let test = "the two-node directory test";
    let Some((db, redis)) = services(test) else {
        return;
    };
    let (url, name) = schema(&db, "dir2");
    let prefix = format!("dir2-{name}");
    let a = Server::start("", &node(&redis, &prefix, "a", &url));
    let b = Server::start("", &node(&redis, &prefix, "b", &url));
    let admin = token("ops@example.com", true, "1");
    let alice = token("alice@example.com", false, "1");
    let bob = token("bob@example.com", false, "1");
    put(
        &a,
        &admin,
        "bob@example.com",
        &participant("bob@example.com", "Bob Reader", serde_json::json!({})),
    );

    // Created through A: B answers for it straight after the 201.
    put(
        &a,
        &admin,
        "alice@example.com",
        &participant("alice@example.com", "Alice Martin", serde_json::json!({})),
    );
    assert_eq!(
        sees(&b, &bob, "alice@example.com").as_deref(),
        Some("Alice Martin")
    );
    assert!(finds(&b, &bob, "Alice Martin", "alice@example.com"));
    // Updated through A.
    put(
        &a,
        &alice,
        "alice@example.com",
        &participant("alice@example.com", "Alice Moreau", serde_json::json!({})),
    );
    assert_eq!(
        sees(&b, &bob, "alice@example.com").as_deref(),
        Some("Alice Moreau")
    );
    assert!(finds(&b, &bob, "Alice Moreau", "alice@example.com"));
    // Blocked through A: hidden on B at once, by view, by search and for contact.
    let blocked = serde_json::json!({"permissions": {"blocked_ids": ["bob@example.com"]}});
    put(
        &a,
        &alice,
        "alice@example.com",
        &participant("alice@example.com", "Alice Moreau", blocked),
    );
    assert_eq!(sees(&b, &bob, "alice@example.com"), None);
    assert!(!finds(&b, &bob, "Alice Moreau", "alice@example.com"));
    let (st, _, _) = call(
        &b,
        "POST",
        "/v1/contact-requests",
        &bob,
        r#"{"to": "alice@example.com"}"#,
    );
    assert_eq!(st, 404);
    // Unblocked through B: visible on A at once.
    put(
        &b,
        &alice,
        "alice@example.com",
        &participant("alice@example.com", "Alice Moreau", serde_json::json!({})),
    );
    assert!(sees(&a, &bob, "alice@example.com").is_some());
    // Private; a relationship alice declares through A lets bob see her through B.
    let private = serde_json::json!({"permissions": {"discoverability": "private"}});
    put(
        &a,
        &alice,
        "alice@example.com",
        &participant("alice@example.com", "Alice Moreau", private),
    );
    assert_eq!(sees(&b, &bob, "alice@example.com"), None);
    let (st, _, out) = call(
        &a,
        "POST",
        "/v1/relationships",
        &alice,
        r#"{"from": "alice@example.com", "to": "bob@example.com", "kind": "colleague"}"#,
    );
    assert_eq!(st, 204, "{out}");
    assert!(sees(&b, &bob, "alice@example.com").is_some());
    // Taken back through B: hidden on A.
    let (st, _, _) = call(
        &b,
        "DELETE",
        "/v1/relationships?from=alice@example.com&to=bob@example.com",
        &alice,
        "",
    );
    assert_eq!(st, 204);
    assert_eq!(sees(&a, &bob, "alice@example.com"), None);
    // A grant (stealth, pre-authorized) through A: B shows her to bob only.
    let carol = token("carol@example.com", false, "1");
    put(
        &a,
        &admin,
        "carol@example.com",
        &participant("carol@example.com", "Carol Reader", serde_json::json!({})),
    );
    let grant = serde_json::json!({"permissions": {"discoverability": "stealth", "auto_accept": ["bob@example.com"]}});
    put(
        &a,
        &alice,
        "alice@example.com",
        &participant("alice@example.com", "Alice Moreau", grant),
    );
    assert!(sees(&b, &bob, "alice@example.com").is_some());
    assert_eq!(sees(&b, &carol, "alice@example.com"), None);
    // Erased through A: gone from B, for everyone, operators included.
    let (st, _, _) = call(
        &a,
        "DELETE",
        "/v1/participants/alice@example.com",
        &alice,
        "",
    );
    assert_eq!(st, 204);
    assert_eq!(sees(&b, &admin, "alice@example.com"), None);
    assert!(!finds(&b, &admin, "Alice Moreau", "alice@example.com"));
    let (st, _, _) = call(
        &b,
        "GET",
        "/v1/participants/alice@example.com/export",
        &admin,
        "",
    );
    assert_eq!(st, 404);
    drop((a, b));
    drop_schema(&db, &name);
}

#[test]
fn a_node_killed_during_a_stream_of_changes_catches_up() {
    let test = "the directory catch-up test";
    let Some((db, redis)) = services(test) else {
        return;
    };
    let (url, name) = schema(&db, "dirkill");
    let prefix = format!("dirkill-{name}");
    let a = Server::start("", &node(&redis, &prefix, "a", &url));
    let b_port = crate::support::free_port();
    let mut b = Server::start_on(b_port, &node(&redis, &prefix, "b", &url));
    let admin = token("ops@example.com", true, "1");
    let n = 60;
    let writer = {
        let admin = admin.clone();
        let a_http = a.http;
        std::thread::spawn(move || {
            for i in 0..n {
                let id = format!("p{i}@example.com");
                let body = participant(&id, &format!("Person {i}"), serde_json::json!({}));
                let auth = format!("Authorization: Bearer {admin}\r\n");
                let (st, out) = crate::support::http_at(
                    a_http,
                    "PUT",
                    &format!("/v1/participants/{id}"),
                    &auth,
                    &body,
                )
                .expect("node A answers");
                assert!(st == 201 || st == 204, "{st} {out}");
            }
        })
    };
    // Kill B once part of the stream was acknowledged, and bring it back while the rest arrives.
    let deadline = Instant::now() + Duration::from_secs(30);
    while sees(&a, &admin, "p10@example.com").is_none() {
        assert!(Instant::now() < deadline, "the stream did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    b.kill9();
    let b = Server::start_on(b_port, &node(&redis, &prefix, "b", &url));
    writer.join().unwrap();
    for i in 0..n {
        let id = format!("p{i}@example.com");
        assert_eq!(
            sees(&b, &admin, &id),
            Some(format!("Person {i}")),
            "{id} on the restarted node"
        );
    }
    drop((a, b));
    drop_schema(&db, &name);
}

/// A TCP forwarder to PostgreSQL that the test can cut (every connection closed, new ones refused) and
/// restore: to the nodes behind it, the database is gone and back.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (o, c) = (Arc::clone(&open), Arc::clone(&conns));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !o.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let mut list = c.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Self { port, open, conns }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

#[test]
fn postgresql_out_of_reach_means_503_then_recovery_without_restart() {
    let test = "the directory outage test";
    let Some((db, redis)) = services(test) else {
        return;
    };
    let (url, name) = schema(&db, "dirout");
    // The nodes reach PostgreSQL through the proxy.
    let upstream = {
        let rest = db.split_once("://").unwrap().1;
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        let host = host.split('/').next().unwrap();
        std::net::ToSocketAddrs::to_socket_addrs(&host)
            .unwrap()
            .next()
            .unwrap()
    };
    let proxy = Proxy::start(upstream);
    let via = url.replacen(
        &upstream.to_string(),
        &format!("127.0.0.1:{}", proxy.port),
        1,
    );
    assert_ne!(via, url, "DATABASE_URL names its server as HOST:PORT");
    let prefix = format!("dirout-{name}");
    let a = Server::start("", &node(&redis, &prefix, "a", &via));
    let b = Server::start("", &node(&redis, &prefix, "b", &via));
    let admin = token("ops@example.com", true, "1");
    put(
        &a,
        &admin,
        "bob@example.com",
        &participant("bob@example.com", "Bob Reader", serde_json::json!({})),
    );
    assert!(sees(&b, &admin, "bob@example.com").is_some());

    proxy.cut();
    for s in [&a, &b] {
        let (st, head, out) = call(s, "GET", "/v1/participants/bob@example.com", &admin, "");
        assert_eq!(st, 503, "{out}");
        assert!(head.contains("retry-after:"), "{head}");
        assert!(json(&out)["error"].is_string(), "{out}");
        let (st, _, out) = call(
            s,
            "PUT",
            "/v1/participants/carol@example.com",
            &admin,
            &participant("carol@example.com", "Carol", serde_json::json!({})),
        );
        assert_eq!(st, 503, "{out}");
    }
    // The registrar itself keeps answering.
    assert_eq!(a.http("GET", "/health").0, 200);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, _, _) = call(&a, "GET", "/v1/participants/bob@example.com", &admin, "");
        if st == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "node A did not recover: {st}");
        std::thread::sleep(Duration::from_millis(100));
    }
    put(
        &b,
        &admin,
        "carol@example.com",
        &participant("carol@example.com", "Carol Back", serde_json::json!({})),
    );
    assert_eq!(
        sees(&a, &admin, "carol@example.com").as_deref(),
        Some("Carol Back")
    );
    drop((a, b));
    drop_schema(&db, &name);
}

/// A node stopped with SIGTERM writes its directory image; restarted after the other node changed the
/// directory, it starts from the image and applies the feed entries after it (its log says so), and answers
/// with every change; an erasure through the other node removes the image at once.
#[test]
fn a_node_restarts_from_its_image_and_the_feed_after_it() {
    let test = "the directory image test (shared)";
    let Some((db, redis)) = services(test) else {
        return;
    };
    let (url, name) = schema(&db, "dirimage");
    let prefix = format!("dirimage-{name}");
    let image = std::env::temp_dir()
        .join(format!("registrar-it-{prefix}-b"))
        .join("directory.image");
    let a = Server::start("", &node(&redis, &prefix, "a", &url));
    let b_port = crate::support::free_port();
    let mut b = Server::start_on(b_port, &node(&redis, &prefix, "b", &url));
    let admin = token("ops@example.com", true, "1");
    for i in 0..5 {
        let id = format!("p{i}@example.com");
        put(
            &a,
            &admin,
            &id,
            &participant(&id, &format!("Person {i}"), serde_json::json!({})),
        );
    }
    assert_eq!(
        sees(&b, &admin, "p4@example.com").as_deref(),
        Some("Person 4")
    );
    assert!(b.terminate().success());
    assert!(image.exists(), "no image after SIGTERM: {}", b.log());
    // Changes while B is down: a rename and a new participant.
    put(
        &a,
        &admin,
        "p1@example.com",
        &participant("p1@example.com", "Renamed One", serde_json::json!({})),
    );
    put(
        &a,
        &admin,
        "p9@example.com",
        &participant("p9@example.com", "Person 9", serde_json::json!({})),
    );
    let b = Server::start_on(b_port, &node(&redis, &prefix, "b", &url));
    assert!(
        b.log()
            .contains("loaded from its image and 2 feed entries after it"),
        "{}",
        b.log()
    );
    assert_eq!(
        sees(&b, &admin, "p1@example.com").as_deref(),
        Some("Renamed One")
    );
    assert_eq!(
        sees(&b, &admin, "p9@example.com").as_deref(),
        Some("Person 9")
    );
    assert!(finds(&b, &admin, "Renamed One", "p1@example.com"));
    // An erasure through A: B applies it before its next answer, and its image is gone with it.
    let (st, _, _) = call(&a, "DELETE", "/v1/participants/p2@example.com", &admin, "");
    assert_eq!(st, 204);
    assert_eq!(sees(&b, &admin, "p2@example.com"), None);
    assert!(!image.exists(), "the image outlived an erasure");
    drop((a, b));
    let _ = std::fs::remove_dir_all(image.parent().unwrap());
    drop_schema(&db, &name);
}
