//! Shared storage (Redis) with the real binary: two nodes serve the same users, a node can die without
//! losing state, and a node whose Redis is gone answers 503 and recovers by itself.

use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::storage::{WatcherLog, publish, register, subscribe, watcher_socket};
use crate::support::{Server, free_port, have, status_of};

/// `REDIS_URL`, or `None` after saying the test was skipped.
fn redis_url(test: &str) -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            crate::support::skipped(test, "REDIS_URL is not set (.ci/run sets it)");
            None
        }
    }
}

/// A key prefix no other test run uses.
fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("test-{tag}-{}-{nanos}", std::process::id())
}

fn shared(url: &str, prefix: &str, node: &str) -> String {
    format!(
        "[storage]\nmode = \"shared\"\nredis_url = \"{url}\"\nredis_prefix = \"{prefix}\"\nnode_id = \"{node}\"\n\n\
         [registrar]\nmin_expires = 1\n"
    )
}

/// Remove the keys a test wrote to the shared Redis (best effort, with redis-cli when it is installed).
fn clean_up(url: &str, prefix: &str) {
    if !have("redis-cli") {
        return;
    }
    let keys = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}:*")])
        .output();
    if let Ok(out) = keys {
        for key in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = Command::new("redis-cli")
                .args(["-u", url, "DEL", key])
                .stdout(Stdio::null())
                .status();
        }
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn two_nodes_share_registrations_presence_and_survive_one_dying() {
    let Some(url) = redis_url("two_nodes_share_registrations_presence_and_survive_one_dying")
    else {
        return;
    };
    let prefix = unique_prefix("two");
    let mut a = Server::start("", &shared(&url, &prefix, "node-a"));
    let b = Server::start("", &shared(&url, &prefix, "node-b"));

    // A REGISTER on node A is found by a lookup on node B.
    let r = a.udp(
        register("alice", "al-1", 3600).as_bytes(),
        Duration::from_secs(2),
    );
    assert_eq!(r.as_deref().map(status_of), Some(200));
    let (st, body) = b.http("GET", "/v1/registrations/sip:alice@example.com");
    assert_eq!(st, 200);
    assert!(body.contains("sip:alice@127.0.0.1:5999"), "{body}");
    // Node B's REGISTER of the same contact (from a restarted phone: a new Call-ID) replaces the binding:
    // one AoR, one set, whichever node answers.
    let r = b.udp(
        register("alice", "al-2", 3600).as_bytes(),
        Duration::from_secs(2),
    );
    assert_eq!(r.as_deref().map(status_of), Some(200));
    let (_, body) = a.http("GET", "/v1/registrations/sip:alice@example.com");
    assert_eq!(body.matches("\"contact\"").count(), 1, "{body}");

    // A PUBLISH on node A reaches a watcher subscribed through node B.
    let run = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(WatcherLog::default());
    let (sock, watcher) = watcher_socket(Arc::clone(&run), Arc::clone(&stop), Arc::clone(&log));
    let port = sock.local_addr().unwrap().port();
    sock.send_to(
        subscribe("watcher", "bob", "w-bob", port, 600).as_bytes(),
        b.sip,
    )
    .unwrap();
    assert_eq!(log.answer("w-bob"), Some(200));
    let r = a.udp(publish("bob", "bob-p").as_bytes(), Duration::from_secs(2));
    assert_eq!(r.as_deref().map(status_of), Some(200));
    wait_for(
        "the watcher on node B to hear of bob's PUBLISH on node A",
        || {
            log.notifies
                .lock()
                .unwrap()
                .iter()
                .any(|n| n.call_id == "w-bob" && n.body.contains("note of bob"))
        },
    );
    // The NOTIFY came through node B, whose dialog it is.
    let (_, subs) = b.http("GET", "/v1/subscriptions?presentity=sip:bob@example.com");
    assert!(subs.contains("w-bob"), "{subs}");

    // A binding registered on A that expires after A is gone is swept by B.
    let r = a.udp(
        register("dave", "dv-1", 2).as_bytes(),
        Duration::from_secs(2),
    );
    assert_eq!(r.as_deref().map(status_of), Some(200));

    // Killing node A loses no state, and node B keeps serving.
    a.kill9();
    let (_, body) = b.http("GET", "/v1/registrations/sip:alice@example.com");
    assert!(body.contains("sip:alice@127.0.0.1:5999"), "{body}");
    let (_, body) = b.http("GET", "/v1/presence/sip:bob@example.com");
    assert!(body.contains("note of bob"), "{body}");
    let r = b.udp(
        register("carol", "ca-1", 600).as_bytes(),
        Duration::from_secs(2),
    );
    assert_eq!(r.as_deref().map(status_of), Some(200));
    let (_, body) = b.http("GET", "/v1/registrations");
    for u in ["alice", "carol"] {
        assert!(body.contains(&format!("sip:{u}@example.com")), "{body}");
    }
    wait_for("node B to sweep dave's expired binding", || {
        let (_, body) = b.http("GET", "/v1/registrations/sip:dave@example.com");
        body.contains("\"bindings\":[]")
    });
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    drop(b);
    clean_up(&url, &prefix);
}

/// A private Redis on `port` (so that stopping it disturbs no other test).
fn private_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server");
    wait_for("redis-server to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    child
}

#[test]
fn without_redis_a_node_answers_503_with_retry_after_and_recovers_by_itself() {
    if redis_url("without_redis_a_node_answers_503_with_retry_after_and_recovers_by_itself")
        .is_none()
    {
        return;
    }
    if !have("redis-server") {
        crate::support::skipped("the Redis outage test", "redis-server is not installed");
        return;
    }
    let port = free_port();
    let mut redis = private_redis(port);
    let url = format!("redis://127.0.0.1:{port}");
    let s = Server::start("", &shared(&url, &unique_prefix("down"), "node-a"));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let ask = |tag: &str| -> String {
        sock.send_to(register("erin", tag, 600).as_bytes(), s.sip)
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) = sock.recv_from(&mut buf).expect("an answer");
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if status_of(&text) >= 200 && text.contains(tag) {
                return text;
            }
        }
    };
    assert_eq!(status_of(&ask("up-1")), 200);

    redis.kill().unwrap();
    redis.wait().unwrap();
    let down = ask("down-1");
    assert_eq!(status_of(&down), 503, "{down}");
    assert!(down.contains("Retry-After:"), "{down}");
    let (st, body) = s.http("GET", "/v1/registrations/sip:erin@example.com");
    assert_eq!(st, 503, "{body}");

    // Redis comes back (empty: this one keeps nothing on disk); the node recovers without a restart.
    let mut redis = private_redis(port);
    let mut n = 0;
    wait_for("the node to recover", || {
        n += 1;
        status_of(&ask(&format!("again-{n}"))) == 200
    });
    let (st, body) = s.http("GET", "/v1/registrations/sip:erin@example.com");
    assert_eq!(st, 200);
    assert!(body.contains("sip:erin@127.0.0.1:5999"), "{body}");
    redis.kill().unwrap();
    let _ = redis.wait();
}

/// Buddy lists and watcher decisions are the users' own settings: made through one node, they are on the
/// other node too, and they outlive the node they were made on.
#[test]
fn buddy_lists_and_decisions_are_the_same_on_every_node_and_outlive_a_node() {
    let Some(url) =
        redis_url("buddy_lists_and_decisions_are_the_same_on_every_node_and_outlive_a_node")
    else {
        return;
    };
    let prefix = unique_prefix("settings");
    let a_port = free_port();
    let mut a = Server::start_on(a_port, &shared(&url, &prefix, "node-a"));
    let b = Server::start("", &shared(&url, &prefix, "node-b"));
    let put = |s: &Server, path: &str, body: &str| {
        let (st, out) = s.try_http("PUT", path, "application/json", body).unwrap();
        assert!(st == 201 || st == 204, "PUT {path}: {st} {out}");
    };
    put(
        &a,
        "/v1/buddies/sip:alice@example.com/sip:bob@example.com",
        r#"{"display_name": "Bob", "group": "Team"}"#,
    );
    put(
        &a,
        "/v1/buddies/sip:alice@example.com/sip:carol@example.com",
        "{}",
    );
    put(
        &a,
        "/v1/watchers/sip:bob@example.com/sip:alice@example.com",
        r#"{"decision": "polite-block"}"#,
    );
    let bob_list = |s: &Server| s.http("GET", "/v1/buddies/sip:alice@example.com").1;
    let decisions = |s: &Server| s.http("GET", "/v1/watchers/sip:bob@example.com").1;
    let want_list = r#""buddies":[{"uri":"sip:bob@example.com","display_name":"Bob","group":"Team"},{"uri":"sip:carol@example.com"}]"#;
    let want_decision = r#"{"watcher":"sip:alice@example.com","decision":"polite-block"}"#;
    wait_for("the list on node B", || bob_list(&b).contains(want_list));
    wait_for("the decision on node B", || {
        decisions(&b).contains(want_decision)
    });
    // Changed through B: A follows.
    let (st, _) = b.http(
        "DELETE",
        "/v1/buddies/sip:alice@example.com/sip:carol@example.com",
    );
    assert_eq!(st, 204);
    wait_for("the removal on node A", || !bob_list(&a).contains("carol"));
    // Node A dies: B keeps everything; A comes back with everything.
    a.kill9();
    assert!(bob_list(&b).contains("sip:bob@example.com"));
    assert!(decisions(&b).contains(want_decision));
    let a = Server::start_on(a_port, &shared(&url, &prefix, "node-a"));
    assert!(
        bob_list(&a).contains(r#""display_name":"Bob""#),
        "{}",
        bob_list(&a)
    );
    assert!(!bob_list(&a).contains("carol"));
    assert!(decisions(&a).contains(want_decision), "{}", decisions(&a));
    drop((a, b));
    clean_up(&url, &prefix);
}
