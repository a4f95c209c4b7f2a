//! The JSON view of a presence document printed by `registrar pidf parse`.
//!
//! Values are strings as written (entities decoded; `basic`, `contact`, `timestamp` and `deviceID` trimmed).
//! Absent values are left out; lists are always present, possibly empty. RPID values of a person
//! (`activities`, `mood`, `place-type`) are the local names of their token elements and appear only when the
//! element does.

use registrar_pidf::{
    DialogInfo, DialogParticipant, Document, MessageSummary, Note, Presence, RegInfo, ResourceList,
    RpidSet, WatcherInfo,
};
use serde_json::{Map, Value, json};

/// The JSON of a document: an object with `kind` and the fields of that kind.
pub(crate) fn to_json(doc: &Document) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), doc.kind().into());
    match doc {
        Document::Pidf(p) => pidf(p, &mut out),
        Document::WatcherInfo(w) => watcherinfo(w, &mut out),
        Document::RegInfo(r) => reginfo(r, &mut out),
        Document::Rlmi(l) => rlmi(l, &mut out),
        Document::DialogInfo(d) => dialog_info(d, &mut out),
        // Document is non-exhaustive: a kind added later prints at least its name.
        _ => {}
    }
    Value::Object(out)
}

fn notes(notes: &[Note]) -> Value {
    Value::Array(
        notes
            .iter()
            .map(|n| {
                let mut o = Map::new();
                o.insert("text".into(), n.text.clone().into());
                put(&mut o, "lang", n.lang.as_deref());
                Value::Object(o)
            })
            .collect(),
    )
}

fn put(o: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        o.insert(key.into(), v.into());
    }
}

fn tokens(set: &RpidSet) -> Value {
    Value::Array(set.token_names().into_iter().map(Value::from).collect())
}

fn pidf(p: &Presence, out: &mut Map<String, Value>) {
    out.insert("entity".into(), p.entity.clone().into());
    out.insert("notes".into(), notes(&p.notes));
    let tuples = p
        .tuples
        .iter()
        .map(|t| {
            let mut o = Map::new();
            o.insert("id".into(), t.id.clone().into());
            put(&mut o, "basic", t.status.basic.map(|b| b.as_str()));
            put(
                &mut o,
                "contact",
                t.contact.as_ref().map(|c| c.uri.as_str()),
            );
            put(
                &mut o,
                "priority",
                t.contact.as_ref().and_then(|c| c.priority.as_deref()),
            );
            o.insert("notes".into(), notes(&t.notes));
            put(&mut o, "timestamp", t.timestamp.as_deref());
            put(&mut o, "deviceID", t.device_id.as_deref());
            Value::Object(o)
        })
        .collect();
    out.insert("tuples".into(), Value::Array(tuples));
    let persons = p
        .persons
        .iter()
        .map(|person| {
            let mut o = Map::new();
            put(&mut o, "id", person.id.as_deref());
            if let Some(a) = &person.rpid.activities {
                o.insert("activities".into(), tokens(a));
                put(&mut o, "activities_from", a.from.as_deref());
                put(&mut o, "activities_until", a.until.as_deref());
                o.insert(
                    "activities_other".into(),
                    Value::Array(a.other.iter().map(|n| n.text.clone().into()).collect()),
                );
                o.insert("activities_notes".into(), notes(&a.notes));
            }
            if let Some(m) = &person.rpid.mood {
                o.insert("mood".into(), tokens(m));
            }
            if let Some(pt) = &person.rpid.place_type {
                o.insert("place-type".into(), tokens(pt));
            }
            o.insert("notes".into(), notes(&person.notes));
            put(&mut o, "timestamp", person.timestamp.as_deref());
            Value::Object(o)
        })
        .collect();
    out.insert("persons".into(), Value::Array(persons));
    let devices = p
        .devices
        .iter()
        .map(|d| {
            let mut o = Map::new();
            put(&mut o, "id", d.id.as_deref());
            put(&mut o, "deviceID", d.device_id.as_deref());
            o.insert("notes".into(), notes(&d.notes));
            put(&mut o, "timestamp", d.timestamp.as_deref());
            Value::Object(o)
        })
        .collect();
    out.insert("devices".into(), Value::Array(devices));
}

fn watcherinfo(w: &WatcherInfo, out: &mut Map<String, Value>) {
    out.insert("version".into(), w.version.clone().into());
    out.insert("state".into(), w.state.as_str().into());
    let lists = w
        .lists
        .iter()
        .map(|l| {
            let watchers = l
                .watchers
                .iter()
                .map(|x| {
                    let mut o = Map::new();
                    o.insert("id".into(), x.id.clone().into());
                    o.insert("status".into(), x.status.as_str().into());
                    o.insert("event".into(), x.event.as_str().into());
                    o.insert("uri".into(), x.uri.clone().into());
                    put(&mut o, "display-name", x.display_name.as_deref());
                    put(
                        &mut o,
                        "duration-subscribed",
                        x.duration_subscribed.as_deref(),
                    );
                    put(&mut o, "expiration", x.expiration.as_deref());
                    put(&mut o, "lang", x.lang.as_deref());
                    Value::Object(o)
                })
                .collect::<Vec<_>>();
            json!({ "resource": l.resource, "package": l.package, "watchers": watchers })
        })
        .collect();
    out.insert("watcher_lists".into(), Value::Array(lists));
}

fn reginfo(r: &RegInfo, out: &mut Map<String, Value>) {
    out.insert("version".into(), r.version.clone().into());
    out.insert("state".into(), r.state.as_str().into());
    let regs = r
        .registrations
        .iter()
        .map(|reg| {
            let contacts = reg
                .contacts
                .iter()
                .map(|c| {
                    let mut o = Map::new();
                    o.insert("id".into(), c.id.clone().into());
                    o.insert("state".into(), c.state.as_str().into());
                    o.insert("event".into(), c.event.as_str().into());
                    put(&mut o, "duration-registered", c.duration_registered.as_deref());
                    put(&mut o, "q", c.q.as_deref());
                    o.insert("uri".into(), c.uri.clone().into());
                    Value::Object(o)
                })
                .collect::<Vec<_>>();
            json!({ "aor": reg.aor, "id": reg.id, "state": reg.state.as_str(), "contacts": contacts })
        })
        .collect();
    out.insert("registrations".into(), Value::Array(regs));
}

fn dialog_info(d: &DialogInfo, out: &mut Map<String, Value>) {
    out.insert("version".into(), d.version.clone().into());
    out.insert("state".into(), d.state.as_str().into());
    out.insert("entity".into(), d.entity.clone().into());
    let side = |p: &DialogParticipant| {
        let mut o = Map::new();
        put(&mut o, "identity", p.identity.as_deref());
        put(&mut o, "display", p.display.as_deref());
        put(&mut o, "target", p.target.as_deref());
        Value::Object(o)
    };
    let dialogs = d
        .dialogs
        .iter()
        .map(|x| {
            let mut o = Map::new();
            o.insert("id".into(), x.id.clone().into());
            put(&mut o, "call-id", x.call_id.as_deref());
            put(&mut o, "local-tag", x.local_tag.as_deref());
            put(&mut o, "remote-tag", x.remote_tag.as_deref());
            put(&mut o, "direction", x.direction.map(|v| v.as_str()));
            o.insert("state".into(), x.state.as_str().into());
            put(&mut o, "event", x.event.map(|v| v.as_str()));
            if let Some(c) = x.code {
                o.insert("code".into(), c.into());
            }
            put(&mut o, "duration", x.duration.as_deref());
            if let Some(p) = &x.local {
                o.insert("local".into(), side(p));
            }
            if let Some(p) = &x.remote {
                o.insert("remote".into(), side(p));
            }
            Value::Object(o)
        })
        .collect();
    out.insert("dialogs".into(), Value::Array(dialogs));
}

/// The JSON of a message summary (RFC 3842): `kind` "message-summary", `waiting`, `account` when given, one
/// object per summary line and the optional headers.
pub(crate) fn summary_json(s: &MessageSummary) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), "message-summary".into());
    out.insert("waiting".into(), s.waiting.into());
    put(&mut out, "account", s.account.as_deref());
    let counts = s
        .counts
        .iter()
        .map(|c| {
            let mut o = Map::new();
            o.insert("class".into(), c.class.as_str().into());
            o.insert("new".into(), c.new.into());
            o.insert("old".into(), c.old.into());
            if let Some((n, old)) = c.urgent {
                o.insert("urgent_new".into(), n.into());
                o.insert("urgent_old".into(), old.into());
            }
            Value::Object(o)
        })
        .collect();
    out.insert("counts".into(), Value::Array(counts));
    let headers = s
        .headers
        .iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect();
    out.insert("headers".into(), Value::Array(headers));
    Value::Object(out)
}

fn rlmi(l: &ResourceList, out: &mut Map<String, Value>) {
    out.insert("uri".into(), l.uri.clone().into());
    out.insert("version".into(), l.version.clone().into());
    out.insert("fullState".into(), l.full_state_text.clone().into());
    out.insert("names".into(), notes(&l.names));
    let resources = l
        .resources
        .iter()
        .map(|r| {
            let instances = r
                .instances
                .iter()
                .map(|i| {
                    let mut o = Map::new();
                    o.insert("id".into(), i.id.clone().into());
                    o.insert("state".into(), i.state.as_str().into());
                    put(&mut o, "cid", i.cid.as_deref());
                    put(&mut o, "reason", i.reason.as_deref());
                    Value::Object(o)
                })
                .collect::<Vec<_>>();
            json!({ "uri": r.uri, "names": notes(&r.names), "instances": instances })
        })
        .collect();
    out.insert("resources".into(), Value::Array(resources));
}
