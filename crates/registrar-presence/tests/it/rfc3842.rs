//! RFC 3842: the `message-summary` event package (message waiting) — published by a voicemail server or set
//! over the API, the newest report wins, only the mailbox's owner may subscribe.

use registrar_pidf::{MessageClass, MessageCounts, MessageSummary};
use registrar_presence::{EventPackage, PublishKind, PublishRequest, SubscribeRequest};

use crate::support::*;

const BOB: &str = "sip:bob@example.com";

fn publish_summary(body: &str) -> PublishRequest {
    let mut req = PublishRequest::initial(aor(ALICE), &[]).event(EventPackage::MessageSummary);
    req.body = Some((
        "application/simple-message-summary".to_owned(),
        body.as_bytes().to_vec(),
    ));
    req
}

/// §3.5: the owner subscribes and gets the summary at once — `Messages-Waiting: no` before anything was
/// published —, then each new summary.
#[tokio::test]
async fn owner_gets_the_summary_and_its_changes() {
    let p = presences();
    let s = subs();
    let empty = p
        .event_body(&EventPackage::MessageSummary, &aor(ALICE), T0)
        .await
        .unwrap();
    let req = SubscribeRequest::new(dialog(1), aor(ALICE), aor(ALICE))
        .event(EventPackage::MessageSummary);
    let out = s.subscribe(T0, &req, &empty).unwrap();
    assert_eq!(out.status, 200);
    assert_eq!(
        out.notify.content_type(),
        Some("application/simple-message-summary")
    );
    let first = MessageSummary::parse(out.notify.body_text().unwrap().as_bytes()).unwrap();
    assert!(!first.waiting);
    assert_eq!(out.notify.version, None, "a summary has no version");
    let r = p
        .publish(
            T0,
            &publish_summary("Messages-Waiting: yes\r\nVoice-Message: 2/8 (1/0)\r\n"),
        )
        .await
        .unwrap();
    assert_eq!(r.outcome.kind, PublishKind::Created);
    let changed = r.changed_event.unwrap();
    let sent = s.notify_event(&changed.event, &aor(ALICE), &changed.body, T0);
    assert_eq!(sent.len(), 1);
    let got = MessageSummary::parse(sent[0].body_text().unwrap().as_bytes()).unwrap();
    assert!(got.waiting);
    assert_eq!(got.voice(), (2, 8));
}

/// Another user may not read someone's mailbox state: 403.
#[test]
fn others_are_refused() {
    let s = subs();
    let req =
        SubscribeRequest::new(dialog(1), aor(BOB), aor(ALICE)).event(EventPackage::MessageSummary);
    let err = s
        .subscribe(T0, &req, &"Messages-Waiting: no\r\n".into())
        .unwrap_err();
    assert_eq!(err.sip_status(), 403);
}

/// Several publishers: the newest summary is the mailbox's state (counts are not added up); a summary set
/// over the API replaces the API's previous one.
#[tokio::test]
async fn newest_summary_wins_and_the_api_replaces_its_own() {
    let p = presences();
    p.publish(
        T0,
        &publish_summary("Messages-Waiting: yes\r\nVoice-Message: 1/0\r\n"),
    )
    .await
    .unwrap();
    p.publish(
        T0.plus_secs(1),
        &publish_summary("Messages-Waiting: yes\r\nVoice-Message: 3/0\r\n"),
    )
    .await
    .unwrap();
    let got = p
        .message_summary(&aor(ALICE), T0.plus_secs(1))
        .await
        .unwrap();
    assert_eq!(got.voice(), (3, 0));
    let summary = MessageSummary::from_counts(
        Some("sip:alice@example.com"),
        vec![MessageCounts::new(MessageClass::Voice, 0, 4, None)],
    );
    for n in 0..3 {
        p.set_message_summary(T0.plus_secs(2 + n), &aor(ALICE), &summary, 3600)
            .await
            .unwrap();
    }
    let live = p.publications(&aor(ALICE), T0.plus_secs(5)).await.unwrap();
    assert_eq!(live.len(), 3, "two SIP publications and one of the API");
    let got = p
        .message_summary(&aor(ALICE), T0.plus_secs(5))
        .await
        .unwrap();
    assert!(!got.waiting);
    assert_eq!(got.voice(), (0, 4));
}

/// A malformed summary is refused with 400 and nothing changes; a PIDF body is 415.
#[tokio::test]
async fn malformed_summaries_are_400() {
    let p = presences();
    let err = p
        .publish(T0, &publish_summary("Messages-Waiting: perhaps\r\n"))
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 400);
    let mut req = publish_summary("");
    req.body = Some(("application/pidf+xml".to_owned(), pidf("t", "open")));
    assert_eq!(p.publish(T0, &req).await.unwrap_err().sip_status(), 415);
    assert!(p.publications(&aor(ALICE), T0).await.unwrap().is_empty());
}

/// The API's presence and the API's message summary are two publications: setting one never touches the
/// other.
#[tokio::test]
async fn api_presence_and_api_summary_are_apart() {
    let p = presences();
    let summary = MessageSummary::from_counts(
        None,
        vec![MessageCounts::new(MessageClass::Voice, 1, 0, None)],
    );
    p.set_message_summary(T0, &aor(ALICE), &summary, 3600)
        .await
        .unwrap();
    let doc = registrar_pidf::Presence::parse(&pidf("api", "open")).unwrap();
    for n in 0..2 {
        p.update_presence(T0.plus_secs(n), &aor(ALICE), &doc, 3600)
            .await
            .unwrap();
    }
    let live = p.publications(&aor(ALICE), T0.plus_secs(2)).await.unwrap();
    assert_eq!(live.len(), 2, "one presence and one summary of the API");
    assert_eq!(
        p.message_summary(&aor(ALICE), T0.plus_secs(2))
            .await
            .unwrap()
            .voice(),
        (1, 0)
    );
}
