//! OpenID Connect ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.7) as proof of a participant's email
//! identity. Each configured provider (`[[directory.oidc]]`) has an issuer, the audience (client id) its
//! tokens must name and its signing keys as a JWKS document (RFC 7517): RSA keys for `RS256` (RFC 7518
//! §3.3, at least 2048 bits) and Ed25519 keys for `EdDSA` (RFC 8037). A token is accepted when its
//! signature verifies under a key of the provider its `iss` names (the `kid`'s key when it names one),
//! `aud` holds the audience, `exp` is in the future, `iat` is not, and `email_verified` is true; the email
//! it proves is its `email`. Keys are read from configuration: fetching and rotating a provider's JWKS is
//! the operator's (reload with the new document).

use ed25519_dalek::{Signature, VerifyingKey};
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::OidcSection;
use crate::directory::jwt::b64url_decode;

/// A signing key of a provider.
#[derive(Clone, Debug)]
enum Key {
    Rsa(RsaPublicKey),
    Ed25519(VerifyingKey),
}

/// One provider.
#[derive(Clone, Debug)]
pub(crate) struct Provider {
    issuer: String,
    audience: String,
    keys: Vec<(Option<String>, Key)>,
    /// `true`: a valid token vouches for the organization (else for the email only).
    pub(crate) organization: bool,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default, rename = "use")]
    usage: Option<String>,
}

impl Provider {
    /// From `[[directory.oidc]]` number `i`.
    pub(crate) fn new(i: usize, c: &OidcSection) -> Result<Self, String> {
        let what = format!("directory.oidc[{i}]");
        if c.issuer.is_empty() || c.audience.is_empty() {
            return Err(format!("{what}: issuer and audience are required"));
        }
        let text = if c.jwks_file.as_os_str().is_empty() {
            c.jwks.clone()
        } else {
            std::fs::read_to_string(&c.jwks_file)
                .map_err(|e| format!("{what}.jwks_file {}: {e}", c.jwks_file.display()))?
        };
        let jwks: Jwks =
            serde_json::from_str(&text).map_err(|e| format!("{what}.jwks: not a JWKS ({e})"))?;
        let mut keys = Vec::new();
        for (k, j) in jwks.keys.iter().enumerate() {
            if j.usage.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let bad = |why: &str| format!("{what}.jwks key {k}: {why}");
            let key = match (j.kty.as_str(), j.crv.as_deref()) {
                ("RSA", _) => {
                    let n =
                        j.n.as_deref()
                            .and_then(b64url_decode)
                            .ok_or_else(|| bad("no n"))?;
                    let e =
                        j.e.as_deref()
                            .and_then(b64url_decode)
                            .ok_or_else(|| bad("no e"))?;
                    let key =
                        RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
                            .map_err(|e| bad(&e.to_string()))?;
                    if n.len() < 256 {
                        return Err(bad("RSA keys must have at least 2048 bits"));
                    }
                    Key::Rsa(key)
                }
                ("OKP", Some("Ed25519")) => {
                    let x =
                        j.x.as_deref()
                            .and_then(b64url_decode)
                            .and_then(|b| <[u8; 32]>::try_from(b).ok())
                            .ok_or_else(|| bad("x is not 32 bytes"))?;
                    Key::Ed25519(
                        VerifyingKey::from_bytes(&x).map_err(|_| bad("not an Ed25519 point"))?,
                    )
                }
                // Other key types (EC) are skipped: tokens they sign are refused.
                _ => continue,
            };
            keys.push((j.kid.clone(), key));
        }
        if keys.is_empty() {
            return Err(format!("{what}.jwks: no RSA or Ed25519 signing key"));
        }
        let organization = match c.level.as_str() {
            "" | "email" => false,
            "organization" => true,
            other => {
                return Err(format!(
                    "{what}.level: {other:?} is neither email nor organization"
                ));
            }
        };
        Ok(Self {
            issuer: c.issuer.clone(),
            audience: c.audience.clone(),
            keys,
            organization,
        })
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<bool>,
}

/// What a valid ID token proves.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Proven {
    /// The verified email address.
    pub(crate) email: String,
    /// Whether the provider vouches for the organization.
    pub(crate) organization: bool,
}

/// The DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

fn signature_ok(key: &Key, alg: &str, input: &[u8], sig: &[u8]) -> bool {
    match (key, alg) {
        (Key::Rsa(k), "RS256") => {
            let mut t = SHA256_DIGEST_INFO.to_vec();
            t.extend_from_slice(&Sha256::digest(input));
            k.verify(Pkcs1v15Sign::new_unprefixed(), &t, sig).is_ok()
        }
        (Key::Ed25519(k), "EdDSA") => <[u8; 64]>::try_from(sig)
            .is_ok_and(|s| k.verify_strict(input, &Signature::from_bytes(&s)).is_ok()),
        _ => false,
    }
}

/// Check an ID token against the providers; why not, in words (never the token).
pub(crate) fn verify(token: &str, providers: &[Provider], now: u64) -> Result<Proven, String> {
    let mut parts = token.trim().split('.');
    let (Some(h), Some(b), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the ID token is not a JWT".into());
    };
    let header: Header = b64url_decode(h)
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or("the ID token's header does not decode")?;
    let claims: Claims = b64url_decode(b)
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or("the ID token's claims do not decode (iss, aud and exp are required)")?;
    let sig = b64url_decode(s).ok_or("the ID token's signature does not decode")?;
    let p = providers
        .iter()
        .find(|p| p.issuer == claims.iss)
        .ok_or_else(|| format!("issuer {:?} is not a configured provider", claims.iss))?;
    let input = format!("{h}.{b}");
    let ok = p
        .keys
        .iter()
        .filter(|(kid, _)| header.kid.is_none() || kid.is_none() || *kid == header.kid)
        .any(|(_, k)| signature_ok(k, &header.alg, input.as_bytes(), &sig));
    if !ok {
        return Err(format!(
            "the ID token's {} signature does not verify under {}'s keys",
            header.alg, p.issuer
        ));
    }
    let aud_ok = match &claims.aud {
        Audience::One(a) => *a == p.audience,
        Audience::Many(v) => v.contains(&p.audience),
    };
    if !aud_ok {
        return Err(format!("the ID token was not issued to {}", p.audience));
    }
    if claims.exp <= now {
        return Err("the ID token has expired".into());
    }
    if claims.iat.is_some_and(|t| t > now + 300) {
        return Err("the ID token was issued in the future".into());
    }
    let email = claims.email.ok_or("the ID token carries no email")?;
    if claims.email_verified != Some(true) {
        return Err("the provider has not verified the token's email".into());
    }
    Ok(Proven {
        email,
        organization: p.organization,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fixtures generated with Python's `cryptography` (RSA-2048, PKCS #1 v1.5 with SHA-256).
    const JWKS: &str = include_str!("testdata/oidc_jwks.json");
    const TOKENS: &str = include_str!("testdata/oidc_tokens.json");

    fn provider() -> Provider {
        Provider::new(
            0,
            &OidcSection {
                issuer: "https://idp.example".into(),
                audience: "registrar".into(),
                jwks: JWKS.into(),
                ..OidcSection::default()
            },
        )
        .unwrap()
    }

    fn token(name: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(TOKENS).unwrap();
        v[name].as_str().unwrap().to_owned()
    }

    #[test]
    fn rs256_id_tokens_verify() {
        let p = [provider()];
        assert_eq!(
            verify(&token("valid"), &p, 1_800_000_000),
            Ok(Proven {
                email: "alice@example.com".into(),
                organization: false
            })
        );
        assert!(
            verify(&token("valid"), &p, 4_102_444_800)
                .unwrap_err()
                .contains("expired")
        );
        assert!(
            verify(&token("other_key"), &p, 1_800_000_000)
                .unwrap_err()
                .contains("does not verify")
        );
        assert!(
            verify(&token("wrong_aud"), &p, 1_800_000_000)
                .unwrap_err()
                .contains("not issued")
        );
        assert!(verify(&token("unverified_email"), &p, 1_800_000_000).is_err());
        assert!(verify("a.b", &p, 0).is_err());
        assert!(verify(&token("valid"), &[], 1_800_000_000).is_err());
    }

    #[test]
    fn eddsa_id_tokens_verify_and_bad_jwks_are_config_errors() {
        use ed25519_dalek::{Signer as _, SigningKey};
        let sk = SigningKey::from_bytes(&[5; 32]);
        let x = crate::directory::jwt::b64url_encode(sk.verifying_key().as_bytes());
        let p = Provider::new(
            0,
            &OidcSection {
                issuer: "https://id.example".into(),
                audience: "reg".into(),
                jwks: format!(
                    r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}","kid":"e1"}}]}}"#
                ),
                level: "organization".into(),
                ..OidcSection::default()
            },
        )
        .unwrap();
        let h = crate::directory::jwt::b64url_encode(br#"{"alg":"EdDSA","kid":"e1"}"#);
        let b = crate::directory::jwt::b64url_encode(
            br#"{"iss":"https://id.example","aud":["x","reg"],"exp":2000,"email":"b@y.example","email_verified":true}"#,
        );
        let s = crate::directory::jwt::b64url_encode(
            &sk.sign(format!("{h}.{b}").as_bytes()).to_bytes(),
        );
        let proven = verify(&format!("{h}.{b}.{s}"), &[p], 1_000).unwrap();
        assert!(proven.organization);
        let bad = |jwks: &str| {
            Provider::new(
                0,
                &OidcSection {
                    issuer: "i".into(),
                    audience: "a".into(),
                    jwks: jwks.into(),
                    ..OidcSection::default()
                },
            )
            .is_err()
        };
        assert!(bad("not json"));
        assert!(bad(r#"{"keys":[]}"#));
        assert!(bad(r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#));
    }
}
