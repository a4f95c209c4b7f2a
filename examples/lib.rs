//! Runnable examples of the registrar crates; see the `[[example]]` targets of this package.
