//! The `EventBus` trait and the in-process bus on tokio channels.

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use registrar_types::Timestamp;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::event::{Envelope, EventFilter, RegistrarEvent};

/// The events of one operation (a REGISTER with three contacts, an expiry sweep), delivered together.
pub type Batch = Arc<[Envelope]>;

/// Where events go. Publishing never waits for subscribers.
pub trait EventBus: Send + Sync + std::fmt::Debug {
    /// Publish the events of one operation at `at` as one batch; returns their sequence numbers (empty for no
    /// events).
    fn publish_batch(&self, at: Timestamp, events: Vec<RegistrarEvent>) -> Range<u64>;

    /// Publish one event; returns its sequence number.
    fn publish(&self, at: Timestamp, event: RegistrarEvent) -> u64 {
        self.publish_batch(at, vec![event]).start
    }

    /// Receive every event published from now on that passes `filter`.
    fn subscribe(&self, filter: EventFilter) -> EventStream;

    /// The sequence number of the last event published (0 before the first).
    fn last_seq(&self) -> u64;
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Delivery {
    /// The events of one batch that pass the filter, in order. A subscriber without filter shares the
    /// published batch itself (no copy).
    Events(Batch),
    /// The subscriber fell behind and `missed` events were dropped for it (counting every event in the gap,
    /// including those its filter would have skipped). Delivery goes on with the next events.
    Lagged {
        /// How many events were skipped.
        missed: u64,
        /// The sequence number of the next event that will be delivered.
        resumes_at: u64,
    },
}

/// A subscription to a bus.
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<Batch>,
    filter: EventFilter,
    last_seq: u64,
    stash: Option<Batch>,
}

impl EventStream {
    /// A stream over `rx`, which sees events after sequence number `last_seq`. For bus implementations.
    pub const fn new(rx: broadcast::Receiver<Batch>, filter: EventFilter, last_seq: u64) -> Self {
        Self {
            rx,
            filter,
            last_seq,
            stash: None,
        }
    }

    /// The next delivery; `None` once the bus is gone and everything was delivered.
    pub async fn next(&mut self) -> Option<Delivery> {
        loop {
            let batch = match self.stash.take() {
                Some(b) => b,
                None => match self.rx.recv().await {
                    Ok(b) => b,
                    Err(RecvError::Closed) => return None,
                    Err(RecvError::Lagged(_)) => match self.rx.recv().await {
                        Ok(b) => return Some(self.lagged(b)),
                        Err(RecvError::Closed) => return None,
                        Err(RecvError::Lagged(_)) => continue,
                    },
                },
            };
            if let Some(d) = self.deliver(batch) {
                return Some(d);
            }
        }
    }

    /// The next delivery if one is ready, without waiting.
    pub fn try_next(&mut self) -> Option<Delivery> {
        loop {
            let batch = match self.stash.take() {
                Some(b) => b,
                None => match self.rx.try_recv() {
                    Ok(b) => b,
                    Err(TryRecvError::Lagged(_)) => match self.rx.try_recv() {
                        Ok(b) => return Some(self.lagged(b)),
                        Err(TryRecvError::Lagged(_)) => continue,
                        Err(_) => return None,
                    },
                    Err(_) => return None,
                },
            };
            if let Some(d) = self.deliver(batch) {
                return Some(d);
            }
        }
    }

    /// The sequence number of the last event this stream has seen (delivered, filtered out or missed).
    pub const fn last_seq(&self) -> u64 {
        self.last_seq
    }

    fn lagged(&mut self, next: Batch) -> Delivery {
        let first = next.first().map_or(self.last_seq + 1, |e| e.seq);
        let missed = first.saturating_sub(self.last_seq + 1);
        self.last_seq = first.saturating_sub(1);
        self.stash = Some(next);
        Delivery::Lagged {
            missed,
            resumes_at: first,
        }
    }

    fn deliver(&mut self, batch: Batch) -> Option<Delivery> {
        let first = batch.first()?.seq;
        if first > self.last_seq + 1 {
            // A gap the channel did not report (cannot happen with one ordered sender, but never hide it).
            return Some(self.lagged(batch));
        }
        if let Some(last) = batch.last() {
            self.last_seq = self.last_seq.max(last.seq);
        }
        let events: Batch =
            if self.filter.is_all() || batch.iter().all(|e| self.filter.matches(&e.event)) {
                batch
            } else {
                batch
                    .iter()
                    .filter(|e| self.filter.matches(&e.event))
                    .cloned()
                    .collect()
            };
        (!events.is_empty()).then_some(Delivery::Events(events))
    }
}

/// The in-process bus: one tokio broadcast channel of batches. Sequence numbers are assigned and batches sent
/// under one lock, so every subscriber sees them in order; a subscriber more than `capacity` batches behind
/// loses the oldest and is told how many events it missed.
#[derive(Debug)]
pub struct InProcessBus {
    tx: broadcast::Sender<Batch>,
    seq: Mutex<u64>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl InProcessBus {
    /// A bus keeping up to `capacity` batches for slow subscribers (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self {
            tx,
            seq: Mutex::new(0),
        }
    }

    /// How many subscribers are attached.
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }
}

impl EventBus for InProcessBus {
    fn publish_batch(&self, at: Timestamp, events: Vec<RegistrarEvent>) -> Range<u64> {
        let mut seq = self.seq.lock().unwrap_or_else(PoisonError::into_inner);
        let start = *seq + 1;
        if events.is_empty() {
            return start..start;
        }
        let batch: Batch = events
            .into_iter()
            .map(|event| {
                *seq += 1;
                Envelope {
                    seq: *seq,
                    at,
                    event,
                }
            })
            .collect();
        let end = *seq + 1;
        // No subscriber is not an error: the events are simply not observed.
        let _ = self.tx.send(batch);
        start..end
    }

    fn subscribe(&self, filter: EventFilter) -> EventStream {
        // Under the lock, so the stream starts exactly after the last published event.
        let seq = self.seq.lock().unwrap_or_else(PoisonError::into_inner);
        EventStream::new(self.tx.subscribe(), filter, *seq)
    }

    fn last_seq(&self) -> u64 {
        *self.seq.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
