use std::path::{Path, PathBuf};

pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every file of a conformance directory: the copy in this crate, plus the shared corpus when it is beside
/// the repository (it may have grown since the copy was taken).
/// Shared fixtures whose verdict changed here: the shared corpus has dialog-info (RFC 4235) as a wrong root,
/// written before this crate read dialog state; our corpus has the same document as valid
/// (`valid/dialog-info-minimal-confirmed.xml`).
const SUPERSEDED: [&str; 1] = ["bad-wrong-root-dialog-info.xml"];

pub(crate) fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let mut dirs = vec![fixtures().join("conformance").join(kind)];
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/pidf")
        .join(kind);
    if shared.is_dir() {
        dirs.push(shared);
    }
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for d in dirs {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.extension().and_then(|e| e.to_str()) == Some("xml") {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                if !out.iter().any(|(n, _)| *n == name) && !SUPERSEDED.contains(&name.as_str()) {
                    out.push((name, std::fs::read(&p).unwrap()));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no fixtures found for {kind}");
    out
}
