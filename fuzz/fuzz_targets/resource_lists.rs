//! Any bytes as the resource list of an ad-hoc list SUBSCRIBE (RFC 4826 / RFC 5367): never a panic, never
//! more entries than the limit, each entry once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_pidf::{Limits, MAX_LIST_ENTRIES, parse_resource_lists};

fuzz_target!(|data: &[u8]| {
    if let Ok(uris) = parse_resource_lists(data, &Limits::default()) {
        assert!(uris.len() <= MAX_LIST_ENTRIES);
        let mut sorted = uris.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), uris.len(), "an entry came twice");
    }
});
