//! sipp scenarios (`tests/sipp/*.xml`) against the running server: REGISTER (RFC 3261 §10.3, Path, GRUU),
//! PUBLISH (RFC 3903), SUBSCRIBE/NOTIFY (RFC 6665, 3856), the dialog (RFC 4235) and message-summary
//! (RFC 3842) packages and digest authentication, over UDP, TCP and TLS.
//!
//! Debian's sipp is built without TLS (`-t l1` is not there), so the TLS runs put OpenSSL (socat's) between
//! sipp over TCP and the server's `tls:` listener: the server sees a TLS client and answers (and sends its
//! NOTIFYs) over that TLS connection.

use std::process::Command;

use crate::support::{Options, Server, TempDir, fixtures, free_port, require};

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}.xml", env!("CARGO_MANIFEST_DIR"))
}

/// Run one scenario once; panic with sipp's error log when it fails.
pub(crate) fn sipp(server: &Server, name: &str, transport: &str, extra: &[&str]) {
    sipp_to(server, server.sip, name, transport, extra);
}

/// Run one scenario once over TLS: sipp over TCP to a socat that speaks TLS (trusting the test
/// certificate) to the server's `tls:` listener.
fn sipp_over_tls(server: &Server, name: &str) {
    let port = free_port();
    let cafile = fixtures().join("tls/cert.pem");
    // `fork`: one TLS connection per TCP connection (the readiness probe's and sipp's).
    let mut bridge = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg(format!(
            "OPENSSL:{},cafile={},commonname=127.0.0.1",
            server.listener("tls"),
            cafile.display()
        ))
        .spawn()
        .expect("start socat");
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(to).is_err() {
        assert!(std::time::Instant::now() < deadline, "socat did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sipp_to(server, to, name, "t1", &[]);
    let _ = bridge.kill();
    let _ = bridge.wait();
    let (_, metrics) = server.http("GET", "/metrics");
    assert!(
        metrics.contains("registrar_connections{listener=\"sip\"}"),
        "the TLS connection was counted"
    );
}

fn sipp_to(server: &Server, to: std::net::SocketAddr, name: &str, transport: &str, extra: &[&str]) {
    let dir = TempDir::new("sipp");
    let err = dir.0.join("errors.log");
    let out = Command::new("sipp")
        .arg(to.to_string())
        .args([
            "-sf",
            &scenario(name),
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
        ])
        .args([
            "-t",
            transport,
            "-timeout",
            "20",
            "-timeout_error",
            "-nostdin",
        ])
        .args(["-trace_err", "-error_file"])
        .arg(&err)
        .args(extra)
        .current_dir(&dir.0)
        .output()
        .expect("run sipp");
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        out.status.success(),
        "sipp {name} over {transport} failed ({}):\n{log}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n"),
        server.log()
    );
}

fn server() -> Server {
    Server::start_with(
        &Options {
            listeners: vec!["tls"],
            ..Options::default()
        },
        "domains = [\"example.com\"]",
        "[registrar]\nmax_contacts = 2\n[presence]\ndefault_watcher_policy = \"allow\"\n",
    )
}

#[test]
fn rfc3261_10_3_register_over_udp_and_tcp() {
    if !require("sipp") {
        return;
    }
    sipp(&server(), "register", "u1", &[]);
    sipp(&server(), "register", "t1", &[]);
}

#[test]
fn rfc3261_26_register_and_subscribe_over_tls() {
    if !require("sipp") || !require("socat") {
        return;
    }
    sipp_over_tls(&server(), "register");
    sipp_over_tls(&server(), "subscribe");
}

#[test]
fn rfc3903_publish() {
    if !require("sipp") {
        return;
    }
    sipp(&server(), "publish", "u1", &[]);
}

#[test]
fn rfc4235_dialog_package_over_udp_and_tcp() {
    if !require("sipp") {
        return;
    }
    sipp(&server(), "dialog", "u1", &[]);
    sipp(&server(), "dialog", "t1", &[]);
}

#[test]
fn rfc4662_blf_list_with_dialog_info_parts() {
    if !require("sipp") {
        return;
    }
    for transport in ["u1", "t1"] {
        let s = server();
        for buddy in ["sip:lou@example.com", "sip:mia@example.com"] {
            let (st, body) = s
                .try_http(
                    "PUT",
                    &format!("/v1/buddies/sip:kim@example.com/{buddy}"),
                    "",
                    "",
                )
                .unwrap();
            assert_eq!(st, 201, "{body}");
        }
        sipp(&s, "blf-list", transport, &[]);
    }
}

#[test]
fn rfc3842_message_summary_over_udp_and_tcp() {
    if !require("sipp") {
        return;
    }
    sipp(&server(), "message-summary", "u1", &[]);
    sipp(&server(), "message-summary", "t1", &[]);
}

#[test]
fn rfc6665_subscribe_notify_over_udp_and_tcp() {
    if !require("sipp") {
        return;
    }
    sipp(&server(), "subscribe", "u1", &[]);
    sipp(&server(), "subscribe", "t1", &[]);
}

#[test]
fn digest_auth_md5_with_sipp() {
    if !require("sipp") {
        return;
    }
    let users = {
        let c = registrar_ha1("alice", "example.com", "s3cret");
        format!(
            "[auth]\nenabled = true\nrealm = \"example.com\"\nalgorithms = [\"MD5\"]\n[auth.users.alice]\n{c}"
        )
    };
    let s = Server::start("domains = [\"example.com\"]", &users);
    sipp(&s, "auth", "u1", &["-au", "alice", "-ap", "s3cret"]);
    sipp(
        &s,
        "auth-wrong-password",
        "u1",
        &["-au", "alice", "-ap", "guess"],
    );
    sipp(
        &s,
        "auth-wrong-password",
        "u1",
        &["-au", "mallory", "-ap", "s3cret"],
    );
}

/// The `[auth.users.NAME]` body `registrar ha1` prints (its md5 and sha256 lines).
fn registrar_ha1(user: &str, realm: &str, password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(crate::support::bin())
        .args(["ha1", user, realm])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
}
