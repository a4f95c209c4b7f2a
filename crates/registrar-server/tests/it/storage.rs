//! Embedded storage (the default mode) with the real binary: `kill -9` under load loses nothing that was
//! acknowledged, and what expired while the server was down does not come back.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Server, TempDir, status_of};

fn register(user: &str, tag: &str, expires: u32) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:{user}@example.com>;tag={tag}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {tag}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:5999>;expires={expires}\r\nContent-Length: 0\r\n\r\n"
    )
}

fn publish(user: &str, tag: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\"?><presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:{user}@example.com\">\
         <tuple id=\"t\"><status><basic>open</basic></status><note>note of {user}</note></tuple></presence>"
    );
    format!(
        "PUBLISH sip:{user}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:{user}@example.com>;tag={tag}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {tag}\r\n\
         CSeq: 1 PUBLISH\r\nEvent: presence\r\nExpires: 3600\r\nContent-Type: application/pidf+xml\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Send `msg` and wait for a final answer on `sock`.
fn transact(sock: &UdpSocket, to: std::net::SocketAddr, msg: &str) -> Option<u16> {
    sock.send_to(msg.as_bytes(), to).ok()?;
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let code = status_of(&String::from_utf8_lossy(&buf[..n]));
        if code >= 200 {
            return Some(code);
        }
    }
}

#[test]
fn kill_9_under_load_loses_nothing_acknowledged_and_expired_entries_stay_gone() {
    let data = TempDir::new("crash");
    let rest = format!(
        "[storage]\nmode = \"embedded\"\ndata_dir = \"{}\"\n\n[registrar]\nmin_expires = 1\n",
        data.0.join("db").display()
    );
    let mut s = Server::start("", &rest);

    // Bindings that expire while the server is down: acknowledged, but must not come back.
    let short_lived: Vec<String> = (0..20).map(|i| format!("short{i}")).collect();
    for u in &short_lived {
        let r = s.udp(
            register(u, &format!("{u}-r"), 2).as_bytes(),
            Duration::from_secs(2),
        );
        assert_eq!(r.as_deref().map(status_of), Some(200));
    }
    let short_registered = Instant::now();

    // Load: four clients registering and publishing new users until the server dies; each records what got
    // a 2xx. The kill comes at a moment chosen at random.
    let stop = Arc::new(AtomicBool::new(false));
    let registered = Arc::new(Mutex::new(Vec::new()));
    let published = Arc::new(Mutex::new(Vec::new()));
    let mut clients = Vec::new();
    for t in 0..4 {
        let (stop, registered, published) = (
            Arc::clone(&stop),
            Arc::clone(&registered),
            Arc::clone(&published),
        );
        let to = s.sip;
        clients.push(std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let user = format!("load{t}x{i}");
                match transact(&sock, to, &register(&user, &format!("{user}-r"), 3600)) {
                    Some(200) => registered.lock().unwrap().push(user.clone()),
                    Some(code) => panic!("REGISTER {user}: {code}"),
                    None => break,
                }
                if i % 4 == 0 {
                    match transact(&sock, to, &publish(&user, &format!("{user}-p"))) {
                        Some(200) => published.lock().unwrap().push(user.clone()),
                        Some(code) => panic!("PUBLISH {user}: {code}"),
                        None => break,
                    }
                }
                i += 1;
            }
        }));
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(Duration::from_millis(300 + u64::from(nanos % 700)));
    s.kill9();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let registered = registered.lock().unwrap().clone();
    let published = published.lock().unwrap().clone();
    assert!(
        registered.len() > 50,
        "only {} REGISTERs before the kill",
        registered.len()
    );

    // Let the short-lived bindings expire while the server is down, then start it on the same file.
    let since = short_registered.elapsed();
    if since < Duration::from_millis(2500) {
        std::thread::sleep(Duration::from_millis(2500) - since);
    }
    let s = Server::start("", &rest);

    for u in &registered {
        let (st, body) = s.http("GET", &format!("/v1/registrations/sip:{u}@example.com"));
        assert_eq!(st, 200);
        assert!(
            body.contains(&format!("\"contact\":\"sip:{u}@127.0.0.1:5999\"")),
            "acknowledged registration of {u} lost: {body}"
        );
    }
    for u in &published {
        let (st, body) = s.http("GET", &format!("/v1/presence/sip:{u}@example.com"));
        assert_eq!(st, 200);
        assert!(
            body.contains(&format!("note of {u}")),
            "acknowledged publication of {u} lost: {body}"
        );
    }
    for u in &short_lived {
        let (_, body) = s.http("GET", &format!("/v1/registrations/sip:{u}@example.com"));
        assert!(
            body.contains("\"bindings\":[]"),
            "{u} expired while down but came back: {body}"
        );
    }
    let log = s.log();
    assert!(log.contains("state loaded"), "{log}");
}

#[test]
fn memory_mode_keeps_nothing_and_a_newer_data_file_stops_start_up() {
    let data = TempDir::new("modes");
    let db = data.0.join("db");
    let embedded = format!("[storage]\ndata_dir = \"{}\"\n", db.display());
    {
        let s = Server::start("", &embedded);
        let r = s.udp(
            register("kept", "k1", 600).as_bytes(),
            Duration::from_secs(2),
        );
        assert_eq!(r.as_deref().map(status_of), Some(200));
    }
    {
        let memory = "[storage]\nmode = \"memory\"\n";
        let s = Server::start("", memory);
        let (_, body) = s.http("GET", "/v1/registrations/sip:kept@example.com");
        assert!(body.contains("\"bindings\":[]"), "{body}");
    }
    {
        let s = Server::start("", &embedded);
        let (_, body) = s.http("GET", "/v1/registrations/sip:kept@example.com");
        assert!(body.contains("sip:kept@127.0.0.1:5999"), "{body}");
    }
    // A file from a newer registrar: start-up stops with a clear message, exit status 2.
    registrar_storage::set_format_version(&db, registrar_storage::FORMAT_VERSION + 1).unwrap();
    let cfg = data.0.join("r.toml");
    std::fs::write(
        &cfg,
        format!(
            "{embedded}\n[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[http]\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("newer than this registrar understands"),
        "{err}"
    );
}
