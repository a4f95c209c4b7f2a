//! Call state from rvoip's event coordinator (cargo feature `infra-common`): [`CallStateBridge`] consumes the
//! call events rvoip's SIP stack (session-core, in rvoip 3 `rvoip-sip`) publishes on an infra-common
//! [`GlobalEventCoordinator`] and reports them with [`RegistrarService::report_call`], so BLF watchers and
//! presence watchers see the users' calls.
//!
//! The mapping (docs/integration.md has it as a table):
//!
//! | coordinator event | the user | report |
//! |---|---|---|
//! | `SessionToDialog::InitiateCall { from, to }` | `from` | initiator, `trying`, remote `to` |
//! | `DialogToSession::IncomingCall { call_id, from, to }` | `to` | recipient, `early` (ringing), remote `from`, Call-ID |
//! | `DialogToSession::CallProgress { 180/183 }` | as started | `early` (`proceeding` for 100–179) |
//! | `DialogToSession::CallEstablished`, `CallStateChanged { Active }` | as started | `confirmed` |
//! | `DialogToSession::CallTerminated { reason }` | as started | `terminated` with `local-bye`, `remote-bye`, `rejected`, `error` or `timeout` |
//! | `DialogToSession::ByeReceived` | as started | `terminated`, `remote-bye` |
//! | `DialogToSession::CallFailed { status }` | as started | `terminated`, `rejected`, the status |
//! | `DialogToSession::CallCancelled` | as started | `terminated`, `cancelled` |
//!
//! A call is known by its session id from its first event (`InitiateCall` or `IncomingCall`); events of
//! sessions the bridge did not see start are ignored, as are users whose URI is not an address-of-record.
//! At most [`MAX_CALLS`] calls are followed at once; past that, new calls are counted in
//! [`BridgeStats::dropped`] and not reported.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use registrar_pidf::{DialogEvent, DialogState, Direction};
use registrar_presence::PresenceStore;
use registrar_registry::LocationStore;
use registrar_types::Aor;
use rvoip_infra_common::events::coordinator::GlobalEventCoordinator;
use rvoip_infra_common::events::cross_crate::{
    CallState, CrossCrateEvent, DialogToSessionEvent, RvoipCrossCrateEvent, SessionToDialogEvent,
    TerminationReason,
};
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;

use crate::{CallReport, Error, RegistrarService};

/// The most calls followed at once.
pub const MAX_CALLS: usize = 100_000;

/// What the bridge did so far.
#[derive(Debug, Default)]
pub struct BridgeStats {
    /// Call-state changes reported to the service.
    pub reported: AtomicU64,
    /// Reports the service refused (a store failure).
    pub failed: AtomicU64,
    /// Calls not followed because [`MAX_CALLS`] were.
    pub dropped: AtomicU64,
}

/// Consumes call events from a coordinator and reports them to a [`RegistrarService`]. Stops when dropped or
/// with [`CallStateBridge::stop`].
#[derive(Debug)]
pub struct CallStateBridge {
    task: JoinHandle<()>,
    stats: Arc<BridgeStats>,
}

impl CallStateBridge {
    /// Subscribe to `coordinator`'s `session_to_dialog` and `dialog_to_session` events and report the calls
    /// they describe to `svc`. Pass the coordinator the SIP stack publishes on: any coordinator the
    /// application holds, never implicitly the process-wide one. rvoip-sip 0.4 creates one per
    /// `UnifiedCoordinator` and does not expose it; with rvoip-sip, report from its public call lifecycle with
    /// [`RegistrarService::report_call`] instead (`examples/rvoip-pbx` does).
    ///
    /// # Errors
    /// [`Error::Bridge`] when the coordinator refuses the subscription (it is shutting down).
    pub async fn start<L, P>(
        svc: RegistrarService<L, P>,
        coordinator: &GlobalEventCoordinator,
    ) -> Result<Self, Error>
    where
        L: LocationStore + 'static,
        P: PresenceStore + 'static,
    {
        let outgoing = coordinator
            .subscribe("session_to_dialog")
            .await
            .map_err(|e| Error::Bridge(e.to_string()))?;
        let incoming = coordinator
            .subscribe("dialog_to_session")
            .await
            .map_err(|e| Error::Bridge(e.to_string()))?;
        let stats = Arc::new(BridgeStats::default());
        let task = tokio::spawn(run(svc, outgoing, incoming, Arc::clone(&stats)));
        Ok(Self { task, stats })
    }

    /// What the bridge did so far.
    pub fn stats(&self) -> &BridgeStats {
        &self.stats
    }

    /// Stop consuming events.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for CallStateBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run<L, P>(
    svc: RegistrarService<L, P>,
    mut outgoing: Receiver<Arc<dyn CrossCrateEvent>>,
    mut incoming: Receiver<Arc<dyn CrossCrateEvent>>,
    stats: Arc<BridgeStats>,
) where
    L: LocationStore + 'static,
    P: PresenceStore + 'static,
{
    let mut calls = Calls::default();
    loop {
        let event = tokio::select! {
            e = outgoing.recv() => e,
            e = incoming.recv() => e,
        };
        let Some(event) = event else { return };
        let Some(e) = event.as_any().downcast_ref::<RvoipCrossCrateEvent>() else {
            continue;
        };
        let Some((aor, report)) = calls.apply(e, &stats) else {
            continue;
        };
        match svc.report_call(&aor, &report).await {
            Ok(()) => stats.reported.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// The calls followed, by session id: whose call it is and its last report.
#[derive(Debug, Default)]
struct Calls {
    by_session: HashMap<String, (Aor, CallReport)>,
}

impl Calls {
    /// The report one event makes, if it is about a call.
    fn apply(
        &mut self,
        e: &RvoipCrossCrateEvent,
        stats: &BridgeStats,
    ) -> Option<(Aor, CallReport)> {
        match e {
            RvoipCrossCrateEvent::SessionToDialog(SessionToDialogEvent::InitiateCall {
                session_id,
                from,
                to,
                ..
            }) => {
                let user = aor_of(from)?;
                let report = CallReport::new(session_id, Direction::Initiator, DialogState::Trying)
                    .remote(uri_of(to));
                self.start(session_id, user, report, stats)
            }
            RvoipCrossCrateEvent::DialogToSession(d) => self.dialog_event(d, stats),
            _ => None,
        }
    }

    fn dialog_event(
        &mut self,
        d: &DialogToSessionEvent,
        stats: &BridgeStats,
    ) -> Option<(Aor, CallReport)> {
        match d {
            DialogToSessionEvent::IncomingCall {
                session_id,
                call_id,
                from,
                to,
                ..
            } => {
                let user = aor_of(to)?;
                let report = CallReport::new(session_id, Direction::Recipient, DialogState::Early)
                    .call_id(call_id)
                    .remote(uri_of(from));
                self.start(session_id, user, report, stats)
            }
            DialogToSessionEvent::CallProgress {
                session_id,
                status_code,
                ..
            } => {
                let state = if *status_code >= 180 {
                    DialogState::Early
                } else {
                    DialogState::Proceeding
                };
                self.change(session_id, state, None, None)
            }
            DialogToSessionEvent::CallEstablished { session_id, .. } => {
                self.change(session_id, DialogState::Confirmed, None, None)
            }
            DialogToSessionEvent::CallStateChanged {
                session_id,
                new_state,
                ..
            } => match new_state {
                CallState::Ringing => self.change(session_id, DialogState::Early, None, None),
                CallState::Active | CallState::OnHold => {
                    self.change(session_id, DialogState::Confirmed, None, None)
                }
                CallState::Terminated => {
                    self.change(session_id, DialogState::Terminated, None, None)
                }
                _ => None,
            },
            DialogToSessionEvent::CallTerminated { session_id, reason } => {
                let event = match reason {
                    TerminationReason::LocalHangup => DialogEvent::LocalBye,
                    TerminationReason::RemoteHangup => DialogEvent::RemoteBye,
                    TerminationReason::Rejected(_) => DialogEvent::Rejected,
                    TerminationReason::Error(_) => DialogEvent::Error,
                    TerminationReason::Timeout => DialogEvent::Timeout,
                };
                self.change(session_id, DialogState::Terminated, Some(event), None)
            }
            DialogToSessionEvent::ByeReceived { session_id } => self.change(
                session_id,
                DialogState::Terminated,
                Some(DialogEvent::RemoteBye),
                None,
            ),
            DialogToSessionEvent::CallFailed {
                session_id,
                status_code,
                ..
            } => self.change(
                session_id,
                DialogState::Terminated,
                Some(DialogEvent::Rejected),
                Some(*status_code),
            ),
            DialogToSessionEvent::CallCancelled { session_id } => self.change(
                session_id,
                DialogState::Terminated,
                Some(DialogEvent::Cancelled),
                None,
            ),
            _ => None,
        }
    }

    fn start(
        &mut self,
        session: &str,
        user: Aor,
        report: CallReport,
        stats: &BridgeStats,
    ) -> Option<(Aor, CallReport)> {
        if self.by_session.len() >= MAX_CALLS && !self.by_session.contains_key(session) {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.by_session
            .insert(session.to_owned(), (user.clone(), report.clone()));
        Some((user, report))
    }

    fn change(
        &mut self,
        session: &str,
        state: DialogState,
        event: Option<DialogEvent>,
        code: Option<u16>,
    ) -> Option<(Aor, CallReport)> {
        if state == DialogState::Terminated {
            let (user, mut report) = self.by_session.remove(session)?;
            report.state = state;
            report.event = event;
            report.code = code;
            return Some((user, report));
        }
        let (user, report) = self.by_session.get_mut(session)?;
        if report.state == state {
            return None;
        }
        report.state = state;
        Some((user.clone(), report.clone()))
    }
}

/// The URI of a From/To value (`"Alice" <sip:alice@example.com>;tag=1` → `sip:alice@example.com`).
fn uri_of(value: &str) -> &str {
    let v = value.trim();
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

/// The address-of-record of a From/To value.
fn aor_of(value: &str) -> Option<Aor> {
    uri_of(value).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_taken_from_name_addr_and_addr_spec() {
        assert_eq!(
            uri_of("\"Alice\" <sip:alice@example.com;transport=tcp>;tag=1"),
            "sip:alice@example.com;transport=tcp"
        );
        assert_eq!(uri_of("sip:bob@example.com;tag=2"), "sip:bob@example.com");
        assert!(aor_of("not a uri").is_none());
    }
}
