//! A binding: one contact address registered for an address-of-record.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::ids::{CSeq, CallId, InstanceId, QValue, RegId, Transport};
use crate::uri::SipUri;

/// One contact registered for an address-of-record (RFC 3261 §10), with what RFC 5626 (outbound),
/// RFC 5627 (GRUU) and RFC 3327 (Path) add to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The Contact URI, with its URI parameters.
    pub contact: SipUri,
    /// Preference among the AoR's bindings (`q`); 1 when the Contact carried none.
    pub q: QValue,
    /// When the binding expires.
    pub expires_at: Timestamp,
    /// Call-ID of the REGISTER that last changed the binding.
    pub call_id: CallId,
    /// CSeq of the REGISTER that last changed the binding.
    pub cseq: CSeq,
    /// `+sip.instance` of the device, if it sent one.
    pub instance_id: Option<InstanceId>,
    /// `reg-id` of an outbound flow (RFC 5626); set only when the binding is an outbound registration.
    pub reg_id: Option<RegId>,
    /// The Path header URIs of the REGISTER (RFC 3327), first hop first.
    pub path: Vec<SipUri>,
    /// Where the REGISTER came from (the received/rport address).
    pub source: Option<SocketAddr>,
    /// The transport it came over.
    pub transport: Option<Transport>,
    /// The User-Agent header, if any.
    pub user_agent: Option<Arc<str>>,
    /// When this binding was first created.
    pub registered_at: Timestamp,
    /// When it was last refreshed or changed.
    pub last_refresh: Timestamp,
    /// The temporary GRUU series of this binding (RFC 5627), when GRUUs were issued for it.
    pub temp_gruu: Option<TempGruu>,
    /// The device said it refreshes this binding without being woken (the `+sip.pnsreg` Contact parameter,
    /// RFC 8599 §4.1.4): the registrar then sends it no re-registration push.
    pub pnsreg: bool,
}

impl Binding {
    /// Whether the binding is still live at `now` (it expires at `expires_at`).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }

    /// Seconds left until expiry, rounded up; what the `expires` parameter of a 200 OK carries.
    pub fn expires_in(&self, now: Timestamp) -> u64 {
        self.expires_at.secs_until(now)
    }

    /// The push parameters of the Contact (RFC 8599), when it has valid ones.
    pub fn push_target(&self) -> Option<crate::PushTarget> {
        crate::PushTarget::from_uri(&self.contact).ok().flatten()
    }
}

/// The state behind a binding's temporary GRUUs (RFC 5627 §3.2).
///
/// A series starts with a random key when the binding is created or its Call-ID changes; each REGISTER that
/// refreshes the binding issues the next GRUU of the series. Every GRUU of the current series stays valid
/// until the series ends, as RFC 5627 §5.4 requires, without storing each one.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub struct TempGruu {
    /// Random key naming the series.
    pub key: u64,
    /// Number of the most recently issued GRUU of the series.
    pub seq: u32,
}
