//! The desk-phone packages through the HTTP API and `registrar ctl`: a PBX's dialog PUBLISH read back with
//! `GET /v1/dialogs` and `ctl dialogs`; a voicemail system's counts set with `ctl mwi --voice` and read with
//! `GET /v1/mwi`; bad bodies answered 400 with a JSON message.

use std::process::Command;
use std::time::Duration;

use crate::support::{Server, bin};

fn ctl(s: &Server, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .args(["ctl", "--http", &s.http.to_string()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn dialogs_and_mwi_over_http_and_ctl() {
    let s = Server::start("domains = [\"example.com\"]", "");
    let body = r#"<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:gina@example.com"><dialog id="d7" call-id="c7@pbx" local-tag="l7" remote-tag="r7" direction="initiator"><state>confirmed</state><remote><identity>sip:frank@example.com</identity></remote></dialog></dialog-info>"#;
    let publish = format!(
        "PUBLISH sip:gina@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKdlg1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:pbx@example.com>;tag=p1\r\nTo: <sip:gina@example.com>\r\nCall-ID: dlg-pub-1\r\n\
         CSeq: 1 PUBLISH\r\nEvent: dialog\r\nExpires: 600\r\nContent-Type: application/dialog-info+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = s
        .udp(publish.as_bytes(), Duration::from_secs(5))
        .expect("an answer");
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");

    let (st, json) = s.http("GET", "/v1/dialogs/sip:gina@example.com");
    assert_eq!(st, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["entity"], "sip:gina@example.com");
    assert_eq!(v["dialogs"][0]["state"], "confirmed");
    assert_eq!(v["dialogs"][0]["call_id"], "c7@pbx");
    assert_eq!(v["dialogs"][0]["remote"], "sip:frank@example.com");
    assert!(v["xml"].as_str().unwrap().contains("version=\"0\""));
    let (ok, out) = ctl(&s, &["dialogs", "gina@example.com"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "d7 confirmed initiator sip:frank@example.com");
    let (ok, out) = ctl(&s, &["dialogs", "nobody@example.com"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "no dialog");

    // A voicemail system without SIP sets the counts; they read back the same.
    let (ok, out) = ctl(&s, &["mwi", "gina@example.com", "--voice", "2/5"]);
    assert!(ok, "{out}");
    assert!(out.contains("Voice-Message: 2/5"), "{out}");
    let (st, json) = s.http("GET", "/v1/mwi/sip:gina@example.com");
    assert_eq!(st, 200, "{json}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["messages_waiting"], true);
    assert_eq!(v["voice"]["new"], 2);
    assert_eq!(v["voice"]["old"], 5);
    let (ok, out) = ctl(&s, &["mwi", "gina@example.com", "--voice", "two"]);
    assert!(!ok && out.contains("NEW/OLD"), "{out}");

    // Bad bodies: 400 with a JSON message naming what is wrong, and nothing changes.
    for (bad, what) in [
        (r#"{"voice": {"new": -1}}"#, "body"),
        (
            r#"{"voice": {"new": 1, "old": 0}, "colour": "red"}"#,
            "colour",
        ),
        (
            r#"{"voice": {"new": 1, "old": 0, "urgent_new": 2}}"#,
            "urgent",
        ),
        ("not json", "body"),
    ] {
        let (st, json) = s
            .try_http(
                "PUT",
                "/v1/mwi/sip:gina@example.com",
                "application/json",
                bad,
            )
            .unwrap();
        assert_eq!(st, 400, "{bad}: {json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["error"].as_str().unwrap().contains(what), "{bad}: {json}");
    }
    let (_, json) = s.http("GET", "/v1/mwi/sip:gina@example.com");
    assert!(json.contains("\"new\":2"), "{json}");
    let (st, _) = s.http("GET", "/v1/dialogs/not%20an%20aor");
    assert_eq!(st, 400);
}
