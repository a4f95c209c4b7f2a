//! How NOTIFY intents leave the service.

use async_trait::async_trait;
use registrar_presence::NotifyIntent;
use tokio::sync::mpsc;

/// Where the service hands the NOTIFYs it decides to send: the SIP adapter implements it (and so can a SIP
/// stack such as session-core). Called after the state change is complete, with no lock held, in the order
/// the NOTIFYs of one subscription must be sent; an implementation may wait (back-pressure) but should not
/// block for long.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Send these NOTIFYs.
    async fn notify(&self, intents: Vec<NotifyIntent>);
}

/// A notifier that sends nothing: for a service used only through its API (no SIP subscribers).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNotifier;

#[async_trait]
impl Notifier for NoNotifier {
    async fn notify(&self, _intents: Vec<NotifyIntent>) {}
}

/// A notifier that puts every intent on a bounded channel, in order; when the channel is full the service
/// waits (back-pressure) rather than dropping a NOTIFY.
#[derive(Clone, Debug)]
pub struct ChannelNotifier {
    tx: mpsc::Sender<NotifyIntent>,
}

impl ChannelNotifier {
    /// A notifier and the receiving end of its channel, holding up to `capacity` intents.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<NotifyIntent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }
}

#[async_trait]
impl Notifier for ChannelNotifier {
    async fn notify(&self, intents: Vec<NotifyIntent>) {
        for i in intents {
            // A closed receiver means nobody sends NOTIFYs any more; the intents have nowhere to go.
            if self.tx.send(i).await.is_err() {
                return;
            }
        }
    }
}
