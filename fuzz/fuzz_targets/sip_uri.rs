//! Any text as a SIP URI: never a panic; what parses prints to something that parses to an equal URI; its
//! push parameters (RFC 8599) read without a panic, and a URI stripped of them has none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_types::{Aor, PN_PARAM, PN_PRID, PN_PROVIDER, PushTarget, SipUri};

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
        if let Ok(Some(t)) = PushTarget::from_uri(&uri) {
            assert!(!t.provider.as_str().is_empty());
            let bare = uri
                .without_param(PN_PROVIDER)
                .without_param(PN_PRID)
                .without_param(PN_PARAM);
            assert_eq!(PushTarget::from_uri(&bare), Ok(None), "{text:?}");
        }
    }
});
