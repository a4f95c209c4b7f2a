//! RFC 4662: subscriptions to a buddy list as a resource list, with multipart/related NOTIFYs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use registrar_pidf::{Basic, Document, InstanceState, Presence, ResourceList};
use registrar_presence::{
    Buddy, BuddyLists, DialogId, Error, EventPackage, ListContext, NotifyIntent, ResourceLists,
    SubscribeRequest, SubscriptionPolicy, Subscriptions, WatcherDecision,
};
use registrar_types::{Aor, Timestamp};

use crate::support::*;

const LIST: &str = "sip:alice-buddies@example.com";
const BOB: &str = "sip:bob@example.com";
const CAROL: &str = "sip:carol@example.com";
const EVE: &str = "sip:eve@elsewhere.example.org";
const MALLORY: &str = "sip:mallory@example.com";
const DAVE: &str = "sip:dave@example.com";

fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("list-{n}").parse().unwrap(),
        &format!("from-{n}"),
        &format!("to-{n}"),
    )
}

fn doc(entity: &str, basic: Basic, note: &str) -> Arc<str> {
    let mut p = Presence::new(entity);
    let mut t = registrar_pidf::Tuple::new("t1", basic);
    t.notes.push(registrar_pidf::Note::new(note));
    p.tuples.push(t);
    Arc::from(p.to_xml())
}

/// The presence server's state as the resource list server reads it.
struct World {
    lists: BuddyLists,
    subs: Subscriptions,
    rls: ResourceLists,
    docs: Mutex<HashMap<Aor, Arc<str>>>,
}

impl World {
    fn new(policy: SubscriptionPolicy) -> Self {
        let w = Self {
            lists: BuddyLists::default(),
            subs: Subscriptions::new(policy.clone()).unwrap(),
            rls: ResourceLists::new(policy).unwrap(),
            docs: Mutex::new(HashMap::new()),
        };
        let alice = aor(ALICE);
        w.lists
            .add(&alice, Buddy::new(aor(BOB)).named("Bob").in_group("Team"))
            .unwrap();
        w.lists.add(&alice, Buddy::new(aor(CAROL))).unwrap();
        w.lists.add(&alice, Buddy::new(aor(EVE))).unwrap();
        w.lists.add(&alice, Buddy::new(aor(MALLORY))).unwrap();
        w.lists.add(&alice, Buddy::new(aor(DAVE))).unwrap();
        let nothing: Arc<str> = Arc::from("");
        w.subs
            .authorize_watcher(&aor(MALLORY), &alice, WatcherDecision::Block, &nothing, T0);
        w.subs.authorize_watcher(
            &aor(DAVE),
            &alice,
            WatcherDecision::PoliteBlock,
            &nothing,
            T0,
        );
        w.set(BOB, Basic::Open, "bob at his desk");
        w.set(CAROL, Basic::Closed, "carol away");
        w.set(EVE, Basic::Open, "eve secret");
        w.set(MALLORY, Basic::Open, "mallory secret");
        w.set(DAVE, Basic::Open, "dave secret");
        w
    }

    fn set(&self, who: &str, basic: Basic, note: &str) {
        self.docs
            .lock()
            .unwrap()
            .insert(aor(who), doc(who, basic, note));
    }

    fn with<R>(&self, f: impl FnOnce(ListContext<'_>) -> R) -> R {
        let presence_of = |a: &Aor| {
            self.docs
                .lock()
                .unwrap()
                .get(a)
                .cloned()
                .unwrap_or_else(|| Arc::from(Presence::new(a.as_str()).to_xml()))
        };
        f(ListContext::new(&self.lists, &self.subs, &presence_of))
    }

    fn subscribe(&self, req: &SubscribeRequest, now: Timestamp) -> Result<NotifyIntent, Error> {
        self.with(|ctx| self.rls.subscribe(now, req, true, ctx))
            .map(|o| o.notify)
    }
}

fn list_request(n: u32) -> SubscribeRequest {
    SubscribeRequest::new(dialog(n), aor(ALICE), aor(LIST)).expires(600)
}

/// A NOTIFY body taken apart: the RLMI root and the other parts by Content-ID.
struct Parts {
    rlmi: ResourceList,
    by_cid: HashMap<String, (String, String)>,
}

/// Split a `multipart/related` body using the parameters of its `Content-Type`, as a subscriber would.
fn parse_multipart(n: &NotifyIntent) -> Parts {
    let ct = n.content_type().unwrap();
    assert!(ct.starts_with("multipart/related;"), "{ct}");
    // A parameter's value, quoted or a bare token (RFC 2045 §5.1).
    let param = |name: &str| {
        let at = ct.find(&format!(";{name}=")).unwrap() + name.len() + 2;
        let rest = &ct[at..];
        match rest.strip_prefix('"') {
            Some(q) => q[..q.find('"').unwrap()].to_owned(),
            None => rest.split(';').next().unwrap().to_owned(),
        }
    };
    assert_eq!(param("type"), "application/rlmi+xml");
    let start = param("start");
    let boundary = param("boundary");
    let body = n.body.as_ref().unwrap();
    let delimiter = format!("--{boundary}");
    assert!(
        body.ends_with(&format!("{delimiter}--\r\n")),
        "close delimiter"
    );
    let mut by_cid = HashMap::new();
    let mut root = None;
    for part in body.split(&delimiter).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap();
        let (head, content) = part.split_once("\r\n\r\n").unwrap();
        let content = content.strip_suffix("\r\n").unwrap();
        // Header names compare case-insensitively (RFC 2045); an ad-hoc list's Content-Id has no brackets.
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(": ")?;
                    n.eq_ignore_ascii_case(name).then(|| v.to_owned())
                })
                .unwrap()
        };
        let cid = header("Content-ID");
        let bare = cid
            .strip_prefix('<')
            .and_then(|c| c.strip_suffix('>'))
            .unwrap_or(&cid)
            .to_owned();
        let ctype = header("Content-Type");
        if bare == start.trim_start_matches('<').trim_end_matches('>') {
            assert!(ctype.starts_with("application/rlmi+xml"));
            match Document::parse(content.as_bytes()).unwrap() {
                Document::Rlmi(l) => root = Some(l),
                other => panic!("root is not RLMI: {other:?}"),
            }
        } else {
            by_cid.insert(bare, (ctype, content.to_owned()));
        }
    }
    Parts {
        rlmi: root.expect("an RLMI root part"),
        by_cid,
    }
}

impl Parts {
    fn resource(&self, uri: &str) -> &registrar_pidf::Resource {
        self.rlmi.resources.iter().find(|r| r.uri == uri).unwrap()
    }

    /// The PIDF document of an active resource.
    fn pidf(&self, uri: &str) -> Presence {
        let inst = &self.resource(uri).instances[0];
        assert_eq!(inst.state, InstanceState::Active);
        let (ctype, content) = &self.by_cid[inst.cid.as_ref().unwrap()];
        assert!(ctype.starts_with("application/pidf+xml"));
        match Document::parse(content.as_bytes()).unwrap() {
            Document::Pidf(p) => p,
            other => panic!("{other:?}"),
        }
    }
}

/// The list URI is derived from the owner, and back.
#[test]
fn list_uris() {
    let lists = BuddyLists::default();
    assert_eq!(lists.list_uri(&aor(ALICE)).unwrap(), aor(LIST));
    assert_eq!(lists.owner_of_list(&aor(LIST)).unwrap(), aor(ALICE));
    assert_eq!(lists.owner_of_list(&aor(BOB)), None);
    assert_eq!(lists.owner_of_list(&aor("sip:-buddies@example.com")), None);
    let custom = BuddyLists::default().with_list_suffix(".list").unwrap();
    assert_eq!(
        custom.list_uri(&aor(ALICE)).unwrap().as_str(),
        "sip:alice.list@example.com"
    );
    assert!(BuddyLists::default().with_list_suffix("").is_err());
    assert!(BuddyLists::default().with_list_suffix("a@b").is_err());
}

/// §4.1: without `Supported: eventlist` the answer is 421; only `presence` lists exist (489); only the owner
/// may watch the list (403); a URI that is not a list is 404.
#[test]
fn negotiation_and_errors() {
    let w = World::new(SubscriptionPolicy::default());
    let err = w
        .with(|ctx| w.rls.subscribe(T0, &list_request(1), false, ctx))
        .unwrap_err();
    assert!(matches!(err, Error::EventlistRequired));
    assert_eq!(err.sip_status(), 421);

    let winfo = list_request(2).event(EventPackage::PresenceWinfo);
    assert_eq!(w.subscribe(&winfo, T0).unwrap_err().sip_status(), 489);

    let bob = SubscribeRequest::new(dialog(3), aor(BOB), aor(LIST)).expires(600);
    assert_eq!(w.subscribe(&bob, T0).unwrap_err().sip_status(), 403);

    let not_a_list = SubscribeRequest::new(dialog(4), aor(ALICE), aor(BOB));
    assert_eq!(w.subscribe(&not_a_list, T0).unwrap_err().sip_status(), 404);

    // §4.1: list NOTIFYs are multipart/related with RLMI; a subscriber that accepts neither gets 406.
    let pidf_only = list_request(6).accept("application/pidf+xml");
    assert_eq!(w.subscribe(&pidf_only, T0).unwrap_err().sip_status(), 406);
    let all =
        list_request(7).accept("multipart/related, application/rlmi+xml, application/pidf+xml");
    w.subscribe(&all, T0).unwrap();
    w.subscribe(&all.in_dialog().expires(0), T0).unwrap();

    let brief = list_request(5).expires(10);
    assert_eq!(w.subscribe(&brief, T0).unwrap_err().sip_status(), 423);
    assert!(w.rls.is_empty());
}

/// §4.4, §5: the first NOTIFY carries the full state: RLMI version 0 with every buddy, one PIDF part per
/// visible buddy, pending and rejected instances without parts.
#[test]
fn full_state_on_subscribe() {
    let w = World::new(SubscriptionPolicy::default());
    let out = w
        .with(|ctx| w.rls.subscribe(T0, &list_request(1), true, ctx))
        .unwrap();
    assert_eq!(out.status, 200);
    assert!(out.eventlist, "the 200 carries Require: eventlist");
    assert!(out.notify.requires_eventlist());
    assert_eq!(out.notify.state.to_string(), "active;expires=600");
    assert_eq!(out.notify.event, EventPackage::Presence);
    assert_eq!(out.notify.cseq, 1);

    let parts = parse_multipart(&out.notify);
    assert_eq!(parts.rlmi.uri, LIST);
    assert_eq!(parts.rlmi.version, "0");
    assert!(parts.rlmi.full_state);
    let uris: Vec<&str> = parts
        .rlmi
        .resources
        .iter()
        .map(|r| r.uri.as_str())
        .collect();
    assert_eq!(uris, [BOB, CAROL, EVE, MALLORY, DAVE]);
    assert_eq!(parts.resource(BOB).names[0].text, "Bob");

    assert_eq!(parts.pidf(BOB).tuples[0].status.basic, Some(Basic::Open));
    assert_eq!(
        parts.pidf(CAROL).tuples[0].status.basic,
        Some(Basic::Closed)
    );
    // Eve (another domain) has not decided: pending, no part.
    let eve = &parts.resource(EVE).instances[0];
    assert_eq!(eve.state, InstanceState::Pending);
    assert_eq!(eve.cid, None);
    // Mallory blocked Alice: terminated, rejected, no part.
    let mallory = &parts.resource(MALLORY).instances[0];
    assert_eq!(mallory.state, InstanceState::Terminated);
    assert_eq!(mallory.reason.as_deref(), Some("rejected"));
    assert_eq!(mallory.cid, None);
    // Dave politely blocked Alice: active, but closed.
    let dave = parts.pidf(DAVE);
    assert_eq!(dave.tuples[0].status.basic, Some(Basic::Closed));
    assert_eq!(parts.by_cid.len(), 3);
    for secret in ["eve secret", "mallory secret", "dave secret"] {
        assert!(!out.notify.body.as_ref().unwrap().contains(secret));
    }
}

/// §5: after the full state, a change of one buddy sends only that buddy, with the next version.
#[test]
fn changes_send_partial_state() {
    let w = World::new(SubscriptionPolicy::default());
    w.subscribe(&list_request(1), T0).unwrap();
    // Another owner's list without Bob hears nothing of him.
    w.lists.add(&aor(CAROL), Buddy::new(aor(ALICE))).unwrap();
    let carol_list =
        SubscribeRequest::new(dialog(2), aor(CAROL), aor("sip:carol-buddies@example.com"))
            .expires(600);
    w.subscribe(&carol_list, T0).unwrap();

    w.set(BOB, Basic::Closed, "bob in a meeting");
    let t1 = T0.plus_secs(5);
    let notes = w.with(|ctx| w.rls.buddy_changed(t1, &aor(BOB), ctx));
    assert_eq!(notes.len(), 1);
    let n = &notes[0];
    assert_eq!(n.dialog, dialog(1));
    assert_eq!(n.cseq, 2);
    assert_eq!(n.state.to_string(), "active;expires=595");
    let parts = parse_multipart(n);
    assert!(!parts.rlmi.full_state);
    assert_eq!(parts.rlmi.version, "1");
    assert_eq!(parts.rlmi.resources.len(), 1);
    let bob = parts.pidf(BOB);
    assert_eq!(bob.tuples[0].status.basic, Some(Basic::Closed));
    assert_eq!(bob.tuples[0].notes[0].text, "bob in a meeting");

    // Instance ids are stable across notifications.
    let full = parse_multipart(&w.subscribe(&list_request(1).in_dialog(), t1).unwrap());
    assert_eq!(
        full.resource(BOB).instances[0].id,
        parts.resource(BOB).instances[0].id
    );
}

/// A buddy's later decision about the owner changes its instance state and is notified at once.
#[test]
fn decisions_change_instance_state() {
    let w = World::new(SubscriptionPolicy::default());
    w.subscribe(&list_request(1), T0).unwrap();
    let eve_doc = w.docs.lock().unwrap()[&aor(EVE)].clone();
    w.subs
        .authorize_watcher(&aor(EVE), &aor(ALICE), WatcherDecision::Allow, &eve_doc, T0);
    let notes = w.with(|ctx| w.rls.watcher_decided(T0, &aor(EVE), &aor(ALICE), ctx));
    assert_eq!(notes.len(), 1);
    let parts = parse_multipart(&notes[0]);
    assert_eq!(parts.rlmi.resources.len(), 1);
    assert_eq!(
        parts.pidf(EVE).tuples[0].notes[0].text,
        "eve secret",
        "allowed now"
    );

    w.subs
        .authorize_watcher(&aor(EVE), &aor(ALICE), WatcherDecision::Block, &eve_doc, T0);
    let notes = w.with(|ctx| w.rls.watcher_decided(T0, &aor(EVE), &aor(ALICE), ctx));
    let parts = parse_multipart(&notes[0]);
    let eve = &parts.resource(EVE).instances[0];
    assert_eq!(eve.state, InstanceState::Terminated);
    assert!(!notes[0].body.as_ref().unwrap().contains("eve secret"));

    // A presentity not on the watcher's list causes nothing.
    let none = w.with(|ctx| {
        w.rls
            .watcher_decided(T0, &aor("sip:zed@example.com"), &aor(ALICE), ctx)
    });
    assert!(none.is_empty());
}

/// Adding or removing a buddy sends full state, since resources came or went.
#[test]
fn list_changes_send_full_state() {
    let w = World::new(SubscriptionPolicy::default());
    w.subscribe(&list_request(1), T0).unwrap();
    w.lists.remove(&aor(ALICE), &aor(CAROL));
    w.lists
        .add(&aor(ALICE), Buddy::new(aor("sip:zed@example.com")))
        .unwrap();
    let notes = w.with(|ctx| w.rls.list_changed(T0, &aor(ALICE), ctx));
    assert_eq!(notes.len(), 1);
    let parts = parse_multipart(&notes[0]);
    assert!(parts.rlmi.full_state);
    assert_eq!(parts.rlmi.version, "1");
    let uris: Vec<&str> = parts
        .rlmi
        .resources
        .iter()
        .map(|r| r.uri.as_str())
        .collect();
    assert_eq!(uris, [BOB, EVE, MALLORY, DAVE, "sip:zed@example.com"]);
    // The removed buddy's changes are no longer sent.
    let none = w.with(|ctx| w.rls.buddy_changed(T0, &aor(CAROL), ctx));
    assert!(none.is_empty());
}

/// RFC 6665 through the list: a refresh sends full state with the next version; `Expires: 0` ends it with a
/// final NOTIFY; expiry ends it with `reason=timeout`; a refresh of a gone list subscription is 481.
#[test]
fn refresh_unsubscribe_and_expiry() {
    let w = World::new(SubscriptionPolicy::default());
    w.subscribe(&list_request(1), T0).unwrap();
    let refreshed = w
        .subscribe(&list_request(1).in_dialog().expires(900), T0.plus_secs(100))
        .unwrap();
    assert_eq!(refreshed.cseq, 2);
    assert_eq!(refreshed.state.to_string(), "active;expires=900");
    let parts = parse_multipart(&refreshed);
    assert!(parts.rlmi.full_state);
    assert_eq!(parts.rlmi.version, "1");

    let bye = w
        .subscribe(&list_request(1).in_dialog().expires(0), T0.plus_secs(200))
        .unwrap();
    assert_eq!(bye.state.to_string(), "terminated;reason=timeout");
    assert!(bye.requires_eventlist());
    assert!(w.rls.is_empty());
    let gone = w.subscribe(&list_request(1).in_dialog(), T0.plus_secs(201));
    assert_eq!(gone.unwrap_err().sip_status(), 481);

    w.subscribe(&list_request(2), T0).unwrap();
    assert_eq!(w.rls.next_expiry(), Some(T0.plus_secs(600)));
    assert!(w.rls.expire(T0.plus_secs(599)).is_empty());
    let ended = w.rls.expire(T0.plus_secs(600));
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].state.to_string(), "terminated;reason=timeout");
    assert_eq!(ended[0].body, None);
    assert!(w.rls.subscriptions_of(&aor(ALICE), T0).is_empty());
}

/// Rate control: changes inside the interval are held back and sent as one partial NOTIFY with every changed
/// buddy's newest state.
#[test]
fn changes_are_coalesced() {
    let mut policy = SubscriptionPolicy::default();
    policy.min_notify_interval_ms = 5_000;
    let w = World::new(policy);
    w.subscribe(&list_request(1), T0).unwrap();
    let t1 = T0.plus_secs(1);
    w.set(BOB, Basic::Closed, "bob 1");
    assert!(
        w.with(|ctx| w.rls.buddy_changed(t1, &aor(BOB), ctx))
            .is_empty()
    );
    w.set(CAROL, Basic::Open, "carol 1");
    assert!(
        w.with(|ctx| w.rls.buddy_changed(t1, &aor(CAROL), ctx))
            .is_empty()
    );
    w.set(BOB, Basic::Open, "bob 2");
    assert!(
        w.with(|ctx| w.rls.buddy_changed(t1, &aor(BOB), ctx))
            .is_empty()
    );
    assert_eq!(w.rls.next_flush(), Some(T0.plus_secs(5)));
    assert!(
        w.with(|ctx| w.rls.flush_deferred(T0.plus_secs(4), ctx))
            .is_empty()
    );
    let sent = w.with(|ctx| w.rls.flush_deferred(T0.plus_secs(5), ctx));
    assert_eq!(sent.len(), 1);
    let parts = parse_multipart(&sent[0]);
    assert!(!parts.rlmi.full_state);
    assert_eq!(parts.rlmi.version, "1");
    assert_eq!(parts.rlmi.resources.len(), 2);
    assert_eq!(parts.pidf(BOB).tuples[0].notes[0].text, "bob 2");
    assert_eq!(parts.pidf(CAROL).tuples[0].notes[0].text, "carol 1");
    assert!(
        w.with(|ctx| w.rls.flush_deferred(T0.plus_secs(20), ctx))
            .is_empty()
    );
}

/// A blocked or politely blocked buddy's real state never reaches the list's owner, whatever happens.
#[test]
fn blocked_buddies_never_leak() {
    let mut policy = SubscriptionPolicy::default();
    policy.min_notify_interval_ms = 1_000;
    let w = World::new(policy);
    let mut bodies = vec![w.subscribe(&list_request(1), T0).unwrap()];
    for i in 1..5u64 {
        let t = T0.plus_secs(i * 2);
        w.set(MALLORY, Basic::Open, "mallory secret");
        w.set(DAVE, Basic::Open, "dave secret");
        bodies.extend(w.with(|ctx| w.rls.buddy_changed(t, &aor(MALLORY), ctx)));
        bodies.extend(w.with(|ctx| w.rls.buddy_changed(t, &aor(DAVE), ctx)));
        bodies.extend(w.with(|ctx| w.rls.flush_deferred(t.plus_secs(1), ctx)));
        bodies.extend(w.with(|ctx| w.rls.list_changed(t.plus_secs(1), &aor(ALICE), ctx)));
    }
    assert!(bodies.len() > 4);
    for n in &bodies {
        let body = n.body.as_ref().unwrap();
        assert!(!body.contains("secret"), "{body}");
    }
}

/// The generated body, as a subscriber receives it.
#[test]
fn snapshot_of_a_full_state_notify() {
    let w = World::new(SubscriptionPolicy::default());
    let n = w.subscribe(&list_request(1), T0).unwrap();
    let text = format!(
        "Content-Type: {}\n\n{}",
        n.content_type().unwrap(),
        n.body.as_ref().unwrap().replace("\r\n", "\n")
    );
    insta::assert_snapshot!(text);
}

/// A BLF list (`Event: dialog` to the list URI, as Yealink and Polycom phones subscribe): one
/// `application/dialog-info+xml` part per visible buddy, each at the RLMI version, so a buddy's versions grow
/// with each NOTIFY; a buddy's dialog change is a partial NOTIFY to dialog lists only; blocked and politely
/// blocked buddies never show a call.
#[test]
fn blf_lists_carry_dialog_info_parts() {
    let w = World::new(SubscriptionPolicy::default());
    let idle =
        |who: &str| Arc::from(registrar_presence::compose_dialogs(&aor(who), &[], T0).to_xml());
    let busy = |who: &str| -> Arc<str> {
        let mut d = registrar_presence::compose_dialogs(&aor(who), &[], T0);
        let mut dialog = registrar_pidf::Dialog::new("d1", registrar_pidf::DialogState::Confirmed);
        dialog.call_id = Some(format!("call-of-{who}"));
        d.dialogs.push(dialog);
        Arc::from(d.to_xml())
    };
    let dialogs: Mutex<HashMap<Aor, Arc<str>>> = Mutex::new(HashMap::new());
    for who in [BOB, CAROL, EVE, MALLORY, DAVE] {
        dialogs.lock().unwrap().insert(aor(who), busy(who));
    }
    dialogs.lock().unwrap().insert(aor(CAROL), idle(CAROL));
    let with = |f: &dyn Fn(ListContext<'_>) -> Vec<NotifyIntent>| {
        let presence_of = |a: &Aor| Arc::from(Presence::new(a.as_str()).to_xml());
        let dialogs_of = |a: &Aor| dialogs.lock().unwrap().get(a).cloned().unwrap();
        f(ListContext::new(&w.lists, &w.subs, &presence_of).with_dialogs(&dialogs_of))
    };
    let req = list_request(7).event(EventPackage::Dialog);
    let first = with(&|ctx| vec![w.rls.subscribe(T0, &req, true, ctx).unwrap().notify]);
    let parts = parse_multipart(&first[0]);
    assert!(parts.rlmi.full_state);
    let dialog_of = |parts: &Parts, uri: &str| {
        let inst = &parts.resource(uri).instances[0];
        let (ctype, content) = &parts.by_cid[inst.cid.as_ref().unwrap()];
        assert!(ctype.starts_with("application/dialog-info+xml"), "{ctype}");
        registrar_pidf::DialogInfo::parse(content.as_bytes()).unwrap()
    };
    let bob = dialog_of(&parts, BOB);
    assert_eq!(bob.version, "0");
    assert_eq!(
        bob.dialogs[0].call_id.as_deref(),
        Some(&*format!("call-of-{BOB}"))
    );
    assert!(dialog_of(&parts, CAROL).dialogs.is_empty());
    // Politely blocked: the part shows no call; blocked: no part at all.
    assert!(dialog_of(&parts, DAVE).dialogs.is_empty());
    assert_eq!(
        parts.resource(MALLORY).instances[0].state,
        InstanceState::Terminated
    );
    assert!(
        !first[0]
            .body
            .as_ref()
            .unwrap()
            .contains("call-of-sip:mallory")
    );

    // Carol's line rings: a partial NOTIFY with Carol alone, at version 1.
    dialogs.lock().unwrap().insert(aor(CAROL), busy(CAROL));
    let presence_list = list_request(8);
    with(&|ctx| {
        vec![
            w.rls
                .subscribe(T0, &presence_list, true, ctx)
                .unwrap()
                .notify,
        ]
    });
    let changed = with(&|ctx| {
        w.rls
            .buddy_changed_in(T0, &EventPackage::Dialog, &aor(CAROL), ctx)
    });
    assert_eq!(
        changed.len(),
        1,
        "the presence list is not told of a dialog change"
    );
    assert_eq!(changed[0].event, EventPackage::Dialog);
    let parts = parse_multipart(&changed[0]);
    assert!(!parts.rlmi.full_state);
    assert_eq!(parts.rlmi.resources.len(), 1);
    assert_eq!(dialog_of(&parts, CAROL).version, "1");
    // And a presence change does not reach the BLF list.
    let presence_changed = with(&|ctx| w.rls.buddy_changed(T0, &aor(CAROL), ctx));
    assert_eq!(presence_changed.len(), 1);
    assert_eq!(presence_changed[0].event, EventPackage::Presence);
}

/// RFC 5367: an ad-hoc list (the resources came in the SUBSCRIBE) belongs to its subscriber, shows each
/// resource as that resource's rules allow, hears of changes to its resources only, and a refresh with
/// another list changes it (full state again); an empty list is 400.
#[test]
fn adhoc_lists_follow_their_body() {
    let w = World::new(SubscriptionPolicy::default());
    let rls = aor("sip:rls@example.com");
    let req = |resources: &[&str]| {
        SubscribeRequest::new(dialog(30), aor(ALICE), rls.clone())
            .expires(600)
            .with_resources(resources.iter().map(|r| aor(r)).collect())
    };
    let first = w.subscribe(&req(&[BOB, MALLORY]), T0).unwrap();
    assert_eq!(first.event_header, Some("Presence"));
    let parts = parse_multipart(&first);
    assert_eq!(parts.rlmi.resources.len(), 2);
    assert_eq!(parts.pidf(BOB).tuples[0].notes[0].text, "bob at his desk");
    assert_eq!(
        parts.resource(MALLORY).instances[0].state,
        InstanceState::Terminated,
        "Mallory blocked Alice"
    );
    // Carol is on Alice's buddy list but not on this list: her change reaches the list only if listed.
    let notes = w.with(|ctx| w.rls.buddy_changed(T0, &aor(CAROL), ctx));
    assert!(notes.iter().all(|n| n.dialog != dialog(30)));
    let notes = w.with(|ctx| w.rls.buddy_changed(T0, &aor(BOB), ctx));
    assert!(notes.iter().any(|n| n.dialog == dialog(30)));

    // A refresh listing Carol instead of Bob: full state with the new list, and Bob no longer counts.
    let refreshed = w.subscribe(&req(&[CAROL]).in_dialog(), T0).unwrap();
    let parts = parse_multipart(&refreshed);
    assert!(parts.rlmi.full_state);
    let uris: Vec<&str> = parts
        .rlmi
        .resources
        .iter()
        .map(|r| r.uri.as_str())
        .collect();
    assert_eq!(uris, [CAROL]);
    let notes = w.with(|ctx| w.rls.buddy_changed(T0, &aor(BOB), ctx));
    assert!(notes.iter().all(|n| n.dialog != dialog(30)));
    // A refresh without a body keeps the list.
    let plain = SubscribeRequest::new(dialog(30), aor(ALICE), rls.clone())
        .expires(600)
        .in_dialog();
    let kept = w.subscribe(&plain, T0).unwrap();
    assert_eq!(parse_multipart(&kept).rlmi.resources.len(), 1);

    let empty = SubscribeRequest::new(dialog(31), aor(ALICE), rls)
        .expires(600)
        .with_resources(Vec::new());
    assert_eq!(w.subscribe(&empty, T0).unwrap_err().sip_status(), 400);
}
