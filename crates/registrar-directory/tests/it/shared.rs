//! Two directory instances on one shared store (as two server nodes on one PostgreSQL): for random
//! sequences of changes, each made through either instance, every answer of either instance, asked right
//! after the change was acknowledged, equals the answer of a single directory that saw every change in order.

use std::sync::Arc;

use proptest::prelude::*;
use registrar_directory::model::{
    Discoverability, EntityType, Expertise, Relationship, RelationshipKind, TopicRole,
    TopicSubscription, TrustCategory, TrustRating,
};
use registrar_directory::privacy::Requester;
use registrar_directory::{
    Availability, Directory, DirectoryService, MemoryDirectoryStore, MemorySearchIndex,
    Participant, ParticipantId, Query,
};

const N: usize = 5;
const NAMES: [&str; 3] = ["Alice Stone", "Alina Stone", "Bruno Keller"];

fn pid(i: usize) -> ParticipantId {
    ParticipantId::parse(&format!("p{i}@d{}.example", i % 2)).unwrap()
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        who: usize,
        name: usize,
        disc: u8,
        block: Option<usize>,
        grant: Option<usize>,
    },
    Relate {
        from: usize,
        to: usize,
    },
    Unrelate {
        from: usize,
        to: usize,
    },
    Rate {
        rater: usize,
        ratee: usize,
        score: u8,
    },
    Topic {
        who: usize,
    },
    Erase {
        who: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..N, 0..NAMES.len(), 0u8..4, proptest::option::of(0..N), proptest::option::of(0..N))
            .prop_map(|(who, name, disc, block, grant)| Op::Put { who, name, disc, block, grant }),
        2 => (0..N, 0..N).prop_map(|(from, to)| Op::Relate { from, to }),
        1 => (0..N, 0..N).prop_map(|(from, to)| Op::Unrelate { from, to }),
        1 => (0..N, 0..N, 0u8..=100).prop_map(|(rater, ratee, score)| Op::Rate { rater, ratee, score }),
        1 => (0..N).prop_map(|who| Op::Topic { who }),
        1 => (0..N).prop_map(|who| Op::Erase { who }),
    ]
}

fn participant(
    who: usize,
    name: usize,
    disc: u8,
    block: Option<usize>,
    grant: Option<usize>,
) -> Participant {
    let mut p = Participant::new(pid(who), EntityType::Human, NAMES[name]);
    p.permissions.discoverability = [
        Discoverability::Public,
        Discoverability::Unlisted,
        Discoverability::Private,
        Discoverability::Stealth,
    ][usize::from(disc)];
    p.permissions.blocked_ids = block.map(pid).into_iter().collect();
    p.permissions.auto_accept = grant.map(pid).into_iter().collect();
    p
}

/// Every answer that privacy decides on, for every requester: profile views, a name search, experts.
fn answers_of(d: &Directory<MemorySearchIndex>) -> String {
    let mut out = String::new();
    for asker in (0..N).map(Some).chain([None]) {
        let req: Requester = d.requester(asker.map(pid).as_ref());
        for target in 0..N {
            let (v, _) = d.view(&req, &pid(target), 0);
            out.push_str(&format!("{asker:?}→{target}: {v:?}\n"));
        }
        let q = Query {
            text: "Alice Stone".into(),
            ..Query::default()
        };
        let (r, _) = d.resolve(&req, &q, &|_| Availability::Available, 0);
        out.push_str(&format!(
            "{asker:?} search: {}\n",
            serde_json::to_string(&r).unwrap()
        ));
    }
    out
}

async fn apply_to_service(s: &DirectoryService<MemorySearchIndex>, op: &Op) -> bool {
    match op.clone() {
        Op::Put {
            who,
            name,
            disc,
            block,
            grant,
        } => s
            .put_participant(participant(who, name, disc, block, grant))
            .await
            .is_ok(),
        Op::Relate { from, to } => s
            .put_relationship(Relationship {
                from: pid(from),
                to: pid(to),
                kind: RelationshipKind::Friend,
                mutual: false,
            })
            .await
            .is_ok(),
        Op::Unrelate { from, to } => s.remove_relationship(&pid(from), &pid(to)).await.is_ok(),
        Op::Rate {
            rater,
            ratee,
            score,
        } => s
            .put_rating(TrustRating {
                rater: pid(rater),
                ratee: pid(ratee),
                category: TrustCategory::Overall,
                score,
            })
            .await
            .is_ok(),
        Op::Topic { who } => s
            .put_topic(TopicSubscription {
                participant: pid(who),
                topic: "rust".into(),
                role: TopicRole::Expert,
                expertise: Expertise::Expert,
                when_busy: false,
            })
            .await
            .is_ok(),
        Op::Erase { who } => s.erase(None, &pid(who), 0).await.is_ok(),
    }
}

fn apply_to_reference(d: &mut Directory<MemorySearchIndex>, op: &Op) -> bool {
    match op.clone() {
        Op::Put {
            who,
            name,
            disc,
            block,
            grant,
        } => d
            .put_participant(participant(who, name, disc, block, grant))
            .is_ok(),
        Op::Relate { from, to } => d
            .put_relationship(Relationship {
                from: pid(from),
                to: pid(to),
                kind: RelationshipKind::Friend,
                mutual: false,
            })
            .is_ok(),
        Op::Unrelate { from, to } => {
            d.remove_relationship(&pid(from), &pid(to));
            true
        }
        Op::Rate {
            rater,
            ratee,
            score,
        } => d
            .put_rating(TrustRating {
                rater: pid(rater),
                ratee: pid(ratee),
                category: TrustCategory::Overall,
                score,
            })
            .is_ok(),
        Op::Topic { who } => d
            .put_topic(TopicSubscription {
                participant: pid(who),
                topic: "rust".into(),
                role: TopicRole::Expert,
                expertise: Expertise::Expert,
                when_busy: false,
            })
            .is_ok(),
        Op::Erase { who } => d.erase(None, &pid(who), 0).is_ok(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn two_instances_on_one_store_answer_as_one_directory_that_saw_every_change(
        ops in proptest::collection::vec((op(), any::<bool>()), 1..24),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let store = Arc::new(MemoryDirectoryStore::new());
            let a = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&store)).await.unwrap();
            let b = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&store)).await.unwrap();
            let mut reference = Directory::new(MemorySearchIndex::new());
            for (op, through_a) in &ops {
                let (writer, other) = if *through_a { (&a, &b) } else { (&b, &a) };
                let ok = apply_to_service(writer, op).await;
                let want_ok = apply_to_reference(&mut reference, op);
                prop_assert_eq!(ok, want_ok, "{:?}", op);
                // Asked right after the acknowledgement, through either instance.
                let want = answers_of(&reference);
                for s in [other, writer] {
                    s.sync().await.unwrap();
                    let got = s.with(answers_of).unwrap();
                    prop_assert_eq!(&got, &want, "after {:?}", op);
                }
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn an_instance_catches_up_after_missing_notices_and_contact_ids_stay_unique() {
    let store = Arc::new(MemoryDirectoryStore::new());
    let a = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&store))
        .await
        .unwrap();
    let b = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&store))
        .await
        .unwrap();
    for i in 0..3 {
        a.put_participant(participant(i, 0, 0, None, None))
            .await
            .unwrap();
    }
    // B never waited for a notice: its next write applies A's changes first.
    let c1 = b.ask_contact(&pid(0), &pid(1), "hi", 0).await.unwrap();
    let c2 = a.ask_contact(&pid(2), &pid(1), "hi", 0).await.unwrap();
    assert_ne!(c1.id, c2.id, "two instances numbered two requests alike");
    b.sync().await.unwrap();
    assert_eq!(b.contact_requests(&pid(1), 0).unwrap().len(), 2);
    // A third instance started later loads the snapshot and the feed position together.
    let c = DirectoryService::open_shared(MemorySearchIndex::new, Arc::clone(&store))
        .await
        .unwrap();
    assert_eq!(c.applied(), a.applied());
    assert_eq!(c.with(|d| d.len()).unwrap(), 3);
}

/// An image of a directory, written and read back.
fn through_image(d: &Directory<MemorySearchIndex>) -> Directory<MemorySearchIndex> {
    let mut bytes = Vec::new();
    let header = registrar_directory::ImageHeader {
        origin: "test".into(),
        position: 7,
    };
    d.write_image(&mut bytes, &header).unwrap();
    let (back, h) = Directory::read_image(MemorySearchIndex::new(), &bytes).unwrap();
    assert_eq!(h, header);
    back
}

/// What an export tells about everyone (relationships, topics, ratings, contact requests).
fn exports_of(d: &Directory<MemorySearchIndex>) -> String {
    (0..N)
        .map(|i| format!("{:?}\n", d.export(None, &pid(i), 0).ok().map(|(e, _)| e)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A directory read from its image answers every question as the directory the image was taken from,
    /// and as one rebuilt from a store that saw the same changes.
    #[test]
    fn a_directory_read_from_its_image_answers_as_the_one_it_was_taken_from(
        ops in proptest::collection::vec(op(), 1..24),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async {
            let store = Arc::new(MemoryDirectoryStore::new());
            let s = DirectoryService::open(MemorySearchIndex::new(), store.clone()).await.unwrap();
            let mut reference = Directory::new(MemorySearchIndex::new());
            for op in &ops {
                apply_to_service(&s, op).await;
                apply_to_reference(&mut reference, op);
            }
            let back = through_image(&reference);
            prop_assert_eq!(answers_of(&back), answers_of(&reference));
            prop_assert_eq!(exports_of(&back), exports_of(&reference));
            let snapshot = registrar_directory::DirectoryStore::load(&*store).await.unwrap();
            let restored = Directory::restore(MemorySearchIndex::new(), snapshot);
            prop_assert_eq!(answers_of(&back), answers_of(&restored));
            prop_assert_eq!(exports_of(&back), exports_of(&restored));
            Ok(())
        })?;
    }
}
