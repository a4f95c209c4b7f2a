//! `cargo xtask bench` part two: a sipp REGISTER load against the real server and against Kamailio on the
//! same machine in the same run. The targets: the server in memory mode (as Kamailio's usrloc runs here) and in
//! its default embedded mode, each without and with digest authentication, and Kamailio (`KAMAILIO`,
//! `KAMAILIO_MODULES`; Debian's package by default) with 4 UDP children and usrloc in memory. Each registrar
//! figure is also printed as a ratio to Kamailio's.
//!
//! For each target: sipp sends REGISTERs for 100 000 unique users at a fixed rate (20 000/s for 15 s by
//! default); the server's CPU time (utime + stime from `/proc`, every process of it) is divided by the
//! REGISTERs completed; sipp's failed calls are the failed transactions; a separate probe sends one REGISTER
//! every 10 ms on its own socket and times each answer (p50/p99). Then the highest rate sustained for a few
//! seconds with no failed transaction is searched. One `name value unit` line per figure.

use std::fmt::Write as _;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const USERS: usize = 100_000;
const PASSWORD: &str = "bench-secret";
const REALM: &str = "bench.example.com";

/// What to run.
pub(crate) struct Plan {
    pub(crate) rate: u32,
    pub(crate) seconds: u32,
    pub(crate) search: Vec<u32>,
    pub(crate) search_seconds: u32,
}

struct Target {
    name: String,
    child: Child,
    addr: SocketAddr,
    auth: bool,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Outcome {
    completed: u64,
    failed: u64,
    cpu_us_per_register: f64,
    p50_us: f64,
    p99_us: f64,
}

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map_or(15060, |a| a.port())
}

pub(crate) fn work_dir() -> Result<PathBuf, String> {
    let d = PathBuf::from("target/sipload");
    std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    // Absolute: Kamailio changes its working directory before writing its pid file.
    d.canonicalize()
        .map_err(|e| format!("{}: {e}", d.display()))
}

/// The HA1 of one bench user (`MD5(user:realm:password)`), as `registrar ha1` prints it.
fn md5_hex(data: &str) -> String {
    use md5::Digest as _;
    md5::Md5::digest(data.as_bytes())
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The users file for sipp and the `[auth.users]` section for the server.
fn users(dir: &Path) -> Result<(PathBuf, String), String> {
    let csv = dir.join("users.csv");
    let mut text = String::with_capacity(USERS * 24);
    text.push_str("SEQUENTIAL\n");
    let mut toml = String::with_capacity(USERS * 70);
    for i in 0..USERS {
        let u = format!("u{i:06}");
        let _ = writeln!(text, "{u};{PASSWORD}");
        let _ = writeln!(
            toml,
            "{u} = {{ md5 = \"{}\" }}",
            md5_hex(&format!("{u}:{REALM}:{PASSWORD}"))
        );
    }
    std::fs::write(&csv, text).map_err(|e| e.to_string())?;
    Ok((csv, toml))
}

fn scenario(dir: &Path, auth: bool) -> Result<PathBuf, String> {
    let register = |cseq: u32, authz: &str| {
        format!(
            "  <send retrans=\"500\"><![CDATA[\n\nREGISTER sip:[remote_ip]:[remote_port] SIP/2.0\nVia: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport\nMax-Forwards: 70\nFrom: <sip:[field0]@[remote_ip]:[remote_port]>;tag=[call_number]\nTo: <sip:[field0]@[remote_ip]:[remote_port]>\nCall-ID: [call_id]\nCSeq: {cseq} REGISTER\n{authz}Contact: <sip:[field0]@[local_ip]:[local_port]>\nExpires: 3600\nContent-Length: 0\n\n]]></send>\n"
        )
    };
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"register-load\">\n",
    );
    if auth {
        xml.push_str(&register(1, ""));
        xml.push_str("  <recv response=\"401\" auth=\"true\"/>\n");
        xml.push_str(&register(
            2,
            "[authentication username=[field0] password=[field1]]\n",
        ));
    } else {
        xml.push_str(&register(1, ""));
    }
    xml.push_str("  <recv response=\"200\"/>\n</scenario>\n");
    let path = dir.join(if auth {
        "register-auth.xml"
    } else {
        "register.xml"
    });
    std::fs::write(&path, xml).map_err(|e| e.to_string())?;
    Ok(path)
}

/// The server in storage `mode` ("memory", as Kamailio's usrloc runs here, or "embedded", its default: every
/// REGISTER on disk before its 200 OK, on a fresh file), with digest authentication when `auth_users` is given.
fn start_registrar(dir: &Path, mode: &str, auth_users: Option<&str>) -> Result<Target, String> {
    let port = free_udp_port();
    let http = free_udp_port();
    let name = format!(
        "registrar{}{}",
        if mode == "memory" { "" } else { "_embedded" },
        if auth_users.is_some() { "_auth" } else { "" }
    );
    let data = dir.join(format!("data-{name}"));
    let _ = std::fs::remove_dir_all(&data);
    let mut cfg = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\nrate_limit_per_source = 0\n[registrar]\nmax_expires = 7200\n[http]\nlisten = \"127.0.0.1:{http}\"\n[storage]\nmode = \"{mode}\"\ndata_dir = \"{}\"\n",
        data.display()
    );
    if let Some(users) = auth_users {
        let _ = write!(
            cfg,
            "[auth]\nenabled = true\nrealm = \"{REALM}\"\nalgorithms = [\"MD5\"]\n[auth.users]\n{users}"
        );
    }
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, cfg).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let child = Command::new("target/release/registrar")
        .args(["serve", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start registrar: {e}"))?;
    let t = Target {
        name,
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        auth: auth_users.is_some(),
    };
    wait_answering(t.addr)?;
    Ok(t)
}

/// Kamailio's UDP worker processes: `SIP_BENCH_KAMAILIO_CHILDREN`, 4 by default — what an operator runs on
/// a multi-core host (Debian's default configuration has 8); fewer make it queue on its own workers.
fn kamailio_children() -> u32 {
    std::env::var("SIP_BENCH_KAMAILIO_CHILDREN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

/// The Kamailio to measure: `KAMAILIO` names its binary (default `kamailio`, Debian's package) and
/// `KAMAILIO_MODULES` its module directory (default Debian's), so a build of another release can be measured
/// the same way.
pub(crate) fn kamailio_bin() -> String {
    std::env::var("KAMAILIO").unwrap_or_else(|_| "kamailio".into())
}

pub(crate) fn kamailio_modules() -> String {
    std::env::var("KAMAILIO_MODULES")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/kamailio/modules/".into())
}

/// Kamailio's version as `(major, minor, patch)`, from `kamailio -v`.
pub(crate) fn kamailio_version() -> Option<(u32, u32, u32)> {
    let out = Command::new(kamailio_bin()).arg("-v").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .split_whitespace()
        .skip_while(|w| *w != "kamailio")
        .nth(1)?;
    let mut parts = v.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn start_kamailio(dir: &Path) -> Result<Target, String> {
    let port = free_udp_port();
    let children = kamailio_children();
    let cfg = format!(
        "#!KAMAILIO\ndebug=0\nlog_stderror=yes\nchildren={children}\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\n\
         loadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         modparam(\"usrloc\", \"db_mode\", 0)\n\
         request_route {{\n  if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n  sl_send_reply(\"405\", \"Method Not Allowed\");\n}}\n",
        kamailio_modules()
    );
    let path = dir.join("kamailio.cfg");
    std::fs::write(&path, &cfg).map_err(|e| e.to_string())?;
    // The report shows the peer's configuration: a figure against a peer is only worth its configuration.
    println!("kamailio configuration (started with -m 512 -M 16):");
    for line in cfg.lines() {
        println!("  | {line}");
    }
    let log = std::fs::File::create(dir.join("kamailio.log")).map_err(|e| e.to_string())?;
    let child = Command::new(kamailio_bin())
        .args(["-f"])
        .arg(&path)
        .args(["-DD", "-E", "-m", "512", "-M", "16", "-P"])
        .arg(dir.join("kamailio.pid"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("start kamailio: {e}"))?;
    let t = Target {
        name: "kamailio".into(),
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        auth: false,
    };
    wait_answering(t.addr)?;
    Ok(t)
}

fn probe_register(sock: &UdpSocket, to: SocketAddr, n: u64) -> Result<Duration, String> {
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let msg = format!(
        "REGISTER sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKprobe{n};rport\r\nMax-Forwards: 70\r\n\
         From: <sip:probe{n}@{to}>;tag=p{n}\r\nTo: <sip:probe{n}@{to}>\r\nCall-ID: probe-{n}-{}\r\nCSeq: 1 REGISTER\r\n\
         Contact: <sip:probe{n}@{local}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n",
        std::process::id()
    );
    let start = Instant::now();
    sock.send_to(msg.as_bytes(), to)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    loop {
        let (len, _) = sock
            .recv_from(&mut buf)
            .map_err(|e| format!("probe: no answer: {e}"))?;
        let text = String::from_utf8_lossy(&buf[..len]);
        if text.contains(&format!("branch=z9hG4bKprobe{n};")) {
            return Ok(start.elapsed());
        }
    }
}

fn wait_answering(addr: SocketAddr) -> Result<(), String> {
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 1_000_000_000;
    while Instant::now() < deadline {
        n += 1;
        if probe_register(&sock, addr, n).is_ok() {
            return Ok(());
        }
    }
    Err(format!("nothing answers on {addr}"))
}

/// utime + stime, in clock ticks, of `pid` and every process whose parent it is.
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let mut total = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(p) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ppid: u32 = f.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        if p == pid || ppid == pid {
            let ut: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
            let st: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
            total += ut + st;
        }
    }
    total
}

pub(crate) fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// The niceness of the load generators (sipp, and the digest generator's threads): `SIP_BENCH_GENERATOR_NICE`,
/// 0 by default — everything at the same priority, as an operator's load would run. A positive value lowers
/// the generators' priority (every target gets the same treatment; the probe runs at the default priority),
/// which shows the server's latency apart from the generator's time slices but flatters whichever server
/// wins the scheduler.
pub(crate) fn generator_nice() -> i32 {
    std::env::var("SIP_BENCH_GENERATOR_NICE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Lower the calling thread's priority to [`generator_nice`] (Linux: `renice` on its thread id).
pub(crate) fn lower_this_thread() {
    let tid = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()));
    if let Some(tid) = tid {
        let _ = Command::new("renice")
            .args(["-n", &generator_nice().to_string(), "-p", &tid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Run sipp at `rate` for `seconds`; (completed, failed) calls.
fn sipp(dir: &Path, t: &Target, csv: &Path, rate: u32, seconds: u32) -> Result<(u64, u64), String> {
    let xml = scenario(dir, t.auth)?;
    let stats = dir.join(format!("{}-{rate}.csv", t.name));
    let _ = std::fs::remove_file(&stats);
    let calls = u64::from(rate) * u64::from(seconds);
    let out = Command::new("nice")
        .args(["-n", &generator_nice().to_string(), "sipp"])
        .arg(t.addr.to_string())
        .args(["-sf"])
        .arg(&xml)
        .args(["-inf"])
        .arg(csv)
        .args(["-i", "127.0.0.1", "-p", "0", "-t", "u1", "-nostdin"])
        .args(["-r", &rate.to_string(), "-rp", "1000"])
        .args([
            "-m",
            &calls.to_string(),
            "-l",
            "20000",
            "-max_socket",
            "1000",
            // sipp's own socket buffers (64 KB by default) drop answers whenever sipp is descheduled.
            "-buff_size",
            "4194304",
        ])
        .args([
            "-timeout",
            &format!("{}", seconds + 30),
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
        ])
        .arg(&stats)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("sipp: {e}"))?;
    let text = std::fs::read_to_string(&stats).map_err(|e| format!("sipp stats: {e} ({out})"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(';').collect();
    let last: Vec<&str> = text.lines().last().unwrap_or("").split(';').collect();
    let col = |name: &str| -> u64 {
        header
            .iter()
            .position(|h| *h == name)
            .and_then(|i| last.get(i))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let ok = col("SuccessfulCall(C)");
    let failed = col("FailedCall(C)");
    // Calls sipp never completed count as failed too (a timeout ends sipp with calls in flight).
    let unfinished = calls.saturating_sub(ok + failed);
    Ok((ok, failed + unfinished))
}

fn load(dir: &Path, t: &Target, csv: &Path, rate: u32, seconds: u32) -> Result<Outcome, String> {
    let pid = t.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let addr = t.addr;
    let probe_stop = Arc::clone(&stop);
    let probe = std::thread::spawn(move || -> Vec<Duration> {
        let mut lat = Vec::new();
        let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else {
            return lat;
        };
        let _ = sock.set_read_timeout(Some(Duration::from_secs(1)));
        let mut n = 0u64;
        std::thread::sleep(Duration::from_millis(500));
        while !probe_stop.load(Ordering::Relaxed) {
            n += 1;
            if let Ok(d) = probe_register(&sock, addr, n) {
                lat.push(d);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        lat
    });
    let before = cpu_ticks(pid);
    let (completed, failed) = if t.auth {
        auth_load(t.addr, rate, seconds)?
    } else {
        sipp(dir, t, csv, rate, seconds)?
    };
    let after = cpu_ticks(pid);
    stop.store(true, Ordering::Relaxed);
    let mut lat = probe.join().unwrap_or_default();
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[i].as_secs_f64() * 1e6
    };
    #[allow(clippy::cast_precision_loss)]
    let cpu_us = (after.saturating_sub(before)) as f64 * 1e6 / ticks_per_second() as f64;
    #[allow(clippy::cast_precision_loss)]
    let per = cpu_us / (completed.max(1) as f64);
    Ok(Outcome {
        completed,
        failed,
        cpu_us_per_register: per,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
    })
}

fn report(name: &str, rate: u32, o: &Outcome) {
    println!("sip_{name}_registers_completed {} count", o.completed);
    println!("sip_{name}_failed_transactions {} count", o.failed);
    println!(
        "sip_{name}_cpu_per_register {:.2} us",
        o.cpu_us_per_register
    );
    println!("sip_{name}_probe_latency_p50 {:.0} us", o.p50_us);
    println!("sip_{name}_probe_latency_p99 {:.0} us", o.p99_us);
    println!("sip_{name}_offered_rate {rate} register/s");
}

fn max_rate(dir: &Path, t: &Target, csv: &Path, plan: &Plan) -> Result<u32, String> {
    let mut best = 0;
    for &r in &plan.search {
        let (_, failed) = if t.auth {
            auth_load(t.addr, r, plan.search_seconds)?
        } else {
            sipp(dir, t, csv, r, plan.search_seconds)?
        };
        if failed > 0 {
            break;
        }
        best = r;
    }
    Ok(best)
}

/// The whole comparison.
pub(crate) fn run(plan: &Plan) -> Result<(), String> {
    for tool in ["sipp".to_string(), kamailio_bin()] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!(
                "`{tool}` is needed for the SIP load (apt-get install sip-tester kamailio)"
            ));
        }
    }
    let dir = work_dir()?;
    let (csv, auth_users) = users(&dir)?;
    let mut results = Vec::new();
    // `SIP_BENCH_TARGETS` (comma-separated) runs some of them only, e.g. `registrar_auth`.
    let only = std::env::var("SIP_BENCH_TARGETS").unwrap_or_default();
    for which in [
        "registrar",
        "registrar_auth",
        "registrar_embedded",
        "registrar_embedded_auth",
        "kamailio",
    ] {
        if !only.is_empty() && !only.split(',').any(|w| w.trim() == which) {
            continue;
        }
        let mode = if which.contains("embedded") {
            "embedded"
        } else {
            "memory"
        };
        let t = if which == "kamailio" {
            start_kamailio(&dir)?
        } else {
            start_registrar(&dir, mode, which.ends_with("_auth").then_some(&*auth_users))?
        };
        let o = load(&dir, &t, &csv, plan.rate, plan.seconds)?;
        report(which, plan.rate, &o);
        let best = max_rate(&dir, &t, &csv, plan)?;
        println!("sip_{which}_max_rate_without_failures {best} register/s");
        results.push((which, o, best));
    }
    // Every registrar target against Kamailio (usrloc in memory, no authentication), from the same run.
    let kamailio = results.iter().find(|(w, _, _)| *w == "kamailio");
    if let Some((_, kam, kb)) = kamailio {
        for (which, ours, ob) in results.iter().filter(|(w, _, _)| *w != "kamailio") {
            println!(
                "sip_cpu_per_register_ratio_{which}_to_kamailio {:.2} ratio",
                ours.cpu_us_per_register / kam.cpu_us_per_register
            );
            println!(
                "sip_probe_p99_ratio_{which}_to_kamailio {:.2} ratio",
                ours.p99_us / kam.p99_us
            );
            #[allow(clippy::cast_precision_loss)]
            let ratio = f64::from(*ob) / f64::from((*kb).max(1));
            println!("sip_max_rate_ratio_{which}_to_kamailio {ratio:.2} ratio");
        }
    }
    Ok(())
}

/// The digest-authenticated load. sipp 3.6 cannot take the digest user name from its injection file (it does
/// not expand `[field0]` inside `[authentication …]`), so 100 000 users each answering their own challenge
/// need this small open-loop generator: REGISTERs at a fixed rate, each 401 answered at once with an MD5
/// `Authorization` for that user, the 200s counted. (completed, failed) like sipp's figures.
fn auth_load(to: SocketAddr, rate: u32, seconds: u32) -> Result<(u64, u64), String> {
    use std::sync::atomic::AtomicU64;
    // A receive buffer large enough for the answers of a burst (the system's default of ~200 KB drops them
    // whenever this receiving thread is descheduled for a few milliseconds).
    let sock = {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(|e| e.to_string())?;
        let _ = s.set_recv_buffer_size(4 << 20);
        let _ = s.set_send_buffer_size(4 << 20);
        let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        s.bind(&local.into()).map_err(|e| e.to_string())?;
        Arc::new(UdpSocket::from(s))
    };
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let total = u64::from(rate) * u64::from(seconds);
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tag = std::process::id();
    let request = move |i: u64, cseq: u32, authz: &str| {
        let u = format!("u{:06}", i % USERS as u64);
        format!(
            "REGISTER sip:{to} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{tag}x{i}x{cseq};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{u}@{to}>;tag={i}\r\nTo: <sip:{u}@{to}>\r\nCall-ID: auth-{tag}-{i}\r\nCSeq: {cseq} REGISTER\r\n{authz}\
             Contact: <sip:{u}@{local}>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let ha1s: Vec<String> = (0..USERS)
        .map(|i| md5_hex(&format!("u{i:06}:{REALM}:{PASSWORD}")))
        .collect();
    let uri = format!("sip:{to}");
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    let call_id_prefix = format!("Call-ID: auth-{tag}-");
    let receiver = {
        let (sock, done, stop) = (Arc::clone(&sock), Arc::clone(&done), Arc::clone(&stop));
        std::thread::spawn(move || {
            lower_this_thread();
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::Relaxed) {
                let Ok((n, _)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(text) = std::str::from_utf8(&buf[..n]) else {
                    continue;
                };
                let Some(i) = text
                    .split(call_id_prefix.as_str())
                    .nth(1)
                    .and_then(|r| r.split("\r\n").next())
                    .and_then(|v| v.parse::<u64>().ok())
                else {
                    continue;
                };
                if text.starts_with("SIP/2.0 200") {
                    done.fetch_add(1, Ordering::Relaxed);
                } else if text.starts_with("SIP/2.0 401") {
                    let Some(nonce) = text
                        .split("nonce=\"")
                        .nth(1)
                        .and_then(|r| r.split('"').next())
                    else {
                        continue;
                    };
                    let u = format!("u{:06}", i % USERS as u64);
                    // HA1 per user and HA2 (one Request-URI) are computed once: the generator shares the
                    // machine with the server it measures, so it does as little per request as it can.
                    #[allow(clippy::cast_possible_truncation)]
                    let ha1 = &ha1s[(i % USERS as u64) as usize];
                    let resp = md5_hex(&format!("{ha1}:{nonce}:00000001:c{i}:auth:{ha2}"));
                    let authz = format!(
                        "Authorization: Digest username=\"{u}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
                         response=\"{resp}\", algorithm=MD5, cnonce=\"c{i}\", qop=auth, nc=00000001\r\n"
                    );
                    let _ = sock.send_to(request(i, 2, &authz).as_bytes(), to);
                }
            }
        })
    };
    let sender = {
        let sock = Arc::clone(&sock);
        std::thread::spawn(move || -> Result<Duration, String> {
            lower_this_thread();
            let start = Instant::now();
            let mut lag = Duration::ZERO;
            for i in 0..total {
                // Open loop: request i leaves at i / rate seconds.
                let due = Duration::from_secs_f64(i as f64 / f64::from(rate));
                match due.checked_sub(start.elapsed()) {
                    Some(wait) => std::thread::sleep(wait),
                    // Behind schedule (this thread was not running): what is due goes out at once.
                    None => lag = lag.max(start.elapsed().saturating_sub(due)),
                }
                sock.send_to(request(i, 1, "").as_bytes(), to)
                    .map_err(|e| e.to_string())?;
            }
            Ok(lag)
        })
    };
    let lag = sender
        .join()
        .map_err(|_| "the load generator failed".to_owned())??;
    // How far behind its schedule the generator fell at worst: a generator starved of CPU sends the
    // requests it owes in a burst, and the server's queue (and the probe) then see that burst.
    println!(
        "sip_auth_generator_max_lag_{rate} {:.1} ms",
        lag.as_secs_f64() * 1e3
    );
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let _ = receiver.join();
    let completed = done.load(Ordering::Relaxed);
    Ok((completed, total.saturating_sub(completed)))
}
