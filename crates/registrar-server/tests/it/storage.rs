//! Embedded storage (the default mode) with the real binary: `kill -9` under load loses nothing that was
//! acknowledged, and what expired while the server was down does not come back.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Server, TempDir, status_of};

pub(crate) fn register(user: &str, tag: &str, expires: u32) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:{user}@example.com>;tag={tag}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {tag}\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:5999>;expires={expires}\r\nContent-Length: 0\r\n\r\n"
    )
}

pub(crate) fn publish(user: &str, tag: &str) -> String {
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

/// A SUBSCRIBE to `watcher`'s own buddy list (RFC 4662).
pub(crate) fn list_subscribe(watcher: &str, tag: &str, port: u16) -> String {
    format!(
        "SUBSCRIBE sip:{watcher}-buddies@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:{watcher}@example.com>;tag={tag}\r\nTo: <sip:{watcher}-buddies@example.com>\r\nCall-ID: {tag}\r\n\
         CSeq: 1 SUBSCRIBE\r\nContact: <sip:{watcher}@127.0.0.1:{port}>\r\nEvent: presence\r\nSupported: eventlist\r\n\
         Accept: application/pidf+xml, application/rlmi+xml, multipart/related\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
}

pub(crate) fn subscribe(watcher: &str, user: &str, tag: &str, port: u16, expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:{user}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\n\
         From: <sip:{watcher}@example.com>;tag={tag}\r\nTo: <sip:{user}@example.com>\r\nCall-ID: {tag}\r\n\
         CSeq: 1 SUBSCRIBE\r\nContact: <sip:{watcher}@127.0.0.1:{port}>\r\nEvent: presence\r\n\
         Expires: {expires}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A NOTIFY a watcher received: its Call-ID, CSeq number, body, and the server run it came from (0 before
/// the kill, 1 after).
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) body: String,
    pub(crate) run: u32,
}

/// What a watcher's socket saw: NOTIFYs, and the final answers to its SUBSCRIBEs by Call-ID.
#[derive(Default)]
pub(crate) struct WatcherLog {
    pub(crate) notifies: Mutex<Vec<Received>>,
    answers: Mutex<std::collections::HashMap<String, u16>>,
}

impl WatcherLog {
    /// Wait for the final answer to the SUBSCRIBE of `call_id`.
    pub(crate) fn answer(&self, call_id: &str) -> Option<u16> {
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if let Some(code) = self.answers.lock().unwrap().remove(call_id) {
                return Some(code);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    }
}

/// A watcher's UDP socket (SUBSCRIBEs leave from it, so NOTIFYs come to it) that answers every NOTIFY with
/// 200 and records it, until `stop`.
pub(crate) fn watcher_socket(
    run: Arc<std::sync::atomic::AtomicU32>,
    stop: Arc<AtomicBool>,
    log: Arc<WatcherLog>,
) -> (UdpSocket, std::thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let sender = sock.try_clone().unwrap();
    let h = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let header = |name: &str| {
                text.lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            if text.starts_with("SIP/2.0 ") {
                let code = status_of(&text);
                if code >= 200 {
                    log.answers.lock().unwrap().insert(header("Call-ID"), code);
                }
                continue;
            }
            if !text.starts_with("NOTIFY ") {
                continue;
            }
            let mut reply = String::from("SIP/2.0 200 OK\r\n");
            for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                reply.push_str(&format!("{name}: {}\r\n", header(name)));
            }
            reply.push_str("Content-Length: 0\r\n\r\n");
            let _ = sock.send_to(reply.as_bytes(), from);
            let cseq = header("CSeq")
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let body = text
                .split_once("\r\n\r\n")
                .map_or("", |(_, b)| b)
                .to_owned();
            log.notifies.lock().unwrap().push(Received {
                call_id: header("Call-ID"),
                cseq,
                body,
                run: run.load(Ordering::Relaxed),
            });
        }
    });
    (sender, h)
}

/// Send `msg` and wait for a final answer on `sock`.
pub(crate) fn transact(sock: &UdpSocket, to: std::net::SocketAddr, msg: &str) -> Option<u16> {
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
        "[storage]\nmode = \"embedded\"\ndata_dir = \"{}\"\n\n[registrar]\nmin_expires = 1\n\n\
         [presence]\nmin_expires = 1\n",
        data.0.join("db").display()
    );
    let mut s = Server::start("", &rest);

    // The watchers' sockets outlive the server: they receive NOTIFYs before the kill and after the restart.
    let run = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let watchers_stop = Arc::new(AtomicBool::new(false));
    let wlog = Arc::new(WatcherLog::default());
    let mut watcher_socks = Vec::new();
    let mut watcher_threads = Vec::new();
    for _ in 0..4 {
        let (sock, h) = watcher_socket(
            Arc::clone(&run),
            Arc::clone(&watchers_stop),
            Arc::clone(&wlog),
        );
        watcher_socks.push(sock);
        watcher_threads.push(h);
    }

    // A subscription that expires while the server is down: it must not be resumed.
    let port0 = watcher_socks[0].local_addr().unwrap().port();
    watcher_socks[0]
        .send_to(
            subscribe("w0", "short0", "short-sub", port0, 2).as_bytes(),
            s.sip,
        )
        .unwrap();
    assert_eq!(wlog.answer("short-sub"), Some(200));

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
    let subscribed = Arc::new(Mutex::new(Vec::new()));
    // What users set over HTTP: buddies added to the watchers' lists, decisions of the new users.
    let buddies = Arc::new(Mutex::new(Vec::new()));
    let decided = Arc::new(Mutex::new(Vec::new()));
    // A buddy list subscription (RFC 4662) of watcher w0, made before the load.
    let list_port = watcher_socks[0].local_addr().unwrap().port();
    watcher_socks[0]
        .send_to(
            list_subscribe("w0", "list-sub", list_port).as_bytes(),
            s.sip,
        )
        .unwrap();
    assert_eq!(wlog.answer("list-sub"), Some(200));
    let mut clients = Vec::new();
    for (t, wsock) in watcher_socks.iter().enumerate() {
        let (stop, registered, published, subscribed) = (
            Arc::clone(&stop),
            Arc::clone(&registered),
            Arc::clone(&published),
            Arc::clone(&subscribed),
        );
        let (buddies, decided) = (Arc::clone(&buddies), Arc::clone(&decided));
        let (to, http) = (s.sip, s.http);
        let (wsock, wlog) = (wsock.try_clone().unwrap(), Arc::clone(&wlog));
        let watcher_port = wsock.local_addr().unwrap().port();
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
                if i % 4 == 2 {
                    let path = format!("/v1/buddies/sip:w{t}@example.com/sip:{user}@example.com");
                    let body = format!(r#"{{"display_name": "{user}", "group": "load"}}"#);
                    match crate::support::http_at(http, "PUT", &path, "", &body) {
                        Some((201, _)) => buddies
                            .lock()
                            .unwrap()
                            .push((format!("w{t}"), user.clone())),
                        Some((code, b)) => panic!("PUT {path}: {code} {b}"),
                        None => break,
                    }
                }
                if i % 4 == 3 {
                    let path = format!("/v1/watchers/sip:{user}@example.com/sip:w{t}@example.com");
                    match crate::support::http_at(
                        http,
                        "PUT",
                        &path,
                        "",
                        r#"{"decision": "polite-block"}"#,
                    ) {
                        Some((204, _)) => decided
                            .lock()
                            .unwrap()
                            .push((user.clone(), format!("w{t}"))),
                        Some((code, b)) => panic!("PUT {path}: {code} {b}"),
                        None => break,
                    }
                }
                if i % 4 == 1 {
                    let call_id = format!("{user}-s");
                    let msg = subscribe(&format!("w{t}"), &user, &call_id, watcher_port, 3600);
                    if wsock.send_to(msg.as_bytes(), to).is_err() {
                        break;
                    }
                    match wlog.answer(&call_id) {
                        Some(200) => subscribed.lock().unwrap().push((
                            format!("w{t}"),
                            user.clone(),
                            call_id,
                        )),
                        Some(code) => panic!("SUBSCRIBE {user}: {code}"),
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
    let subscribed = subscribed.lock().unwrap().clone();
    let buddies = buddies.lock().unwrap().clone();
    let decided = decided.lock().unwrap().clone();
    assert!(!subscribed.is_empty(), "no SUBSCRIBE before the kill");
    assert!(
        !buddies.is_empty() && !decided.is_empty(),
        "no buddy or decision before the kill"
    );
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
    run.store(1, Ordering::Relaxed);
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
    // Every acknowledged subscription is served again, and its watcher was told the current state with a
    // CSeq above any it saw before; the one that expired meanwhile is gone and was not notified.
    for (watcher, user, call_id) in &subscribed {
        let (st, body) = s.http(
            "GET",
            &format!("/v1/subscriptions?watcher=sip:{watcher}@example.com"),
        );
        assert_eq!(st, 200);
        assert!(
            body.contains(&format!("\"call_id\":\"{call_id}\"")),
            "acknowledged subscription {call_id} lost: {body}"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = wlog.notifies.lock().unwrap().clone();
            let mine: Vec<&Received> = got.iter().filter(|n| &n.call_id == call_id).collect();
            if let Some(after) = mine.iter().find(|n| n.run == 1) {
                let before = mine.iter().filter(|n| n.run == 0).map(|n| n.cseq).max();
                assert!(
                    before.is_none_or(|b| after.cseq > b),
                    "{call_id}: resumed NOTIFY CSeq {} not above {before:?}",
                    after.cseq
                );
                let published_before = published.contains(user);
                assert!(
                    !published_before || after.body.contains(&format!("note of {user}")),
                    "{call_id}: resumed NOTIFY without the current state: {}",
                    after.body
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{call_id}: no NOTIFY after the restart"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // Every acknowledged buddy and decision is back; the buddy list subscription is served again with the
    // list's full state.
    for (owner, user) in &buddies {
        let (st, body) = s.http("GET", &format!("/v1/buddies/sip:{owner}@example.com"));
        assert_eq!(st, 200);
        assert!(
            body.contains(&format!(
                "\"uri\":\"sip:{user}@example.com\",\"display_name\":\"{user}\",\"group\":\"load\""
            )),
            "acknowledged buddy {user} of {owner} lost: {body}"
        );
    }
    for (user, watcher) in &decided {
        let (st, body) = s.http("GET", &format!("/v1/watchers/sip:{user}@example.com"));
        assert_eq!(st, 200);
        assert!(
            body.contains(&format!(
                "{{\"watcher\":\"sip:{watcher}@example.com\",\"decision\":\"polite-block\"}}"
            )),
            "acknowledged decision of {user} about {watcher} lost: {body}"
        );
    }
    let (_, body) = s.http("GET", "/v1/subscriptions?watcher=sip:w0@example.com");
    assert!(
        body.contains("\"call_id\":\"list-sub\""),
        "the buddy list subscription was lost: {body}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !wlog
        .notifies
        .lock()
        .unwrap()
        .iter()
        .any(|n| n.call_id == "list-sub" && n.run == 1 && n.body.contains("fullState=\"true\""))
    {
        assert!(
            Instant::now() < deadline,
            "no full-state list NOTIFY after the restart"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, body) = s.http("GET", "/v1/subscriptions?presentity=sip:short0@example.com");
    assert_eq!(body, "[]", "an expired subscription came back");
    assert!(
        !wlog
            .notifies
            .lock()
            .unwrap()
            .iter()
            .any(|n| n.call_id == "short-sub" && n.run == 1),
        "an expired subscription was resumed"
    );
    watchers_stop.store(true, Ordering::Relaxed);
    for h in watcher_threads {
        h.join().unwrap();
    }
    let log = s.log();
    assert!(log.contains("state loaded"), "{log}");
    assert!(log.contains("subscriptions resumed"), "{log}");
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
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("newer than this registrar understands"),
        "{err}"
    );
}
