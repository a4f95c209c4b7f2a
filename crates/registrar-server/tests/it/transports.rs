//! SIP over TLS (RFC 3261 §26, RFC 5630) and over WebSocket (RFC 7118), outbound flows and keep-alives
//! (RFC 5626), STUN on the UDP port, certificate reloads, and the limits every listener keeps (slow, idle
//! and flooding clients), all over real sockets against the real binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::{Options, Server, TempDir, fixtures, status_of, tls_client};

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn tls(addr: SocketAddr) -> Tls {
    tls_with(addr, tls_client())
}

fn tls_with(addr: SocketAddr, client: rustls::ClientConnection) -> Tls {
    let mut s = rustls::StreamOwned::new(client, tcp(addr));
    s.flush().unwrap();
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).unwrap();
    }
    s
}

/// Wait up to `secs` for `check`, polling.
fn wait_until(what: &str, secs: u64, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One SIP message off a stream, framed by its Content-Length; `None` at the end of the stream.
fn read_sip<S: Read>(s: &mut S, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let msg: Vec<u8> = buf.drain(..end + 4 + len).collect();
                return Some(String::from_utf8_lossy(&msg).to_string());
            }
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Whether the server closed the stream (EOF or reset) within `secs`.
fn closed_within<S: Read>(s: &mut S, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut b = [0u8; 512];
    while Instant::now() < deadline {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

/// A REGISTER for `user`@example.com over `transport` with `contact` (a whole Contact value).
fn register(transport: &str, user: &str, call: &str, contact: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/{transport} client.invalid;branch=z9hG4bK{call};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag={call}\r\nTo: <sip:{user}@example.com>\r\n\
         Call-ID: {call}\r\nCSeq: 1 REGISTER\r\nContact: {contact}\r\nExpires: 600\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn outbound_contact(user: &str, host: &str, transport: &str, n: u32) -> String {
    format!(
        "<sip:{user}@{host};transport={transport}>;+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-{n:012}>\";reg-id=1"
    )
}

/// The bindings of `user`@example.com as the HTTP API shows them.
fn bindings(s: &Server, user: &str) -> String {
    s.http("GET", &format!("/v1/registrations/{user}@example.com"))
        .1
}

/// A 200 OK to a request the server sent us (a NOTIFY).
fn ok_to(req: &str) -> String {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for l in req.split("\r\n").take_while(|l| !l.is_empty()).skip(1) {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if matches!(name.as_str(), "via" | "from" | "to" | "call-id" | "cseq") {
            r.push_str(l);
            r.push_str("\r\n");
        }
    }
    r.push_str("Content-Length: 0\r\n\r\n");
    r
}

/// A counter of the server's metrics (summed over the label sets that contain `labels`).
fn metric(s: &Server, name: &str, labels: &str) -> f64 {
    let (_, text) = s.http("GET", "/metrics");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

mod rfc3261_26_tls {
    use super::*;

    #[test]
    fn outbound_over_tls_gets_a_flow_timer_keepalives_and_ends_with_its_connection() {
        let s = Server::start_with(
            &Options {
                listeners: vec!["tls"],
                ..Options::default()
            },
            "",
            "",
        );
        let mut c = tls(s.listener("tls"));
        let mut buf = Vec::new();
        let contact = outbound_contact("alice", "192.0.2.10:5061", "tls", 1);
        c.write_all(
            register("TLS", "alice", "tls-1", &contact, "Supported: outbound\r\n").as_bytes(),
        )
        .unwrap();
        let r = read_sip(&mut c, &mut buf).expect("an answer over TLS");
        assert_eq!(status_of(&r), 200, "{r}");
        assert!(r.contains("Flow-Timer: 120"), "{r}");
        assert!(r.contains("Require: outbound"), "{r}");
        let b = bindings(&s, "alice");
        assert!(b.contains("192.0.2.10") && b.contains("\"TLS\""), "{b}");

        // RFC 5626 §4.4.1: a double CRLF is answered with one.
        c.write_all(b"\r\n\r\n").unwrap();
        let mut pong = [0u8; 2];
        c.read_exact(&mut pong).unwrap();
        assert_eq!(&pong, b"\r\n");
        // Requests keep working over the same connection.
        c.write_all(crate::support::options("tlsopt").as_bytes())
            .unwrap();
        let r = read_sip(&mut c, &mut buf).unwrap();
        assert_eq!(status_of(&r), 200, "{r}");

        // RFC 5626 §5.2: the flow closes, its outbound binding ends.
        drop(c);
        wait_until("the binding to end with its flow", 10, || {
            !bindings(&s, "alice").contains("192.0.2.10")
        });
    }

    #[test]
    fn sips_addresses_are_registered_over_tls_only() {
        let s = Server::start_with(
            &Options {
                listeners: vec!["tls"],
                ..Options::default()
            },
            "",
            "",
        );
        let mut buf = Vec::new();
        let mut t = tcp(s.sip);
        t.write_all(register("TCP", "bob", "sips-tcp", "<sips:bob@192.0.2.11>", "").as_bytes())
            .unwrap();
        let r = read_sip(&mut t, &mut buf).unwrap();
        assert_eq!(status_of(&r), 403, "{r}");
        assert!(!bindings(&s, "bob").contains("192.0.2.11"));

        let mut c = tls(s.listener("tls"));
        let mut buf = Vec::new();
        c.write_all(register("TLS", "bob", "sips-tls", "<sips:bob@192.0.2.11>", "").as_bytes())
            .unwrap();
        let r = read_sip(&mut c, &mut buf).unwrap();
        assert_eq!(status_of(&r), 200, "{r}");
        assert!(bindings(&s, "bob").contains("sips:bob@192.0.2.11"));
    }

    #[test]
    fn a_handshake_not_finished_in_time_is_dropped_and_counted() {
        let s = Server::start_with(
            &Options {
                listeners: vec!["tls"],
                ..Options::default()
            },
            "tls_handshake_timeout_ms = 300",
            "",
        );
        let mut t = tcp(s.listener("tls"));
        assert!(closed_within(&mut t, 5), "the silent connection was kept");
        wait_until("the close to be counted", 5, || {
            metric(
                &s,
                "registrar_connections_closed_total",
                "reason=\"handshake\"",
            ) >= 1.0
        });
    }

    /// The certificate each new TLS connection is shown.
    fn served_certificate(addr: SocketAddr) -> Vec<u8> {
        let c = tls_with(
            addr,
            crate::support::tls_client_trusting(&["cert.pem", "cert2.pem"]),
        );
        c.conn.peer_certificates().unwrap()[0].as_ref().to_vec()
    }

    fn der(pem: &std::path::Path) -> Vec<u8> {
        use rustls::pki_types::pem::PemObject as _;
        rustls::pki_types::CertificateDer::from_pem_file(pem)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    #[test]
    fn the_certificate_is_reloaded_when_its_files_change_and_on_sighup() {
        let dir = TempDir::new("certs");
        let f = fixtures().join("tls");
        let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        std::fs::copy(f.join("cert.pem"), &cert).unwrap();
        std::fs::copy(f.join("key.pem"), &key).unwrap();
        let s = Server::start_with(
            &Options {
                listeners: vec!["tls"],
                ..Options::default()
            },
            &format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"",
                cert.display(),
                key.display()
            ),
            "",
        );
        let addr = s.listener("tls");
        let (first, second) = (der(&f.join("cert.pem")), der(&f.join("cert2.pem")));
        assert_eq!(served_certificate(addr), first);
        // Held open across the change: a connection keeps working with the certificate it started with.
        let mut held = tls(addr);

        // The files change: the new certificate serves new connections, without a restart.
        std::fs::copy(f.join("key2.pem"), &key).unwrap();
        std::fs::copy(f.join("cert2.pem"), &cert).unwrap();
        wait_until("the changed certificate to be served", 20, || {
            served_certificate(addr) == second
        });
        let mut buf = Vec::new();
        held.write_all(crate::support::options("held").as_bytes())
            .unwrap();
        assert_eq!(status_of(&read_sip(&mut held, &mut buf).unwrap()), 200);

        // A broken file is refused and the certificate in use stays.
        std::fs::write(&cert, "not a certificate").unwrap();
        s.signal("HUP");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(served_certificate(addr), second);
        assert!(s.alive_now());

        // SIGHUP loads the files again.
        std::fs::copy(f.join("key.pem"), &key).unwrap();
        std::fs::copy(f.join("cert.pem"), &cert).unwrap();
        s.signal("HUP");
        wait_until("the certificate to be reloaded on SIGHUP", 20, || {
            served_certificate(addr) == first
        });
    }
}

/// A minimal WebSocket client (RFC 6455): text frames, masked, over any stream.
struct Ws<S: Read + Write> {
    s: S,
}

impl<S: Read + Write> Ws<S> {
    /// Upgrade; the HTTP status and body when the server refuses.
    fn open(mut s: S, protocol: Option<&str>, origin: Option<&str>) -> Result<Self, (u16, String)> {
        let mut req = String::from(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        );
        if let Some(p) = protocol {
            req.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
        }
        if let Some(o) = origin {
            req.push_str(&format!("Origin: {o}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap_or(0) == 0 {
                break;
            }
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let status = status_of(&head);
        if status != 101 {
            return Err((status, head));
        }
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-protocol: sip"),
            "{head}"
        );
        Ok(Self { s })
    }

    fn send(&mut self, text: &str) {
        let p = text.as_bytes();
        let mut f = vec![0x81];
        match p.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65_536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x11, 0x22, 0x33, 0x44];
        f.extend_from_slice(&mask);
        f.extend(p.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.s.write_all(&f).unwrap();
    }

    /// The next text or binary message; `None` on close, end of stream or timeout.
    fn recv(&mut self) -> Option<String> {
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).ok()?;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut l = [0u8; 2];
                self.s.read_exact(&mut l).ok()?;
                len = u64::from(u16::from_be_bytes(l));
            } else if len == 127 {
                let mut l = [0u8; 8];
                self.s.read_exact(&mut l).ok()?;
                len = u64::from_be_bytes(l);
            }
            let mut p = vec![0u8; usize::try_from(len).ok()?];
            self.s.read_exact(&mut p).ok()?;
            match h[0] & 0x0f {
                1 | 2 => return Some(String::from_utf8_lossy(&p).to_string()),
                8 => return None,
                _ => {}
            }
        }
    }

    /// The next SIP message that is not a `what` we do not wait for: NOTIFYs are answered on the way.
    fn recv_until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            let m = self.recv().expect("a message over the WebSocket");
            if m.starts_with("NOTIFY ") {
                self.send(&ok_to(&m));
            }
            if pred(&m) {
                return m;
            }
        }
    }
}

mod rfc7118_websocket {
    use super::*;

    fn server() -> Server {
        Server::start_with(
            &Options {
                listeners: vec!["ws", "wss"],
                ..Options::default()
            },
            "ws_origins = [\"https://phone.example\"]",
            "[presence]\ndefault_watcher_policy = \"allow\"\n",
        )
    }

    #[test]
    fn an_upgrade_without_the_sip_subprotocol_or_from_another_origin_is_refused() {
        let s = server();
        let (st, _) = Ws::open(tcp(s.listener("ws")), None, None).err().unwrap();
        assert_eq!(st, 400);
        let (st, _) = Ws::open(tcp(s.listener("ws")), Some("chat"), None)
            .err()
            .unwrap();
        assert_eq!(st, 400);
        let (st, _) = Ws::open(
            tcp(s.listener("ws")),
            Some("sip"),
            Some("https://evil.example"),
        )
        .err()
        .unwrap();
        assert_eq!(st, 403);
        // A client that is no browser sends no Origin.
        assert!(Ws::open(tcp(s.listener("ws")), Some("sip"), None).is_ok());
        assert!(
            Ws::open(
                tls(s.listener("wss")),
                Some("sip"),
                Some("https://phone.example")
            )
            .is_ok()
        );
        // Plain HTTP on a WebSocket port is not the API.
        let mut t = tcp(s.listener("ws"));
        t.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
        let mut r = String::new();
        let _ = t.read_to_string(&mut r);
        assert_eq!(status_of(&r), 400, "{r}");
    }

    fn phone_registers_watches_and_is_notified_over_its_flow<S: Read + Write>(
        s: &Server,
        stream: S,
        transport: &str,
        user: &str,
    ) {
        let mut ws = Ws::open(stream, Some("sip"), Some("https://phone.example")).unwrap();
        let host = format!("{user}-browser.invalid");
        let contact = outbound_contact(user, &host, "ws", 7);
        ws.send(&register(
            transport,
            user,
            &format!("{user}-reg"),
            &contact,
            "Supported: path, outbound, gruu\r\n",
        ));
        let r = ws.recv_until(|m| m.starts_with("SIP/2.0"));
        assert_eq!(status_of(&r), 200, "{r}");
        assert!(
            r.contains("Flow-Timer:") && r.contains("Require: outbound"),
            "{r}"
        );
        let gruu = r
            .split("temp-gruu=\"")
            .nth(1)
            .and_then(|g| g.split('"').next())
            .expect("a temporary GRUU")
            .to_owned();
        let b = bindings(s, user);
        assert!(
            b.contains(&host) && b.contains(&format!("\"{transport}\"")),
            "{b}"
        );

        // The browser watches the presentity with its GRUU as Contact (RFC 5627 §5.1).
        let presentity = format!("{user}-buddy");
        ws.send(&format!(
            "SUBSCRIBE sip:{presentity}@example.com SIP/2.0\r\nVia: SIP/2.0/{transport} {host};branch=z9hG4bK{user}s1;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag={user}s\r\nTo: <sip:{presentity}@example.com>\r\n\
             Call-ID: {user}-sub\r\nCSeq: 1 SUBSCRIBE\r\nContact: <{gruu}>\r\nEvent: presence\r\n\
             Accept: application/pidf+xml\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n"
        ));
        let r = ws.recv_until(|m| m.starts_with("SIP/2.0"));
        assert!(matches!(status_of(&r), 200 | 202), "{r}");
        // The presentity publishes over UDP; the NOTIFY reaches the browser over its WebSocket.
        let pidf = format!(
            "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{presentity}@example.com\">\
             <tuple id=\"t1\"><status><basic>open</basic></status><note>at the desk</note></tuple></presence>"
        );
        let publish = format!(
            "PUBLISH sip:{presentity}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{user}p1;rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{presentity}@example.com>;tag={user}p\r\nTo: <sip:{presentity}@example.com>\r\n\
             Call-ID: {user}-pub\r\nCSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 600\r\n\
             Content-Type: application/pidf+xml\r\nContent-Length: {}\r\n\r\n{pidf}",
            pidf.len()
        );
        let r = s.udp(publish.as_bytes(), Duration::from_secs(5)).unwrap();
        assert_eq!(status_of(&r), 200, "{r}");
        let n = ws.recv_until(|m| m.starts_with("NOTIFY ") && m.contains("at the desk"));
        assert!(n.starts_with(&format!("NOTIFY {gruu} SIP/2.0")), "{n}");
        assert!(n.contains(&format!("Via: SIP/2.0/{transport} ")), "{n}");

        // The browser goes away: its binding ends with the flow (RFC 5626 §5.2).
        drop(ws);
        wait_until("the browser's binding to end", 10, || {
            !bindings(s, user).contains(&host)
        });
    }

    #[test]
    fn a_browser_phone_registers_watches_and_is_notified_over_ws_and_wss() {
        let s = server();
        phone_registers_watches_and_is_notified_over_its_flow(
            &s,
            tcp(s.listener("ws")),
            "WS",
            "carol",
        );
        phone_registers_watches_and_is_notified_over_its_flow(
            &s,
            tls(s.listener("wss")),
            "WSS",
            "dave",
        );
    }
}

mod rfc5626_keepalives {
    use super::*;

    #[test]
    fn a_stun_binding_request_on_the_udp_port_gets_the_mapped_address() {
        let s = Server::start("", "");
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x42];
        req.extend_from_slice(b"registrar-tx");
        sock.send_to(&req, s.sip).unwrap();
        let mut b = [0u8; 128];
        let (n, _) = sock.recv_from(&mut b).expect("a STUN answer");
        let r = &b[..n];
        assert_eq!(&r[0..2], &[0x01, 0x01], "a Binding success response");
        assert_eq!(&r[8..20], b"registrar-tx");
        let port = u16::from_be_bytes([r[26], r[27]]) ^ 0x2112;
        assert_eq!(port, sock.local_addr().unwrap().port());
        assert_eq!(&r[28..32], &[127 ^ 0x21, 0x12, 0xA4, 1 ^ 0x42]);
    }
}

mod nat_pings {
    use super::*;

    /// REGISTER `user` over UDP from `sock`, its own address as Contact.
    fn register_udp(s: &Server, sock: &std::net::UdpSocket, user: &str) {
        let me = sock.local_addr().unwrap();
        let r = format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKping{user};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@example.com>;tag={user}\r\nTo: <sip:{user}@example.com>\r\n\
             Call-ID: ping-{user}\r\nCSeq: 1 REGISTER\r\nContact: <sip:{user}@{me}>\r\nExpires: 600\r\n\
             Content-Length: 0\r\n\r\n"
        );
        sock.send_to(r.as_bytes(), s.sip).unwrap();
        let mut b = vec![0u8; 4096];
        loop {
            let (n, _) = sock.recv_from(&mut b).expect("the REGISTER's answer");
            let m = String::from_utf8_lossy(&b[..n]).to_string();
            if m.starts_with("SIP/2.0") && m.contains("REGISTER") {
                assert_eq!(status_of(&m), 200, "{m}");
                return;
            }
        }
    }

    #[test]
    fn a_device_that_stops_answering_options_pings_loses_its_binding() {
        let s = Server::start("nat_ping_interval_secs = 1\nnat_ping_failures = 2", "");
        let quiet = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let answering = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for sock in [&quiet, &answering] {
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        }
        register_udp(&s, &quiet, "quiet");
        register_udp(&s, &answering, "answering");
        assert!(bindings(&s, "quiet").contains("sip:quiet@127.0.0.1"));
        // The answering device answers every ping, until the test ends.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let phone = {
            let (stop, answered) = (stop.clone(), answered.clone());
            let sock = answering.try_clone().unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            std::thread::spawn(move || {
                let mut b = vec![0u8; 4096];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Ok((n, from)) = sock.recv_from(&mut b) {
                        let m = String::from_utf8_lossy(&b[..n]).to_string();
                        if m.starts_with("OPTIONS ") {
                            sock.send_to(ok_to(&m).as_bytes(), from).unwrap();
                            answered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        wait_until("the silent device's binding to end", 20, || {
            !bindings(&s, "quiet").contains("sip:quiet@127.0.0.1")
        });
        wait_until("pings answered", 10, || {
            answered.load(std::sync::atomic::Ordering::Relaxed) >= 3
        });
        assert!(
            bindings(&s, "answering").contains("sip:answering@127.0.0.1"),
            "the answering device keeps its binding"
        );
        assert!(metric(&s, "registrar_nat_pings_total", "") >= 3.0);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        phone.join().unwrap();
    }
}

mod limits {
    use super::*;

    #[test]
    fn slow_and_idle_connections_are_closed_and_counted() {
        let s = Server::start("message_timeout_ms = 300\nidle_timeout_secs = 1", "");
        let mut slow = tcp(s.sip);
        slow.write_all(
            b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKslow\r\n",
        )
        .unwrap();
        let mut idle = tcp(s.sip);
        assert!(closed_within(&mut slow, 5), "a half message was waited for");
        assert!(closed_within(&mut idle, 6), "an idle connection was kept");
        wait_until("the closes to be counted", 5, || {
            metric(&s, "registrar_connections_closed_total", "reason=\"slow\"") >= 1.0
                && metric(&s, "registrar_connections_closed_total", "reason=\"idle\"") >= 1.0
        });
    }

    /// A TCP connection from `source` (another loopback address stands for another client).
    fn connect_from(source: &str, to: SocketAddr) -> Option<TcpStream> {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        sock.bind(&SocketAddr::new(source.parse().unwrap(), 0).into())
            .ok()?;
        sock.connect_timeout(&to.into(), Duration::from_secs(2))
            .ok()?;
        let s: TcpStream = sock.into();
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        Some(s)
    }

    #[test]
    fn a_flood_from_one_address_past_the_file_limit_starves_no_one_else() {
        const FILES: u32 = 1_024;
        const FLOOD: usize = 1_500;
        // This process holds the flood's connections: raise its own limit (to its hard limit) for them.
        use rustix::process::{Resource, getrlimit, setrlimit};
        let mut l = getrlimit(Resource::Nofile);
        l.current = l.maximum;
        let _ = setrlimit(Resource::Nofile, l);
        let room = getrlimit(Resource::Nofile)
            .current
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        assert!(
            room > FLOOD + 200,
            "the test needs {} open files, the hard limit is {room}",
            FLOOD + 200
        );
        let s = Server::start_with(
            &Options {
                nofile: Some(FILES),
                ..Options::default()
            },
            "message_timeout_ms = 3000",
            "",
        );
        assert!(
            s.log().contains("connection limits"),
            "the chosen limits are logged: {}",
            s.log()
        );
        // One address opens more connections than the server has files, each with half a request, on
        // the SIP port and on the HTTP port.
        let mut flood = Vec::new();
        for i in 0..FLOOD {
            let to = if i % 5 == 4 { s.http } else { s.sip };
            if let Some(mut c) = connect_from("127.0.0.2", to) {
                let half: &[u8] = if to == s.sip {
                    b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.2;branch=z9hG4bKf\r\n"
                } else {
                    b"GET /health HTTP/1.1\r\nHost: x\r\n"
                };
                let _ = c.write_all(half);
                flood.push(c);
            }
        }
        // Meanwhile another address is served on every path.
        for round in 0..3 {
            assert_eq!(s.http("GET", "/health").0, 200, "round {round}: /health");
            let r = s
                .udp(
                    crate::support::options(&format!("fu{round}")).as_bytes(),
                    Duration::from_secs(5),
                )
                .expect("OPTIONS over UDP answered");
            assert_eq!(status_of(&r), 200);
            let mut t = connect_from("127.0.0.1", s.sip).expect("a TCP connection");
            t.write_all(crate::support::options(&format!("ft{round}")).as_bytes())
                .unwrap();
            let mut buf = Vec::new();
            let r = read_sip(&mut t, &mut buf).expect("OPTIONS over TCP answered");
            assert_eq!(status_of(&r), 200);
        }
        assert!(
            metric(
                &s,
                "registrar_connections_refused_total",
                "reason=\"per_source\""
            ) > 0.0,
            "the flood was refused past the per-source limit"
        );
        // The half requests are not waited for: every flood connection is closed by the server.
        let started = Instant::now();
        for c in &mut flood {
            c.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            assert!(
                closed_within(c, 15),
                "a flood connection is still open after {:?}",
                started.elapsed()
            );
        }
        assert!(
            metric(&s, "registrar_connections_closed_total", "reason=\"slow\"") >= 100.0,
            "slow connections counted"
        );
        assert_eq!(s.http("GET", "/health").0, 200);
    }
}
