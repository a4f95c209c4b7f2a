//! Schemathesis (property-based API testing from `/openapi.json`) against the running server, admin and
//! directory routes, authenticated as an operator: no server errors, and every response's status, content
//! type and body match the description. Skipped, saying so, when `schemathesis` is not installed (`.ci/run`
//! installs it from PyPI).

use std::process::Command;

use crate::directory::run_with_stdin;
use crate::support::Server;

#[test]
fn the_api_matches_its_openapi_description_under_generated_requests() {
    if Command::new("schemathesis")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        eprintln!(
            "skipped the schemathesis test: schemathesis is not installed (pip install schemathesis)"
        );
        return;
    }
    let key = "schemathesis-key";
    let s = Server::start(
        "",
        &format!(
            "[directory]\njwt_secret = \"{key}\"\ndiscovery_per_hour = 1000000\nratings_per_day = 1000000\ncontact_requests_per_hour = 1000000\n"
        ),
    );
    let token = run_with_stdin(&["token", "ops@example.com", "--admin"], key);
    let out = Command::new("schemathesis")
        .args([
            "run",
            &format!("http://{}/openapi.json", s.http),
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples",
            "25",
            "--seed",
            "7",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
