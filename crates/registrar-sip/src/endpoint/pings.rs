//! OPTIONS pings to devices registered over UDP without outbound (what Kamailio's nathelper does): they keep
//! the device's NAT binding open and find devices that went away without unregistering. A ping answered with
//! any response counts as an answer; a device that leaves `ping_failures` pings in a row unanswered loses
//! that binding, as [`registrar_registry::ChangeKind::Unreachable`] with its events. Off unless the server
//! sends pings ([`Endpoint::ping`]); devices using outbound keep their own flows alive (RFC 5626) and are
//! never pinged.

use super::*;
use registrar_types::Binding;

/// What is known of one binding's pings.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PingState {
    /// Pings missed in a row.
    pub(super) misses: u32,
    /// A ping is waiting for its answer.
    pub(super) waiting: bool,
}

/// A ping waiting for its answer.
#[derive(Clone, Debug)]
pub(super) struct PingTx {
    pub(super) aor: Aor,
    pub(super) contact: Arc<str>,
    pub(super) deadline_ms: u64,
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    /// An OPTIONS ping to binding `b` of `aor`, from local address `local`, answered within `wait_ms` or
    /// counted as missed. `None` when the binding is not one to ping (not over UDP, an outbound flow, no
    /// source address) or a ping to it is still waiting.
    pub fn ping(
        &self,
        now: Timestamp,
        aor: &Aor,
        b: &Binding,
        local: SocketAddr,
        wait_ms: u64,
    ) -> Option<Outgoing> {
        if b.transport != Some(Transport::Udp) || b.reg_id.is_some() {
            return None;
        }
        let to = b.source?;
        let contact: Arc<str> = Arc::from(b.contact.to_string());
        {
            let mut st = self
                .ping_state
                .entry((aor.clone(), Arc::clone(&contact)))
                .or_default();
            if st.waiting {
                return None;
            }
            st.waiting = true;
        }
        let branch = format!("z9hG4bK{}", self.token(now));
        let local_host = if local.ip().is_unspecified() {
            self.cfg
                .advertise
                .clone()
                .unwrap_or_else(|| local.to_string())
        } else {
            local.to_string()
        };
        let s = format!(
            "OPTIONS {contact} SIP/2.0\r\nVia: SIP/2.0/UDP {local_host};branch={branch};rport\r\nMax-Forwards: 70\r\n\
             From: <sip:{local_host}>;tag={branch}\r\nTo: <{contact}>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n\
             Server: {}\r\nContent-Length: 0\r\n\r\n",
            self.cfg.server_name
        );
        let deadline_ms = now.as_millis() + wait_ms;
        self.pings.insert(
            branch,
            PingTx {
                aor: aor.clone(),
                contact,
                deadline_ms,
            },
        );
        self.next_ping_deadline
            .fetch_min(deadline_ms, Ordering::Relaxed);
        Some(Outgoing {
            to: Peer::udp(to),
            bytes: Bytes::from(s),
        })
    }

    /// The answer to a ping: the device is there.
    pub(super) fn on_ping_response(&self, branch: &str) -> bool {
        let Some((_, p)) = self.pings.remove(branch) else {
            return false;
        };
        self.ping_state.remove(&(p.aor, p.contact));
        true
    }

    /// Count the pings whose time is up at `now`; end the bindings that missed too many in a row.
    pub(super) async fn ping_timeouts(&self, now: Timestamp) {
        let now_ms = now.as_millis();
        // Scanned only once the earliest deadline passed (the timer task calls this every tick).
        if now_ms < self.next_ping_deadline.load(Ordering::Relaxed) {
            return;
        }
        // Reset first: a ping filed during the scan lowers it again, and the scan's minimum joins below.
        self.next_ping_deadline.store(u64::MAX, Ordering::Relaxed);
        let mut due = Vec::new();
        let mut next = u64::MAX;
        for p in &self.pings {
            if p.deadline_ms <= now_ms {
                due.push(p.key().clone());
            } else {
                next = next.min(p.deadline_ms);
            }
        }
        self.next_ping_deadline.fetch_min(next, Ordering::Relaxed);
        for branch in due {
            let Some((_, p)) = self.pings.remove(&branch) else {
                continue;
            };
            let key = (p.aor.clone(), Arc::clone(&p.contact));
            let missed = {
                let mut st = self.ping_state.entry(key.clone()).or_default();
                st.waiting = false;
                st.misses += 1;
                st.misses
            };
            if missed < self.cfg.ping_failures.max(1) {
                continue;
            }
            self.ping_state.remove(&key);
            let contact = p.contact;
            let gone = move |b: &Binding| {
                b.reg_id.is_none() && b.contact.to_string().as_str() == &*contact
            };
            let _ = self.svc.remove_unreachable_at(now, &p.aor, &gone).await;
        }
    }
}
