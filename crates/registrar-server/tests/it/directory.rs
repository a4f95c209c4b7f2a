//! The directory's HTTP API over the wire, against the real binary: bearer tokens (made by `registrar
//! token`), participants, discovery with live availability from the registrar's presence, the audit trail,
//! ratings, priority, rate limits, export and erasure, and the API being off without a key.

use std::io::Write as _;
use std::process::{Command, Stdio};

use crate::support::{Server, bin};

pub const KEY: &str = "a-test-key-of-some-length";

/// Run `registrar ARGS` with `input` on standard input; its trimmed standard output.
pub fn run_with_stdin(args: &[&str], input: &str) -> String {
    let mut c = Command::new(bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(c.stdin.take().unwrap(), "{input}").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn token(subject: &str, admin: bool, hours: &str) -> String {
    let mut args = vec!["token", subject, "--hours", hours];
    if admin {
        args.push("--admin");
    }
    run_with_stdin(&args, KEY)
}

/// A key pair from `registrar keygen`: (private, public).
pub fn keygen() -> (String, String) {
    let out = Command::new(bin()).arg("keygen").output().unwrap();
    assert!(out.status.success());
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

pub fn call(s: &Server, method: &str, path: &str, tok: &str, body: &str) -> (u16, String, String) {
    let auth = if tok.is_empty() {
        String::new()
    } else {
        format!("Authorization: Bearer {tok}\r\n")
    };
    let ct = if body.is_empty() {
        ""
    } else {
        "application/json"
    };
    s.try_http_full(method, path, &auth, ct, body).unwrap()
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn person(id: &str, name: &str, org: &str) -> String {
    let local = id.split('@').next().unwrap();
    serde_json::json!({
        "id": id,
        "entity": "human",
        "identities": [{
            "name": name,
            "organization": org,
            "email": id,
            "sip_aor": format!("sip:{local}@example.com"),
        }],
    })
    .to_string()
}

#[test]
fn directory_api_end_to_end() {
    let s = Server::start(
        "",
        &format!("[directory]\njwt_secret = \"{KEY}\"\ndiscovery_per_hour = 4\n"),
    );
    let admin = token("ops@example.com", true, "1");
    let alice = token("alice@example.com", false, "1");
    let bob = token("bob@example.com", false, "1");

    // Authentication: none, garbage, another key's, expired.
    let (st, head, body) = call(&s, "GET", "/v1/participants/alice@example.com", "", "");
    assert_eq!(st, 401, "{body}");
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("bearer token")
    );
    assert_eq!(call(&s, "GET", "/v1/audit", "not.a.jwt", "").0, 401);
    let expired = token("alice@example.com", false, "0");
    let (st, _, body) = call(&s, "GET", "/v1/audit", &expired, "");
    assert_eq!(st, 401);
    assert!(body.contains("expired"), "{body}");
    assert!(!s.log().contains(&alice), "a token reached the log");

    // Participants: the operator creates them; bob may not write alice's record.
    for (id, name, org) in [
        ("alice@example.com", "Alice Martin", "AI Lab"),
        ("bob@example.com", "Bob Stone", "AI Lab"),
    ] {
        let (st, _, body) = call(
            &s,
            "PUT",
            &format!("/v1/participants/{id}"),
            &admin,
            &person(id, name, org),
        );
        assert_eq!(st, 201, "{body}");
    }
    let (st, _, _) = call(
        &s,
        "PUT",
        "/v1/participants/alice@example.com",
        &bob,
        &person("alice@example.com", "Mallory", "x"),
    );
    assert_eq!(st, 403);
    let (st, _, body) = call(
        &s,
        "PUT",
        "/v1/participants/alice@example.com",
        &alice,
        "{\"id\": 3}",
    );
    assert_eq!(st, 400);
    assert!(json(&body)["error"].is_string());
    // Alice updates herself: 204.
    let (st, _, _) = call(
        &s,
        "PUT",
        "/v1/participants/alice@example.com",
        &alice,
        &person("alice@example.com", "Alice Martin", "AI Lab"),
    );
    assert_eq!(st, 204);

    // Alice is online: the registrar's presence says so, and discovery shows it.
    let pidf = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:alice@example.com\"><tuple id=\"x\"><status><basic>open</basic></status></tuple></presence>";
    // The admin API wants an admin token once the directory's keys are set.
    let admin_header = format!(
        "Authorization: Bearer {}\r\n",
        token("ops@example.com", true, "1")
    );
    let (st, _, _) = s
        .try_http_full(
            "PUT",
            "/v1/presence/sip:alice@example.com",
            &admin_header,
            "application/pidf+xml",
            pidf,
        )
        .unwrap();
    assert_eq!(st, 200);
    let q = r#"{"text": "Alise Martin", "hints": {"organization": "AI Lab"}}"#;
    let (st, _, body) = call(&s, "POST", "/v1/discovery", &bob, q);
    assert_eq!(st, 200, "{body}");
    let r = json(&body);
    assert_eq!(r["outcome"], "resolved", "{body}");
    assert_eq!(r["candidates"][0]["participant"]["id"], "alice@example.com");
    assert_eq!(r["candidates"][0]["availability"], "available");
    let (st, _, _) = call(&s, "POST", "/v1/discovery", &bob, "{\"txt\": 1}");
    assert_eq!(st, 400);

    // Profile view, then alice's audit trail names bob.
    let (st, _, body) = call(&s, "GET", "/v1/participants/alice@example.com", &bob, "");
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["name"], "Alice Martin");
    let (st, _, body) = call(&s, "GET", "/v1/audit", &alice, "");
    assert_eq!(st, 200);
    let trail = json(&body);
    let entries = trail["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{body}");
    assert_eq!(entries[0]["action"], "profile_view");
    assert_eq!(entries[1]["action"], "discovered");
    assert_eq!(entries[1]["actor"]["id"], "bob@example.com");
    // Bob may not read alice's trail; the operator may.
    assert_eq!(
        call(
            &s,
            "GET",
            "/v1/audit?participant=alice@example.com",
            &bob,
            ""
        )
        .0,
        403
    );
    assert_eq!(
        call(
            &s,
            "GET",
            "/v1/audit?participant=alice@example.com",
            &admin,
            ""
        )
        .0,
        200
    );

    // Ratings and priority.
    let (st, _, _) = call(
        &s,
        "POST",
        "/v1/ratings",
        &bob,
        r#"{"ratee": "alice@example.com", "category": "technical", "score": 90}"#,
    );
    assert_eq!(st, 204);
    let (st, _, _) = call(
        &s,
        "POST",
        "/v1/ratings",
        &bob,
        r#"{"ratee": "bob@example.com", "category": "technical", "score": 90}"#,
    );
    assert_eq!(st, 400);
    let (st, _, body) = call(
        &s,
        "POST",
        "/v1/priority",
        &bob,
        r#"{"recipient": "alice@example.com", "text": "lunch?"}"#,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["delivery"], "deliver");

    // The rate limit: four discoveries an hour in this configuration; the two above count (a malformed
    // request too), two more pass, then 429.
    assert_eq!(call(&s, "POST", "/v1/discovery", &bob, q).0, 200);
    assert_eq!(call(&s, "POST", "/v1/discovery", &bob, q).0, 200);
    let (st, head, body) = call(&s, "POST", "/v1/discovery", &bob, q);
    assert_eq!(st, 429, "{body}");
    assert!(head.contains("retry-after: "), "{head}");
    // Another requester has a budget of their own.
    assert_eq!(call(&s, "POST", "/v1/discovery", &alice, q).0, 200);

    // Contact requests: bob asks alice, alice approves; bob cannot decide his own; unknown ids are 404.
    let (st, _, body) = call(
        &s,
        "POST",
        "/v1/contact-requests",
        &bob,
        r#"{"to": "alice@example.com", "note": "about the paper"}"#,
    );
    assert_eq!(st, 201, "{body}");
    let req = json(&body);
    assert_eq!(req["state"], "pending");
    let n = req["id"].as_u64().unwrap();
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("/v1/contact-requests/{n}/approve"),
            &bob,
            ""
        )
        .0,
        404
    );
    let (st, _, body) = call(
        &s,
        "POST",
        &format!("/v1/contact-requests/{n}/approve"),
        &alice,
        "",
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["state"], "approved");
    let (st, _, body) = call(
        &s,
        "POST",
        &format!("/v1/contact-requests/{n}/decline"),
        &alice,
        "",
    );
    assert_eq!(st, 403, "{body}");
    let (_, _, body) = call(&s, "GET", "/v1/contact-requests", &bob, "");
    assert_eq!(json(&body)[0]["state"], "approved");
    assert_eq!(
        call(&s, "POST", "/v1/contact-requests/x/approve", &alice, "").0,
        400
    );

    // The API describes itself, and measures discovery.
    let (_, doc) = s.http("GET", "/openapi.json");
    let doc = json(&doc);
    for path in [
        "/v1/discovery",
        "/v1/participants/{id}",
        "/v1/contact-requests",
        "/v1/audit",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let (_, metrics) = s.http("GET", "/metrics");
    assert!(
        metrics.contains("registrar_directory_discovery_seconds"),
        "{metrics}"
    );

    // Export (alice herself; not bob), then erasure.
    assert_eq!(
        call(
            &s,
            "GET",
            "/v1/participants/alice@example.com/export",
            &bob,
            ""
        )
        .0,
        403
    );
    let (st, _, body) = call(
        &s,
        "GET",
        "/v1/participants/alice@example.com/export",
        &alice,
        "",
    );
    assert_eq!(st, 200);
    let e = json(&body);
    assert_eq!(e["participant"]["id"], "alice@example.com");
    assert_eq!(e["ratings_received"][0]["rater"], "bob@example.com");
    assert!(e["audit"].as_array().unwrap().len() >= 3);
    assert_eq!(
        call(&s, "DELETE", "/v1/participants/alice@example.com", &bob, "").0,
        403
    );
    assert_eq!(
        call(
            &s,
            "DELETE",
            "/v1/participants/alice@example.com",
            &alice,
            ""
        )
        .0,
        204
    );
    assert_eq!(
        call(&s, "GET", "/v1/participants/alice@example.com", &admin, "").0,
        404
    );
    let (_, _, body) = call(
        &s,
        "GET",
        "/v1/audit?participant=alice@example.com",
        &admin,
        "",
    );
    assert!(
        json(&body)["entries"].as_array().unwrap().is_empty(),
        "{body}"
    );
}

#[test]
fn the_directory_api_is_off_without_a_key() {
    let s = Server::start("", "");
    let (st, _, body) = call(&s, "POST", "/v1/discovery", "x.y.z", "{}");
    assert_eq!(st, 503);
    assert!(
        json(&body)["error"]
            .as_str()
            .unwrap()
            .contains("directory.jwt_secret")
    );
}

#[test]
fn eddsa_tokens_from_registrar_keygen_are_accepted() {
    let (private, public) = keygen();
    let s = Server::start(
        "",
        &format!("[directory]\njwt_ed25519_public_keys = [\"{public}\"]\n"),
    );
    let admin = run_with_stdin(
        &["token", "ops@example.com", "--eddsa", "--admin"],
        &private,
    );
    let (st, _, body) = call(
        &s,
        "PUT",
        "/v1/participants/alice@example.com",
        &admin,
        &person("alice@example.com", "Alice Martin", "AI Lab"),
    );
    assert_eq!(st, 201, "{body}");
    // An HS256 token is refused where only Ed25519 keys are configured.
    let (st, _, body) = call(
        &s,
        "GET",
        "/v1/audit",
        &token("ops@example.com", true, "1"),
        "",
    );
    assert_eq!(st, 401, "{body}");
    // A token of another key pair is refused.
    let (other_private, _) = keygen();
    let forged = run_with_stdin(&["token", "ops@example.com", "--eddsa"], &other_private);
    assert_eq!(call(&s, "GET", "/v1/audit", forged.trim(), "").0, 401);
}

/// A minimal WebSocket client (RFC 6455) for the event stream: the handshake, then unmasked text frames
/// from the server.
struct Ws(std::net::TcpStream);

impl Ws {
    fn open(s: &Server, tok: &str) -> Self {
        use std::io::Read as _;
        let mut t = std::net::TcpStream::connect(s.http).unwrap();
        write!(
            t,
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer {tok}\r\n\r\n"
        )
        .unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            t.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
        t.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut ws = Self(t);
        // The server says when the stream follows everything: from then on, no event is missed.
        assert_eq!(ws.next()["type"], "ready");
        ws
    }

    /// The next text message.
    fn next(&mut self) -> serde_json::Value {
        use std::io::Read as _;
        loop {
            let mut h = [0u8; 2];
            self.0.read_exact(&mut h).unwrap();
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut l = [0u8; 2];
                self.0.read_exact(&mut l).unwrap();
                len = u64::from(u16::from_be_bytes(l));
            } else if len == 127 {
                let mut l = [0u8; 8];
                self.0.read_exact(&mut l).unwrap();
                len = u64::from_be_bytes(l);
            }
            let mut payload = vec![0u8; usize::try_from(len).unwrap()];
            self.0.read_exact(&mut payload).unwrap();
            if h[0] & 0x0f == 1 {
                return json(&String::from_utf8(payload).unwrap());
            }
        }
    }
}

#[test]
fn the_event_stream_carries_contact_requests_ratings_and_presence_of_those_one_may_watch() {
    let s = Server::start("", &format!("[directory]\njwt_secret = \"{KEY}\"\n"));
    let admin = token("ops@example.com", true, "1");
    let alice = token("alice@example.com", false, "1");
    let bob = token("bob@example.com", false, "1");
    for (id, name) in [
        ("alice@example.com", "Alice Martin"),
        ("bob@example.com", "Bob Stone"),
        ("carol@example.com", "Carol Diaz"),
    ] {
        let (st, _, body) = call(
            &s,
            "PUT",
            &format!("/v1/participants/{id}"),
            &admin,
            &person(id, name, "Lab"),
        );
        assert_eq!(st, 201, "{body}");
    }
    // Bob declares alice a colleague: alice may follow bob's presence; nobody declared anything to carol.
    let (st, _, body) = call(
        &s,
        "POST",
        "/v1/relationships",
        &bob,
        r#"{"from": "bob@example.com", "to": "alice@example.com", "kind": "colleague", "mutual": false}"#,
    );
    assert_eq!(st, 204, "{body}");
    // Without a token: no stream.
    let (st, _, _) = call(&s, "GET", "/v1/events", "", "");
    assert_eq!(st, 401);
    let mut ws = Ws::open(&s, &alice);

    // Carol's presence is not for alice; bob's is.
    let pidf = |who: &str, basic: &str| {
        format!(
            "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{who}@example.com\"><tuple id=\"x\"><status><basic>{basic}</basic></status></tuple></presence>"
        )
    };
    let admin_header = format!(
        "Authorization: Bearer {}\r\n",
        token("ops@example.com", true, "1")
    );
    for who in ["carol", "bob"] {
        let (st, _, _) = s
            .try_http_full(
                "PUT",
                &format!("/v1/presence/sip:{who}@example.com"),
                &admin_header,
                "application/pidf+xml",
                &pidf(who, "open"),
            )
            .unwrap();
        assert_eq!(st, 200);
    }
    let e = ws.next();
    assert_eq!(e["type"], "presence", "{e}");
    assert_eq!(e["data"]["participant"], "bob@example.com");
    assert_eq!(e["data"]["availability"], "available");

    // Bob asks alice for contact and rates her: both reach her stream, in order.
    let (st, _, _) = call(
        &s,
        "POST",
        "/v1/contact-requests",
        &bob,
        r#"{"to": "alice@example.com", "note": "hi"}"#,
    );
    assert_eq!(st, 201);
    let e = ws.next();
    assert_eq!(e["type"], "contact_request", "{e}");
    assert_eq!(e["data"]["from"], "bob@example.com");
    let (st, _, _) = call(
        &s,
        "POST",
        "/v1/ratings",
        &bob,
        r#"{"ratee": "alice@example.com", "category": "overall", "score": 80}"#,
    );
    assert_eq!(st, 204);
    let e = ws.next();
    assert_eq!(e["type"], "rating", "{e}");
    assert_eq!(e["data"]["score"], 80);

    // Only bob may take back the relationship he declared; then it is gone from his export.
    let del = "/v1/relationships?from=bob@example.com&to=alice@example.com";
    let (st, _, _) = call(&s, "DELETE", del, &alice, "");
    assert_eq!(st, 403);
    let (st, _, _) = call(&s, "DELETE", del, &bob, "");
    assert_eq!(st, 204);
    let (_, _, body) = call(
        &s,
        "GET",
        "/v1/participants/bob@example.com/export",
        &bob,
        "",
    );
    assert_eq!(
        json(&body)["relationships"],
        serde_json::json!([]),
        "{body}"
    );
}
