//! Directory images: a service starts from one only when its store confirms it, refuses damaged ones,
//! catches up from a shared store's feed, and removes its image at an erasure.

use std::sync::Arc;

use registrar_directory::model::EntityType;
use registrar_directory::{
    DirectoryService, DirectoryStore, ImageUse, MemoryDirectoryStore, MemorySearchIndex,
    Participant, ParticipantId,
};

fn pid(s: &str) -> ParticipantId {
    ParticipantId::parse(s).unwrap()
}

fn person(id: &str, name: &str) -> Participant {
    Participant::new(pid(id), EntityType::Human, name)
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "registrar-image-{}-{name}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("directory.image")
}

fn names(s: &DirectoryService<MemorySearchIndex>) -> Vec<String> {
    let mut v = s
        .with(|d| {
            ["alice@a.example", "bob@a.example", "carol@a.example"]
                .iter()
                .filter_map(|i| d.participant(&pid(i)).map(|p| p.identities[0].name.clone()))
                .collect::<Vec<_>>()
        })
        .unwrap();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_starts_from_its_image_only_while_the_store_has_the_stamp_it_was_taken_at() {
    let store: Arc<MemoryDirectoryStore> = Arc::new(MemoryDirectoryStore::new());
    let path = temp("stamp");
    let s = DirectoryService::open(MemorySearchIndex::new(), store.clone())
        .await
        .unwrap();
    s.put_participant(person("alice@a.example", "Alice"))
        .await
        .unwrap();
    s.put_participant(person("bob@a.example", "Bob"))
        .await
        .unwrap();
    let header = s.write_image(&path).await.unwrap();
    assert_eq!(Some(header.origin), store.stamp().await.unwrap());
    let bytes = std::fs::read(&path).unwrap();

    let (again, used) =
        DirectoryService::open_with_image(MemorySearchIndex::new, store.clone(), Some(&bytes))
            .await
            .unwrap();
    assert_eq!(used, ImageUse::Used { replayed: 0 });
    assert_eq!(names(&again), ["Alice", "Bob"]);

    // One more change in the store: the image is stale, and memory comes from the store.
    s.put_participant(person("carol@a.example", "Carol"))
        .await
        .unwrap();
    let (fresh, used) =
        DirectoryService::open_with_image(MemorySearchIndex::new, store.clone(), Some(&bytes))
            .await
            .unwrap();
    assert!(matches!(used, ImageUse::Refused(_)), "{used:?}");
    assert_eq!(names(&fresh), ["Alice", "Bob", "Carol"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_truncated_image_is_refused_and_the_store_loaded() {
    let store: Arc<MemoryDirectoryStore> = Arc::new(MemoryDirectoryStore::new());
    let path = temp("damaged");
    let s = DirectoryService::open(MemorySearchIndex::new(), store.clone())
        .await
        .unwrap();
    s.put_participant(person("alice@a.example", "Alice"))
        .await
        .unwrap();
    s.write_image(&path).await.unwrap();
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for bad in [
        flipped,
        good[..good.len() - 9].to_vec(),
        b"not an image".to_vec(),
        Vec::new(),
    ] {
        let (d, used) =
            DirectoryService::open_with_image(MemorySearchIndex::new, store.clone(), Some(&bad))
                .await
                .unwrap();
        let ImageUse::Refused(why) = used else {
            panic!("a damaged image was used: {used:?}");
        };
        assert!(why.contains("directory image"), "{why}");
        assert_eq!(names(&d), ["Alice"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_instance_starts_from_its_image_and_applies_the_feed_after_it() {
    let store = Arc::new(MemoryDirectoryStore::new());
    let path = temp("shared");
    let a = DirectoryService::open_shared(MemorySearchIndex::new, store.clone())
        .await
        .unwrap();
    a.put_participant(person("alice@a.example", "Alice"))
        .await
        .unwrap();
    a.put_participant(person("bob@a.example", "Bob"))
        .await
        .unwrap();
    let header = a.write_image(&path).await.unwrap();
    assert_eq!(header.position, 2);
    let bytes = std::fs::read(&path).unwrap();
    // Another node changes the store after the image: a rename and a new participant.
    a.put_participant(person("bob@a.example", "Robert"))
        .await
        .unwrap();
    a.put_participant(person("carol@a.example", "Carol"))
        .await
        .unwrap();

    let (b, used) = DirectoryService::open_shared_with_image(
        MemorySearchIndex::new,
        store.clone(),
        Some(&bytes),
    )
    .await
    .unwrap();
    assert_eq!(used, ImageUse::Used { replayed: 2 });
    assert_eq!(b.applied(), a.applied());
    assert_eq!(names(&b), ["Alice", "Carol", "Robert"]);

    // An image of another store is refused.
    let other = Arc::new(MemoryDirectoryStore::new());
    let (c, used) =
        DirectoryService::open_shared_with_image(MemorySearchIndex::new, other, Some(&bytes))
            .await
            .unwrap();
    assert!(matches!(used, ImageUse::Refused(_)), "{used:?}");
    assert!(names(&c).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_removes_the_image_on_every_instance_that_applies_it() {
    let store = Arc::new(MemoryDirectoryStore::new());
    let (path_a, path_b) = (temp("erase-a"), temp("erase-b"));
    let a = DirectoryService::open_shared(MemorySearchIndex::new, store.clone())
        .await
        .unwrap();
    let b = DirectoryService::open_shared(MemorySearchIndex::new, store.clone())
        .await
        .unwrap();
    a.keep_image_at(&path_a);
    b.keep_image_at(&path_b);
    a.put_participant(person("alice@a.example", "Alice"))
        .await
        .unwrap();
    b.sync().await.unwrap();
    a.write_image(&path_a).await.unwrap();
    b.write_image(&path_b).await.unwrap();
    assert!(path_a.exists() && path_b.exists());
    // A rename keeps the images; an erasure through A removes A's at once and B's when B applies it.
    a.put_participant(person("alice@a.example", "Alicia"))
        .await
        .unwrap();
    b.sync().await.unwrap();
    assert!(path_a.exists() && path_b.exists());
    a.erase(None, &pid("alice@a.example"), 0).await.unwrap();
    assert!(!path_a.exists(), "the erasing instance kept its image");
    b.sync().await.unwrap();
    assert!(!path_b.exists(), "the other instance kept its image");
    assert_eq!(b.take_image_trouble(), None);
}
