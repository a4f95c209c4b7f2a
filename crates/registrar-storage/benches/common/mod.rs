//! What the storage benches share: the users and their first REGISTER.

use registrar_registry::{ContactSpec, RegisterRequest};
use registrar_types::{Aor, CSeq};

/// User `i`'s AoR.
pub(crate) fn user(i: usize) -> Aor {
    format!("sip:user{i}@example.com").parse().unwrap()
}

/// User `i`'s first REGISTER: one contact for an hour, as a phone sends it.
pub(crate) fn request(i: usize) -> RegisterRequest {
    RegisterRequest::new(
        user(i),
        format!("call-{i}@192.0.2.1").parse().unwrap(),
        CSeq::new(1).unwrap(),
    )
    .contact(
        ContactSpec::new(
            format!("sip:user{i}@192.0.2.{}:{}", i % 250, 5060 + i % 1000)
                .parse()
                .unwrap(),
        )
        .expires(3600),
    )
    .user_agent("bench-phone/1.0")
}
