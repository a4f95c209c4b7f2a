//! Presence documents that real clients send: parsed, built, validated and composed.
//!
//! What it does:
//! - Reads PIDF (RFC 3863) with the data model (RFC 4479), RPID (RFC 4480), CIPID (RFC 4482) and capabilities
//!   (RFC 5196); watcher information (RFC 3858); registration information (RFC 3680); resource list
//!   meta-information (RFC 4662); dialog state (RFC 4235, [`DialogInfo`]); message summaries (RFC 3842,
//!   [`MessageSummary`], plain text). Elements are matched by namespace URI, never by prefix.
//! - Lenient where real clients are: elements out of schema order, tuple ids that are not XML names, persons
//!   and devices without ids, no XML declaration, unused or legacy namespaces (kept as extensions, never mapped),
//!   `priority="1.00"`, CRLF line ends, ISO-8859-1.
//! - Strict where the RFCs are, with a typed [`Error`] saying what and where: not well-formed XML, wrong root or
//!   namespace, missing `entity`, a tuple without `id` or `status`, `basic` other than open/closed, duplicate
//!   tuple ids, any DOCTYPE (no entity is ever expanded, nothing external is ever read), nesting, element count
//!   and size past configurable [`Limits`], invalid UTF-8, characters XML forbids. It never panics.
//! - Keeps unknown elements and attributes and writes them back, so documents round-trip.
//! - Writes deterministic, escaped, namespace-correct documents ([`Presence::to_xml`], [`Document::to_xml`]).
//! - Composes the publications of one presentity into one document ([`compose`]).
//!
//! What it does not do: IO, SIP, or decide presence policy (the `registrar-presence` crate does). No tokio.
//!
//! ```
//! use registrar_pidf::{Basic, Presence, Tuple};
//!
//! let mut p = Presence::new("sip:alice@example.com");
//! p.tuples.push(Tuple::new("t1", Basic::Open));
//! let xml = p.to_xml();
//! assert_eq!(Presence::parse(xml.as_bytes())?, p);
//! # Ok::<(), registrar_pidf::Error>(())
//! ```

mod caps;
mod common;
mod compose;
mod dialoginfo;
mod document;
mod error;
mod mwi;
pub mod ns;
mod pidf;
mod reginfo;
mod reslists;
mod rlmi;
mod rpid;
mod tokens;
mod winfo;
mod xml;

pub use caps::{CapValue, Capability, Caps};
pub use common::Note;
pub use compose::{Source, compose};
pub use dialoginfo::{Dialog, DialogEvent, DialogInfo, DialogParticipant, DialogState, Direction};
pub use document::Document;
pub use error::Error;
pub use mwi::{MessageClass, MessageCounts, MessageSummary};
pub use pidf::{Contact, Device, Person, Presence, Status, Tuple};
pub use reginfo::{
    ContactEvent, ContactState, RegContact, RegInfo, Registration, RegistrationState,
};
pub use reslists::{MAX_ENTRIES as MAX_LIST_ENTRIES, parse_resource_lists};
pub use rlmi::{Instance, InstanceState, Resource, ResourceList};
pub use rpid::{Activity, Cipid, Rpid, RpidSet, TimeOffset, UserInput};
pub use tokens::{Basic, DocState};
pub use winfo::{Watcher, WatcherEvent, WatcherInfo, WatcherList, WatcherStatus};
pub use xml::{Attribute, Element, Limits, Name, Node, parse_tree, write_document};
