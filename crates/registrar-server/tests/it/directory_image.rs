//! The directory's image in embedded mode: written at SIGTERM, read at the next start while the data file
//! has the stamp it was taken at, refused (and the data file loaded) after a crash that followed more
//! changes, removed by an erasure; temporary files of a crashed writer removed at start.

use crate::directory::{KEY, call, json, token};
use crate::support::Server;

fn config(data: &std::path::Path) -> String {
    format!(
        "[storage]\nmode = \"embedded\"\ndata_dir = \"{}\"\n\n[directory]\njwt_secret = \"{KEY}\"\n",
        data.display()
    )
}

fn put(s: &Server, tok: &str, id: &str, name: &str) {
    let body = serde_json::json!({"id": id, "entity": "human", "identities": [{"name": name}]});
    let (st, _, out) = call(
        s,
        "PUT",
        &format!("/v1/participants/{id}"),
        tok,
        &body.to_string(),
    );
    assert!(st == 201 || st == 204, "PUT {id}: {st} {out}");
}

fn name_of(s: &Server, tok: &str, id: &str) -> Option<String> {
    let (st, _, out) = call(s, "GET", &format!("/v1/participants/{id}"), tok, "");
    (st == 200).then(|| json(&out)["name"].as_str().unwrap().to_owned())
}

#[test]
fn the_image_is_used_only_while_the_data_file_is_where_it_was_taken() {
    let dir = std::env::temp_dir().join(format!(
        "registrar-it-image-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let image = dir.join("directory.image");
    let admin = token("ops@example.com", true, "1");
    let mut s = Server::start("", &config(&dir));
    put(&s, &admin, "alice@example.com", "Alice");
    put(&s, &admin, "bob@example.com", "Bob");
    assert!(s.terminate().success());
    assert!(image.exists(), "no image after SIGTERM: {}", s.log());

    // Started from the image.
    let mut s = Server::start("", &config(&dir));
    assert!(s.log().contains("loaded from its image"), "{}", s.log());
    assert_eq!(
        name_of(&s, &admin, "alice@example.com").as_deref(),
        Some("Alice")
    );
    // A change, then a crash: the image (from before it) no longer matches the data file.
    put(&s, &admin, "carol@example.com", "Carol");
    s.kill9();
    let mut s = Server::start("", &config(&dir));
    assert!(s.log().contains("image not used"), "{}", s.log());
    assert_eq!(
        name_of(&s, &admin, "carol@example.com").as_deref(),
        Some("Carol")
    );
    assert!(s.terminate().success());

    // A damaged image is refused, never half-read.
    let mut bytes = std::fs::read(&image).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&image, bytes).unwrap();
    // And a temporary image file a crashed writer left (a process id that cannot be running) goes.
    let abandoned = dir.join("directory.tmp.999999999");
    std::fs::write(&abandoned, b"half an image").unwrap();
    let s = Server::start("", &config(&dir));
    assert!(s.log().contains("checksum mismatch"), "{}", s.log());
    assert!(!abandoned.exists(), "an abandoned image file stayed");
    assert_eq!(
        name_of(&s, &admin, "bob@example.com").as_deref(),
        Some("Bob")
    );
    // An erasure removes the image at once.
    std::fs::write(&image, b"stale").unwrap();
    let (st, _, _) = call(&s, "DELETE", "/v1/participants/bob@example.com", &admin, "");
    assert_eq!(st, 204);
    assert!(!image.exists(), "the image outlived an erasure");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
