//! Composition: many publications of one presentity (one per device) made into one document (RFC 4479 §4).
//!
//! The policy, chosen to be deterministic and independent of the order publications arrive in:
//! 1. Sources are ranked most recent first (`updated`), ties broken by their `tag` (the ETag), so the same set
//!    of publications always composes to the same document.
//! 2. Tuples: the union of all tuples, ordered open first, then closed, then without basic; within that, from
//!    the most recent source first, in each source's document order. A tuple id already taken gets `-2`, `-3`,
//!    … appended, so ids stay unique. (Some phones read only the first `<basic>`: this puts "reachable" there
//!    whenever any device is reachable.)
//! 3. Persons: the most recent source that has person data wins whole (RFC 4479: one person per presentity);
//!    older person elements are dropped.
//! 4. Devices: the union; for a repeated device id, the most recent source's device is kept.
//! 5. Presence-level notes and extensions: the union without duplicates, most recent first.

use crate::pidf::{Device, Presence, Tuple};
use crate::tokens::Basic;

/// One publication to compose.
#[derive(Clone, Copy, Debug)]
pub struct Source<'a> {
    /// The published document.
    pub presence: &'a Presence,
    /// When it was last published or refreshed (any monotonic unit, e.g. milliseconds).
    pub updated: u64,
    /// A stable, unique tag for tie-breaking (the publication's entity-tag).
    pub tag: &'a str,
}

/// Compose the publications of `entity` into one document. No sources gives a document with no tuple.
pub fn compose(entity: &str, sources: &[Source<'_>]) -> Presence {
    let mut ranked: Vec<&Source<'_>> = sources.iter().collect();
    ranked.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| a.tag.cmp(b.tag)));

    let mut out = Presence::new(entity);

    let rank = |t: &Tuple| match t.status.basic {
        Some(Basic::Open) => 0,
        Some(Basic::Closed) => 1,
        None => 2,
    };
    let mut tuples: Vec<(usize, usize, &Tuple)> = Vec::new();
    for (si, s) in ranked.iter().enumerate() {
        for (ti, t) in s.presence.tuples.iter().enumerate() {
            tuples.push((si, ti, t));
        }
    }
    tuples.sort_by_key(|(si, ti, t)| (rank(t), *si, *ti));
    for (_, _, t) in tuples {
        let mut t = t.clone();
        if out.tuples.iter().any(|x| x.id == t.id) {
            let base = t.id.clone();
            let mut n = 2;
            while out.tuples.iter().any(|x| x.id == t.id) {
                t.id = format!("{base}-{n}");
                n += 1;
            }
        }
        out.tuples.push(t);
    }

    if let Some(s) = ranked.iter().find(|s| !s.presence.persons.is_empty()) {
        out.persons = s.presence.persons.clone();
    }

    for s in &ranked {
        for d in &s.presence.devices {
            let taken = |x: &Device| d.id.is_some() && x.id == d.id;
            if !out.devices.iter().any(taken) {
                out.devices.push(d.clone());
            }
        }
        for n in &s.presence.notes {
            if !out.notes.contains(n) {
                out.notes.push(n.clone());
            }
        }
        for x in &s.presence.extensions {
            if !out.extensions.contains(x) {
                out.extensions.push(x.clone());
            }
        }
    }
    out
}
