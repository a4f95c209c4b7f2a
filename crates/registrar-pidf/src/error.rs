use thiserror::Error;

/// Why a presence document was refused. Each variant says what and where: a line for syntax errors, an
/// element path (`presence/tuple[2]/status`) for errors of meaning.
#[derive(Clone, Debug, Eq, Error, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The document is empty.
    #[error("empty document")]
    Empty,
    /// Larger than the configured limit; refused before parsing.
    #[error("document of {size} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Elements nested deeper than the limit.
    #[error("line {line}: elements nested deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where.
        line: usize,
    },
    /// More elements than the limit.
    #[error("line {line}: more than {max} elements")]
    TooManyElements {
        /// The limit.
        max: usize,
        /// Where.
        line: usize,
    },
    /// The declared encoding is neither UTF-8 nor ISO-8859-1 (or US-ASCII).
    #[error("unsupported encoding {0:?}")]
    UnsupportedEncoding(String),
    /// Bytes that are not UTF-8 in a UTF-8 document.
    #[error("line {line}: invalid UTF-8")]
    InvalidUtf8 {
        /// Where.
        line: usize,
    },
    /// A character XML 1.0 forbids (control characters other than tab and line ends, U+FFFE, U+FFFF).
    #[error("line {line}: character U+{code:04X} is not allowed in XML")]
    ForbiddenCharacter {
        /// The code point.
        code: u32,
        /// Where.
        line: usize,
    },
    /// A DOCTYPE declaration: refused always, so no entity is ever expanded and nothing external is read.
    #[error("line {line}: DOCTYPE declarations are not accepted")]
    Doctype {
        /// Where.
        line: usize,
    },
    /// A reference to an entity other than the five XML predefines.
    #[error("line {line}: unknown entity &{name};")]
    UnknownEntity {
        /// The entity name.
        name: String,
        /// Where.
        line: usize,
    },
    /// A namespace prefix that is not declared.
    #[error("line {line}: undeclared namespace prefix {prefix:?}")]
    UnboundPrefix {
        /// The prefix.
        prefix: String,
        /// Where.
        line: usize,
    },
    /// Not well-formed XML.
    #[error("line {line}: not well-formed: {message}")]
    Syntax {
        /// What the XML reader said.
        message: String,
        /// Where.
        line: usize,
    },
    /// The root element is not one this crate reads (or not in its namespace).
    #[error("wrong root element {found}; expected {expected}")]
    WrongRoot {
        /// `{namespace}local` of what was found.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A required attribute is missing.
    #[error("{at}: missing attribute {attribute:?}")]
    MissingAttribute {
        /// Element path.
        at: String,
        /// The attribute.
        attribute: &'static str,
    },
    /// A required element is missing.
    #[error("{at}: missing element <{element}>")]
    MissingElement {
        /// Element path.
        at: String,
        /// The element.
        element: &'static str,
    },
    /// An element that may appear once appears again.
    #[error("{at}: more than one <{element}>")]
    Repeated {
        /// Element path.
        at: String,
        /// The element.
        element: &'static str,
    },
    /// A value outside what the RFC allows.
    #[error("{at}: invalid value {value:?}, expected {expected}")]
    InvalidValue {
        /// Element or attribute path.
        at: String,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A message summary (RFC 3842) that does not follow its grammar.
    #[error("line {line}: {message}")]
    Summary {
        /// Where.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Two elements share an id that must be unique.
    #[error("{at}: duplicate id {id:?}")]
    DuplicateId {
        /// Element path.
        at: String,
        /// The id.
        id: String,
    },
}
