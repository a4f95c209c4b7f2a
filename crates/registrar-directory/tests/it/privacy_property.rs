//! The privacy property: random participants, rules, relationships, requesters and queries; whatever the
//! query, no answer contains a participant or a field the rules forbid. The oracle below restates the rules
//! directly from the participant's settings, independently of `privacy::decide`.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use registrar_directory::federation::{AskingPeer, LookupRequest, PeerTrust, remote_requester};
use registrar_directory::model::{
    AccessLevel, Audiences, ContactMethod, CrossOrgPolicy, Discoverability, EntityType, Expertise,
    Field, IdentityContext, OrgContext, ProfileLevel, Relationship, RelationshipKind, TopicRole,
    TopicSubscription,
};
use registrar_directory::privacy::{ParticipantView, Requester};
use registrar_directory::{
    Availability, Directory, ExpertQuery, Hints, MemorySearchIndex, Participant, ParticipantId,
    Query,
};

pub(crate) const N: usize = 8;
const NAMES: [&str; 4] = ["alice", "bruno", "chiara", "dmitri"];
const ORGS: [&str; 3] = ["Lab", "Web", "Ops"];

pub(crate) fn pid(i: usize) -> ParticipantId {
    ParticipantId::parse(&format!("p{i}@d{}.example", i % 3)).unwrap()
}

fn level(i: u8) -> ProfileLevel {
    [
        ProfileLevel::Minimal,
        ProfileLevel::Basic,
        ProfileLevel::Standard,
        ProfileLevel::Detailed,
        ProfileLevel::Full,
    ][usize::from(i % 5)]
}

#[derive(Clone, Debug)]
pub(crate) struct Rules {
    disc: u8,
    access: u8,
    org: usize,
    audiences: [u8; 4],
    searchable: u16,
    blocked_ids: u8,
    blocked_domain: Option<usize>,
    blocked_org: Option<usize>,
    auto_accept: u8,
    name: usize,
    methods: u8,
}

pub(crate) fn rules() -> impl Strategy<Value = Rules> {
    (
        (0u8..4, 0u8..5, 0usize..3, any::<[u8; 4]>(), any::<u16>()),
        (
            any::<u8>(),
            proptest::option::of(0usize..3),
            proptest::option::of(0usize..3),
            any::<u8>(),
            0usize..4,
            0u8..4,
        ),
    )
        .prop_map(
            |(
                (disc, access, org, audiences, searchable),
                (blocked_ids, blocked_domain, blocked_org, auto_accept, name, methods),
            )| Rules {
                disc,
                access,
                org,
                audiences,
                searchable,
                blocked_ids,
                blocked_domain,
                blocked_org,
                auto_accept,
                name,
                methods,
            },
        )
}

pub(crate) fn build(i: usize, r: &Rules) -> Participant {
    let mut p = Participant::new(pid(i), EntityType::Human, NAMES[r.name]);
    p.identities[0] = IdentityContext {
        name: format!("{} {}", NAMES[r.name], ORGS[r.org]),
        email: Some(format!("p{i}@mail.example")),
        sip_aor: Some(format!("sip:p{i}@d.example")),
        organization: Some(ORGS[r.org].into()),
        role: Some("engineer".into()),
        department: Some("dept".into()),
        capabilities: vec!["deploy".into()],
        languages: vec!["en".into()],
        active: true,
        ..IdentityContext::default()
    };
    p.org = Some(OrgContext {
        organization: ORGS[r.org].into(),
        department: Some("dept".into()),
        team: Some(format!("team{}", i % 2)),
        role: Some("engineer".into()),
        access: [
            AccessLevel::Public,
            AccessLevel::Internal,
            AccessLevel::Department,
            AccessLevel::Team,
            AccessLevel::Confidential,
        ][usize::from(r.access)],
        cross_org: CrossOrgPolicy {
            allow_external_contact: true,
            ..CrossOrgPolicy::default()
        },
    });
    let perms = &mut p.permissions;
    perms.discoverability = [
        Discoverability::Public,
        Discoverability::Unlisted,
        Discoverability::Private,
        Discoverability::Stealth,
    ][usize::from(r.disc)];
    perms.audiences = Audiences {
        public: level(r.audiences[0]),
        organization: level(r.audiences[1]),
        relationship: level(r.audiences[2]),
        granted: level(r.audiences[3]),
    };
    perms.searchable = Field::ALL
        .iter()
        .enumerate()
        .filter(|(k, _)| r.searchable & (1 << k) != 0)
        .map(|(_, f)| *f)
        .collect();
    perms.blocked_ids = (0..N)
        .filter(|k| r.blocked_ids & (1 << k) != 0)
        .map(pid)
        .collect();
    perms.blocked_domains = r
        .blocked_domain
        .map(|d| format!("d{d}.example"))
        .into_iter()
        .collect();
    perms.blocked_organizations = r
        .blocked_org
        .map(|o| ORGS[o].to_owned())
        .into_iter()
        .collect();
    perms.auto_accept = (0..N)
        .filter(|k| r.auto_accept & (1 << k) != 0)
        .map(pid)
        .collect();
    perms.contact_methods = match r.methods {
        0 => vec![],
        1 => vec![ContactMethod::Sip],
        2 => vec![ContactMethod::Email],
        _ => vec![ContactMethod::Sip, ContactMethod::Email],
    };
    p
}

/// The oracle: the most a requester may see of `p`, or `None` when `p` must not appear. `by_search`: the
/// answer did not come from the exact id or a referral, nor from strong hints.
fn allowed(
    p: &Participant,
    who: Option<usize>,
    rels: &[(usize, usize, bool)],
    target: usize,
    by_search: bool,
) -> Option<ProfileLevel> {
    let perms = &p.permissions;
    if let Some(w) = who {
        let wid = pid(w);
        if perms.blocked_ids.contains(&wid)
            || perms.blocked_domains.iter().any(|d| d == wid.domain())
        {
            return None;
        }
    }
    if who == Some(target) {
        return Some(ProfileLevel::Full);
    }
    let granted = who.is_some_and(|w| perms.auto_accept.contains(&pid(w)));
    // Related: the participant declared a relationship to the requester. A `mutual` flag the requester set
    // on their own declaration grants nothing (a relationship is mutual only when both declared it).
    let related = who.is_some_and(|w| rels.iter().any(|&(a, b, _)| a == target && b == w));
    match perms.discoverability {
        Discoverability::Stealth if !granted => return None,
        Discoverability::Private if !granted && !related => return None,
        Discoverability::Unlisted if by_search && !granted && !related => return None,
        _ => {}
    }
    let mut max = perms.audiences.public;
    max = max.max(perms.audiences.organization);
    if related {
        max = max.max(perms.audiences.relationship);
    }
    if granted {
        max = max.max(perms.audiences.granted);
    }
    Some(max)
}

/// The checks every returned view must pass.
fn check_view(
    v: &ParticipantView,
    people: &[Participant],
    who: Option<usize>,
    rels: &[(usize, usize, bool)],
    by_search: bool,
) -> Result<usize, TestCaseError> {
    let i: usize = v.id[1..v.id.find('@').unwrap()].parse().unwrap();
    let p = &people[i];
    // Blocked by organization: the requester's organization is on the block list.
    if let Some(w) = who {
        let worg = people[w].org.as_ref().map(|o| o.organization.clone());
        prop_assert!(
            !p.permissions
                .blocked_organizations
                .iter()
                .any(|o| Some(o) == worg.as_ref()),
            "{} returned to a member of a blocked organization",
            p.id
        );
    }
    let max = allowed(p, who, rels, i, by_search);
    prop_assert!(
        max.is_some(),
        "{} must not appear to {:?} (by search: {by_search})",
        p.id,
        who
    );
    let max = max.unwrap();
    prop_assert!(v.level <= max, "level {:?} above {:?}", v.level, max);
    for f in v.fields() {
        prop_assert!(f.level() <= max, "field {f:?} of {} above {:?}", p.id, max);
    }
    if v.email.is_some() {
        prop_assert!(
            p.permissions
                .contact_methods
                .contains(&ContactMethod::Email)
        );
    }
    if v.sip_aor.is_some() {
        prop_assert!(p.permissions.contact_methods.contains(&ContactMethod::Sip));
    }
    // Stealth participants appear only to themselves and the pre-authorized.
    if p.permissions.discoverability == Discoverability::Stealth {
        prop_assert!(
            who == Some(i) || who.is_some_and(|w| p.permissions.auto_accept.contains(&pid(w)))
        );
    }
    Ok(i)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_query_returns_a_participant_or_field_the_rules_forbid(
        all in proptest::collection::vec(rules(), N),
        rels in proptest::collection::vec((0usize..N, 0usize..N, any::<bool>()), 0..10),
        who in proptest::option::of(0usize..N),
        name in 0usize..4,
        exact in proptest::option::of(0usize..N),
        referral in any::<bool>(),
        org_hint in proptest::option::of(0usize..3),
        role_hint in any::<bool>(),
        text_is_email in proptest::option::of(0usize..N),
        experts in proptest::collection::vec(any::<bool>(), N),
        viewed in 0usize..N,
    ) {
        let mut d = Directory::new(MemorySearchIndex::new());
        let people: Vec<Participant> = all.iter().enumerate().map(|(i, r)| build(i, r)).collect();
        for p in &people {
            d.put_participant(p.clone()).unwrap();
        }
        let rels: Vec<(usize, usize, bool)> = rels.into_iter().filter(|(a, b, _)| a != b).collect();
        for &(a, b, mutual) in &rels {
            d.put_relationship(Relationship { from: pid(a), to: pid(b), kind: RelationshipKind::Colleague, mutual }).unwrap();
        }
        for (i, e) in experts.iter().enumerate() {
            if *e {
                d.put_topic(TopicSubscription {
                    participant: pid(i),
                    topic: "rust".into(),
                    role: TopicRole::Expert,
                    expertise: Expertise::Advanced,
                    when_busy: false,
                }).unwrap();
            }
        }
        let requester: Requester = d.requester(who.map(pid).as_ref());
        let text = match text_is_email {
            Some(i) => format!("p{i}@mail.example"),
            None => NAMES[name].to_owned(),
        };
        let q = Query {
            text,
            exact_id: exact.map(pid),
            referral,
            hints: Hints {
                organization: org_hint.map(|o| ORGS[o].to_owned()),
                role: role_hint.then(|| "engineer".to_owned()),
                ..Hints::default()
            },
            ..Query::default()
        };
        let strong = q.hints.organization.is_some() && q.hints.role.is_some();
        let r = d.resolve(&requester, &q, &|_| Availability::Available, 0).0;
        for c in r.candidates() {
            let by_search = exact.is_none_or(|e| pid(e).as_str() != c.participant.id) && !strong;
            let i = check_view(&c.participant, &people, who, &rels, by_search)?;
            let p = &people[i];
            // Search never matches an unsearchable field: found only through an email text, the email must be
            // searchable (or the participant found by id, or as themself).
            if let Some(e) = text_is_email
                && e == i && exact != Some(i)
            {
                prop_assert!(p.permissions.searchable.contains(&Field::Email)
                    || c.why.iter().all(|w| w != "email matched"));
                prop_assert!(p.permissions.searchable.contains(&Field::Email)
                    || !c.why.iter().any(|w| w.ends_with("matched") && w.starts_with("email")));
            }
            if !c.reach.is_empty() {
                prop_assert!(who.is_some());
            }
        }
        // Expert discovery is a search.
        let eq = ExpertQuery { topic: "rust".into(), limit: N, ..ExpertQuery::default() };
        let (found, audit) = d.find_experts(&requester, &eq, &|_| Availability::Available, 0);
        prop_assert_eq!(found.len(), audit.len());
        for c in &found {
            check_view(&c.participant, &people, who, &rels, true)?;
            if !c.reach.is_empty() {
                prop_assert!(who.is_some());
            }
        }
        // A profile view by id.
        let (v, _) = d.view(&requester, &pid(viewed), 0);
        if let Some(v) = v {
            check_view(&v, &people, who, &rels, false)?;
        }
        // Contact needs visibility first.
        let (perm, _) = d.contact_permission(&requester, &pid(viewed), 0);
        if perm.is_some() {
            prop_assert!(allowed(&people[viewed], who, &rels, viewed, false).is_some());
        }
    }
}

fn trust_of(k: u8) -> PeerTrust {
    [
        PeerTrust::Blocked,
        PeerTrust::Restricted,
        PeerTrust::Provisional,
        PeerTrust::Verified,
        PeerTrust::Trusted,
    ][usize::from(k % 5)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Lookups from a federated peer: whatever the peer claims, an answer holds no more than the oracle
    /// allows for the requester this server believes at the peer's trust level, blocks apply to every claim,
    /// and a restricted peer only ever gets minimal profiles found by exact id.
    #[test]
    fn federated_lookups_never_exceed_the_peer_trust_level(
        all in proptest::collection::vec(rules(), N),
        rels in proptest::collection::vec((0usize..N, 0usize..N, any::<bool>()), 0..10),
        claimed in proptest::option::of(0usize..N),
        claimed_org in proptest::option::of(0usize..3),
        trust in 0u8..5,
        peer_domains in proptest::collection::vec(0usize..3, 0..3),
        name in 0usize..4,
        exact in proptest::option::of(0usize..N),
        org_hint in proptest::option::of(0usize..3),
    ) {
        let mut d = Directory::new(MemorySearchIndex::new());
        let people: Vec<Participant> = all.iter().enumerate().map(|(i, r)| build(i, r)).collect();
        for p in &people {
            d.put_participant(p.clone()).unwrap();
        }
        let rels: Vec<(usize, usize, bool)> = rels.into_iter().filter(|(a, b, _)| a != b).collect();
        for &(a, b, mutual) in &rels {
            d.put_relationship(Relationship { from: pid(a), to: pid(b), kind: RelationshipKind::Colleague, mutual }).unwrap();
        }
        let domains: Vec<String> = peer_domains.iter().map(|k| format!("d{k}.example")).collect();
        let trust = trust_of(trust);
        let lookup = LookupRequest {
            requester: claimed.map(|c| pid(c).to_string()),
            organization: claimed_org.map(|o| ORGS[o].to_owned()),
            text: NAMES[name].to_owned(),
            exact_id: exact.map(|e| pid(e).to_string()),
            hints: Hints { organization: org_hint.map(|o| ORGS[o].to_owned()), role: Some("engineer".into()), ..Hints::default() },
            ..LookupRequest::default()
        };
        let peer = AskingPeer { id: "peer", domains: &domains, trust };
        let Some(requester) = remote_requester(&peer, &lookup) else {
            prop_assert_eq!(trust, PeerTrust::Blocked);
            return Ok(());
        };
        prop_assert!(trust != PeerTrust::Blocked);
        // Who this server believes the requester is.
        let believed = claimed.filter(|c| {
            trust >= PeerTrust::Verified && domains.iter().any(|d| d == pid(*c).domain())
        });
        let q = lookup.query().unwrap();
        let strong = q.hints.organization.is_some() && q.hints.role.is_some();
        let r = d.resolve(&requester, &q, &|_| Availability::Available, 0).0;
        for c in r.candidates() {
            let i: usize = c.participant.id[1..c.participant.id.find('@').unwrap()].parse().unwrap();
            let p = &people[i];
            let by_id = exact == Some(i);
            let by_search = !by_id && !strong;
            let max = allowed(p, believed, &rels, i, by_search);
            prop_assert!(max.is_some(), "{} must not appear through a {:?} peer", p.id, trust);
            prop_assert!(c.participant.level <= max.unwrap());
            // Every claim counts against the requester, believed or not.
            let perms = &p.permissions;
            if let Some(cl) = claimed {
                prop_assert!(!perms.blocked_ids.contains(&pid(cl)));
                prop_assert!(!perms.blocked_domains.iter().any(|b| b == pid(cl).domain()));
            }
            prop_assert!(!perms.blocked_domains.iter().any(|b| domains.contains(b)));
            if let Some(o) = claimed_org {
                prop_assert!(!perms.blocked_organizations.iter().any(|b| b == ORGS[o]));
            }
            if trust == PeerTrust::Restricted {
                prop_assert!(by_id, "a restricted peer found {} by search", p.id);
                prop_assert_eq!(c.participant.level, ProfileLevel::Minimal);
            }
            if believed.is_none() {
                prop_assert!(c.reach.is_empty());
            }
        }
    }
}
