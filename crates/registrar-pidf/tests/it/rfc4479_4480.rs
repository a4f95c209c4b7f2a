//! RFC 4479 (data model), RFC 4480 (RPID), RFC 4482 (CIPID), RFC 5196 (caps).

use registrar_pidf::{Activity, CapValue, Document, Presence};

use crate::support::fixture;

fn pidf(rel: &str) -> Presence {
    match Document::parse(&fixture(rel)).unwrap() {
        Document::Pidf(p) => p,
        other => panic!("{rel}: {}", other.kind()),
    }
}

#[test]
fn rfc4480_s4_full_example() {
    let p = pidf("conformance/valid/rfc4480-s4-rpid-full-example.xml");
    assert_eq!(p.tuples.len(), 3);
    let t = &p.tuples[0];
    assert_eq!(t.device_id.as_deref(), Some("urn:device:0003ba4811e3"));
    assert_eq!(
        t.rpid.relationship.as_ref().unwrap().token_names(),
        ["self"]
    );
    assert_eq!(t.notes.len(), 2);
    assert_eq!(t.notes[1].lang.as_deref(), Some("fr"));
    assert_eq!(p.tuples[2].rpid.class.as_deref(), Some("email"));
    let person = &p.persons[0];
    assert_eq!(person.id.as_deref(), Some("p1"));
    let acts = person.rpid.activities.as_ref().unwrap();
    assert_eq!(acts.from.as_deref(), Some("2005-05-30T12:00:00+05:00"));
    assert_eq!(acts.notes[0].text, "Far away");
    assert_eq!(person.rpid.activity_list(), [Activity::Away]);
    let mood = person.rpid.mood.as_ref().unwrap();
    assert_eq!(mood.token_names(), ["angry"]);
    assert_eq!(mood.other[0].text, "brooding");
    assert_eq!(
        person.rpid.place_type.as_ref().unwrap().token_names(),
        ["residence"]
    );
    assert_eq!(
        person.rpid.sphere.as_ref().unwrap().text.as_deref(),
        Some("bowling league")
    );
    assert_eq!(person.rpid.time_offset.as_ref().unwrap().minutes, "-240");
    assert_eq!(
        person.timestamp.as_deref(),
        Some("2005-05-30T16:09:44+05:00")
    );
    let device = &p.devices[0];
    assert_eq!(device.id.as_deref(), Some("pc147"));
    assert_eq!(device.rpid.user_input.as_ref().unwrap().value, "idle");
    assert_eq!(
        device
            .rpid
            .user_input
            .as_ref()
            .unwrap()
            .idle_threshold
            .as_deref(),
        Some("600")
    );
    assert_eq!(device.notes[0].text, "PC");
}

#[test]
fn every_rpid_activity_token_is_known() {
    for token in [
        "appointment",
        "away",
        "breakfast",
        "busy",
        "dinner",
        "holiday",
        "in-transit",
        "looking-for-work",
        "lunch",
        "meal",
        "meeting",
        "on-the-phone",
        "other",
        "performance",
        "permanent-absence",
        "playing",
        "presentation",
        "shopping",
        "sleeping",
        "spectator",
        "steering",
        "travel",
        "tv",
        "unknown",
        "vacation",
        "working",
        "worship",
    ] {
        let a = Activity::from_local(token);
        assert!(!matches!(a, Activity::Unrecognized(_)), "{token}");
        assert_eq!(a.as_str(), token);
    }
    assert_eq!(
        Activity::from_local("juggling"),
        Activity::Unrecognized("juggling".into())
    );
}

/// A legacy namespace is kept as an extension, never read as RPID.
#[test]
fn legacy_rpid_namespace_is_not_mapped() {
    let p = pidf("conformance/valid/cisco-cucm7-notify-on-the-phone.xml");
    let person = &p.persons[0];
    assert_eq!(person.id, None, "a person without id is accepted");
    assert!(person.rpid.activities.is_none());
    assert!(
        person
            .extensions
            .iter()
            .any(|e| e.name.local() == "activities")
    );
    assert!(person.extensions.iter().any(|e| e.name.local() == "status"));
}

#[test]
fn rfc4482_cipid() {
    let p = pidf("conformance/valid/rfc4482-s4-cipid-with-rpid.xml");
    let c = &p.persons[0].cipid;
    assert!(c.card.is_some() || c.display_name.is_some(), "{c:?}");
}

#[test]
fn rfc5196_capabilities() {
    let p = pidf("conformance/valid/rfc5196-s5-caps-servcaps-devcaps.xml");
    let caps = p.tuples[0].servcaps.as_ref().unwrap();
    assert_eq!(caps.flag("audio"), Some(true));
    assert_eq!(caps.flag("video"), Some(false));
    let methods = caps.items.iter().find(|c| c.name == "methods").unwrap();
    match &methods.value {
        CapValue::Lists {
            supported,
            notsupported,
        } => {
            let names: Vec<_> = supported.iter().map(|e| e.name.local()).collect();
            assert_eq!(names, ["ACK", "BYE", "INVITE", "MESSAGE"]);
            assert!(notsupported.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let dev = &p.devices[0];
    assert_eq!(
        dev.device_id.as_deref(),
        Some("urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a")
    );
    assert!(dev.devcaps.is_some());
}

#[test]
fn rfc4479_s7_1_example_with_entity() {
    let p = pidf("rfc/rfc4479-s7.1-entity-added.xml");
    assert_eq!(p.tuples[0].device_id.as_deref(), Some("mac:8asd7d7d70"));
    assert_eq!(p.persons[0].rpid.activity_list(), [Activity::OnThePhone]);
    assert_eq!(p.devices[0].device_id.as_deref(), Some("mac:8asd7d7d70"));
}
