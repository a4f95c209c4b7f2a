//! `cargo xtask bench tls`: SIP over TLS against the real server and against Kamailio with its `tls` module,
//! on the same machine in the same run, measured the same way; and SIP over WebSocket for the server.
//! `KAMAILIO` and `KAMAILIO_MODULES` choose the Kamailio (default: Debian's package). Debian 12's 5.6.3 with
//! OpenSSL 3 corrupts its shared memory under this load and dies (kamailio#3791); 5.7.5 and later run with
//! `tls_threads_mode=1`, as their default configuration does, and are what the README's figures compare with.
//!
//! For each target, with the test certificate of `crates/registrar-server/tests/fixtures/tls`:
//! 1. `TLS_BENCH_CONNECTIONS` (10 000) TLS connections are opened (full handshakes) and left idle: the
//!    target's memory (PSS, every process of it, from `/proc/PID/smaps_rollup`) before and after, divided by
//!    the connections, is the memory per idle TLS connection.
//! 2. Each connection registers one user, then refreshes it so that all together send `TLS_BENCH_RATE`
//!    (2 000) REGISTERs per second for `TLS_BENCH_SECONDS` (20): the target's CPU time (utime + stime) per
//!    REGISTER completed; a REGISTER not answered 200 within 5 s is a failed transaction; a probe on its own
//!    TLS connection, on a thread at the default priority, sends one REGISTER every 10 ms and times each
//!    answer (p50/p99).
//! 3. Handshakes per second per core: 32 clients connect, handshake, send one OPTIONS, read its answer and
//!    close, in a loop for 5 s, once with full handshakes and once resuming sessions; the connections done
//!    divided by the target's CPU seconds.
//!
//! Then, for the server only, `TLS_BENCH_CONNECTIONS` WebSocket connections (`ws:`, upgraded with
//! `Sec-WebSocket-Protocol: sip`) are opened and left idle: memory per idle WebSocket connection.
//!
//! The generator runs in this process at the niceness of `SIP_BENCH_GENERATOR_NICE` (0: the same priority as
//! the target), the probe at the default priority, as in `bench sip`. One `name value unit` line per figure.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::sipload::{
    cpu_ticks, free_udp_port, generator_nice, kamailio_bin, kamailio_modules, kamailio_version,
    lower_this_thread, ticks_per_second, work_dir,
};

/// What to run.
pub(crate) struct Plan {
    pub(crate) connections: usize,
    pub(crate) rate: u32,
    pub(crate) seconds: u32,
}

impl Plan {
    pub(crate) fn from_env(quick: bool) -> Self {
        let var = |k: &str, d: u64| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(d)
        };
        Self {
            connections: usize::try_from(var(
                "TLS_BENCH_CONNECTIONS",
                if quick { 2_000 } else { 10_000 },
            ))
            .unwrap_or(10_000),
            rate: u32::try_from(var("TLS_BENCH_RATE", if quick { 1_000 } else { 2_000 }))
                .unwrap_or(2_000),
            seconds: u32::try_from(var("TLS_BENCH_SECONDS", if quick { 5 } else { 20 }))
                .unwrap_or(20),
        }
    }
}

struct Target {
    name: &'static str,
    child: Child,
    pid: u32,
    tls: SocketAddr,
    ws: Option<SocketAddr>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(500));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free on 127.0.0.1 now.
fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(15061, |a| a.port())
}

fn fixtures() -> PathBuf {
    PathBuf::from("crates/registrar-server/tests/fixtures/tls")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("crates/registrar-server/tests/fixtures/tls"))
}

fn start_registrar(dir: &Path) -> Result<Target, String> {
    // TCP listeners get ports free for TCP (a free UDP port may be taken for TCP).
    let (udp, tls, ws, http) = (
        free_udp_port(),
        free_tcp_port(),
        free_tcp_port(),
        free_tcp_port(),
    );
    let f = fixtures();
    // Memory mode, as Kamailio's usrloc runs here. Every connection comes from 127.0.0.1, so the per-source
    // limit is lifted; connections are opened long before they register, so the idle timeout is too.
    let cfg = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{udp}\", \"tls:127.0.0.1:{tls}\", \"ws:127.0.0.1:{ws}\"]\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\nrate_limit_per_source = 0\nmax_connections_per_source = 100000\n\
         idle_timeout_secs = 600\n[registrar]\nmax_expires = 7200\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
         [storage]\nmode = \"memory\"\n",
        f.join("cert.pem").display(),
        f.join("key.pem").display()
    );
    let path = dir.join("registrar-tls.toml");
    std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("registrar-tls.log")).map_err(|e| e.to_string())?;
    let child = Command::new("target/release/registrar")
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start registrar: {e}"))?;
    let pid = child.id();
    Ok(Target {
        name: "registrar",
        child,
        pid,
        tls: SocketAddr::from(([127, 0, 0, 1], tls)),
        ws: Some(SocketAddr::from(([127, 0, 0, 1], ws))),
    })
}

/// Kamailio as its operators run it for TLS clients: the `tls` module (TLSv1.2+), two UDP and (by default)
/// eight TCP/TLS workers, room for the connections (`tcp_max_connections`, `tls_max_connections`,
/// `open_files_limit`), connections kept for the registration's lifetime, usrloc in memory.
fn start_kamailio(dir: &Path) -> Result<Target, String> {
    let (udp, tls) = (free_udp_port(), free_tcp_port());
    let f = fixtures();
    let tls_cfg = dir.join("kamailio-tls.cfg");
    std::fs::write(
        &tls_cfg,
        format!(
            "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
             private_key = {}\ncertificate = {}\n\n[client:default]\nverify_certificate = no\nrequire_certificate = no\n",
            f.join("key.pem").display(),
            f.join("cert.pem").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    // Since 5.7.5 (kamailio#3791), `tls_threads_mode=1` keeps OpenSSL 3's thread-local state out of the
    // shared memory the forked workers use; without it OpenSSL 3 corrupts that memory under load, as Debian
    // 12's 5.6.3 (which lacks the parameter) does. Its default configuration sets it.
    let version = kamailio_version();
    let threads_mode = if version.is_some_and(|v| v >= (5, 7, 5)) {
        "tls_threads_mode=1\n"
    } else {
        ""
    };
    // Every bench connection comes from 127.0.0.1: the per-source limit (5.7 and later) is lifted, as for
    // the server (`sip.max_connections_per_source`).
    let ip_limit = if version.is_some_and(|v| v >= (5, 7, 0)) {
        "tcp_accept_iplimit=100000\n"
    } else {
        ""
    };
    // TCP/TLS workers (`TLS_BENCH_KAMAILIO_TCP_CHILDREN`, 8): with 2, the 10 000 connections' first
    // REGISTERs, sent at once, filled tcp_main's queue to its workers and it dropped connections.
    let tcp_children: usize = std::env::var("TLS_BENCH_KAMAILIO_TCP_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let cfg = format!(
        "#!KAMAILIO\ndebug=0\nlog_stderror=yes\nchildren=2\ntcp_children={tcp_children}\n{threads_mode}{ip_limit}\
         listen=udp:127.0.0.1:{udp}\nlisten=tls:127.0.0.1:{tls}\nenable_tls=yes\n\
         tcp_max_connections=30000\ntls_max_connections=30000\nopen_files_limit=20000\n\
         tcp_connection_lifetime=3605\n\
         mpath=\"{}\"\n\
         loadmodule \"tls.so\"\nloadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         modparam(\"tls\", \"config\", \"{}\")\nmodparam(\"usrloc\", \"db_mode\", 0)\n\
         request_route {{\n  if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n  if (method == \"OPTIONS\") {{ sl_send_reply(\"200\", \"OK\"); exit; }}\n  sl_send_reply(\"405\", \"Method Not Allowed\");\n}}\n",
        kamailio_modules(),
        tls_cfg.display()
    );
    println!(
        "kamailio {} configuration (started with -m 2048 -M 32):",
        version.map_or_else(
            || "(version unknown)".into(),
            |(a, b, c)| format!("{a}.{b}.{c}")
        )
    );
    for line in cfg.lines() {
        println!("  | {line}");
    }
    let path = dir.join("kamailio-tls-main.cfg");
    std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("kamailio-tls.log")).map_err(|e| e.to_string())?;
    let child = Command::new(kamailio_bin())
        .args(["-f"])
        .arg(&path)
        .args(["-DD", "-E", "-m", "2048", "-M", "32", "-P"])
        .arg(dir.join("kamailio-tls.pid"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start kamailio: {e}"))?;
    let pid = child.id();
    Ok(Target {
        name: "kamailio",
        child,
        pid,
        tls: SocketAddr::from(([127, 0, 0, 1], tls)),
        ws: None,
    })
}

/// Whether `pid` still runs (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(str::to_owned))
        })
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Fail when the target died during a phase (its figures would be meaningless).
fn still_alive(t: &Target, phase: &str) -> Result<(), String> {
    if alive(t.pid) {
        Ok(())
    } else {
        Err(format!("{} died during {phase}", t.name))
    }
}

/// Proportional set size, bytes, of `pid` and every process whose parent it is (shared pages counted once
/// in all, divided among their sharers).
fn pss(pid: u32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid: u32 = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        if p != pid && ppid != pid {
            continue;
        }
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) else {
            continue;
        };
        total += rollup
            .lines()
            .find_map(|l| l.strip_prefix("Pss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
    }
    total
}

fn client_config(resume: bool) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = fixtures().join("cert.pem");
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&pem).map_err(|e| e.to_string())? {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let mut c = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    c.resumption = if resume {
        rustls::client::Resumption::in_memory_sessions(64)
    } else {
        rustls::client::Resumption::disabled()
    };
    Ok(Arc::new(c))
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn connect(to: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Result<Tls, String> {
    let tcp = TcpStream::connect(to).await.map_err(|e| e.to_string())?;
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

fn register(to: SocketAddr, local: SocketAddr, user: &str, cseq: u64) -> String {
    format!(
        "REGISTER sip:{to} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bK{user}x{cseq};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:{user}@{to}>;tag={user}\r\nTo: <sip:{user}@{to}>\r\nCall-ID: {user}-tls-bench\r\nCSeq: {cseq} REGISTER\r\n\
         Contact: <sip:{user}@{local};transport=tls>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Read one response off the stream (framed by its empty line and Content-Length); its status.
async fn response<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Result<u16, String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|c| c.parse().ok())
                    .ok_or_else(|| format!("not a response: {head}"));
            }
        }
        let mut chunk = [0u8; 2048];
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// What the ratios between targets need (every figure is printed as it is measured).
struct Outcome {
    memory_per_connection: f64,
    cpu_us_per_register: f64,
}

/// Connections being opened at once (`TLS_BENCH_CONNECT_PARALLEL`, 64).
fn connect_parallel() -> usize {
    std::env::var("TLS_BENCH_CONNECT_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(lower_this_thread)
        .build()
        .map_err(|e| e.to_string())
}

/// Start a target and wait until it takes TLS connections; on other ports again when its ports were taken
/// meanwhile (the generator's own connections use ephemeral ports too).
fn started(start: fn(&Path) -> Result<Target, String>, dir: &Path) -> Result<Target, String> {
    let rt = runtime()?;
    let mut last = String::new();
    for _ in 0..5 {
        let t = start(dir)?;
        match wait_tls(&t, &rt) {
            Ok(()) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Wait until the target takes TLS connections.
fn wait_tls(t: &Target, rt: &tokio::runtime::Runtime) -> Result<(), String> {
    let config = client_config(false)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if rt.block_on(connect(t.tls, &config)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline || !alive(t.pid) {
            return Err(format!("{} takes no TLS connection on {}", t.name, t.tls));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn measure(t: &Target, plan: &Plan) -> Result<Outcome, String> {
    let rt = runtime()?;
    wait_tls(t, &rt)?;
    let full = client_config(false)?;
    std::thread::sleep(Duration::from_millis(500));
    let before = pss(t.pid);
    // 1. Idle connections.
    let conns = rt.block_on(async {
        let sem = Arc::new(tokio::sync::Semaphore::new(connect_parallel()));
        let mut tasks = Vec::with_capacity(plan.connections);
        for _ in 0..plan.connections {
            let (sem, full, to) = (Arc::clone(&sem), Arc::clone(&full), t.tls);
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.map_err(|e| e.to_string())?;
                connect(to, &full).await
            }));
        }
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.map_err(|e| e.to_string())??);
        }
        Ok::<_, String>(out)
    })?;
    std::thread::sleep(Duration::from_secs(2));
    still_alive(t, "the idle connections")?;
    let after = pss(t.pid);
    let memory_per_connection = after.saturating_sub(before) as f64 / conns.len() as f64;
    let name = t.name;
    println!(
        "tls_{name}_memory_per_idle_connection {:.1} KiB",
        memory_per_connection / 1024.0
    );

    // 2. Registrations refreshed at a fixed rate over the kept-open connections.
    let completed = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let n = conns.len();
    let period = Duration::from_secs_f64(n as f64 / f64::from(plan.rate));
    let to = t.tls;
    let workers: Vec<_> = rt.block_on(async {
        let mut workers = Vec::with_capacity(n);
        let first = Instant::now() + Duration::from_secs(2);
        for (i, mut c) in conns.into_iter().enumerate() {
            let (completed, failed, stop) = (
                Arc::clone(&completed),
                Arc::clone(&failed),
                Arc::clone(&stop),
            );
            let offset = period.mul_f64(i as f64 / n as f64);
            workers.push(tokio::spawn(async move {
                let local = c.get_ref().0.local_addr().unwrap_or(to);
                let user = format!("tls{i}");
                let mut buf = Vec::new();
                let mut cseq = 1;
                // The initial registration, outside the measured window.
                let _ = c
                    .write_all(register(to, local, &user, cseq).as_bytes())
                    .await;
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), response(&mut c, &mut buf)).await;
                let mut at = tokio::time::Instant::from_std(first + offset);
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep_until(at).await;
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    at += period;
                    cseq += 1;
                    let ok = c
                        .write_all(register(to, local, &user, cseq).as_bytes())
                        .await
                        .is_ok()
                        && matches!(
                            tokio::time::timeout(
                                Duration::from_secs(5),
                                response(&mut c, &mut buf)
                            )
                            .await,
                            Ok(Ok(200))
                        );
                    if ok {
                        completed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                c
            }));
        }
        workers
    });
    // The measured window starts when the refreshes do.
    std::thread::sleep(Duration::from_secs(2));
    let ticks0 = cpu_ticks(t.pid);
    let c0 = completed.load(Ordering::Relaxed);
    let f0 = failed.load(Ordering::Relaxed);
    // The probe: its own connection, this thread, the default priority.
    let probe = probe(t.tls, Duration::from_secs(u64::from(plan.seconds)))?;
    still_alive(t, "the REGISTER load")?;
    let ticks = cpu_ticks(t.pid).saturating_sub(ticks0);
    let done = completed.load(Ordering::Relaxed) - c0;
    let failed_n = failed.load(Ordering::Relaxed) - f0;
    stop.store(true, Ordering::Relaxed);
    let idle = rt.block_on(async {
        let mut kept = Vec::new();
        for w in workers {
            if let Ok(c) = w.await {
                kept.push(c);
            }
        }
        kept
    });
    let cpu_us_per_register = ticks as f64 * 1e6 / ticks_per_second() as f64 / done.max(1) as f64;
    println!("tls_{name}_registers_completed {done} count");
    println!("tls_{name}_failed_transactions {failed_n} count");
    println!("tls_{name}_cpu_per_register {cpu_us_per_register:.1} us");
    println!("tls_{name}_probe_p50 {:.0} us", probe.0);
    println!("tls_{name}_probe_p99 {:.0} us", probe.1);

    // 3. Handshakes per second per core, full and resumed (the idle connections stay open meanwhile).
    let full_per_core = handshakes(&rt, t, false)?;
    println!("tls_{name}_full_handshakes_per_core_second {full_per_core:.0} count");
    let resumed_per_core = handshakes(&rt, t, true)?;
    println!("tls_{name}_resumed_handshakes_per_core_second {resumed_per_core:.0} count");
    drop(idle);
    Ok(Outcome {
        memory_per_connection,
        cpu_us_per_register,
    })
}

/// One REGISTER every 10 ms over one TLS connection for `length`: (p50, p99) in µs.
fn probe(to: SocketAddr, length: Duration) -> Result<(f64, f64), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let config = client_config(false)?;
    rt.block_on(async {
        let mut c = connect(to, &config).await?;
        let local = c.get_ref().0.local_addr().map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut times = Vec::new();
        let end = Instant::now() + length;
        let mut cseq = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        while Instant::now() < end {
            tick.tick().await;
            cseq += 1;
            let start = Instant::now();
            c.write_all(register(to, local, "tlsprobe", cseq).as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let st = tokio::time::timeout(Duration::from_secs(5), response(&mut c, &mut buf))
                .await
                .map_err(|_| "probe: no answer in 5 s".to_owned())??;
            if st != 200 {
                return Err(format!("probe: {st}"));
            }
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        Ok((at(0.5), at(0.99)))
    })
}

/// One OPTIONS and its answer.
async fn options(c: &mut Tls, to: SocketAddr) -> Result<(), String> {
    let local = c.get_ref().0.local_addr().map_err(|e| e.to_string())?;
    let n = OPTIONS.fetch_add(1, Ordering::Relaxed);
    let msg = format!(
        "OPTIONS sip:{to} SIP/2.0\r\nVia: SIP/2.0/TLS {local};branch=z9hG4bKhs{n};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:hs@{to}>;tag=hs{n}\r\nTo: <sip:{to}>\r\nCall-ID: hs-{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    c.write_all(msg.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    match tokio::time::timeout(Duration::from_secs(5), response(c, &mut buf)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("no answer".into()),
    }
}

static OPTIONS: AtomicU64 = AtomicU64::new(0);

/// Handshakes (each with one OPTIONS transaction) for 5 s from 32 clients; per CPU second of the target.
fn handshakes(rt: &tokio::runtime::Runtime, t: &Target, resume: bool) -> Result<f64, String> {
    let to = t.tls;
    // Each of the 32 clients keeps its own sessions, as a device does (sharing one cache, they took each
    // other's single-use TLS 1.3 tickets and some connections found none left); a first connection of each,
    // outside the measured window, gives it a session to resume.
    let shared = client_config(false)?;
    let mut configs = Vec::with_capacity(32);
    for _ in 0..32 {
        configs.push(if resume {
            client_config(true)?
        } else {
            Arc::clone(&shared)
        });
    }
    rt.block_on(async {
        for config in &configs {
            let mut c = connect(to, config).await?;
            options(&mut c, to).await?;
            let _ = c.shutdown().await;
            if !resume {
                break;
            }
        }
        Ok::<_, String>(())
    })?;
    let done = Arc::new(AtomicU64::new(0));
    let all = Arc::new(AtomicU64::new(0));
    let ticks0 = cpu_ticks(t.pid);
    rt.block_on(async {
        let end = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for config in configs {
            let (done, all) = (Arc::clone(&done), Arc::clone(&all));
            tasks.push(tokio::spawn(async move {
                while tokio::time::Instant::now() < end {
                    if let Ok(mut c) = connect(to, &config).await {
                        let resumed =
                            c.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                        // One transaction per connection, as a device does; it also takes in the session
                        // tickets TLS 1.3 sends after the handshake, for the next resumption.
                        if options(&mut c, to).await.is_ok() {
                            all.fetch_add(1, Ordering::Relaxed);
                            if resumed == resume {
                                done.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let _ = c.shutdown().await;
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    still_alive(
        t,
        if resume {
            "resumed handshakes"
        } else {
            "full handshakes"
        },
    )?;
    let secs = cpu_ticks(t.pid).saturating_sub(ticks0) as f64 / ticks_per_second() as f64;
    let (done, all) = (done.load(Ordering::Relaxed), all.load(Ordering::Relaxed));
    if secs < 0.1 {
        // Workers that died take their CPU time with them.
        return Err(format!(
            "{} used no CPU time for {all} handshakes: its workers died",
            t.name
        ));
    }
    // How many connections got the kind of handshake asked for: a peer that does not resume sessions (no
    // tickets, no session cache) shows it here rather than failing the run.
    println!(
        "tls_{}_{}_handshake_share {:.0} %",
        t.name,
        if resume { "resumed" } else { "full" },
        done as f64 * 100.0 / all.max(1) as f64
    );
    // Every connection's CPU counts; the rate is per CPU second of the target.
    Ok(all as f64 / secs.max(0.001))
}

/// Idle WebSocket connections to `to`: memory per connection.
fn websocket_memory(t: &Target, to: SocketAddr, n: usize) -> Result<f64, String> {
    let rt = runtime()?;
    let before = pss(t.pid);
    let conns = rt.block_on(async {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let mut s = TcpStream::connect(to).await.map_err(|e| e.to_string())?;
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Protocol: sip\r\n\r\n",
            )
            .await
            .map_err(|e| e.to_string())?;
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if s.read(&mut b).await.map_err(|e| e.to_string())? == 0 {
                    return Err("the upgrade was not answered".to_owned());
                }
                head.push(b[0]);
            }
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(format!("upgrade refused: {}", String::from_utf8_lossy(&head)));
            }
            out.push(s);
        }
        Ok::<_, String>(out)
    })?;
    std::thread::sleep(Duration::from_secs(2));
    let after = pss(t.pid);
    let per = after.saturating_sub(before) as f64 / conns.len() as f64;
    drop(conns);
    Ok(per)
}

pub(crate) fn run(plan: &Plan) -> Result<(), String> {
    let dir = work_dir()?;
    eprintln!(
        "==> SIP over TLS: {} idle connections, REGISTER refreshes at {}/s for {} s, handshakes (generator nice {})",
        plan.connections,
        plan.rate,
        plan.seconds,
        generator_nice()
    );
    let mut rows = Vec::new();
    // `TLS_BENCH_TARGETS=registrar` (comma-separated) runs some targets only.
    let only = std::env::var("TLS_BENCH_TARGETS").unwrap_or_else(|_| "registrar,kamailio".into());
    type Start = fn(&Path) -> Result<Target, String>;
    let targets: [(&str, Start); 2] =
        [("registrar", start_registrar), ("kamailio", start_kamailio)];
    for (name, start) in targets {
        if !only.split(',').any(|t| t.trim() == name) {
            continue;
        }
        let t = started(start, &dir)?;
        let o = match measure(&t, plan) {
            Ok(o) => o,
            Err(e) => {
                // A target that fails under the load is a result, not the end of the run: say how.
                let crashes = std::fs::read_to_string(dir.join(format!("{name}-tls.log")))
                    .unwrap_or_default()
                    .lines()
                    .filter(|l| l.contains("CRITICAL") || l.contains("ALERT"))
                    .count();
                println!(
                    "tls_{name}_failed 1 run ({e}; {crashes} CRITICAL/ALERT lines in its log)"
                );
                continue;
            }
        };
        if t.ws.is_some() {
            // On a fresh process: memory freed by the TLS connections would be reused and hide the cost.
            drop(t);
            let fresh = started(start, &dir)?;
            if let Some(ws) = fresh.ws {
                let per = websocket_memory(&fresh, ws, plan.connections)?;
                println!(
                    "ws_{name}_memory_per_idle_connection {:.1} KiB",
                    per / 1024.0
                );
            }
        }
        rows.push((name, o));
    }
    if let [(_, r), (_, k)] = rows.as_slice() {
        println!(
            "tls_cpu_per_register_ratio {:.2} registrar/kamailio",
            r.cpu_us_per_register / k.cpu_us_per_register
        );
        println!(
            "tls_memory_per_idle_connection_ratio {:.2} registrar/kamailio",
            r.memory_per_connection / k.memory_per_connection
        );
    }
    Ok(())
}
