//! Contact resolution over a synthetic population and a labelled query set.

use registrar_directory::model::{
    AccessLevel, CrossOrgPolicy, EntityType, Expertise, IdentityContext, OrgContext, ProfileLevel,
    Relationship, RelationshipKind, TopicRole, TopicSubscription,
};
use registrar_directory::privacy::{Permission, Requester};
use registrar_directory::{
    Availability, Directory, DirectoryStore, Hints, MemoryDirectoryStore, MemorySearchIndex,
    Participant, ParticipantId, Query, Resolution,
};

const FIRST: [&str; 40] = [
    "alice", "bruno", "chiara", "dmitri", "elena", "farid", "greta", "hiro", "ines", "jonas",
    "kofi", "lena", "marco", "nadia", "oscar", "priya", "quentin", "rosa", "sven", "tariq",
    "ursula", "viktor", "wanda", "xavier", "yasmin", "zoltan", "amara", "bjorn", "carmen", "dario",
    "emil", "fatima", "gustav", "helga", "ivan", "julia", "kenji", "lucia", "mateo", "nora",
];
const LAST: [&str; 50] = [
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
    "bianchi",
    "hansen",
    "kimura",
    "girard",
    "pereira",
    "hoffmann",
    "greco",
    "olsen",
    "suzuki",
    "roux",
    "almeida",
    "koch",
    "marino",
    "berg",
    "ito",
    "fontaine",
    "rocha",
    "schulz",
    "conti",
    "holm",
];
const ORGS: [&str; 5] = [
    "AI Lab",
    "Web Team",
    "Climate Institute",
    "Finance",
    "Support Desk",
];
const ROLES: [&str; 6] = [
    "research scientist",
    "engineer",
    "product manager",
    "designer",
    "analyst",
    "support agent",
];

fn id(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(first: &str, last: &str, org: usize, role: usize) -> Participant {
    let pid = id(&format!("{first}.{last}@org{org}.example.com"));
    let mut p = Participant::new(pid, EntityType::Human, format!("{first} {last}"));
    p.identities[0] = IdentityContext {
        name: format!("{} {}", cap(first), cap(last)),
        email: Some(format!("{first}.{last}@org{org}.example.com")),
        sip_aor: Some(format!("sip:{first}.{last}@org{org}.example.com")),
        organization: Some(ORGS[org].into()),
        role: Some(ROLES[role].into()),
        active: true,
        ..IdentityContext::default()
    };
    p.org = Some(OrgContext {
        organization: ORGS[org].into(),
        role: Some(ROLES[role].into()),
        cross_org: CrossOrgPolicy {
            allow_external_contact: true,
            ..CrossOrgPolicy::default()
        },
        ..OrgContext::default()
    });
    p
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A typo: swap two neighbouring letters, drop one, or replace one, chosen by `k`.
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

/// First name, last name, organization and role of each synthetic person.
type People = Vec<(String, String, usize, usize)>;

fn population() -> (Directory<MemorySearchIndex>, People) {
    let mut d = Directory::new(MemorySearchIndex::new());
    let mut people = Vec::new();
    for (i, f) in FIRST.iter().enumerate() {
        for (j, l) in LAST.iter().enumerate() {
            let (org, role) = ((i + j) % ORGS.len(), (i * 7 + j) % ROLES.len());
            d.put_participant(person(f, l, org, role)).unwrap();
            people.push(((*f).to_owned(), (*l).to_owned(), org, role));
        }
    }
    (d, people)
}

fn available(_: &Participant) -> Availability {
    Availability::Available
}

/// The topics of the synthetic population: each person follows one, at an expertise of their own.
const TOPICS: [&str; 8] = [
    "compliance",
    "climate-modelling",
    "payments",
    "kubernetes",
    "accessibility",
    "pricing",
    "security",
    "onboarding",
];

fn expertise(k: usize) -> Expertise {
    [
        Expertise::Beginner,
        Expertise::Intermediate,
        Expertise::Advanced,
        Expertise::Expert,
        Expertise::Authority,
    ][k % 5]
}

/// The population with every person following a topic (a fifth of them as authorities).
fn population_with_topics() -> (Directory<MemorySearchIndex>, People) {
    let (mut d, people) = population();
    for (k, (f, l, org, _)) in people.iter().enumerate() {
        d.put_topic(TopicSubscription {
            participant: id(&format!("{f}.{l}@org{org}.example.com")),
            topic: TOPICS[k % TOPICS.len()].into(),
            role: TopicRole::Expert,
            expertise: expertise(k / TOPICS.len()),
            when_busy: false,
        })
        .unwrap();
    }
    (d, people)
}

/// The labelled query sets, 100 queries each: (kind, query, the intended participant).
fn labelled(people: &People) -> Vec<(&'static str, Query, String)> {
    let mut out = Vec::new();
    for k in 0..500 {
        let n = (k * 7919) % people.len();
        let (f, l, org, role) = &people[n];
        let want = format!("{f}.{l}@org{org}.example.com");
        let (kind, q) = match k % 5 {
            // A typo in the first name, nothing else.
            0 => (
                "typo",
                Query {
                    text: format!("{} {l}", typo(f, k)),
                    ..Query::default()
                },
            ),
            // The first name and the beginning of the last.
            1 => (
                "partial name",
                Query {
                    text: format!("{f} {}", &l[..l.len().min(4)]),
                    ..Query::default()
                },
            ),
            // A typo in the last name and the organization.
            2 => (
                "name + organization",
                Query {
                    text: format!("{f} {}", typo(l, k)),
                    hints: Hints {
                        organization: Some(ORGS[*org].into()),
                        ..Hints::default()
                    },
                    ..Query::default()
                },
            ),
            // A typo in the last name and the topic they follow (whose authorities have other names).
            3 => (
                "name + topic",
                Query {
                    text: format!("{f} {}", typo(l, k)),
                    topic: Some(TOPICS[n % TOPICS.len()].into()),
                    ..Query::default()
                },
            ),
            // A typo in the first name and the role.
            _ => (
                "name + role",
                Query {
                    text: format!("{} {l}", typo(f, k)),
                    hints: Hints {
                        role: Some(ROLES[*role].into()),
                        ..Hints::default()
                    },
                    ..Query::default()
                },
            ),
        };
        out.push((kind, q, want));
    }
    out
}

#[test]
fn labelled_queries_find_the_intended_participant_first_at_least_90_percent_and_in_the_top_3_at_least_98()
 {
    let (d, people) = population_with_topics();
    let asker = Requester::anonymous();
    let sets = labelled(&people);
    let mut by_kind: std::collections::BTreeMap<&str, (u32, u32, u32)> = Default::default();
    let mut misses = Vec::new();
    for (kind, q, want) in &sets {
        let r = d.resolve(&asker, q, &available, 0).0;
        let ids: Vec<&str> = r
            .candidates()
            .iter()
            .map(|c| c.participant.id.as_str())
            .collect();
        let e = by_kind.entry(kind).or_default();
        e.0 += 1;
        if ids.first() == Some(&want.as_str()) {
            e.1 += 1;
        } else {
            misses.push(format!(
                "{kind}: {:?} {:?} → {:?}",
                q.text,
                q.topic,
                ids.first()
            ));
        }
        if ids.iter().take(3).any(|i| i == want) {
            e.2 += 1;
        }
    }
    let (total, top1, top3) = by_kind
        .values()
        .fold((0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2));
    for (kind, (n, t1, t3)) in &by_kind {
        eprintln!("{kind}: top-1 {t1}/{n}, top-3 {t3}/{n}");
    }
    eprintln!("all: top-1 {top1}/{total}, top-3 {top3}/{total}");
    assert!(
        f64::from(top1) >= 0.90 * f64::from(total),
        "top-1 {top1}/{total}; misses: {misses:?}"
    );
    assert!(
        f64::from(top3) >= 0.98 * f64::from(total),
        "top-3 {top3}/{total}; misses: {misses:?}"
    );
}

#[test]
fn a_name_outranks_a_topic_authority_whose_name_does_not_match() {
    let (mut d, _) = population();
    let named = id("nadia.petrov@org1.example.com");
    let authority = id("oscar.weber@org4.example.com");
    for (who, level) in [
        (&named, Expertise::Intermediate),
        (&authority, Expertise::Authority),
    ] {
        d.put_topic(TopicSubscription {
            participant: who.clone(),
            topic: "compliance".into(),
            role: TopicRole::Expert,
            expertise: level,
            when_busy: false,
        })
        .unwrap();
    }
    for text in ["Nadia Petrov", "Nadia Petorv", "Nadia Petr"] {
        let q = Query {
            text: text.into(),
            topic: Some("compliance".into()),
            ..Query::default()
        };
        let r = d.resolve(&Requester::anonymous(), &q, &available, 0).0;
        assert_eq!(r.candidates()[0].participant.id, named.as_str(), "{text}");
    }
    // Without a name the topic decides: the authority first.
    let q = Query {
        topic: Some("compliance".into()),
        ..Query::default()
    };
    let r = d.resolve(&Requester::anonymous(), &q, &available, 0).0;
    assert_eq!(r.candidates()[0].participant.id, authority.as_str());
}

#[test]
fn a_clear_winner_is_resolved_and_reach_follows_the_permission() {
    let (mut d, _) = population();
    let asker_id = id("alice.martin@org0.example.com");
    let target = id("bruno.schmidt@org2.example.com");
    d.put_relationship(Relationship {
        from: target.clone(),
        to: asker_id.clone(),
        kind: RelationshipKind::Colleague,
        mutual: true,
    })
    .unwrap();
    let req = d.requester(Some(&asker_id));
    let q = Query {
        text: "Bruno Schmidt".into(),
        ..Query::default()
    };
    match d.resolve(&req, &q, &available, 0).0 {
        Resolution::Resolved(c) => {
            assert_eq!(c.participant.id, target.as_str());
            assert_eq!(c.proximity, Some(1));
            assert_eq!(c.permission, Permission::Allowed);
            assert_eq!(c.participant.level, ProfileLevel::Detailed);
            assert!(c.reach.iter().any(|r| r.method == "sip"));
            assert!(c.why.iter().any(|w| w == "name matched"), "{:?}", c.why);
        }
        other => panic!("expected a resolution, got {other:?}"),
    }
    // An anonymous requester sees the public level, no contact details, and may not make contact.
    let r = d.resolve(&Requester::anonymous(), &q, &available, 0).0;
    let c = r.candidates()[0].clone();
    assert_eq!(c.participant.level, ProfileLevel::Basic);
    assert!(c.participant.email.is_none() && c.reach.is_empty());
    assert!(matches!(c.permission, Permission::Denied { .. }));
}

#[test]
fn topic_experts_and_internal_organizations() {
    let (mut d, _) = population();
    let expert = id("chiara.rossi@org4.example.com");
    d.put_topic(TopicSubscription {
        participant: expert.clone(),
        topic: "Climate-Modelling".into(),
        role: TopicRole::Expert,
        expertise: Expertise::Authority,
        when_busy: false,
    })
    .unwrap();
    let q = Query {
        topic: Some("climate-modelling".into()),
        ..Query::default()
    };
    let r = d.resolve(&Requester::anonymous(), &q, &available, 0).0;
    assert_eq!(r.candidates()[0].participant.id, expert.as_str());
    assert!(
        r.candidates()[0]
            .why
            .iter()
            .any(|w| w.contains("expert on climate-modelling"))
    );

    // The same participant's organization turns internal: outsiders no longer find them.
    let mut p = d.participant(&expert).unwrap().clone();
    if let Some(o) = p.org.as_mut() {
        o.access = AccessLevel::Internal;
    }
    d.put_participant(p).unwrap();
    let r = d.resolve(&Requester::anonymous(), &q, &available, 0).0;
    assert!(
        r.candidates()
            .iter()
            .all(|c| c.participant.id != expert.as_str())
    );
    let colleague = d.requester(Some(&id("dmitri.schmidt@org4.example.com")));
    let r = d.resolve(&colleague, &q, &available, 0).0;
    assert_eq!(r.candidates()[0].participant.id, expert.as_str());
}

#[tokio::test]
async fn the_memory_store_keeps_changes_and_unknown_ends_are_refused() {
    let store = MemoryDirectoryStore::new();
    let mut d = Directory::new(MemorySearchIndex::new());
    let (a, b) = (
        person("alice", "martin", 0, 0),
        person("bruno", "novak", 1, 1),
    );
    let mut changes = d.put_participant(a.clone()).unwrap();
    changes.extend(d.put_participant(b.clone()).unwrap());
    changes.extend(
        d.put_relationship(Relationship {
            from: a.id.clone(),
            to: b.id.clone(),
            kind: RelationshipKind::Friend,
            mutual: false,
        })
        .unwrap(),
    );
    store.apply(&changes).await.unwrap();
    let snap = store.load().await.unwrap();
    assert_eq!(snap.participants.len(), 2);
    assert_eq!(snap.relationships.len(), 1);
    // Unknown ends are refused.
    assert!(
        d.put_relationship(Relationship {
            from: a.id.clone(),
            to: id("ghost@nowhere.example"),
            kind: RelationshipKind::Friend,
            mutual: false,
        })
        .is_err()
    );
}
