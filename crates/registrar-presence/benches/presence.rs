//! PUBLISH fan-out to 1, 100 and 10 000 watchers (the composed body is built once and shared), and
//! subscribe / refresh throughput, and resource list NOTIFYs (RFC 4662) for a 100-buddy list, and one
//! receptionist line watched by 10 000 BLF (`dialog`) subscribers: a call-state change to all their NOTIFY
//! intents, each with its own version, one shared body.
#![allow(clippy::unwrap_used, missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use registrar_pidf::{Dialog, DialogState, Direction};
use registrar_presence::{
    Buddy, BuddyLists, DialogId, EventPackage, ListContext, MemoryPresenceStore, PresencePolicy,
    Presences, PublishRequest, ResourceLists, SubscribeRequest, SubscriptionPolicy, Subscriptions,
};
use registrar_types::{Aor, ETag, Timestamp};

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn body(basic: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="desk"><status><basic>{basic}</basic></status><contact priority="0.8">sip:alice@192.0.2.10</contact></tuple></presence>"#
    )
    .into_bytes()
}

fn dialog(n: u64) -> DialogId {
    DialogId::new(
        format!("call-{n}@192.0.2.1").parse().unwrap(),
        &format!("f{n}"),
        &format!("t{n}"),
    )
}

fn fanout(c: &mut Criterion) {
    let alice: Aor = "sip:alice@example.com".parse().unwrap();
    let mut g = c.benchmark_group("publish_fanout");
    for watchers in [1u64, 100, 10_000] {
        let presences =
            Presences::new(MemoryPresenceStore::new(), PresencePolicy::default()).unwrap();
        let mut policy = SubscriptionPolicy::default();
        policy.max_per_watcher = usize::MAX;
        let subs = Subscriptions::new(policy).unwrap();
        let first = ready(presences.publish_with_etag(
            T0,
            &PublishRequest::initial(alice.clone(), &body("open")),
            ETag::from_random(0),
        ))
        .unwrap();
        let mut etag = first.outcome.etag.unwrap();
        let xml = ready(presences.presence(&alice, T0)).unwrap().xml.clone();
        for n in 0..watchers {
            let w: Aor = format!("sip:w{n}@example.com").parse().unwrap();
            subs.subscribe(
                T0,
                &SubscribeRequest::new(dialog(n), w, alice.clone()),
                &xml,
            )
            .unwrap();
        }
        let bodies = [body("closed"), body("open")];
        let mut k = 0u128;
        g.throughput(Throughput::Elements(watchers));
        g.bench_function(BenchmarkId::from_parameter(watchers), |b| {
            b.iter(|| {
                k += 1;
                let req =
                    PublishRequest::modify(alice.clone(), etag.clone(), &bodies[(k % 2) as usize]);
                let r = ready(presences.publish_with_etag(T0, &req, ETag::from_random(k))).unwrap();
                etag = r.outcome.etag.unwrap();
                let composed = r.changed.unwrap();
                let intents = subs.notify_change(&alice, &composed.xml, T0);
                assert_eq!(intents.len() as u64, watchers);
                black_box(intents)
            });
        });
    }
    g.finish();
}

/// The receptionist's line changes state (a reported call rings, is answered, ends) with 10 000 BLF
/// subscribers: the new composed dialog-info to every NOTIFY intent, each at its subscription's next
/// version, all sharing one body.
fn blf_fanout(c: &mut Criterion) {
    let reception: Aor = "sip:reception@example.com".parse().unwrap();
    let presences = Presences::new(MemoryPresenceStore::new(), PresencePolicy::default()).unwrap();
    let mut policy = SubscriptionPolicy::default();
    policy.max_per_watcher = usize::MAX;
    let subs = Subscriptions::new(policy).unwrap();
    let idle = ready(presences.event_body(&EventPackage::Dialog, &reception, T0)).unwrap();
    let watchers = 10_000u64;
    for n in 0..watchers {
        let w: Aor = format!("sip:desk{n}@example.com").parse().unwrap();
        subs.subscribe(
            T0,
            &SubscribeRequest::new(dialog(n), w, reception.clone()).event(EventPackage::Dialog),
            &idle,
        )
        .unwrap();
    }
    let states = [
        DialogState::Early,
        DialogState::Confirmed,
        DialogState::Terminated,
    ];
    let mut k = 0usize;
    let mut g = c.benchmark_group("blf_fanout");
    g.throughput(Throughput::Elements(watchers));
    g.bench_function(BenchmarkId::from_parameter(watchers), |b| {
        b.iter(|| {
            k += 1;
            let mut d = Dialog::new("d1", states[k % 3]);
            d.call_id = Some("call-1@pbx".to_owned());
            d.direction = Some(Direction::Recipient);
            let r = ready(presences.report_call(T0, &reception, &d, None, 3600)).unwrap();
            let changed = r.dialogs.unwrap();
            let intents = subs.notify_event(&changed.event, &reception, &changed.body, T0);
            assert_eq!(intents.len() as u64, watchers);
            black_box(intents)
        });
    });
    g.finish();
}

fn subscribe(c: &mut Criterion) {
    let alice: Aor = "sip:alice@example.com".parse().unwrap();
    let bob: Aor = "sip:bob@example.com".parse().unwrap();
    let xml: Arc<str> = Arc::from(String::from_utf8(body("open")).unwrap());
    let mut g = c.benchmark_group("subscribe");
    g.throughput(Throughput::Elements(1));
    let mut policy = SubscriptionPolicy::default();
    policy.max_per_watcher = usize::MAX;
    let subs = Subscriptions::new(policy).unwrap();
    let reqs: Vec<_> = (0..200_000u64)
        .map(|n| {
            SubscribeRequest::new(
                dialog(n),
                bob.clone(),
                format!("sip:u{n}@example.com").parse().unwrap(),
            )
        })
        .collect();
    let mut n = 0usize;
    g.bench_function("new", |b| {
        b.iter(|| {
            let r = subs.subscribe(T0, &reqs[n % reqs.len()], &xml).unwrap();
            n += 1;
            black_box(r)
        });
    });
    let refresh = SubscribeRequest::new(dialog(u64::MAX), bob, alice).in_dialog();
    subs.subscribe(
        T0,
        &SubscribeRequest::new(
            dialog(u64::MAX),
            "sip:bob@example.com".parse().unwrap(),
            "sip:alice@example.com".parse().unwrap(),
        ),
        &xml,
    )
    .unwrap();
    g.bench_function("refresh", |b| {
        b.iter(|| black_box(subs.subscribe(T0, &refresh, &xml).unwrap()))
    });
    g.finish();
}

fn resource_list(c: &mut Criterion) {
    let alice: Aor = "sip:alice@example.com".parse().unwrap();
    let list: Aor = "sip:alice-buddies@example.com".parse().unwrap();
    let lists = BuddyLists::default();
    let mut buddies = Vec::new();
    for n in 0..100 {
        let b: Aor = format!("sip:b{n}@example.com").parse().unwrap();
        lists
            .add(&alice, Buddy::new(b.clone()).named(&format!("Buddy {n}")))
            .unwrap();
        buddies.push(b);
    }
    let subs = Subscriptions::new(SubscriptionPolicy::default()).unwrap();
    let rls = ResourceLists::new(SubscriptionPolicy::default()).unwrap();
    let xml: Arc<str> = Arc::from(String::from_utf8(body("open")).unwrap());
    let presence_of = |_: &Aor| Arc::clone(&xml);
    let ctx = ListContext::new(&lists, &subs, &presence_of);
    let req = SubscribeRequest::new(dialog(1), alice.clone(), list).expires(3600);
    rls.subscribe(T0, &req, true, ctx).unwrap();
    let mut g = c.benchmark_group("resource_list_100");
    g.throughput(Throughput::Elements(1));
    g.bench_function("full_state_refresh", |b| {
        let refresh = req.clone().in_dialog();
        b.iter(|| black_box(rls.subscribe(T0, &refresh, true, ctx).unwrap()));
    });
    let mut k = 0usize;
    g.bench_function("one_buddy_changed", |b| {
        b.iter(|| {
            k += 1;
            let n = rls.buddy_changed(T0, &buddies[k % buddies.len()], ctx);
            assert_eq!(n.len(), 1);
            black_box(n)
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = fanout, blf_fanout, subscribe, resource_list
}
criterion_main!(benches);
