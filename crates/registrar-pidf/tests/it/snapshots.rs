//! Snapshots of generated documents: what we send must stay byte-for-byte stable.

use registrar_pidf::{
    Basic, Contact, ContactEvent, ContactState, Device, DocState, Element, Instance, InstanceState,
    Note, Person, Presence, RegContact, RegInfo, Registration, RegistrationState, Resource,
    ResourceList, RpidSet, Tuple, Watcher, WatcherEvent, WatcherInfo, WatcherList, WatcherStatus,
};

#[test]
fn pidf_with_person_device_and_extension() {
    let mut p = Presence::new("sip:alice@example.com");
    let mut t = Tuple::new("mobile & desk", Basic::Open);
    t.contact = Some(Contact::with_priority("sip:alice@192.0.2.1", "0.8"));
    t.notes
        .push(Note::with_lang("Ne dérangez pas <s'il vous plaît>", "fr"));
    t.timestamp = Some("2026-11-21T09:00:00Z".into());
    t.device_id = Some("urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a".into());
    t.extensions
        .push(Element::with_text("urn:example:ext", "mood-ring", "blue").attr("hue", "\"deep\""));
    p.tuples.push(t);
    let mut person = Person::default();
    person.id = Some("p1".into());
    person.rpid.activities = Some(RpidSet::of_tokens(["meeting", "on-the-phone"]));
    person.notes.push(Note::new("Quarterly review"));
    p.persons.push(person);
    let mut device = Device::default();
    device.id = Some("d1".into());
    device.device_id = Some("urn:uuid:d27459b7-8213-4395-aa77-ed859a3e5b3a".into());
    p.devices.push(device);
    insta::assert_snapshot!(p.to_xml());
}

#[test]
fn closed_minimal_pidf() {
    let mut p = Presence::new("sip:bob@example.com");
    p.tuples.push(Tuple::new("t1", Basic::Closed));
    insta::assert_snapshot!(p.to_xml());
}

#[test]
fn watcherinfo() {
    let mut w = WatcherInfo::new(3, DocState::Partial);
    let mut l = WatcherList::new("sip:alice@example.com", "presence");
    let mut watcher = Watcher::new(
        "sub-1",
        "sip:bob@example.com",
        WatcherStatus::Pending,
        WatcherEvent::Subscribe,
    );
    watcher.display_name = Some("Bob".into());
    watcher.duration_subscribed = Some("12".into());
    l.watchers.push(watcher);
    w.lists.push(l);
    insta::assert_snapshot!(w.to_xml());
}

#[test]
fn reginfo() {
    let mut r = RegInfo::new(1, DocState::Full);
    let mut reg = Registration::new("sip:alice@example.com", "a1", RegistrationState::Active);
    let mut c = RegContact::new(
        "c1",
        "sip:alice@192.0.2.1:5060",
        ContactState::Active,
        ContactEvent::Registered,
    );
    c.expires = Some("3600".into());
    c.q = Some("0.8".into());
    c.callid = Some("abc@192.0.2.1".into());
    c.cseq = Some("7".into());
    reg.contacts.push(c);
    r.registrations.push(reg);
    insta::assert_snapshot!(r.to_xml());
}

#[test]
fn rlmi() {
    let mut l = ResourceList::new("sip:alice-buddies@example.com", 0, true);
    l.names.push(Note::with_lang("Buddies", "en"));
    let mut r = Resource::new("sip:bob@example.com");
    r.names.push(Note::new("Bob"));
    let mut i = Instance::new("i1", InstanceState::Active);
    i.cid = Some("bob1@example.com".into());
    r.instances.push(i);
    l.resources.push(r);
    insta::assert_snapshot!(l.to_xml());
}

#[test]
fn dialog_info_of_a_blf_key() {
    use registrar_pidf::{
        Dialog, DialogEvent, DialogInfo, DialogParticipant, DialogState, Direction,
    };
    let mut d = DialogInfo::new(7, DocState::Full, "sip:reception@example.com");
    let mut x = Dialog::new("call-1", DialogState::Confirmed);
    x.call_id = Some("a84b4c76e66710@pc33".into());
    x.local_tag = Some("1928301774".into());
    x.remote_tag = Some("456887766".into());
    x.direction = Some(Direction::Recipient);
    x.duration = Some("42".into());
    let mut remote = DialogParticipant::default();
    remote.identity = Some("sip:bob@example.org".into());
    remote.display = Some("Bob & Co".into());
    x.remote = Some(remote);
    d.dialogs.push(x);
    let mut y = Dialog::new("call-0", DialogState::Terminated);
    y.event = Some(DialogEvent::Rejected);
    y.code = Some(486);
    d.dialogs.push(y);
    insta::assert_snapshot!(d.to_xml());
}

#[test]
fn message_summary_of_a_mailbox() {
    use registrar_pidf::{MessageClass, MessageCounts, MessageSummary};
    let s = MessageSummary::from_counts(
        Some("sip:alice@vmail.example.com"),
        vec![
            MessageCounts::new(MessageClass::Voice, 2, 8, Some((0, 2))),
            MessageCounts::new(MessageClass::Fax, 0, 1, None),
        ],
    );
    insta::assert_snapshot!(s.to_text());
}
