//! The operations kit in `packaging/` and `registrar.example.toml` against the real server: the alert rules
//! pass `promtool check rules`; every metric the alert rules and the Grafana dashboard query is one a running
//! server exports; `registrar serve --check-config` prints the effective configuration or the first error.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::{Server, TempDir, bin, require};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `registrar_…` metric names a text mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("registrar_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn promtool_accepts_the_alert_rules() {
    if !require("promtool") {
        return;
    }
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo().join("packaging/prometheus/registrar-alerts.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_dashboard_and_the_alerts_query_only_exported_metrics() {
    // With a federation peer, whose failures the alerts watch.
    let (private, _) = crate::directory::keygen();
    let (_, peer_public) = crate::directory::keygen();
    let s = Server::start(
        "domains = [\"example.com\"]",
        &format!(
            "[federation]\nserver_id = \"here\"\nprivate_key = \"{private}\"\ndomains = [\"example.com\"]\n\n\
             [[federation.peers]]\nid = \"there\"\nurl = \"http://127.0.0.1:9\"\npublic_key = \"{peer_public}\"\ntrust = \"verified\"\n"
        ),
    );
    // One request, so the per-method counters exist as they do on any server in use.
    let register = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKops1;rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:ops@example.com>;tag=o1\r\nTo: <sip:ops@example.com>\r\nCall-ID: ops-1\r\n\
         CSeq: 1 REGISTER\r\nContact: <sip:ops@127.0.0.1:5999>\r\nExpires: 600\r\nContent-Length: 0\r\n\r\n";
    let answer = s.udp(register.as_bytes(), Duration::from_secs(5)).unwrap();
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    let (st, metrics) = s.http("GET", "/metrics");
    assert_eq!(st, 200);
    let exported: BTreeSet<String> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(|n| {
            n.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_owned()
        })
        .collect();
    let dashboard =
        std::fs::read_to_string(repo().join("packaging/grafana/registrar.json")).unwrap();
    let _: serde_json::Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let alerts =
        std::fs::read_to_string(repo().join("packaging/prometheus/registrar-alerts.yml")).unwrap();
    let wanted = metric_names(&dashboard)
        .into_iter()
        .chain(metric_names(&alerts))
        // The dashboard's own uid is not a metric.
        .filter(|n| n != "registrar_overview");
    let mut missing = Vec::new();
    for name in wanted {
        if !exported.contains(&name) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\n/metrics:\n{metrics}"
    );
}

#[test]
fn check_config_prints_the_effective_configuration_or_the_first_error() {
    let out = Command::new(bin())
        .args(["serve", "--check-config", "--config"])
        .arg(repo().join("registrar.example.toml"))
        .args(["--http-listen", "127.0.0.1:9999"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("listen = \"127.0.0.1:9999\""), "{text}");
    assert!(text.contains("[presence]"), "{text}");

    let dir = TempDir::new("check-config");
    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "[registrar]\nmin_expires = 900\nmax_expires = 60\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("min_expires"), "{err}");
}

/// Every admin route without a token (401 with `WWW-Authenticate`), with a directory token lacking the admin
/// scope (403), with an admin directory token and with a static admin token (served); `/health` and
/// `/openapi.json` open; `/metrics` open unless `http.metrics_require_token`; `registrar ctl --token` and
/// `REGISTRAR_TOKEN`.
#[test]
fn admin_routes_need_an_admin_token_once_one_is_configured() {
    const KEY: &str = "an-hs256-key-for-the-admin-test";
    const STATIC: &str = "static-admin-token-0123456789abcdef";
    let s = Server::start(
        "domains = [\"example.com\"]",
        &format!("[directory]\njwt_secret = \"{KEY}\"\n"),
    );
    let mint = |admin: bool| {
        let mut args = vec!["token", "ops@example.com", "--hours", "1"];
        if admin {
            args.push("--admin");
        }
        let mut c = Command::new(bin())
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        writeln!(c.stdin.take().unwrap(), "{KEY}").unwrap();
        let out = c.wait_with_output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let admin = mint(true);
    let user = mint(false);
    let routes: [(&str, &str, &str); 11] = [
        ("GET", "/v1/registrations", ""),
        ("GET", "/v1/registrations/sip:alice@example.com", ""),
        ("DELETE", "/v1/registrations/sip:alice@example.com", ""),
        ("GET", "/v1/presence/sip:alice@example.com", ""),
        (
            "GET",
            "/v1/subscriptions?presentity=sip:alice@example.com",
            "",
        ),
        ("GET", "/v1/buddies/sip:alice@example.com", ""),
        (
            "PUT",
            "/v1/buddies/sip:alice@example.com/sip:bob@example.com",
            "{}",
        ),
        ("GET", "/v1/watchers/sip:alice@example.com", ""),
        ("GET", "/v1/mwi/sip:alice@example.com", ""),
        (
            "PUT",
            "/v1/mwi/sip:alice@example.com",
            r#"{"voice": {"new": 1}}"#,
        ),
        ("GET", "/v1/dialogs/sip:alice@example.com", ""),
    ];
    for (method, path, body) in routes {
        let ct = if body.is_empty() {
            ""
        } else {
            "application/json"
        };
        let (st, head, text) = s.try_http_full(method, path, "", ct, body).unwrap();
        assert_eq!(st, 401, "{method} {path} without a token: {text}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert!(text.contains("\"error\""), "{text}");
        let (st, _, text) = s
            .try_http_full(
                method,
                path,
                &format!("Authorization: Bearer {user}\r\n"),
                ct,
                body,
            )
            .unwrap();
        assert_eq!(st, 403, "{method} {path} with a user token: {text}");
        let (st, _, text) = s
            .try_http_full(
                method,
                path,
                "Authorization: Bearer not-a-token\r\n",
                ct,
                body,
            )
            .unwrap();
        assert_eq!(st, 401, "{method} {path} with garbage: {text}");
        let (st, _, text) = s
            .try_http_full(
                method,
                path,
                &format!("Authorization: Bearer {admin}\r\n"),
                ct,
                body,
            )
            .unwrap();
        assert!(
            st != 401 && st != 403,
            "{method} {path} with the admin token: {st} {text}"
        );
    }
    assert_eq!(s.http("GET", "/health").0, 200);
    assert_eq!(s.http("GET", "/openapi.json").0, 200);
    assert_eq!(s.http("GET", "/metrics").0, 200);

    // ctl carries the token from --token or REGISTRAR_TOKEN.
    let ctl = |token: Option<&str>, env: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(["ctl", "--http", &s.http.to_string()]);
        if let Some(t) = token {
            c.args(["--token", t]);
        }
        c.env_remove("REGISTRAR_TOKEN");
        if let Some(e) = env {
            c.env("REGISTRAR_TOKEN", e);
        }
        c.args(["registrations"]).output().unwrap()
    };
    let out = ctl(None, None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
    assert!(ctl(Some(&admin), None).status.success());
    assert!(ctl(None, Some(&admin)).status.success());

    // A static token of http.admin_tokens, and /metrics protected when asked.
    let s2 = Server::start_on_with(
        crate::support::free_port(),
        &format!("admin_tokens = [\"{STATIC}\"]\nmetrics_require_token = true\n"),
        "",
    );
    let (st, _, _) = s2
        .try_http_full(
            "GET",
            "/v1/registrations",
            &format!("Authorization: Bearer {STATIC}\r\n"),
            "",
            "",
        )
        .unwrap();
    assert_eq!(st, 200);
    let (st, _, _) = s2
        .try_http_full(
            "GET",
            "/v1/registrations",
            "Authorization: Bearer static-admin-token-0123456789abcdeX\r\n",
            "",
            "",
        )
        .unwrap();
    assert_eq!(st, 401);
    assert_eq!(s2.http("GET", "/metrics").0, 401);
    let (st, _, _) = s2
        .try_http_full(
            "GET",
            "/metrics",
            &format!("Authorization: Bearer {STATIC}\r\n"),
            "",
            "",
        )
        .unwrap();
    assert_eq!(st, 200);
    assert_eq!(s2.http("GET", "/health").0, 200);
}

/// Without any admin credential, a non-loopback HTTP address is refused (with the reason) unless
/// `http.allow_unauthenticated` is set.
#[test]
fn an_open_admin_api_stays_on_loopback() {
    let dir = TempDir::new("open-admin");
    let open = dir.0.join("open.toml");
    std::fs::write(&open, "[http]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("allow_unauthenticated") && err.contains("admin_tokens"),
        "{err}"
    );
    std::fs::write(
        &open,
        "[http]\nlisten = \"0.0.0.0:8080\"\nallow_unauthenticated = true\n",
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&open)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let short = dir.0.join("short.toml");
    std::fs::write(&short, "[http]\nadmin_tokens = [\"abc\"]\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&short)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
