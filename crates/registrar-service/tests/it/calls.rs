//! The service path of call state (seed plan phase 3.3): what the SIP stack reports reaches a BLF (`dialog`)
//! subscriber and a presence subscriber; message waiting set without SIP reaches the mailbox's owner.

use registrar_pidf::{
    DialogEvent, DialogInfo, DialogState, Direction, Document, MessageClass, MessageCounts,
    MessageSummary,
};
use registrar_presence::EventPackage;
use registrar_service::{CallReport, RegistrarService};

use crate::support::*;

fn activities(pidf: &str) -> Vec<String> {
    match Document::parse(pidf.as_bytes()).unwrap() {
        Document::Pidf(p) => p
            .persons
            .iter()
            .flat_map(|person| person.rpid.activity_list())
            .map(|a| a.as_str().to_owned())
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn dialogs(n: &registrar_presence::NotifyIntent) -> DialogInfo {
    assert_eq!(n.event, EventPackage::Dialog);
    DialogInfo::parse(n.body_text().unwrap().as_bytes()).unwrap()
}

/// A call rings, is answered and ends: the BLF watcher sees early, confirmed, then no call, at versions 1, 2,
/// 3; the presence watcher sees on-the-phone while it is confirmed, then the user's own presence again.
#[tokio::test]
async fn reported_call_state_reaches_blf_and_presence_watchers() {
    let mut h = Harness::new();
    h.svc
        .publish(&publish(ALICE, "desk", "open", "at my desk").expires(3600))
        .await
        .unwrap();
    h.svc
        .subscribe(&subscribe(1, BOB, ALICE).event(EventPackage::Dialog), false)
        .await
        .unwrap();
    h.svc
        .subscribe(&subscribe(2, BOB, ALICE), false)
        .await
        .unwrap();
    let first = h.take_notifies();
    assert_eq!(first.len(), 2);
    let blf = first
        .iter()
        .find(|n| n.event == EventPackage::Dialog)
        .unwrap();
    assert_eq!(dialogs(blf).version, "0");
    assert!(dialogs(blf).dialogs.is_empty());

    let call = CallReport::new("call-1@pbx", Direction::Recipient, DialogState::Early)
        .call_id("call-1@pbx")
        .tags(Some("a-tag"), Some("c-tag"))
        .remote("sip:carol@example.com");
    h.svc.report_call(&aor(ALICE), &call).await.unwrap();
    let ringing = h.take_notifies();
    assert_eq!(ringing.len(), 1, "ringing is not on the phone: {ringing:?}");
    let doc = dialogs(&ringing[0]);
    assert_eq!(doc.version, "1");
    assert_eq!(doc.dialogs[0].state, DialogState::Early);
    assert_eq!(doc.dialogs[0].call_id.as_deref(), Some("call-1@pbx"));
    assert_eq!(doc.dialogs[0].direction, Some(Direction::Recipient));

    let mut answered = call.clone();
    answered.state = DialogState::Confirmed;
    h.svc.report_call(&aor(ALICE), &answered).await.unwrap();
    let busy = h.take_notifies();
    assert_eq!(busy.len(), 2, "{busy:?}");
    let doc = dialogs(
        busy.iter()
            .find(|n| n.event == EventPackage::Dialog)
            .unwrap(),
    );
    assert_eq!(
        (doc.version.as_str(), doc.dialogs[0].state),
        ("2", DialogState::Confirmed)
    );
    let pidf = busy
        .iter()
        .find(|n| n.event == EventPackage::Presence)
        .unwrap();
    assert_eq!(activities(pidf.body.as_ref().unwrap()), ["on-the-phone"]);
    assert!(pidf.body.as_ref().unwrap().contains("at my desk"));

    let ended = answered.ended(DialogEvent::RemoteBye, None);
    let mut ended = ended;
    ended.state = DialogState::Terminated;
    h.svc.report_call(&aor(ALICE), &ended).await.unwrap();
    let idle = h.take_notifies();
    assert_eq!(idle.len(), 2, "{idle:?}");
    let doc = dialogs(
        idle.iter()
            .find(|n| n.event == EventPackage::Dialog)
            .unwrap(),
    );
    assert_eq!(doc.version, "3");
    assert!(doc.dialogs.is_empty());
    let pidf = idle
        .iter()
        .find(|n| n.event == EventPackage::Presence)
        .unwrap();
    assert!(activities(pidf.body.as_ref().unwrap()).is_empty());
    assert!(h.svc.dialogs(&aor(ALICE)).await.unwrap().dialogs.is_empty());
}

/// With the activity turned off, reported calls change the dialog state only.
#[tokio::test]
async fn call_activity_can_be_turned_off() {
    let mut h = Harness::with(RegistrarService::builder().call_activity(None));
    h.svc
        .subscribe(&subscribe(2, BOB, ALICE), false)
        .await
        .unwrap();
    h.take_notifies();
    let call = CallReport::new("call-2@pbx", Direction::Initiator, DialogState::Confirmed);
    h.svc.report_call(&aor(ALICE), &call).await.unwrap();
    assert!(h.take_notifies().is_empty());
    assert_eq!(h.svc.dialogs(&aor(ALICE)).await.unwrap().dialogs.len(), 1);
}

/// Message waiting set without SIP reaches the owner's `message-summary` subscription; another user's
/// subscription is refused.
#[tokio::test]
async fn message_summary_set_over_the_api_reaches_the_owner() {
    let mut h = Harness::new();
    h.svc
        .subscribe(
            &subscribe(1, ALICE, ALICE).event(EventPackage::MessageSummary),
            false,
        )
        .await
        .unwrap();
    let err = h
        .svc
        .subscribe(
            &subscribe(2, BOB, ALICE).event(EventPackage::MessageSummary),
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 403);
    let first = h.take_notifies();
    assert_eq!(first.len(), 1);
    assert!(
        first[0]
            .body
            .as_ref()
            .unwrap()
            .contains("Messages-Waiting: no")
    );
    let summary = MessageSummary::from_counts(
        None,
        vec![MessageCounts::new(MessageClass::Voice, 3, 1, None)],
    );
    h.svc
        .set_message_summary(&aor(ALICE), &summary, 86_400)
        .await
        .unwrap();
    let sent = h.take_notifies();
    assert_eq!(sent.len(), 1);
    let got = MessageSummary::parse(sent[0].body.as_ref().unwrap().as_bytes()).unwrap();
    assert!(got.waiting);
    assert_eq!(got.voice(), (3, 1));
    assert_eq!(h.svc.message_summary(&aor(ALICE)).await.unwrap(), got);
    // The same summary again is no change: no NOTIFY.
    h.svc
        .set_message_summary(&aor(ALICE), &summary, 86_400)
        .await
        .unwrap();
    assert!(h.take_notifies().is_empty());
}
