//! Outbound flows (RFC 5626): the connections devices registered over, and what their closing ends; and
//! what a message the transport could not send means for its transaction.

use super::*;
use registrar_types::Binding;

/// The outbound registrations made over one connection.
#[derive(Debug)]
pub(super) struct Flow {
    /// The connection's peer (transport, address, connection id).
    pub(super) peer: Peer,
    /// The AoRs that registered an outbound binding over it.
    pub(super) aors: Vec<Aor>,
}

/// Most AoRs remembered per connection (a trunk may register a few; a phone one or two): the map stays
/// bounded by the connection limit times this.
const MAX_AORS_PER_FLOW: usize = 64;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Endpoint<L, P> {
    /// Remember that `aor` registered an outbound binding over the connection of `from`.
    pub(super) fn flow_registered(&self, from: Peer, aor: &Aor) {
        let Some(conn) = from.conn else {
            return;
        };
        let mut f = self.flows.entry(conn).or_insert_with(|| Flow {
            peer: from,
            aors: Vec::new(),
        });
        if !f.aors.contains(aor) && f.aors.len() < MAX_AORS_PER_FLOW {
            f.aors.push(aor.clone());
        }
    }

    /// Whether `b` was registered over a connection that is still open (an outbound flow): a request
    /// reaches its device without waking it.
    pub fn has_flow(&self, b: &Binding) -> bool {
        let (Some(src), Some(t)) = (b.source, b.transport.as_ref()) else {
            return false;
        };
        self.flows
            .iter()
            .any(|f| f.peer.addr == src && &f.peer.proto.transport() == t)
    }

    /// Whether connection `conn` carries an outbound registration (its idle time is then the flow's).
    pub fn is_flow(&self, conn: u64) -> bool {
        self.flows.contains_key(&conn)
    }

    /// Connection `conn` closed. The outbound bindings registered over it end (RFC 5626 §5.2: the flow
    /// failed, the device re-registers over a new one), as [`registrar_registry::ChangeKind::Unreachable`]
    /// with their events; bindings registered without outbound stay (they are reached by their Contact).
    /// Returns how many bindings ended.
    ///
    /// # Errors
    /// A store failure (the other AoRs of the flow are still handled; the failed ones end at their expiry).
    pub async fn connection_closed(
        &self,
        now: Timestamp,
        conn: u64,
    ) -> Result<usize, registrar_service::Error> {
        let Some((_, flow)) = self.flows.remove(&conn) else {
            return Ok(0);
        };
        let peer = flow.peer;
        let transport = peer.proto.transport();
        let over_this_flow = move |b: &Binding| {
            b.reg_id.is_some()
                && b.source == Some(peer.addr)
                && b.transport.as_ref() == Some(&transport)
        };
        let (mut ended, mut failed) = (0, None);
        for aor in &flow.aors {
            match self
                .svc
                .remove_unreachable_at(now, aor, &over_this_flow)
                .await
            {
                Ok(r) => ended += r.len(),
                Err(e) => failed = Some(e),
            }
        }
        failed.map_or(Ok(ended), Err)
    }

    /// The transport could not send `out` (the connection it was to go over is gone and the peer cannot be
    /// reached another way). A NOTIFY's transaction fails at once, as its timeout would have (RFC 6665
    /// §4.2.2: the subscription ends); anything else needs nothing.
    pub async fn send_failed(&self, now: Timestamp, out: &Outgoing) {
        let Some(branch) = our_branch(&out.bytes) else {
            return;
        };
        if let Some((_, tx)) = self.client_tx.remove(branch) {
            self.stats.notifies_failed.fetch_add(1, Ordering::Relaxed);
            self.end_subscription(now, &tx.dialog).await;
        }
    }
}

/// The branch of the top Via of a request this endpoint built (`Via: SIP/2.0/... host;branch=...;rport`).
fn our_branch(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.starts_with("SIP/2.0 ") {
        return None;
    }
    let via = text.split("\r\n").find(|l| l.starts_with("Via:"))?;
    let (_, rest) = via.split_once(";branch=")?;
    rest.split(';').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_of_our_own_requests_is_found_and_responses_have_none() {
        let req =
            b"NOTIFY sip:b@h SIP/2.0\r\nVia: SIP/2.0/WSS h.invalid;branch=z9hG4bKab1;rport\r\n\r\n";
        assert_eq!(our_branch(req), Some("z9hG4bKab1"));
        assert_eq!(
            our_branch(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n"),
            None
        );
        assert_eq!(our_branch(b"NOTIFY sip:b@h SIP/2.0\r\n\r\n"), None);
    }
}
