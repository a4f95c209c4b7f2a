//! Any bytes as a presence document: never a panic; whatever parses must write and parse back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use registrar_pidf::Document;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data) {
        let xml = doc.to_xml();
        let again = Document::parse(xml.as_bytes()).expect("a written document parses");
        assert_eq!(again, doc, "round trip changed the document");
    }
});
