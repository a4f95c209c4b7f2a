//! Wake-ups through the local APNs service (`cargo xtask bench push`): 10 000 sleeping devices, each woken by
//! `RegistrarService::reach` with a VoIP push over TLS and HTTP/2 to the local service (which checks every
//! provider token), each device registering again when its push arrives. Reports wake-ups per second and
//! the time from the push sent to the REGISTER seen (what a reach adds to a call's set-up beyond the
//! device's own reaction) and the whole reach, p50/p99.
//!
//! In process: the devices' REGISTERs are service calls, not datagrams (the SIP path has its own benchmarks);
//! what is measured is the push path: signing, HTTP/2 to the provider, the wait and its wake.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use registrar_push::local::{LocalConfig, LocalPushService};
use registrar_push::{Apns, ApnsConfig, Senders};
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::RegistrarService;
use registrar_service::push::PushPolicy;
use registrar_types::{Aor, CSeq};

const DEVICES: usize = 10_000;
const IN_FLIGHT: usize = 500;

fn path(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

fn token(i: usize) -> String {
    format!("{i:064x}")
}

fn register(i: usize, cseq: u32) -> RegisterRequest {
    let aor: Aor = format!("sip:u{i}@example.com").parse().unwrap();
    let contact = format!(
        "sip:u{i}@10.0.{}.{}:5060;pn-provider=apns;pn-param=TEAM123456.com.example.phone.voip;pn-prid={}",
        i / 250,
        i % 250,
        token(i)
    );
    RegisterRequest::new(
        aor,
        format!("c{i}@bench").parse().unwrap(),
        CSeq::new(cseq).unwrap(),
    )
    .contact(ContactSpec::new(contact.parse().unwrap()))
    .expires(3600)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let key = std::fs::read(path("tests/fixtures/AuthKey_LOCALKEY01.p8")).unwrap();
        let mut lc = LocalConfig::default();
        lc.cert_file = path("../registrar-server/tests/fixtures/tls/cert.pem");
        lc.key_file = path("../registrar-server/tests/fixtures/tls/key.pem");
        lc.apns = Some(("TEAM123456".into(), "LOCALKEY01".into(), key.clone()));
        let local = LocalPushService::start(lc).await.unwrap();
        let mut ac = ApnsConfig::new("TEAM123456", "LOCALKEY01", key);
        ac.url = local.url();
        ac.ca_file = Some(path("../registrar-server/tests/fixtures/tls/cert.pem"));
        let senders = Senders::new().with(Arc::new(Apns::new(ac).unwrap()));
        let svc = RegistrarService::builder()
            .push(Arc::new(senders), PushPolicy::default())
            .build()
            .unwrap();
        for i in 0..DEVICES {
            svc.register(&register(i, 1)).await.unwrap();
        }
        // The devices: each registers again when its push arrives.
        let mut pushes = local.watch();
        let devices = svc.clone();
        let woke = tokio::spawn(async move {
            let mut n = 0;
            while n < DEVICES {
                let Ok(p) = pushes.recv().await else { break };
                assert_eq!(p.verdict, Ok(()));
                let i = usize::from_str_radix(&p.device, 16).unwrap();
                let svc = devices.clone();
                tokio::spawn(async move { svc.register(&register(i, 2)).await.unwrap() });
                n += 1;
            }
        });
        let started = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..DEVICES {
            let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
            let svc = svc.clone();
            tasks.spawn(async move {
                let aor: Aor = format!("sip:u{i}@example.com").parse().unwrap();
                let t = Instant::now();
                let r = svc.reach(&aor, Duration::from_secs(30)).await.unwrap();
                drop(permit);
                (t.elapsed(), r)
            });
        }
        let mut push_to_register = Vec::with_capacity(DEVICES);
        let mut whole = Vec::with_capacity(DEVICES);
        let mut failed = 0;
        while let Some(done) = tasks.join_next().await {
            let (took, r) = done.unwrap();
            whole.push(took);
            match r.woken.first() {
                Some((_, d)) => push_to_register.push(*d),
                None => failed += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        woke.abort();
        println!("push wake-ups through the local APNs service (TLS, HTTP/2), {DEVICES} devices, {IN_FLIGHT} in flight:");
        println!(
            "  wake-ups/s: {:.0}   failed: {failed}   total {secs:.2} s",
            DEVICES as f64 / secs
        );
        println!(
            "  push sent -> REGISTER seen: p50 {:.2} ms  p99 {:.2} ms",
            pct(&mut push_to_register, 0.5).as_secs_f64() * 1e3,
            pct(&mut push_to_register, 0.99).as_secs_f64() * 1e3
        );
        println!(
            "  whole reach (lookup, push, wait, lookup): p50 {:.2} ms  p99 {:.2} ms",
            pct(&mut whole, 0.5).as_secs_f64() * 1e3,
            pct(&mut whole, 0.99).as_secs_f64() * 1e3
        );
    });
}
