//! Parsed identifiers and shared data types for the registrar workspace.
//!
//! What it does: turns text from the network into typed values — [`SipUri`] (RFC 3261 §19.1, compared by the
//! rules of §19.1.4), [`Aor`] (the canonical address-of-record of §10.3), [`CallId`], [`CSeq`], [`QValue`],
//! [`InstanceId`] (RFC 5626 `+sip.instance`), [`RegId`] — and defines a [`Binding`] and the [`Clock`] through which
//! every upper layer learns the time.
//!
//! What it does not do: no IO, no tokio, no SIP message parsing (the `registrar-sip` crate does that), and no
//! registration rules (`registrar-registry`).
//!
//! ```
//! use registrar_types::{Aor, SipUri};
//!
//! let a: SipUri = "sip:%61lice@AtLanTa.CoM;transport=TCP".parse()?;
//! let b: SipUri = "sip:alice@atlanta.com;Transport=tcp".parse()?;
//! assert_eq!(a, b); // RFC 3261 §19.1.4
//! assert_eq!(Aor::from_uri(&a).as_str(), "sip:alice@atlanta.com");
//! # Ok::<(), registrar_types::Error>(())
//! ```

mod binding;
mod clock;
mod error;
mod expiry;
mod ids;
mod push;
mod uri;

pub use binding::{Binding, TempGruu};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::Error;
pub use expiry::ExpiryIndex;
pub use ids::{
    Aor, CSeq, CallId, ETag, InstanceId, MAX_CALL_ID_LEN, MAX_INSTANCE_ID_LEN, QValue, RegId,
    Transport, host_matches,
};
pub use push::{
    MAX_PARAM_LEN, MAX_PRID_LEN, PN_PARAM, PN_PRID, PN_PROVIDER, PushParamError, PushProvider,
    PushTarget,
};
pub use uri::{
    Host, MAX_URI_LEN, Scheme, SipUri, UriHeader, UriParam, escape_param_value, unescape,
};
