//! Enumerated attribute and element values defined by the RFCs.

/// Define an enum of RFC tokens with `as_str`, strict parsing and `Display`.
macro_rules! token_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $var),+
        }

        impl $name {
            /// The token as written in documents.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$var => $s),+
                }
            }

            /// Every allowed token, for error messages.
            #[allow(dead_code, reason = "not every enum is parsed from an attribute")]
            pub(crate) const EXPECTED: &'static str = concat!("one of:", $(" ", $s),+);
        }

        impl std::str::FromStr for $name {
            type Err = ();

            fn from_str(s: &str) -> Result<Self, ()> {
                match s {
                    $($s => Ok(Self::$var),)+
                    _ => Err(()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use token_enum;

token_enum! {
    /// `<basic>` of a tuple status (RFC 3863 §4.1.4).
    Basic {
        /// Reachable.
        Open = "open",
        /// Not reachable.
        Closed = "closed",
    }
}

token_enum! {
    /// `state` of a watcherinfo or reginfo document: the whole state or a change.
    DocState {
        /// The complete state.
        Full = "full",
        /// Only what changed.
        Partial = "partial",
    }
}
