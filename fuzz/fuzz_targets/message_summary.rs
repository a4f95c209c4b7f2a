//! Any bytes as a message summary (RFC 3842): never a panic; whatever parses must write and parse back the
//! same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_pidf::MessageSummary;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = MessageSummary::parse(data) {
        let text = s.to_text();
        let again = MessageSummary::parse(text.as_bytes()).expect("a written summary parses");
        assert_eq!(again, s, "round trip changed the summary");
    }
});
