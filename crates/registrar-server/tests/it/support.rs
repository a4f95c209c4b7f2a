//! Start the real `registrar` binary on loopback and talk to it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server, killed on drop.
pub struct Server {
    child: Child,
    /// The SIP port (UDP and TCP) on 127.0.0.1.
    pub sip: SocketAddr,
    /// The HTTP API.
    pub http: SocketAddr,
    /// Whether the HTTP API is HTTPS (with the test certificate of `tests/fixtures/tls`).
    pub tls: bool,
    /// The extra SIP listeners asked for (`tls`, `ws`, `wss`) and their addresses.
    pub listeners: Vec<(String, SocketAddr)>,
    _dir: TempDir,
}

/// How to start a server beyond its configuration text.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Extra SIP listeners, by transport (`tls`, `ws`, `wss`), each on a port of its own.
    pub listeners: Vec<&'static str>,
    /// Run under this open-file limit (soft and hard), as `prlimit` sets it.
    pub nofile: Option<u32>,
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let mut p = std::env::temp_dir();
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        p.push(format!("registrar-it-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port free on 127.0.0.1 for both UDP and TCP.
pub fn free_port() -> u16 {
    loop {
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_registrar")
}

impl Server {
    /// Start with `sip_extra` lines added to `[sip]` and `rest` appended (other sections). A port taken
    /// between choosing and binding it (tests run in parallel) means another try on other ports.
    pub fn start(sip_extra: &str, rest: &str) -> Self {
        for _ in 0..8 {
            if let Some(s) = Self::try_start(sip_extra, rest, None, "", &Options::default()) {
                return s;
            }
        }
        panic!("the server did not start on any port");
    }

    /// [`Self::start`] with extra listeners or a file limit.
    pub fn start_with(opts: &Options, sip_extra: &str, rest: &str) -> Self {
        for _ in 0..8 {
            if let Some(s) = Self::try_start(sip_extra, rest, None, "", opts) {
                return s;
            }
        }
        panic!("the server did not start on any port");
    }

    /// The address of the extra listener of transport `kind`.
    pub fn listener(&self, kind: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {kind} listener"))
    }

    /// Start with the HTTP API on `http_port` (for configurations that name each other's ports).
    pub fn start_on(http_port: u16, rest: &str) -> Self {
        Self::start_on_with(http_port, "", rest)
    }

    /// [`Self::start_on`] with `http_extra` lines added to `[http]` (`tls = true` there: HTTPS with the
    /// test certificate).
    pub fn start_on_with(http_port: u16, http_extra: &str, rest: &str) -> Self {
        for _ in 0..8 {
            if let Some(s) =
                Self::try_start("", rest, Some(http_port), http_extra, &Options::default())
            {
                return s;
            }
        }
        panic!("the server did not start on HTTP port {http_port}");
    }

    fn try_start(
        sip_extra: &str,
        rest: &str,
        http_port: Option<u16>,
        http_extra: &str,
        opts: &Options,
    ) -> Option<Self> {
        let dir = TempDir::new("srv");
        let port = free_port();
        let listeners: Vec<(String, SocketAddr)> = opts
            .listeners
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    SocketAddr::from(([127, 0, 0, 1], free_port())),
                )
            })
            .collect();
        let extra_listen: String = listeners
            .iter()
            .map(|(k, a)| format!(", \"{k}:{a}\""))
            .collect();
        let sip_tls = if listeners.iter().any(|(k, _)| k == "tls" || k == "wss")
            && !sip_extra.contains("tls_cert")
        {
            let f = fixtures().join("tls");
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                f.join("cert.pem").display(),
                f.join("key.pem").display()
            )
        } else {
            String::new()
        };
        let http_port = http_port.unwrap_or_else(free_port);
        // Embedded storage (the default mode) in the test's own directory, unless the test sets [storage].
        let storage = if rest.contains("[storage]") {
            String::new()
        } else {
            format!(
                "[storage]\ndata_dir = \"{}\"\n",
                dir.0.join("data").display()
            )
        };
        let tls = http_extra.contains("tls = true");
        let http_extra = if tls {
            let f = fixtures().join("tls");
            format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\n",
                f.join("cert.pem").display(),
                f.join("key.pem").display()
            )
        } else {
            http_extra.to_owned()
        };
        let config = format!(
            "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"{extra_listen}]\n{sip_tls}{sip_extra}\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n{http_extra}\n{storage}\n{rest}\n"
        );
        let path = dir.0.join("registrar.toml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.0.join("server.log")).unwrap();
        let mut cmd = match opts.nofile {
            None => Command::new(bin()),
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(bin());
                c
            }
        };
        let child = cmd
            .args(["serve", "--config"])
            .arg(&path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start registrar");
        let mut s = Self {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], port)),
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            tls,
            listeners,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok((200, _)) = s.try_http("GET", "/health", "", "") {
                return Some(s);
            }
            if !s.alive() {
                let log = s.log();
                assert!(
                    log.contains("Address already in use")
                        || log.contains("address already in use"),
                    "the server did not start: {log}"
                );
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.0.join("server.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send a signal (`HUP`, `TERM`, …) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} failed");
    }

    /// Whether the process is still running (without reaping it).
    pub fn alive_now(&self) -> bool {
        Command::new("kill")
            .args(["-0".to_owned(), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn try_http(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        self.try_http_full(method, path, "", content_type, body)
            .map(|(st, _, b)| (st, b))
    }

    /// An HTTP call with `headers` (complete lines, each ending in CRLF); the status, the response head
    /// (lower-cased) and the body.
    pub fn try_http_full(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        content_type: &str,
        body: &str,
    ) -> std::io::Result<(u16, String, String)> {
        let mut s = TcpStream::connect_timeout(&self.http, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let ct = if content_type.is_empty() {
            String::new()
        } else {
            format!("Content-Type: {content_type}\r\n")
        };
        let request = format!(
            // HTTP/1.0: the answer's body ends with the connection, never chunked.
            "{method} {path} HTTP/1.0\r\nHost: x\r\n{headers}{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let mut raw = Vec::new();
        if self.tls {
            let mut t = rustls::StreamOwned::new(tls_client(), s);
            t.write_all(request.as_bytes())?;
            match t.read_to_end(&mut raw) {
                Err(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => return Err(e),
                _ => {}
            }
        } else {
            s.write_all(request.as_bytes())?;
            s.read_to_end(&mut raw)?;
        }
        let text = String::from_utf8_lossy(&raw).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, head.to_ascii_lowercase(), body.to_owned()))
    }

    pub fn http(&self, method: &str, path: &str) -> (u16, String) {
        self.try_http(method, path, "", "").expect("HTTP call")
    }

    /// Send a datagram from a fresh socket and wait up to `wait` for an answer.
    pub fn udp(&self, msg: &[u8], wait: Duration) -> Option<String> {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.send_to(msg, self.sip).unwrap();
        s.set_read_timeout(Some(wait)).unwrap();
        let mut buf = vec![0u8; 65_536];
        s.recv_from(&mut buf)
            .ok()
            .map(|(n, _)| String::from_utf8_lossy(&buf[..n]).to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of a SIP response.
pub fn status_of(resp: &str) -> u16 {
    resp.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A minimal OPTIONS from `tag`.
pub fn options(tag: &str) -> String {
    format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{tag};rport\r\nFrom: <sip:probe@example.com>;tag={tag}\r\nTo: <sip:example.com>\r\nCall-ID: {tag}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A test cannot run here (a service or program it needs is missing): it fails under `CI=true` (`.ci/run`
/// provides everything), and says plainly that it was skipped elsewhere.
pub fn skipped(test: &str, why: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {why}, and CI=true: the test must run"
    );
    // Straight to stderr: the test harness captures `println!`, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {why}");
}

/// Whether a program is on the PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Interop tests need real peers: without them the test fails, unless REGISTRAR_SKIP_INTEROP=1 says to
/// skip (for machines that cannot install them; `.ci/run` installs them).
pub fn require(program: &str) -> bool {
    if have(program) {
        return true;
    }
    assert!(
        std::env::var("REGISTRAR_SKIP_INTEROP").is_ok_and(|v| v == "1"),
        "`{program}` is not installed (apt-get install sip-tester baresip socat chromium), or set REGISTRAR_SKIP_INTEROP=1"
    );
    skipped(
        &format!("a test that needs {program}"),
        "it is not installed and REGISTRAR_SKIP_INTEROP=1",
    );
    false
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A TLS client session to 127.0.0.1 trusting only the test certificate.
pub fn tls_client() -> rustls::ClientConnection {
    tls_client_trusting(&["cert.pem"])
}

/// A TLS client session to 127.0.0.1 trusting the test certificates named (files of `fixtures/tls`).
pub fn tls_client_trusting(names: &[&str]) -> rustls::ClientConnection {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for name in names {
        let pem = std::fs::read(fixtures().join("tls").join(name)).unwrap();
        for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    rustls::ClientConnection::new(
        std::sync::Arc::new(config),
        rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
    )
    .unwrap()
}

/// A plain HTTP call to `addr` (from any thread): the status and body, or `None` when the server cannot be
/// reached or does not answer.
pub fn http_at(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: x\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, rest.to_owned()))
}
