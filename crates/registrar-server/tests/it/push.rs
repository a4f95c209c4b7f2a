//! Push notifications (RFC 8599) end to end: the server configured for APNs, pushing through the local push
//! service of registrar-push (HTTP/2 over TLS, which checks the provider token it receives); sipp as the
//! phone app that registers with its device token, and registers again when its push arrives.

use std::path::PathBuf;
use std::time::Duration;

use registrar_push::local::{LocalConfig, LocalPushService, Received};
use registrar_types::PushProvider;

use crate::sipp::sipp;
use crate::support::{Server, fixtures, require};

fn push_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-push/tests/fixtures")
        .join(name)
}

/// The local APNs service (on a runtime of its own, kept alive with it) and a server pushing through it.
fn setup() -> (tokio::runtime::Runtime, LocalPushService, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let key = push_fixture("AuthKey_LOCALKEY01.p8");
    let mut cfg = LocalConfig::default();
    cfg.cert_file = fixtures().join("tls/cert.pem").display().to_string();
    cfg.key_file = fixtures().join("tls/key.pem").display().to_string();
    cfg.apns = Some((
        "TEAM123456".into(),
        "LOCALKEY01".into(),
        std::fs::read(&key).unwrap(),
    ));
    let local = rt.block_on(LocalPushService::start(cfg)).unwrap();
    let server = Server::start(
        "domains = [\"example.com\"]",
        &format!(
            "[push]\ndefault_wait_ms = 15000\n\n[push.apns]\nurl = \"{}\"\nteam_id = \"TEAM123456\"\nkey_id = \"LOCALKEY01\"\nkey_file = \"{}\"\nca_file = \"{}\"\n",
            local.url(),
            key.display(),
            fixtures().join("tls/cert.pem").display()
        ),
    );
    (rt, local, server)
}

/// RFC 8599 §5.3: Feature-Caps, 555 and 400 as sipp sees them; the binding's push parameters in the API.
#[test]
fn rfc8599_5_3_register_with_push_parameters() {
    if !require("sipp") {
        return;
    }
    let (_rt, _local, server) = setup();
    sipp(&server, "push-register", "u1", &[]);
    let (status, body) = server.http("GET", "/v1/registrations/sip:alice@example.com");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let push = &v["bindings"][0]["push"];
    assert_eq!(push["provider"], "apns", "{body}");
    assert_eq!(push["param"], "TEAM123456.com.example.phone.voip");
    assert_eq!(push["pnsreg"], false);
    let (_, body) = server.http("GET", "/v1/registrations/sip:bob@example.com");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["bindings"][0]["push"]["pnsreg"], true, "{body}");
}

/// RFC 8599 §5.6.2: a wake-up pushes the sleeping phone through APNs, the phone registers again, and the
/// wake-up returns its binding with the time it took.
#[test]
fn rfc8599_5_6_wake_pushes_and_waits_for_the_register() {
    if !require("sipp") {
        return;
    }
    let (rt, local, server) = setup();
    sipp(&server, "push-wake-register", "u1", &[]);
    let mut pushes = local.watch();
    let (status, body) = std::thread::scope(|s| {
        let wake = s.spawn(|| server.http("POST", "/v1/registrations/sip:erin@example.com/wake"));
        // The phone app: when its push arrives, it registers again.
        let got: Received = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(15), pushes.recv()).await })
            .expect("a push within 15 s")
            .unwrap();
        assert_eq!(got.provider, PushProvider::Apns);
        assert_eq!(got.verdict, Ok(()), "the provider token was accepted");
        assert_eq!(got.headers["apns-push-type"], "voip");
        assert_eq!(got.payload.as_ref().unwrap()["type"], "wake");
        sipp(&server, "push-wake-register", "u1", &[]);
        wake.join().unwrap()
    });
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["pushed"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(v["woken"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(v["bindings"].as_array().unwrap().len(), 1, "{body}");
    assert!(v["timed_out"].as_array().unwrap().is_empty(), "{body}");
    let (_, metrics) = server.http("GET", "/metrics");
    assert!(
        metrics.contains("registrar_push_sent_total{provider=\"apns\",kind=\"wake\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("registrar_push_wake_seconds"), "{metrics}");
}

/// A device that does not register in time is left out, and a device token APNs says is gone loses its push
/// parameters (it is not pushed again).
#[test]
fn rfc8599_wake_timeout_and_a_gone_device() {
    if !require("sipp") {
        return;
    }
    let (_rt, local, server) = setup();
    sipp(&server, "push-wake-register", "u1", &[]);
    let (status, body) = server.http(
        "POST",
        "/v1/registrations/sip:erin@example.com/wake?wait_ms=300",
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["timed_out"].as_array().unwrap().len(), 1, "{body}");
    assert!(v["bindings"].as_array().unwrap().is_empty(), "{body}");
    local.script(
        "6c1f0a2b9e3d4c5b6a7980f1e2d3c4b5a69788f0e1d2c3b4a5968778695a4b3c",
        registrar_push::local::Scripted::Gone,
    );
    let (_, body) = server.http(
        "POST",
        "/v1/registrations/sip:erin@example.com/wake?wait_ms=3000",
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["failed"][0]["reason"], "unregistered", "{body}");
    let (_, body) = server.http("GET", "/v1/registrations/sip:erin@example.com");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["bindings"][0]["push"].is_null(), "{body}");
}
