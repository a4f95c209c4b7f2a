//! HTTP Message Signatures (RFC 9421) as federation uses them, with Ed25519 (`alg="ed25519"`, §3.3.6) and
//! the body bound by `Content-Digest` (RFC 9530, `sha-256`).
//!
//! A request signs `("@method" "@path" "date" "content-digest")` with `created`, `keyid` (the signing
//! server's id), `alg` and a random `nonce`; a response signs `("@status" "date" "content-digest")`. The
//! signature label is `fed`. Verification checks every covered component is present and matches, the
//! digest matches the body, `created` and `Date` are within the allowed window of now, and the signature
//! verifies under the key of the `keyid`. Replay protection (each signature accepted once) is the caller's,
//! with [`ReplayGuard`].

use std::collections::HashMap;

use axum::http::HeaderMap;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::directory::jwt::b64url_encode;

/// The label of our signatures in `Signature-Input` / `Signature`.
const LABEL: &str = "fed";

/// Standard base64 with padding (RFC 4648 §4), as structured-field byte sequences use.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The inverse of [`b64_encode`] (`None` for anything else, the URL-safe alphabet included).
pub(crate) fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// The `Content-Digest` of `body`.
pub(crate) fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", b64_encode(&Sha256::digest(body)))
}

/// The headers a signed message carries.
#[derive(Clone, Debug)]
pub(crate) struct Signed {
    pub(crate) date: String,
    pub(crate) content_digest: String,
    pub(crate) signature_input: String,
    pub(crate) signature: String,
}

fn params(components: &[&str], created: u64, keyid: &str, nonce: Option<&str>) -> String {
    let list: Vec<String> = components.iter().map(|c| format!("\"{c}\"")).collect();
    let mut p = format!(
        "({});created={created};keyid=\"{keyid}\";alg=\"ed25519\"",
        list.join(" ")
    );
    if let Some(n) = nonce {
        p.push_str(&format!(";nonce=\"{n}\""));
    }
    p
}

/// The signature base (§2.5): one line per covered component, then the signature parameters.
fn base(values: &[(&str, &str)], params: &str) -> String {
    let mut b = String::new();
    for (name, value) in values {
        b.push_str(&format!("\"{name}\": {value}\n"));
    }
    b.push_str(&format!("\"@signature-params\": {params}"));
    b
}

fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Sign a request.
pub(crate) fn sign_request(
    key: &SigningKey,
    keyid: &str,
    method: &str,
    path: &str,
    body: &[u8],
    now_secs: u64,
) -> Result<Signed, String> {
    let mut n = [0u8; 16];
    getrandom::fill(&mut n).map_err(|e| format!("no randomness: {e}"))?;
    let nonce = b64url_encode(&n);
    let date = http_date(now_secs);
    let digest = content_digest(body);
    let p = params(
        &["@method", "@path", "date", "content-digest"],
        now_secs,
        keyid,
        Some(&nonce),
    );
    let b = base(
        &[
            ("@method", method),
            ("@path", path),
            ("date", &date),
            ("content-digest", &digest),
        ],
        &p,
    );
    Ok(finish(key, date, digest, &p, &b))
}

/// Sign a response.
pub(crate) fn sign_response(
    key: &SigningKey,
    keyid: &str,
    status: u16,
    body: &[u8],
    now_secs: u64,
) -> Signed {
    let date = http_date(now_secs);
    let digest = content_digest(body);
    let p = params(
        &["@status", "date", "content-digest"],
        now_secs,
        keyid,
        None,
    );
    let status = status.to_string();
    let b = base(
        &[
            ("@status", &status),
            ("date", &date),
            ("content-digest", &digest),
        ],
        &p,
    );
    finish(key, date, digest, &p, &b)
}

fn finish(key: &SigningKey, date: String, digest: String, p: &str, b: &str) -> Signed {
    let sig = key.sign(b.as_bytes());
    Signed {
        date,
        content_digest: digest,
        signature_input: format!("{LABEL}={p}"),
        signature: format!("{LABEL}=:{}:", b64_encode(&sig.to_bytes())),
    }
}

/// What a verified signature said.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The signer's id.
    pub(crate) keyid: String,
    /// The signature, for replay detection.
    pub(crate) signature: [u8; 64],
    /// Its `created`.
    pub(crate) created: u64,
}

/// The parsed `Signature-Input` member.
struct Input<'a> {
    components: Vec<&'a str>,
    /// The raw parameters text (after the label and `=`), signed as is.
    raw: &'a str,
    created: Option<u64>,
    keyid: Option<&'a str>,
    alg: Option<&'a str>,
}

/// Parse `fed=("a" "b");created=1;keyid="x";alg="ed25519";nonce="n"` (our label only; other members of
/// the dictionary are ignored).
fn parse_input(header: &str) -> Option<Input<'_>> {
    let raw = header
        .split(", ")
        .flat_map(|m| m.split(','))
        .map(str::trim)
        .find_map(|m| m.strip_prefix("fed="))?;
    let rest = raw.strip_prefix('(')?;
    let close = rest.find(')')?;
    let mut components = Vec::new();
    for c in rest[..close].split(' ').filter(|c| !c.is_empty()) {
        components.push(c.strip_prefix('"')?.strip_suffix('"')?);
    }
    let mut input = Input {
        components,
        raw,
        created: None,
        keyid: None,
        alg: None,
    };
    for p in rest[close + 1..].split(';').filter(|p| !p.is_empty()) {
        let (k, v) = p.split_once('=')?;
        let unquoted = || v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
        match k {
            "created" => input.created = Some(v.parse().ok()?),
            "keyid" => input.keyid = Some(unquoted()?),
            "alg" => input.alg = Some(unquoted()?),
            _ => {}
        }
    }
    Some(input)
}

fn signature_bytes(header: &str) -> Option<[u8; 64]> {
    let v = header
        .split(',')
        .map(str::trim)
        .find_map(|m| m.strip_prefix("fed="))?;
    let b = b64_decode(v.strip_prefix(':')?.strip_suffix(':')?)?;
    <[u8; 64]>::try_from(b).ok()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("the {name} header is missing"))
}

/// Verify a signed message. `derived` gives the value of each `@` component (`@method`, `@path` or
/// `@status`), `required` the components that must be covered, `key` the public key of a `keyid` (`None`:
/// unknown signer), `window` the seconds a signature stays acceptable.
pub(crate) fn verify<'k>(
    headers: &HeaderMap,
    body: &[u8],
    derived: &[(&str, &str)],
    required: &[&str],
    key: impl Fn(&str) -> Option<&'k VerifyingKey>,
    now_secs: u64,
    window: u64,
) -> Result<Verified, String> {
    let input = parse_input(header(headers, "signature-input")?)
        .ok_or("Signature-Input: no well-formed `fed` member")?;
    let sig = signature_bytes(header(headers, "signature")?)
        .ok_or("Signature: no 64-byte `fed` member")?;
    for r in required {
        if !input.components.contains(r) {
            return Err(format!("the signature does not cover {r}"));
        }
    }
    if input.alg.is_some_and(|a| a != "ed25519") {
        return Err("the signature's alg is not ed25519".into());
    }
    let keyid = input.keyid.ok_or("the signature has no keyid")?;
    let created = input.created.ok_or("the signature has no created time")?;
    if created.abs_diff(now_secs) > window {
        return Err(format!(
            "the signature was created {created}, outside the {window} s window"
        ));
    }
    let date = header(headers, "date")?;
    let when = httpdate::parse_http_date(date)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .ok_or("Date: not an HTTP date")?
        .as_secs();
    if when.abs_diff(now_secs) > window {
        return Err(format!("Date is outside the {window} s window"));
    }
    let digest = header(headers, "content-digest")?;
    if digest != content_digest(body) {
        return Err("Content-Digest does not match the body".into());
    }
    let mut values = Vec::with_capacity(input.components.len());
    for c in &input.components {
        let v = if c.starts_with('@') {
            derived
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("cannot sign component {c}"))?
        } else {
            header(headers, c)?
        };
        values.push((*c, v));
    }
    let k = key(keyid).ok_or_else(|| format!("unknown signer {keyid:?}"))?;
    let b = base(&values, input.raw);
    k.verify_strict(b.as_bytes(), &Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not verify".to_owned())?;
    Ok(Verified {
        keyid: keyid.to_owned(),
        signature: sig,
        created,
    })
}

/// Signatures seen within the window: each is accepted once.
#[derive(Debug, Default)]
pub(crate) struct ReplayGuard {
    seen: HashMap<[u8; 64], u64>,
}

/// The most signatures remembered; past it, requests are refused until old ones age out.
const REPLAY_CAP: usize = 1_000_000;

impl ReplayGuard {
    /// Record `sig` (created at `created`); `false` if it was seen before or the guard is full.
    pub(crate) fn fresh(&mut self, sig: [u8; 64], created: u64, now: u64, window: u64) -> bool {
        if self.seen.len() >= REPLAY_CAP / 2 {
            self.seen.retain(|_, until| *until >= now);
        }
        if self.seen.len() >= REPLAY_CAP || self.seen.contains_key(&sig) {
            return false;
        }
        // A signature stays acceptable until created + window: remember it that long.
        self.seen.insert(sig, created.saturating_add(window));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(s: &Signed) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("date", s.date.parse().unwrap());
        h.insert("content-digest", s.content_digest.parse().unwrap());
        h.insert("signature-input", s.signature_input.parse().unwrap());
        h.insert("signature", s.signature.parse().unwrap());
        h
    }

    #[test]
    fn base64_matches_rfc_4648_and_digest_matches_rfc_9530() {
        assert_eq!(b64_encode(b"f"), "Zg==");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        assert_eq!(b64_encode(b"foob"), "Zm9vYg==");
        assert_eq!(b64_encode(&[0xfb, 0xff]), "+/8=");
        assert_eq!(b64_decode("+/8=").unwrap(), [0xfb, 0xff]);
        assert!(b64_decode("-_8=").is_none());
        assert!(b64_decode("Zg").is_none());
        // RFC 9530 appendix: {"hello": "world"} with a trailing newline.
        assert_eq!(
            content_digest(b"{\"hello\": \"world\"}\n"),
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"
        );
    }

    #[test]
    fn requests_verify_and_tampering_is_refused() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let vk = key.verifying_key();
        let body = br#"{"text":"alice"}"#;
        let s = sign_request(
            &key,
            "a.example",
            "POST",
            "/v1/federation/lookup",
            body,
            1_000,
        )
        .unwrap();
        assert!(s.signature_input.starts_with(
            r#"fed=("@method" "@path" "date" "content-digest");created=1000;keyid="a.example";alg="ed25519";nonce=""#
        ));
        let h = headers(&s);
        let derived = [("@method", "POST"), ("@path", "/v1/federation/lookup")];
        let req = ["@method", "@path", "date", "content-digest"];
        let keys = |id: &str| (id == "a.example").then_some(&vk);
        let ok = verify(&h, body, &derived, &req, keys, 1_010, 30).unwrap();
        assert_eq!(ok.keyid, "a.example");
        // Another body, path, time or signer: refused.
        assert!(verify(&h, b"{}", &derived, &req, keys, 1_010, 30).is_err());
        let other_path = [("@method", "POST"), ("@path", "/v1/other")];
        assert!(verify(&h, body, &other_path, &req, keys, 1_010, 30).is_err());
        assert!(verify(&h, body, &derived, &req, keys, 1_100, 30).is_err());
        assert!(verify(&h, body, &derived, &req, |_| None, 1_010, 30).is_err());
        let mallory = SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert!(verify(&h, body, &derived, &req, |_| Some(&mallory), 1_010, 30).is_err());
        // A signature that leaves out the path is not enough.
        let mut h2 = h.clone();
        h2.insert(
            "signature-input",
            s.signature_input
                .replace(r#" "@path""#, "")
                .parse()
                .unwrap(),
        );
        assert!(verify(&h2, body, &derived, &req, keys, 1_010, 30).is_err());
        // Garbage headers are errors, not panics.
        for bad in ["", "fed=", "fed=(", "fed=(\"@method\";created=x", "x=()"] {
            let mut h3 = h.clone();
            h3.insert("signature-input", bad.parse().unwrap());
            assert!(verify(&h3, body, &derived, &req, keys, 1_010, 30).is_err());
        }
    }

    #[test]
    fn responses_verify() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let vk = key.verifying_key();
        let s = sign_response(&key, "b.example", 200, b"{}", 5_000);
        let h = headers(&s);
        let keys = |_: &str| Some(&vk);
        assert!(
            verify(
                &h,
                b"{}",
                &[("@status", "200")],
                &["@status", "content-digest"],
                keys,
                5_000,
                30
            )
            .is_ok()
        );
        assert!(
            verify(
                &h,
                b"{}",
                &[("@status", "403")],
                &["@status"],
                keys,
                5_000,
                30
            )
            .is_err()
        );
    }

    #[test]
    fn replays_are_refused_within_the_window() {
        let mut g = ReplayGuard::default();
        assert!(g.fresh([1; 64], 100, 100, 30));
        assert!(!g.fresh([1; 64], 100, 110, 30));
        assert!(g.fresh([2; 64], 100, 110, 30));
    }
}
