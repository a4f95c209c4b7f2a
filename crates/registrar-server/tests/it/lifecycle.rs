//! The server as an operator meets it: the HTTP API, configuration errors, clean stops, and the SIP
//! transaction behaviour a phone relies on (retransmissions, NOTIFY failures).

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Server, TempDir, bin, status_of};

fn register(user: &str, branch: &str, cseq: u32, contact_port: u16) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{contact_port};branch=z9hG4bK{branch};rport\r\n\
         From: <sip:{user}@example.com>;tag={branch}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {user}-call\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@127.0.0.1:{contact_port}>;expires=600\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn http_api_lists_shows_and_removes_registrations() {
    let s = Server::start("", "");
    assert_eq!(
        s.udp(
            register("alice", "h1", 1, 5070).as_bytes(),
            Duration::from_secs(2)
        )
        .as_deref()
        .map(status_of),
        Some(200)
    );
    assert_eq!(
        s.udp(
            register("bob", "h2", 1, 5071).as_bytes(),
            Duration::from_secs(2)
        )
        .as_deref()
        .map(status_of),
        Some(200)
    );

    let (st, body) = s.http("GET", "/v1/registrations?limit=1");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["users"][0]["aor"], "sip:alice@example.com");
    assert_eq!(v["next"], "sip:alice@example.com");
    let (_, body) = s.http("GET", "/v1/registrations?after=sip:alice@example.com");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["users"][0]["aor"], "sip:bob@example.com");
    assert!(v.get("next").is_none());

    let (st, body) = s.http("GET", "/v1/registrations/sip:alice@example.com");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["bindings"][0]["contact"], "sip:alice@127.0.0.1:5070");
    assert!(v["bindings"][0]["expires"].as_u64().unwrap() > 590);

    let (st, body) = s.http("DELETE", "/v1/registrations/alice@example.com");
    assert_eq!((st, body.as_str()), (200, "{\"removed\":1}"));
    let (_, body) = s.http("GET", "/v1/registrations/sip:alice@example.com");
    assert!(body.contains("\"bindings\":[]"), "{body}");

    // Bad input: JSON errors with the right status.
    let (st, body) = s.http("GET", "/v1/registrations/sip:");
    assert_eq!(st, 400);
    assert!(body.starts_with("{\"error\":"), "{body}");
    let (st, body) = s.http("GET", "/v1/nothing-here");
    assert_eq!(st, 404);
    assert!(body.starts_with("{\"error\":"), "{body}");
    let (st, _) = s.http("GET", "/v1/subscriptions");
    assert_eq!(st, 400);
}

#[test]
fn http_api_presence_put_get_and_metrics_and_openapi() {
    let s = Server::start("", "");
    let pidf = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:carol@example.com\"><tuple id=\"x\"><status><basic>open</basic></status></tuple></presence>";
    let (st, body) = s
        .try_http(
            "PUT",
            "/v1/presence/sip:carol@example.com",
            "application/pidf+xml",
            pidf,
        )
        .unwrap();
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"etag\""), "{body}");
    let (st, body) = s.http("GET", "/v1/presence/sip:carol@example.com");
    assert_eq!(st, 200);
    assert!(body.contains("<basic>open</basic>"), "{body}");
    let (st, _) = s
        .try_http(
            "PUT",
            "/v1/presence/sip:carol@example.com",
            "text/plain",
            "open",
        )
        .unwrap();
    assert_eq!(st, 415);
    let (st, body) = s
        .try_http(
            "PUT",
            "/v1/presence/sip:carol@example.com",
            "application/pidf+xml",
            "<presence",
        )
        .unwrap();
    assert_eq!(st, 400);
    assert!(body.contains("invalid PIDF"), "{body}");

    let _ = s.udp(
        register("dave", "m1", 1, 5072).as_bytes(),
        Duration::from_secs(2),
    );
    let _ = s.udp(b"garbage\r\n\r\n", Duration::from_millis(200));
    let (st, text) = s.http("GET", "/metrics");
    assert_eq!(st, 200);
    assert!(text.contains("registrar_registrations_active 1"), "{text}");
    assert!(
        text.contains("registrar_sip_requests_total{method=\"REGISTER\",code=\"200\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("registrar_sip_parse_errors_total 1"),
        "{text}"
    );
    assert!(text.contains("registrar_subscriptions_active 0"), "{text}");
    assert!(text.contains("registrar_notify_sent_total"), "{text}");

    let (st, doc) = s.http("GET", "/openapi.json");
    assert_eq!(st, 200);
    let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/health",
        "/metrics",
        "/v1/registrations",
        "/v1/registrations/{aor}",
        "/v1/presence/{aor}",
        "/v1/subscriptions",
    ] {
        assert!(
            v["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[test]
fn ctl_shows_what_the_api_holds() {
    let s = Server::start("", "");
    let _ = s.udp(
        register("erin", "c1", 1, 5073).as_bytes(),
        Duration::from_secs(2),
    );
    let http = s.http.to_string();
    let out = Command::new(bin())
        .args(["ctl", "--http", &http, "registrations"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sip:erin@example.com 1"
    );
    let out = Command::new(bin())
        .args(["ctl", "--http", &http, "show", "erin@example.com"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("sip:erin@127.0.0.1:5073") && text.contains("presence"),
        "{text}"
    );
    let out = Command::new(bin())
        .args(["ctl", "--http", &http, "show", "not an aor"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 400"));
}

#[test]
fn a_bad_config_file_stops_start_up_naming_the_key() {
    let dir = TempDir::new("cfg");
    for (text, key) in [
        ("[registrar]\nmin_expire = 3\n", "min_expire"),
        ("[registrar]\nmin_expires = 9000\n", "registrar.min_expires"),
        (
            "[registrar]\nmax_contacts_policy = \"drop-all\"\n",
            "drop-all",
        ),
        ("[sip]\nlisten = [\"sctp:127.0.0.1:5060\"]\n", "sip.listen"),
        ("[presence]\ndefault_watcher_policy = \"maybe\"\n", "maybe"),
        ("[http]\nlisten = \"nowhere\"\n", "http.listen"),
    ] {
        let path = dir.0.join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(bin())
            .args(["serve", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "`{text}` gave: {err}");
    }
}

#[test]
fn sigterm_stops_cleanly() {
    let mut s = Server::start("", "");
    let st = s.terminate();
    assert!(st.success(), "{st:?}");
    assert!(s.log().contains("stopped"), "{}", s.log());
}

#[test]
fn rfc3261_17_2_retransmissions_get_the_same_response() {
    let s = Server::start("", "");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = register("frank", "rt1", 5, 5074);
    let mut buf = [0u8; 4096];
    sock.send_to(req.as_bytes(), s.sip).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    sock.send_to(req.as_bytes(), s.sip).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    let again = String::from_utf8_lossy(&buf[..n]).to_string();
    // Not a second REGISTER with the same CSeq (which would fail with 500): the same 200.
    assert_eq!(status_of(&first), 200);
    assert_eq!(first, again);
}

/// A watcher that answers its first NOTIFY with 481: the subscription ends (RFC 6665 §4.2.2).
#[test]
fn rfc6665_4_2_2_a_notify_answered_481_ends_the_subscription() {
    let s = Server::start("", "[presence]\ndefault_watcher_policy = \"allow\"\n");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let sub = format!(
        "SUBSCRIBE sip:gina@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKs481;rport\r\n\
         From: <sip:hank@example.com>;tag=h1\r\nTo: <sip:gina@example.com>\r\nCall-ID: s481\r\nCSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:hank@127.0.0.1:{port}>\r\nEvent: presence\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
    );
    sock.send_to(sub.as_bytes(), s.sip).unwrap();
    let mut buf = [0u8; 8192];
    let mut got_200 = false;
    let mut notify = None;
    let deadline = Instant::now() + Duration::from_secs(5);
    while (!got_200 || notify.is_none()) && Instant::now() < deadline {
        let (n, _) = sock.recv_from(&mut buf).unwrap();
        let m = String::from_utf8_lossy(&buf[..n]).to_string();
        if m.starts_with("SIP/2.0 200") {
            got_200 = true;
        } else if m.starts_with("NOTIFY ") {
            notify = Some(m);
        }
    }
    let notify = notify.expect("an immediate NOTIFY");
    assert!(got_200);
    let (_, body) = s.http("GET", "/v1/subscriptions?presentity=sip:gina@example.com");
    assert!(body.contains("sip:hank@example.com"), "{body}");
    // Answer 481, copying Via, From, To, Call-ID, CSeq.
    let mut resp = String::from("SIP/2.0 481 Call/Transaction Does Not Exist\r\n");
    for line in notify.lines() {
        let l = line.to_ascii_lowercase();
        if ["via:", "from:", "to:", "call-id:", "cseq:"]
            .iter()
            .any(|p| l.starts_with(p))
        {
            resp.push_str(line);
            resp.push_str("\r\n");
        }
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    sock.send_to(resp.as_bytes(), s.sip).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = s.http("GET", "/v1/subscriptions?presentity=sip:gina@example.com");
        if body == "[]" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription did not end: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And no final NOTIFY follows for the dead dialog.
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    if let Ok((n, _)) = sock.recv_from(&mut buf) {
        let m = String::from_utf8_lossy(&buf[..n]);
        assert!(!m.starts_with("NOTIFY"), "a NOTIFY after 481: {m}");
    }
}
