//! Push notification parameters of a Contact (RFC 8599 §4.1): which push service wakes a device, and the
//! address the service knows it by.
//!
//! A device that the operating system suspends (a phone app on iOS or Android, a browser phone) registers a
//! Contact whose URI carries `pn-provider` (the service: `apns`, `fcm`, `webpush`), `pn-prid` (the device's
//! address at that service: a device token, a registration token, a push subscription URL) and, where the
//! service needs it, `pn-param`. They are URI parameters, so they are stored with the Contact URI of the
//! binding in every storage mode; [`PushTarget::from_uri`] reads them back.

use std::fmt;

use crate::uri::{SipUri, unescape};

/// The `pn-provider` URI parameter.
pub const PN_PROVIDER: &str = "pn-provider";
/// The `pn-prid` URI parameter.
pub const PN_PRID: &str = "pn-prid";
/// The `pn-param` URI parameter.
pub const PN_PARAM: &str = "pn-param";

/// Longest `pn-prid` accepted (a Web Push subscription URL is the longest kind, a few hundred bytes).
pub const MAX_PRID_LEN: usize = 2048;
/// Longest `pn-param` accepted.
pub const MAX_PARAM_LEN: usize = 512;

/// A push notification service (the IANA "PNS" registry of RFC 8599 §13.3).
#[derive(Clone, Debug, Eq, Hash, PartialEq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PushProvider {
    /// Apple Push Notification service (RFC 8599 §10).
    Apns,
    /// Firebase Cloud Messaging (RFC 8599 §9).
    Fcm,
    /// Web Push (RFC 8030; RFC 8599 §11).
    WebPush,
    /// Any other service name, lower case.
    Other(Box<str>),
}

impl PushProvider {
    /// The `pn-provider` value, lower case.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
            Self::WebPush => "webpush",
            Self::Other(s) => s,
        }
    }

    /// The provider a `pn-provider` value names (case-insensitive).
    pub fn from_name(name: &str) -> Self {
        match name.to_ascii_lowercase().as_str() {
            "apns" => Self::Apns,
            "fcm" => Self::Fcm,
            "webpush" => Self::WebPush,
            other => Self::Other(other.into()),
        }
    }
}

impl fmt::Display for PushProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The push parameters of one Contact URI.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushTarget {
    /// `pn-provider`.
    pub provider: PushProvider,
    /// `pn-prid`, unescaped; `None` when the Contact named only the provider (RFC 8599 §4.1.1 lets a UA ask
    /// whether a service is supported that way; such a binding cannot be woken).
    pub prid: Option<String>,
    /// `pn-param`, unescaped.
    pub param: Option<String>,
}

impl PushTarget {
    /// The push parameters of `uri`: `Ok(None)` when it has none.
    ///
    /// # Errors
    /// A [`PushParamError`] naming the malformed parameter: `pn-prid` or `pn-param` without `pn-provider`, a
    /// parameter without a value, a bad `%` escape, or a value too long.
    pub fn from_uri(uri: &SipUri) -> Result<Option<Self>, PushParamError> {
        let provider = uri.param(PN_PROVIDER);
        let prid = uri.param(PN_PRID);
        let param = uri.param(PN_PARAM);
        let Some(provider) = provider else {
            if prid.is_some() {
                return Err(PushParamError::new(PN_PRID, "present without pn-provider"));
            }
            if param.is_some() {
                return Err(PushParamError::new(PN_PARAM, "present without pn-provider"));
            }
            return Ok(None);
        };
        let provider = value(PN_PROVIDER, provider, 64)?;
        if !provider
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
        {
            return Err(PushParamError::new(
                PN_PROVIDER,
                "not a push service name (letters, digits, '-', '.', '_')",
            ));
        }
        let prid = prid.map(|v| value(PN_PRID, v, MAX_PRID_LEN)).transpose()?;
        let param = param
            .map(|v| value(PN_PARAM, v, MAX_PARAM_LEN))
            .transpose()?;
        Ok(Some(Self {
            provider: PushProvider::from_name(&provider),
            prid,
            param,
        }))
    }

    /// Whether a push can reach the device (it gave its address at the service).
    pub const fn is_reachable(&self) -> bool {
        self.prid.is_some()
    }
}

fn value(name: &'static str, raw: Option<&str>, max: usize) -> Result<String, PushParamError> {
    let raw = raw.ok_or_else(|| PushParamError::new(name, "has no value"))?;
    let v = unescape(raw).ok_or_else(|| PushParamError::new(name, "malformed %-escape"))?;
    if v.is_empty() {
        return Err(PushParamError::new(name, "is empty"));
    }
    if v.len() > max {
        return Err(PushParamError::new(
            name,
            format!("longer than {max} bytes"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(PushParamError::new(name, "holds control characters"));
    }
    Ok(v)
}

/// A malformed push parameter: which one and why (what a 400 names).
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{param}: {reason}")]
pub struct PushParamError {
    /// The parameter (`pn-provider`, `pn-prid` or `pn-param`).
    pub param: &'static str,
    /// Why it was refused.
    pub reason: String,
}

impl PushParamError {
    /// An error for `param`.
    pub fn new(param: &'static str, reason: impl Into<String>) -> Self {
        Self {
            param,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(uri: &str) -> Result<Option<PushTarget>, PushParamError> {
        PushTarget::from_uri(&uri.parse().unwrap_or_else(|e| panic!("{uri}: {e}")))
    }

    #[test]
    fn reads_the_three_parameters_unescaped() {
        let t = target(
            "sip:alice@10.0.0.1:5060;pn-provider=APNS;pn-param=ABCD1234.com.example.voip;pn-prid=00fc13%3Dab",
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("no target"));
        assert_eq!(t.provider, PushProvider::Apns);
        assert_eq!(t.prid.as_deref(), Some("00fc13=ab"));
        assert_eq!(t.param.as_deref(), Some("ABCD1234.com.example.voip"));
        assert!(t.is_reachable());
    }

    #[test]
    fn a_contact_without_them_has_no_target() {
        assert_eq!(target("sip:alice@10.0.0.1;transport=tcp"), Ok(None));
    }

    #[test]
    fn a_provider_alone_is_a_query_not_an_error() {
        let t = target("sip:a@h;pn-provider=fcm")
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no target"));
        assert_eq!(t.provider, PushProvider::Fcm);
        assert!(!t.is_reachable());
    }

    #[test]
    fn malformed_parameters_are_named() {
        let cases = [
            ("sip:a@h;pn-prid=x", PN_PRID),
            ("sip:a@h;pn-param=x", PN_PARAM),
            ("sip:a@h;pn-provider", PN_PROVIDER),
            ("sip:a@h;pn-provider=apns;pn-prid", PN_PRID),
            ("sip:a@h;pn-provider=ap%2Fns;pn-prid=x", PN_PROVIDER),
            ("sip:a@h;pn-provider=apns;pn-prid=x;pn-param=%0a", PN_PARAM),
        ];
        for (uri, param) in cases {
            match target(uri) {
                Err(e) => assert_eq!(e.param, param, "{uri}: {e}"),
                Ok(t) => panic!("{uri} accepted: {t:?}"),
            }
        }
    }

    #[test]
    fn an_unknown_provider_is_kept_by_name() {
        let t = target("sip:a@h;pn-provider=Acme-Push;pn-prid=1")
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no target"));
        assert_eq!(t.provider, PushProvider::Other("acme-push".into()));
        assert_eq!(t.provider.to_string(), "acme-push");
    }
}
