use std::fmt;

/// An event package (RFC 6665 §7.2), with unknown packages kept as written.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum EventPackage {
    /// `presence` (RFC 3856).
    Presence,
    /// `presence.winfo` (RFC 3857).
    PresenceWinfo,
    /// `reg` (RFC 3680).
    Reg,
    /// `dialog` (RFC 4235): the busy lamp field of desk phones.
    Dialog,
    /// `message-summary` (RFC 3842): message waiting indication.
    MessageSummary,
    /// Any other package, lower-cased.
    Other(String),
}

impl EventPackage {
    /// From the `Event` header value (parameters such as `;id=` are ignored; case-insensitive).
    pub fn from_header(value: &str) -> Self {
        let token = value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match token.as_str() {
            "presence" => Self::Presence,
            "presence.winfo" => Self::PresenceWinfo,
            "reg" => Self::Reg,
            "dialog" => Self::Dialog,
            "message-summary" => Self::MessageSummary,
            _ => Self::Other(token),
        }
    }

    /// The package name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Presence => "presence",
            Self::PresenceWinfo => "presence.winfo",
            Self::Reg => "reg",
            Self::Dialog => "dialog",
            Self::MessageSummary => "message-summary",
            Self::Other(s) => s,
        }
    }

    /// The body type of the package's NOTIFYs (and of its PUBLISH bodies where it can be published); `None`
    /// for a package this server does not serve.
    pub const fn body_type(&self) -> Option<&'static str> {
        match self {
            Self::Presence => Some("application/pidf+xml"),
            Self::PresenceWinfo => Some("application/watcherinfo+xml"),
            Self::Reg => Some("application/reginfo+xml"),
            Self::Dialog => Some("application/dialog-info+xml"),
            Self::MessageSummary => Some("application/simple-message-summary"),
            Self::Other(_) => None,
        }
    }

    /// Whether a PUBLISH may carry this package (RFC 3903): `presence`, `dialog` and `message-summary`.
    pub const fn is_publishable(&self) -> bool {
        matches!(self, Self::Presence | Self::Dialog | Self::MessageSummary)
    }
}

impl fmt::Display for EventPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
