//! Failures injected at every seam: mocked location, presence and subscription stores, event bus and
//! notifier. A store that refuses a write means the request is answered with the store error (SIP 503, to
//! which the SIP layer adds `Retry-After`), no event is published, no NOTIFY leaves, and memory keeps
//! nothing of the unwritten state; a store that fails a read refuses the request the same way; a lagging
//! subscriber of the bus slows nobody down and is told how much it missed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Range;

use async_trait::async_trait;
use mockall::mock;
use registrar_events::{Delivery, RegistrarEvent};
use registrar_presence::{Publication, UpdateFn as PresenceUpdate};
use registrar_registry::{ContactSpec, UpdateFn as LocationUpdate};
use registrar_types::{CSeq, ManualClock};

use super::*;

type RegError = registrar_registry::Error;
type PresError = registrar_presence::Error;

/// A location store as the tests drive it. mockall cannot mock [`LocationStore`] itself (its `update`
/// takes a closure whose type has a lifetime parameter, its `aors` an `Option<&Aor>`), so the mock is of
/// this mirror, and [`Mocked`] turns it into a store the way an engine works: `update` reads the current
/// set, runs the registry's function, and writes what it returns.
#[mockall::automock]
#[async_trait]
trait LocationSeam: Send + Sync {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, RegError>;
    async fn write(&self, aor: &Aor, new: Arc<[Binding]>) -> Result<(), RegError>;
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, RegError>;
    async fn next_expiry(&self) -> Result<Option<Timestamp>, RegError>;
    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, RegError>;
    async fn aor_count(&self) -> Result<usize, RegError>;
    async fn aors(&self, after: Option<Aor>, limit: usize) -> Result<Vec<Aor>, RegError>;
}

/// A presence store as the tests drive it (the mirror of [`PresenceStore`], for the same reason).
#[mockall::automock]
#[async_trait]
trait PresenceSeam: Send + Sync {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, PresError>;
    async fn write(&self, aor: &Aor, new: Arc<[Publication]>) -> Result<(), PresError>;
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Publication)>, PresError>;
    async fn next_expiry(&self) -> Result<Option<Timestamp>, PresError>;
}

/// A mocked seam as a store.
struct Mocked<M>(M);

#[async_trait]
impl LocationStore for Mocked<MockLocationSeam> {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, RegError> {
        self.0.bindings(aor).await
    }
    async fn update(&self, aor: &Aor, f: &mut LocationUpdate<'_>) -> Result<(), RegError> {
        let current = self.0.bindings(aor).await?;
        match f(&current)? {
            Some(new) => self.0.write(aor, new).await,
            None => Ok(()),
        }
    }
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, RegError> {
        self.0.remove_expired(now).await
    }
    async fn next_expiry(&self) -> Result<Option<Timestamp>, RegError> {
        self.0.next_expiry().await
    }
    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, RegError> {
        self.0.aor_for_temp_gruu(key).await
    }
    async fn aor_count(&self) -> Result<usize, RegError> {
        self.0.aor_count().await
    }
    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, RegError> {
        self.0.aors(after.cloned(), limit).await
    }
}

#[async_trait]
impl PresenceStore for Mocked<MockPresenceSeam> {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, PresError> {
        self.0.publications(aor).await
    }
    async fn update(&self, aor: &Aor, f: &mut PresenceUpdate<'_>) -> Result<(), PresError> {
        let current = self.0.publications(aor).await?;
        match f(&current)? {
            Some(new) => self.0.write(aor, new).await,
            None => Ok(()),
        }
    }
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Publication)>, PresError> {
        self.0.remove_expired(now).await
    }
    async fn next_expiry(&self) -> Result<Option<Timestamp>, PresError> {
        self.0.next_expiry().await
    }
}

mock! {
    Subs {}
    #[async_trait]
    impl SubscriptionStore for Subs {
        async fn save(&self, changes: &[SubscriptionChange]) -> Result<(), PresError>;
        async fn load(&self) -> Result<StoredPresence, PresError>;
        async fn rules_of(&self, presentity: &Aor) -> Result<Vec<(Aor, WatcherDecision)>, PresError>;
        async fn buddies_of(&self, owner: &Aor) -> Result<Vec<Buddy>, PresError>;
    }
}

mock! {
    #[derive(Debug)]
    Bus {}
    impl EventBus for Bus {
        fn publish_batch(&self, at: Timestamp, events: Vec<RegistrarEvent>) -> Range<u64>;
        fn publish(&self, at: Timestamp, event: RegistrarEvent) -> u64;
        fn subscribe(&self, filter: EventFilter) -> EventStream;
        fn last_seq(&self) -> u64;
    }
}

mock! {
    Notify {}
    #[async_trait]
    impl Notifier for Notify {
        async fn notify(&self, intents: Vec<NotifyIntent>);
    }
}

const T0: Timestamp = Timestamp::from_secs(1_700_000_000);

fn aor(s: &str) -> Aor {
    s.parse().unwrap()
}

fn alice() -> Aor {
    aor("sip:alice@example.com")
}

fn bob() -> Aor {
    aor("sip:bob@example.com")
}

fn disk_full() -> Box<dyn std::error::Error + Send + Sync> {
    "disk full".into()
}

fn register_alice() -> RegisterRequest {
    RegisterRequest::new(alice(), "reg-1".parse().unwrap(), CSeq::new(1).unwrap())
        .contact(ContactSpec::new("sip:alice@192.0.2.1".parse().unwrap()).expires(3600))
}

fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("sub-{n}").parse().unwrap(),
        &format!("from-{n}"),
        &format!("to-{n}"),
    )
}

fn presence_doc(basic: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="t"><status><basic>{basic}</basic></status></tuple></presence>"#
    )
    .into_bytes()
}

/// A location store with no bindings whose every write fails.
fn location_refusing_writes() -> Mocked<MockLocationSeam> {
    let mut l = MockLocationSeam::new();
    l.expect_bindings().returning(|_| Ok(Arc::from(Vec::new())));
    l.expect_write()
        .returning(|_, _| Err(RegError::Storage(disk_full())));
    l.expect_next_expiry().returning(|| Ok(None));
    Mocked(l)
}

/// A presence store with no publications whose every write fails.
fn presence_refusing_writes() -> Mocked<MockPresenceSeam> {
    let mut p = MockPresenceSeam::new();
    p.expect_publications()
        .returning(|_| Ok(Arc::from(Vec::new())));
    p.expect_write()
        .returning(|_, _| Err(PresError::Storage(disk_full())));
    p.expect_next_expiry().returning(|| Ok(None));
    Mocked(p)
}

/// A presence store with no publications that accepts nothing (no write is expected).
fn presence_empty() -> Mocked<MockPresenceSeam> {
    let mut p = MockPresenceSeam::new();
    p.expect_publications()
        .returning(|_| Ok(Arc::from(Vec::new())));
    p.expect_write().never();
    p.expect_next_expiry().returning(|| Ok(None));
    Mocked(p)
}

/// A bus that expects exactly `batches` batches (each checked by `check`) and nothing else.
fn bus_expecting(batches: usize, check: fn(&[RegistrarEvent]) -> bool) -> MockBus {
    let mut b = MockBus::new();
    b.expect_publish_batch()
        .withf(move |_, events| check(events))
        .times(batches)
        .returning(|_, events| 0..events.len() as u64);
    b.expect_publish().never();
    b
}

/// A notifier that expects exactly `calls` hand-overs.
fn notifier_expecting(calls: usize) -> MockNotify {
    let mut n = MockNotify::new();
    n.expect_notify().times(calls).return_const(());
    n
}

fn service<L: LocationStore + 'static, P: PresenceStore + 'static>(
    location: L,
    presence: P,
    bus: MockBus,
    notifier: MockNotify,
) -> ServiceBuilder<L, P> {
    RegistrarService::builder()
        .location_store(location)
        .presence_store(presence)
        .clock(Arc::new(ManualClock::new(T0)))
        .event_bus(Arc::new(bus))
        .notifier(Arc::new(notifier))
}

fn subscription_created(events: &[RegistrarEvent]) -> bool {
    matches!(events, [RegistrarEvent::SubscriptionCreated { .. }])
}

/// REGISTER against a store that refuses the write: 503, no registration event, no NOTIFY to the reg-event
/// subscriber that is watching, and a lookup shows nothing registered.
#[tokio::test]
async fn register_write_failure_is_503_and_changes_nothing() {
    // The one batch and the one NOTIFY are the reg subscription's own; the REGISTER adds none.
    let svc = service(
        location_refusing_writes(),
        presence_empty(),
        bus_expecting(1, subscription_created),
        notifier_expecting(1),
    )
    .build()
    .unwrap();
    let watch = SubscribeRequest::new(dialog(1), alice(), alice())
        .event(EventPackage::Reg)
        .expires(600);
    svc.subscribe(&watch, false).await.unwrap();
    let before = svc.inner.subs.get(&dialog(1)).unwrap();

    let err = svc.register(&register_alice()).await.unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");

    assert!(svc.lookup(&alice()).await.unwrap().is_empty());
    assert_eq!(svc.inner.subs.get(&dialog(1)).unwrap(), before);
}

/// A location store that cannot be read: the lookup and a reg-event SUBSCRIBE are refused with 503, and
/// the refused subscription is not kept.
#[tokio::test]
async fn location_read_failure_is_503() {
    let mut l = MockLocationSeam::new();
    l.expect_bindings()
        .returning(|_| Err(RegError::Storage(disk_full())));
    let svc = service(
        Mocked(l),
        presence_empty(),
        bus_expecting(0, |_| true),
        notifier_expecting(0),
    )
    .build()
    .unwrap();

    assert_eq!(svc.lookup(&alice()).await.unwrap_err().sip_status(), 503);
    let watch = SubscribeRequest::new(dialog(1), alice(), alice())
        .event(EventPackage::Reg)
        .expires(600);
    assert_eq!(
        svc.subscribe(&watch, false).await.unwrap_err().sip_status(),
        503
    );
    assert_eq!(svc.subscription_count(), 0);
}

/// PUBLISH against a store that refuses the write: 503, no presence event, no NOTIFY to the watcher, and
/// neither the store read nor the composed-document cache shows the refused state.
#[tokio::test]
async fn publish_write_failure_is_503_and_changes_nothing() {
    let svc = service(
        location_refusing_writes(),
        presence_refusing_writes(),
        bus_expecting(1, subscription_created),
        notifier_expecting(1),
    )
    .build()
    .unwrap();
    let watch = SubscribeRequest::new(dialog(1), bob(), alice()).expires(600);
    svc.subscribe(&watch, false).await.unwrap();
    let before = svc.inner.subs.get(&dialog(1)).unwrap();

    let req = PublishRequest::initial(alice(), &presence_doc("open"));
    let err = svc.publish(&req).await.unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");

    let now = svc.presence(&alice()).await.unwrap();
    assert!(now.document.tuples.is_empty(), "{:?}", now.document);
    assert!(
        svc.inner
            .presences
            .cached(&alice())
            .is_none_or(|c| c.document.tuples.is_empty())
    );
    assert_eq!(svc.inner.subs.get(&dialog(1)).unwrap(), before);
}

/// A presence store that cannot be read: a presence SUBSCRIBE is refused with 503 and not kept, with no
/// event and no NOTIFY.
#[tokio::test]
async fn presence_read_failure_refuses_the_subscription() {
    let mut p = MockPresenceSeam::new();
    p.expect_publications()
        .returning(|_| Err(PresError::Storage(disk_full())));
    let p = Mocked(p);
    let svc = service(
        location_refusing_writes(),
        p,
        bus_expecting(0, |_| true),
        notifier_expecting(0),
    )
    .build()
    .unwrap();
    let watch = SubscribeRequest::new(dialog(1), bob(), alice()).expires(600);
    let err = svc.subscribe(&watch, false).await.unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");
    assert_eq!(svc.subscription_count(), 0);
    assert!(svc.watchers_of(&alice()).is_empty());
}

/// A subscription store that refuses the record of a new subscription: 503, the subscription is forgotten,
/// and neither its event nor its first NOTIFY leaves.
#[tokio::test]
async fn subscription_store_failure_forgets_the_new_subscription() {
    let mut s = MockSubs::new();
    s.expect_save()
        .returning(|_| Err(PresError::Storage(disk_full())));
    let svc = service(
        location_refusing_writes(),
        presence_empty(),
        bus_expecting(0, |_| true),
        notifier_expecting(0),
    )
    .subscription_store(Arc::new(s))
    .build()
    .unwrap();
    let watch = SubscribeRequest::new(dialog(1), bob(), alice()).expires(600);
    let err = svc.subscribe(&watch, false).await.unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");
    assert_eq!(svc.subscription_count(), 0);
    assert!(svc.watching(&bob()).is_empty());
}

/// A refresh and an unsubscribe the subscription store refuses: 503 each, and the subscription stays as
/// the store holds it (same expiry, still active), with no event and no NOTIFY beyond the first.
#[tokio::test]
async fn subscription_store_failure_keeps_the_stored_subscription() {
    let mut s = MockSubs::new();
    let mut first = true;
    s.expect_save().returning(move |_| {
        if std::mem::take(&mut first) {
            Ok(())
        } else {
            Err(PresError::Storage(disk_full()))
        }
    });
    let svc = service(
        location_refusing_writes(),
        presence_empty(),
        bus_expecting(1, subscription_created),
        notifier_expecting(1),
    )
    .subscription_store(Arc::new(s))
    .build()
    .unwrap();
    let watch = SubscribeRequest::new(dialog(1), bob(), alice()).expires(600);
    svc.subscribe(&watch, false).await.unwrap();
    let stored = svc.inner.subs.get(&dialog(1)).unwrap();

    let refresh = SubscribeRequest::new(dialog(1), bob(), alice())
        .in_dialog()
        .expires(3600);
    assert_eq!(
        svc.subscribe(&refresh, false)
            .await
            .unwrap_err()
            .sip_status(),
        503
    );
    let kept = svc.inner.subs.get(&dialog(1)).unwrap();
    assert_eq!(kept.expires_at, stored.expires_at);
    assert_eq!(kept.state, stored.state);

    assert_eq!(
        svc.unsubscribe(&dialog(1)).await.unwrap_err().sip_status(),
        503
    );
    let kept = svc.inner.subs.get(&dialog(1)).unwrap();
    assert_eq!(kept.state, stored.state);
    assert_eq!(svc.subscription_count(), 1);
}

/// A decision the subscription store refuses is not made: the error comes back, the default decision
/// stays in force, and no event or NOTIFY announces it.
#[tokio::test]
async fn decision_store_failure_makes_no_decision() {
    let mut s = MockSubs::new();
    s.expect_save()
        .returning(|_| Err(PresError::Storage(disk_full())));
    let svc = service(
        location_refusing_writes(),
        presence_empty(),
        bus_expecting(0, |_| true),
        notifier_expecting(0),
    )
    .subscription_store(Arc::new(s))
    .build()
    .unwrap();
    let before = svc.watcher_decision(&alice(), &bob());
    let err = svc
        .authorize_watcher(&alice(), &bob(), WatcherDecision::Block)
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");
    assert_eq!(svc.watcher_decision(&alice(), &bob()), before);
    assert!(svc.decisions_of(&alice()).is_empty());
}

/// A decision whose presence document cannot be read is refused before it is stored: the store sees no
/// write at all.
#[tokio::test]
async fn decision_with_unreadable_presence_is_not_stored() {
    let mut p = MockPresenceSeam::new();
    p.expect_publications()
        .returning(|_| Err(PresError::Storage(disk_full())));
    let p = Mocked(p);
    let mut s = MockSubs::new();
    s.expect_save().never();
    let svc = service(
        location_refusing_writes(),
        p,
        bus_expecting(0, |_| true),
        notifier_expecting(0),
    )
    .subscription_store(Arc::new(s))
    .build()
    .unwrap();
    let err = svc
        .authorize_watcher(&alice(), &bob(), WatcherDecision::Allow)
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 503, "{err}");
}

/// A subscriber that never reads the bus: every REGISTER still succeeds and every NOTIFY still leaves; the
/// subscriber is told how many events it missed and goes on with the newest.
#[tokio::test]
async fn a_lagging_bus_subscriber_slows_nobody_down() {
    let (notifier, mut notifies) = crate::ChannelNotifier::new(1_000);
    let bus = Arc::new(InProcessBus::new(4));
    let svc = RegistrarService::builder()
        .clock(Arc::new(ManualClock::new(T0)))
        .event_bus(bus.clone())
        .notifier(Arc::new(notifier))
        .build()
        .unwrap();
    let mut slow = svc.events(EventFilter::all());
    let watch = SubscribeRequest::new(dialog(1), alice(), alice())
        .event(EventPackage::Reg)
        .expires(600);
    svc.subscribe(&watch, false).await.unwrap();
    let n = 50_u32;
    for i in 1..=n {
        let req = RegisterRequest::new(alice(), "reg-1".parse().unwrap(), CSeq::new(i).unwrap())
            .contact(ContactSpec::new("sip:alice@192.0.2.1".parse().unwrap()).expires(3600 + i));
        svc.register(&req).await.unwrap();
    }
    // The first NOTIFY of the subscription, then one per REGISTER.
    let mut sent = 0;
    while notifies.try_recv().is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 1 + n);

    // One batch for the subscription, one per REGISTER; the bus kept the newest 4.
    let total = u64::from(1 + n);
    match slow.try_next() {
        Some(Delivery::Lagged { missed, resumes_at }) => {
            assert_eq!(missed, total - 4);
            assert_eq!(resumes_at, total - 3);
        }
        other => panic!("expected a lag notice, got {other:?}"),
    }
    let mut rest = 0;
    while let Some(d) = slow.try_next() {
        assert!(matches!(d, Delivery::Events(_)), "{d:?}");
        rest += 1;
    }
    assert_eq!(rest, 4);
    assert_eq!(bus.last_seq(), total);
}
