//! How long the directory takes to rebuild its memory (participants, search index, graph) from a store's
//! snapshot, and to write and read it back as an image: DIRECTORY_BENCH_N participants (default 1 M) with
//! their relationships and topics. Prints `name value unit` lines. `cargo bench -p registrar-directory --bench startup`.
#![allow(clippy::unwrap_used, missing_docs)]

mod population;

use std::time::Instant;

use population::{Link, Rng, person};
use registrar_directory::{Directory, MemorySearchIndex, Snapshot};

fn main() {
    let n = std::env::var("DIRECTORY_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut snapshot = Snapshot {
        participants: (0..n).map(person).collect(),
        ..Snapshot::default()
    };
    population::links(n, &mut Rng(42), |l| match l {
        Link::Relationship(r) => snapshot.relationships.push(r),
        Link::Topic(t) => snapshot.topics.push(t),
    });
    let t = Instant::now();
    let d = Directory::restore(MemorySearchIndex::new(), snapshot);
    println!("directory_restore_{n} {:.2} s", t.elapsed().as_secs_f64());
    println!(
        "directory_restore_{n}_rss {} MiB",
        population::rss_bytes() >> 20
    );
    // The same directory through its image, as a node starts from one (the file read included).
    let path = std::env::temp_dir().join(format!("registrar-startup-{}.image", std::process::id()));
    let t = Instant::now();
    let header = registrar_directory::ImageHeader {
        origin: "bench".into(),
        position: 0,
    };
    d.write_image(std::fs::File::create(&path).unwrap(), &header)
        .unwrap();
    println!(
        "directory_image_write_{n} {:.2} s",
        t.elapsed().as_secs_f64()
    );
    println!(
        "directory_image_size_{n} {} MiB",
        std::fs::metadata(&path).unwrap().len() >> 20
    );
    drop(d);
    let t = Instant::now();
    let bytes = std::fs::read(&path).unwrap();
    let (d, _) = Directory::read_image(MemorySearchIndex::new(), &bytes).unwrap();
    drop(bytes);
    println!(
        "directory_image_read_{n} {:.2} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_file(&path).unwrap();
    std::hint::black_box(d.len());
}
