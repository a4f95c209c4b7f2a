//! Black-box tests of the SIP adapter, organised by RFC section.
