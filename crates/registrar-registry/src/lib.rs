//! The SIP location service: who is registered where.
//!
//! What it does:
//! - [`plan_register`] applies one REGISTER to an AoR's bindings by every step of RFC 3261 §10.3 — query,
//!   `Contact: *`, per-contact expiry with minimum and maximum, the Call-ID/CSeq rule, all-or-nothing commits,
//!   a contact limit — plus RFC 5626 outbound (`+sip.instance` + `reg-id`), RFC 5627 GRUUs and RFC 3327 Path.
//!   It is a pure function of `now`, the request and the current bindings.
//! - [`LocationStore`] is the storage trait; [`MemoryLocationStore`] implements it with a sharded map and an
//!   expiry index whose sweeps cost O(expired).
//! - [`Registry`] composes the engine, a store and a [`RegistrarPolicy`]: `register`, `lookup` (live bindings,
//!   highest q first, then most recent), `expire`, `resolve_gruu`.
//!
//! What it does not do: parse SIP messages or authenticate (the `registrar-sip` crate), read the clock (the
//! caller passes `now`), absorb retransmissions (the SIP transaction layer does), or emit events (the service
//! layer turns [`BindingChange`]s into events). It performs no network or disk IO.
//!
//! Where RFC 3261 leaves a choice, this crate decides (see `docs/architecture.md`): a Contact without `q`
//! counts as `q=1`; an out-of-order CSeq for the same Call-ID fails with status 500 as RFC 3261 §12.2.2
//! answers out-of-order requests; the same contact twice in one request is a 400.
//!
//! ```
//! use registrar_registry::{ContactSpec, MemoryLocationStore, RegisterRequest, RegistrarPolicy, Registry};
//! use registrar_types::Timestamp;
//!
//! # tokio_test_block(async {
//! let registry = Registry::new(MemoryLocationStore::new(), RegistrarPolicy::default())?;
//! let now = Timestamp::from_secs(1_700_000_000);
//! let req = RegisterRequest::new("sip:alice@example.com".parse()?, "call-1".parse()?, "1".parse()?)
//!     .contact(ContactSpec::new("sip:alice@192.0.2.10:5060".parse()?))
//!     .expires(600);
//! let outcome = registry.register(now, &req).await?;
//! assert_eq!(outcome.contacts().next().map(|c| c.expires), Some(600));
//! let found = registry.lookup(&"sip:alice@example.com".parse()?, now).await?;
//! assert_eq!(found.len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # });
//! # fn tokio_test_block<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod engine;
mod error;
pub mod gruu;
mod memory;
mod policy;
mod registry;
mod request;
mod store;
mod table;

pub use engine::{BindingChange, ChangeKind, RegisterPlan, plan_register};
pub use error::Error;
pub use memory::MemoryLocationStore;
pub use policy::{ContactLimitPolicy, RegistrarPolicy};
pub use registry::{Bindings, ContactReply, RegisterOutcome, Registry};
pub use request::{ContactEntry, ContactSpec, RegisterRequest, Supported};
pub use store::{LocationStore, UpdateFn};

pub use registrar_types::{Binding, TempGruu};
