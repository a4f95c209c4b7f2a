//! Nothing in an answer carries a field above the requester's level: for random populations, rules and
//! requesters, every answer (resolution candidates with their `why`, `reach` and `permission`; expert lists;
//! profile views; contact permissions; the refusal of a contact request) is scanned for the values of every
//! profile field the requester may not be shown. Each field holds a value that names its owner and field
//! (`org3x`, `role5`), so a value found in the wrong place is a leak.

use proptest::prelude::*;
use registrar_directory::model::{
    AccessLevel, ApprovalLevel, Audiences, CrossOrgPolicy, Discoverability, EntityType, Expertise,
    Field, IdentityContext, OrgContext, ProfileLevel, Relationship, RelationshipKind, TopicRole,
    TopicSubscription,
};
use registrar_directory::privacy::{How, Requester};
use registrar_directory::{
    Availability, Directory, ExpertQuery, Hints, MemorySearchIndex, Participant, ParticipantId,
    Query,
};

const N: usize = 6;

fn pid(i: usize) -> ParticipantId {
    ParticipantId::parse(&format!("p{i}@d{}.example", i % 2)).unwrap()
}

fn level(k: u8) -> ProfileLevel {
    [
        ProfileLevel::Minimal,
        ProfileLevel::Basic,
        ProfileLevel::Standard,
        ProfileLevel::Detailed,
        ProfileLevel::Full,
    ][usize::from(k % 5)]
}

/// Participant `i` of organization `org`, every field a value of its own.
fn person(i: usize, org: usize, k: &[u8; 8]) -> Participant {
    let mut p = Participant::new(pid(i), EntityType::Human, format!("Name{i}"));
    let organization = format!("org{org}x");
    p.identities = vec![
        IdentityContext {
            name: format!("Name{i} Common"),
            email: Some(format!("email{i}@mail.example")),
            sip_aor: Some(format!("sip:sipaor{i}@d.example")),
            organization: Some(organization.clone()),
            department: Some(format!("dept{i}")),
            role: Some(format!("role{i}")),
            capabilities: vec![format!("cap{i}")],
            languages: vec![format!("lang{i}")],
            active: true,
            ..IdentityContext::default()
        },
        IdentityContext {
            name: format!("Private{i}"),
            active: false,
            ..IdentityContext::default()
        },
    ];
    p.org = Some(OrgContext {
        organization,
        department: Some(format!("dept{i}")),
        role: Some(format!("role{i}")),
        access: [AccessLevel::Public, AccessLevel::Internal][usize::from(k[0] % 2)],
        cross_org: CrossOrgPolicy {
            allow_external_contact: k[1].is_multiple_of(2),
            approval: [
                ApprovalLevel::None,
                ApprovalLevel::Participant,
                ApprovalLevel::Admin,
            ][usize::from(k[2] % 3)],
            ..CrossOrgPolicy::default()
        },
        ..OrgContext::default()
    });
    let perms = &mut p.permissions;
    perms.discoverability = [
        Discoverability::Public,
        Discoverability::Unlisted,
        Discoverability::Private,
    ][usize::from(k[3] % 3)];
    perms.audiences = Audiences {
        public: level(k[4]),
        organization: level(k[5]),
        relationship: level(k[6]),
        granted: level(k[7]),
    };
    perms.searchable = Field::ALL.to_vec();
    p
}

/// The values of `p`'s fields above `shown`.
fn above(p: &Participant, shown: ProfileLevel) -> Vec<String> {
    let i = &p.id.as_str()[1..p.id.as_str().find('@').unwrap()];
    // Every identity context but the primary is the full level's.
    let mut v = vec![format!("Private{i}")];
    if shown < Field::Organization.level() {
        v.push(p.organization().unwrap().to_owned());
    }
    if shown < Field::Role.level() {
        v.push(format!("role{i}"));
    }
    if shown < Field::Department.level() {
        v.extend([
            format!("dept{i}"),
            format!("cap{i}"),
            format!("lang{i}"),
            format!("topic{i}"),
        ]);
    }
    if shown < Field::Email.level() {
        v.extend([format!("email{i}"), format!("sipaor{i}")]);
    }
    if shown >= ProfileLevel::Full {
        v.retain(|x| !x.starts_with("Private"));
    }
    v
}

fn scan(text: &str, p: &Participant, shown: ProfileLevel, what: &str) -> Result<(), TestCaseError> {
    for value in above(p, shown) {
        prop_assert!(
            !text.contains(&value),
            "{what}: {value} of {} (shown at {shown:?}) in {text}",
            p.id
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_answer_carries_a_field_above_the_requesters_level(
        settings in proptest::collection::vec((0usize..2, any::<[u8; 8]>()), N),
        rels in proptest::collection::vec((0usize..N, 0usize..N), 0..6),
        who in proptest::option::of(0usize..N),
        target in 0usize..N,
        org_hint in proptest::option::of(0usize..2),
        role_hint in any::<bool>(),
    ) {
        let mut d = Directory::new(MemorySearchIndex::new());
        let people: Vec<Participant> =
            settings.iter().enumerate().map(|(i, (org, k))| person(i, *org, k)).collect();
        for p in &people {
            d.put_participant(p.clone()).unwrap();
            let i = &p.id.as_str()[1..p.id.as_str().find('@').unwrap()];
            d.put_topic(TopicSubscription {
                participant: p.id.clone(),
                topic: format!("topic{i}"),
                role: TopicRole::Expert,
                expertise: Expertise::Expert,
                when_busy: true,
            }).unwrap();
            d.put_topic(TopicSubscription {
                participant: p.id.clone(),
                topic: "shared".into(),
                role: TopicRole::Expert,
                expertise: Expertise::Advanced,
                when_busy: true,
            }).unwrap();
        }
        for &(a, b) in rels.iter().filter(|(a, b)| a != b) {
            d.put_relationship(Relationship { from: pid(a), to: pid(b), kind: RelationshipKind::Colleague, mutual: false }).unwrap();
        }
        let req: Requester = d.requester(who.map(pid).as_ref());
        let by_id = |id: &str| people.iter().find(|p| p.id.as_str() == id).unwrap();
        let hints = Hints {
            organization: org_hint.map(|o| format!("org{o}x")),
            role: role_hint.then(|| format!("role{target}")),
            ..Hints::default()
        };
        let queries = [
            Query { text: "Common".into(), hints: hints.clone(), ..Query::default() },
            Query { text: format!("Name{target}"), hints: hints.clone(), topic: Some("shared".into()), ..Query::default() },
            Query { exact_id: Some(pid(target)), ..Query::default() },
            Query { text: String::new(), hints, ..Query::default() },
        ];
        for q in &queries {
            let (r, _) = d.resolve(&req, q, &|_| Availability::Available, 0);
            for c in r.candidates() {
                let text = serde_json::to_string(c).unwrap();
                scan(&text, by_id(&c.participant.id), c.participant.level, "a candidate")?;
            }
        }
        let eq = ExpertQuery { topic: "shared".into(), organization: org_hint.map(|o| format!("org{o}x")), limit: N, ..ExpertQuery::default() };
        let (experts, _) = d.find_experts(&req, &eq, &|_| Availability::Available, 0);
        for c in &experts {
            let text = serde_json::to_string(c).unwrap();
            scan(&text, by_id(&c.participant.id), c.participant.level, "an expert")?;
        }
        let p = &people[target];
        let decision = d.decide(p, &req, How::ExactId);
        let shown = if decision.visible { decision.level } else { ProfileLevel::Minimal };
        let hidden_all = |text: &str| -> Result<(), TestCaseError> {
            if !decision.visible {
                // A participant not shown at all: not even their name.
                prop_assert!(!text.contains(&format!("Name{target}")), "a hidden participant's name in {text}");
            }
            scan(text, p, shown, "an answer about the target")
        };
        let (view, _) = d.view(&req, &pid(target), 0);
        hidden_all(&format!("{view:?}"))?;
        let (perm, _) = d.contact_permission(&req, &pid(target), 0);
        hidden_all(&serde_json::to_string(&perm).unwrap())?;
        let asked = d.ask_contact(&req, &pid(target), "hello", 0);
        hidden_all(&match asked { Ok((c, _)) => serde_json::to_string(&c).unwrap(), Err(e) => e.to_string() })?;
    }
}
