//! The stores of `[storage] mode` (memory, embedded, shared), following the other nodes in shared mode, and taking back what a durable store kept.

use super::*;

/// The stores the configuration chose.
pub(crate) struct Stores {
    pub(super) location: Arc<dyn LocationStore>,
    pub(super) presence: Arc<dyn PresenceStore>,
    /// Where subscriptions outlive a restart (none in memory mode).
    pub(super) subscriptions: Option<Arc<dyn SubscriptionStore>>,
    /// The shared Redis (shared mode).
    pub(super) redis: Option<Arc<Redis>>,
    /// The directory's store (none: the directory API is off).
    pub(super) directory: Option<Arc<dyn registrar_directory::DirectoryStore>>,
}

/// In shared mode, follow the other nodes' change notices: a presentity changed elsewhere is composed again
/// and this node's watchers are notified; after a reconnection every cached document is dropped.
pub(super) fn follow_other_nodes(ep: &Arc<Ep>, stores: &Stores) {
    let Some(redis) = &stores.redis else {
        return;
    };
    let (tx, mut rx) = mpsc::channel(4096);
    redis.listen(tx);
    let ep = Arc::clone(ep);
    tokio::spawn(async move {
        while let Some(change) = rx.recv().await {
            match change {
                Change::Presence(aor) => {
                    if let Err(e) = ep.service().presence_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "a presence change made on another node could not be read");
                    }
                }
                Change::Decisions(aor) => {
                    if let Err(e) = ep.service().decisions_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "watcher decisions made on another node could not be read");
                    }
                }
                Change::Buddies(aor) => {
                    if let Err(e) = ep.service().buddies_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "a buddy list changed on another node could not be read");
                    }
                }
                Change::Joined(aor) => ep.service().joined_elsewhere(&aor),
                Change::Resync => {
                    info!(
                        "storage: change notices (re)connected; cached presence dropped, decisions and buddy lists read again"
                    );
                    ep.service().forget_cached_presence();
                    if let Err(e) = ep.service().settings_changed_elsewhere().await {
                        warn!(error = %e, "decisions and buddy lists could not be read again");
                    }
                }
                // Bindings are read from Redis on every lookup: nothing cached to drop.
                _ => {}
            }
        }
    });
}

/// This node's name in shared mode: `storage.node_id`, or the host name and the first SIP listen address.
pub(super) fn node_id(cfg: &Config) -> String {
    if !cfg.storage.node_id.is_empty() {
        return cfg.storage.node_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{host}/{}",
        cfg.sip.listen.first().map_or("", String::as_str)
    )
}

/// Serve the subscriptions a durable store kept again: their dialogs' routes back into the endpoint, then
/// a NOTIFY with the current state to each watcher. Runs once the NOTIFY pump is up.
pub(super) async fn resume_subscriptions(ep: &Ep, stores: &Stores) -> Result<(), String> {
    let Some(store) = &stores.subscriptions else {
        return Ok(());
    };
    let stored = store
        .load()
        .await
        .map_err(|e| format!("storage: loading subscriptions: {e}"))?;
    let found = stored.subscriptions.len() + stored.lists.len();
    let routes = ep.restore_routes(&stored.subscriptions) + ep.restore_routes(&stored.lists);
    let restored = ep
        .service()
        .restore_subscriptions(stored)
        .await
        .map_err(|e| format!("storage: restoring subscriptions: {e}"))?;
    info!(
        stored = found,
        restored,
        routes,
        "storage: subscriptions resumed (each watcher notified of the current state)"
    );
    Ok(())
}

/// The stores of `[storage] mode`: in memory, or loaded from the data file and written through to it.
pub(super) async fn stores(cfg: &Config) -> Result<Stores, String> {
    match cfg.storage.mode {
        StorageMode::Memory => {
            info!("storage: memory (nothing survives a restart)");
            Ok(Stores {
                location: Arc::new(MemoryLocationStore::new()),
                presence: Arc::new(MemoryPresenceStore::new()),
                subscriptions: None,
                redis: None,
                directory: Some(Arc::new(registrar_directory::MemoryDirectoryStore::new())),
            })
        }
        StorageMode::Shared => {
            let node = node_id(cfg);
            let (redis, target) = if cfg.storage.redis_cluster.is_empty() {
                let r = Redis::connect(&cfg.storage.redis_url, &cfg.storage.redis_prefix, &node)
                    .await
                    .map_err(|e| format!("storage.redis_url: {e}"))?;
                (r, cfg.storage.redis_url.clone())
            } else {
                let r = Redis::connect_cluster(
                    &cfg.storage.redis_cluster,
                    &cfg.storage.redis_prefix,
                    &node,
                )
                .await
                .map_err(|e| format!("storage.redis_cluster: {e}"))?;
                (
                    r,
                    format!("cluster {}", cfg.storage.redis_cluster.join(",")),
                )
            };
            info!(
                redis = %target,
                prefix = %cfg.storage.redis_prefix,
                node = %node,
                "storage: shared (Redis)"
            );
            Ok(Stores {
                location: Arc::new(SharedLocationStore::new(Arc::clone(&redis))),
                presence: Arc::new(SharedPresenceStore::new(Arc::clone(&redis))),
                subscriptions: Some(Arc::new(SharedSubscriptionStore::new(Arc::clone(&redis)))),
                redis: Some(redis),
                directory: None,
            })
        }
        StorageMode::Embedded => {
            let dir = &cfg.storage.data_dir;
            let journal =
                Arc::new(Journal::open(dir).map_err(|e| format!("storage.data_dir: {e}"))?);
            let now = registrar_types::SystemClock.now();
            let started = std::time::Instant::now();
            let (location, bindings) = EmbeddedLocationStore::load(Arc::clone(&journal), now)
                .await
                .map_err(|e| format!("storage: loading registrations: {e}"))?;
            let (presence, publications) = EmbeddedPresenceStore::load(Arc::clone(&journal), now)
                .await
                .map_err(|e| format!("storage: loading publications: {e}"))?;
            info!(
                file = %journal.path().display(),
                registered_aors = bindings.loaded,
                expired_bindings = bindings.expired,
                presentities = publications.loaded,
                expired_publications = publications.expired,
                ms = started.elapsed().as_millis() as u64,
                "storage: embedded, state loaded"
            );
            Ok(Stores {
                location: Arc::new(location),
                presence: Arc::new(presence),
                subscriptions: Some(Arc::new(EmbeddedSubscriptionStore::new(Arc::clone(
                    &journal,
                )))),
                redis: None,
                directory: Some(Arc::new(
                    registrar_storage::EmbeddedDirectoryStore::open(journal)
                        .await
                        .map_err(|e| format!("storage: opening the directory: {e}"))?,
                )),
            })
        }
    }
}

/// A location store whose writes are timed: `registrar_storage_seconds{op="registration"}`, the latency of
/// storing a registration change (what the operator console and the dashboard show as storage latency).
/// Reads go straight through. The histogram handle is taken once, so a write costs two clock reads more.
pub(super) struct TimedLocation {
    inner: Arc<dyn LocationStore>,
    writes: metrics::Histogram,
}

impl TimedLocation {
    pub(super) fn new(inner: Arc<dyn LocationStore>) -> Self {
        Self {
            inner,
            writes: metrics::histogram!("registrar_storage_seconds", "op" => "registration"),
        }
    }
}

#[async_trait::async_trait]
impl LocationStore for TimedLocation {
    async fn bindings(
        &self,
        aor: &registrar_types::Aor,
    ) -> Result<Arc<[registrar_types::Binding]>, registrar_registry::Error> {
        self.inner.bindings(aor).await
    }
    fn bindings_in_memory(
        &self,
        aor: &registrar_types::Aor,
    ) -> Option<Arc<[registrar_types::Binding]>> {
        self.inner.bindings_in_memory(aor)
    }
    async fn update(
        &self,
        aor: &registrar_types::Aor,
        f: &mut registrar_registry::UpdateFn<'_>,
    ) -> Result<(), registrar_registry::Error> {
        let start = std::time::Instant::now();
        let r = self.inner.update(aor, f).await;
        self.writes.record(start.elapsed().as_secs_f64());
        r
    }
    async fn remove_expired(
        &self,
        now: registrar_types::Timestamp,
    ) -> Result<Vec<(registrar_types::Aor, registrar_types::Binding)>, registrar_registry::Error>
    {
        self.inner.remove_expired(now).await
    }
    async fn next_expiry(
        &self,
    ) -> Result<Option<registrar_types::Timestamp>, registrar_registry::Error> {
        self.inner.next_expiry().await
    }
    async fn aor_for_temp_gruu(
        &self,
        key: u64,
    ) -> Result<Option<registrar_types::Aor>, registrar_registry::Error> {
        self.inner.aor_for_temp_gruu(key).await
    }
    async fn aor_count(&self) -> Result<usize, registrar_registry::Error> {
        self.inner.aor_count().await
    }
    async fn aors(
        &self,
        after: Option<&registrar_types::Aor>,
        limit: usize,
    ) -> Result<Vec<registrar_types::Aor>, registrar_registry::Error> {
        self.inner.aors(after, limit).await
    }
}
