//! The participant's live events over a WebSocket.

use super::*;

/// The participant's live events over a WebSocket: contact requests to them and decisions on theirs, ratings
/// of them, and presence changes of those they may watch (visible to them, and related or with an approved
/// contact request). Each message is JSON `{"type": …, "data": …}`: first `ready` (every event after it
/// reaches the stream); a stream that fell behind gets `{"type": "lagged", "data": {"missed": n}}` and goes
/// on.
pub(super) async fn events(
    State(s): State<DirState>,
    who: Who,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let ws = ws.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(ws.on_upgrade(move |socket| stream_events(socket, s, who.id)))
}

pub(super) async fn stream_events(mut socket: WebSocket, s: DirState, who: ParticipantId) {
    use registrar_events::{Delivery, EventFilter, EventKind, RegistrarEvent};
    let Ok(dir) = s.dir().cloned() else {
        return;
    };
    let mut hub = s.hub.subscribe();
    let mut registrar =
        s.ep.service()
            .events(EventFilter::all().kinds(&[EventKind::Presence]));
    let send = |v: serde_json::Value| WsMessage::Text(v.to_string().into());
    // Both sources are followed from here on: a client that waits for this misses nothing after it.
    if socket
        .send(send(serde_json::json!({"type": "ready", "data": {}})))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let out = tokio::select! {
            e = hub.recv() => match e {
                Ok(e) if e.to == who => vec![send(e.body.clone())],
                Ok(_) => Vec::new(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    vec![send(serde_json::json!({"type": "lagged", "data": {"missed": n}}))]
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            d = registrar.next() => match d {
                Some(Delivery::Events(batch)) => {
                    let mut out = Vec::new();
                    // Who may watch whom is decided on every change acknowledged so far (shared mode: on
                    // any node); when that cannot be known, nothing is sent.
                    let in_step = dir.sync().await.is_ok();
                    for env in batch.iter().filter(|_| in_step) {
                        let RegistrarEvent::PresenceChanged { aor, pidf } = &env.event else {
                            continue;
                        };
                        let target = dir
                            .with(|d| {
                                d.participant_by_sip_aor(&aor.to_string())
                                    .map(|p| p.id.clone())
                                    .filter(|t| d.may_watch(&who, t))
                            })
                            .ok()
                            .flatten();
                        if let Some(t) = target {
                            let availability = registrar_pidf::Presence::parse(pidf.as_bytes())
                                .map_or(Availability::Unknown, |p| availability_of(&p));
                            out.push(send(serde_json::json!({
                                "type": "presence",
                                "data": {"participant": t, "availability": availability},
                            })));
                        }
                    }
                    out
                }
                Some(Delivery::Lagged { missed, .. }) => {
                    vec![send(serde_json::json!({"type": "lagged", "data": {"missed": missed}}))]
                }
                Some(_) => Vec::new(),
                None => break,
            },
            m = socket.recv() => match m {
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => Vec::new(),
            },
        };
        for m in out {
            if socket.send(m).await.is_err() {
                return;
            }
        }
    }
}
