//! `registrar pidf check` and `registrar pidf parse`, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn registrar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(args)
        .output()
        .unwrap()
}

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-pidf/tests/fixtures/conformance")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    files
}

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-pidf/tests/fixtures/conformance/valid")
        .join(name);
    p.to_string_lossy().into_owned()
}

#[test]
fn check_accepts_every_valid_document() {
    for f in corpus("valid") {
        let out = registrar(&["pidf", "check", f.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    }
}

#[test]
fn check_refuses_every_invalid_document_with_one_line() {
    for f in corpus("invalid") {
        let out = registrar(&["pidf", "check", f.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", f.display());
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.lines().count(), 1, "{}: {text:?}", f.display());
        assert!(!text.trim().is_empty());
    }
}

#[test]
fn unreadable_file_is_an_error_not_a_panic() {
    let out = registrar(&["pidf", "check", "/nonexistent/presence.xml"]);
    assert_eq!(out.status.code(), Some(1));
    let out = registrar(&["pidf", "parse", "/nonexistent/presence.xml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/presence.xml"));
    let out = registrar(&["pidf", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit 2");
}

#[test]
fn parse_invalid_prints_the_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-pidf/tests/fixtures/conformance/invalid");
    let out = registrar(&[
        "pidf",
        "parse",
        dir.join("bad-basic-invalid-value.xml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "presence/tuple[1]/status/basic: invalid value \"busy\", expected open or closed"
    );
}

fn parse_json(name: &str) -> serde_json::Value {
    let out = registrar(&["pidf", "parse", &fixture(name)]);
    assert!(
        out.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rfc3863_s4_2_2() {
    insta::assert_json_snapshot!(parse_json("rfc3863-s4.2.2-default-namespace.xml"));
}

#[test]
fn rfc4480_s4() {
    insta::assert_json_snapshot!(parse_json("rfc4480-s4-rpid-full-example.xml"));
}

#[test]
fn rfc3858_s5() {
    insta::assert_json_snapshot!(parse_json("rfc3858-s5-watcherinfo-full.xml"));
}

#[test]
fn rfc3680_s5_3() {
    insta::assert_json_snapshot!(parse_json("rfc3680-s5.3-reginfo-full.xml"));
}

#[test]
fn rfc4662_s5_1() {
    insta::assert_json_snapshot!(parse_json("rfc4662-s5.1-rlmi-example.xml"));
}

#[test]
fn rfc4482_rfc5196_examples_parse() {
    let cipid = parse_json("rfc4482-s4-cipid-with-rpid.xml");
    assert_eq!(cipid["kind"], "pidf");
    let caps = parse_json("rfc5196-s5-caps-servcaps-devcaps.xml");
    assert_eq!(
        caps["devices"][0]["deviceID"],
        "urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a"
    );
    assert_eq!(caps["tuples"][0]["basic"], "open");
}

#[test]
fn parse_reads_standard_input() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["pidf", "parse", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="1"><status><basic>closed</basic></status></tuple></presence>"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tuples"][0]["basic"], "closed");
}

/// RFC 3858 §4.1: a watcher's `xml:lang` is printed when present.
#[test]
fn watcher_language_is_printed() {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["pidf", "parse", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"><watcher-list resource="sip:a@b" package="presence"><watcher id="w1" status="pending" event="subscribe" xml:lang="de">sip:c@d</watcher></watcher-list></watcherinfo>"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["watcher_lists"][0]["watchers"][0]["lang"], "de", "{v}");
}

/// RFC 4235: a dialog-info document prints its dialogs.
#[test]
fn rfc4235_dialog_info() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-pidf/tests/fixtures/rfc/rfc4235-s4-two-dialogs.xml");
    let out = registrar(&["pidf", "parse", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    insta::assert_json_snapshot!(v);
}

/// RFC 3842: a message summary (plain text, not XML) is read too; a bad one is one line naming its line.
#[test]
fn rfc3842_message_summary() {
    let dir = std::env::temp_dir().join(format!("registrar-mwi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("summary.txt");
    std::fs::write(
        &good,
        "Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\nVoice-Message: 4/8 (1/2)\r\n",
    )
    .unwrap();
    let out = registrar(&["pidf", "parse", good.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "message-summary");
    assert_eq!(v["waiting"], true);
    assert_eq!(v["counts"][0]["class"], "Voice-Message");
    assert_eq!(v["counts"][0]["new"], 4);
    assert_eq!(v["counts"][0]["urgent_old"], 2);
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "Messages-Waiting: yes\nVoice-Message: four/8\n").unwrap();
    let out = registrar(&["pidf", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("message-summary: line 2:"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
