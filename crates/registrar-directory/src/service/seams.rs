//! Failures injected at the store seam with a mocked [`DirectoryStore`]: a refused change is an
//! [`Error::Storage`] (HTTP 503 with a JSON message and `Retry-After` at the server) and no later answer
//! comes from the unwritten state; a refused audit entry refuses that answer only; a store that cannot be
//! read refuses the start and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use mockall::mock;

use super::*;
use crate::MemorySearchIndex;
use crate::model::EntityType;
use crate::store::Snapshot;

mock! {
    Store {}
    #[async_trait]
    impl DirectoryStore for Store {
        async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), Error>;
        async fn load(&self) -> Result<Snapshot, Error>;
        async fn audit_of(&self, subject: &ParticipantId, limit: usize) -> Result<Vec<AuditEntry>, Error>;
    }
}

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

fn refused() -> Error {
    Error::Storage("disk full".into())
}

fn is_put(changes: &[DirectoryChange], local: &str) -> bool {
    matches!(changes, [DirectoryChange::PutParticipant(p)] if p.id == id(&format!("{local}@lab.example.com")))
}

/// A store holding `stored`, that accepts the writes `accept` approves and refuses the others.
fn store(stored: Vec<Participant>, accept: fn(&[DirectoryChange]) -> bool) -> MockStore {
    let mut s = MockStore::new();
    s.expect_load().returning(move || {
        Ok(Snapshot {
            participants: stored.clone(),
            ..Snapshot::default()
        })
    });
    s.expect_apply()
        .returning(move |c| if accept(c) { Ok(()) } else { Err(refused()) });
    s
}

async fn open(s: MockStore) -> DirectoryService<MemorySearchIndex> {
    DirectoryService::open(MemorySearchIndex::new(), Arc::new(s))
        .await
        .unwrap()
}

/// A change the store refuses: the write fails with [`Error::Storage`], every answer after it is refused
/// (memory is ahead of the store and must not be read), and the directory rebuilt from the store never saw
/// the change.
#[tokio::test]
async fn a_refused_change_is_never_answered_from() {
    let svc = open(store(vec![person("alice")], |c| !is_put(c, "carol"))).await;
    let alice = id("alice@lab.example.com");
    let carol = id("carol@lab.example.com");

    let err = svc.put_participant(person("carol")).await.unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
    for answer in [
        svc.view(Some(&alice), &carol, 1).await.map(|_| ()),
        svc.view(Some(&alice), &alice, 2).await.map(|_| ()),
        svc.contact_requests(&alice, 3).map(|_| ()),
        svc.put_participant(person("dave")).await,
    ] {
        assert!(matches!(answer, Err(Error::Storage(_))), "{answer:?}");
    }

    // Rebuilt from what the store holds: carol never happened.
    let svc = open(store(vec![person("alice")], |_| true)).await;
    assert!(svc.view(Some(&alice), &carol, 4).await.unwrap().is_none());
    assert!(svc.view(Some(&alice), &alice, 5).await.unwrap().is_some());
}

/// An audit entry the store refuses: that answer is refused (the audit log never misses a disclosure),
/// nothing else changes, and the next answer is given once the store accepts again.
#[tokio::test]
async fn a_refused_audit_entry_refuses_that_answer_only() {
    let mut s = MockStore::new();
    s.expect_load().returning(|| {
        Ok(Snapshot {
            participants: vec![person("alice"), person("bob")],
            ..Snapshot::default()
        })
    });
    let mut calls = 0;
    s.expect_apply().returning(move |c| {
        assert!(
            c.iter().all(|c| matches!(c, DirectoryChange::Audit(_))),
            "only audit entries are written here: {c:?}"
        );
        calls += 1;
        if calls == 1 { Err(refused()) } else { Ok(()) }
    });
    let svc = open(s).await;
    let (alice, bob) = (id("alice@lab.example.com"), id("bob@lab.example.com"));

    let err = svc.view(Some(&bob), &alice, 1).await.unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
    assert!(svc.view(Some(&bob), &alice, 2).await.unwrap().is_some());
}

/// A store that cannot be read: the directory does not start, and the audit log is refused.
#[tokio::test]
async fn a_store_that_cannot_be_read_refuses() {
    let mut s = MockStore::new();
    s.expect_load().returning(|| Err(refused()));
    let err = DirectoryService::open(MemorySearchIndex::new(), Arc::new(s))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");

    let mut s = store(vec![person("alice")], |_| true);
    s.expect_audit_of().returning(|_, _| Err(refused()));
    let svc = open(s).await;
    let err = svc
        .audit_of(&id("alice@lab.example.com"), 10)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Storage(_)), "{err}");
}
