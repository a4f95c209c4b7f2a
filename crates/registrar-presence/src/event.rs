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
            _ => Self::Other(token),
        }
    }

    /// The package name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Presence => "presence",
            Self::PresenceWinfo => "presence.winfo",
            Self::Reg => "reg",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for EventPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
