//! Any text as a SIP URI: never a panic; what parses prints to something that parses to an equal URI.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_types::{Aor, SipUri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(uri) = text.parse::<SipUri>() {
        let printed = uri.to_string();
        let again: SipUri = printed.parse().expect("a printed URI parses");
        assert!(again == uri, "{text:?} -> {printed:?}");
        let aor = Aor::from_uri(&uri);
        let _ = aor.to_uri();
    }
});
