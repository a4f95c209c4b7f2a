//! Schemathesis (property-based API testing from `/openapi.json`) against the running server, admin and
//! directory routes, authenticated as an operator: no server errors, and every response's status, content
//! type and body match the description. Skipped, saying so, when `schemathesis` is not installed (`.ci/run`
//! installs it from PyPI).

use std::process::Command;

use crate::directory::run_with_stdin;
use crate::support::Server;

/// Whether schemathesis runs here; under `CI=true` its absence fails the test instead of skipping it.
fn schemathesis_installed(test: &str) -> bool {
    let installed = Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        crate::support::skipped(
            test,
            "schemathesis is not installed (pip install schemathesis)",
        );
    }
    installed
}

#[test]
fn the_api_matches_its_openapi_description_under_generated_requests() {
    if !schemathesis_installed("the schemathesis test") {
        return;
    }
    let key = "schemathesis-key";
    // Federation on (one peer that is down) and an OpenID provider, so their routes and paths are exercised.
    let (private, _) = crate::directory::keygen();
    let (_, peer_public) = crate::directory::keygen();
    let (_, idp_public) = crate::directory::keygen();
    let down = crate::support::free_port();
    let s = Server::start(
        "",
        &format!(
            "[directory]\njwt_secret = \"{key}\"\ndiscovery_per_hour = 1000000\nratings_per_day = 1000000\ncontact_requests_per_hour = 1000000\n\
             dns_servers = [\"127.0.0.1:{down}\"]\n\n\
             [[directory.oidc]]\nissuer = \"https://idp.example\"\naudience = \"registrar\"\n\
             jwks = '{{\"keys\":[{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"{idp_public}\"}}]}}'\n\n\
             [federation]\nserver_id = \"here\"\nprivate_key = \"{private}\"\ndomains = [\"example.com\"]\ntimeout_ms = 200\n\n\
             [[federation.peers]]\nid = \"down\"\nurl = \"http://127.0.0.1:{down}\"\npublic_key = \"{peer_public}\"\ntrust = \"verified\"\n"
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

/// Stateful: schemathesis follows the links of `/openapi.json` between the directory's routes (a participant
/// created, then read, exported, given priority settings, challenged for a domain and erased; a relationship
/// declared then taken back; a contact request made then decided; a topic followed then its experts listed),
/// and checks that what was created can be read and what was erased is gone.
#[test]
fn the_directory_routes_hold_their_contract_across_sequences_of_calls() {
    if !schemathesis_installed("the stateful schemathesis test") {
        return;
    }
    let key = "schemathesis-stateful-key";
    let s = Server::start(
        "",
        &format!(
            "[directory]\njwt_secret = \"{key}\"\ndiscovery_per_hour = 1000000\nratings_per_day = 1000000\ncontact_requests_per_hour = 1000000\n"
        ),
    );
    let token = run_with_stdin(&["token", "ops@example.com", "--admin"], key);
    // Only the links the document declares (schemathesis would also guess links from names, and guess
    // wrong: a participant id into a contact request's number).
    let dir = crate::support::TempDir::new("schemathesis-stateful");
    let config = dir.0.join("schemathesis.toml");
    std::fs::write(&config, "[phases.stateful]\ninference.algorithms = []\n").unwrap();
    let out = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("http://{}/openapi.json", s.http),
            "-H",
            &format!("Authorization: Bearer {}", token.trim()),
            "--phases",
            "stateful",
            "--include-path-regex",
            "^/v1/(participants|relationships|contact-requests|topics|experts)",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,use_after_free,ensure_resource_availability",
            "--max-examples",
            "30",
            "--seed",
            "11",
        ])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis (stateful) found failures:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("Stateful") && !report.contains("0 covered"),
        "the stateful phase did not follow a link:\n{report}"
    );
}
