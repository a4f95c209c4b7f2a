use std::sync::Arc;

use registrar_presence::{
    DialogId, MemoryPresenceStore, PresencePolicy, Presences, SubscriptionPolicy, Subscriptions,
};
use registrar_types::{Aor, ETag, Timestamp};

pub(crate) const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
pub(crate) const ALICE: &str = "sip:alice@example.com";

pub(crate) fn presences() -> Presences<MemoryPresenceStore> {
    Presences::new(MemoryPresenceStore::new(), PresencePolicy::default()).unwrap()
}

pub(crate) fn aor(s: &str) -> Aor {
    s.parse().unwrap()
}

pub(crate) fn tag(n: u128) -> ETag {
    ETag::from_random(n)
}

/// A PIDF body with one tuple.
pub(crate) fn pidf(tuple: &str, basic: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="{tuple}"><status><basic>{basic}</basic></status></tuple></presence>"#
    )
    .into_bytes()
}

/// The dialog of subscription number `n`.
pub(crate) fn dialog(n: u32) -> DialogId {
    DialogId::new(
        format!("call-{n}").parse().unwrap(),
        &format!("from-{n}"),
        &format!("to-{n}"),
    )
}

/// Subscriptions with the default policy.
pub(crate) fn subs() -> Subscriptions {
    Subscriptions::new(SubscriptionPolicy::default()).unwrap()
}

/// [`pidf`] as a shared body.
pub(crate) fn doc(basic: &str) -> Arc<str> {
    Arc::from(String::from_utf8(pidf("t", basic)).unwrap())
}
