//! Composition of several publications of one presentity.

use registrar_pidf::{Basic, Note, Person, Presence, RpidSet, Source, Tuple, compose};

fn publication(tuple_id: &str, basic: Basic, activity: Option<&str>) -> Presence {
    let mut p = Presence::new("sip:alice@example.com");
    p.tuples.push(Tuple::new(tuple_id, basic));
    if let Some(a) = activity {
        let mut person = Person::default();
        person.id = Some("p".into());
        person.rpid.activities = Some(RpidSet::of_tokens([a]));
        p.persons.push(person);
    }
    p
}

#[test]
fn open_tuples_come_first_and_ids_stay_unique() {
    let desk = publication("t", Basic::Closed, None);
    let mobile = publication("t", Basic::Open, None);
    let out = compose(
        "sip:alice@example.com",
        &[
            Source {
                presence: &desk,
                updated: 2,
                tag: "a",
            },
            Source {
                presence: &mobile,
                updated: 1,
                tag: "b",
            },
        ],
    );
    let ids: Vec<_> = out
        .tuples
        .iter()
        .map(|t| (t.id.as_str(), t.status.basic))
        .collect();
    assert_eq!(
        ids,
        [("t", Some(Basic::Open)), ("t-2", Some(Basic::Closed))]
    );
    assert_eq!(out.basic(), Some(Basic::Open));
}

#[test]
fn most_recent_person_wins() {
    let old = publication("a", Basic::Open, Some("away"));
    let new = publication("b", Basic::Open, Some("on-the-phone"));
    let out = compose(
        "sip:alice@example.com",
        &[
            Source {
                presence: &old,
                updated: 1,
                tag: "x",
            },
            Source {
                presence: &new,
                updated: 5,
                tag: "y",
            },
        ],
    );
    assert_eq!(out.persons.len(), 1);
    assert_eq!(
        out.persons[0]
            .rpid
            .activities
            .as_ref()
            .unwrap()
            .token_names(),
        ["on-the-phone"]
    );
}

#[test]
fn notes_are_merged_without_duplicates() {
    let mut a = publication("a", Basic::Open, None);
    a.notes.push(Note::new("in the lab"));
    let mut b = publication("b", Basic::Open, None);
    b.notes.push(Note::new("in the lab"));
    b.notes.push(Note::with_lang("au labo", "fr"));
    let out = compose(
        "sip:alice@example.com",
        &[
            Source {
                presence: &a,
                updated: 1,
                tag: "1",
            },
            Source {
                presence: &b,
                updated: 2,
                tag: "2",
            },
        ],
    );
    assert_eq!(out.notes.len(), 2);
}

#[test]
fn no_publication_composes_to_an_empty_document() {
    let out = compose("sip:alice@example.com", &[]);
    assert!(out.tuples.is_empty());
    assert_eq!(out.basic(), None);
    assert!(Presence::parse(out.to_xml().as_bytes()).is_ok());
}
