//! The operator console: a web page served by `registrar serve` at `/console` (HTML, CSS and JavaScript
//! embedded in the binary, no build step, nothing fetched from elsewhere) over the admin API, and
//! `GET /v1/console/stream`, the live figures it charts (server-sent events, behind the admin token).
//!
//! The page itself holds no data: it asks for the admin token (when the server wants one), keeps it in the
//! tab's session storage, and sends it with every API call.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use tokio::sync::mpsc;

use super::AppState;

const PAGE: &str = include_str!("console/index.html");
const SCRIPT: &str = include_str!("console/console.js");
const STYLE: &str = include_str!("console/console.css");

/// How often the stream sends the figures.
const TICK: Duration = Duration::from_secs(2);

pub(super) async fn page() -> Html<&'static str> {
    Html(PAGE)
}

pub(super) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        SCRIPT,
    )
        .into_response()
}

pub(super) async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        STYLE,
    )
        .into_response()
}

/// The figures of one tick.
#[derive(Debug, Default, Serialize)]
struct Figures {
    /// Seconds since the Unix epoch.
    at: u64,
    registrations: f64,
    subscriptions: f64,
    /// SIP requests per second, by method.
    requests: HashMap<String, f64>,
    /// Answers per second, by class (`2xx` …).
    answers: HashMap<String, f64>,
    notify_sent: f64,
    notify_failed: f64,
    /// Storage write latency (seconds): median and 95th percentile since start.
    storage_p50: Option<f64>,
    storage_p95: Option<f64>,
}

/// One sample of the counters the figures are rates of.
#[derive(Default)]
struct Counters {
    by_method: HashMap<String, f64>,
    by_class: HashMap<String, f64>,
    notify_sent: f64,
    notify_failed: f64,
}

/// A metric's labels, as `(name, value)` pairs.
type Labels<'a> = Vec<(&'a str, &'a str)>;

/// A Prometheus text line's name, labels and value.
fn sample(line: &str) -> Option<(&str, Labels<'_>, f64)> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((n, rest)) => (n, rest.trim_end_matches('}')),
        None => (head, ""),
    };
    let labels = labels
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    Some((name, labels, value))
}

fn label<'a>(labels: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Read the figures out of the exporter's text.
fn read(text: &str) -> (Counters, Option<f64>, Option<f64>) {
    let mut c = Counters::default();
    let (mut p50, mut p95) = (None, None);
    for line in text.lines() {
        let Some((name, labels, v)) = sample(line) else {
            continue;
        };
        match name {
            "registrar_sip_requests_total" => {
                if let Some(m) = label(&labels, "method") {
                    *c.by_method.entry(m.to_owned()).or_default() += v;
                }
                if let Some(code) = label(&labels, "code") {
                    let class = format!("{}xx", code.chars().next().unwrap_or('?'));
                    *c.by_class.entry(class).or_default() += v;
                }
            }
            "registrar_notify_sent_total" => c.notify_sent = v,
            "registrar_notify_failed_total" => c.notify_failed = v,
            "registrar_storage_seconds" if !v.is_nan() => match label(&labels, "quantile") {
                Some("0.5") => p50 = Some(v),
                Some("0.95") => p95 = Some(v),
                _ => {}
            },
            _ => {}
        }
    }
    (c, p50, p95)
}

fn rates(
    now: &HashMap<String, f64>,
    before: &HashMap<String, f64>,
    secs: f64,
) -> HashMap<String, f64> {
    now.iter()
        .map(|(k, v)| {
            (
                k.clone(),
                ((v - before.get(k).copied().unwrap_or(*v)) / secs).max(0.0),
            )
        })
        .collect()
}

/// The channel's receiving end as the stream `Sse` wants.
struct Events(mpsc::Receiver<Event>);

impl futures_core::Stream for Events {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// `GET /v1/console/stream`: every two seconds an event `figures` with the active registrations and
/// subscriptions, request and answer rates, NOTIFY rates and storage latency. Ends when the client goes.
pub(super) async fn stream(State(s): State<AppState>) -> impl IntoResponse {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut before: Option<(Counters, Instant)> = None;
        loop {
            super::refresh_gauges(&s).await;
            let (counters, p50, p95) = read(&s.prometheus.render());
            let now = Instant::now();
            let mut f = Figures {
                at: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                storage_p50: p50,
                storage_p95: p95,
                ..Figures::default()
            };
            let svc = s.ep.service();
            #[allow(clippy::cast_precision_loss)]
            {
                f.registrations = svc.registered_count().await.unwrap_or(0) as f64;
                f.subscriptions = svc.subscription_count() as f64;
            }
            if let Some((b, at)) = &before {
                let secs = now.duration_since(*at).as_secs_f64().max(0.001);
                f.requests = rates(&counters.by_method, &b.by_method, secs);
                f.answers = rates(&counters.by_class, &b.by_class, secs);
                f.notify_sent = ((counters.notify_sent - b.notify_sent) / secs).max(0.0);
                f.notify_failed = ((counters.notify_failed - b.notify_failed) / secs).max(0.0);
            }
            before = Some((counters, now));
            let event = Event::default()
                .event("figures")
                .data(serde_json::to_string(&f).unwrap_or_default());
            if tx.send(event).await.is_err() {
                return;
            }
            tokio::time::sleep(TICK).await;
        }
    });
    Sse::new(Events(rx)).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_read_from_the_exporter_text() {
        let text = "# TYPE registrar_sip_requests_total counter\n\
            registrar_sip_requests_total{method=\"REGISTER\",code=\"200\"} 10\n\
            registrar_sip_requests_total{method=\"REGISTER\",code=\"401\"} 4\n\
            registrar_sip_requests_total{method=\"SUBSCRIBE\",code=\"200\"} 3\n\
            registrar_notify_sent_total 7\n\
            registrar_storage_seconds{op=\"registration\",quantile=\"0.5\"} 0.001\n\
            registrar_storage_seconds{op=\"registration\",quantile=\"0.95\"} 0.004\n";
        let (c, p50, p95) = read(text);
        assert_eq!(c.by_method["REGISTER"], 14.0);
        assert_eq!(c.by_class["2xx"], 13.0);
        assert_eq!(c.by_class["4xx"], 4.0);
        assert_eq!(c.notify_sent, 7.0);
        assert_eq!((p50, p95), (Some(0.001), Some(0.004)));
        let mut before = HashMap::new();
        before.insert("REGISTER".to_owned(), 4.0);
        assert_eq!(rates(&c.by_method, &before, 2.0)["REGISTER"], 5.0);
    }
}
