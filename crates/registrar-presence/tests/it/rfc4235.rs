//! RFC 4235: the `dialog` event package (busy lamp field) — publications composed, full state first, versions
//! strictly increasing per subscription, authorization as for presence; call state reported by the stack.

use std::sync::Arc;

use registrar_pidf::{Dialog, DialogInfo, DialogState, Direction, DocState, Presence};
use registrar_presence::{
    DIALOG_VERSION_SLOT, Error, EventPackage, NotifyIntent, PublishKind, PublishRequest,
    SubscribeRequest, WatcherDecision,
};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";

fn dialog_info(id: &str, state: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="7" state="full" entity="sip:alice@example.com"><dialog id="{id}" call-id="c-{id}" local-tag="l" remote-tag="r" direction="recipient"><state>{state}</state></dialog></dialog-info>"#
    )
    .into_bytes()
}

fn publish_dialogs(id: &str, state: &str) -> PublishRequest {
    let mut req = PublishRequest::initial(aor(ALICE), &[]).event(EventPackage::Dialog);
    req.body = Some((
        "application/dialog-info+xml".to_owned(),
        dialog_info(id, state),
    ));
    req
}

/// What a watcher receives: the body with its version written in, parsed.
fn received(n: &NotifyIntent) -> DialogInfo {
    assert_eq!(n.content_type(), Some("application/dialog-info+xml"));
    DialogInfo::parse(n.body_text().unwrap().as_bytes()).unwrap()
}

fn subscribe(n: u32, watcher: &str) -> SubscribeRequest {
    SubscribeRequest::new(dialog(n), aor(watcher), aor(ALICE)).event(EventPackage::Dialog)
}

/// §3.1: a PUBLISH of dialog-info is accepted with an entity-tag; the composition holds every dialog of
/// every publisher, as one full document about the AoR.
#[tokio::test]
async fn publications_of_several_publishers_are_composed() {
    let p = presences();
    let first = p
        .publish_with_etag(T0, &publish_dialogs("a", "confirmed"), tag(1))
        .await
        .unwrap();
    assert_eq!(first.outcome.kind, PublishKind::Created);
    assert!(first.changed.is_none(), "presence watchers are not told");
    let changed = first.changed_event.unwrap();
    assert_eq!(changed.event, EventPackage::Dialog);
    assert!(changed.body.contains(DIALOG_VERSION_SLOT));
    p.publish_with_etag(T0.plus_secs(1), &publish_dialogs("b", "early"), tag(2))
        .await
        .unwrap();
    let composed = p.dialogs(&aor(ALICE), T0.plus_secs(2)).await.unwrap();
    assert_eq!(composed.state, DocState::Full);
    assert_eq!(composed.entity, ALICE);
    let ids: Vec<&str> = composed.dialogs.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"], "newest publication first");
    // A presence entity-tag does not name a dialog publication (412), and the presence is untouched.
    let err = p
        .publish(
            T0.plus_secs(3),
            &PublishRequest::refresh(aor(ALICE), tag(1)).event(EventPackage::Presence),
        )
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 412);
    // Removing one publication leaves the other's dialogs.
    p.publish(
        T0.plus_secs(4),
        &PublishRequest::remove(aor(ALICE), tag(2)).event(EventPackage::Dialog),
    )
    .await
    .unwrap();
    let composed = p.dialogs(&aor(ALICE), T0.plus_secs(4)).await.unwrap();
    assert_eq!(composed.dialogs.len(), 1);
    assert_eq!(composed.dialogs[0].id, "a");
}

/// §3.2: the body must be dialog-info in its own type: 415 with the right `Accept`, 400 for a bad document.
#[tokio::test]
async fn wrong_or_malformed_bodies_are_refused() {
    let p = presences();
    let mut req = publish_dialogs("a", "confirmed");
    req.body = Some(("application/pidf+xml".to_owned(), pidf("t", "open")));
    let err = p.publish(T0, &req).await.unwrap_err();
    assert_eq!(err.sip_status(), 415);
    assert!(matches!(
        err,
        Error::UnsupportedMediaType {
            want: "application/dialog-info+xml",
            ..
        }
    ));
    let mut req = publish_dialogs("a", "confirmed");
    req.body = Some((
        "application/dialog-info+xml".to_owned(),
        b"<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"x\" state=\"full\" entity=\"sip:a@b\"/>"
            .to_vec(),
    ));
    assert_eq!(p.publish(T0, &req).await.unwrap_err().sip_status(), 400);
    assert!(p.dialogs(&aor(ALICE), T0).await.unwrap().dialogs.is_empty());
}

/// §4.1: full state first, then every change, each NOTIFY of a subscription with a version one higher, all
/// sharing one body; a refresh sends the full state at the next version.
#[tokio::test]
async fn versions_grow_by_one_per_subscription() {
    let p = presences();
    let s = subs();
    let idle = p
        .event_body(&EventPackage::Dialog, &aor(ALICE), T0)
        .await
        .unwrap();
    let first = s.subscribe(T0, &subscribe(1, BOB), &idle).unwrap();
    assert_eq!(first.status, 200);
    let doc = received(&first.notify);
    assert_eq!((doc.version.as_str(), doc.dialogs.len()), ("0", 0));
    // A second watcher arrives later: its own numbering starts at 0 too.
    let r = p.publish(T0, &publish_dialogs("a", "early")).await.unwrap();
    let body = r.changed_event.unwrap().body;
    let sent = s.notify_event(&EventPackage::Dialog, &aor(ALICE), &body, T0);
    assert_eq!(sent.len(), 1);
    let doc = received(&sent[0]);
    assert_eq!(doc.version, "1");
    assert_eq!(doc.dialogs[0].state, DialogState::Early);
    let second = s
        .subscribe(T0, &subscribe(2, "sip:carol@example.com"), &body)
        .unwrap();
    assert_eq!(received(&second.notify).version, "0");
    let sent = s.notify_event(&EventPackage::Dialog, &aor(ALICE), &body, T0.plus_secs(1));
    assert_eq!(sent.len(), 2);
    assert!(Arc::ptr_eq(
        sent[0].body.as_ref().unwrap(),
        sent[1].body.as_ref().unwrap()
    ));
    let mut versions: Vec<String> = sent.iter().map(|n| received(n).version).collect();
    versions.sort();
    assert_eq!(versions, ["1", "2"]);
    // A refresh: full state at the next version.
    let refresh = s
        .subscribe(T0.plus_secs(2), &subscribe(1, BOB).in_dialog(), &body)
        .unwrap();
    assert_eq!(received(&refresh.notify).version, "3");
    // Presence watchers of the same presentity hear nothing of dialog changes.
    s.subscribe(
        T0,
        &SubscribeRequest::new(dialog(3), aor(BOB), aor(ALICE)),
        &doc_open(),
    )
    .unwrap();
    let sent = s.notify_event(&EventPackage::Dialog, &aor(ALICE), &body, T0.plus_secs(3));
    assert!(sent.iter().all(|n| n.event == EventPackage::Dialog));
}

fn doc_open() -> Arc<str> {
    doc("open")
}

/// Authorization applies as for presence: a foreign watcher waits (202, no state), a politely blocked one
/// sees no dialog at all, a blocked one is refused.
#[tokio::test]
async fn watcher_authorization_applies() {
    let p = presences();
    let s = subs();
    let r = p
        .publish(T0, &publish_dialogs("a", "confirmed"))
        .await
        .unwrap();
    let body = r.changed_event.unwrap().body;
    let pending = s.subscribe(T0, &subscribe(1, EVE), &body).unwrap();
    assert_eq!(pending.status, 202);
    assert!(pending.notify.body.is_none());
    let out = s.authorize_watcher(
        &aor(ALICE),
        &aor(EVE),
        WatcherDecision::PoliteBlock,
        &doc_open(),
        T0,
    );
    let dialog_notify = out
        .iter()
        .find(|n| n.event == EventPackage::Dialog)
        .unwrap();
    let seen = received(dialog_notify);
    assert!(
        seen.dialogs.is_empty(),
        "a politely blocked watcher sees no call"
    );
    assert_eq!(seen.version, "1");
    s.authorize_watcher(
        &aor(ALICE),
        &aor(BOB),
        WatcherDecision::Block,
        &doc_open(),
        T0,
    );
    let err = s.subscribe(T0, &subscribe(2, BOB), &body).unwrap_err();
    assert_eq!(err.sip_status(), 403);
}

/// Call state reported by the SIP stack: a confirmed call shows in the dialog state and as on-the-phone
/// in presence; when it ends, the dialog goes and what the user published comes back.
#[tokio::test]
async fn reported_calls_set_dialogs_and_on_the_phone() {
    let p = presences();
    p.publish(
        T0,
        &PublishRequest::initial(aor(ALICE), &pidf("desk", "open")),
    )
    .await
    .unwrap();
    let mut ringing = Dialog::new("d1", DialogState::Early);
    ringing.call_id = Some("call-1".to_owned());
    ringing.direction = Some(Direction::Recipient);
    let r = p
        .report_call(T0, &aor(ALICE), &ringing, Some("on-the-phone"), 3600)
        .await
        .unwrap();
    assert!(r.dialogs.is_some());
    assert!(r.presence.is_none(), "ringing is not on the phone");
    let mut answered = ringing.clone();
    answered.state = DialogState::Confirmed;
    let r = p
        .report_call(
            T0.plus_secs(1),
            &aor(ALICE),
            &answered,
            Some("on-the-phone"),
            3600,
        )
        .await
        .unwrap();
    let composed = r.presence.unwrap();
    let person = &composed.document.persons[0];
    assert_eq!(person.rpid.activity_list()[0].as_str(), "on-the-phone");
    assert_eq!(composed.document.tuples.len(), 1, "the phone's tuple stays");
    let dialogs = p.dialogs(&aor(ALICE), T0.plus_secs(1)).await.unwrap();
    assert_eq!(dialogs.dialogs[0].state, DialogState::Confirmed);
    // The same report again changes nothing.
    let r = p
        .report_call(
            T0.plus_secs(2),
            &aor(ALICE),
            &answered,
            Some("on-the-phone"),
            3600,
        )
        .await
        .unwrap();
    assert!(r.dialogs.is_none() && r.presence.is_none());
    let mut ended = answered.clone();
    ended.state = DialogState::Terminated;
    let r = p
        .report_call(
            T0.plus_secs(3),
            &aor(ALICE),
            &ended,
            Some("on-the-phone"),
            3600,
        )
        .await
        .unwrap();
    assert!(r.dialogs.is_some());
    let composed = r.presence.unwrap();
    assert!(composed.document.persons.is_empty(), "no activity left");
    let back = Presence::parse(composed.xml.as_bytes()).unwrap();
    assert_eq!(back.tuples[0].id, "desk");
    assert!(
        p.dialogs(&aor(ALICE), T0.plus_secs(3))
            .await
            .unwrap()
            .dialogs
            .is_empty()
    );
}

/// Call state expires when the stack stops reporting: the user is not on the phone for ever.
#[tokio::test]
async fn reported_call_state_expires() {
    let p = presences();
    let mut d = Dialog::new("d1", DialogState::Confirmed);
    d.call_id = Some("call-1".to_owned());
    p.report_call(T0, &aor(ALICE), &d, Some("on-the-phone"), 60)
        .await
        .unwrap();
    let expired = p.expire(T0.plus_secs(61)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert!(expired[0].presence_changed);
    assert_eq!(expired[0].events[0].event, EventPackage::Dialog);
    assert!(!expired[0].events[0].body.contains("<dialog "));
}
