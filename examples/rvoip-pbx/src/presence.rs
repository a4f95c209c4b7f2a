//! The presence port: the registrar's own SIP endpoint over UDP, for SUBSCRIBE, PUBLISH and their NOTIFYs.
//!
//! rvoip-sip 0.4's dialog layer answers every SUBSCRIBE with 200 and no NOTIFY, with no hook for the
//! application, and does not serve PUBLISH, so presence cannot share its port. Phones send SUBSCRIBE and
//! PUBLISH here instead (their outbound proxy for those requests, or the presence server address in their
//! configuration). The same [`Endpoint`] answers the REGISTERs rvoip hands over, so one registrar holds
//! bindings, subscriptions and presence.
//!
//! Bounded like the server's UDP listener: datagrams over the endpoint's size cap are dropped by the
//! parser, at most [`IN_FLIGHT`] requests are handled at once (more wait in the socket's buffer), NOTIFYs
//! queue in the notifier's bounded channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use registrar_core::presence::{NotifyIntent, PresenceStore};
use registrar_core::registry::LocationStore;
use registrar_sip::{Endpoint, Outgoing, Peer};
use tokio::net::UdpSocket;
use tokio::sync::{RwLock, Semaphore, mpsc};

/// Requests handled at once.
pub const IN_FLIGHT: usize = 256;

/// Serve `ep` on `sock` until the process ends: requests in, responses out, the notifier's NOTIFYs (`notifies`)
/// and the endpoint's timers (retransmissions, timeouts) every 50 ms.
pub fn serve<L, P>(
    ep: Arc<Endpoint<L, P>>,
    sock: Arc<UdpSocket>,
    mut notifies: mpsc::Receiver<NotifyIntent>,
) -> std::io::Result<SocketAddr>
where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    let local = sock.local_addr()?;
    // A NOTIFY a request caused goes out after that request's response (RFC 6665 §4.2.1 lets either come
    // first, but phones handle this order best): requests hold the lock shared, the NOTIFY pump exclusively.
    let order = Arc::new(RwLock::new(()));
    {
        let (ep, sock, order) = (Arc::clone(&ep), Arc::clone(&sock), Arc::clone(&order));
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (n, from) = match sock.recv_from(&mut buf).await {
                    Ok(r) => r,
                    Err(e) => {
                        // ICMP port unreachable from a phone gone away shows up here on Linux.
                        tracing::debug!("presence port: {e}");
                        continue;
                    }
                };
                let bytes = Bytes::copy_from_slice(&buf[..n]);
                let (ep, sock, order) = (Arc::clone(&ep), Arc::clone(&sock), Arc::clone(&order));
                tokio::spawn(async move {
                    let _held = order.read().await;
                    let now = ep.service().now();
                    let handled = ep.handle(now, Peer::udp(from), local, bytes).await;
                    for o in handled.out {
                        send(&ep, &sock, o).await;
                    }
                    drop(permit);
                });
            }
        });
    }
    {
        let (ep, sock) = (Arc::clone(&ep), Arc::clone(&sock));
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = notifies.recv().await {
                batch.push(first);
                while let Ok(more) = notifies.try_recv() {
                    batch.push(more);
                }
                drop(order.write().await);
                let now = ep.service().now();
                for intent in batch.drain(..) {
                    if let Some(o) = ep.notify(now, &intent) {
                        send(&ep, &sock, o).await;
                    }
                }
            }
        });
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = ep.service().now();
            for o in ep.poll(now).await {
                send(&ep, &sock, o).await;
            }
        }
    });
    Ok(local)
}

async fn send<L, P>(ep: &Endpoint<L, P>, sock: &UdpSocket, o: Outgoing)
where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    if let Err(e) = sock.send_to(&o.bytes, o.to.addr).await {
        tracing::debug!("presence port: send to {}: {e}", o.to.addr);
        ep.send_failed(ep.service().now(), &o).await;
    }
}
