//! RFC 5367 with RFC 4662, the Linphone way, with Linphone itself (Debian `linphone-cli`, liblinphone 5.1):
//! the phone registers, then subscribes to its whole friend list with one SUBSCRIBE to its `rls_uri`
//! (`Require: recipient-list-subscribe`, the friends in a resource-lists body it deflates), and shows each
//! friend's presence from the RLMI + PIDF NOTIFYs; a friend who blocked the user never shows as online.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Options, Server, TempDir, free_port, require};

struct Linphone {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<String>>,
    dir: TempDir,
}

impl Linphone {
    /// linphonec registered as `user` at `server`, with `friends` (name, AoR) and the resource list server
    /// `sip:rls@example.com`, every request routed through `server`.
    fn start(server: &Server, user: &str, friends: &[(&str, &str)]) -> Self {
        let dir = TempDir::new("linphone");
        let port = free_port();
        let s = server.sip;
        let mut config = format!(
            "[sip]\nsip_port={port}\nsip_tcp_port=0\nsip_random_port=0\nauto_net_state_mon=0\n\
             register_only_when_network_is_up=0\nrls_uri=sip:rls@example.com\ndefault_proxy=0\n\n\
             [proxy_0]\nreg_proxy=<sip:{s};transport=udp>\nreg_route=<sip:{s};transport=udp;lr>\n\
             reg_identity=sip:{user}@example.com\nreg_expires=600\nreg_sendregister=1\npublish=0\n"
        );
        for (i, (name, aor)) in friends.iter().enumerate() {
            config.push_str(&format!(
                "\n[friend_{i}]\nurl=\"{name}\" <{aor}>\npol=accept\nsubscribe=1\n"
            ));
        }
        let rc = dir.0.join("linphonerc");
        std::fs::write(&rc, config).unwrap();
        // Its own home: a fresh friends database each run.
        std::fs::create_dir_all(dir.0.join(".local/share/linphone")).unwrap();
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .args(["-d", "6", "-l"])
            .arg(dir.0.join("linphone.log"))
            .env("HOME", &dir.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start linphonec");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self {
            child,
            stdin,
            out,
            dir,
        }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.0.join("linphone.log")).unwrap_or_default();
        // The SIP traffic is what tells why; the rest is audio noise.
        log.lines()
            .filter(|l| !l.contains("mediastreamer") && !l.contains("soundcard"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Linphone {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool, context: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn publish(server: &Server, who: &str, basic: &str) {
    let doc = format!(
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"{who}\"><tuple id=\"t\"><status><basic>{basic}</basic></status></tuple></presence>"
    );
    let (st, body) = server
        .try_http(
            "PUT",
            &format!("/v1/presence/{who}"),
            "application/pidf+xml",
            &doc,
        )
        .unwrap();
    assert_eq!(st, 200, "{body}");
}

#[test]
fn linphone_friend_list_through_an_adhoc_resource_list() {
    if !require("linphonec") {
        return;
    }
    let server = Server::start_with(
        &Options::default(),
        "",
        "[presence]\ndefault_watcher_policy = \"allow\"\n",
    );
    publish(&server, "sip:pat@example.com", "open");
    publish(&server, "sip:quinn@example.com", "open");
    // Quinn does not want Olga to see her: the list shows her as refused, never her state.
    let (st, body) = server
        .try_http(
            "PUT",
            "/v1/watchers/sip:quinn@example.com/sip:olga@example.com",
            "application/json",
            r#"{"decision":"block"}"#,
        )
        .unwrap();
    assert!(st == 200 || st == 204, "{st} {body}");

    let phone = Linphone::start(
        &server,
        "olga",
        &[
            ("Pat", "sip:pat@example.com"),
            ("Quinn", "sip:quinn@example.com"),
        ],
    );
    let ctx = || {
        format!(
            "linphonec:\n{}\nlinphone log:\n{}\nserver:\n{}",
            phone.output(),
            phone.log(),
            server.log()
        )
    };
    wait_for(
        "Linphone to show Pat online",
        || {
            phone
                .output()
                .contains("Friend \"Pat\" <sip:pat@example.com> is Online")
        },
        ctx,
    );
    let log = phone.log();
    assert!(
        log.contains("Require: recipient-list-subscribe"),
        "the friends came as an ad-hoc list"
    );
    assert!(
        !log.contains("SUBSCRIBE sip:pat@example.com"),
        "not one by one"
    );

    publish(&server, "sip:pat@example.com", "closed");
    wait_for(
        "Linphone to show Pat offline",
        || {
            phone
                .output()
                .contains("Friend \"Pat\" <sip:pat@example.com> is Offline")
        },
        ctx,
    );
    assert!(
        !phone
            .output()
            .contains("\"Quinn\" <sip:quinn@example.com> is Online"),
        "a friend who blocked the user is never shown online:\n{}",
        ctx()
    );
}
