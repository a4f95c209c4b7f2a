//! Property tests: build then parse gives back the same document; the parser survives anything;
//! composition does not depend on the order publications come in.

use proptest::prelude::*;
use registrar_pidf::{
    Basic, Contact, ContactEvent, ContactState, Device, DocState, Document, Element, Instance,
    InstanceState, Note, Person, Presence, RegContact, RegInfo, Registration, RegistrationState,
    Resource, ResourceList, RpidSet, Source, Tuple, Watcher, WatcherEvent, WatcherInfo,
    WatcherList, WatcherStatus, compose,
};
use registrar_pidf::{
    Dialog, DialogEvent, DialogInfo, DialogParticipant, DialogState, Direction, MessageClass,
    MessageCounts, MessageSummary,
};

/// Text without characters XML forbids, including markup characters and line ends.
fn text() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9<>&\"'\\t\\n\\r\u{e9}\u{4e16}-]{0,16}"
}

/// A value that the parser trims: no surrounding whitespace.
fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9:@._+-]{1,16}"
}

fn note() -> impl Strategy<Value = Note> {
    (text(), proptest::option::of("[a-z]{2}(-[A-Z]{2})?"))
        .prop_map(|(t, l)| Note { text: t, lang: l })
}

fn extension() -> impl Strategy<Value = Element> {
    ("[a-z][a-z0-9]{0,6}", value(), proptest::option::of(text())).prop_map(|(local, v, t)| {
        let mut e = Element::with_text("urn:example:ext", &local, &v);
        if let Some(t) = t {
            e = e.attr("a", &t);
        }
        e
    })
}

const ACTIVITIES: [&str; 6] = [
    "away",
    "busy",
    "meeting",
    "on-the-phone",
    "vacation",
    "juggling",
];

prop_compose! {
    fn tuple()(id in value(), open in any::<bool>(), has_basic in any::<bool>(),
               contact in proptest::option::of((value(), proptest::option::of(0u32..=1000))),
               notes in proptest::collection::vec(note(), 0..3),
               ts in proptest::option::of(value()), dev in proptest::option::of(value()),
               ext in proptest::collection::vec(extension(), 0..2)) -> Tuple {
        let mut t = Tuple::new(&id, if open { Basic::Open } else { Basic::Closed });
        if !has_basic { t.status.basic = None; }
        t.contact = contact.map(|(uri, p)| match p {
            Some(p) => Contact::with_priority(&uri, &format!("{}", f64::from(p) / 1000.0)),
            None => Contact::new(&uri),
        });
        t.notes = notes;
        t.timestamp = ts;
        t.device_id = dev;
        t.extensions = ext;
        t
    }
}

prop_compose! {
    fn person()(id in proptest::option::of(value()), acts in proptest::collection::vec(0..ACTIVITIES.len(), 0..3),
                other in proptest::collection::vec(note(), 0..2), notes in proptest::collection::vec(note(), 0..2),
                ts in proptest::option::of(value())) -> Person {
        let mut p = Person::default();
        p.id = id;
        if !acts.is_empty() || !other.is_empty() {
            let mut set = RpidSet::of_tokens(acts.into_iter().map(|i| ACTIVITIES[i]));
            set.other = other;
            p.rpid.activities = Some(set);
        }
        p.notes = notes;
        p.timestamp = ts;
        p
    }
}

prop_compose! {
    fn presence()(entity in value(), tuples in proptest::collection::vec(tuple(), 0..4),
                  notes in proptest::collection::vec(note(), 0..2), persons in proptest::collection::vec(person(), 0..2),
                  devices in proptest::collection::vec((proptest::option::of(value()), proptest::option::of(value())), 0..2),
                  ext in proptest::collection::vec(extension(), 0..2)) -> Presence {
        let mut p = Presence::new(&format!("pres:{entity}"));
        for t in tuples {
            if !p.tuples.iter().any(|x| x.id == t.id) {
                p.tuples.push(t);
            }
        }
        p.notes = notes;
        p.persons = persons;
        p.devices = devices.into_iter().map(|(id, dev)| { let mut d = Device::default(); d.id = id; d.device_id = dev; d }).collect();
        p.extensions = ext;
        p
    }
}

fn watcherinfo() -> impl Strategy<Value = WatcherInfo> {
    (
        0u64..1000,
        any::<bool>(),
        proptest::collection::vec(
            (
                value(),
                value(),
                0usize..4,
                0usize..8,
                proptest::option::of(text()),
            ),
            0..4,
        ),
    )
        .prop_map(|(v, full, ws)| {
            let mut w = WatcherInfo::new(
                v,
                if full {
                    DocState::Full
                } else {
                    DocState::Partial
                },
            );
            let mut l = WatcherList::new("sip:alice@example.com", "presence");
            let statuses = [
                WatcherStatus::Pending,
                WatcherStatus::Active,
                WatcherStatus::Waiting,
                WatcherStatus::Terminated,
            ];
            let events = [
                WatcherEvent::Subscribe,
                WatcherEvent::Approved,
                WatcherEvent::Deactivated,
                WatcherEvent::Probation,
                WatcherEvent::Rejected,
                WatcherEvent::Timeout,
                WatcherEvent::Giveup,
                WatcherEvent::Noresource,
            ];
            for (id, uri, s, e, dn) in ws {
                let mut watcher = Watcher::new(&id, &uri, statuses[s], events[e]);
                watcher.display_name = dn;
                l.watchers.push(watcher);
            }
            w.lists.push(l);
            w
        })
}

fn reginfo() -> impl Strategy<Value = RegInfo> {
    (
        0u64..1000,
        proptest::collection::vec(
            (
                value(),
                value(),
                any::<bool>(),
                proptest::option::of(0u32..100_000),
            ),
            0..4,
        ),
    )
        .prop_map(|(v, cs)| {
            let mut r = RegInfo::new(v, DocState::Full);
            let mut reg =
                Registration::new("sip:alice@example.com", "r1", RegistrationState::Active);
            for (id, uri, active, expires) in cs {
                let mut c = if active {
                    RegContact::new(&id, &uri, ContactState::Active, ContactEvent::Registered)
                } else {
                    RegContact::new(&id, &uri, ContactState::Terminated, ContactEvent::Expired)
                };
                c.expires = expires.map(|e| e.to_string());
                reg.contacts.push(c);
            }
            r.registrations.push(reg);
            r
        })
}

fn rlmi() -> impl Strategy<Value = ResourceList> {
    (
        0u64..1000,
        any::<bool>(),
        proptest::collection::vec(
            (
                value(),
                proptest::collection::vec(note(), 0..2),
                value(),
                0usize..3,
            ),
            0..4,
        ),
    )
        .prop_map(|(v, full, rs)| {
            let mut l = ResourceList::new("sip:list@example.com", v, full);
            for (uri, names, id, s) in rs {
                let mut r = Resource::new(&uri);
                r.names = names;
                r.instances.push(Instance::new(
                    &id,
                    [
                        InstanceState::Active,
                        InstanceState::Pending,
                        InstanceState::Terminated,
                    ][s],
                ));
                l.resources.push(r);
            }
            l
        })
}

fn side() -> impl Strategy<Value = Option<DialogParticipant>> {
    proptest::option::of((
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::option::of(value()),
        proptest::collection::vec((value(), value()), 0..2),
    ))
    .prop_map(|p| {
        p.map(|(identity, display, target, params)| {
            let mut s = DialogParticipant::default();
            // A display name belongs to an identity; target parameters to a target.
            s.display = identity.as_ref().and(display);
            s.identity = identity;
            s.target_params = if target.is_some() { params } else { Vec::new() };
            s.target = target;
            s
        })
    })
}

fn dialog_info() -> impl Strategy<Value = DialogInfo> {
    const STATES: [DialogState; 5] = [
        DialogState::Trying,
        DialogState::Proceeding,
        DialogState::Early,
        DialogState::Confirmed,
        DialogState::Terminated,
    ];
    const EVENTS: [DialogEvent; 7] = [
        DialogEvent::Cancelled,
        DialogEvent::Rejected,
        DialogEvent::Replaced,
        DialogEvent::LocalBye,
        DialogEvent::RemoteBye,
        DialogEvent::Error,
        DialogEvent::Timeout,
    ];
    (
        0u64..1000,
        any::<bool>(),
        value(),
        proptest::collection::vec(
            (
                proptest::option::of(value()),
                proptest::option::of(value()),
                proptest::option::of(any::<bool>()),
                0..STATES.len(),
                proptest::option::of(0..EVENTS.len()),
                proptest::option::of(100u16..700),
                proptest::option::of(0u32..100_000),
                side(),
                side(),
            ),
            0..4,
        ),
    )
        .prop_map(|(v, full, entity, ds)| {
            let state = if full {
                DocState::Full
            } else {
                DocState::Partial
            };
            let mut d = DialogInfo::new(v, state, &entity);
            for (i, (call_id, tag, dir, st, ev, code, dur, local, remote)) in
                ds.into_iter().enumerate()
            {
                let mut x = Dialog::new(&format!("d{i}"), STATES[st]);
                x.call_id = call_id;
                x.local_tag = tag;
                x.direction = dir.map(|a| {
                    if a {
                        Direction::Initiator
                    } else {
                        Direction::Recipient
                    }
                });
                x.event = ev.map(|e| EVENTS[e]);
                x.code = code;
                x.duration = dur.map(|s| s.to_string());
                x.local = local;
                x.remote = remote;
                d.dialogs.push(x);
            }
            d
        })
}

fn message_summary() -> impl Strategy<Value = MessageSummary> {
    const CLASSES: [MessageClass; 6] = [
        MessageClass::Voice,
        MessageClass::Fax,
        MessageClass::Pager,
        MessageClass::Multimedia,
        MessageClass::Text,
        MessageClass::None,
    ];
    (
        any::<bool>(),
        proptest::option::of("sip:[a-z]{1,8}@[a-z]{1,8}\\.example"),
        proptest::sample::subsequence((0..CLASSES.len()).collect::<Vec<_>>(), 0..4),
        proptest::collection::vec(
            (
                any::<u32>(),
                any::<u32>(),
                proptest::option::of((any::<u32>(), any::<u32>())),
            ),
            6,
        ),
        proptest::collection::vec(("[A-Z][a-zA-Z-]{0,12}", "[ -~]{0,20}"), 0..3),
    )
        .prop_map(|(waiting, account, classes, counts, headers)| {
            let mut s = MessageSummary::from_counts(
                account.as_deref(),
                classes
                    .into_iter()
                    .map(|c| {
                        MessageCounts::new(
                            CLASSES[c].clone(),
                            counts[c].0,
                            counts[c].1,
                            counts[c].2,
                        )
                    })
                    .collect(),
            );
            s.waiting = waiting;
            s.headers = headers
                .into_iter()
                .map(|(n, v)| (n, v.trim().to_owned()))
                .collect();
            s
        })
}

proptest! {
    #[test]
    fn dialog_info_build_then_parse_is_identity(d in dialog_info()) {
        let xml = d.to_xml();
        prop_assert_eq!(Document::parse(xml.as_bytes()).unwrap(), Document::DialogInfo(d));
    }

    #[test]
    fn message_summary_build_then_parse_is_identity(s in message_summary()) {
        let text = s.to_text();
        let back = MessageSummary::parse(text.as_bytes());
        prop_assert!(back.is_ok(), "{:?}\n{}", back, text);
        prop_assert_eq!(back.unwrap(), s);
    }

    #[test]
    fn message_summary_parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(s) = MessageSummary::parse(&bytes) {
            prop_assert_eq!(MessageSummary::parse(s.to_text().as_bytes()).unwrap(), s);
        }
    }

    #[test]
    fn pidf_build_then_parse_is_identity(p in presence()) {
        let xml = p.to_xml();
        let back = Presence::parse(xml.as_bytes());
        prop_assert!(back.is_ok(), "{:?}\n{}", back, xml);
        prop_assert_eq!(back.unwrap(), p);
    }

    #[test]
    fn watcherinfo_build_then_parse_is_identity(w in watcherinfo()) {
        let xml = w.to_xml();
        prop_assert_eq!(Document::parse(xml.as_bytes()).unwrap(), Document::WatcherInfo(w));
    }

    #[test]
    fn reginfo_build_then_parse_is_identity(r in reginfo()) {
        let xml = r.to_xml();
        prop_assert_eq!(Document::parse(xml.as_bytes()).unwrap(), Document::RegInfo(r));
    }

    #[test]
    fn rlmi_build_then_parse_is_identity(l in rlmi()) {
        let xml = l.to_xml();
        prop_assert_eq!(Document::parse(xml.as_bytes()).unwrap(), Document::Rlmi(l));
    }

    #[test]
    fn parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Document::parse(&bytes);
    }

    #[test]
    fn parser_survives_mutated_documents(seed in 0usize..10_000, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let docs = crate::support::corpus("valid");
        let (_, doc) = &docs[seed % docs.len()];
        let mut doc = doc.clone();
        for (pos, byte) in edits {
            let i = pos % doc.len();
            doc[i] = byte;
        }
        let _ = Document::parse(&doc);
    }

    #[test]
    fn composition_is_independent_of_order(pubs in proptest::collection::vec((presence(), 0u64..5), 1..4), rotate in 0usize..4) {
        let tags: Vec<String> = (0..pubs.len()).map(|i| format!("etag{i}")).collect();
        let sources: Vec<Source<'_>> = pubs.iter().zip(&tags).map(|((p, t), tag)| Source { presence: p, updated: *t, tag }).collect();
        let mut rotated = sources.clone();
        rotated.rotate_left(rotate % sources.len());
        rotated.reverse();
        let a = compose("sip:alice@example.com", &sources);
        let b = compose("sip:alice@example.com", &rotated);
        prop_assert_eq!(&a, &b);
        let ids: std::collections::HashSet<_> = a.tuples.iter().map(|t| &t.id).collect();
        prop_assert_eq!(ids.len(), a.tuples.len(), "tuple ids must stay unique");
        prop_assert!(Presence::parse(a.to_xml().as_bytes()).is_ok());
    }
}
