//! Message encryption for Web Push (RFC 8291) in the `aes128gcm` content coding (RFC 8188), one record.

use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::rand::{SecureRandom, SystemRandom};

/// The record size written in the header (the one record is always smaller).
pub(crate) const RECORD_SIZE: u32 = 4096;

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand(HKDF-Extract(salt, ikm), info) of `len` bytes.
pub(crate) fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Option<Vec<u8>> {
    let prk = Salt::new(HKDF_SHA256, salt).extract(ikm);
    let mut out = vec![0; len];
    prk.expand(&[info], Len(len)).ok()?.fill(&mut out).ok()?;
    Some(out)
}

/// The content encryption key and nonce of RFC 8291 §3.4 and RFC 8188 §2.2–2.3.
pub(crate) fn keys(
    ecdh_secret: &[u8],
    auth_secret: &[u8],
    ua_public: &[u8],
    as_public: &[u8],
    salt: &[u8],
) -> Option<([u8; 16], [u8; 12])> {
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let ikm = hkdf(auth_secret, ecdh_secret, &key_info, 32)?;
    let cek = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16)?;
    let nonce = hkdf(salt, &ikm, b"Content-Encoding: nonce\0", 12)?;
    Some((cek.try_into().ok()?, nonce.try_into().ok()?))
}

/// `plaintext` encrypted for the subscription with public key `ua_public` (65 bytes) and `auth_secret`
/// (16 bytes): the whole `aes128gcm` body (salt, record size, the sender's public key, one record).
pub(crate) fn encrypt(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
) -> Result<Vec<u8>, &'static str> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| "no randomness")?;
    let private = EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| "no randomness")?;
    let as_public = private
        .compute_public_key()
        .map_err(|_| "key generation failed")?;
    let as_public = as_public.as_ref().to_vec();
    let (cek, nonce) = agree_ephemeral(
        private,
        &UnparsedPublicKey::new(&ECDH_P256, ua_public),
        |secret| keys(secret, auth_secret, ua_public, &as_public, &salt),
    )
    .map_err(|_| "the subscription's public key is not a P-256 point")?
    .ok_or("key derivation failed")?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| "bad key")?);
    // RFC 8188 §2: the last record's padding delimiter is 2.
    let mut record = plaintext.to_vec();
    record.push(2);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut record,
    )
    .map_err(|_| "encryption failed")?;
    let mut out = Vec::with_capacity(21 + as_public.len() + record.len());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    out.push(u8::try_from(as_public.len()).map_err(|_| "key too long")?);
    out.extend_from_slice(&as_public);
    out.extend_from_slice(&record);
    Ok(out)
}

/// The plaintext of an `aes128gcm` body, given the ECDH secret the receiver computed with the sender's key
/// from the header (`secret_for(as_public)`), its public key and auth secret. For the local test service.
#[cfg(feature = "local")]
pub(crate) fn decrypt(
    body: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    secret_for: impl FnOnce(&[u8]) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    if body.len() < 21 {
        return Err("shorter than the aes128gcm header".into());
    }
    let salt = &body[..16];
    let rs = u32::from_be_bytes([body[16], body[17], body[18], body[19]]);
    let idlen = usize::from(body[20]);
    if body.len() < 21 + idlen + 17 {
        return Err("no record after the header".into());
    }
    let as_public = &body[21..21 + idlen];
    let record = &body[21 + idlen..];
    if record.len() > rs as usize {
        return Err(format!(
            "a record of {} bytes exceeds rs {rs}",
            record.len()
        ));
    }
    let secret = secret_for(as_public).ok_or("ECDH with the sender's key failed")?;
    let (cek, nonce) =
        keys(&secret, auth_secret, ua_public, as_public, salt).ok_or("key derivation failed")?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| "bad key")?);
    let mut buf = record.to_vec();
    let plain = key
        .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .map_err(|_| "the record does not decrypt (wrong keys, or tampered)")?;
    let end = plain
        .iter()
        .rposition(|b| *b != 0)
        .ok_or("no padding delimiter")?;
    if plain[end] != 2 {
        return Err(format!(
            "padding delimiter {} (the last record has 2)",
            plain[end]
        ));
    }
    Ok(plain[..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8291 Appendix A: the example's intermediate values.
    #[test]
    fn rfc8291_appendix_a_keys() {
        let d = |s: &str| crate::jwt::unb64(s).unwrap_or_else(|| panic!("{s}"));
        let ua_public = d(
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
        );
        let as_public = d(
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8",
        );
        let auth = d("BTBZMqHH6r4Tts7J_aSIgg");
        let salt = d("DGv6ra1nlYgDCS1FRnbzlw");
        let ecdh = d("kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs");
        let (cek, nonce) =
            keys(&ecdh, &auth, &ua_public, &as_public, &salt).unwrap_or_else(|| panic!("keys"));
        assert_eq!(crate::jwt::b64(&cek), "oIhVW04MRdy2XN9CiKLxTg");
        assert_eq!(crate::jwt::b64(&nonce), "4h_95klXJ5E_qnoN");
    }
}
