use std::sync::Arc;
use std::time::Duration;

use registrar_events::{Delivery, Envelope, EventFilter, EventStream, RegistrarEvent};
use registrar_presence::{DialogId, NotifyIntent, PublishRequest, SubscribeRequest};
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::{ChannelNotifier, RegistrarService};
use registrar_types::{Aor, ManualClock, Timestamp};
use tokio::sync::mpsc;

pub(crate) const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
pub(crate) const ALICE: &str = "sip:alice@example.com";
pub(crate) const BOB: &str = "sip:bob@example.com";

pub(crate) fn aor(s: &str) -> Aor {
    s.parse().unwrap()
}

/// A service on a manual clock with a channel notifier and an event stream opened before anything happens.
pub(crate) struct Harness {
    pub(crate) svc: RegistrarService,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) notifies: mpsc::Receiver<NotifyIntent>,
    pub(crate) events: EventStream,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with(RegistrarService::builder())
    }

    pub(crate) fn with(
        b: registrar_service::ServiceBuilder<
            registrar_registry::MemoryLocationStore,
            registrar_presence::MemoryPresenceStore,
        >,
    ) -> Self {
        let clock = Arc::new(ManualClock::new(T0));
        let (notifier, notifies) = ChannelNotifier::new(10_000);
        let svc = b
            .clock(clock.clone())
            .notifier(Arc::new(notifier))
            .build()
            .unwrap();
        let events = svc.events(EventFilter::all());
        Self {
            svc,
            clock,
            notifies,
            events,
        }
    }

    pub(crate) fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Every NOTIFY handed to the notifier so far, in order.
    pub(crate) fn take_notifies(&mut self) -> Vec<NotifyIntent> {
        let mut out = Vec::new();
        while let Ok(n) = self.notifies.try_recv() {
            out.push(n);
        }
        out
    }

    /// Every event published so far, checking that sequence numbers have no gap.
    pub(crate) fn take_events(&mut self) -> Vec<Envelope> {
        let mut out: Vec<Envelope> = Vec::new();
        while let Some(d) = self.events.try_next() {
            match d {
                Delivery::Events(e) => out.extend(e.iter().cloned()),
                other => panic!("unexpected {other:?}"),
            }
        }
        for w in out.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1, "no gap in sequence numbers");
        }
        out
    }

    pub(crate) async fn register(&self, who: &str, call_id: &str, contact: &str, expires: u32) {
        self.svc
            .register(
                &RegisterRequest::new(
                    aor(who),
                    call_id.parse().unwrap(),
                    registrar_types::CSeq::new(1).unwrap(),
                )
                .contact(ContactSpec::new(contact.parse().unwrap()).expires(expires)),
            )
            .await
            .unwrap();
    }
}

pub(crate) fn events_only(e: &[Envelope]) -> Vec<&RegistrarEvent> {
    e.iter().map(|e| &e.event).collect()
}

pub(crate) fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("sub-{n}").parse().unwrap(),
        &format!("from-{n}"),
        &format!("to-{n}"),
    )
}

pub(crate) fn subscribe(n: u32, watcher: &str, presentity: &str) -> SubscribeRequest {
    SubscribeRequest::new(dialog(n), aor(watcher), aor(presentity)).expires(600)
}

pub(crate) fn pidf(entity: &str, tuple: &str, basic: &str, note: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="{entity}"><tuple id="{tuple}"><status><basic>{basic}</basic></status><note>{note}</note></tuple></presence>"#
    )
    .into_bytes()
}

pub(crate) fn publish(entity: &str, tuple: &str, basic: &str, note: &str) -> PublishRequest {
    PublishRequest::initial(aor(entity), &pidf(entity, tuple, basic, note))
}
