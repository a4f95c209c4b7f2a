//! A browser phone over WSS (RFC 7118): SIP.js (`tests/browser/phone.js`, bundled by `npm run bundle`) in
//! headless Chromium registers with an `.invalid` contact and outbound, publishes its presence, and watches a
//! buddy who publishes over UDP; when its NOTIFY shows the buddy's note, the page publishes again saying so,
//! which is read back here through the HTTP API. Closing the browser ends its binding with its flow.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Options, Server, TempDir, require, skipped, status_of};

struct Browser {
    child: Child,
    dir: TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("chromium.log")).unwrap_or_default()
    }
}

fn bundle() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dist/phone.js")
}

fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_browser_phone_registers_publishes_and_watches_over_wss() {
    if !require("chromium") {
        return;
    }
    if !bundle().exists() {
        skipped(
            "the browser phone test",
            "tests/browser/dist/phone.js is not built (cd crates/registrar-server/tests/browser && npm ci && npm run bundle)",
        );
        return;
    }
    let s = Server::start_with(
        &Options {
            listeners: vec!["wss"],
            ..Options::default()
        },
        "",
        "[presence]\ndefault_watcher_policy = \"allow\"\n",
    );
    // The buddy is at its desk, publishing over UDP.
    let pidf = "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:buddy@example.com\">\
                <tuple id=\"d\"><status><basic>open</basic></status><note>buddy-at-desk</note></tuple></presence>";
    let publish = format!(
        "PUBLISH sip:buddy@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbrowserbuddy;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:buddy@example.com>;tag=bb\r\nTo: <sip:buddy@example.com>\r\n\
         Call-ID: browser-buddy\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n\
         Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{pidf}",
        pidf.len()
    );
    let r = s.udp(publish.as_bytes(), Duration::from_secs(5)).unwrap();
    assert_eq!(status_of(&r), 200, "{r}");

    let dir = TempDir::new("browser");
    let page = dir.0.join("phone.html");
    std::fs::write(
        &page,
        format!(
            "<!doctype html><title>starting</title><script src=\"file://{}\"></script>",
            bundle().display()
        ),
    )
    .unwrap();
    let url = format!(
        "file://{}?wss=wss://{}&user=web&buddy=buddy&domain=example.com",
        page.display(),
        s.listener("wss")
    );
    let log = std::fs::File::create(dir.0.join("chromium.log")).unwrap();
    let child = Command::new("chromium")
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            // The test certificate is self-signed; a real deployment has one the browser trusts.
            "--ignore-certificate-errors",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.0.join("profile").display()
        ))
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start chromium");
    let browser = Browser { child, dir };
    let ctx = || format!("chromium:\n{}\nserver:\n{}", browser.log(), s.log());

    wait_for(
        "the browser to register over WSS",
        30,
        || {
            let (_, b) = s.http("GET", "/v1/registrations/web@example.com");
            b.contains("\"WSS\"") && b.contains(".invalid")
        },
        ctx,
    );
    let (_, b) = s.http("GET", "/v1/registrations/web@example.com");
    assert!(b.contains("reg_id"), "an outbound registration: {b}");
    // Its own publication, then the one it makes when the buddy's NOTIFY reached it over the WebSocket.
    wait_for(
        "the browser to publish what its NOTIFY said",
        30,
        || {
            let (_, p) = s.http("GET", "/v1/presence/sip:web@example.com");
            p.contains("saw buddy-at-desk")
        },
        ctx,
    );
    let (_, subs) = s.http("GET", "/v1/subscriptions?presentity=sip:buddy@example.com");
    assert!(subs.contains("sip:web@example.com"), "{subs}");

    // The browser goes away: the binding ends with its flow.
    drop(browser);
    wait_for(
        "the browser's binding to end with its connection",
        15,
        || {
            !s.http("GET", "/v1/registrations/web@example.com")
                .1
                .contains(".invalid")
        },
        || s.log(),
    );
}
