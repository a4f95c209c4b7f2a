//! The senders against the local push service, over real TLS and HTTP/2: what each sends is checked the way
//! the provider checks it, and each provider's documented error answers map to the right failure.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use registrar_push::local::{LocalConfig, LocalPushService, Scripted};
use registrar_push::{
    Apns, ApnsConfig, Fcm, FcmConfig, Push, PushFailure, PushKind, PushSender, Senders, WebPush,
    WebPushConfig,
};
use registrar_types::{Aor, Binding, PushProvider, PushTarget, SipUri};

const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "LOCALKEY01";
const TOKEN: &str = "6c1f0a2b9e3d4c5b6a7980f1e2d3c4b5a69788f0e1d2c3b4a5968778695a4b3c";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tls(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../registrar-server/tests/fixtures/tls")
        .join(name)
        .display()
        .to_string()
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap()
}

fn vapid_public() -> String {
    let w = WebPush::new(WebPushConfig::new(
        read("vapid.pem"),
        "mailto:ops@example.com",
    ))
    .unwrap();
    w.vapid_public_key().unwrap()
}

async fn service() -> LocalPushService {
    let mut cfg = LocalConfig::default();
    cfg.cert_file = tls("cert.pem");
    cfg.key_file = tls("key.pem");
    cfg.apns = Some((TEAM.into(), KEY_ID.into(), read("AuthKey_LOCALKEY01.p8")));
    cfg.fcm_service_account = Some(read("fcm-service-account.json"));
    cfg.vapid_public = Some(vapid_public());
    LocalPushService::start(cfg).await.unwrap()
}

fn apns(local: &LocalPushService) -> Apns {
    let mut cfg = ApnsConfig::new(TEAM, KEY_ID, read("AuthKey_LOCALKEY01.p8"));
    cfg.url = local.url();
    cfg.ca_file = Some(tls("cert.pem"));
    Apns::new(cfg).unwrap()
}

fn fcm(local: &LocalPushService) -> Fcm {
    let mut cfg = FcmConfig::new(read("fcm-service-account.json"));
    cfg.url = local.url();
    cfg.token_url = local.token_url();
    cfg.ca_file = Some(tls("cert.pem"));
    Fcm::new(cfg).unwrap()
}

fn webpush() -> WebPush {
    let mut cfg = WebPushConfig::new(read("vapid.pem"), "mailto:ops@example.com");
    cfg.allowed_hosts = vec!["127.0.0.1".into()];
    cfg.ca_file = Some(tls("cert.pem"));
    WebPush::new(cfg).unwrap()
}

fn push(contact: &str, kind: PushKind, id: &str) -> Push {
    let uri: SipUri = contact.parse().unwrap();
    let target = PushTarget::from_uri(&uri).unwrap().unwrap();
    let binding = Binding {
        contact: uri,
        q: registrar_types::QValue::ONE,
        expires_at: registrar_types::Timestamp::from_secs(600),
        call_id: "c@h".parse().unwrap(),
        cseq: registrar_types::CSeq::new(1).unwrap(),
        instance_id: None,
        reg_id: None,
        path: Vec::new(),
        source: None,
        transport: None,
        user_agent: None,
        registered_at: registrar_types::Timestamp::from_secs(0),
        last_refresh: registrar_types::Timestamp::from_secs(0),
        temp_gruu: None,
        pnsreg: false,
    };
    let aor: Aor = "sip:alice@example.com".parse().unwrap();
    Push::new(
        aor,
        &binding,
        target,
        kind,
        id.into(),
        Duration::from_secs(30),
    )
}

fn apns_contact(token: &str, topic: &str) -> String {
    format!("sip:alice@192.0.2.1;pn-provider=apns;pn-param={TEAM}.{topic};pn-prid={token}")
}

#[tokio::test]
async fn apns_voip_push_carries_a_valid_provider_token() {
    let local = service().await;
    let a = apns(&local);
    let p = push(
        &apns_contact(TOKEN, "com.example.phone.voip"),
        PushKind::Wake,
        "0a1b2c3d-0000-4000-8000-000000000001",
    );
    a.check(&p.target).unwrap();
    a.send(&p).await.unwrap();
    // A second push reuses the connection and the token.
    a.send(&p).await.unwrap();
    let got = local.received();
    assert_eq!(got.len(), 2);
    let r = &got[0];
    assert_eq!(r.verdict, Ok(()));
    assert_eq!(r.device, TOKEN);
    assert_eq!(r.headers["apns-push-type"], "voip");
    assert_eq!(r.headers["apns-topic"], "com.example.phone.voip");
    assert_eq!(r.headers["apns-priority"], "10");
    assert_eq!(r.headers["apns-id"], "0a1b2c3d-0000-4000-8000-000000000001");
    let payload = r.payload.as_ref().unwrap();
    assert_eq!(payload["type"], "wake");
    assert_eq!(
        got[0].headers["authorization"],
        got[1].headers["authorization"]
    );
}

#[tokio::test]
async fn apns_refresh_of_a_non_voip_app_is_a_background_push() {
    let local = service().await;
    let a = apns(&local);
    a.send(&push(
        &apns_contact(TOKEN, "com.example.phone"),
        PushKind::Refresh,
        "x",
    ))
    .await
    .unwrap();
    let r = &local.received()[0];
    assert_eq!(r.headers["apns-push-type"], "background");
    assert_eq!(r.headers["apns-priority"], "5");
    assert_eq!(r.payload.as_ref().unwrap()["aps"]["content-available"], 1);
}

#[tokio::test]
async fn apns_answers_map_to_failures() {
    let local = service().await;
    let a = apns(&local);
    let gone = "ab".repeat(32);
    local.script(&gone, Scripted::Gone);
    let p = push(
        &apns_contact(&gone, "com.example.phone.voip"),
        PushKind::Wake,
        "1",
    );
    assert_eq!(a.send(&p).await, Err(PushFailure::Unregistered));
    let busy = "cd".repeat(32);
    local.script(&busy, Scripted::Throttle(0));
    let p = push(
        &apns_contact(&busy, "com.example.phone.voip"),
        PushKind::Wake,
        "2",
    );
    assert!(matches!(
        a.send(&p).await,
        Err(PushFailure::Throttled { .. })
    ));
    let before = local.received().len();
    // Backed off: the next push to that device fails at once, without a request.
    assert!(matches!(
        a.send(&p).await,
        Err(PushFailure::Throttled { .. })
    ));
    assert_eq!(local.received().len(), before);
    let broken = "ef".repeat(32);
    local.script(&broken, Scripted::Fail);
    let p = push(
        &apns_contact(&broken, "com.example.phone.voip"),
        PushKind::Wake,
        "3",
    );
    assert!(matches!(a.send(&p).await, Err(PushFailure::Unavailable(_))));
}

#[tokio::test]
async fn apns_refuses_a_token_signed_by_another_key() {
    let local = service().await;
    let mut cfg = ApnsConfig::new(TEAM, KEY_ID, read("vapid.pem"));
    cfg.url = local.url();
    cfg.ca_file = Some(tls("cert.pem"));
    let wrong = Apns::new(cfg).unwrap();
    let p = push(
        &apns_contact(TOKEN, "com.example.phone.voip"),
        PushKind::Wake,
        "1",
    );
    assert!(matches!(
        wrong.send(&p).await,
        Err(PushFailure::Credentials(_))
    ));
    assert!(local.received()[0].verdict.is_err());
}

#[tokio::test]
async fn apns_parameters_are_checked() {
    let local = service().await;
    let a = apns(&local);
    for (contact, param) in [
        (
            format!("sip:a@h;pn-provider=apns;pn-prid={TOKEN}"),
            "pn-param",
        ),
        (
            apns_contact(TOKEN, "").replace(&format!("{TEAM}."), "OTHERTEAM."),
            "pn-param",
        ),
        (apns_contact("xyz", "com.example.voip"), "pn-prid"),
    ] {
        let uri: SipUri = contact.parse().unwrap();
        let t = PushTarget::from_uri(&uri).unwrap().unwrap();
        assert_eq!(a.check(&t).map_err(|e| e.param), Err(param), "{contact}");
    }
}

#[tokio::test]
async fn fcm_gets_an_access_token_once_and_sends_data_messages() {
    let local = service().await;
    let f = fcm(&local);
    let c = "sip:bob@192.0.2.2;pn-provider=fcm;pn-param=registrar-local;pn-prid=dXNlcjE:APA91bH-token_1";
    f.send(&push(c, PushKind::Wake, "w1")).await.unwrap();
    f.send(&push(c, PushKind::Refresh, "r1")).await.unwrap();
    let got = local.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.verdict.is_ok()), "{got:?}");
    assert_eq!(
        got[0].headers["authorization"],
        got[1].headers["authorization"]
    );
    let m = &got[0].payload.as_ref().unwrap()["message"];
    assert_eq!(m["token"], "dXNlcjE:APA91bH-token_1");
    assert_eq!(m["data"]["type"], "wake");
    assert_eq!(m["android"]["priority"], "high");
    assert_eq!(
        got[1].payload.as_ref().unwrap()["message"]["android"]["priority"],
        "normal"
    );
    local.script("gone-token", Scripted::Gone);
    let c = "sip:bob@192.0.2.2;pn-provider=fcm;pn-prid=gone-token";
    assert_eq!(
        f.send(&push(c, PushKind::Wake, "w2")).await,
        Err(PushFailure::Unregistered)
    );
    local.script("quota", Scripted::Throttle(7));
    let c = "sip:bob@192.0.2.2;pn-provider=fcm;pn-prid=quota";
    assert_eq!(
        f.send(&push(c, PushKind::Wake, "w3")).await,
        Err(PushFailure::Throttled {
            retry_after: Some(Duration::from_secs(7))
        })
    );
}

#[tokio::test]
async fn webpush_payload_is_encrypted_for_the_subscription_and_vapid_signed() {
    let local = service().await;
    let w = webpush();
    let sub = local.subscribe();
    let c = format!(
        "sip:carol@df7jal3m.invalid;transport=ws;pn-provider=webpush;pn-param={};pn-prid={}",
        sub.pn_param(),
        registrar_types::escape_param_value(&sub.endpoint)
    );
    let p = push(&c, PushKind::Wake, "wp-1");
    w.check(&p.target).unwrap();
    w.send(&p).await.unwrap();
    let r = &local.received()[0];
    assert_eq!(r.verdict, Ok(()), "{r:?}");
    assert_eq!(r.status, 201);
    assert_eq!(r.headers["urgency"], "high");
    assert_eq!(r.headers["content-encoding"], "aes128gcm");
    let plain = r.payload.as_ref().unwrap();
    assert_eq!(plain["type"], "wake");
    assert_eq!(plain["id"], "wp-1");
    // Gone subscriptions, and endpoints on hosts not allowed.
    let gone = local.subscribe();
    local.script(gone.endpoint.rsplit('/').next().unwrap(), Scripted::Gone);
    let c = format!(
        "sip:carol@h;pn-provider=webpush;pn-prid={}",
        registrar_types::escape_param_value(&gone.endpoint)
    );
    assert_eq!(
        w.send(&push(&c, PushKind::Refresh, "wp-2")).await,
        Err(PushFailure::Unregistered)
    );
    let uri: SipUri = "sip:c@h;pn-provider=webpush;pn-prid=https%3A%2F%2Fevil.example%2Fx"
        .parse()
        .unwrap();
    let t = PushTarget::from_uri(&uri).unwrap().unwrap();
    assert_eq!(w.check(&t).map_err(|e| e.param), Err("pn-prid"));
}

#[tokio::test]
async fn senders_route_by_provider_and_name_the_vapid_key() {
    let local = service().await;
    let all = Senders::new()
        .with(Arc::new(apns(&local)))
        .with(Arc::new(fcm(&local)))
        .with(Arc::new(webpush()));
    let mut names = all.providers();
    names.sort();
    assert_eq!(
        names,
        [PushProvider::Apns, PushProvider::Fcm, PushProvider::WebPush]
    );
    assert_eq!(all.vapid_public_key(), Some(vapid_public()));
    all.send(&push(
        &apns_contact(TOKEN, "com.example.phone.voip"),
        PushKind::Wake,
        "1",
    ))
    .await
    .unwrap();
    let only_apns = Senders::new().with(Arc::new(apns(&local)));
    let c = "sip:bob@192.0.2.2;pn-provider=fcm;pn-prid=t";
    assert!(matches!(
        only_apns.send(&push(c, PushKind::Wake, "w")).await,
        Err(PushFailure::NotConfigured(_))
    ));
}

#[tokio::test]
async fn an_unreachable_provider_fails_within_the_timeout() {
    // A port nothing listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let mut cfg = ApnsConfig::new(TEAM, KEY_ID, read("AuthKey_LOCALKEY01.p8"));
    cfg.url = format!("https://127.0.0.1:{port}");
    cfg.timeout = Duration::from_secs(2);
    let a = Apns::new(cfg).unwrap();
    let p = push(
        &apns_contact(TOKEN, "com.example.phone.voip"),
        PushKind::Wake,
        "1",
    );
    assert!(matches!(a.send(&p).await, Err(PushFailure::Unavailable(_))));
}
