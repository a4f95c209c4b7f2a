//! The call-state bridge (feature `infra-common`): call events published on a real infra-common coordinator,
//! as rvoip's SIP stack publishes them, reach the service as dialog state and on-the-phone presence.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use registrar_pidf::DialogState;
use registrar_service::RegistrarService;
use registrar_service::bridge::CallStateBridge;
use rvoip_infra_common::events::config::EventCoordinatorConfig;
use rvoip_infra_common::events::coordinator::GlobalEventCoordinator;
use rvoip_infra_common::events::cross_crate::{
    DialogToSessionEvent, RvoipCrossCrateEvent, SessionToDialogEvent, TerminationReason,
};

use crate::support::*;

async fn publish(coord: &GlobalEventCoordinator, e: RvoipCrossCrateEvent) {
    coord.publish(Arc::new(e)).await.unwrap();
}

/// Wait (bounded) until `bridge` has reported `n` changes.
async fn reported(bridge: &CallStateBridge, n: u64) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while bridge.stats().reported.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} reports within 10 s"));
}

async fn states(svc: &RegistrarService, user: &str) -> Vec<DialogState> {
    svc.dialogs(&aor(user))
        .await
        .unwrap()
        .dialogs
        .iter()
        .map(|d| d.state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_and_outgoing_calls_become_dialog_state() {
    let h = Harness::new();
    let coord = GlobalEventCoordinator::new(EventCoordinatorConfig::monolithic())
        .await
        .unwrap();
    let bridge = CallStateBridge::start(h.svc.clone(), &coord).await.unwrap();

    // Bob calls Alice: Alice's line rings, is answered, Bob hangs up.
    publish(
        &coord,
        RvoipCrossCrateEvent::DialogToSession(DialogToSessionEvent::IncomingCall {
            session_id: "s1".into(),
            call_id: "c1@bob".into(),
            from: "\"Bob\" <sip:bob@example.com>;tag=b1".into(),
            to: "<sip:alice@example.com>".into(),
            sdp_offer: None,
            headers: HashMap::new(),
            transaction_id: "t1".into(),
            source_addr: "127.0.0.1:5060".into(),
            raw_request: None,
            transport: None,
            identity_verification: None,
        }),
    )
    .await;
    reported(&bridge, 1).await;
    assert_eq!(states(&h.svc, ALICE).await, [DialogState::Early]);
    let d = h.svc.dialogs(&aor(ALICE)).await.unwrap();
    assert_eq!(d.dialogs[0].call_id.as_deref(), Some("c1@bob"));
    assert_eq!(
        d.dialogs[0].remote.as_ref().unwrap().identity.as_deref(),
        Some("sip:bob@example.com")
    );
    publish(
        &coord,
        RvoipCrossCrateEvent::DialogToSession(DialogToSessionEvent::CallEstablished {
            session_id: "s1".into(),
            sdp_answer: None,
            raw_response: None,
        }),
    )
    .await;
    reported(&bridge, 2).await;
    assert_eq!(states(&h.svc, ALICE).await, [DialogState::Confirmed]);
    let pidf = h.svc.presence(&aor(ALICE)).await.unwrap();
    assert!(pidf.xml.contains("on-the-phone"), "{}", pidf.xml);

    // Alice calls Carol meanwhile; Carol refuses.
    publish(
        &coord,
        RvoipCrossCrateEvent::SessionToDialog(SessionToDialogEvent::InitiateCall {
            session_id: "s2".into(),
            from: "sip:alice@example.com".into(),
            to: "sip:carol@example.com".into(),
            sdp_offer: None,
            headers: HashMap::new(),
        }),
    )
    .await;
    reported(&bridge, 3).await;
    assert_eq!(states(&h.svc, ALICE).await.len(), 2);
    publish(
        &coord,
        RvoipCrossCrateEvent::DialogToSession(DialogToSessionEvent::CallFailed {
            session_id: "s2".into(),
            status_code: 486,
            reason_phrase: "Busy Here".into(),
            raw_response: None,
        }),
    )
    .await;
    reported(&bridge, 4).await;
    assert_eq!(states(&h.svc, ALICE).await, [DialogState::Confirmed]);

    // Bob hangs up: Alice's line is idle and she is no longer on the phone.
    publish(
        &coord,
        RvoipCrossCrateEvent::DialogToSession(DialogToSessionEvent::CallTerminated {
            session_id: "s1".into(),
            reason: TerminationReason::RemoteHangup,
        }),
    )
    .await;
    reported(&bridge, 5).await;
    assert!(states(&h.svc, ALICE).await.is_empty());
    let pidf = h.svc.presence(&aor(ALICE)).await.unwrap();
    assert!(!pidf.xml.contains("on-the-phone"), "{}", pidf.xml);

    // Events of calls the bridge never saw start are ignored.
    publish(
        &coord,
        RvoipCrossCrateEvent::DialogToSession(DialogToSessionEvent::CallCancelled {
            session_id: "unknown".into(),
        }),
    )
    .await;
    assert_eq!(bridge.stats().failed.load(Ordering::Relaxed), 0);
    bridge.stop();
}
