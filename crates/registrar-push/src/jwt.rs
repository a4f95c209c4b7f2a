//! JSON Web Tokens (RFC 7519) signed with ES256 (APNs provider tokens, VAPID) or RS256 (the OAuth 2
//! assertion of a Google service account), and the keys they are signed with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject as _;

use crate::Error;

/// base64url without padding.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url, with or without padding.
pub(crate) fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// The PKCS#8 DER of the one private key in PEM text (`-----BEGIN PRIVATE KEY-----`).
fn pkcs8(pem: &[u8], what: &str) -> Result<Vec<u8>, Error> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(k)) => Ok(k.secret_pkcs8_der().to_vec()),
        Ok(_) => Err(Error::Config(format!(
            "{what}: not a PKCS#8 key (BEGIN PRIVATE KEY); convert it with `openssl pkcs8 -topk8 -nocrypt`"
        ))),
        Err(e) => Err(Error::Config(format!("{what}: {e}"))),
    }
}

/// A P-256 key signing ES256 JWTs.
pub(crate) struct Es256 {
    key: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Es256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str("Es256(..)")
    }
}

impl Es256 {
    /// The key of a PKCS#8 PEM file's text (an APNs `.p8` key, a VAPID key).
    pub(crate) fn from_pem(pem: &[u8], what: &str) -> Result<Self, Error> {
        let der = pkcs8(pem, what)?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng)
            .map_err(|e| Error::Config(format!("{what}: not a P-256 key ({e})")))?;
        Ok(Self { key, rng })
    }

    /// The uncompressed public point (65 bytes).
    pub(crate) fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// A token of these header and claims (JSON objects).
    pub(crate) fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, Error> {
        let input = signing_input(header, claims);
        let sig = self
            .key
            .sign(&self.rng, input.as_bytes())
            .map_err(|_| Error::Crypto("ES256 signing failed"))?;
        Ok(format!("{input}.{}", b64(sig.as_ref())))
    }
}

/// An RSA key signing RS256 JWTs.
pub(crate) struct Rs256 {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for Rs256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rs256(..)")
    }
}

impl Rs256 {
    /// The key of PKCS#8 PEM text (a service account's `private_key`).
    pub(crate) fn from_pem(pem: &[u8], what: &str) -> Result<Self, Error> {
        let der = pkcs8(pem, what)?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| Error::Config(format!("{what}: not an RSA key ({e})")))?;
        Ok(Self {
            key,
            rng: SystemRandom::new(),
        })
    }

    /// A token of these header and claims.
    pub(crate) fn sign(
        &self,
        header: &serde_json::Value,
        claims: &serde_json::Value,
    ) -> Result<String, Error> {
        let input = signing_input(header, claims);
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
            .map_err(|_| Error::Crypto("RS256 signing failed"))?;
        Ok(format!("{input}.{}", b64(&sig)))
    }
}

fn signing_input(header: &serde_json::Value, claims: &serde_json::Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};

    use super::*;

    #[test]
    fn es256_tokens_verify_with_the_public_key() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap_or_else(|e| panic!("{e}"));
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(doc.as_ref())
        );
        let k = Es256::from_pem(pem.as_bytes(), "test").unwrap_or_else(|e| panic!("{e}"));
        let t = k
            .sign(
                &serde_json::json!({"alg": "ES256", "kid": "K1"}),
                &serde_json::json!({"iss": "TEAM", "iat": 1}),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let (input, sig) = t.rsplit_once('.').unwrap_or_else(|| panic!("{t}"));
        let sig = unb64(sig).unwrap_or_else(|| panic!("{t}"));
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, k.public_key())
            .verify(input.as_bytes(), &sig)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(Es256::from_pem(b"not a key", "test").is_err());
    }
}
