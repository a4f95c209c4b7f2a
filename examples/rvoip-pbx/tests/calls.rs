//! Real phones (baresip) calling each other through the PBX, and a third one watching presence on the presence
//! port; REGISTER edge cases over a plain UDP socket. Every test starts its own PBX and phones on loopback.
//!
//! Needs `baresip` (Debian `baresip-core`): under `CI=true` a missing baresip fails the test, elsewhere it is
//! skipped with a message.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const DOMAIN: &str = "pbx.test";

fn require_baresip() -> bool {
    let found = Command::new("baresip")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "baresip is not installed (apt-get install baresip-core)"
        );
        eprintln!("SKIPPED: baresip is not installed (apt-get install baresip-core)");
    }
    found
}

/// A UDP and TCP port nobody uses now, with its neighbour free too (baresip binds TLS on its SIP port + 1).
fn free_port() -> u16 {
    loop {
        let p = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p < u16::MAX
            && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok()
            && UdpSocket::bind(("127.0.0.1", p + 1)).is_ok()
        {
            return p;
        }
    }
}

/// Media port ranges, one per PBX started by this process.
fn media_ports() -> (u16, u16) {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let first = 40_000 + n * 200;
    (first, first + 199)
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU16 = AtomicU16::new(0);
        let p = std::env::temp_dir().join(format!(
            "rvoip-pbx-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Pbx {
    child: Child,
    sip: u16,
    presence: u16,
    dir: TempDir,
}

impl Pbx {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// A PBX with more command-line arguments.
    fn start_with(extra: &[&str]) -> Self {
        let dir = TempDir::new("pbx");
        let (sip, presence) = (free_port(), free_port());
        let (first, last) = media_ports();
        let log = std::fs::File::create(dir.0.join("pbx.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rvoip-pbx"))
            .args(["--sip", &format!("127.0.0.1:{sip}")])
            .args(["--presence", &format!("127.0.0.1:{presence}")])
            .args(["--domain", DOMAIN])
            .args(["--media-ports", &format!("{first}-{last}")])
            .args(["--ring-timeout", "20"])
            .args(extra)
            .env(
                "RUST_LOG",
                "info,rvoip_sip=warn,rvoip_sip_dialog=warn,rvoip_sip_transport=warn,rvoip_media_core=warn,rvoip_rtp_core=warn",
            )
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start rvoip-pbx");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("ready "),
            "rvoip-pbx did not start: {line}"
        );
        Self {
            child,
            sip,
            presence,
            dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("pbx.log")).unwrap_or_default()
    }
}

impl Drop for Pbx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A short tone in the only rate PCMU carries (baresip's file source must match the codec's rate).
fn tone(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("tone.wav");
    let samples: Vec<u8> = (0..8_000 * 30)
        .flat_map(|i| {
            let v = (6_000.0 * (2.0 * std::f64::consts::PI * 440.0 * f64::from(i) / 8_000.0).sin())
                as i16;
            v.to_le_bytes()
        })
        .collect();
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8_000u32.to_le_bytes());
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    std::fs::write(&path, wav).unwrap();
    path
}

struct Phone {
    child: Child,
    ctrl: u16,
    dir: TempDir,
}

impl Phone {
    /// A phone for `user@pbx.test` whose requests go to `port` (the PBX's SIP port, or its presence port),
    /// answering calls by itself with `auto`, watching `buddies`.
    fn start(user: &str, port: u16, auto: bool, buddies: &[&str]) -> Self {
        Self::start_with(user, port, auto, buddies, None)
    }

    /// [`Phone::start`] with a digest password.
    fn start_with(
        user: &str,
        port: u16,
        auto: bool,
        buddies: &[&str],
        password: Option<&str>,
    ) -> Self {
        let dir = TempDir::new(user);
        let (sip, ctrl) = (free_port(), free_port());
        let tone = tone(&dir.0);
        std::fs::write(
            dir.0.join("config"),
            format!(
                "poll_method epoll\nsip_listen 127.0.0.1:{sip}\nsip_transports udp\nnet_interface 127.0.0.1\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
                 audio_source aufile,{}\naudio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
                 module_app account.so\nmodule_app contact.so\nmodule_app menu.so\nmodule_app presence.so\n\
                 module ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n",
                tone.display()
            ),
        )
        .unwrap();
        let mode = if auto { "auto" } else { "manual" };
        std::fs::write(
            dir.0.join("accounts"),
            format!(
                "<sip:{user}@{DOMAIN}>;outbound=\"sip:127.0.0.1:{port}\";regint=600;pubint=0;answermode={mode}{}\n",
                password.map(|p| format!(";auth_pass={p}")).unwrap_or_default()
            ),
        )
        .unwrap();
        let contacts: String = buddies
            .iter()
            .map(|b| format!("\"{b}\" <sip:{b}@{DOMAIN}>;presence=p2p\n"))
            .collect();
        std::fs::write(dir.0.join("contacts"), contacts).unwrap();
        let log = std::fs::File::create(dir.0.join("baresip.log")).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&dir.0)
            .arg("-s")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start baresip");
        Self { child, ctrl, dir }
    }

    /// One ctrl_tcp command (netstring JSON); the response.
    fn command(&self, cmd: &str, params: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = loop {
            match TcpStream::connect(("127.0.0.1", self.ctrl)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "baresip ctrl_tcp: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        let body = format!("{{\"command\":\"{cmd}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        write!(s, "{}:{body},", body.len()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        // Events arrive on the same connection: read until the response to this command.
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data);
            if text.contains("\"response\":true") && text.ends_with(',') {
                break;
            }
        }
        String::from_utf8_lossy(&data).to_string()
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(self.dir.0.join("baresip.log")).unwrap_or_default())
            .replace('\0', "")
    }

    fn registered(&self) -> bool {
        self.log()
            .contains("200 OK (registrar-rvoip-pbx) [1 binding]")
            || self
                .log()
                .contains("200 OK (registrar-rvoip-pbx) [2 bindings]")
    }

    /// The state of its only call, as `listcalls` shows it (`None` without a call).
    fn call(&self) -> Option<String> {
        let out = self.command("listcalls", "");
        ["ESTABLISHED", "INCOMING", "OUTGOING", "RINGING", "EARLY"]
            .into_iter()
            .find(|s| out.contains(s))
            .map(str::to_owned)
    }

    /// How it shows `buddy` in its contact list (Online, Busy, Offline, Unknown).
    fn sees(&self, buddy: &str) -> String {
        let out = self.command("contacts", "");
        out.split("\\n")
            .find(|l| l.contains(&format!("<sip:{buddy}@{DOMAIN}>")))
            .map(|l| {
                ["Online", "Busy", "Offline", "Unknown"]
                    .into_iter()
                    .find(|s| l.contains(s))
                    .unwrap_or("?")
                    .to_owned()
            })
            .unwrap_or_default()
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A BLF lamp: a raw SUBSCRIBE (`Event: dialog`) to the presence port, answering every NOTIFY with 200.
struct Lamp {
    sock: UdpSocket,
}

impl Lamp {
    fn watch(presence: u16, user: &str) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = sock.local_addr().unwrap();
        let msg = format!(
            "SUBSCRIBE sip:{user}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-lamp-{user};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:lamp@{DOMAIN}>;tag=lamp\r\nTo: <sip:{user}@{DOMAIN}>\r\n\
             Call-ID: lamp-{user}-{}\r\nCSeq: 1 SUBSCRIBE\r\nContact: <sip:lamp@{local}>\r\nEvent: dialog\r\n\
             Accept: application/dialog-info+xml\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n",
            std::process::id()
        );
        sock.send_to(msg.as_bytes(), ("127.0.0.1", presence))
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Self { sock }
    }

    /// Read NOTIFYs (answering each) until one's body satisfies `want`, for at most 30 s.
    fn until(
        &self,
        what: &str,
        want: impl Fn(&str) -> bool,
        context: impl Fn() -> String,
    ) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 65_536];
        let mut seen = Vec::new();
        loop {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the lamp to show {what}; NOTIFYs:\n{}\n{}",
                seen.join("\n----\n"),
                context()
            );
            let Ok((n, from)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if !text.starts_with("NOTIFY ") {
                continue;
            }
            let head = text.split("\r\n\r\n").next().unwrap_or("");
            let copied: String = head
                .lines()
                .filter(|l| {
                    let n = l
                        .split(':')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    matches!(
                        n.as_str(),
                        "via" | "v" | "from" | "f" | "to" | "t" | "call-id" | "i" | "cseq"
                    )
                })
                .map(|l| format!("{l}\r\n"))
                .collect();
            let ok = format!("SIP/2.0 200 OK\r\n{copied}Content-Length: 0\r\n\r\n");
            self.sock.send_to(ok.as_bytes(), from).unwrap();
            let body = text
                .split_once("\r\n\r\n")
                .map_or("", |(_, b)| b)
                .to_owned();
            if want(&body) {
                return body;
            }
            seen.push(body);
        }
    }
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A calls B, B answers, the call is established and hung up; C, watching B on the presence port, sees B
/// available, on the phone during the call, and available again; a BLF lamp on A's line (`Event: dialog` on the
/// presence port) shows A's call confirmed, as initiator, to B, then the line idle.
#[test]
fn a_call_shows_on_the_phone_to_a_watcher_and_ends() {
    if !require_baresip() {
        return;
    }
    let pbx = Pbx::start();
    let b = Phone::start("b", pbx.sip, true, &[]);
    let a = Phone::start("a", pbx.sip, false, &[]);
    let c = Phone::start("c", pbx.presence, false, &["b"]);
    let ctx = || {
        format!(
            "pbx:\n{}\na:\n{}\nb:\n{}\nc:\n{}",
            pbx.log(),
            a.log(),
            b.log(),
            c.log()
        )
    };
    wait_for(
        "a and b to register through rvoip",
        || a.registered() && b.registered(),
        ctx,
    );
    wait_for("c to see b available", || c.sees("b") == "Online", ctx);
    // A BLF lamp on the caller's line: idle first.
    let lamp = Lamp::watch(pbx.presence, "a");
    lamp.until("a's idle line", |b| b.contains("<dialog-info"), ctx);

    a.command("dial", &format!("sip:b@{DOMAIN}"));
    wait_for(
        "the call to be established on both phones",
        || a.call().as_deref() == Some("ESTABLISHED") && b.call().as_deref() == Some("ESTABLISHED"),
        ctx,
    );
    // B rang (its 180 went to the PBX) and answered; the caller's 200 came from the PBX once B answered.
    let b_log = b.log();
    let rang = b_log.find("SIP/2.0 180 Ringing");
    assert!(
        rang.is_some_and(|at| b_log[at..].contains("SIP/2.0 200 ")),
        "b did not ring, then answer:\n{b_log}"
    );
    wait_for("c to see b on the phone", || c.sees("b") == "Busy", ctx);
    let busy = lamp.until("a's call confirmed", |b| b.contains("confirmed"), ctx);
    assert!(busy.contains("direction=\"initiator\""), "{busy}");
    assert!(
        busy.contains("sip:b@pbx.test"),
        "the lamp names the callee: {busy}"
    );

    a.command("hangup", "");
    wait_for(
        "both phones to be idle",
        || a.call().is_none() && b.call().is_none(),
        ctx,
    );
    lamp.until(
        "a's line idle again",
        |b| b.contains("<dialog-info") && !b.contains("<dialog "),
        ctx,
    );
    wait_for(
        "c to see b available again",
        || c.sees("b") == "Online",
        ctx,
    );
    assert!(
        pbx.log().contains("call ended by the caller"),
        "{}",
        pbx.log()
    );
}

/// Nobody is registered as `nobody`: 480. A user of another domain is not the PBX's: 404.
#[test]
fn a_call_to_an_unregistered_user_gets_480() {
    if !require_baresip() {
        return;
    }
    let pbx = Pbx::start();
    let a = Phone::start("a", pbx.sip, false, &[]);
    let ctx = || format!("pbx:\n{}\na:\n{}", pbx.log(), a.log());
    wait_for("a to register", || a.registered(), ctx);
    a.command("dial", &format!("sip:nobody@{DOMAIN}"));
    wait_for(
        "a 480",
        || a.log().contains("SIP/2.0 480 Temporarily Unavailable"),
        ctx,
    );
    wait_for("a to be idle", || a.call().is_none(), ctx);
    a.command("dial", "sip:b@elsewhere.test");
    wait_for("a 404", || a.log().contains("SIP/2.0 404"), ctx);
}

/// B has two phones registered (equal q): a call rings both; the one that answers gets the call, the other
/// stops ringing.
#[test]
fn a_call_to_a_user_with_two_devices_rings_both() {
    if !require_baresip() {
        return;
    }
    let pbx = Pbx::start();
    let desk = Phone::start("b", pbx.sip, false, &[]);
    let mobile = Phone::start("b", pbx.sip, false, &[]);
    let a = Phone::start("a", pbx.sip, false, &[]);
    let ctx = || {
        format!(
            "pbx:\n{}\na:\n{}\ndesk:\n{}\nmobile:\n{}",
            pbx.log(),
            a.log(),
            desk.log(),
            mobile.log()
        )
    };
    wait_for(
        "three registrations",
        || a.registered() && desk.registered() && mobile.registered(),
        ctx,
    );
    a.command("dial", &format!("sip:b@{DOMAIN}"));
    wait_for(
        "both of b's phones to ring",
        || {
            desk.call().as_deref() == Some("INCOMING")
                && mobile.call().as_deref() == Some("INCOMING")
        },
        ctx,
    );
    mobile.command("accept", "");
    wait_for(
        "a and the mobile to be connected, the desk phone to stop ringing",
        || {
            a.call().as_deref() == Some("ESTABLISHED")
                && mobile.call().as_deref() == Some("ESTABLISHED")
                && desk.call().is_none()
        },
        ctx,
    );
    assert!(desk.log().contains("CANCEL sip:"), "{}", desk.log());
    mobile.command("hangup", "");
    wait_for("a to be idle", || a.call().is_none(), ctx);
    assert!(
        pbx.log().contains("call ended by the callee"),
        "{}",
        pbx.log()
    );
}

fn register(sock: &UdpSocket, pbx: u16, cseq: u32, contact: &str, expires: Option<u32>) -> String {
    static BRANCH: AtomicU16 = AtomicU16::new(0);
    let branch = BRANCH.fetch_add(1, Ordering::Relaxed);
    let local = sock.local_addr().unwrap();
    let expires = expires
        .map(|e| format!("Expires: {e}\r\n"))
        .unwrap_or_default();
    let msg = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{branch}-{};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:d@{DOMAIN}>;tag=t1\r\nTo: <sip:d@{DOMAIN}>\r\nCall-ID: raw-{}\r\n\
         CSeq: {cseq} REGISTER\r\nContact: {contact}\r\n{expires}Content-Length: 0\r\n\r\n",
        std::process::id(),
        std::process::id()
    );
    sock.send_to(msg.as_bytes(), ("127.0.0.1", pbx)).unwrap();
    let mut buf = [0u8; 4096];
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    loop {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer to the REGISTER");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        // Skip 100 Trying and retransmitted answers of earlier requests.
        if !text.starts_with("SIP/2.0 1") && text.contains(&format!("CSeq: {cseq} REGISTER")) {
            return text;
        }
    }
}

/// RFC 3261 §10.3 through rvoip: every Contact of a REGISTER is bound and listed with its own expiry, a too
/// brief interval gets 423 with Min-Expires, `*` removes them all.
#[test]
fn register_rules_hold_through_rvoip() {
    let pbx = Pbx::start();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = register(
        &sock,
        pbx.sip,
        5,
        "<sip:d@127.0.0.1:7001>;expires=600, <sip:d@127.0.0.1:7002>;q=0.5",
        Some(300),
    );
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(r.contains("<sip:d@127.0.0.1:7001>;expires=600"), "{r}");
    assert!(
        r.contains("<sip:d@127.0.0.1:7002>;expires=300;q=0.5"),
        "{r}"
    );

    let r = register(&sock, pbx.sip, 6, "<sip:d@127.0.0.1:7003>", Some(5));
    assert!(r.starts_with("SIP/2.0 423"), "{r}");
    assert!(r.contains("Min-Expires: "), "{r}");

    // An older CSeq of the same Call-ID is refused and changes nothing (RFC 3261 §10.3 step 7).
    let r = register(&sock, pbx.sip, 4, "<sip:d@127.0.0.1:7001>", Some(0));
    assert!(r.starts_with("SIP/2.0 500"), "{r}");

    let r = register(&sock, pbx.sip, 7, "*", Some(0));
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(
        !r.contains("7001>;expires=") && !r.contains("7002>;expires="),
        "{r}"
    );
    assert!(!pbx.log().contains("panicked"), "{}", pbx.log());
}

/// With `--users`, REGISTER is authenticated through rvoip: a REGISTER without credentials gets the
/// registrar's 401 with both of its challenges (SHA-256, then MD5); a phone with its password registers where
/// MD5 is offered first (baresip 1.0 reads only the first challenge and knows only MD5).
#[test]
fn registration_is_authenticated_with_users() {
    if !require_baresip() {
        return;
    }
    let dir = TempDir::new("users");
    let users = dir.0.join("users.txt");
    std::fs::write(&users, "# user:password\na:secret-a\n").unwrap();
    let pbx = Pbx::start_with(&["--users", users.to_str().unwrap()]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let r = register(&sock, pbx.sip, 1, "<sip:d@127.0.0.1:7001>", Some(300));
    assert!(r.starts_with("SIP/2.0 401"), "{r}");
    let sha = r.find("algorithm=SHA-256").expect("a SHA-256 challenge");
    let md5 = r.find("algorithm=MD5").expect("an MD5 challenge");
    assert!(sha < md5, "{r}");
    assert!(r.contains(&format!("realm=\"{DOMAIN}\"")), "{r}");

    drop(pbx);
    let pbx = Pbx::start_with(&[
        "--users",
        users.to_str().unwrap(),
        "--auth-algorithms",
        "MD5",
    ]);
    let a = Phone::start_with("a", pbx.sip, false, &[], Some("secret-a"));
    wait_for(
        "a to register with its password",
        || a.registered(),
        || format!("pbx:\n{}\na:\n{}", pbx.log(), a.log()),
    );
    assert!(a.log().contains("SIP/2.0 401"), "a was challenged first");
}
