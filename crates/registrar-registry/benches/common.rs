//! Shared set-up for the registry benches.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use registrar_registry::{ContactSpec, MemoryLocationStore, RegisterRequest, Registry};
use registrar_types::{Aor, CSeq, Timestamp, Transport};

pub(crate) const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

/// Poll a future that the in-memory store always completes at once.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

pub(crate) fn aor(i: usize) -> Aor {
    format!("sip:user{i:07}@example.com")
        .parse()
        .expect("valid AoR")
}

/// A REGISTER as a typical phone sends it: one contact with a transport parameter, a 32-character Call-ID,
/// a User-Agent.
pub(crate) fn request(i: usize, call: &str, cseq: u32) -> RegisterRequest {
    let contact = format!(
        "sip:user{i:07}@10.{}.{}.{}:5060;transport=udp",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    );
    RegisterRequest::new(
        aor(i),
        format!("{call}{i:024x}@10.0.0.1")
            .parse()
            .expect("valid Call-ID"),
        CSeq::new(cseq).expect("valid CSeq"),
    )
    .contact(ContactSpec::new(contact.parse().expect("valid contact")))
    .from_addr(([10, 0, 0, 1], 5060).into(), Transport::Udp)
    .user_agent("baresip v1.0.0 (x86_64/linux)")
    .expires(3600)
}

#[allow(
    dead_code,
    reason = "used by the criterion bench, not by the memory bench"
)]
pub(crate) fn filled(n: usize) -> Registry<MemoryLocationStore> {
    let registry = Registry::new(MemoryLocationStore::with_capacity(n), Default::default())
        .expect("default policy is valid");
    for i in 0..n {
        ready(registry.register_with_entropy(NOW, &request(i, "a", 1), i as u64))
            .expect("registration succeeds");
    }
    registry
}
