//! TLS (rustls, ring provider): the server certificates of the SIP `tls:`/`wss:` listeners (`sip.tls_*`) and
//! of HTTPS (`http.tls_*`), reloaded while running; and the client side of requests to federation peers whose
//! URL is `https://` (the system's roots, or a peer's `ca_file`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{what} {}: no certificate", path.display()));
    }
    Ok(certs)
}

/// What a server certificate is built from; kept so that it can be built again when the files change.
#[derive(Clone, Debug)]
pub(crate) struct ServerFiles {
    /// The config key prefix the files came from (`sip` or `http`), for messages.
    pub(crate) section: &'static str,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    /// Authorities whose client certificates are verified; `None`: none asked for.
    pub(crate) client_ca: Option<PathBuf>,
    /// With `client_ca`: a client without a certificate is refused.
    pub(crate) require_client_cert: bool,
    /// ALPN protocols offered (`http/1.1` for HTTPS and WSS; none for SIP over TLS).
    pub(crate) alpn: Vec<Vec<u8>>,
}

impl ServerFiles {
    fn build(&self) -> Result<Arc<ServerConfig>, String> {
        let section = self.section;
        let chain = certs(&self.cert, &format!("{section}.tls_cert"))?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| format!("{section}.tls_key {}: {e}", self.key.display()))?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in certs(ca, &format!("{section}.tls_client_ca"))? {
                    roots
                        .add(c)
                        .map_err(|e| format!("{section}.tls_client_ca {}: {e}", ca.display()))?;
                }
                let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                );
                let v = if self.require_client_cert {
                    v
                } else {
                    v.allow_unauthenticated()
                };
                builder.with_client_cert_verifier(
                    v.build()
                        .map_err(|e| format!("{section}.tls_client_ca: {e}"))?,
                )
            }
        };
        let mut c = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("{section}.tls_cert / {section}.tls_key: {e}"))?;
        c.alpn_protocols.clone_from(&self.alpn);
        // Resumption without a full handshake for returning devices: stateless tickets (encrypted with keys
        // that rotate every few hours, nothing kept per session), and a small session-id cache for TLS 1.2
        // clients without tickets. (A large stateful cache costs a linear scan per resumption in rustls.)
        c.ticketer = rustls::crypto::ring::Ticketer::new()
            .map_err(|e| format!("{section}: TLS session tickets: {e}"))?;
        c.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSIONS);
        Ok(Arc::new(c))
    }

    fn stamp(&self) -> Option<[std::time::SystemTime; 2]> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some([m(&self.cert)?, m(&self.key)?])
    }
}

/// Sessions kept by id for resumption (TLS 1.2 clients that do not take tickets).
const SESSIONS: usize = 1_024;

/// A server certificate that is replaced while the server runs: every new connection takes the current
/// one; connections already up keep theirs.
#[derive(Debug)]
pub(crate) struct Reloadable {
    files: ServerFiles,
    current: std::sync::RwLock<(Arc<ServerConfig>, Option<[std::time::SystemTime; 2]>)>,
}

impl Reloadable {
    /// Load the files; the error names the key and the problem.
    pub(crate) fn load(files: ServerFiles) -> Result<Arc<Self>, String> {
        let config = files.build()?;
        let stamp = files.stamp();
        Ok(Arc::new(Self {
            files,
            current: std::sync::RwLock::new((config, stamp)),
        }))
    }

    /// The configuration for a new connection.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0,
        )
    }

    /// Build the configuration again from the files (`force`), or only when their modification times
    /// changed. A failure (a half-written file, a key that does not match) keeps the certificate in use and
    /// says why; `Ok(true)` when a new one is in use.
    pub(crate) fn reload(&self, force: bool) -> Result<bool, String> {
        let stamp = self.files.stamp();
        if !force
            && stamp
                == self
                    .current
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .1
        {
            return Ok(false);
        }
        let config = self.files.build()?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (config, stamp);
        Ok(true)
    }

    /// The section its keys are in (`sip`, `http`).
    pub(crate) const fn section(&self) -> &'static str {
        self.files.section
    }
}

/// The client side: trust the certificates of `ca_file` (PEM) or, without one, the system's roots.
pub(crate) fn client_config(
    ca_file: Option<&Path>,
    what: &str,
) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(f) => {
            for c in certs(f, what)? {
                roots
                    .add(c)
                    .map_err(|e| format!("{what} {}: {e}", f.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(format!(
                    "{what}: no system root certificates found; set a ca_file"
                ));
            }
        }
    }
    let mut c = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}
