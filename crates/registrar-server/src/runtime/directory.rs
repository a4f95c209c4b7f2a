//! The directory in the server: loaded from its store (following PostgreSQL's change feed in shared mode), and what it reaches over the network (federation, DNS, identity providers).

use super::*;

/// Federation, DNS and OpenID Connect providers as configured.
pub(super) fn network(cfg: &Config) -> Result<crate::directory::api::Network, String> {
    let dns = match crate::directory::dns::Dns::new(&cfg.directory.dns_servers) {
        Ok(d) => Some(d),
        Err(e) if cfg.directory.dns_servers.is_empty() => {
            warn!("directory: no DNS ({e}); domain proofs and DNS discovery are off");
            None
        }
        Err(e) => return Err(e),
    };
    let fed_dns = dns.clone().filter(|_| cfg.federation.dns_discovery);
    let federation =
        crate::directory::federation::Federation::new(&cfg.federation, fed_dns)?.map(Arc::new);
    if let Some(f) = &federation {
        info!(server = %f.id, "federation on");
    }
    let oidc = cfg
        .directory
        .oidc
        .iter()
        .enumerate()
        .map(|(i, c)| crate::directory::oidc::Provider::new(i, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::directory::api::Network {
        federation,
        dns,
        oidc,
    })
}

/// The directory, loaded from its store, when `directory.jwt_secret` is set.
pub(super) async fn directory(
    cfg: &Config,
    stores: &Stores,
    keys: &crate::directory::jwt::Keys,
) -> Result<Option<Arc<crate::directory::api::Directory>>, String> {
    if !keys.any() {
        info!("directory: API off (no directory.jwt_secret or directory.jwt_ed25519_public_keys)");
        return Ok(None);
    }
    let image_path = (!cfg.directory.image_file.as_os_str().is_empty())
        .then(|| cfg.storage.data_dir.join(&cfg.directory.image_file));
    if let Some(p) = &image_path {
        remove_abandoned_images(p);
    }
    let image = match &image_path {
        Some(p) => match std::fs::read(p) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                warn!(path = %p.display(), "directory: image not read: {e}");
                None
            }
        },
        None => None,
    };
    let started = std::time::Instant::now();
    let (dir, used) = match &stores.directory {
        Some(store) => registrar_directory::DirectoryService::open_with_image(
            registrar_directory::MemorySearchIndex::new,
            Arc::clone(store),
            image.as_deref(),
        )
        .await
        .map_err(|e| format!("directory: loading: {e}"))?,
        None if cfg.directory.database_url.is_empty() => {
            warn!("directory: API off (shared mode needs directory.database_url)");
            return Ok(None);
        }
        None => {
            // Shared mode: PostgreSQL is the truth; this node's memory follows its change feed.
            let store = registrar_storage::PostgresDirectoryStore::connect(
                &cfg.directory.database_url,
                cfg.directory.database_connections,
            )
            .await
            .map_err(|e| format!("directory.database_url: {e}"))?
            .feed_retention(cfg.directory.feed_retention_secs);
            registrar_directory::DirectoryService::open_shared_with_image(
                registrar_directory::MemorySearchIndex::new,
                Arc::new(store),
                image.as_deref(),
            )
            .await
            .map_err(|e| format!("directory: loading: {e}"))?
        }
    };
    drop(image);
    let from = match &used {
        registrar_directory::ImageUse::Used { replayed } => {
            format!("its image and {replayed} feed entries after it")
        }
        registrar_directory::ImageUse::Refused(why) => {
            warn!("directory: image not used ({why}); loaded from the store");
            "the store".to_owned()
        }
        _ => "the store".to_owned(),
    };
    info!(
        participants = dir.with(registrar_directory::Directory::len).unwrap_or(0),
        position = dir.applied(),
        seconds = started.elapsed().as_secs_f64(),
        "directory: loaded from {from}"
    );
    if let Some(p) = &image_path {
        dir.keep_image_at(p);
    }
    let dir = Arc::new(dir);
    if dir.applied().is_some() {
        follow_directory_feed(Arc::clone(&dir));
    }
    if let Some(p) = image_path
        && cfg.directory.image_interval_secs > 0
    {
        let every = std::time::Duration::from_secs(cfg.directory.image_interval_secs);
        let d = Arc::clone(&dir);
        tokio::spawn(async move {
            let mut last = None;
            loop {
                tokio::time::sleep(every).await;
                let now = Some(d.changes_applied());
                if now != last && write_directory_image(&d, &p).await {
                    last = now;
                }
            }
        });
    }
    Ok(Some(dir))
}

/// Remove temporary image files that a process no longer running left beside `path` (a crash while it
/// wrote an image): they may hold data erased since.
fn remove_abandoned_images(path: &std::path::Path) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{stem}.tmp.");
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id() || std::path::Path::new(&format!("/proc/{pid}")).exists()
        });
        if !alive {
            match std::fs::remove_file(e.path()) {
                Ok(()) => {
                    info!(path = %e.path().display(), "directory: abandoned image file removed")
                }
                Err(err) => {
                    warn!(path = %e.path().display(), "directory: abandoned image file not removed: {err}")
                }
            }
        }
    }
}

/// Write the directory's image to `path` (at shutdown, and every `directory.image_interval_secs`); whether
/// it was written. Failures are logged: the next start then loads from the store.
pub(super) async fn write_directory_image(
    dir: &crate::directory::api::Directory,
    path: &std::path::Path,
) -> bool {
    if let Some(trouble) = dir.take_image_trouble() {
        warn!("directory: {trouble}");
    }
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        warn!(path = %path.display(), "directory: image not written: {e}");
        return false;
    }
    let started = std::time::Instant::now();
    match dir.write_image(path).await {
        Ok(h) => {
            info!(
                path = %path.display(),
                position = h.position,
                seconds = started.elapsed().as_secs_f64(),
                "directory: image written"
            );
            true
        }
        Err(e) => {
            warn!(path = %path.display(), "directory: image not written: {e}");
            false
        }
    }
}

/// Keep this node's directory close to the shared store between requests: wake at every notice of the
/// feed (or every second) and apply what other nodes committed. Requests do not rely on it (each one first
/// waits for its own barrier, `DirectoryService::sync`); it keeps that barrier cheap.
pub(super) fn follow_directory_feed(dir: Arc<crate::directory::api::Directory>) {
    tokio::spawn(async move {
        loop {
            dir.wait_for_changes(std::time::Duration::from_secs(1))
                .await;
            if let Err(e) = dir.sync().await {
                warn!("directory: following the shared store: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    });
}
