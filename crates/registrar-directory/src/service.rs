//! [`DirectoryService`]: the directory with its store, ready for a server or a SIP stack to share between
//! tasks. Every answer's audit entries and every change are written to the store before the answer is
//! returned; reads run concurrently, changes one at a time in the order the store sees them.
//!
//! Failure is fail-stop, like the registrar's embedded store: when the store refuses a change that memory
//! already made, the service refuses everything after it ([`Error::Storage`]) until it is rebuilt from the
//! store ([`DirectoryService::open`]), so it never answers from state a restart would lose. An answer whose
//! audit entries cannot be written is refused too: the audit log never misses a disclosure.
//!
//! On a store several instances share ([`DirectoryService::open_shared`], a [`SharedStore`]), memory follows
//! the store's change feed. Writes take the store's write lock, apply what other instances committed first,
//! then commit one feed entry, so every instance applies the same changes in the same order. Reads wait for
//! [`DirectoryService::sync`]: the instance first applies every entry committed before the read began, so
//! once any instance acknowledged a change, no instance answers a later request from older data. A shared
//! instance that failed rebuilds itself from the store at its next read or write (no restart needed); while
//! the store is unreachable, everything is refused ([`Error::Storage`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::Error;
use crate::audit::AuditEntry;
use crate::contact::ContactRequest;
use crate::directory::{
    Availability, Candidate, Directory, DirectoryChange, ExpertQuery, Export, Gathered, Query,
    Resolution,
};
use crate::model::{Participant, ParticipantId, Relationship, TopicSubscription, TrustRating};
use crate::priority::{Message, PriorityDecision, PrioritySettings};
use crate::privacy::{ParticipantView, Permission};
use crate::search::SearchIndex;
use crate::store::{DirectoryStore, FeedEntry, SharedStore};

/// Presence as the directory needs it: a participant's live availability.
pub type Presence = dyn Fn(&Participant) -> Availability + Send + Sync;

/// Builds an empty search index (a shared instance rebuilds its directory after a failure).
pub type IndexFactory<I> = dyn Fn() -> I + Send + Sync;

/// The directory and its store, shared.
pub struct DirectoryService<I: SearchIndex> {
    dir: RwLock<Directory<I>>,
    store: Arc<dyn DirectoryStore>,
    /// Serializes changes, so the store sees them in memory's order.
    writer: tokio::sync::Mutex<()>,
    failed: AtomicBool,
    shared: Option<Shared<I>>,
    /// Where this instance keeps its image, removed at every erasure ([`Self::keep_image_at`]).
    image: std::sync::Mutex<Option<std::path::PathBuf>>,
    image_trouble: std::sync::Mutex<Option<String>>,
    /// Changes applied to memory since start (this instance's and, shared, other instances').
    changed: AtomicU64,
}

/// What became of an image offered at start ([`DirectoryService::open_with_image`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageUse {
    /// No image was offered.
    None,
    /// Memory comes from the image, then `replayed` feed entries committed after it.
    Used {
        /// Feed entries applied after the image.
        replayed: usize,
    },
    /// The image was not used (the reason); memory comes from the store.
    Refused(String),
}

/// What an instance on a shared store keeps to follow it.
struct Shared<I> {
    store: Arc<dyn SharedStore>,
    new_index: Box<IndexFactory<I>>,
    /// The feed position memory reflects.
    applied: AtomicU64,
    /// Read barriers: tickets handed out, and the highest ticket a finished catch-up covers.
    tickets: AtomicU64,
    covered: AtomicU64,
    /// One catch-up at a time; readers that arrive meanwhile wait for the next.
    syncing: tokio::sync::Mutex<()>,
}

impl<I: SearchIndex> std::fmt::Debug for DirectoryService<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryService")
            .field("failed", &self.failed.load(Ordering::Relaxed))
            .field(
                "applied",
                &self
                    .shared
                    .as_ref()
                    .map(|s| s.applied.load(Ordering::Relaxed)),
            )
            .finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Storage("directory lock poisoned".into())
}

impl<I: SearchIndex> DirectoryService<I> {
    /// The directory as `store` holds it, indexed by `index`.
    ///
    /// # Errors
    /// [`Error::Storage`]: the store cannot be read.
    pub async fn open(index: I, store: Arc<dyn DirectoryStore>) -> Result<Self, Error> {
        let snapshot = store.load().await?;
        Ok(Self {
            dir: RwLock::new(Directory::restore(index, snapshot)),
            store,
            writer: tokio::sync::Mutex::new(()),
            failed: AtomicBool::new(false),
            shared: None,
            image: std::sync::Mutex::new(None),
            image_trouble: std::sync::Mutex::new(None),
            changed: AtomicU64::new(0),
        })
    }

    /// The directory as a store that other instances share holds it (see the module's documentation):
    /// memory follows the store's feed from the position of the snapshot loaded. `new_index` builds the
    /// empty index of a rebuild.
    ///
    /// # Errors
    /// [`Error::Storage`]: the store cannot be read.
    pub async fn open_shared<S>(
        new_index: impl Fn() -> I + Send + Sync + 'static,
        store: Arc<S>,
    ) -> Result<Self, Error>
    where
        S: DirectoryStore + SharedStore + 'static,
    {
        let (snapshot, seq) = store.load_at().await?;
        let dir = Directory::restore(new_index(), snapshot);
        let shared: Arc<dyn SharedStore> = store.clone();
        Ok(Self {
            dir: RwLock::new(dir),
            store,
            writer: tokio::sync::Mutex::new(()),
            failed: AtomicBool::new(false),
            shared: Some(Shared {
                store: shared,
                new_index: Box::new(new_index),
                applied: AtomicU64::new(seq),
                tickets: AtomicU64::new(0),
                covered: AtomicU64::new(0),
                syncing: tokio::sync::Mutex::new(()),
            }),
            image: std::sync::Mutex::new(None),
            image_trouble: std::sync::Mutex::new(None),
            changed: AtomicU64::new(0),
        })
    }

    /// [`Self::open`], starting from `image` (the bytes of a file [`Self::write_image`] wrote) when the
    /// store still has the stamp the image was taken with ([`DirectoryStore::stamp`]); otherwise, or when
    /// the image is damaged, from the store as [`Self::open`] does. Says which.
    ///
    /// # Errors
    /// [`Error::Storage`]: the store cannot be read.
    pub async fn open_with_image(
        new_index: impl Fn() -> I,
        store: Arc<dyn DirectoryStore>,
        image: Option<&[u8]>,
    ) -> Result<(Self, ImageUse), Error> {
        let mut used = ImageUse::None;
        if let Some(bytes) = image {
            let stamp = store.stamp().await?;
            used = match (crate::image_header(bytes), stamp) {
                (Err(e), _) => ImageUse::Refused(e.to_string()),
                (Ok(_), None) => ImageUse::Refused("the store keeps no stamp".into()),
                (Ok(h), Some(s)) if h.origin != s => {
                    ImageUse::Refused(format!("taken at {}, the store is now at {s}", h.origin))
                }
                (Ok(_), Some(_)) => match Directory::read_image(new_index(), bytes) {
                    Ok((dir, _)) => {
                        let me = Self::from_parts(dir, store, None);
                        return Ok((me, ImageUse::Used { replayed: 0 }));
                    }
                    Err(e) => ImageUse::Refused(e.to_string()),
                },
            };
        }
        Ok((Self::open(new_index(), store).await?, used))
    }

    /// [`Self::open_shared`], starting from `image` when it was taken from this store
    /// ([`SharedStore::origin`]) and the feed still holds every entry committed after it, which are then
    /// applied; otherwise, or when the image is damaged, from the store. Says which.
    ///
    /// # Errors
    /// [`Error::Storage`]: the store cannot be read.
    pub async fn open_shared_with_image<S>(
        new_index: impl Fn() -> I + Send + Sync + 'static,
        store: Arc<S>,
        image: Option<&[u8]>,
    ) -> Result<(Self, ImageUse), Error>
    where
        S: DirectoryStore + SharedStore + 'static,
    {
        let Some(bytes) = image else {
            return Ok((Self::open_shared(new_index, store).await?, ImageUse::None));
        };
        let refused = match crate::image_header(bytes) {
            Err(e) => e.to_string(),
            Ok(h) => {
                let origin = store.origin().await?;
                let head = store.head().await?;
                if h.origin != origin {
                    format!("taken from {}, the store is {origin}", h.origin)
                } else if h.position > head {
                    format!(
                        "taken at feed position {}, ahead of the store's {head}",
                        h.position
                    )
                } else {
                    match store.changes_after(h.position).await? {
                        None => format!(
                            "the feed no longer holds the entries after position {}",
                            h.position
                        ),
                        Some(entries) => match Directory::read_image(new_index(), bytes) {
                            Err(e) => e.to_string(),
                            Ok((dir, _)) => {
                                let shared: Arc<dyn SharedStore> = store.clone();
                                let me = Self::from_parts(
                                    dir,
                                    store,
                                    Some(Shared {
                                        store: shared,
                                        new_index: Box::new(new_index),
                                        applied: AtomicU64::new(h.position),
                                        tickets: AtomicU64::new(0),
                                        covered: AtomicU64::new(0),
                                        syncing: tokio::sync::Mutex::new(()),
                                    }),
                                );
                                if let Some(sh) = &me.shared {
                                    me.apply_feed(sh, &entries)?;
                                }
                                let replayed = entries.len();
                                return Ok((me, ImageUse::Used { replayed }));
                            }
                        },
                    }
                }
            }
        };
        Ok((
            Self::open_shared(new_index, store).await?,
            ImageUse::Refused(refused),
        ))
    }

    fn from_parts(
        dir: Directory<I>,
        store: Arc<dyn DirectoryStore>,
        shared: Option<Shared<I>>,
    ) -> Self {
        Self {
            dir: RwLock::new(dir),
            store,
            writer: tokio::sync::Mutex::new(()),
            failed: AtomicBool::new(false),
            shared,
            image: std::sync::Mutex::new(None),
            image_trouble: std::sync::Mutex::new(None),
            changed: AtomicU64::new(0),
        }
    }

    /// Keep this instance's image at `path`: the file is removed as soon as this instance applies an
    /// erasure (its own or, on a shared store, another instance's), so that an erased participant's data
    /// does not outlive the erasure on disk; the next [`Self::write_image`] writes a new one.
    pub fn keep_image_at(&self, path: impl Into<std::path::PathBuf>) {
        if let Ok(mut p) = self.image.lock() {
            *p = Some(path.into());
        }
    }

    /// Write an image of memory to `path` (through a temporary file beside it, synced, then renamed), with
    /// the header the store confirms at the next start: the feed position on a shared store, the store's
    /// stamp otherwise. Changes wait while it writes; reads go on.
    ///
    /// # Errors
    /// [`Error::Invalid`]: the store keeps no stamp; [`Error::Storage`]: the store or the file failed.
    pub async fn write_image(&self, path: &std::path::Path) -> Result<crate::ImageHeader, Error> {
        let _order = self.writer.lock().await;
        let header = match &self.shared {
            Some(sh) => crate::ImageHeader {
                origin: sh.store.origin().await?,
                position: sh.applied.load(Ordering::Acquire),
            },
            None => crate::ImageHeader {
                origin: self.store.stamp().await?.ok_or_else(|| {
                    Error::Invalid("this directory store keeps no stamp for images".into())
                })?,
                position: 0,
            },
        };
        let write = || -> Result<(), Error> {
            let io = |e: std::io::Error| Error::Storage(format!("{}: {e}", path.display()).into());
            let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
            let file = std::fs::File::create(&tmp).map_err(io)?;
            {
                let d = self.read()?;
                d.write_image(&file, &header).map_err(io)?;
            }
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, path).map_err(io)
        };
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(write)?,
            _ => write()?,
        }
        Ok(header)
    }

    /// How many changes memory applied since this instance started (a rebuild counts as one): what an
    /// image writer compares to know whether anything changed since its last image.
    pub fn changes_applied(&self) -> u64 {
        self.changed.load(Ordering::Relaxed)
    }

    /// Remove the kept image when `changes` erase someone.
    fn forget_image_on_erasure(&self, changes: &[DirectoryChange]) {
        if !changes
            .iter()
            .any(|c| matches!(c, DirectoryChange::EraseParticipant(_)))
        {
            return;
        }
        let Ok(p) = self.image.lock() else { return };
        if let Some(path) = &*p
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
            && let Ok(mut t) = self.image_trouble.lock()
        {
            *t = Some(format!(
                "{}: not removed after an erasure: {e}",
                path.display()
            ));
        }
    }

    /// Why the kept image could not be removed after an erasure, once (the server logs it and writes a new
    /// image, which replaces it).
    pub fn take_image_trouble(&self) -> Option<String> {
        self.image_trouble.lock().ok().and_then(|mut t| t.take())
    }

    /// The feed position memory reflects (`None` unless the store is shared).
    pub fn applied(&self) -> Option<u64> {
        self.shared
            .as_ref()
            .map(|s| s.applied.load(Ordering::Acquire))
    }

    /// Bring memory up to every change committed to a shared store before this call (a read barrier; see
    /// the module's documentation); rebuild from the store when an earlier failure stopped the service.
    /// Without a shared store: whether the service is running.
    ///
    /// # Errors
    /// [`Error::Storage`]: the store cannot be read, or the service stopped.
    pub async fn sync(&self) -> Result<(), Error> {
        let Some(sh) = &self.shared else {
            return self.check();
        };
        let ticket = sh.tickets.fetch_add(1, Ordering::AcqRel) + 1;
        loop {
            if sh.covered.load(Ordering::Acquire) >= ticket {
                return self.check();
            }
            let _one = sh.syncing.lock().await;
            if sh.covered.load(Ordering::Acquire) >= ticket {
                return self.check();
            }
            // Every ticket handed out before the store is read is covered by what it returns.
            let covers = sh.tickets.load(Ordering::Acquire);
            self.catch_up(sh).await?;
            sh.covered.fetch_max(covers, Ordering::AcqRel);
        }
    }

    /// Wait until a shared store may have a change this instance has not applied (a notice from the store),
    /// at most `timeout`; at once without a shared store. A follower task calls this, then [`Self::sync`].
    pub async fn wait_for_changes(&self, timeout: std::time::Duration) {
        if let Some(sh) = &self.shared {
            sh.store.wait(timeout).await;
        }
    }

    async fn catch_up(&self, sh: &Shared<I>) -> Result<(), Error> {
        if !self.failed.load(Ordering::Acquire) {
            let head = sh.store.head().await?;
            if head <= sh.applied.load(Ordering::Acquire) {
                return Ok(());
            }
        }
        let _order = self.writer.lock().await;
        self.catch_up_locked(sh).await
    }

    /// [`Self::catch_up`] with the writer lock held: the entries after the applied position, or a rebuild
    /// from the store after a failure or when the feed no longer holds them.
    async fn catch_up_locked(&self, sh: &Shared<I>) -> Result<(), Error> {
        if !self.failed.load(Ordering::Acquire)
            && let Some(entries) = sh
                .store
                .changes_after(sh.applied.load(Ordering::Acquire))
                .await?
        {
            return self.apply_feed(sh, &entries);
        }
        let (snapshot, seq) = sh.store.load_at().await?;
        let fresh = Directory::restore((sh.new_index)(), snapshot);
        *self.dir.write().map_err(|_| poisoned())? = fresh;
        self.changed.fetch_add(1, Ordering::Relaxed);
        sh.applied.store(seq, Ordering::Release);
        self.failed.store(false, Ordering::Release);
        Ok(())
    }

    fn apply_feed(&self, sh: &Shared<I>, entries: &[FeedEntry]) -> Result<(), Error> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut d = self.dir.write().map_err(|_| poisoned())?;
        for e in entries {
            if e.seq <= sh.applied.load(Ordering::Acquire) {
                continue;
            }
            for c in &e.changes {
                d.replay(c);
            }
            self.changed.fetch_add(1, Ordering::Relaxed);
            self.forget_image_on_erasure(&e.changes);
            sh.applied.store(e.seq, Ordering::Release);
        }
        Ok(())
    }

    fn check(&self) -> Result<(), Error> {
        if self.failed.load(Ordering::Acquire) {
            return Err(Error::Storage(
                "an earlier change could not be stored; rebuild the directory from its store"
                    .into(),
            ));
        }
        Ok(())
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Directory<I>>, Error> {
        self.check()?;
        self.dir.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Directory<I>>, Error> {
        self.check()?;
        self.dir.write().map_err(|_| poisoned())
    }

    /// Store audit entries of an answer (no state changed: a failure refuses the answer only).
    async fn audit(&self, changes: &[DirectoryChange]) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        self.store.apply(changes).await
    }

    /// Make a change: `f` changes memory and returns the changes, which are stored before this returns.
    async fn change(
        &self,
        f: impl FnOnce(&mut Directory<I>) -> Result<Vec<DirectoryChange>, Error>,
    ) -> Result<(), Error> {
        self.change_with(|d| f(d).map(|c| ((), c))).await
    }

    /// [`Self::change`] made by `requester` (as the directory knows them).
    async fn change_as(
        &self,
        requester: &ParticipantId,
        f: impl FnOnce(
            &mut Directory<I>,
            &crate::privacy::Requester,
        ) -> Result<Vec<DirectoryChange>, Error>,
    ) -> Result<(), Error> {
        self.change(|d| {
            let req = d.requester(Some(requester));
            f(d, &req)
        })
        .await
    }

    /// [`Self::change`] whose `f` also returns a value. On a shared store the change is made under the
    /// store's write lock, after the entries other instances committed.
    async fn change_with<R>(
        &self,
        f: impl FnOnce(&mut Directory<I>) -> Result<(R, Vec<DirectoryChange>), Error>,
    ) -> Result<R, Error> {
        let _order = self.writer.lock().await;
        let Some(sh) = &self.shared else {
            let (r, changes) = {
                let mut d = self.write()?;
                f(&mut d)?
            };
            self.forget_image_on_erasure(&changes);
            self.changed.fetch_add(1, Ordering::Relaxed);
            self.persist(&changes).await?;
            return Ok(r);
        };
        if self.failed.load(Ordering::Acquire) {
            self.catch_up_locked(sh).await?;
        }
        let (tx, pending) = sh.store.begin(sh.applied.load(Ordering::Acquire)).await?;
        self.apply_feed(sh, &pending)?;
        let (r, changes) = {
            let mut d = self.write()?;
            f(&mut d)?
        };
        self.forget_image_on_erasure(&changes);
        self.changed.fetch_add(1, Ordering::Relaxed);
        match tx.commit(&changes).await {
            Ok(seq) => {
                sh.applied.fetch_max(seq, Ordering::AcqRel);
                Ok(r)
            }
            Err(e) => {
                self.failed.store(true, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Store `changes` that memory already made; a failure stops the service.
    async fn persist(&self, changes: &[DirectoryChange]) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        let r = self.store.apply(changes).await;
        if r.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        r
    }

    /// Add or replace a participant.
    ///
    /// # Errors
    /// [`Error::Invalid`] (a text or list over its limit), [`Error::Storage`].
    pub async fn put_participant(&self, p: Participant) -> Result<(), Error> {
        self.change(|d| d.put_participant(p)).await
    }

    /// Add or replace a relationship.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn put_relationship(&self, r: Relationship) -> Result<(), Error> {
        self.change(|d| d.put_relationship(r)).await
    }

    /// A relationship declared by `requester` ([`Directory::put_relationship_as`]): `r.to` must be
    /// visible to them, else the answer is that for an id that does not exist. The caller checks that
    /// `requester` is `r.from`.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Invalid`], [`Error::Storage`].
    pub async fn put_relationship_as(
        &self,
        requester: &ParticipantId,
        r: Relationship,
    ) -> Result<(), Error> {
        self.change_as(requester, |d, req| d.put_relationship_as(req, r))
            .await
    }

    /// Remove the relationship `from → to`.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn remove_relationship(
        &self,
        from: &ParticipantId,
        to: &ParticipantId,
    ) -> Result<(), Error> {
        self.change(|d| Ok(d.remove_relationship(from, to))).await
    }

    /// Add or replace a topic subscription.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Invalid`], [`Error::Storage`].
    pub async fn put_topic(&self, t: TopicSubscription) -> Result<(), Error> {
        self.change(|d| d.put_topic(t)).await
    }

    /// Add or replace a rating.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn put_rating(&self, r: TrustRating) -> Result<(), Error> {
        self.change(|d| d.put_rating(r)).await
    }

    /// A rating by `requester` ([`Directory::put_rating_as`]): the ratee must be visible to them, else the
    /// answer is that for an id that does not exist. The caller checks that `requester` is the rater.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn put_rating_as(
        &self,
        requester: &ParticipantId,
        r: TrustRating,
    ) -> Result<(), Error> {
        self.change_as(requester, |d, req| d.put_rating_as(req, r))
            .await
    }

    /// Set priority settings.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn put_priority(&self, s: PrioritySettings) -> Result<(), Error> {
        self.change(|d| d.put_priority(s)).await
    }

    /// Resolve `q` for the authenticated `requester` (`None`: anonymous); the participants returned are
    /// audited before the answer is.
    ///
    /// # Errors
    /// [`Error::Storage`]: the audit entries could not be written (no answer is given).
    pub async fn resolve(
        &self,
        requester: Option<&ParticipantId>,
        q: &Query,
        presence: &Presence,
        now_ms: u64,
    ) -> Result<Resolution, Error> {
        let (r, audit) = {
            let d = self.read()?;
            let req = d.requester(requester);
            d.resolve(&req, q, presence, now_ms)
        };
        self.audit(&audit).await?;
        Ok(r)
    }

    /// The candidates of `q` before availability is known ([`Directory::gather`]): for callers whose presence
    /// lookups are asynchronous; answer with [`Self::finish`].
    ///
    /// # Errors
    /// [`Error::Storage`] when the service stopped.
    pub fn gather(&self, requester: Option<&ParticipantId>, q: &Query) -> Result<Gathered, Error> {
        self.gather_as(&self.requester(requester)?, q)
    }

    /// [`Self::gather`] for a requester built elsewhere (a federated peer's requester,
    /// [`crate::federation::remote_requester`]).
    ///
    /// # Errors
    /// [`Error::Storage`] when the service stopped.
    pub fn gather_as(
        &self,
        requester: &crate::privacy::Requester,
        q: &Query,
    ) -> Result<Gathered, Error> {
        Ok(self.read()?.gather(requester, q))
    }

    /// [`Self::finish`] for a requester built elsewhere.
    ///
    /// # Errors
    /// [`Error::Storage`]: the audit entries could not be written (no answer is given).
    pub async fn finish_as(
        &self,
        requester: &crate::privacy::Requester,
        g: Gathered,
        presence: &Presence,
        now_ms: u64,
    ) -> Result<Resolution, Error> {
        let (r, audit) = self.read()?.finish(requester, g, presence, now_ms);
        self.audit(&audit).await?;
        Ok(r)
    }

    /// The requester `id` as this directory knows them (organization from their profile).
    ///
    /// # Errors
    /// [`Error::Storage`] when the service stopped.
    pub fn requester(
        &self,
        id: Option<&ParticipantId>,
    ) -> Result<crate::privacy::Requester, Error> {
        Ok(self.read()?.requester(id))
    }

    /// The answer to a gathered query with availability from `presence`, audited.
    ///
    /// # Errors
    /// [`Error::Storage`]: the audit entries could not be written (no answer is given).
    pub async fn finish(
        &self,
        requester: Option<&ParticipantId>,
        g: Gathered,
        presence: &Presence,
        now_ms: u64,
    ) -> Result<Resolution, Error> {
        let req = self.requester(requester)?;
        self.finish_as(&req, g, presence, now_ms).await
    }

    /// Experts for `q`, audited.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn find_experts(
        &self,
        requester: Option<&ParticipantId>,
        q: &ExpertQuery,
        presence: &Presence,
        now_ms: u64,
    ) -> Result<Vec<Candidate>, Error> {
        let (found, audit) = {
            let d = self.read()?;
            let req = d.requester(requester);
            d.find_experts(&req, q, presence, now_ms)
        };
        self.audit(&audit).await?;
        Ok(found)
    }

    /// The expert to route a request to (least recently routed among equals), audited.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn route_expert(
        &self,
        requester: Option<&ParticipantId>,
        q: &ExpertQuery,
        presence: &Presence,
        now_ms: u64,
    ) -> Result<Option<Candidate>, Error> {
        let (chosen, audit) = {
            let mut d = self.write()?;
            let req = d.requester(requester);
            d.route_expert(&req, q, presence, now_ms)
        };
        self.audit(&audit).await?;
        Ok(chosen)
    }

    /// What `requester` may see of `id` (`None`: nothing, as if it did not exist), audited.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn view(
        &self,
        requester: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<Option<ParticipantView>, Error> {
        let (v, audit) = {
            let d = self.read()?;
            let req = d.requester(requester);
            d.view(&req, id, now_ms)
        };
        self.audit(&audit).await?;
        Ok(v)
    }

    /// Whether `requester` may contact `id` (`None`: not visible to them), audited.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn contact_permission(
        &self,
        requester: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<Option<Permission>, Error> {
        let (p, audit) = {
            let d = self.read()?;
            let req = d.requester(requester);
            d.contact_permission(&req, id, now_ms)
        };
        self.audit(&audit).await?;
        Ok(p)
    }

    /// The priority `m` would get.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] (recipient), [`Error::Storage`] (service stopped).
    pub fn prioritize(&self, m: &Message) -> Result<PriorityDecision, Error> {
        self.read()?.prioritize(m)
    }

    /// The priority `m` would get, asked by `requester` ([`Directory::prioritize_as`]): a recipient hidden
    /// from them is answered as one that does not exist.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`] (recipient), [`Error::Storage`] (service stopped).
    pub fn prioritize_as(
        &self,
        requester: &ParticipantId,
        m: &Message,
    ) -> Result<PriorityDecision, Error> {
        let d = self.read()?;
        let req = d.requester(Some(requester));
        d.prioritize_as(&req, m)
    }

    /// Everything about `id`, with their audit trail, for `actor` (the caller authorizes: the participant
    /// themself or an operator); the export itself is audited first.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn export(
        &self,
        actor: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<Export, Error> {
        let (mut export, audit) = self.read()?.export(actor, id, now_ms)?;
        self.audit(&audit).await?;
        export.audit = self.store.audit_of(id, usize::MAX).await?;
        Ok(export)
    }

    /// Erase `id` at `actor`'s request (the caller authorizes).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Storage`].
    pub async fn erase(
        &self,
        actor: Option<&ParticipantId>,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<(), Error> {
        self.change(|d| d.erase(actor, id, now_ms)).await
    }

    /// `requester` asks to be put in touch with `to` (see [`Directory::ask_contact`]).
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Forbidden`], [`Error::Invalid`], [`Error::Storage`].
    pub async fn ask_contact(
        &self,
        requester: &ParticipantId,
        to: &ParticipantId,
        note: &str,
        now_ms: u64,
    ) -> Result<ContactRequest, Error> {
        self.change_with(|d| {
            let req = d.requester(Some(requester));
            d.ask_contact(&req, to, note, now_ms)
        })
        .await
    }

    /// `actor` approves or declines contact request `id`.
    ///
    /// # Errors
    /// [`Error::UnknownParticipant`], [`Error::Forbidden`], [`Error::Storage`].
    pub async fn decide_contact(
        &self,
        actor: &ParticipantId,
        id: u64,
        approve: bool,
        now_ms: u64,
    ) -> Result<ContactRequest, Error> {
        self.change_with(|d| d.decide_contact(actor, id, approve, now_ms))
            .await
    }

    /// The contact requests `id` made or received, newest first.
    ///
    /// # Errors
    /// [`Error::Storage`] when the service stopped.
    pub fn contact_requests(
        &self,
        id: &ParticipantId,
        now_ms: u64,
    ) -> Result<Vec<ContactRequest>, Error> {
        Ok(self.read()?.contact_requests(id, now_ms))
    }

    /// Who looked `id` up, newest first (at most `limit`).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn audit_of(
        &self,
        id: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        self.check()?;
        self.store.audit_of(id, limit).await
    }

    /// Read the directory directly (for figures and checks that need no audit, such as counting).
    ///
    /// # Errors
    /// [`Error::Storage`] when the service stopped.
    pub fn with<R>(&self, f: impl FnOnce(&Directory<I>) -> R) -> Result<R, Error> {
        Ok(f(&*self.read()?))
    }
}

#[cfg(test)]
mod seams;
