//! The directory bench of registrar-directory with the tantivy index instead of the memory one (same
//! population, same queries; see crates/registrar-directory/benches/directory.rs). Set
//! `DIRECTORY_BENCH_N` for another size than 1 M.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../registrar-directory/benches/population.rs"]
mod population;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    population::run(
        "directory_tantivy",
        registrar_storage::TantivySearchIndex::new().unwrap(),
    );
}
