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
