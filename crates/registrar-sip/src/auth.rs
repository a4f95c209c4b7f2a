//! Digest authentication (RFC 7616 with the SIP rules of RFC 8760 and RFC 3261 §22): SHA-256 and MD5,
//! `qop=auth`, nonces that expire (`stale=true`), nonce-count replay protection, credentials as HA1 hashes.
//!
//! Nonces carry their own issue time and a MAC over it under a per-process secret, so a server needs no
//! table to validate them; the table it keeps is the highest nonce-count seen per nonce, dropped when the
//! nonce expires. An unknown user is checked against a random HA1, so the answer (a fresh 401) and its cost
//! are the same whether or not the user exists.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use md5::Md5;
use registrar_types::Timestamp;
use sha2::{Digest, Sha256};

use crate::prehashed::PrehashedMap;

/// A digest algorithm.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5` (RFC 2617, still what most phones speak).
    Md5,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token in `algorithm=`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("md5") {
            Some(Self::Md5)
        } else if s.eq_ignore_ascii_case("sha-256") {
            Some(Self::Sha256)
        } else {
            None
        }
    }

    /// The lower-case hex digest of `data`.
    pub fn hex(self, data: &[u8]) -> String {
        self.hex_joined(&[data])
    }

    /// The lower-case hex digest of `parts` joined by `:` (how every digest input is built), without
    /// building the joined text.
    fn hex_joined(self, parts: &[&[u8]]) -> String {
        fn run<D: Digest>(parts: &[&[u8]]) -> String {
            let mut h = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    h.update(b":");
                }
                h.update(p);
            }
            to_hex(&h.finalize())
        }
        match self {
            Self::Md5 => run::<Md5>(parts),
            Self::Sha256 => run::<Sha256>(parts),
        }
    }

    /// HA1 = H(username ":" realm ":" password), what the configuration stores.
    pub fn ha1(self, username: &str, realm: &str, password: &str) -> String {
        self.hex(format!("{username}:{realm}:{password}").as_bytes())
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// One user's stored credentials: an HA1 per algorithm (lower-case hex).
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Credentials {
    /// HA1 for MD5.
    pub md5: Option<String>,
    /// HA1 for SHA-256.
    pub sha256: Option<String>,
}

impl Credentials {
    /// Both HA1s computed from a password (for tools and tests; the server stores only the hashes).
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        Self {
            md5: Some(Algorithm::Md5.ha1(username, realm, password)),
            sha256: Some(Algorithm::Sha256.ha1(username, realm, password)),
        }
    }

    fn ha1(&self, alg: Algorithm) -> Option<&str> {
        match alg {
            Algorithm::Md5 => self.md5.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }
}

/// The result of checking a request's `Authorization`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// Authenticated as this user.
    Authenticated(String),
    /// Answer 401 with fresh challenges; `stale` when the credentials were right but the nonce expired.
    Challenge {
        /// Whether to say `stale=true`.
        stale: bool,
    },
    /// The Authorization header is malformed (400).
    Malformed(&'static str),
}

/// Digest authentication for one realm.
#[derive(Debug)]
pub struct DigestAuth {
    realm: String,
    users: HashMap<String, Credentials>,
    secret: [u8; 32],
    decoy: Credentials,
    nonce_ttl_secs: u64,
    algorithms: Vec<Algorithm>,
    /// Per nonce (by its MAC, which only this server can make and which differs for every nonce): its
    /// expiry (seconds) and the highest nonce-count seen.
    counts: PrehashedMap<u128, (u64, u32)>,
    /// How many entries `counts` has (kept here: counting the map's entries locks each of its shards).
    counted: AtomicUsize,
    max_tracked: usize,
    salt: AtomicU64,
}

/// The most nonces whose counts are tracked at once; beyond it the oldest expire early (their users are
/// asked again with `stale=true`).
const DEFAULT_MAX_TRACKED: usize = 1 << 20;

impl DigestAuth {
    /// Authentication for `realm` with these users; nonces live `nonce_ttl_secs`.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn new(
        realm: &str,
        users: HashMap<String, Credentials>,
        nonce_ttl_secs: u64,
    ) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        let mut decoy_seed = [0u8; 16];
        getrandom::fill(&mut decoy_seed)?;
        let decoy_hex = to_hex(&decoy_seed);
        let mut salt = [0u8; 8];
        getrandom::fill(&mut salt)?;
        Ok(Self {
            realm: realm.to_owned(),
            users,
            secret,
            decoy: Credentials::from_password("", realm, &decoy_hex),
            nonce_ttl_secs: nonce_ttl_secs.max(1),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            counts: crate::prehashed::map(),
            counted: AtomicUsize::new(0),
            max_tracked: DEFAULT_MAX_TRACKED,
            salt: AtomicU64::new(u64::from_be_bytes(salt)),
        })
    }

    /// Offer only these algorithms, in this order of preference (some phones read only the first
    /// challenge; an empty list keeps the default, SHA-256 then MD5). Responses in other algorithms are
    /// challenged again.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = algorithms.to_vec();
        }
        self
    }

    /// Parse an algorithm name as configured (`MD5`, `SHA-256`).
    pub fn algorithm(name: &str) -> Option<Algorithm> {
        Algorithm::parse(name)
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn mac(&self, ts: &str, salt: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts.as_bytes());
        h.update(b":");
        h.update(salt.as_bytes());
        h.update(b":");
        h.update(self.realm.as_bytes());
        to_hex(&h.finalize()[..16])
    }

    /// A new nonce issued at `now`.
    pub fn nonce(&self, now: Timestamp) -> String {
        // Unique within the process (a counter from a random start: no system call per nonce); the MAC makes
        // it unforgeable, and a restart changes the secret.
        let salt = self.salt.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let ts = format!("{:x}", now.as_millis() / 1000);
        let salt = to_hex(&salt);
        let mac = self.mac(&ts, &salt);
        let mut nonce = ts;
        nonce.reserve(2 + salt.len() + mac.len());
        nonce.push('.');
        nonce.push_str(&salt);
        nonce.push('.');
        nonce.push_str(&mac);
        nonce
    }

    /// The `WWW-Authenticate` values of a 401: SHA-256 first, then MD5 (RFC 8760 §2.4: most preferred
    /// first), sharing one nonce.
    pub fn challenges(&self, now: Timestamp, stale: bool) -> Vec<String> {
        let nonce = self.nonce(now);
        self.algorithms
            .iter()
            .map(|a| {
                let mut v = format!(
                    "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"",
                    self.realm,
                    a.as_str()
                );
                if stale {
                    v.push_str(", stale=true");
                }
                v
            })
            .collect()
    }

    /// Check the `Authorization` values of a request with `method` at `now`.
    pub fn verify<'a>(
        &self,
        now: Timestamp,
        method: &str,
        authorizations: impl Iterator<Item = &'a str>,
    ) -> Verdict {
        let mut chosen = None;
        for value in authorizations {
            let is_digest = value
                .trim_start()
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("digest"));
            if !is_digest {
                // Another scheme (RFC 4475 §3.3.6): not ours to judge; the request is challenged.
                continue;
            }
            let Some(params) = parse_digest(value) else {
                return Verdict::Malformed("Authorization is not a well-formed Digest header");
            };
            if params.get("realm") == Some(&self.realm.as_str()) {
                chosen = Some(params);
                break;
            }
        }
        let Some(p) = chosen else {
            return Verdict::Challenge { stale: false };
        };
        let (Some(user), Some(nonce), Some(uri), Some(response)) = (
            p.get("username"),
            p.get("nonce"),
            p.get("uri"),
            p.get("response"),
        ) else {
            return Verdict::Malformed("Authorization lacks username, nonce, uri or response");
        };
        let alg = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => match Algorithm::parse(a) {
                Some(a) => a,
                None => return Verdict::Challenge { stale: false },
            },
        };
        if !self.algorithms.contains(&alg) {
            return Verdict::Challenge { stale: false };
        }
        let qop = p.get("qop").copied();
        if qop.is_some_and(|q| !q.eq_ignore_ascii_case("auth")) {
            return Verdict::Challenge { stale: false };
        }
        let (Some(nc_text), Some(cnonce)) = (p.get("nc"), p.get("cnonce")) else {
            // Without qop there is no nonce-count and so no replay protection: we always offer qop=auth.
            return Verdict::Challenge { stale: false };
        };
        let Ok(nc) = u32::from_str_radix(nc_text, 16) else {
            return Verdict::Malformed("nc is not hexadecimal");
        };
        // Is the nonce ours, and how old?
        let mut parts = nonce.split('.');
        let (Some(ts), Some(salt), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Verdict::Challenge { stale: false };
        };
        if !constant_eq(&self.mac(ts, salt), mac) {
            return Verdict::Challenge { stale: false };
        }
        let Ok(issued) = u64::from_str_radix(ts, 16) else {
            return Verdict::Challenge { stale: false };
        };
        let now_secs = now.as_millis() / 1000;
        let stored = self.users.get(*user).and_then(|c| c.ha1(alg));
        // An unknown user is checked against the decoy: the same work, the same answer.
        let ha1 = stored.unwrap_or_else(|| self.decoy.ha1(alg).unwrap_or_default());
        let ha2 = alg.hex_joined(&[method.as_bytes(), uri.as_bytes()]);
        let expected = alg.hex_joined(&[
            ha1.as_bytes(),
            nonce.as_bytes(),
            nc_text.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]);
        if !constant_eq(&expected, &response.to_ascii_lowercase()) || stored.is_none() {
            return Verdict::Challenge { stale: false };
        }
        let expires = issued.saturating_add(self.nonce_ttl_secs);
        if now_secs >= expires {
            return Verdict::Challenge { stale: true };
        }
        // Replay protection: the nonce-count must grow.
        if self.counted.load(Ordering::Relaxed) >= self.max_tracked {
            self.sweep(now);
        }
        // The MAC was checked above, so it is 32 hex digits.
        let Ok(key) = u128::from_str_radix(mac, 16) else {
            return Verdict::Challenge { stale: false };
        };
        let mut entry = self.counts.entry(key).or_insert_with(|| {
            self.counted.fetch_add(1, Ordering::Relaxed);
            (expires, 0)
        });
        if nc <= entry.1 {
            return Verdict::Challenge { stale: true };
        }
        entry.1 = nc;
        Verdict::Authenticated((*user).to_owned())
    }

    /// Forget the counts of expired nonces.
    pub fn sweep(&self, now: Timestamp) {
        let now_secs = now.as_millis() / 1000;
        self.counts.retain(|_, (exp, _)| *exp > now_secs);
        if self.counts.len() >= self.max_tracked {
            // Still full of live nonces: drop them all; their users get `stale=true` and a new nonce.
            self.counts.clear();
        }
        // Inserts racing with the sweep may be missed by this count; the next sweep corrects it.
        self.counted.store(self.counts.len(), Ordering::Relaxed);
    }

    /// How many nonces have counts tracked.
    pub fn tracked(&self) -> usize {
        self.counts.len()
    }
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
fn constant_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The parameters of a credentials value, unquoted, in order; of a repeated name the last one counts.
struct DigestParams<'a>(Vec<(&'a str, &'a str)>);

impl<'a> DigestParams<'a> {
    fn get(&self, name: &str) -> Option<&&'a str> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// The parameters of a `Digest …` credentials value; `None` when it is not one or is malformed.
fn parse_digest(v: &str) -> Option<DigestParams<'_>> {
    let v = v.trim();
    let (scheme, rest) = v.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut out = Vec::with_capacity(10);
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let name = s[..eq].trim();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(q) = s.strip_prefix('"') {
            let end = q.find('"')?;
            value = &q[..end];
            s = &q[end + 1..];
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim();
            s = &s[end..];
        }
        out.push((name, value));
        s = s.trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r.trim_start();
        } else if !s.is_empty() {
            return None;
        }
    }
    Some(DigestParams(out))
}

/// The `Authorization` value a client would send (for tests and the load tools).
#[allow(clippy::too_many_arguments)]
pub fn client_response(
    alg: Algorithm,
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let ha1 = alg.ha1(username, realm, password);
    let ha2 = alg.hex(format!("{method}:{uri}").as_bytes());
    let nc = format!("{nc:08x}");
    let resp = alg.hex(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}").as_bytes());
    format!(
        "Digest username=\"{username}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm={}, cnonce=\"{cnonce}\", qop=auth, nc={nc}",
        alg.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> DigestAuth {
        let mut users = HashMap::new();
        users.insert(
            "alice".to_owned(),
            Credentials::from_password("alice", "example.com", "secret"),
        );
        DigestAuth::new("example.com", users, 60).expect("random")
    }

    fn nonce_of(challenge: &str) -> String {
        challenge
            .split("nonce=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("nonce")
            .to_owned()
    }

    #[test]
    fn rfc7616_md5_vector() {
        // RFC 7616 §3.9.1 (MD5, qop=auth).
        let ha1 = Algorithm::Md5.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let ha2 = Algorithm::Md5.hex(b"GET:/dir/index.html");
        let resp = Algorithm::Md5.hex(
            format!(
                "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
            )
            .as_bytes(),
        );
        assert_eq!(resp, "8ca523f5e9506fed4657c9700eebdbec");
        let ha1 = Algorithm::Sha256.ha1("Mufasa", "http-auth@example.org", "Circle of Life");
        let ha2 = Algorithm::Sha256.hex(b"GET:/dir/index.html");
        let resp = Algorithm::Sha256.hex(
            format!(
                "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
            )
            .as_bytes(),
        );
        assert_eq!(
            resp,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn both_algorithms_authenticate_and_replays_fail() {
        let a = auth();
        let now = Timestamp::from_secs(1_000);
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            let nonce = nonce_of(&a.challenges(now, false)[0]);
            let h = client_response(
                alg,
                "alice",
                "example.com",
                "secret",
                "REGISTER",
                "sip:example.com",
                &nonce,
                1,
                "c",
            );
            let v = a.verify(now, "REGISTER", [h.as_str()].into_iter());
            assert_eq!(v, Verdict::Authenticated("alice".into()));
            // The same nonce-count again is a replay.
            let v = a.verify(now, "REGISTER", [h.as_str()].into_iter());
            assert_eq!(v, Verdict::Challenge { stale: true });
        }
    }

    #[test]
    fn expired_nonce_is_stale_and_unknown_user_looks_like_a_wrong_password() {
        let a = auth();
        let t0 = Timestamp::from_secs(1_000);
        let nonce = nonce_of(&a.challenges(t0, false)[0]);
        let ok = client_response(
            Algorithm::Md5,
            "alice",
            "example.com",
            "secret",
            "REGISTER",
            "sip:example.com",
            &nonce,
            1,
            "c",
        );
        let later = Timestamp::from_secs(1_061);
        assert_eq!(
            a.verify(later, "REGISTER", [ok.as_str()].into_iter()),
            Verdict::Challenge { stale: true }
        );
        let wrong = ok.replace("alice", "mallory");
        let bad_pw = client_response(
            Algorithm::Md5,
            "alice",
            "example.com",
            "guess",
            "REGISTER",
            "sip:example.com",
            &nonce,
            2,
            "c",
        );
        let v1 = a.verify(t0, "REGISTER", [wrong.as_str()].into_iter());
        let v2 = a.verify(t0, "REGISTER", [bad_pw.as_str()].into_iter());
        assert_eq!(v1, v2);
        assert_eq!(v1, Verdict::Challenge { stale: false });
    }

    #[test]
    fn forged_nonce_is_refused() {
        let a = auth();
        let now = Timestamp::from_secs(1_000);
        let h = client_response(
            Algorithm::Md5,
            "alice",
            "example.com",
            "secret",
            "REGISTER",
            "sip:example.com",
            "3e8.0000000000000000.00000000000000000000000000000000",
            1,
            "c",
        );
        assert_eq!(
            a.verify(now, "REGISTER", [h.as_str()].into_iter()),
            Verdict::Challenge { stale: false }
        );
    }
}
