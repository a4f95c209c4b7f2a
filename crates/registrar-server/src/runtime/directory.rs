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
    let dir = match &stores.directory {
        Some(store) => registrar_directory::DirectoryService::open(
            registrar_directory::MemorySearchIndex::new(),
            Arc::clone(store),
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
            registrar_directory::DirectoryService::open_shared(
                registrar_directory::MemorySearchIndex::new,
                Arc::new(store),
            )
            .await
            .map_err(|e| format!("directory: loading: {e}"))?
        }
    };
    info!(
        participants = dir.with(registrar_directory::Directory::len).unwrap_or(0),
        position = dir.applied(),
        "directory: loaded"
    );
    let dir = Arc::new(dir);
    if dir.applied().is_some() {
        follow_directory_feed(Arc::clone(&dir));
    }
    Ok(Some(dir))
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
