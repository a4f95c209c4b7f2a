use thiserror::Error;

/// Why a value taken from the network could not become one of our types.
///
/// Every variant names what was being parsed, so the SIP layer can put it in a `Warning` header.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The value was empty where something is required.
    #[error("{what}: empty value")]
    Empty {
        /// What was being parsed.
        what: &'static str,
    },
    /// The value is longer than we accept.
    #[error("{what}: longer than {max} bytes")]
    TooLong {
        /// What was being parsed.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The value does not follow its grammar.
    #[error("{what}: {reason} in {input:?}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong.
        reason: &'static str,
        /// The offending input, cut to at most 64 characters.
        input: String,
    },
}

impl Error {
    pub(crate) fn invalid(what: &'static str, reason: &'static str, input: &str) -> Self {
        let input = match input.char_indices().nth(64) {
            Some((cut, _)) => format!("{}…", &input[..cut]),
            None => input.to_owned(),
        };
        Self::Invalid {
            what,
            reason,
            input,
        }
    }
}
