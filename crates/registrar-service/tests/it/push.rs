//! Push notifications (RFC 8599) through the service: the REGISTER checks, Feature-Caps, waking a device
//! before a request is forked to it, and re-registration pushes on a manual clock. The sender here is a
//! test double of the sender trait; the real senders are tested against the local provider service in
//! registrar-push and end to end in the server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_service::push::{FlowProbe, Push, PushFailure, PushKind, PushPolicy, PushSender};
use registrar_service::{Error, RegistrarService};
use registrar_types::{Binding, PushParamError, PushProvider, PushTarget};
use tokio::sync::mpsc;

use crate::support::{ALICE, Harness, aor};

const APNS: &str =
    "sip:alice@192.0.2.1:5060;pn-provider=apns;pn-param=TEAM.com.example.voip;pn-prid=00aa11";

/// Records every push and answers as told.
struct Recorder {
    tx: mpsc::UnboundedSender<Push>,
    answer: Mutex<Result<(), PushFailure>>,
}

#[async_trait]
impl PushSender for Recorder {
    fn providers(&self) -> Vec<PushProvider> {
        vec![PushProvider::Apns, PushProvider::WebPush]
    }
    fn check(&self, t: &PushTarget) -> Result<(), PushParamError> {
        if t.provider == PushProvider::Apns && t.param.is_none() {
            return Err(PushParamError::new("pn-param", "APNs needs a topic"));
        }
        Ok(())
    }
    fn vapid_public_key(&self) -> Option<String> {
        Some("BVapidKey".into())
    }
    async fn send(&self, p: &Push) -> Result<(), PushFailure> {
        let _ = self.tx.send(p.clone());
        self.answer.lock().unwrap().clone()
    }
}

fn harness() -> (Harness, Arc<Recorder>, mpsc::UnboundedReceiver<Push>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let rec = Arc::new(Recorder {
        tx,
        answer: Mutex::new(Ok(())),
    });
    let mut policy = PushPolicy::default();
    policy.recheck = Duration::from_millis(20);
    let h = Harness::with(RegistrarService::builder().push(rec.clone(), policy));
    (h, rec, rx)
}

fn register(contact: &str, cseq: u32, expires: u32) -> RegisterRequest {
    let spec = ContactSpec::new(contact.parse().unwrap());
    let spec = if contact.contains("pnsreg") {
        ContactSpec::new(contact.replace(";pnsreg", "").parse().unwrap()).pnsreg()
    } else {
        spec
    };
    RegisterRequest::new(
        aor(ALICE),
        "call-1@h".parse().unwrap(),
        registrar_types::CSeq::new(cseq).unwrap(),
    )
    .contact(spec)
    .expires(expires)
}

#[tokio::test]
async fn unsupported_providers_get_555_and_malformed_parameters_400() {
    let (h, _, _) = harness();
    let err = h
        .svc
        .register(&register(
            "sip:a@192.0.2.1;pn-provider=fcm;pn-prid=t",
            1,
            600,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.sip_status(), 555);
    let Error::PushNotSupported { supported, .. } = err else {
        panic!("{err:?}");
    };
    assert_eq!(supported, ["apns", "webpush"]);
    for (contact, param) in [
        ("sip:a@192.0.2.1;pn-prid=t", "pn-prid"),
        ("sip:a@192.0.2.1;pn-provider=apns;pn-prid=t", "pn-param"),
    ] {
        let err = h
            .svc
            .register(&register(contact, 2, 600))
            .await
            .unwrap_err();
        assert_eq!(err.sip_status(), 400, "{contact}");
        let Error::InvalidPushParam(e) = err else {
            panic!("{err:?}");
        };
        assert_eq!(e.param, param);
    }
    // Nothing was stored; a de-registration is not checked.
    assert!(h.svc.lookup(&aor(ALICE)).await.unwrap().is_empty());
    h.svc
        .register(&register("sip:a@192.0.2.1;pn-provider=fcm", 3, 0))
        .await
        .unwrap();
}

#[tokio::test]
async fn without_push_configured_the_parameters_are_kept_and_not_checked() {
    let h = Harness::new();
    let req = register("sip:a@192.0.2.1;pn-provider=fcm;pn-prid=t", 1, 600);
    h.svc.register(&req).await.unwrap();
    assert_eq!(h.svc.push_feature_caps(&req), None);
    let b = h.svc.lookup(&aor(ALICE)).await.unwrap().to_vec();
    assert_eq!(b[0].push_target().unwrap().prid.as_deref(), Some("t"));
}

#[tokio::test]
async fn feature_caps_name_the_service_pnsreg_and_vapid() {
    let (h, _, _) = harness();
    let req = register(APNS, 1, 600);
    assert_eq!(
        h.svc.push_feature_caps(&req).as_deref(),
        Some("*;+sip.pns=\"apns\"")
    );
    let req = register(&format!("{APNS};pnsreg"), 1, 600);
    assert_eq!(
        h.svc.push_feature_caps(&req).as_deref(),
        Some("*;+sip.pns=\"apns\";+sip.pnsreg=\"130\"")
    );
    let req = register(
        "sip:a@h;pn-provider=webpush;pn-prid=https%3A%2F%2Fpush.example%2F1",
        1,
        600,
    );
    assert_eq!(
        h.svc.push_feature_caps(&req).as_deref(),
        Some("*;+sip.pns=\"webpush\";+sip.vapid=\"BVapidKey\"")
    );
    assert_eq!(h.svc.push_feature_caps(&register("sip:a@h", 1, 600)), None);
}

#[tokio::test]
async fn reach_pushes_a_sleeping_device_and_returns_once_it_registered() {
    let (h, _, mut pushes) = harness();
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    let svc = h.svc.clone();
    let device = tokio::spawn(async move {
        let p = pushes.recv().await.unwrap();
        assert_eq!(p.kind, PushKind::Wake);
        assert_eq!(p.target.prid.as_deref(), Some("00aa11"));
        // The woken app refreshes its registration.
        svc.register(&register(APNS, 2, 600)).await.unwrap();
        pushes
    });
    let r = h
        .svc
        .reach(&aor(ALICE), Duration::from_secs(10))
        .await
        .unwrap();
    device.await.unwrap();
    assert_eq!(r.pushed.len(), 1);
    assert_eq!(r.woken.len(), 1, "{r:?}");
    assert!(r.timed_out.is_empty() && r.failed.is_empty());
    assert_eq!(r.bindings.len(), 1);
    assert_eq!(r.bindings[0].cseq.value(), 2);
}

#[tokio::test]
async fn a_device_that_does_not_register_in_time_is_left_out() {
    let (h, _, mut pushes) = harness();
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    h.svc
        .register(
            &RegisterRequest::new(
                aor(ALICE),
                "desk@h".parse().unwrap(),
                registrar_types::CSeq::new(1).unwrap(),
            )
            .contact(ContactSpec::new("sip:alice@192.0.2.9".parse().unwrap()))
            .expires(600),
        )
        .await
        .unwrap();
    let r = h
        .svc
        .reach(&aor(ALICE), Duration::from_millis(200))
        .await
        .unwrap();
    assert!(pushes.try_recv().is_ok());
    assert_eq!(r.timed_out.len(), 1);
    let left: Vec<String> = r.bindings.iter().map(|b| b.contact.to_string()).collect();
    assert_eq!(left, ["sip:alice@192.0.2.9"]);
}

#[tokio::test]
async fn a_gone_device_address_is_dropped_from_the_binding() {
    let (h, rec, _pushes) = harness();
    *rec.answer.lock().unwrap() = Err(PushFailure::Unregistered);
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    let r = h
        .svc
        .reach(&aor(ALICE), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(r.failed.len(), 1);
    assert_eq!(r.failed[0].1, PushFailure::Unregistered);
    let b = h.svc.lookup(&aor(ALICE)).await.unwrap().to_vec();
    assert_eq!(b.len(), 1, "the binding stays until it expires");
    assert_eq!(b[0].push_target(), None);
    assert_eq!(b[0].contact.to_string(), "sip:alice@192.0.2.1:5060");
}

#[tokio::test]
async fn a_device_with_a_live_flow_is_not_pushed() {
    struct AllAlive;
    impl FlowProbe for AllAlive {
        fn alive(&self, _: &Binding) -> bool {
            true
        }
    }
    let (h, _, mut pushes) = harness();
    h.svc.set_flow_probe(Arc::new(AllAlive));
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    let r = h
        .svc
        .reach(&aor(ALICE), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(r.pushed.is_empty());
    assert_eq!(r.bindings.len(), 1);
    assert!(pushes.try_recv().is_err());
}

async fn next_push(rx: &mut mpsc::UnboundedReceiver<Push>) -> Push {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a push")
        .unwrap()
}

#[tokio::test]
async fn refresh_pushes_come_before_expiry_on_the_manual_clock() {
    let (h, _, mut pushes) = harness();
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    // Due 120 s before expiry (the default lead), at 480 s.
    h.advance(479);
    h.svc.run_due().await;
    h.advance(1);
    h.svc.run_due().await;
    let p = next_push(&mut pushes).await;
    assert_eq!(p.kind, PushKind::Refresh);
    assert!(pushes.try_recv().is_err());
    // The device refreshes: the next push is planned from the new expiry, not sent again now.
    h.svc.register(&register(APNS, 2, 600)).await.unwrap();
    h.advance(100);
    h.svc.run_due().await;
    tokio::task::yield_now().await;
    assert!(pushes.try_recv().is_err());
    h.advance(380);
    h.svc.run_due().await;
    assert_eq!(next_push(&mut pushes).await.kind, PushKind::Refresh);
}

#[tokio::test]
async fn a_device_that_refreshes_by_itself_gets_no_refresh_push() {
    let (h, _, mut pushes) = harness();
    h.svc
        .register(&register(&format!("{APNS};pnsreg"), 1, 600))
        .await
        .unwrap();
    assert!(h.svc.lookup(&aor(ALICE)).await.unwrap().to_vec()[0].pnsreg);
    h.advance(590);
    h.svc.run_due().await;
    tokio::task::yield_now().await;
    assert!(pushes.try_recv().is_err());
}

#[tokio::test]
async fn refresh_plans_are_rebuilt_after_a_restart() {
    let (h, _, mut pushes) = harness();
    h.svc.register(&register(APNS, 1, 600)).await.unwrap();
    let planned = h.svc.plan_push_refreshes().await.unwrap();
    assert_eq!(planned, 1);
    h.advance(480);
    h.svc.run_due().await;
    assert_eq!(next_push(&mut pushes).await.kind, PushKind::Refresh);
    // Planned twice (at registration and by the rebuild), sent once.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(pushes.try_recv().is_err());
}
