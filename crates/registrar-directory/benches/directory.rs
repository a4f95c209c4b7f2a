//! The directory over 1 M synthetic participants (set `DIRECTORY_BENCH_N` for another size): build time of
//! the participants and their search index, of the relationship graph, resident memory, then latency
//! percentiles of contact resolution, expert discovery and 3-hop proximity. Prints `name value unit` lines.
//!
//! The population: first names from 400 and last names from 2 500 (so a full name is nearly unique and a
//! first name is shared by thousands), 1 000 organizations of 1 000 people with 8 roles, each person
//! declaring 3 colleagues in their organization and 2 acquaintances anywhere (about 10 links each), 2
//! topic subscriptions each out of 1 000 topics (a fifth as experts). Queries are full names, a third with
//! one typo, half with the organization as a hint, asked by a random participant.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "population.rs"]
mod population;

use registrar_directory::MemorySearchIndex;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    population::run("directory", MemorySearchIndex::new());
}
