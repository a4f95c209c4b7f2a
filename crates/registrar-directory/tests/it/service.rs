//! `DirectoryService`: answers are audited in the store before they are returned, changes reach the store in
//! order, a store that refuses an audit entry refuses the answer, and one that refuses a change stops the
//! service (fail-stop) until it is rebuilt from the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use registrar_directory::audit::{AuditAction, AuditEntry, AuditParty};
use registrar_directory::model::{EntityType, Relationship, RelationshipKind};
use registrar_directory::{
    Availability, DirectoryChange, DirectoryService, DirectoryStore, Error, MemoryDirectoryStore,
    MemorySearchIndex, Participant, ParticipantId, Query, Snapshot,
};

fn id(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(local: &str) -> Participant {
    Participant::new(
        id(&format!("{local}@lab.example.com")),
        EntityType::Human,
        format!("{local} lab"),
    )
}

/// The memory store, with a switch that makes every write fail.
#[derive(Default)]
struct Flaky {
    inner: MemoryDirectoryStore,
    fail: AtomicBool,
}

#[async_trait]
impl DirectoryStore for Flaky {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), Error> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Storage("disk full".into()));
        }
        self.inner.apply(changes).await
    }
    async fn load(&self) -> Result<Snapshot, Error> {
        self.inner.load().await
    }
    async fn audit_of(&self, s: &ParticipantId, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        self.inner.audit_of(s, limit).await
    }
}

fn available(_: &Participant) -> Availability {
    Availability::Available
}

#[tokio::test]
async fn answers_are_audited_and_failures_stop_the_service() {
    let store = Arc::new(Flaky::default());
    let svc = DirectoryService::open(MemorySearchIndex::new(), store.clone())
        .await
        .unwrap();
    for n in ["alice", "bob"] {
        svc.put_participant(person(n)).await.unwrap();
    }
    let (alice, bob) = (id("alice@lab.example.com"), id("bob@lab.example.com"));
    svc.put_relationship(Relationship {
        from: alice.clone(),
        to: bob.clone(),
        kind: RelationshipKind::Friend,
        mutual: true,
    })
    .await
    .unwrap();
    let q = Query {
        text: "alice".into(),
        ..Query::default()
    };
    let r = svc.resolve(Some(&bob), &q, &available, 7).await.unwrap();
    assert_eq!(r.candidates().len(), 1);
    let log = svc.audit_of(&alice, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].actor, AuditParty::Participant(bob.clone()));
    assert_eq!(log[0].action, AuditAction::Discovered);
    // Export carries the trail, itself included.
    let e = svc.export(Some(&alice), &alice, 8).await.unwrap();
    assert_eq!(e.audit.len(), 2);
    assert_eq!(e.relationships.len(), 1);

    // The audit cannot be written: no answer, but the service goes on.
    store.fail.store(true, Ordering::SeqCst);
    assert!(svc.resolve(Some(&bob), &q, &available, 9).await.is_err());
    store.fail.store(false, Ordering::SeqCst);
    assert!(svc.view(Some(&bob), &alice, 10).await.unwrap().is_some());

    // A change cannot be written: memory is ahead of the store, so the service stops.
    store.fail.store(true, Ordering::SeqCst);
    assert!(svc.put_participant(person("carol")).await.is_err());
    store.fail.store(false, Ordering::SeqCst);
    let e = svc
        .resolve(Some(&bob), &q, &available, 11)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rebuild"), "{e}");
    // Rebuilt from the store: carol never happened.
    let svc = DirectoryService::open(MemorySearchIndex::new(), store.clone())
        .await
        .unwrap();
    assert_eq!(svc.with(|d| d.len()).unwrap(), 2);
    svc.erase(Some(&alice), &alice, 12).await.unwrap();
    assert!(svc.audit_of(&alice, 10).await.unwrap().is_empty());
    assert!(svc.view(Some(&bob), &alice, 13).await.unwrap().is_none());
}
