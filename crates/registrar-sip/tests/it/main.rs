//! Black-box tests of the SIP adapter in process, on a manual clock, by RFC section.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use registrar_presence::MemoryPresenceStore;
use registrar_registry::MemoryLocationStore;
use registrar_service::{ChannelNotifier, RegistrarService};
use registrar_sip::auth::{Algorithm, Credentials, DigestAuth, client_response};
use registrar_sip::{Endpoint, Peer, SipConfig};
use registrar_types::{Clock, ManualClock, Timestamp};

type Ep = Endpoint<MemoryLocationStore, MemoryPresenceStore>;

struct World {
    ep: Ep,
    clock: Arc<ManualClock>,
    notifies: tokio::sync::mpsc::Receiver<registrar_presence::NotifyIntent>,
}

fn world(cfg: SipConfig) -> World {
    let clock = Arc::new(ManualClock::new(Timestamp::from_secs(1_000_000)));
    let (n, rx) = ChannelNotifier::new(1024);
    let svc = RegistrarService::builder()
        .clock(clock.clone() as Arc<dyn Clock>)
        .notifier(Arc::new(n))
        .build()
        .unwrap();
    World {
        ep: Endpoint::new(svc, cfg),
        clock,
        notifies: rx,
    }
}

const PEER: &str = "192.0.2.10:5060";
const LOCAL: &str = "192.0.2.1:5060";

impl World {
    async fn send(&self, msg: &str) -> Vec<String> {
        let h = self
            .ep
            .handle(
                self.clock.now(),
                Peer::udp(PEER.parse().unwrap()),
                LOCAL.parse().unwrap(),
                Bytes::copy_from_slice(msg.as_bytes()),
            )
            .await;
        h.out
            .iter()
            .map(|o| String::from_utf8_lossy(&o.bytes).to_string())
            .collect()
    }

    /// The NOTIFY requests the service decided so far.
    fn notify_requests(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(i) = self.notifies.try_recv() {
            if let Some(o) = self.ep.notify(self.clock.now(), &i) {
                out.push(String::from_utf8_lossy(&o.bytes).to_string());
            }
        }
        out
    }
}

fn subscribe(expires: u32) -> String {
    format!(
        "SUBSCRIBE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsub{expires}\r\n\
         From: <sip:alice@example.com>;tag=w1\r\nTo: <sip:bob@example.com>\r\nCall-ID: sub-1\r\nCSeq: 1 SUBSCRIBE\r\n\
         Contact: <sip:alice@192.0.2.10:5060>\r\nEvent: presence\r\nExpires: {expires}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// RFC 3261 §17.1.2.2: a NOTIFY over UDP is retransmitted at T1, 2·T1, 4·T1 … (capped at T2) and a NOTIFY
/// never answered times out after 64·T1, which ends the subscription (RFC 6665 §4.2.2).
#[tokio::test]
async fn rfc3261_17_1_2_notify_retransmits_then_times_out_and_ends_the_subscription() {
    let mut w = world(SipConfig::default());
    let r = w.send(&subscribe(600)).await;
    assert!(r[0].starts_with("SIP/2.0 200 OK"), "{}", r[0]);
    assert!(r[0].contains("Contact: <sip:192.0.2.1:5060>"));
    let n = w.notify_requests();
    assert_eq!(n.len(), 1);
    assert!(
        n[0].starts_with("NOTIFY sip:alice@192.0.2.10:5060 SIP/2.0\r\n"),
        "{}",
        n[0]
    );
    assert!(n[0].contains("Subscription-State: active;expires="));
    assert!(n[0].contains("Content-Type: application/pidf+xml\r\n"));

    let mut retransmits = Vec::new();
    for _ in 0..64 {
        w.clock.advance(Duration::from_millis(500));
        let now = w.clock.now();
        for o in w.ep.poll(now).await {
            assert_eq!(String::from_utf8_lossy(&o.bytes), n[0]);
            retransmits.push(now);
        }
    }
    // 0.5, 1.5, 3.5, 7.5, 11.5, … seconds after the first transmission.
    let start = Timestamp::from_secs(1_000_000).as_millis();
    let at: Vec<u64> = retransmits.iter().map(|t| t.as_millis() - start).collect();
    assert_eq!(&at[..5], &[500, 1500, 3500, 7500, 11500], "{at:?}");
    assert!(at.iter().all(|t| *t < 32_000));
    assert_eq!(w.ep.service().subscription_count(), 0, "timer F ended it");
    assert_eq!(
        w.ep.stats()
            .notifies_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(
        w.notify_requests().is_empty(),
        "no final NOTIFY to a dead peer"
    );
}

/// A 200 to the NOTIFY stops its retransmissions.
#[tokio::test]
async fn rfc3261_17_1_2_a_final_response_stops_retransmissions() {
    let mut w = world(SipConfig::default());
    w.send(&subscribe(600)).await;
    let n = w.notify_requests().remove(0);
    let mut resp = String::from("SIP/2.0 200 OK\r\n");
    for l in n.lines() {
        let low = l.to_ascii_lowercase();
        if ["via:", "from:", "to:", "call-id:", "cseq:"]
            .iter()
            .any(|p| low.starts_with(p))
        {
            resp.push_str(l);
            resp.push_str("\r\n");
        }
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    assert!(w.send(&resp).await.is_empty());
    w.clock.advance(Duration::from_secs(5));
    assert!(w.ep.poll(w.clock.now()).await.is_empty());
    assert_eq!(w.ep.service().subscription_count(), 1);
}

/// RFC 7616 / RFC 8760: both challenges, SHA-256 accepted, the AoR must be the authenticated user's.
#[tokio::test]
async fn rfc8760_sha256_digest_for_register() {
    let mut users = std::collections::HashMap::new();
    users.insert(
        "alice".to_owned(),
        Credentials::from_password("alice", "example.com", "pw"),
    );
    let auth = DigestAuth::new("example.com", users, 300).unwrap();
    let w = world(SipConfig::default().auth(auth));
    let reg = |user: &str, cseq: u32, authz: &str| {
        format!(
            "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKa{cseq}{user}\r\n\
             From: <sip:{user}@example.com>;tag=a\r\nTo: <sip:{user}@example.com>\r\nCall-ID: auth-{user}\r\n\
             CSeq: {cseq} REGISTER\r\n{authz}Contact: <sip:{user}@192.0.2.10>\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let r = w.send(&reg("alice", 1, "")).await.remove(0);
    assert!(r.starts_with("SIP/2.0 401 Unauthorized"), "{r}");
    let challenges: Vec<&str> = r
        .lines()
        .filter(|l| l.starts_with("WWW-Authenticate:"))
        .collect();
    assert_eq!(challenges.len(), 2);
    assert!(challenges[0].contains("algorithm=SHA-256") && challenges[1].contains("algorithm=MD5"));
    let nonce = challenges[0]
        .split("nonce=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let h = client_response(
        Algorithm::Sha256,
        "alice",
        "example.com",
        "pw",
        "REGISTER",
        "sip:example.com",
        nonce,
        1,
        "x",
    );
    let r = w
        .send(&reg("alice", 2, &format!("Authorization: {h}\r\n")))
        .await
        .remove(0);
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    // alice's credentials cannot register bob: 403 (after authenticating, not before).
    let h = client_response(
        Algorithm::Sha256,
        "alice",
        "example.com",
        "pw",
        "REGISTER",
        "sip:example.com",
        nonce,
        2,
        "x",
    );
    let r = w
        .send(&reg("bob", 3, &format!("Authorization: {h}\r\n")))
        .await
        .remove(0);
    assert!(r.starts_with("SIP/2.0 403"), "{r}");
}

/// RFC 3581: `rport` is filled and `received` added; the answer goes to the source port.
#[tokio::test]
async fn rfc3581_rport_and_received() {
    let w = world(SipConfig::default());
    let msg = "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5062;rport;branch=z9hG4bKo1\r\n\
               From: <sip:x@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let h =
        w.ep.handle(
            w.clock.now(),
            Peer::udp("198.51.100.9:40000".parse().unwrap()),
            LOCAL.parse::<SocketAddr>().unwrap(),
            Bytes::from_static(msg.as_bytes()),
        )
        .await;
    let out = &h.out[0];
    assert_eq!(out.to.addr, "198.51.100.9:40000".parse().unwrap());
    let text = String::from_utf8_lossy(&out.bytes);
    assert!(
        text.contains(
            "Via: SIP/2.0/UDP 10.0.0.7:5062;branch=z9hG4bKo1;received=198.51.100.9;rport=40000\r\n"
        ),
        "{text}"
    );
    assert!(text.contains("Allow: REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS"));
}

/// Anything else than our methods: 405 with Allow.
#[tokio::test]
async fn rfc3261_8_2_1_unknown_methods_get_405_with_allow() {
    let w = world(SipConfig::default());
    let msg = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKm1\r\n\
               From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    let r = w.send(msg).await.remove(0);
    assert!(r.starts_with("SIP/2.0 405 Method Not Allowed\r\n"), "{r}");
    assert!(
        r.contains("\r\nAllow: REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, OPTIONS, ACK, CANCEL\r\n")
    );
}

/// RFC 3261 §10.3 step 8: the 200 OK lists every binding; a binding's q-value comes back with it (phones show
/// it), the default q=1 is left out.
#[tokio::test]
async fn rfc3261_10_3_the_200_ok_carries_each_bindings_q() {
    let w = world(SipConfig::default());
    let msg = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKq1\r\n\
               From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: q1\r\nCSeq: 1 REGISTER\r\n\
               Contact: <sip:alice@192.0.2.10:5060>;q=0.7, <sip:alice@192.0.2.11:5060>;q=0.3, <sip:alice@192.0.2.12:5060>\r\n\
               Expires: 600\r\nContent-Length: 0\r\n\r\n";
    let r = w.send(msg).await.remove(0);
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert!(
        r.contains("Contact: <sip:alice@192.0.2.10:5060>;expires=600;q=0.7\r\n"),
        "{r}"
    );
    assert!(
        r.contains("Contact: <sip:alice@192.0.2.11:5060>;expires=600;q=0.3\r\n"),
        "{r}"
    );
    assert!(
        r.contains("Contact: <sip:alice@192.0.2.12:5060>;expires=600\r\n"),
        "{r}"
    );
}

fn adhoc_subscribe(body: &[u8], encoding: Option<&str>, tag: &str) -> Vec<u8> {
    let mut head = format!(
        "SUBSCRIBE sip:rls@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{tag}\r\n\
         From: <sip:olga@example.com>;tag={tag}\r\nTo: <sip:rls@example.com>\r\nCall-ID: rls-{tag}\r\nCSeq: 20 SUBSCRIBE\r\n\
         Contact: <sip:olga@192.0.2.10:5060>\r\nEvent: presence\r\nSupported: eventlist\r\nRequire: recipient-list-subscribe\r\n\
         Accept: multipart/related\r\nAccept: application/pidf+xml\r\nAccept: application/rlmi+xml\r\n\
         Content-Disposition: recipient-list\r\nContent-Type: application/resource-lists+xml\r\nExpires: 600\r\n"
    );
    if let Some(e) = encoding {
        head.push_str(&format!("Content-Encoding: {e}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

const FRIENDS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:ietf:params:xml:ns:resource-lists">
 <list>
  <entry uri="sip:pat@example.com"/>
  <entry uri="sip:quinn@example.com"/>
 </list>
</resource-lists>
"#;

impl World {
    async fn send_bytes(&self, msg: Vec<u8>) -> Vec<String> {
        let h = self
            .ep
            .handle(
                self.clock.now(),
                Peer::udp(PEER.parse().unwrap()),
                LOCAL.parse().unwrap(),
                Bytes::from(msg),
            )
            .await;
        h.out
            .iter()
            .map(|o| String::from_utf8_lossy(&o.bytes).to_string())
            .collect()
    }
}

/// RFC 5367 the Linphone way: a SUBSCRIBE with `Require: recipient-list-subscribe` and its friends in a
/// resource-lists body (zlib-deflated, as liblinphone sends it once the list grows) is a list subscription:
/// 200 with `Require: eventlist`, and a NOTIFY whose RLMI lists exactly those friends, framed as liblinphone
/// reads it (`Event: Presence`, `Content-Id` without brackets).
#[tokio::test]
async fn rfc5367_adhoc_list_subscription_with_a_deflated_body() {
    let mut w = world(SipConfig::default());
    let deflated = miniz_oxide::deflate::compress_to_vec_zlib(FRIENDS.as_bytes(), 6);
    let r = w
        .send_bytes(adhoc_subscribe(&deflated, Some("deflate"), "a1"))
        .await;
    assert!(r[0].starts_with("SIP/2.0 200"), "{}", r[0]);
    assert!(r[0].contains("\r\nRequire: eventlist\r\n"), "{}", r[0]);
    let notifies = w.notify_requests();
    assert_eq!(notifies.len(), 1);
    let n = &notifies[0];
    assert!(n.contains("\r\nEvent: Presence\r\n"), "{n}");
    assert!(n.contains("<resource uri=\"sip:pat@example.com\">"), "{n}");
    assert!(
        n.contains("<resource uri=\"sip:quinn@example.com\">"),
        "{n}"
    );
    assert!(n.contains("\r\nContent-Id: "), "{n}");
    assert!(!n.contains("Content-ID: <"), "{n}");

    // The same list uncompressed works too; another coding is 415 naming the ones taken; a body that does
    // not inflate is 400; no list at all is 400.
    let r = w
        .send_bytes(adhoc_subscribe(FRIENDS.as_bytes(), None, "a2"))
        .await;
    assert!(r[0].starts_with("SIP/2.0 200"), "{}", r[0]);
    let r = w
        .send_bytes(adhoc_subscribe(FRIENDS.as_bytes(), Some("gzip"), "a3"))
        .await;
    assert!(r[0].starts_with("SIP/2.0 415"), "{}", r[0]);
    assert!(
        r[0].contains("Accept-Encoding: identity, deflate"),
        "{}",
        r[0]
    );
    let r = w
        .send_bytes(adhoc_subscribe(b"not deflate data", Some("deflate"), "a4"))
        .await;
    assert!(r[0].starts_with("SIP/2.0 400"), "{}", r[0]);
    let r = w.send_bytes(adhoc_subscribe(b"", None, "a5")).await;
    assert!(r[0].starts_with("SIP/2.0 400"), "{}", r[0]);
    let r = w
        .send_bytes(adhoc_subscribe(
            br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry uri="not a uri"/></list></resource-lists>"#,
            None,
            "a6",
        ))
        .await;
    assert!(r[0].starts_with("SIP/2.0 400"), "{}", r[0]);
}
