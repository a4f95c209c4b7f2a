use registrar_pidf::Limits;

use crate::Error;

/// The presence rules a deployment chooses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PresencePolicy {
    /// Shortest non-zero publication expiry, in seconds (default 60); shorter gets 423.
    pub min_expires: u32,
    /// Expiry of a PUBLISH without `Expires` (default 3600, RFC 3903 §5).
    pub default_expires: u32,
    /// Longest expiry granted; longer is lowered to it (default 86400).
    pub max_expires: u32,
    /// Most live publications one presentity may have (default 32).
    pub max_publications: usize,
    /// Limits for reading published documents.
    pub document_limits: Limits,
}

impl Default for PresencePolicy {
    fn default() -> Self {
        Self {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 86_400,
            max_publications: 32,
            document_limits: Limits::default().max_bytes(64 * 1024),
        }
    }
}

impl PresencePolicy {
    /// Check that the numbers agree with each other.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] naming the problem.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.min_expires == 0 {
            return Err(Error::InvalidPolicy("min_expires must be at least 1"));
        }
        if self.min_expires > self.default_expires || self.default_expires > self.max_expires {
            return Err(Error::InvalidPolicy(
                "expiries must satisfy min_expires <= default_expires <= max_expires",
            ));
        }
        if self.max_publications == 0 {
            return Err(Error::InvalidPolicy("max_publications must be at least 1"));
        }
        Ok(())
    }
}
