//! Calls: an INVITE to a user of the PBX's domain is forked to the user's bindings, answered towards the
//! caller only once a callee answered, and bridged; each step is reported to the registrar as call state.
//!
//! rvoip-sip's `SipB2bua::handle_inbound` answers the caller before it even calls the callee (the caller hears
//! a connected call that may never reach anybody, and is billed for it). The PBX does what a proxy would show
//! the caller instead: 180 once a callee rings, 200 when one answers, the best failure otherwise
//! (RFC 3261 §16.7: a 6xx, else busy, else 480).
//!
//! Call state goes to [`RegistrarService::report_call`] from rvoip's lifecycle, not through the infra-common
//! bridge: rvoip-sip 0.4 keeps its `GlobalEventCoordinator` private to each `UnifiedCoordinator`
//! (`pub(crate)`), so an application cannot hand it to `registrar_service::bridge::CallStateBridge`.

use std::sync::Arc;
use std::time::Duration;

use registrar_core::pidf::{DialogEvent, DialogState, Direction};
use registrar_core::presence::PresenceStore;
use registrar_core::registry::LocationStore;
use registrar_core::service::{CallReport, RegistrarService};
use registrar_core::types::{Aor, SipUri};
use rvoip_sip::api::lifecycle::CallTerminalInfo;
use rvoip_sip::{Event, SessionId, UnifiedCoordinator};
use tokio::sync::mpsc;

use crate::routing::{Target, aor_in, fork_groups};

/// How the PBX routes calls.
pub struct Calls<L: LocationStore + 'static, P: PresenceStore + 'static> {
    /// The SIP stack.
    pub coordinator: Arc<UnifiedCoordinator>,
    /// The registrar.
    pub svc: RegistrarService<L, P>,
    /// The domain whose users the PBX serves.
    pub domain: String,
    /// How long one fork group rings before the next is tried.
    pub ring_timeout: Duration,
}

enum Leg {
    Ringing,
    Answered(SessionId),
    Failed(SessionId, u16),
}

/// One call's parties, for the reports.
struct Parties {
    key: String,
    caller: Option<Aor>,
    caller_uri: String,
    callee: Aor,
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> Calls<L, P> {
    /// Route the incoming call `inbound` from `from` to `to` (their header values), until it ends.
    pub async fn route(self: Arc<Self>, inbound: SessionId, from: String, to: String) {
        let Some(callee) = aor_in(&to, &self.domain) else {
            tracing::info!(%inbound, "call to {to}: not a user of {}: 404", self.domain);
            self.reject(&inbound, 404).await;
            return;
        };
        let targets = match self.targets(&to, &callee).await {
            Ok(t) => t,
            Err(status) => {
                self.reject(&inbound, status).await;
                return;
            }
        };
        if targets.is_empty() {
            tracing::info!(%inbound, "call to {callee}: nobody registered: 480");
            self.reject(&inbound, 480).await;
            return;
        }
        let caller_uri = registrar_sip::Message::uri_of(&from).to_owned();
        let p = Parties {
            key: inbound.to_string(),
            caller: aor_in(&from, &self.domain),
            caller_uri,
            callee,
        };
        self.report(&p, DialogState::Trying, None).await;
        let caller = self.coordinator.session(&inbound);
        let caller_gone = caller.wait_for_end(None);
        tokio::pin!(caller_gone);
        let mut best: Option<u16> = None;
        let mut rang = false;
        for group in targets {
            let legs = self.fork(&p, &group).await;
            if legs.is_empty() {
                continue;
            }
            let (tx, mut rx) = mpsc::channel(legs.len() * 2);
            for leg in &legs {
                self.watch(leg.clone(), tx.clone());
            }
            drop(tx);
            let mut open = legs.len();
            while open > 0 {
                tokio::select! {
                    news = rx.recv() => match news {
                        Some(Leg::Ringing) if !rang => {
                            rang = true;
                            if let Err(e) = self.coordinator.send_provisional(&inbound, 180).send().await {
                                tracing::debug!(%inbound, "180 to the caller: {e}");
                            }
                            self.report(&p, DialogState::Early, None).await;
                        }
                        Some(Leg::Ringing) => {}
                        Some(Leg::Answered(leg)) => {
                            for other in legs.iter().filter(|l| **l != leg) {
                                let _ = self.coordinator.session(other).hangup().await;
                            }
                            self.connect(&p, &inbound, &leg, caller_gone.as_mut()).await;
                            return;
                        }
                        Some(Leg::Failed(leg, status)) => {
                            let _ = self.coordinator.session(&leg).hangup().await;
                            best = Some(better(best, status));
                            open -= 1;
                        }
                        None => open = 0,
                    },
                    _ = &mut caller_gone => {
                        tracing::info!(%inbound, "the caller gave up");
                        for leg in &legs {
                            let _ = self.coordinator.session(leg).hangup().await;
                        }
                        self.report(&p, DialogState::Terminated, Some((DialogEvent::Cancelled, None))).await;
                        return;
                    }
                }
            }
        }
        let status = final_status(best);
        tracing::info!(%inbound, "call to {}: nobody answered: {status}", p.callee);
        self.reject(&inbound, status).await;
        self.report(
            &p,
            DialogState::Terminated,
            Some((DialogEvent::Rejected, Some(status))),
        )
        .await;
    }

    /// The fork groups for a call to `to`: the one binding a GRUU names (RFC 5627 §8), else the AoR's.
    async fn targets(&self, to: &str, callee: &Aor) -> Result<Vec<Vec<Target>>, u16> {
        let uri: Option<SipUri> = registrar_sip::Message::uri_of(to).parse().ok();
        if let Some(uri) = uri.filter(|u| u.has_param("gr")) {
            return match self.svc.resolve_gruu_at(self.svc.now(), &uri).await {
                Ok(Some(b)) => Ok(fork_groups(&[b])),
                Ok(None) => Ok(Vec::new()),
                Err(e) => {
                    tracing::warn!("GRUU {uri}: {e}");
                    Err(500)
                }
            };
        }
        match self.svc.lookup(callee).await {
            Ok(b) => Ok(fork_groups(&b.to_vec())),
            Err(e) => {
                tracing::warn!("bindings of {callee}: {e}");
                Err(500)
            }
        }
    }

    /// INVITE every target of one group at once.
    async fn fork(&self, p: &Parties, group: &[Target]) -> Vec<SessionId> {
        let mut legs = Vec::with_capacity(group.len());
        for t in group {
            let mut invite = self
                .coordinator
                .invite(Some(p.caller_uri.clone()), t.uri.clone());
            if let Some(proxy) = &t.proxy {
                invite = invite.with_outbound_proxy(proxy.clone());
            }
            match invite.send().await {
                Ok(leg) => {
                    tracing::info!(leg = %leg, "calling {} at {}", p.callee, t.uri);
                    legs.push(leg);
                }
                Err(e) => tracing::warn!("INVITE to {}: {e}", t.uri),
            }
        }
        legs
    }

    /// Tell `tx` when `leg` rings, and how it ends up: answered, or failed with its status.
    fn watch(&self, leg: SessionId, tx: mpsc::Sender<Leg>) {
        let h = self.coordinator.session(&leg);
        let (ring_h, ring_tx, wait) = (h.clone(), tx.clone(), self.ring_timeout);
        tokio::spawn(async move {
            let ringing = ring_h
                .wait_for_progress(
                    |e| {
                        matches!(
                            e,
                            Event::CallProgress {
                                status_code: 180 | 183,
                                ..
                            }
                        )
                    },
                    Some(wait),
                )
                .await;
            if ringing.is_ok() {
                let _ = ring_tx.send(Leg::Ringing).await;
            }
        });
        tokio::spawn(async move {
            let news = match h.wait_for_answered(Some(wait)).await {
                Ok(_) => Leg::Answered(leg),
                Err(_) => {
                    let status = match h.lifecycle().await.ok().and_then(|s| s.terminal) {
                        Some(CallTerminalInfo::Failed { status_code, .. }) => status_code,
                        // Rang out, or ended without a final status.
                        _ => 408,
                    };
                    Leg::Failed(leg, status)
                }
            };
            let _ = tx.send(news).await;
        });
    }

    /// A callee answered on `leg`: answer the caller, bridge the media, and follow the call to its end.
    async fn connect<F: std::future::Future>(
        &self,
        p: &Parties,
        inbound: &SessionId,
        leg: &SessionId,
        caller_gone: std::pin::Pin<&mut F>,
    ) {
        if let Err(e) = self.coordinator.accept_call(inbound).await {
            tracing::warn!(%inbound, "answering the caller: {e}");
            let _ = self.coordinator.session(leg).hangup().await;
            self.report(p, DialogState::Terminated, Some((DialogEvent::Error, None)))
                .await;
            return;
        }
        let bridge = match self.coordinator.bridge(inbound, leg).await {
            Ok(b) => Some(b),
            Err(e) => {
                // Signalling goes on; the parties hear nothing, which they can tell and hang up on.
                tracing::warn!(%inbound, "bridging media: {e}");
                None
            }
        };
        tracing::info!(%inbound, leg = %leg, "connected {} to {}", p.caller_uri, p.callee);
        self.report(p, DialogState::Confirmed, None).await;
        let callee = self.coordinator.session(leg);
        let callee_gone = callee.wait_for_end(None);
        let by = tokio::select! {
            _ = caller_gone => {
                let _ = self.coordinator.session(leg).hangup().await;
                Who::Caller
            }
            _ = callee_gone => {
                let _ = self.coordinator.session(inbound).hangup().await;
                Who::Callee
            }
        };
        drop(bridge);
        tracing::info!(%inbound, "call ended by the {}", by.name());
        // Each party's own view: whoever hung up sent the BYE (local), the other received it (remote).
        self.report_each(p, by).await;
    }

    async fn reject(&self, inbound: &SessionId, status: u16) {
        if let Err(e) = self
            .coordinator
            .reject(inbound)
            .with_status(status)
            .send()
            .await
        {
            tracing::debug!(%inbound, "rejecting with {status}: {e}");
        }
    }

    /// Report `state` for both parties (the caller only when it is a user of the domain).
    async fn report(
        &self,
        p: &Parties,
        state: DialogState,
        end: Option<(DialogEvent, Option<u16>)>,
    ) {
        if let Some(caller) = &p.caller {
            let r = self.call_report(p, Direction::Initiator, state, end);
            self.send_report(caller, &r).await;
        }
        if state != DialogState::Trying {
            let r = self.call_report(p, Direction::Recipient, state, end);
            self.send_report(&p.callee, &r).await;
        }
    }

    async fn report_each(&self, p: &Parties, by: Who) {
        let (caller_event, callee_event) = match by {
            Who::Caller => (DialogEvent::LocalBye, DialogEvent::RemoteBye),
            Who::Callee => (DialogEvent::RemoteBye, DialogEvent::LocalBye),
        };
        if let Some(caller) = &p.caller {
            let r = self.call_report(
                p,
                Direction::Initiator,
                DialogState::Terminated,
                Some((caller_event, None)),
            );
            self.send_report(caller, &r).await;
        }
        let r = self.call_report(
            p,
            Direction::Recipient,
            DialogState::Terminated,
            Some((callee_event, None)),
        );
        self.send_report(&p.callee, &r).await;
    }

    fn call_report(
        &self,
        p: &Parties,
        direction: Direction,
        state: DialogState,
        end: Option<(DialogEvent, Option<u16>)>,
    ) -> CallReport {
        let remote = match direction {
            Direction::Initiator => p.callee.to_string(),
            _ => p.caller_uri.clone(),
        };
        let mut r = CallReport::new(&p.key, direction, state).remote(&remote);
        if let Some((event, code)) = end {
            r = r.ended(event, code);
        }
        r
    }

    async fn send_report(&self, aor: &Aor, r: &CallReport) {
        if let Err(e) = self.svc.report_call(aor, r).await {
            tracing::warn!("call state of {aor}: {e}");
        }
    }
}

#[derive(Clone, Copy)]
enum Who {
    Caller,
    Callee,
}

impl Who {
    const fn name(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Callee => "callee",
        }
    }
}

/// RFC 3261 §16.7 step 6, as far as a B2BUA forwards it: a 6xx wins, then busy, else the lowest status.
fn better(best: Option<u16>, status: u16) -> u16 {
    let Some(b) = best else { return status };
    let rank = |s: u16| match s {
        600..=699 => 0,
        486 => 1,
        _ => 2,
    };
    if (rank(status), status) < (rank(b), b) {
        status
    } else {
        b
    }
}

/// What the caller gets when nobody answered: the best response of a 6xx or busy, 480 for the rest (timeouts
/// and errors of the callees' side are not the caller's business).
fn final_status(best: Option<u16>) -> u16 {
    best.filter(|s| matches!(s, 486 | 600..=699)).unwrap_or(480)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_hundreds_beat_busy_which_beats_the_rest() {
        assert_eq!(better(None, 408), 408);
        assert_eq!(better(Some(408), 486), 486);
        assert_eq!(better(Some(486), 603), 603);
        assert_eq!(better(Some(603), 486), 603);
        assert_eq!(final_status(Some(408)), 480);
        assert_eq!(final_status(Some(486)), 486);
        assert_eq!(final_status(None), 480);
    }
}
