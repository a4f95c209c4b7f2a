//! The sans-IO SIP adapter of the registrar: the bytes of a SIP message in, calls on a
//! [`registrar_service::RegistrarService`], response bytes and outgoing NOTIFY requests out.
//!
//! What it does:
//! - Parses with `ezk-sip-types`, guarded: a size cap and a header-count cap before any grammar runs,
//!   methods matched exactly, every sub-parser handed a slice of the message's own buffer, `Contact: *`
//!   and contact lists parsed strictly (by `registrar-core`). A message that cannot be parsed gets 400
//!   (416, 505, 513) with a `Warning` naming the problem when it can be answered at all, and is dropped
//!   otherwise.
//! - REGISTER (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 outbound, RFC 5627 GRUU), PUBLISH (RFC 3903),
//!   SUBSCRIBE/NOTIFY (RFC 6665, 3856, 3857, 3680, 4662), OPTIONS; 405 with `Allow` for other methods, 420
//!   for `Require` tags it does not support.
//! - A minimal RFC 3261 §17 non-INVITE transaction layer: server transactions absorb retransmissions and
//!   resend the last response (timer J); NOTIFY client transactions retransmit over UDP (timers E/F) and a
//!   timeout or a dialog-ending error response (481, 408, …) ends the subscription. Responses go where
//!   RFC 3261 §18.2.2 and RFC 3581 (rport) say.
//! - Digest authentication (RFC 7616, RFC 8760: SHA-256 and MD5) and per-source rate limits.
//!
//! What it does not do: open sockets, read clocks (every entry point takes `now`), resolve DNS (NOTIFYs go
//! to the address the SUBSCRIBE came from, which is what works through NAT), INVITE transactions, proxying,
//! TLS or WebSocket framing.
//!
//! ```
//! use std::net::SocketAddr;
//! use bytes::Bytes;
//! use registrar_service::RegistrarService;
//! use registrar_sip::{Endpoint, Peer, SipConfig};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let svc = RegistrarService::builder().build().unwrap();
//! let ep = Endpoint::new(svc, SipConfig::default());
//! let from: SocketAddr = "192.0.2.10:5060".parse().unwrap();
//! let local: SocketAddr = "192.0.2.1:5060".parse().unwrap();
//! let register = "REGISTER sip:example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK1\r\n\
//!     From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
//!     Call-ID: a1\r\nCSeq: 1 REGISTER\r\nContact: <sip:alice@192.0.2.10>\r\n\
//!     Content-Length: 0\r\n\r\n";
//! let now = ep.service().now();
//! let handled = ep.handle(now, Peer::udp(from), local, Bytes::from(register)).await;
//! assert_eq!(handled.status, Some(200));
//! assert!(String::from_utf8_lossy(&handled.out[0].bytes).starts_with("SIP/2.0 200 OK"));
//! # });
//! ```

pub mod auth;
mod endpoint;
mod error;
mod lenient;
pub mod message;
mod prehashed;
pub mod ratelimit;
pub mod stun;
mod text;

pub use endpoint::{ALLOW, Endpoint, Handled, Outgoing, Peer, Proto, SUPPORTED, SipConfig, Stats};
pub use error::Error;
pub use message::{Limits, Message, Method, frame_len};
