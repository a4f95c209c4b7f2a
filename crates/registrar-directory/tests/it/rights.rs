//! Priority through the directory, expert discovery (availability, organization, region, fairness), the
//! audit log and data rights (export, erasure) through the memory store.

use registrar_directory::audit::{AuditAction, AuditParty};
use registrar_directory::model::{
    EntityType, Expertise, IdentityContext, Relationship, RelationshipKind, TopicRole,
    TopicSubscription, TrustCategory, TrustRating,
};
use registrar_directory::priority::{
    Delivery, Message, Priority, PrioritySettings, TimeAction, TimeRule,
};
use registrar_directory::privacy::Requester;
use registrar_directory::{
    Availability, Directory, DirectoryChange, DirectoryStore, ExpertQuery, MemoryDirectoryStore,
    MemorySearchIndex, Participant, ParticipantId, Query, Resolution,
};

fn id(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(local: &str, org: &str, region: &str) -> Participant {
    let pid = id(&format!("{local}@{}.example.com", org.to_lowercase()));
    let mut p = Participant::new(pid, EntityType::Human, local);
    p.identities[0] = IdentityContext {
        name: format!("{local} {org}"),
        email: Some(format!("{local}@{}.example.com", org.to_lowercase())),
        sip_aor: Some(format!("sip:{local}@{}.example.com", org.to_lowercase())),
        organization: Some(org.to_owned()),
        ..p.identities[0].clone()
    };
    p.region = Some(region.to_owned());
    p
}

fn expert(
    d: &mut Directory<MemorySearchIndex>,
    p: &ParticipantId,
    level: Expertise,
    when_busy: bool,
) {
    d.put_topic(TopicSubscription {
        participant: p.clone(),
        topic: "kubernetes".into(),
        role: TopicRole::Expert,
        expertise: level,
        when_busy,
    })
    .unwrap();
}

#[test]
fn experts_are_filtered_by_presence_organization_and_region_and_spread_fairly() {
    let mut d = Directory::new(MemorySearchIndex::new());
    let names = ["ana", "ben", "cai", "dev", "eve", "fay"];
    for (i, n) in names.iter().enumerate() {
        let org = if i < 4 { "Ops" } else { "Web" };
        let region = if i % 2 == 0 { "eu" } else { "us" };
        d.put_participant(person(n, org, region)).unwrap();
    }
    let pid = |n: &str| {
        let org = if ["eve", "fay"].contains(&n) {
            "web"
        } else {
            "ops"
        };
        id(&format!("{n}@{org}.example.com"))
    };
    for n in ["ana", "ben", "cai", "eve", "fay"] {
        expert(&mut d, &pid(n), Expertise::Expert, n == "cai");
    }
    // dev is a beginner: below the minimum.
    expert(&mut d, &pid("dev"), Expertise::Beginner, false);
    // ben is busy; cai is busy but takes requests when busy; fay is in do-not-disturb.
    let presence = |p: &Participant| match p.id.as_str() {
        s if s.starts_with("ben@") || s.starts_with("cai@") => Availability::Busy,
        s if s.starts_with("fay@") => Availability::DoNotDisturb,
        _ => Availability::Available,
    };
    let asker = d.requester(Some(&pid("dev")));
    let q = ExpertQuery {
        topic: "Kubernetes".into(),
        min: Expertise::Advanced,
        ..ExpertQuery::default()
    };
    let (found, audit) = d.find_experts(&asker, &q, &presence, 1_000);
    let ids: Vec<&str> = found.iter().map(|c| c.participant.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ana@ops.example.com",
            "cai@ops.example.com",
            "eve@web.example.com"
        ]
    );
    assert_eq!(audit.len(), 3);
    assert!(found[0].why.iter().any(|w| w == "expert on kubernetes"));

    let in_ops = ExpertQuery {
        organization: Some("ops".into()),
        ..q.clone()
    };
    let (found, _) = d.find_experts(&asker, &in_ops, &presence, 1_000);
    assert_eq!(found.len(), 2);
    let in_eu_ops = ExpertQuery {
        region: Some("EU".into()),
        ..in_ops.clone()
    };
    let (found, _) = d.find_experts(&asker, &in_eu_ops, &presence, 1_000);
    let ids: Vec<&str> = found.iter().map(|c| c.participant.id.as_str()).collect();
    assert_eq!(ids, ["ana@ops.example.com", "cai@ops.example.com"]);

    // Routing spreads requests among equals: the least recently routed first, round after round.
    let mut routed = Vec::new();
    for t in 0..6 {
        let (c, changes) = d.route_expert(&asker, &q, &presence, 2_000 + t);
        let c = c.unwrap();
        assert_eq!(changes.len(), 1);
        routed.push(c.participant.id.clone());
    }
    assert_eq!(
        routed,
        [
            "ana@ops.example.com",
            "cai@ops.example.com",
            "eve@web.example.com",
            "ana@ops.example.com",
            "cai@ops.example.com",
            "eve@web.example.com"
        ]
    );
    // Within one millisecond too.
    let a = d
        .route_expert(&asker, &q, &presence, 5)
        .0
        .unwrap()
        .participant
        .id;
    let b = d
        .route_expert(&asker, &q, &presence, 5)
        .0
        .unwrap()
        .participant
        .id;
    assert_ne!(a, b);
    // A higher level is always first.
    expert(&mut d, &pid("ben"), Expertise::Authority, true);
    for t in 0..3 {
        let c = d.route_expert(&asker, &q, &presence, 9_000 + t).0.unwrap();
        assert_eq!(c.participant.id, "ben@ops.example.com");
    }
}

#[test]
fn priority_uses_relationships_blocks_and_the_recipients_zone() {
    let mut d = Directory::new(MemorySearchIndex::new());
    let mut alice = person("alice", "Lab", "eu");
    alice.utc_offset_minutes = 9 * 60; // Tokyo
    alice
        .permissions
        .blocked_domains
        .push("spam.example".into());
    d.put_participant(alice.clone()).unwrap();
    let boss = person("boss", "Lab", "eu");
    d.put_participant(boss.clone()).unwrap();
    let mut report = person("rita", "Lab", "eu");
    report.id = id("rita@lab.example.com");
    d.put_participant(report.clone()).unwrap();
    // Alice declares boss as her boss; rita declares "alice is my boss", which alone counts for nothing
    // (a one-sided claim), until alice declares rita her direct report.
    d.put_relationship(Relationship {
        from: alice.id.clone(),
        to: boss.id.clone(),
        kind: RelationshipKind::Boss,
        mutual: false,
    })
    .unwrap();
    d.put_relationship(Relationship {
        from: report.id.clone(),
        to: alice.id.clone(),
        kind: RelationshipKind::Boss,
        mutual: true,
    })
    .unwrap();
    let noon = 1_795_435_200_000;
    let claimed = d
        .prioritize(&Message {
            sender: Some(report.id.clone()),
            recipient: alice.id.clone(),
            text: "hi".into(),
            topic: None,
            at_ms: noon,
        })
        .unwrap();
    assert!(
        claimed
            .explanation
            .iter()
            .all(|e| !e.starts_with("direct report")),
        "a one-sided claim set the priority: {:?}",
        claimed.explanation
    );
    d.put_relationship(Relationship {
        from: alice.id.clone(),
        to: report.id.clone(),
        kind: RelationshipKind::DirectReport,
        mutual: false,
    })
    .unwrap();
    let mut s = PrioritySettings::new(alice.id.clone());
    s.time_rules.push(TimeRule {
        days: 0,
        start_minute: 22 * 60,
        end_minute: 7 * 60,
        action: TimeAction::Block,
    });
    s.emergency_keywords.push("sev1".into());
    let changes = d.put_priority(s.clone()).unwrap();
    assert_eq!(changes, [DirectoryChange::PutPriority(s)]);

    // 2026-11-23 12:00 UTC = 21:00 in Tokyo.
    let noon_utc = 1_795_435_200_000;
    let m = |from: &str, text: &str, at_ms: u64| Message {
        sender: Some(id(from)),
        recipient: alice.id.clone(),
        text: text.into(),
        topic: None,
        at_ms,
    };
    let d1 = d
        .prioritize(&m("boss@lab.example.com", "hi", noon_utc))
        .unwrap();
    assert_eq!(
        (d1.delivery, d1.priority),
        (Delivery::Deliver, Priority::High)
    );
    let d2 = d
        .prioritize(&m("rita@lab.example.com", "hi", noon_utc))
        .unwrap();
    assert_eq!(d2.priority, Priority::Normal);
    assert!(
        d2.explanation
            .iter()
            .any(|e| e.starts_with("direct report")),
        "{:?}",
        d2.explanation
    );
    // 13:30 UTC = 22:30 in Tokyo: quiet time; an emergency passes.
    let late = noon_utc + 90 * 60_000;
    assert_eq!(
        d.prioritize(&m("boss@lab.example.com", "hi", late))
            .unwrap()
            .delivery,
        Delivery::Hold
    );
    let e = d
        .prioritize(&m("boss@lab.example.com", "SEV1 in prod", late))
        .unwrap();
    assert_eq!(
        (e.delivery, e.priority),
        (Delivery::Deliver, Priority::Emergency)
    );
    // The discovery block list blocks messages too.
    let b = d
        .prioritize(&m("x@spam.example", "SEV1", noon_utc))
        .unwrap();
    assert_eq!(b.delivery, Delivery::Block);
    assert!(
        d.prioritize(&Message {
            recipient: id("ghost@x.com"),
            ..m("boss@lab.example.com", "", 0)
        })
        .is_err()
    );
}

#[tokio::test]
async fn audit_log_export_and_erasure() {
    let store = MemoryDirectoryStore::new();
    let mut d = Directory::new(MemorySearchIndex::new());
    let alice = person("alice", "Lab", "eu");
    let bob = person("bob", "Lab", "eu");
    let carol = person("carol", "Web", "us");
    for p in [&alice, &bob, &carol] {
        store
            .apply(&d.put_participant(p.clone()).unwrap())
            .await
            .unwrap();
    }
    store
        .apply(
            &d.put_relationship(Relationship {
                from: alice.id.clone(),
                to: bob.id.clone(),
                kind: RelationshipKind::Colleague,
                mutual: true,
            })
            .unwrap(),
        )
        .await
        .unwrap();
    for (rater, ratee) in [(&bob, &alice), (&alice, &carol)] {
        store
            .apply(
                &d.put_rating(TrustRating {
                    rater: rater.id.clone(),
                    ratee: ratee.id.clone(),
                    category: TrustCategory::Technical,
                    score: 90,
                })
                .unwrap(),
            )
            .await
            .unwrap();
    }
    expert(&mut d, &alice.id, Expertise::Expert, false);
    store
        .apply(
            &d.put_priority(PrioritySettings::new(alice.id.clone()))
                .unwrap(),
        )
        .await
        .unwrap();

    // Bob searches and finds alice; carol views her profile and asks to contact her; an anonymous
    // requester views her too. Alice views carol.
    let bob_req = d.requester(Some(&bob.id));
    let (r, changes) = d.resolve(
        &bob_req,
        &Query {
            text: "alice".into(),
            ..Query::default()
        },
        &|_| Availability::Available,
        10,
    );
    assert!(matches!(r, Resolution::Resolved(_)));
    store.apply(&changes).await.unwrap();
    let carol_req = d.requester(Some(&carol.id));
    let (v, changes) = d.view(&carol_req, &alice.id, 20);
    assert!(v.is_some());
    store.apply(&changes).await.unwrap();
    let (p, changes) = d.contact_permission(&carol_req, &alice.id, 30);
    assert!(p.is_some());
    store.apply(&changes).await.unwrap();
    store
        .apply(&d.view(&Requester::anonymous(), &alice.id, 40).1)
        .await
        .unwrap();
    store
        .apply(&d.view(&d.requester(Some(&alice.id)), &carol.id, 50).1)
        .await
        .unwrap();

    // Who looked alice up, newest first.
    let log = store.audit_of(&alice.id, 100).await.unwrap();
    let seen: Vec<(AuditParty, AuditAction, u64)> = log
        .iter()
        .map(|e| (e.actor.clone(), e.action, e.at_ms))
        .collect();
    assert_eq!(
        seen,
        [
            (AuditParty::Anonymous, AuditAction::ProfileView, 40),
            (
                AuditParty::Participant(carol.id.clone()),
                AuditAction::PermissionDecision,
                30
            ),
            (
                AuditParty::Participant(carol.id.clone()),
                AuditAction::ProfileView,
                20
            ),
            (
                AuditParty::Participant(bob.id.clone()),
                AuditAction::Discovered,
                10
            ),
        ]
    );
    assert_eq!(log[3].decision, "contact allowed");
    assert!(log[2].decision.starts_with("shown at "));

    // Export: everything about alice, with her audit entries, as JSON.
    let (mut export, changes) = d.export(Some(&alice.id), &alice.id, 60).unwrap();
    store.apply(&changes).await.unwrap();
    export.audit = store.audit_of(&alice.id, usize::MAX).await.unwrap();
    let json = serde_json::to_value(&export).unwrap();
    assert_eq!(json["participant"]["id"], "alice@lab.example.com");
    assert_eq!(json["relationships"].as_array().unwrap().len(), 1);
    assert_eq!(json["topics"][0]["topic"], "kubernetes");
    assert_eq!(json["ratings_received"][0]["rater"], "bob@lab.example.com");
    assert_eq!(json["ratings_given"][0]["ratee"], "carol@web.example.com");
    assert_eq!(json["priority"]["participant"], "alice@lab.example.com");
    assert_eq!(json["audit"][0]["action"], "export");
    assert_eq!(json["audit"].as_array().unwrap().len(), 5);

    // Erasure: gone from the directory, the search, the graph, the ratings and the store; the audit log
    // keeps only a tombstone.
    let changes = d.erase(Some(&alice.id), &alice.id, 70).unwrap();
    store.apply(&changes).await.unwrap();
    assert!(d.participant(&alice.id).is_none());
    assert!(d.view(&bob_req, &alice.id, 80).0.is_none());
    let (r, _) = d.resolve(
        &bob_req,
        &Query {
            text: "alice".into(),
            ..Query::default()
        },
        &|_| Availability::Available,
        80,
    );
    assert!(r.candidates().is_empty());
    assert!(
        d.find_experts(
            &bob_req,
            &ExpertQuery {
                topic: "kubernetes".into(),
                ..ExpertQuery::default()
            },
            &|_| Availability::Available,
            80
        )
        .0
        .is_empty()
    );
    assert_eq!(d.proximity(&bob.id, &alice.id, 3), None);
    assert!(d.export(None, &alice.id, 90).is_err());
    assert!(store.audit_of(&alice.id, 100).await.unwrap().is_empty());
    let snap = store.load().await.unwrap();
    let dump = format!("{snap:?}");
    assert!(!dump.contains("alice"), "{dump}");
    assert_eq!(snap.participants.len(), 2);
    assert!(snap.relationships.is_empty() && snap.ratings.is_empty() && snap.topics.is_empty());
    assert!(snap.priorities.is_empty());
    // Alice's view of carol now names a tombstone, and the erasure itself is logged under one.
    let log = store.audit_of(&carol.id, 100).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, AuditParty::tombstone(&alice.id));
    let Some(DirectoryChange::Audit(erasure)) = changes.last() else {
        panic!("no erasure entry")
    };
    assert_eq!(erasure.action, AuditAction::Erasure);
    assert_eq!(erasure.subject, AuditParty::tombstone(&alice.id));
    assert!(!serde_json::to_string(erasure).unwrap().contains("alice"));
}

#[tokio::test]
async fn a_directory_restored_from_its_store_answers_the_same() {
    let store = MemoryDirectoryStore::new();
    let mut d = Directory::new(MemorySearchIndex::new());
    let (a, b) = (person("alice", "Lab", "eu"), person("bob", "Lab", "eu"));
    store
        .apply(&d.put_participant(a.clone()).unwrap())
        .await
        .unwrap();
    store
        .apply(&d.put_participant(b.clone()).unwrap())
        .await
        .unwrap();
    expert(&mut d, &a.id, Expertise::Expert, false);
    // The topic change went nowhere yet: apply it by re-putting it.
    store
        .apply(&[DirectoryChange::PutTopic(TopicSubscription {
            participant: a.id.clone(),
            topic: "kubernetes".into(),
            role: TopicRole::Expert,
            expertise: Expertise::Expert,
            when_busy: false,
        })])
        .await
        .unwrap();
    store
        .apply(
            &d.put_relationship(Relationship {
                from: a.id.clone(),
                to: b.id.clone(),
                kind: RelationshipKind::Friend,
                mutual: true,
            })
            .unwrap(),
        )
        .await
        .unwrap();
    let restored = Directory::restore(MemorySearchIndex::new(), store.load().await.unwrap());
    assert_eq!(restored.len(), 2);
    let req = restored.requester(Some(&b.id));
    let q = Query {
        text: "alise".into(),
        ..Query::default()
    };
    let avail = |_: &Participant| Availability::Available;
    assert_eq!(
        restored.resolve(&req, &q, &avail, 0).0,
        d.resolve(&req, &q, &avail, 0).0
    );
    assert_eq!(restored.proximity(&a.id, &b.id, 3), Some(1));
    assert_eq!(restored.experts("kubernetes", Expertise::Beginner).len(), 1);
}

#[tokio::test]
async fn contact_requests_follow_the_rules_expire_and_survive_a_restore() {
    use registrar_directory::contact::{ContactState, EXPIRY_MS};
    use registrar_directory::model::{ApprovalLevel, CrossOrgPolicy, Discoverability, OrgContext};
    let store = MemoryDirectoryStore::new();
    let mut d = Directory::new(MemorySearchIndex::new());
    let alice = person("alice", "Lab", "eu");
    let bob = person("bob", "Lab", "eu");
    let mut carol = person("carol", "Web", "us");
    carol.permissions.discoverability = Discoverability::Stealth;
    let mut dave = person("dave", "Ops", "eu");
    dave.org = Some(OrgContext {
        organization: "Ops".into(),
        cross_org: CrossOrgPolicy {
            allow_external_contact: false,
            approval: ApprovalLevel::default(),
            ..CrossOrgPolicy::default()
        },
        ..OrgContext::default()
    });
    let mut erin = person("erin", "Lab", "eu");
    erin.permissions.auto_accept.push(bob.id.clone());
    for p in [&alice, &bob, &carol, &dave, &erin] {
        store
            .apply(&d.put_participant(p.clone()).unwrap())
            .await
            .unwrap();
    }
    let bob_req = d.requester(Some(&bob.id));
    // Asking: pending, audited; asking again returns the same request.
    let (c, changes) = d
        .ask_contact(&bob_req, &alice.id, "about the paper", 1_000)
        .unwrap();
    assert_eq!((c.id, c.state), (1, ContactState::Pending));
    assert!(
        changes
            .iter()
            .any(|x| matches!(x, DirectoryChange::Audit(_)))
    );
    store.apply(&changes).await.unwrap();
    assert_eq!(
        d.ask_contact(&bob_req, &alice.id, "again", 2_000)
            .unwrap()
            .0
            .id,
        1
    );
    // Invisible: unknown; denied: refused with the reason; auto-accepted: approved at once.
    assert!(matches!(
        d.ask_contact(&bob_req, &carol.id, "", 0),
        Err(registrar_directory::Error::UnknownParticipant(_))
    ));
    assert!(matches!(
        d.ask_contact(&bob_req, &dave.id, "", 0),
        Err(registrar_directory::Error::Forbidden(_))
    ));
    let (e, changes) = d.ask_contact(&bob_req, &erin.id, "", 3_000).unwrap();
    assert_eq!(e.state, ContactState::Approved);
    store.apply(&changes).await.unwrap();
    assert!(
        d.ask_contact(&Requester::anonymous(), &alice.id, "", 0)
            .is_err()
    );
    assert!(d.ask_contact(&bob_req, &bob.id, "", 0).is_err());
    assert!(
        d.ask_contact(&bob_req, &alice.id, &"x".repeat(501), 0)
            .is_err()
    );
    // Only the recipient decides, once.
    assert!(d.decide_contact(&bob.id, 1, true, 4_000).is_err());
    let (c, changes) = d.decide_contact(&alice.id, 1, true, 4_000).unwrap();
    assert_eq!(c.state, ContactState::Approved);
    store.apply(&changes).await.unwrap();
    assert!(d.decide_contact(&alice.id, 1, false, 5_000).is_err());
    // A request nobody decides expires after 24 h.
    let alice_req = d.requester(Some(&alice.id));
    let (late, changes) = d.ask_contact(&alice_req, &bob.id, "", 10_000).unwrap();
    store.apply(&changes).await.unwrap();
    let later = 10_000 + EXPIRY_MS;
    assert!(matches!(
        d.decide_contact(&bob.id, late.id, true, later),
        Err(registrar_directory::Error::Forbidden(_))
    ));
    let listed = d.contact_requests(&bob.id, later);
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].state, ContactState::Expired);
    // Restored from the store: the same requests, and new ones get new numbers.
    let mut r = Directory::restore(MemorySearchIndex::new(), store.load().await.unwrap());
    assert_eq!(r.contact_requests(&bob.id, later), listed);
    let bob_req = r.requester(Some(&bob.id));
    let (n, _) = r.ask_contact(&bob_req, &alice.id, "", later).unwrap();
    assert_eq!(n.id, 4);
    // Erasure takes alice's requests with her.
    store
        .apply(&d.erase(None, &alice.id, later).unwrap())
        .await
        .unwrap();
    assert!(
        store
            .load()
            .await
            .unwrap()
            .contacts
            .iter()
            .all(|c| c.from != alice.id && c.to != alice.id)
    );
    assert_eq!(d.contact_requests(&bob.id, later).len(), 1);
}
