//! Bearer tokens of the directory API: JSON Web Tokens (RFC 7519) signed with HMAC-SHA-256 (`HS256`,
//! RFC 7518 §3.2) under the key of `directory.jwt_secret`, or with Ed25519 (`EdDSA`, RFC 8037) under one of
//! the public keys of `directory.jwt_ed25519_public_keys`. The requester is the token's `sub`, never a
//! parameter; `exp` is required and checked; `nbf` when present; `scope` (space-separated) may hold `admin`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The keys tokens are checked against.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keys {
    pub(crate) hs256: Option<Vec<u8>>,
    pub(crate) ed25519: Vec<VerifyingKey>,
}

impl Keys {
    /// From the configuration: an HS256 secret (empty: none) and Ed25519 public keys (base64url, 32 bytes).
    pub(crate) fn new(secret: &str, ed25519: &[String]) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, k) in ed25519.iter().enumerate() {
            let bytes = b64url_decode(k.trim())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!("directory.jwt_ed25519_public_keys[{i}]: not 32 bytes of base64url")
                })?;
            keys.push(VerifyingKey::from_bytes(&bytes).map_err(|_| {
                format!("directory.jwt_ed25519_public_keys[{i}]: not an Ed25519 point")
            })?);
        }
        Ok(Self {
            hs256: (!secret.is_empty()).then(|| secret.as_bytes().to_vec()),
            ed25519: keys,
        })
    }

    /// Whether any key is configured.
    pub(crate) fn any(&self) -> bool {
        self.hs256.is_some() || !self.ed25519.is_empty()
    }
}

/// A new Ed25519 key pair: (private seed, public key), base64url (`registrar keygen`).
pub(crate) fn keygen() -> Result<(String, String), String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let k = SigningKey::from_bytes(&seed);
    Ok((
        b64url_encode(&seed),
        b64url_encode(k.verifying_key().as_bytes()),
    ))
}

/// An EdDSA token signed with the private seed `seed` (base64url).
pub(crate) fn mint_eddsa(sub: &str, exp: u64, admin: bool, seed: &str) -> Result<String, String> {
    let seed = b64url_decode(seed.trim())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or("the private key is not 32 bytes of base64url")?;
    let h = b64url_encode(br#"{"alg":"EdDSA","typ":"JWT"}"#);
    let b = b64url_encode(&claims_json(sub, exp, admin));
    let sig = SigningKey::from_bytes(&seed).sign(format!("{h}.{b}").as_bytes());
    Ok(format!("{h}.{b}.{}", b64url_encode(&sig.to_bytes())))
}

fn claims_json(sub: &str, exp: u64, admin: bool) -> Vec<u8> {
    let body = Body {
        sub: sub.to_owned(),
        exp,
        nbf: None,
        scope: if admin { "admin".into() } else { String::new() },
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Whether `sig` is an Ed25519 signature of `input` by one of `keys` (strict verification: no malleable
/// signatures, no small-order keys).
fn eddsa_ok(input: &[u8], sig: &[u8], keys: &[VerifyingKey]) -> bool {
    let Ok(sig) = <[u8; 64]>::try_from(sig) else {
        return false;
    };
    let sig = Signature::from_bytes(&sig);
    keys.iter().any(|k| k.verify_strict(input, &sig).is_ok())
}

/// What a valid token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) admin: bool,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    scope: String,
}

/// Base64url without padding (RFC 4648 §5), as JWTs and JWKs write bytes.
pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The inverse of [`b64url_encode`]: `None` for anything else (padding, the standard alphabet, trailing bits).
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(s).ok()
}

/// HMAC-SHA-256 (RFC 2104) of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// Whether `sig` is the HMAC-SHA-256 of `msg` under `key`, compared in constant time.
fn hmac_ok(key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return false;
    };
    mac.update(msg);
    mac.verify_slice(sig).is_ok()
}

/// Why a token was refused (the message of the 401; never the token itself).
pub(crate) fn verify(token: &str, keys: &Keys, now_secs: u64) -> Result<Claims, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(b), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the bearer token is not a JWT");
    };
    let header: Header = b64url_decode(h)
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or("the token's header does not decode")?;
    let sig = b64url_decode(sig).ok_or("the token's signature does not decode")?;
    let input = format!("{h}.{b}");
    let ok = match header.alg.as_str() {
        "HS256" => {
            let Some(secret) = &keys.hs256 else {
                return Err("HS256 tokens are not accepted here (no directory.jwt_secret)");
            };
            hmac_ok(secret, input.as_bytes(), &sig)
        }
        "EdDSA" => eddsa_ok(input.as_bytes(), &sig, &keys.ed25519),
        _ => return Err("the token's algorithm is neither HS256 nor EdDSA"),
    };
    if !ok {
        return Err("the token's signature does not verify");
    }
    let body: Body = b64url_decode(b)
        .and_then(|j| serde_json::from_slice(&j).ok())
        .ok_or("the token's claims do not decode (sub and exp are required)")?;
    if body.exp <= now_secs {
        return Err("the token has expired");
    }
    if body.nbf.is_some_and(|n| n > now_secs) {
        return Err("the token is not valid yet");
    }
    Ok(Claims {
        admin: body.scope.split(' ').any(|s| s == "admin"),
        sub: body.sub,
    })
}

/// A token for `sub` valid until `exp` (seconds since the epoch), with `admin` scope if asked
/// (`registrar token`).
pub(crate) fn mint(sub: &str, exp: u64, admin: bool, secret: &[u8]) -> String {
    let h = b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let b = b64url_encode(&claims_json(sub, exp, admin));
    let sig = b64url_encode(&hmac_sha256(secret, format!("{h}.{b}").as_bytes()));
    format!("{h}.{b}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for len in 0..40 {
            let v: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&v)).unwrap(), v);
        }
        assert_eq!(b64url_encode(b"hi?"), "aGk_");
        assert!(b64url_decode("a").is_none());
        assert!(b64url_decode("a=").is_none());
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    fn hs(k: &[u8]) -> Keys {
        Keys {
            hs256: Some(k.to_vec()),
            ed25519: Vec::new(),
        }
    }

    #[test]
    fn eddsa_matches_rfc_8037_appendix_a4_and_tokens_verify() {
        // RFC 8037 A.1 key pair and A.4 signature of "Example of Ed25519 signing".
        let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let keys = Keys::new("", &[x.to_owned()]).unwrap();
        let input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
        let sig = b64url_decode(
            "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
        )
        .unwrap();
        assert!(eddsa_ok(input.as_bytes(), &sig, &keys.ed25519));
        assert!(!eddsa_ok(b"something else", &sig, &keys.ed25519));
        let seed = b64url_decode(d).unwrap();
        assert_eq!(
            b64url_encode(
                SigningKey::from_bytes(&seed.try_into().unwrap())
                    .verifying_key()
                    .as_bytes()
            ),
            x
        );
        let t = mint_eddsa("alice@lab.example", 2_000, false, d).unwrap();
        assert_eq!(verify(&t, &keys, 1_000).unwrap().sub, "alice@lab.example");
        // Another key pair's token, and an HS256 token where no secret is configured, are refused.
        let (other, _) = keygen().unwrap();
        assert!(
            verify(
                &mint_eddsa("a@x.example", 2_000, false, &other).unwrap(),
                &keys,
                1_000
            )
            .is_err()
        );
        assert!(verify(&mint("a@x.example", 2_000, false, b"k"), &keys, 1_000).is_err());
        assert!(Keys::new("", &["short".into()]).is_err());
    }

    #[test]
    fn tokens_verify_and_expire_and_tampering_is_refused() {
        let t = mint("alice@lab.example", 2_000, true, b"k");
        assert_eq!(
            verify(&t, &hs(b"k"), 1_000),
            Ok(Claims {
                sub: "alice@lab.example".into(),
                admin: true
            })
        );
        assert_eq!(verify(&t, &hs(b"k"), 2_000), Err("the token has expired"));
        assert!(verify(&t, &hs(b"other"), 1_000).is_err());
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = b64url_encode(br#"{"sub":"mallory@x","exp":9999999999,"scope":"admin"}"#);
        parts[1] = &forged;
        assert!(verify(&parts.join("."), &hs(b"k"), 1_000).is_err());
        let none = format!("{}.{}.", b64url_encode(br#"{"alg":"none"}"#), parts[1]);
        assert!(verify(&none, &hs(b"k"), 1_000).is_err());
        assert!(verify("garbage", &hs(b"k"), 1_000).is_err());
    }
}
