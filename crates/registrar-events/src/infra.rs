//! The bridge onto rvoip's `infra-common` event system (cargo feature `infra-common`).
//!
//! rvoip's crates (session-core, dialog-core, …) talk through a [`GlobalEventCoordinator`]: publishers hand it
//! `Arc<dyn CrossCrateEvent>`, consumers subscribe by event type id (a `&'static str`) and downcast what they
//! receive. [`CoordinatorBridge`] subscribes to a registrar [`EventBus`] and republishes every event there as a
//! [`RegistrarCrossCrateEvent`], so session-core consumes registrar events with the machinery it already has:
//!
//! - one event type id per [`EventKind`] ([`event_type_id`], all of them in [`EVENT_TYPE_IDS`]);
//! - each event keeps its sequence number, timestamp and batch boundary ([`RegistrarCrossCrateEvent::Event`]);
//! - when the bridge falls behind the bus, a [`RegistrarCrossCrateEvent::Lagged`] notice with the exact count
//!   goes out under every event type id the bridge forwards, so no consumer misses events silently;
//! - [`CoordinatorBridge::stop`] forwards everything published before the call, then stops.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rvoip_infra_common::events::coordinator::GlobalEventCoordinator;
use rvoip_infra_common::events::cross_crate::{CrossCrateEvent, EventTypeId};
use rvoip_infra_common::events::types::EventPriority;
use rvoip_infra_common::planes::PlaneType;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::bus::{Delivery, EventBus};
use crate::event::{Envelope, EventFilter, EventKind};

/// Event type id of registration events on the coordinator.
pub const REGISTRATION_EVENT_TYPE: EventTypeId = "registrar.registration";
/// Event type id of presence events.
pub const PRESENCE_EVENT_TYPE: EventTypeId = "registrar.presence";
/// Event type id of subscription events.
pub const SUBSCRIPTION_EVENT_TYPE: EventTypeId = "registrar.subscription";
/// Event type id of watcher authorization decisions.
pub const AUTHORIZATION_EVENT_TYPE: EventTypeId = "registrar.authorization";
/// Event type id of buddy list changes.
pub const BUDDY_LIST_EVENT_TYPE: EventTypeId = "registrar.buddy_list";

/// Every event type id the bridge can publish, in [`EventKind`] order.
pub const EVENT_TYPE_IDS: [EventTypeId; 5] = [
    REGISTRATION_EVENT_TYPE,
    PRESENCE_EVENT_TYPE,
    SUBSCRIPTION_EVENT_TYPE,
    AUTHORIZATION_EVENT_TYPE,
    BUDDY_LIST_EVENT_TYPE,
];

const KINDS: [EventKind; 5] = [
    EventKind::Registration,
    EventKind::Presence,
    EventKind::Subscription,
    EventKind::Authorization,
    EventKind::BuddyList,
];

/// The coordinator's event type id for events of `kind`.
pub const fn event_type_id(kind: EventKind) -> EventTypeId {
    match kind {
        EventKind::Registration => REGISTRATION_EVENT_TYPE,
        EventKind::Presence => PRESENCE_EVENT_TYPE,
        EventKind::Subscription => SUBSCRIPTION_EVENT_TYPE,
        EventKind::Authorization => AUTHORIZATION_EVENT_TYPE,
        EventKind::BuddyList => BUDDY_LIST_EVENT_TYPE,
    }
}

/// A registrar event as it travels on the rvoip coordinator. Consumers downcast
/// `Arc<dyn CrossCrateEvent>` to this type with `event.as_any().downcast_ref()`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
// Each value travels in its own `Arc` on the coordinator; boxing the envelope would add an allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum RegistrarCrossCrateEvent {
    /// One event, with its sequence number and timestamp.
    Event {
        /// The event as the bus delivered it.
        envelope: Envelope,
        /// Whether it is the last event of its batch (the events of one registrar operation).
        last_in_batch: bool,
    },
    /// The bridge fell behind the bus: `missed` events (counting across every kind) never reached the
    /// coordinator. Sent under each event type id the bridge forwards.
    Lagged {
        /// The event type id this notice was published under.
        event_type: EventTypeId,
        /// How many events were skipped.
        missed: u64,
        /// The sequence number of the next event that will be forwarded.
        resumes_at: u64,
    },
}

impl CrossCrateEvent for RegistrarCrossCrateEvent {
    fn event_type(&self) -> EventTypeId {
        match self {
            Self::Event { envelope, .. } => event_type_id(envelope.event.kind()),
            Self::Lagged { event_type, .. } => event_type,
        }
    }

    fn source_plane(&self) -> PlaneType {
        PlaneType::Signaling
    }

    fn target_plane(&self) -> PlaneType {
        PlaneType::Signaling
    }

    fn priority(&self) -> EventPriority {
        match self {
            Self::Event { .. } => EventPriority::Normal,
            Self::Lagged { .. } => EventPriority::High,
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// What a bridge did, read with [`CoordinatorBridge::stats`] or returned by [`CoordinatorBridge::stop`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Events handed to the coordinator.
    pub forwarded: u64,
    /// Events the bridge missed because it fell behind the bus (each reported by a lag notice).
    pub missed: u64,
    /// Events or notices the coordinator refused (it was shutting down).
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    forwarded: AtomicU64,
    missed: AtomicU64,
    refused: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> BridgeStats {
        BridgeStats {
            forwarded: self.forwarded.load(Ordering::Relaxed),
            missed: self.missed.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Forwards a registrar [`EventBus`] onto a rvoip [`GlobalEventCoordinator`].
#[derive(Debug)]
pub struct CoordinatorBridge {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
}

impl CoordinatorBridge {
    /// Subscribe to `bus` with `filter` and forward every event that passes to `coordinator`, from a task on
    /// the current tokio runtime. Events published before this call are not forwarded.
    pub fn spawn(
        bus: &dyn EventBus,
        filter: EventFilter,
        coordinator: Arc<GlobalEventCoordinator>,
    ) -> Self {
        let mut stream = bus.subscribe(filter.clone());
        let lag_types: Vec<EventTypeId> = KINDS
            .iter()
            .filter(|k| filter.admits_kind(**k))
            .map(|k| event_type_id(*k))
            .collect();
        let counters = Arc::new(Counters::default());
        let (stop, mut stopped) = oneshot::channel();
        let c = Arc::clone(&counters);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    d = stream.next() => match d {
                        Some(d) => forward(&coordinator, &lag_types, &c, d).await,
                        None => return,
                    },
                }
            }
            // Stopping: forward what was published before the stop, then end.
            while let Some(d) = stream.try_next() {
                forward(&coordinator, &lag_types, &c, d).await;
            }
        });
        Self {
            stop: Some(stop),
            task,
            counters,
        }
    }

    /// What the bridge did so far.
    pub fn stats(&self) -> BridgeStats {
        self.counters.snapshot()
    }

    /// Forward every event published before this call, then stop; returns what the bridge did.
    pub async fn stop(mut self) -> BridgeStats {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
        self.counters.snapshot()
    }
}

impl Drop for CoordinatorBridge {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

async fn forward(
    coordinator: &GlobalEventCoordinator,
    lag_types: &[EventTypeId],
    c: &Counters,
    d: Delivery,
) {
    match d {
        Delivery::Events(batch) => {
            let n = batch.len();
            for (i, envelope) in batch.iter().enumerate() {
                let event = RegistrarCrossCrateEvent::Event {
                    envelope: envelope.clone(),
                    last_in_batch: i + 1 == n,
                };
                match coordinator.publish(Arc::new(event)).await {
                    Ok(()) => c.forwarded.fetch_add(1, Ordering::Relaxed),
                    Err(_) => c.refused.fetch_add(1, Ordering::Relaxed),
                };
            }
        }
        Delivery::Lagged { missed, resumes_at } => {
            c.missed.fetch_add(missed, Ordering::Relaxed);
            for event_type in lag_types {
                let notice = RegistrarCrossCrateEvent::Lagged {
                    event_type,
                    missed,
                    resumes_at,
                };
                if coordinator.publish(Arc::new(notice)).await.is_err() {
                    c.refused.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
