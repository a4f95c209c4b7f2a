//! Federation between three real `registrar serve` processes on loopback, each with its own Ed25519 key
//! (issue 9): cross-server discovery, the answering server's privacy rules for the asking server's trust
//! level, a blocked peer, a replayed and a tampered request (captured on the wire by a recording relay), a
//! peer that never answers (the discovery still answers within its timeout, then the circuit opens), the
//! domain → server mapping through DNS TXT (an in-process DNS server on loopback), and identity proofs
//! (a DNS TXT domain proof and an OpenID Connect ID token).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::TXT;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::proto::serialize::binary::{BinDecodable as _, BinEncodable as _};

use crate::directory::{KEY, call, json, keygen, token};
use crate::support::{Server, free_port};

type Records = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A DNS server on loopback answering TXT queries from `records` (name without the final dot → strings).
fn dns_server(records: Records) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                return;
            };
            let Ok(q) = Message::from_bytes(&buf[..n]) else {
                continue;
            };
            let mut r = Message::new();
            r.set_id(q.id())
                .set_message_type(MessageType::Response)
                .set_op_code(q.op_code())
                .set_recursion_desired(q.recursion_desired())
                .set_recursion_available(true)
                .set_authoritative(true);
            for query in q.queries() {
                r.add_query(query.clone());
                let name = query.name().to_ascii().trim_end_matches('.').to_lowercase();
                if query.query_type() == RecordType::TXT
                    && let Some(values) = records.lock().unwrap().get(&name)
                {
                    for v in values {
                        r.add_answer(Record::from_rdata(
                            query.name().clone(),
                            30,
                            RData::TXT(TXT::new(vec![v.clone()])),
                        ));
                    }
                }
            }
            if r.answers().is_empty() {
                r.set_response_code(ResponseCode::NXDomain);
            }
            let _ = sock.send_to(&r.to_bytes().unwrap(), from);
        }
    });
    addr
}

/// A TCP relay on loopback to `to` that keeps every request it forwarded (raw bytes).
fn recording_relay(to: SocketAddr) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&seen);
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let kept = Arc::clone(&kept);
            std::thread::spawn(move || {
                let req = read_http(&mut c);
                kept.lock().unwrap().push(req.clone());
                let mut up = TcpStream::connect(to).unwrap();
                up.write_all(&req).unwrap();
                let resp = read_http(&mut up);
                let _ = c.write_all(&resp);
            });
        }
    });
    (port, seen)
}

/// One HTTP/1.1 message with a Content-Length body.
fn read_http(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                buf.truncate(end + 4 + len);
                return buf;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return buf,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A peer that accepts connections and never answers.
fn black_hole() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming() {
            held.push(c);
        }
    });
    port
}

struct Peer<'a> {
    id: &'a str,
    port: u16,
    /// Reached over HTTPS (trusting the test certificate).
    https: bool,
    public: &'a str,
    trust: &'a str,
    domains: &'a [&'a str],
}

fn config(
    id: &str,
    private: &str,
    domains: &[&str],
    peers: &[Peer<'_>],
    directory_extra: &str,
) -> String {
    let list = |d: &[&str]| {
        d.iter()
            .map(|x| format!("\"{x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut c = format!(
        "[directory]\njwt_secret = \"{KEY}\"\ndiscovery_per_hour = 100000\n{directory_extra}\n\n\
         [federation]\nserver_id = \"{id}\"\nprivate_key = \"{private}\"\ndomains = [{}]\n\
         timeout_ms = 700\nbreaker_failures = 2\nbreaker_cooldown_secs = 60\ncache_secs = 0\nreplay_window_secs = 30\n",
        list(domains)
    );
    for p in peers {
        c.push_str(&format!(
            "\n[[federation.peers]]\nid = \"{}\"\nurl = \"{}://127.0.0.1:{}\"\npublic_key = \"{}\"\ntrust = \"{}\"\ndomains = [{}]\n{}",
            p.id,
            if p.https { "https" } else { "http" },
            p.port,
            p.public,
            p.trust,
            list(p.domains),
            if p.https {
                format!(
                    "ca_file = \"{}\"\n",
                    crate::support::fixtures().join("tls/cert.pem").display()
                )
            } else {
                String::new()
            }
        ));
    }
    c
}

fn put(s: &Server, tok: &str, p: &serde_json::Value) {
    let id = p["id"].as_str().unwrap();
    let (st, _, body) = call(
        s,
        "PUT",
        &format!("/v1/participants/{id}"),
        tok,
        &p.to_string(),
    );
    assert!(st == 201 || st == 204, "{st} {body}");
}

fn person(id: &str, name: &str, org: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "entity": "human",
        "identities": [{"name": name, "organization": org, "email": id, "sip_aor": format!("sip:{id}")}],
        "org": {"organization": org},
    })
}

fn ids(r: &serde_json::Value) -> Vec<(String, String)> {
    r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["participant"]["id"].as_str().unwrap().to_owned(),
                c["server"].as_str().unwrap_or("local").to_owned(),
            )
        })
        .collect()
}

fn failed(r: &serde_json::Value) -> HashMap<String, String> {
    r["failed_peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["peer"].as_str().unwrap().to_owned(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn three_federated_servers() {
    let (ka, pa) = keygen();
    let (kb, pb) = keygen();
    let (kc, pc) = keygen();
    let (port_a, port_b, port_c) = (free_port(), free_port(), free_port());
    let hole = black_hole();
    let records: Records = Arc::default();
    records.lock().unwrap().insert(
        "_registrar-directory.b-mail.example".into(),
        vec!["v=regdir1; id=b".into()],
    );
    let dns = dns_server(Arc::clone(&records));
    // B answers over HTTPS; C sits behind a relay that records what A sends it.
    let relay_target = SocketAddr::from(([127, 0, 0, 1], port_c));
    let (relay, captured) = recording_relay(relay_target);

    let jwks_key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let x = b64url(jwks_key.verifying_key().as_bytes());
    let oidc = format!(
        "dns_servers = [\"{dns}\"]\n\n[[directory.oidc]]\nissuer = \"https://login.a.example\"\naudience = \"registrar-a\"\njwks = '{{\"keys\":[{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"{x}\"}}]}}'\n"
    );
    // A: B trusted (over HTTPS; its domain found through DNS), C provisional (through the relay), D never
    // answers.
    let a = Server::start_on(
        port_a,
        &config(
            "a",
            &ka,
            &["a.example"],
            &[
                Peer {
                    id: "b",
                    port: port_b,
                    https: true,
                    public: &pb,
                    trust: "trusted",
                    domains: &[],
                },
                Peer {
                    id: "c",
                    port: relay,
                    https: false,
                    public: &pc,
                    trust: "provisional",
                    domains: &["c.example"],
                },
                Peer {
                    id: "d",
                    port: hole,
                    https: false,
                    public: &pc,
                    trust: "provisional",
                    domains: &["d.example"],
                },
            ],
            &oidc,
        ),
    );
    // B trusts A; C blocks A.
    let b = Server::start_on_with(
        port_b,
        "tls = true",
        &config(
            "b",
            &kb,
            &["b-mail.example"],
            &[Peer {
                id: "a",
                port: port_a,
                https: false,
                public: &pa,
                trust: "trusted",
                domains: &["a.example"],
            }],
            "",
        ),
    );
    let c = Server::start_on(
        port_c,
        &config(
            "c",
            &kc,
            &["c.example"],
            &[Peer {
                id: "a",
                port: port_a,
                https: false,
                public: &pa,
                trust: "blocked",
                domains: &["a.example"],
            }],
            "",
        ),
    );
    let admin = token("ops@a.example", true, "1");
    let alice = token("alice@a.example", false, "1");
    put(
        &a,
        &admin,
        &person("alice@a.example", "Alice Quist", "A Corp"),
    );
    // B's participants: public, public but cut at minimal, stealth but granted to alice, blocking A's domain,
    // and one only B Corp may see.
    put(
        &b,
        &admin,
        &person("bob@b-mail.example", "Bob Zephyr", "B Corp"),
    );
    let mut min = person("bree@b-mail.example", "Bree Zephyr", "B Corp");
    min["permissions"] = serde_json::json!({"audiences": {"public": "minimal"}});
    put(&b, &admin, &min);
    let mut granted = person("bill@b-mail.example", "Bill Zephyr", "B Corp");
    granted["permissions"] =
        serde_json::json!({"discoverability": "stealth", "auto_accept": ["alice@a.example"]});
    put(&b, &admin, &granted);
    let mut blocker = person("bart@b-mail.example", "Bart Zephyr", "B Corp");
    blocker["permissions"] = serde_json::json!({"blocked_domains": ["a.example"]});
    put(&b, &admin, &blocker);
    let mut internal = person("bea@b-mail.example", "Bea Zephyr", "B Corp");
    internal["org"] = serde_json::json!({"organization": "B Corp", "access": "internal"});
    put(&b, &admin, &internal);
    put(&c, &admin, &person("cy@c.example", "Cy Zephyr", "C Corp"));

    // Cross-server discovery: A's own, then B's (its rules for a trusted A), C refuses, D times out.
    let (st, _, body) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "Zephyr", "limit": 20}"#,
    );
    assert_eq!(st, 200, "{body}");
    let r = json(&body);
    let found = ids(&r);
    for want in [
        "bob@b-mail.example",
        "bree@b-mail.example",
        "bill@b-mail.example",
    ] {
        assert!(
            found.contains(&(want.into(), "b".into())),
            "{want} missing: {body}"
        );
    }
    for hidden in ["bart@b-mail.example", "bea@b-mail.example", "cy@c.example"] {
        assert!(
            !found.iter().any(|(id, _)| id == hidden),
            "{hidden} leaked: {body}"
        );
    }
    let bree = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["participant"]["id"] == "bree@b-mail.example")
        .unwrap();
    assert_eq!(bree["participant"]["level"], "minimal", "{body}");
    assert!(bree["participant"].get("organization").is_none(), "{body}");
    let f = failed(&r);
    assert!(f["c"].contains("403"), "{body}");
    // The down peer held the answer only for its timeout: the discovery came back with D given up on.
    assert_eq!(f["d"], "timeout after 700 ms", "{body}");
    // B's audit trail names alice, via a.
    let (st, _, body) = call(
        &b,
        "GET",
        "/v1/audit?participant=bob@b-mail.example",
        &admin,
        "",
    );
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("alice@a.example") && body.contains("via a"),
        "{body}"
    );

    // After two failures D's circuit is open: not even tried.
    let (_, _, body) = call(&a, "POST", "/v1/discovery", &alice, r#"{"text": "Zephyr"}"#);
    let f = failed(&json(&body));
    assert!(
        f["d"].contains("circuit open") || f["d"].contains("timeout"),
        "{body}"
    );
    let (_, _, body) = call(&a, "POST", "/v1/discovery", &alice, r#"{"text": "Zephyr"}"#);
    assert_eq!(failed(&json(&body))["d"], "circuit open", "{body}");

    // An address resolves through its domain's server (found in DNS): only B is asked.
    let (st, _, body) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "bob@b-mail.example"}"#,
    );
    assert_eq!(st, 200, "{body}");
    let r = json(&body);
    assert_eq!(r["outcome"], "resolved", "{body}");
    assert_eq!(ids(&r), [("bob@b-mail.example".to_owned(), "b".to_owned())]);
    assert!(failed(&r).is_empty(), "{body}");
    // Again: the domain → server mapping comes from the cache (its TTL), the answer is the same.
    let (_, _, again) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "bob@b-mail.example"}"#,
    );
    assert_eq!(ids(&json(&again)), ids(&r));
    let (_, _, body) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "x@nowhere.example"}"#,
    );
    assert!(
        failed(&json(&body))["nowhere.example"].contains("names no directory server"),
        "{body}"
    );

    // C blocks A: its participants stay hidden, and A is told why.
    let (st, _, body) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "cy@c.example"}"#,
    );
    assert_eq!(st, 200);
    let r = json(&body);
    assert!(ids(&r).is_empty(), "{body}");
    assert!(failed(&r)["c"].contains("blocked"), "{body}");

    // A request captured on the wire (A to C) and sent again is refused before anything else, and so is
    // one whose body was altered.
    let first = captured.lock().unwrap()[0].clone();
    let replay = send_raw(port_c, &first);
    assert!(replay.starts_with("HTTP/1.1 401"), "{replay}");
    assert!(replay.contains("replayed"), "{replay}");
    let text = String::from_utf8(first).unwrap();
    let tampered = text.replace("Zephyr", "Zephyx");
    assert_ne!(tampered, text);
    let resp = send_raw(port_c, tampered.as_bytes());
    assert!(
        resp.starts_with("HTTP/1.1 401") && resp.contains("Content-Digest"),
        "{resp}"
    );
    // Unsigned: refused.
    let (st, _, _) = call(&b, "POST", "/v1/federation/lookup", "", r#"{"text":"bob"}"#);
    assert_eq!(st, 401);

    // Local only: no peers asked.
    let (_, _, body) = call(
        &a,
        "POST",
        "/v1/discovery",
        &alice,
        r#"{"text": "Zephyr", "local_only": true}"#,
    );
    let r = json(&body);
    assert!(ids(&r).is_empty() && failed(&r).is_empty(), "{body}");

    // Identity proofs at A: a DNS TXT record for alice's domain, an ID token for her email.
    let path = "/v1/participants/alice@a.example/verify/domain";
    let (st, _, body) = call(&a, "GET", &format!("{path}?domain=a.example"), &alice, "");
    assert_eq!(st, 200, "{body}");
    let ch = json(&body);
    let (st, _, body) = call(&a, "POST", path, &alice, r#"{"domain": "a.example"}"#);
    assert_eq!(st, 422, "{body}");
    records.lock().unwrap().insert(
        ch["record"].as_str().unwrap().to_owned(),
        vec![ch["value"].as_str().unwrap().to_owned()],
    );
    let (st, _, body) = call(&a, "POST", path, &alice, r#"{"domain": "a.example"}"#);
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["verification"], "email");
    let (st, _, _) = call(&a, "POST", path, &alice, r#"{"domain": "b-mail.example"}"#);
    assert_eq!(st, 400);
    // Claiming verification in a profile update is ignored.
    let mut claimed = person("alice@a.example", "Alice Quist", "A Corp");
    claimed["verification"] = serde_json::json!("strong");
    put(&a, &alice, &claimed);
    let (_, _, body) = call(
        &a,
        "GET",
        "/v1/participants/alice@a.example/export",
        &alice,
        "",
    );
    assert_eq!(
        json(&body)["participant"]["verification"],
        "email",
        "{body}"
    );

    let oidc_path = "/v1/participants/alice@a.example/verify/oidc";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let id_token = |email: &str, aud: &str| {
        use ed25519_dalek::Signer as _;
        let h = b64url(br#"{"alg":"EdDSA","typ":"JWT"}"#);
        let c = b64url(
            serde_json::json!({"iss": "https://login.a.example", "aud": aud, "sub": "1", "email": email,
                "email_verified": true, "iat": now, "exp": now + 300})
            .to_string()
            .as_bytes(),
        );
        let s = b64url(&jwks_key.sign(format!("{h}.{c}").as_bytes()).to_bytes());
        serde_json::json!({"id_token": format!("{h}.{c}.{s}")}).to_string()
    };
    let (st, _, body) = call(
        &a,
        "POST",
        oidc_path,
        &alice,
        &id_token("alice@a.example", "other"),
    );
    assert_eq!(st, 422, "{body}");
    let (st, _, body) = call(
        &a,
        "POST",
        oidc_path,
        &alice,
        &id_token("mallory@a.example", "registrar-a"),
    );
    assert_eq!(st, 422, "{body}");
    let (st, _, body) = call(
        &a,
        "POST",
        oidc_path,
        &alice,
        &id_token("alice@a.example", "registrar-a"),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(json(&body)["email"], "alice@a.example");
    // Federation latency and failures per peer, and the domain cache, are in the metrics.
    let (st, metrics) = a.http("GET", "/metrics");
    assert_eq!(st, 200);
    for want in [
        "registrar_federation_seconds",
        "registrar_federation_failures_total{peer=\"d\"}",
        "registrar_directory_cache_misses_total{cache=\"domain\"}",
        "registrar_directory_cache_hits_total{cache=\"domain\"}",
        "registrar_directory_discovery_seconds",
    ] {
        assert!(metrics.contains(want), "{want} missing: {metrics}");
    }
    let (_, metrics) = c.http("GET", "/metrics");
    assert!(
        metrics.contains("registrar_federation_refused_total{peer=\"a\"}"),
        "{metrics}"
    );
    // No ID token or signature ever reaches the logs.
    for s in [&a, &b, &c] {
        let log = s.log();
        assert!(!log.contains("eyJ") && !log.contains("fed=:"), "{log}");
    }
}

fn send_raw(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(bytes).unwrap();
    String::from_utf8_lossy(&read_http(&mut s)).into_owned()
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
