//! The directory over its HTTP API as a hostile user tries it: self-granted access through a `mutual` flag,
//! existence oracles on every route that takes a participant id, hidden fields in side channels (permission
//! reasons, errors), unbounded and misspelt input, plain-text errors, and the OpenAPI contract that states
//! every limit.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::directory::{KEY, call, json, token};
use crate::support::Server;

fn directory_server() -> Server {
    Server::start(
        "",
        &format!(
            "[directory]\njwt_secret = \"{KEY}\"\ndiscovery_per_hour = 100000\nratings_per_day = 100000\ncontact_requests_per_hour = 100000\n"
        ),
    )
}

/// A participant body: `extra` is merged into the top level.
fn body(id: &str, name: &str, org: &str, extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "id": id,
        "entity": "human",
        "identities": [{"name": name, "organization": org, "email": id}],
        "org": {"organization": org, "cross_org": {"allow_external_contact": true}},
    });
    if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v.to_string()
}

fn put(s: &Server, admin: &str, id: &str, b: &str) {
    let (st, _, out) = call(s, "PUT", &format!("/v1/participants/{id}"), admin, b);
    assert!(st == 201 || st == 204, "{st} {out}");
}

#[test]
fn a_mutual_flag_set_by_one_side_grants_nothing() {
    let s = directory_server();
    let admin = token("ops@example.com", true, "1");
    let bob = token("bob@example.com", false, "1");
    let alice = token("alice@example.com", false, "1");
    let private = serde_json::json!({"permissions": {"discoverability": "private"}});
    put(
        &s,
        &admin,
        "alice@example.com",
        &body("alice@example.com", "Alice Hidden", "Helix Labs", private),
    );
    put(
        &s,
        &admin,
        "bob@example.com",
        &body(
            "bob@example.com",
            "Bob Stranger",
            "Elsewhere",
            serde_json::json!({}),
        ),
    );
    // The attack of the finding: a stranger declares a "mutual" relationship to a private participant.
    let claim = r#"{"from": "bob@example.com", "to": "alice@example.com", "kind": "colleague", "mutual": true}"#;
    let (st, _, out) = call(&s, "POST", "/v1/relationships", &bob, claim);
    assert_eq!(st, 400, "{out}");
    assert!(
        json(&out)["error"].as_str().unwrap().contains("mutual"),
        "{out}"
    );
    // Without the flag: alice is someone bob may not see, answered as a missing id.
    let plain = r#"{"from": "bob@example.com", "to": "alice@example.com", "kind": "colleague"}"#;
    let (st, _, out) = call(&s, "POST", "/v1/relationships", &bob, plain);
    assert_eq!(st, 404, "{out}");
    for path in [
        "/v1/participants/alice@example.com".to_owned(),
        "/v1/discovery".to_owned(),
    ] {
        let (method, b) = if path.ends_with("discovery") {
            ("POST", r#"{"text": "Alice Hidden"}"#)
        } else {
            ("GET", "")
        };
        let (st, _, out) = call(&s, method, &path, &bob, b);
        assert!(
            !out.contains("Alice Hidden"),
            "bob sees the private participant through {path}: {st} {out}"
        );
    }
    // Alice declares bob: bob may see her now, and his own declaration makes it mutual.
    let back = r#"{"from": "alice@example.com", "to": "bob@example.com", "kind": "colleague"}"#;
    assert_eq!(call(&s, "POST", "/v1/relationships", &alice, back).0, 204);
    let (st, _, out) = call(&s, "GET", "/v1/participants/alice@example.com", &bob, "");
    assert_eq!(st, 200, "{out}");
    assert_eq!(call(&s, "POST", "/v1/relationships", &bob, plain).0, 204);
    let (_, _, out) = call(
        &s,
        "GET",
        "/v1/participants/bob@example.com/export",
        &bob,
        "",
    );
    let rels = json(&out)["relationships"].clone();
    assert_eq!(rels.as_array().unwrap().len(), 2, "{rels}");
    assert!(
        rels.as_array().unwrap().iter().all(|r| r["mutual"] == true),
        "{rels}"
    );
}

#[test]
fn every_route_answers_a_hidden_participant_as_a_missing_one() {
    let s = directory_server();
    let admin = token("ops@example.com", true, "1");
    let mallory = token("mallory@example.com", false, "1");
    put(
        &s,
        &admin,
        "mallory@example.com",
        &body(
            "mallory@example.com",
            "Mallory",
            "Elsewhere",
            serde_json::json!({}),
        ),
    );
    for (id, perms) in [
        (
            "stealth@example.com",
            serde_json::json!({"discoverability": "stealth"}),
        ),
        (
            "private@example.com",
            serde_json::json!({"discoverability": "private"}),
        ),
        (
            "blocks@example.com",
            serde_json::json!({"blocked_ids": ["mallory@example.com"]}),
        ),
    ] {
        put(
            &s,
            &admin,
            id,
            &body(
                id,
                "Hidden Person",
                "Helix Labs",
                serde_json::json!({"permissions": perms}),
            ),
        );
    }
    let routes: Vec<(&str, String, String)> = vec![
        ("GET", "/v1/participants/{id}".into(), String::new()),
        (
            "PUT",
            "/v1/participants/{id}".into(),
            body("{id}", "X", "Y", serde_json::json!({})),
        ),
        ("DELETE", "/v1/participants/{id}".into(), String::new()),
        ("GET", "/v1/participants/{id}/export".into(), String::new()),
        (
            "PUT",
            "/v1/participants/{id}/priority".into(),
            r#"{"participant": "{id}"}"#.into(),
        ),
        (
            "GET",
            "/v1/participants/{id}/verify/domain?domain=example.com".into(),
            String::new(),
        ),
        (
            "POST",
            "/v1/participants/{id}/verify/domain".into(),
            r#"{"domain": "example.com"}"#.into(),
        ),
        (
            "POST",
            "/v1/participants/{id}/verify/oidc".into(),
            r#"{"id_token": "x"}"#.into(),
        ),
        ("GET", "/v1/audit?participant={id}".into(), String::new()),
        (
            "POST",
            "/v1/ratings".into(),
            r#"{"ratee": "{id}", "category": "overall", "score": 10}"#.into(),
        ),
        (
            "POST",
            "/v1/priority".into(),
            r#"{"recipient": "{id}", "text": "hi"}"#.into(),
        ),
        (
            "POST",
            "/v1/relationships".into(),
            r#"{"from": "mallory@example.com", "to": "{id}", "kind": "friend"}"#.into(),
        ),
        (
            "DELETE",
            "/v1/relationships?from=mallory@example.com&to={id}".into(),
            String::new(),
        ),
        (
            "POST",
            "/v1/contact-requests".into(),
            r#"{"to": "{id}", "note": "hi"}"#.into(),
        ),
        (
            "POST",
            "/v1/discovery".into(),
            r#"{"text": "{id}", "exact_id": "{id}"}"#.into(),
        ),
    ];
    for hidden in [
        "stealth@example.com",
        "private@example.com",
        "blocks@example.com",
    ] {
        for (method, path, b) in &routes {
            let answer = |id: &str| {
                let (st, _, out) = call(
                    &s,
                    method,
                    &path.replace("{id}", id),
                    &mallory,
                    &b.replace("{id}", id),
                );
                (st, out.replace(id, "<id>"))
            };
            let for_hidden = answer(hidden);
            let for_missing = answer("nobody@example.com");
            assert_eq!(
                for_hidden, for_missing,
                "{method} {path}: {hidden} answered unlike a missing id"
            );
        }
    }
}

#[test]
fn no_field_above_the_requesters_level_reaches_an_answer() {
    let s = directory_server();
    let admin = token("ops@example.com", true, "1");
    let bob = token("bob@example.com", false, "1");
    put(
        &s,
        &admin,
        "bob@example.com",
        &body(
            "bob@example.com",
            "Bob Outsider",
            "Elsewhere",
            serde_json::json!({}),
        ),
    );
    // Alice shows the public only her name; her organization refuses contact from outside.
    let alice = serde_json::json!({
        "id": "aisha@helix.example",
        "entity": "human",
        "identities": [{"name": "Aisha Vlokov", "organization": "Helix Labs", "role": "Counsel", "email": "aisha@helix.example"}],
        "permissions": {"audiences": {"public": "minimal"}},
        "org": {"organization": "Helix Labs", "role": "Counsel", "cross_org": {"allow_external_contact": false}},
    });
    put(&s, &admin, "aisha@helix.example", &alice.to_string());
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/discovery",
        &bob,
        r#"{"text": "Aisha Vlokov", "hints": {"organization": "Helix", "role": "Counsel"}}"#,
    );
    assert_eq!(st, 200, "{out}");
    assert!(out.contains("Aisha Vlokov"), "{out}");
    // Neither the organization and role nor a confirmation that the hints about them hold.
    for hidden in ["Helix", "Counsel", "organization hint", "role hint"] {
        assert!(!out.contains(hidden), "{hidden} in {out}");
    }
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/contact-requests",
        &bob,
        r#"{"to": "aisha@helix.example", "note": "hello"}"#,
    );
    assert_eq!(st, 403, "{out}");
    assert!(!out.contains("Helix"), "{out}");
}

/// A participant document with a field of size `n`.
type Doc = Box<dyn Fn(usize) -> serde_json::Value>;

#[test]
fn every_field_has_a_limit_and_unknown_fields_are_refused() {
    let s = directory_server();
    let admin = token("ops@example.com", true, "1");
    let id = "long@example.com";
    // The finding: a 100 kB name. Refused at once, and the server keeps answering.
    let huge = body(id, &"n".repeat(100_000), "Lab", serde_json::json!({}));
    let (st, head, out) = call(&s, "PUT", &format!("/v1/participants/{id}"), &admin, &huge);
    assert_eq!(st, 400, "{out}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(
        json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("identities[0].name: at most 200 bytes"),
        "{out}"
    );
    assert_eq!(s.http("GET", "/health").0, 200);

    // Every limited field, at its limit (accepted) and one over (refused, named).
    let ok_and_over: Vec<(&str, Doc, usize)> = vec![
        (
            "identities[0].name",
            Box::new(|n| serde_json::json!({"identities": [{"name": "x".repeat(n)}]})),
            200,
        ),
        (
            "identities[0].email",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "email": "e".repeat(n)}]}),
            ),
            254,
        ),
        (
            "identities[0].sip_aor",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "sip_aor": "s".repeat(n)}]}),
            ),
            256,
        ),
        (
            "identities[0].organization",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "organization": "o".repeat(n)}]}),
            ),
            200,
        ),
        (
            "identities[0].department",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "department": "d".repeat(n)}]}),
            ),
            200,
        ),
        (
            "identities[0].role",
            Box::new(|n| serde_json::json!({"identities": [{"name": "x", "role": "r".repeat(n)}]})),
            200,
        ),
        (
            "identities[0].capabilities",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "capabilities": vec!["c"; n]}]}),
            ),
            50,
        ),
        (
            "identities[0].capabilities[0]",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "capabilities": ["c".repeat(n)]}]}),
            ),
            64,
        ),
        (
            "identities[0].languages",
            Box::new(
                |n| serde_json::json!({"identities": [{"name": "x", "languages": vec!["en"; n]}]}),
            ),
            50,
        ),
        (
            "identities",
            Box::new(
                |n| serde_json::json!({"identities": vec![serde_json::json!({"name": "x"}); n]}),
            ),
            10,
        ),
        (
            "permissions.auto_accept",
            Box::new(
                |n| serde_json::json!({"permissions": {"auto_accept": (0..n).map(|i| format!("p{i}@x.example")).collect::<Vec<_>>()}}),
            ),
            500,
        ),
        (
            "permissions.blocked_ids",
            Box::new(
                |n| serde_json::json!({"permissions": {"blocked_ids": (0..n).map(|i| format!("p{i}@x.example")).collect::<Vec<_>>()}}),
            ),
            500,
        ),
        (
            "permissions.blocked_domains",
            Box::new(
                |n| serde_json::json!({"permissions": {"blocked_domains": vec!["x.example"; n]}}),
            ),
            200,
        ),
        (
            "permissions.blocked_domains[0]",
            Box::new(|n| serde_json::json!({"permissions": {"blocked_domains": ["d".repeat(n)]}})),
            253,
        ),
        (
            "permissions.blocked_organizations",
            Box::new(
                |n| serde_json::json!({"permissions": {"blocked_organizations": vec!["Org"; n]}}),
            ),
            200,
        ),
        (
            "org.organization",
            Box::new(|n| serde_json::json!({"org": {"organization": "o".repeat(n)}})),
            200,
        ),
        (
            "org.team",
            Box::new(|n| serde_json::json!({"org": {"organization": "o", "team": "t".repeat(n)}})),
            200,
        ),
        (
            "org.cross_org.partners",
            Box::new(
                |n| serde_json::json!({"org": {"organization": "o", "cross_org": {"partners": vec!["P"; n]}}}),
            ),
            200,
        ),
        (
            "org.cross_org.blocked",
            Box::new(
                |n| serde_json::json!({"org": {"organization": "o", "cross_org": {"blocked": vec!["B"; n]}}}),
            ),
            200,
        ),
        (
            "region",
            Box::new(|n| serde_json::json!({"region": "r".repeat(n)})),
            200,
        ),
    ];
    for (field, make, max) in &ok_and_over {
        let doc = |n: usize| {
            let mut v = serde_json::json!({"id": id, "entity": "human"});
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), make(n)) {
                o.extend(e);
            }
            v.to_string()
        };
        let (st, _, out) = call(
            &s,
            "PUT",
            &format!("/v1/participants/{id}"),
            &admin,
            &doc(*max),
        );
        assert!(
            st == 201 || st == 204,
            "{field} at its limit {max}: {st} {out}"
        );
        let (st, _, out) = call(
            &s,
            "PUT",
            &format!("/v1/participants/{id}"),
            &admin,
            &doc(max + 1),
        );
        assert_eq!(st, 400, "{field} over its limit: {out}");
        let e = json(&out)["error"].as_str().unwrap().to_owned();
        assert!(
            e.contains(&format!("{field}: at most {max}")),
            "{field}: {e}"
        );
    }
    // Topics, priority settings, notes, discovery text and hints.
    let user = token(id, false, "1");
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/topics",
        &user,
        &serde_json::json!({"participant": id, "topic": "t".repeat(101), "role": "expert"})
            .to_string(),
    );
    assert_eq!(st, 400, "{out}");
    let (st, _, out) = call(
        &s,
        "PUT",
        &format!("/v1/participants/{id}/priority"),
        &user,
        &serde_json::json!({"participant": id, "emergency_keywords": vec!["k"; 101]}).to_string(),
    );
    assert_eq!(st, 400, "{out}");
    assert!(out.contains("emergency_keywords: at most 100"), "{out}");
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/discovery",
        &user,
        &serde_json::json!({"text": "t".repeat(513)}).to_string(),
    );
    assert_eq!(st, 400, "{out}");
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/discovery",
        &user,
        &serde_json::json!({"text": "x", "hints": {"role": "r".repeat(201)}}).to_string(),
    );
    assert_eq!(st, 400, "{out}");
    assert!(out.contains("hints.role: at most 200"), "{out}");
    let (st, _, out) = call(
        &s,
        "POST",
        "/v1/contact-requests",
        &user,
        &serde_json::json!({"to": "ops@example.com", "note": "n".repeat(501)}).to_string(),
    );
    assert_eq!(st, 400, "{out}");

    // A misspelt setting is refused, naming the field; the owner's discoverability is unchanged.
    let typo = r#"{"id": "long@example.com", "entity": "human", "permissions": {"discoverabilty": "stealth"}}"#;
    let (st, _, out) = call(&s, "PUT", &format!("/v1/participants/{id}"), &admin, typo);
    assert_eq!(st, 400, "{out}");
    assert!(
        json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `discoverabilty`"),
        "{out}"
    );
    for (where_, b) in [
        (
            "top level",
            r#"{"id": "long@example.com", "entity": "human", "nickname": "x"}"#,
        ),
        (
            "identity",
            r#"{"id": "long@example.com", "entity": "human", "identities": [{"name": "x", "nick": "y"}]}"#,
        ),
        (
            "org",
            r#"{"id": "long@example.com", "entity": "human", "org": {"organization": "o", "acces": "internal"}}"#,
        ),
        (
            "audiences",
            r#"{"id": "long@example.com", "entity": "human", "permissions": {"audiences": {"publc": "full"}}}"#,
        ),
    ] {
        let (st, _, out) = call(&s, "PUT", &format!("/v1/participants/{id}"), &admin, b);
        assert_eq!(st, 400, "{where_}: {out}");
        assert!(out.contains("unknown field"), "{where_}: {out}");
    }
}

/// A request whose body is one byte over the directory's limit.
fn oversized(s: &Server, tok: &str) -> (u16, String, String) {
    let mut c = TcpStream::connect(s.http).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // One byte over: all of it is sent, so the server has read everything when it answers.
    let len = 1024 * 1024 + 1;
    let head = format!(
        "PUT /v1/participants/big@example.com HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    );
    c.write_all(head.as_bytes()).unwrap();
    let _ = c.write_all(&vec![b' '; len]);
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn errors_are_json_whatever_refuses_the_request() {
    let s = directory_server();
    let admin = token("ops@example.com", true, "1");
    let (st, head, out) = oversized(&s, &admin);
    assert_eq!(st, 413, "{head}{out}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(json(&out)["error"].is_string(), "{out}");
    // A path that does not parse, a query that does not, a wrong method: JSON too.
    for (method, path) in [
        ("POST", "/v1/contact-requests/x/approve"),
        ("GET", "/v1/experts?topic=x&limit=many"),
        ("PATCH", "/v1/participants/a@example.com"),
        ("DELETE", "/v1/relationships?from=a@example.com"),
    ] {
        let (st, head, out) = call(&s, method, path, &admin, "");
        assert!(st >= 400, "{method} {path}: {st}");
        assert!(
            head.contains("content-type: application/json"),
            "{method} {path}: {head}"
        );
        assert!(json(&out)["error"].is_string(), "{method} {path}: {out}");
    }
}

#[test]
fn the_openapi_document_states_every_body_parameter_and_limit() {
    let s = directory_server();
    let (st, doc) = s.http("GET", "/openapi.json");
    assert_eq!(st, 200);
    let doc = json(&doc);
    let schemas = &doc["components"]["schemas"];
    let participant = &schemas["Participant"];
    assert_eq!(participant["additionalProperties"], false, "{participant}");
    let identity = &schemas["IdentityContext"]["properties"];
    assert_eq!(identity["name"]["maxLength"], 200, "{identity}");
    assert_eq!(
        schemas["Participant"]["properties"]["identities"]["maxItems"],
        10
    );
    assert_eq!(
        schemas["DiscoveryPermissions"]["properties"]["blocked_ids"]["maxItems"],
        500
    );
    let put = &doc["paths"]["/v1/participants/{id}"]["put"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(put["$ref"], "#/components/schemas/ParticipantBody", "{put}");
    assert_eq!(schemas["ParticipantBody"]["additionalProperties"], false);
    assert!(
        !schemas["ParticipantBody"]["required"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("id"))
    );
    assert_eq!(
        schemas["DiscoveryBody"]["properties"]["text"]["maxLength"],
        512
    );
    // Query parameters are query parameters.
    for (path, method, name) in [
        ("/v1/experts", "get", "topic"),
        ("/v1/audit", "get", "participant"),
        ("/v1/participants/{id}/verify/domain", "get", "domain"),
        ("/v1/relationships", "delete", "from"),
    ] {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let p = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["in"], "query", "{path} {name}: {p}");
    }
    let rel = &doc["paths"]["/v1/relationships"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(
        rel["$ref"], "#/components/schemas/RelationshipBody",
        "{rel}"
    );
}
