use crate::Error;

/// What a registrar does when an AoR would have more bindings than [`RegistrarPolicy::max_contacts`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub enum ContactLimitPolicy {
    /// Refuse the REGISTER (503); nothing changes.
    #[default]
    Reject,
    /// Remove the bindings registered longest ago that this REGISTER did not touch.
    EvictOldest,
}

/// The registrar's rules that a deployment chooses.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistrarPolicy {
    /// Shortest non-zero expiry accepted, in seconds; shorter gets 423 with `Min-Expires` (default 60).
    pub min_expires: u32,
    /// Expiry when neither the Contact nor the request says (default 3600, RFC 3261 §10.2.1.1).
    pub default_expires: u32,
    /// Longest expiry granted; longer requests are lowered to it (default 86400).
    pub max_expires: u32,
    /// Most bindings one AoR may have (default 10).
    pub max_contacts: usize,
    /// What happens past `max_contacts` (default: reject).
    pub contact_limit: ContactLimitPolicy,
    /// Honour RFC 5626 outbound registrations (`+sip.instance` + `reg-id`) (default: on).
    pub outbound: bool,
    /// Issue RFC 5627 GRUUs to devices that support them (default: on).
    pub gruu: bool,
    /// Refuse a REGISTER with a Path header from a UA that did not send `Supported: path` (421), instead of
    /// storing the Path without echoing it (default: off).
    pub require_path_support: bool,
}

impl Default for RegistrarPolicy {
    fn default() -> Self {
        Self {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 86_400,
            max_contacts: 10,
            contact_limit: ContactLimitPolicy::Reject,
            outbound: true,
            gruu: true,
            require_path_support: false,
        }
    }
}

impl RegistrarPolicy {
    /// Check that the numbers agree with each other.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] naming the problem.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.min_expires == 0 {
            return Err(Error::InvalidPolicy("min_expires must be at least 1"));
        }
        if self.min_expires > self.default_expires {
            return Err(Error::InvalidPolicy("min_expires is above default_expires"));
        }
        if self.default_expires > self.max_expires {
            return Err(Error::InvalidPolicy("default_expires is above max_expires"));
        }
        if self.max_contacts == 0 {
            return Err(Error::InvalidPolicy("max_contacts must be at least 1"));
        }
        Ok(())
    }
}
