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
