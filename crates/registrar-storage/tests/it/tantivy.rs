//! The tantivy search index under the directory: typo tolerance, removal, searchable fields only, and a
//! labelled query set over a synthetic population (the intended participant in the top 3 for at least 95 %
//! of queries), answered like the memory index.

use registrar_directory::model::{EntityType, Field, IdentityContext};
use registrar_directory::privacy::Requester;
use registrar_directory::search::{IndexDoc, SearchIndex};
use registrar_directory::{
    Availability, Directory, Hints, MemorySearchIndex, Participant, ParticipantId, Query,
};
use registrar_storage::TantivySearchIndex;

const FIRST: [&str; 24] = [
    "alice", "bruno", "chiara", "dmitri", "elena", "farid", "greta", "hiro", "ines", "jonas",
    "kofi", "lena", "marco", "nadia", "oscar", "priya", "quentin", "rosa", "sven", "tariq",
    "ursula", "viktor", "wanda", "xavier",
];
const LAST: [&str; 30] = [
    "martin",
    "schmidt",
    "rossi",
    "novak",
    "garcia",
    "kowalski",
    "jensen",
    "tanaka",
    "dubois",
    "silva",
    "okafor",
    "lindqvist",
    "moreau",
    "petrov",
    "haddad",
    "fischer",
    "romano",
    "nielsen",
    "sato",
    "fernandez",
    "weber",
    "costa",
    "ivanova",
    "bauer",
    "ricci",
    "larsen",
    "yamamoto",
    "lefebvre",
    "santos",
    "wagner",
];
const ORGS: [&str; 4] = ["AI Lab", "Web Team", "Climate Institute", "Finance"];

fn id(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(f: &str, l: &str, org: usize) -> Participant {
    let pid = id(&format!("{f}.{l}@org{org}.example.com"));
    let mut p = Participant::new(pid.clone(), EntityType::Human, format!("{f} {l}"));
    p.identities[0] = IdentityContext {
        name: format!("{f} {l}"),
        email: Some(pid.as_str().to_owned()),
        organization: Some(ORGS[org].into()),
        role: Some("engineer".into()),
        active: true,
        ..IdentityContext::default()
    };
    p
}

fn typo(word: &str, k: usize) -> String {
    let mut c: Vec<char> = word.chars().collect();
    let i = 1 + k % (c.len() - 2);
    match k % 3 {
        0 => c.swap(i, i + 1),
        1 => {
            c.remove(i);
        }
        _ => c[i] = if c[i] == 'x' { 'y' } else { 'x' },
    }
    c.into_iter().collect()
}

#[test]
fn typos_removal_and_replacement() {
    let mut ix = TantivySearchIndex::new().unwrap();
    let doc = |i: &str, name: &str, role: &str| IndexDoc {
        id: id(i),
        fields: vec![(Field::Name, name.into()), (Field::Role, role.into())],
    };
    ix.upsert(&doc(
        "alice@lab.example",
        "Alice Martin",
        "research scientist",
    ));
    ix.upsert(&doc("bob@lab.example", "Bob Stone", "deployment bot"));
    let hits = ix.search("Alise Martn", 5);
    assert_eq!(hits[0].id.as_str(), "alice@lab.example");
    assert_eq!(hits[0].matched, vec![Field::Name]);
    let hits = ix.search("deployment", 5);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].matched, vec![Field::Role]);
    ix.remove(&id("alice@lab.example"));
    assert!(ix.search("alice", 5).is_empty());
    assert_eq!(ix.len(), 1);
    ix.upsert(&doc("bob@lab.example", "Robert Stone", "release bot"));
    assert!(ix.search("deployment", 5).is_empty());
    assert_eq!(ix.search("robert", 5).len(), 1);
    assert_eq!(ix.len(), 1);
}

#[test]
fn unsearchable_fields_are_not_indexed() {
    let mut d = Directory::new(TantivySearchIndex::new().unwrap());
    let mut p = person("alice", "martin", 0);
    p.permissions.searchable = vec![Field::Name];
    d.put_participant(p).unwrap();
    let q = |text: &str| Query {
        text: text.into(),
        ..Query::default()
    };
    let any = |_: &Participant| Availability::Available;
    let anon = Requester::anonymous();
    assert_eq!(
        d.resolve(&anon, &q("alice"), &any, 0).0.candidates().len(),
        1
    );
    assert!(
        d.resolve(&anon, &q("engineer"), &any, 0)
            .0
            .candidates()
            .is_empty()
    );
    assert!(
        d.resolve(&anon, &q("org0"), &any, 0)
            .0
            .candidates()
            .is_empty()
    );
}

#[test]
fn labelled_queries_find_the_intended_participant_like_the_memory_index() {
    let mut t = Directory::new(TantivySearchIndex::new().unwrap());
    let mut m = Directory::new(MemorySearchIndex::new());
    let mut people = Vec::new();
    for (i, f) in FIRST.iter().enumerate() {
        for (j, l) in LAST.iter().enumerate() {
            let org = (i + j) % ORGS.len();
            t.put_participant(person(f, l, org)).unwrap();
            m.put_participant(person(f, l, org)).unwrap();
            people.push((*f, *l, org));
        }
    }
    let any = |_: &Participant| Availability::Available;
    let anon = Requester::anonymous();
    let (mut top3, mut same_top) = (0, 0);
    let n = 150;
    for k in 0..n {
        let (f, l, org) = people[(k * 7919) % people.len()];
        let q = match k % 3 {
            0 => Query {
                text: format!("{f} {}", typo(l, k)),
                hints: Hints {
                    organization: Some(ORGS[org].into()),
                    ..Hints::default()
                },
                ..Query::default()
            },
            1 => Query {
                text: format!("{} {l}", typo(f, k)),
                ..Query::default()
            },
            _ => Query {
                text: format!("{f} {l}"),
                ..Query::default()
            },
        };
        let want = format!("{f}.{l}@org{org}.example.com");
        let rt = t.resolve(&anon, &q, &any, 0).0;
        let rm = m.resolve(&anon, &q, &any, 0).0;
        let ct = rt.candidates();
        if ct.iter().take(3).any(|c| c.participant.id == want) {
            top3 += 1;
        }
        if ct.first().map(|c| &c.participant.id)
            == rm.candidates().first().map(|c| &c.participant.id)
        {
            same_top += 1;
        }
    }
    assert!(top3 * 100 >= n * 95, "{top3} of {n} in the top 3");
    assert!(
        same_top * 100 >= n * 95,
        "{same_top} of {n} with the memory index's top answer"
    );
}
