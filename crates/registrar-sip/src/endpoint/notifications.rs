//! NOTIFY client transactions: the request an intent becomes, and what its answer (or its absence) means for the subscription.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    /// Turn a NOTIFY the service decided into a request to send, and start its client transaction.
    /// `None` when the dialog is gone or was ended by a failed NOTIFY.
    pub fn notify(&self, now: Timestamp, intent: &NotifyIntent) -> Option<Outgoing> {
        let terminated = matches!(intent.state.state, SubState::Terminated(_));
        let route = if terminated {
            self.dialogs.remove(&intent.dialog).map(|(_, r)| r)?
        } else {
            self.dialogs.get(&intent.dialog)?.clone()
        };
        if route.dead {
            return None;
        }
        let branch = format!("z9hG4bK{}", self.token(now));
        let body = intent.body_text();
        let mut s = String::with_capacity(512 + body.as_ref().map_or(0, |b| b.len()));
        let _ = write!(
            s,
            "NOTIFY {} SIP/2.0\r\nVia: SIP/2.0/{} {};branch={branch};rport\r\nMax-Forwards: 70\r\n",
            route.remote_target,
            route.peer.proto.as_str(),
            route.local
        );
        for r in &route.route_set {
            let _ = write!(s, "Route: {r}\r\n");
        }
        let _ = write!(
            s,
            "From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} NOTIFY\r\nContact: <sip:{}{}>\r\n",
            route.from,
            route.to,
            intent.dialog.call_id,
            intent.cseq,
            route.local,
            route.peer.proto.uri_param()
        );
        for (name, value) in helpers::notify_headers(intent) {
            if name == "Event"
                && let Some(id) = &route.event_id
            {
                let _ = write!(s, "Event: {value};id={id}\r\n");
                continue;
            }
            let _ = write!(s, "{name}: {value}\r\n");
        }
        let _ = write!(s, "Server: {}\r\n\r\n", self.cfg.server_name);
        if let Some(b) = &body {
            s.push_str(b);
        }
        let out = Outgoing {
            to: route.peer,
            bytes: Bytes::from(s),
        };
        let now_ms = now.as_millis();
        self.client_tx.insert(
            branch,
            ClientTx {
                out: out.clone(),
                dialog: intent.dialog.clone(),
                interval_ms: self.cfg.t1_ms,
                next_ms: if route.peer.proto == Proto::Udp {
                    now_ms + self.cfg.t1_ms
                } else {
                    u64::MAX
                },
                deadline_ms: now_ms + 64 * self.cfg.t1_ms,
            },
        );
        self.stats.notifies_sent.fetch_add(1, Ordering::Relaxed);
        Some(out)
    }

    pub(super) async fn on_response(&self, now: Timestamp, msg: &Message, status: u16) {
        if status < 200 {
            return;
        }
        let Some(branch) = msg.top_via().branch.as_deref() else {
            return;
        };
        if msg.cseq_method() == "OPTIONS" {
            self.on_ping_response(branch);
            return;
        }
        if msg.cseq_method() != "NOTIFY" {
            return;
        }
        let Some((_, tx)) = self.client_tx.remove(branch) else {
            return;
        };
        if (200..300).contains(&status) {
            return;
        }
        self.stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
        // RFC 6665 §4.2.2 and RFC 5057 §5.1: these end the dialog usage, so the subscription.
        if matches!(
            status,
            404 | 408 | 410 | 416 | 480 | 481 | 482 | 483 | 484 | 485 | 489 | 501 | 604
        ) {
            self.end_subscription(now, &tx.dialog).await;
        }
    }

    pub(super) async fn end_subscription(&self, now: Timestamp, dialog: &DialogId) {
        let existed = self
            .dialogs
            .get_mut(dialog)
            .map(|mut r| r.dead = true)
            .is_some();
        if existed {
            // The service removes it and emits its events; the final NOTIFY it asks for is not sent
            // (the route is dead).
            let _ = self.svc.unsubscribe_at(now, dialog).await;
            self.dialogs.remove(dialog);
        }
    }
}

/// What a subscription dialog needs to send NOTIFYs (RFC 6665 §4.2.2, RFC 3261 §12).
#[derive(Clone, Debug)]
pub(super) struct Route {
    pub(super) peer: Peer,
    pub(super) local: String,
    pub(super) remote_target: String,
    /// Our From: the SUBSCRIBE's To with our tag.
    pub(super) from: String,
    /// Our To: the SUBSCRIBE's From (with the subscriber's tag).
    pub(super) to: String,
    pub(super) route_set: Vec<String>,
    pub(super) event_id: Option<String>,
    pub(super) dead: bool,
}

impl Route {
    /// The route as text kept with its subscription (see `Subscription::route`): one field per line, the
    /// route set last. Header values hold no line feed, so the lines split back unambiguously.
    pub(super) fn encode(&self) -> String {
        let mut s = format!(
            "r1\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.peer.proto.as_str(),
            self.peer.addr,
            self.local,
            self.remote_target,
            self.from,
            self.to,
            self.event_id.as_deref().unwrap_or("")
        );
        for r in &self.route_set {
            s.push('\n');
            s.push_str(r);
        }
        s
    }

    /// A route from [`Route::encode`]'s text; `None` when it is not one. A stream peer comes back without
    /// its connection (gone with the old process): the transport opens a new one for the next NOTIFY.
    pub(super) fn decode(text: &str) -> Option<Self> {
        let mut lines = text.split('\n');
        if lines.next()? != "r1" {
            return None;
        }
        let proto = Proto::parse(lines.next()?)?;
        let addr: SocketAddr = lines.next()?.parse().ok()?;
        let local = lines.next()?.to_owned();
        let remote_target = lines.next()?.to_owned();
        let from = lines.next()?.to_owned();
        let to = lines.next()?.to_owned();
        let event_id = Some(lines.next()?)
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        Some(Self {
            peer: Peer {
                proto,
                addr,
                conn: None,
            },
            local,
            remote_target,
            from,
            to,
            route_set: lines.map(str::to_owned).collect(),
            event_id,
            dead: false,
        })
    }
}

#[derive(Clone, Debug)]
pub(super) struct ClientTx {
    pub(super) out: Outgoing,
    pub(super) dialog: DialogId,
    pub(super) interval_ms: u64,
    pub(super) next_ms: u64,
    pub(super) deadline_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_survive_their_text_form() {
        for (route_set, event_id) in [
            (vec![], None),
            (
                vec![
                    "<sip:p1.example.com;lr>".to_owned(),
                    "<sip:p2;lr>".to_owned(),
                ],
                Some("7".to_owned()),
            ),
        ] {
            let r = Route {
                peer: Peer::tcp("192.0.2.1:5070".parse().unwrap(), 9),
                local: "127.0.0.1:5060".to_owned(),
                remote_target: "sip:bob@192.0.2.1:5070;transport=tcp".to_owned(),
                from: "<sip:alice@example.com>;tag=ours".to_owned(),
                to: "\"Bob\" <sip:bob@example.com>;tag=theirs".to_owned(),
                route_set,
                event_id,
                dead: false,
            };
            let back = Route::decode(&r.encode()).unwrap();
            assert_eq!(
                back.peer,
                Peer {
                    conn: None,
                    ..r.peer
                }
            );
            assert_eq!(
                (back.local, back.remote_target, back.from, back.to),
                (r.local, r.remote_target, r.from, r.to)
            );
            assert_eq!((back.route_set, back.event_id), (r.route_set, r.event_id));
        }
        assert!(Route::decode("r2\nUDP").is_none());
        assert!(Route::decode("r1\nSCTP\n1.2.3.4:5\na\nb\nc\nd\ne").is_none());
        assert!(Route::decode("r1\nUDP\nnot-an-address\na\nb\nc\nd\ne").is_none());
        assert!(Route::decode("r1\nUDP\n1.2.3.4:5\na").is_none());
    }
}
