//! The directory's stores: the embedded data file and the real PostgreSQL of `DATABASE_URL` (skipped, saying
//! so, when it is unset). Both run the same scenario: what the directory wrote comes back in a new process
//! (a reopened file, a new pool) and answers the same; "who looked me up" reads the audit log newest first;
//! an erasure leaves nothing of the participant but a tombstone.

use std::sync::Arc;

use registrar_directory::audit::{AuditAction, AuditParty};
use registrar_directory::model::{
    EntityType, Expertise, Relationship, RelationshipKind, TopicRole, TopicSubscription,
    TrustCategory, TrustRating,
};
use registrar_directory::priority::{Priority, PrioritySettings};
use registrar_directory::{
    Availability, Directory, DirectoryStore, MemoryDirectoryStore, MemorySearchIndex, Participant,
    ParticipantId, Query, Snapshot,
};
use registrar_storage::{EmbeddedDirectoryStore, Journal, PostgresDirectoryStore};

use super::TempDir;

fn id(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(local: &str) -> Participant {
    let mut p = Participant::new(
        id(&format!("{local}@lab.example.com")),
        EntityType::Human,
        format!("{local} example"),
    );
    p.identities[0].organization = Some("Lab".into());
    p.identities[0].email = Some(format!("{local}@lab.example.com"));
    p
}

fn sorted(mut s: Snapshot) -> Snapshot {
    s.participants.sort_by(|a, b| a.id.cmp(&b.id));
    s.relationships
        .sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
    s.topics
        .sort_by(|a, b| (&a.participant, &a.topic).cmp(&(&b.participant, &b.topic)));
    s.ratings
        .sort_by(|a, b| (&a.rater, &a.ratee, a.category).cmp(&(&b.rater, &b.ratee, b.category)));
    s.priorities
        .sort_by(|a, b| a.participant.cmp(&b.participant));
    s.contacts.sort_by_key(|c| c.id);
    s
}

/// Write a small directory through `store`; returns the directory as the writer holds it.
async fn write(store: &dyn DirectoryStore) -> Directory<MemorySearchIndex> {
    let mut d = Directory::new(MemorySearchIndex::new());
    let names = ["alice", "bob", "carol", "dave"];
    for n in names {
        store
            .apply(&d.put_participant(person(n)).unwrap())
            .await
            .unwrap();
    }
    let pid = |n: &str| id(&format!("{n}@lab.example.com"));
    for (a, b, kind) in [
        ("alice", "bob", RelationshipKind::Colleague),
        ("carol", "alice", RelationshipKind::Boss),
        ("bob", "dave", RelationshipKind::Friend),
    ] {
        let r = Relationship {
            from: pid(a),
            to: pid(b),
            kind,
            mutual: true,
        };
        store.apply(&d.put_relationship(r).unwrap()).await.unwrap();
    }
    for (a, b) in [("alice", "bob"), ("bob", "alice"), ("dave", "bob")] {
        let r = TrustRating {
            rater: pid(a),
            ratee: pid(b),
            category: TrustCategory::Reliability,
            score: 80,
        };
        store.apply(&d.put_rating(r).unwrap()).await.unwrap();
    }
    let t = TopicSubscription {
        participant: pid("alice"),
        topic: "Storage".into(),
        role: TopicRole::Expert,
        expertise: Expertise::Expert,
        when_busy: false,
    };
    store.apply(&d.put_topic(t).unwrap()).await.unwrap();
    let mut s = PrioritySettings::new(pid("alice"));
    s.default = Priority::Low;
    s.emergency_keywords.push("sev1".into());
    store.apply(&d.put_priority(s).unwrap()).await.unwrap();
    // A relationship that comes and goes.
    let r = Relationship {
        from: pid("dave"),
        to: pid("carol"),
        kind: RelationshipKind::Acquaintance,
        mutual: false,
    };
    store.apply(&d.put_relationship(r).unwrap()).await.unwrap();
    store
        .apply(&d.remove_relationship(&pid("dave"), &pid("carol")))
        .await
        .unwrap();
    // Lookups of alice by bob (search), carol (view) and an anonymous requester (view); alice views dave.
    let q = Query {
        text: "alice".into(),
        ..Query::default()
    };
    let (_, audit) = d.resolve(
        &d.requester(Some(&pid("bob"))),
        &q,
        &|_| Availability::Available,
        100,
    );
    assert_eq!(audit.len(), 1);
    store.apply(&audit).await.unwrap();
    store
        .apply(
            &d.view(&d.requester(Some(&pid("carol"))), &pid("alice"), 200)
                .1,
        )
        .await
        .unwrap();
    store
        .apply(&d.view(&d.requester(None), &pid("alice"), 300).1)
        .await
        .unwrap();
    store
        .apply(
            &d.view(&d.requester(Some(&pid("alice"))), &pid("dave"), 400)
                .1,
        )
        .await
        .unwrap();
    // Contact requests: alice asks dave, dave asks bob (and bob approves).
    for (from, to, at) in [("alice", "dave", 450), ("dave", "bob", 460)] {
        let req = d.requester(Some(&pid(from)));
        let (_, changes) = d.ask_contact(&req, &pid(to), "hello", at).unwrap();
        store.apply(&changes).await.unwrap();
    }
    let (_, changes) = d.decide_contact(&pid("bob"), 2, true, 470).unwrap();
    store.apply(&changes).await.unwrap();
    d
}

/// What `write` left, read back through `store` (a new process's view).
async fn check_written(store: &dyn DirectoryStore, reference: &Snapshot) {
    let alice = id("alice@lab.example.com");
    let loaded = sorted(store.load().await.unwrap());
    assert_eq!(&loaded, reference);
    assert_eq!(loaded.participants.len(), 4);
    assert_eq!(loaded.relationships.len(), 3);
    assert_eq!(loaded.ratings.len(), 3);
    assert_eq!(loaded.topics[0].topic, "storage");
    assert_eq!(loaded.contacts.len(), 2);
    assert_eq!(
        loaded.contacts[1].state,
        registrar_directory::contact::ContactState::Approved
    );
    let log = store.audit_of(&alice, 10).await.unwrap();
    let who: Vec<(AuditParty, AuditAction, u64)> = log
        .iter()
        .map(|e| (e.actor.clone(), e.action, e.at_ms))
        .collect();
    assert_eq!(
        who,
        [
            (AuditParty::Anonymous, AuditAction::ProfileView, 300),
            (
                AuditParty::Participant(id("carol@lab.example.com")),
                AuditAction::ProfileView,
                200
            ),
            (
                AuditParty::Participant(id("bob@lab.example.com")),
                AuditAction::Discovered,
                100
            ),
        ]
    );
    assert_eq!(store.audit_of(&alice, 1).await.unwrap().len(), 1);
    // The restored directory answers as the writer did.
    let d = Directory::restore(MemorySearchIndex::new(), loaded.clone());
    let bob = id("bob@lab.example.com");
    assert_eq!(d.proximity(&bob, &id("carol@lab.example.com"), 3), Some(2));
    assert_eq!(d.experts("storage", Expertise::Beginner).len(), 1);
    assert_eq!(d.priority_settings(&alice).default, Priority::Low);
}

/// Erase alice through `store` and check that only tombstones remain.
async fn erase_and_check(
    mut d: Directory<MemorySearchIndex>,
    store: &dyn DirectoryStore,
) -> Snapshot {
    let alice = id("alice@lab.example.com");
    let changes = d.erase(Some(&alice), &alice, 500).unwrap();
    store.apply(&changes).await.unwrap();
    let after = sorted(store.load().await.unwrap());
    assert!(!format!("{after:?}").contains("alice"), "{after:?}");
    assert_eq!(after.participants.len(), 3);
    assert_eq!(after.relationships.len(), 1, "only bob → dave stays");
    assert_eq!(after.ratings.len(), 1, "only dave → bob stays");
    assert!(after.topics.is_empty() && after.priorities.is_empty());
    assert!(store.audit_of(&alice, 10).await.unwrap().is_empty());
    // Alice's view of dave and her contact request name her tombstone now; her request is gone.
    let dave = store
        .audit_of(&id("dave@lab.example.com"), 10)
        .await
        .unwrap();
    assert_eq!(dave.len(), 2);
    assert!(
        dave.iter()
            .all(|e| e.actor == AuditParty::tombstone(&alice))
    );
    assert_eq!(after.contacts.len(), 1, "only dave → bob stays");
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_directory_survives_a_reopen_and_erases_completely() {
    let dir = TempDir::new("directory");
    let memory = MemoryDirectoryStore::new();
    write(&memory).await;
    let reference = sorted(memory.load().await.unwrap());
    {
        let j = Arc::new(Journal::open(dir.path()).unwrap());
        let store = EmbeddedDirectoryStore::open(j.clone()).await.unwrap();
        write(&store).await;
        check_written(&store, &reference).await;
    }
    // A new process: the file and its logs.
    let j = Arc::new(Journal::open(dir.path()).unwrap());
    let store = EmbeddedDirectoryStore::open(j.clone()).await.unwrap();
    check_written(&store, &reference).await;
    let d = Directory::restore(MemorySearchIndex::new(), store.load().await.unwrap());
    let after = erase_and_check(d, &store).await;
    // New audit entries after a reopen continue the sequence (newest first still holds).
    store
        .apply(
            &Directory::restore(MemorySearchIndex::new(), after.clone())
                .view(&Default::default(), &id("dave@lab.example.com"), 600)
                .1,
        )
        .await
        .unwrap();
    drop(store);
    drop(j);
    let j = Arc::new(Journal::open(dir.path()).unwrap());
    let store = EmbeddedDirectoryStore::open(j).await.unwrap();
    assert_eq!(sorted(store.load().await.unwrap()), after);
    let dave = store
        .audit_of(&id("dave@lab.example.com"), 10)
        .await
        .unwrap();
    assert_eq!(
        dave.iter().map(|e| e.at_ms).collect::<Vec<_>>(),
        [600, 450, 400]
    );
    // The memory store agrees on the erasure.
    let d = Directory::restore(MemorySearchIndex::new(), reference.clone());
    assert_eq!(erase_and_check(d, &memory).await, after);
}

async fn postgres(test: &str) -> Option<(String, String)> {
    let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        super::skipped(test, "DATABASE_URL is not set (.ci/run sets it)");
        return None;
    };
    // A schema of its own, so parallel runs and reruns do not meet.
    let schema = format!(
        "registrar_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    Some((
        format!("{url}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    ))
}

async fn drop_schema(schema: &str) {
    let url = std::env::var("DATABASE_URL").unwrap();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_directory_migrates_survives_a_new_pool_and_erases_completely() {
    let Some((url, schema)) = postgres("the PostgreSQL directory test").await else {
        return;
    };
    let memory = MemoryDirectoryStore::new();
    write(&memory).await;
    let reference = sorted(memory.load().await.unwrap());
    {
        let store = PostgresDirectoryStore::connect(&url, 2).await.unwrap();
        write(&store).await;
        check_written(&store, &reference).await;
    }
    // A new pool (another node, or a restart); migrations already applied are skipped.
    let store = PostgresDirectoryStore::connect(&url, 2).await.unwrap();
    check_written(&store, &reference).await;
    // The audit log is append-only outside an erasure.
    let refused = sqlx::query("UPDATE directory_audit SET at_ms = 0")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    let refused = sqlx::query("DELETE FROM directory_audit")
        .execute(store.pool())
        .await;
    assert!(refused.is_err());
    let d = Directory::restore(MemorySearchIndex::new(), store.load().await.unwrap());
    let after = erase_and_check(d, &store).await;
    // A failed change list leaves nothing behind: a relationship to a participant that is not stored.
    let ghost = Relationship {
        from: id("bob@lab.example.com"),
        to: id("ghost@lab.example.com"),
        kind: RelationshipKind::Friend,
        mutual: false,
    };
    let changes = [
        registrar_directory::DirectoryChange::PutParticipant(Box::new(person("erin"))),
        registrar_directory::DirectoryChange::PutRelationship(ghost),
    ];
    assert!(store.apply(&changes).await.is_err());
    assert_eq!(sorted(store.load().await.unwrap()), after);
    drop(store);
    drop_schema(&schema).await;
}

#[tokio::test]
async fn postgres_that_cannot_be_reached_is_a_clear_error() {
    let e = PostgresDirectoryStore::connect("postgres://nobody@127.0.0.1:1/none", 1)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("postgres: postgres://nobody@127.0.0.1:1/none"),
        "{e}"
    );
}

/// Two directory instances on one PostgreSQL schema, as two nodes: a change acknowledged by one is in the
/// other's very next answer; the feed's notice wakes a follower; an erasure leaves no data of the erased in
/// the feed; a node whose feed position was pruned reloads; contact request numbers stay unique.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_feed_keeps_two_instances_in_step() {
    use registrar_directory::{DirectoryService, SharedStore};
    let Some((url, schema)) = postgres("the PostgreSQL feed test").await else {
        return;
    };
    let a_store = Arc::new(PostgresDirectoryStore::connect(&url, 2).await.unwrap());
    let b_store = Arc::new(PostgresDirectoryStore::connect(&url, 2).await.unwrap());
    let a = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&a_store))
        .await
        .unwrap();
    let b = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&b_store))
        .await
        .unwrap();
    for n in ["alice", "bob", "carol"] {
        a.put_participant(person(n)).await.unwrap();
    }
    // B's next read sees them (the barrier reads the feed's head).
    b.sync().await.unwrap();
    assert_eq!(b.with(|d| d.len()).unwrap(), 3);
    // A block made through B holds on A at once.
    let mut alice = person("alice");
    alice
        .permissions
        .blocked_ids
        .push(id("bob@lab.example.com"));
    b.put_participant(alice).await.unwrap();
    a.sync().await.unwrap();
    assert!(
        a.view(
            Some(&id("bob@lab.example.com")),
            &id("alice@lab.example.com"),
            1
        )
        .await
        .unwrap()
        .is_none()
    );
    // A follower waiting for the notice wakes when the other commits (the first wait opens the listening
    // connection; notices that arrive between waits queue on it).
    b_store.wait(std::time::Duration::from_millis(100)).await;
    let waiter = {
        let store = Arc::clone(&b_store);
        tokio::spawn(async move {
            let t = std::time::Instant::now();
            store.wait(std::time::Duration::from_secs(30)).await;
            t.elapsed()
        })
    };
    a.put_participant(person("dave")).await.unwrap();
    let waited = waiter.await.unwrap();
    assert!(waited < std::time::Duration::from_secs(30), "no notice");
    // Contact requests made through both get distinct numbers.
    let c1 = a
        .ask_contact(
            &id("carol@lab.example.com"),
            &id("dave@lab.example.com"),
            "",
            5,
        )
        .await
        .unwrap();
    let c2 = b
        .ask_contact(
            &id("bob@lab.example.com"),
            &id("dave@lab.example.com"),
            "",
            5,
        )
        .await
        .unwrap();
    assert_ne!(c1.id, c2.id);
    // An erasure through B: gone on A, and nothing of dave left in the feed.
    b.erase(None, &id("dave@lab.example.com"), 9).await.unwrap();
    a.sync().await.unwrap();
    assert!(
        a.with(|d| d.participant(&id("dave@lab.example.com")).is_none())
            .unwrap()
    );
    let feed = a_store.changes_after(0).await.unwrap().unwrap();
    let text = serde_json::to_string(&feed.iter().map(|e| &e.changes).collect::<Vec<_>>()).unwrap();
    let mentions = text.matches("dave@lab.example.com").count();
    // Only the erasure itself names dave (until the feed prunes it).
    assert_eq!(mentions, 1, "{text}");
    // A node whose position was pruned reloads everything and agrees.
    let c = DirectoryService::open_shared(
        MemorySearchIndex::new,
        Arc::new(PostgresDirectoryStore::connect(&url, 2).await.unwrap()),
    )
    .await
    .unwrap();
    let before = c.applied().unwrap();
    a.put_participant(person("erin")).await.unwrap();
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!(
        "UPDATE {schema}.directory_feed_state SET pruned_through = (SELECT max(seq) FROM {schema}.directory_feed)"
    ))
    .execute(&admin)
    .await
    .unwrap();
    b.sync().await.unwrap();
    c.sync().await.unwrap();
    for s in [&a, &b, &c] {
        assert_eq!(s.with(|d| d.len()).unwrap(), 4);
    }
    assert!(c.applied().unwrap() > before);
    drop((a, b, c, a_store, b_store));
    drop_schema(&schema).await;
}

/// A batch with runs of participants, relationships and topics (an import) is written in bulk, and reads
/// back as the memory store has it: a key that comes twice in a run keeps its last record, and the runs keep
/// their order (a relationship after the participants it names).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_bulk_runs_read_back_as_one_change_at_a_time() {
    use registrar_directory::DirectoryChange as C;
    let Some((url, schema)) = postgres("the PostgreSQL bulk write test").await else {
        return;
    };
    let pid = |n: &str| id(&format!("{n}@lab.example.com"));
    let mut renamed = person("alice");
    renamed.identities[0].name = "Alice Renamed".into();
    let rel = |a: &str, b: &str, kind| {
        C::PutRelationship(Relationship {
            from: pid(a),
            to: pid(b),
            kind,
            mutual: false,
        })
    };
    let topic = |who: &str, t: &str, expert: bool| {
        C::PutTopic(registrar_directory::model::TopicSubscription {
            participant: pid(who),
            topic: t.into(),
            role: if expert {
                registrar_directory::model::TopicRole::Expert
            } else {
                registrar_directory::model::TopicRole::Interested
            },
            expertise: registrar_directory::model::Expertise::Advanced,
            when_busy: false,
        })
    };
    let batch = vec![
        C::PutParticipant(Box::new(person("alice"))),
        C::PutParticipant(Box::new(person("bob"))),
        C::PutParticipant(Box::new(renamed)),
        C::PutParticipant(Box::new(person("carol"))),
        rel("alice", "bob", RelationshipKind::Colleague),
        rel("bob", "carol", RelationshipKind::Friend),
        rel("alice", "bob", RelationshipKind::Friend),
        topic("alice", "sip", false),
        topic("alice", "sip", true),
        topic("bob", "rust", false),
    ];
    let memory = MemoryDirectoryStore::new();
    memory.apply(&batch).await.unwrap();
    let store = PostgresDirectoryStore::connect(&url, 2).await.unwrap();
    store.apply(&batch).await.unwrap();
    let got = sorted(store.load().await.unwrap());
    assert_eq!(got, sorted(memory.load().await.unwrap()));
    let alice = got
        .participants
        .iter()
        .find(|p| p.id == pid("alice"))
        .unwrap();
    assert_eq!(alice.identities[0].name, "Alice Renamed");
    assert_eq!(got.relationships.len(), 2);
    drop(store);
    drop_schema(&schema).await;
}
