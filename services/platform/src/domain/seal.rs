//! Sealing secrets the engine must keep but the database must not show
//! (issue 22): a gateway's HS256 secret is stored as
//! `1 || nonce (12 bytes) || ChaCha20-Poly1305(key, nonce, secret, aad)`,
//! with a key kept outside the database (`seal_key`: a file or a mounted
//! secret) and the row's identity as associated data, so a sealed value
//! copied into another row does not open. Pure: the caller brings the
//! nonce (from `rand`) and the key.

use chacha20poly1305::{
    ChaCha20Poly1305, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The format's version byte.
const VERSION: u8 = 1;
pub const NONCE_LEN: usize = 12;
pub const KEY_LEN: usize = 32;

/// The key that seals and opens. `Debug` does not show it.
#[derive(Clone)]
pub struct SealKey([u8; KEY_LEN]);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(***)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("a seal key is 64 hexadecimal digits (32 bytes)")]
    BadKey,
    #[error("not a sealed value of a known format")]
    Format,
    #[error("the sealed value does not open with this key for this row")]
    Open,
    #[error("the value is too long to seal")]
    TooLong,
}

impl SealKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key from its text form: 64 hex digits, surrounding whitespace
    /// ignored.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let raw = hex::decode(text.trim()).map_err(|_| SealError::BadKey)?;
        let bytes: [u8; KEY_LEN] = raw.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(bytes))
    }

    /// The key's text form, as [`SealKey::parse`] reads it.
    pub fn to_text(&self) -> String {
        hex::encode(self.0)
    }

    /// A value that identifies the key without revealing it, stored in the
    /// database so a start with another key is refused instead of sealing
    /// with two keys: HMAC-SHA256(key, a fixed label).
    pub fn check_value(&self) -> Vec<u8> {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) else {
            // HMAC takes a key of any length; this arm cannot happen.
            return Vec::new();
        };
        mac.update(b"campaign-engine seal key check v1");
        mac.finalize().into_bytes().to_vec()
    }

    /// A key for another purpose derived from this one:
    /// HMAC-SHA256(key, `label`). Distinct labels give independent keys,
    /// and none reveals this key or another.
    pub fn derive(&self, label: &[u8]) -> [u8; KEY_LEN] {
        let mut out = [0u8; KEY_LEN];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            mac.update(label);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&self.0.into())
    }

    /// `plain` sealed for the row `aad`, with `nonce` (never reuse one with
    /// the same key: draw it at random for each value).
    pub fn seal(
        &self,
        plain: &[u8],
        aad: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, SealError> {
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: plain, aad })
            // Encryption fails only past ~256 GiB of input.
            .map_err(|_| SealError::TooLong)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The plain value of `sealed`, if it was sealed with this key for the
    /// row `aad` and not altered.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError::Format)?;
        if version != VERSION || rest.len() < NONCE_LEN + 16 {
            return Err(SealError::Format);
        }
        let (nonce, msg) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Format)?;
        self.cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg, aad })
            .map_err(|_| SealError::Open)
    }
}

/// The associated data of a gateway key's row: its merchant and key id.
pub fn token_key_aad(merchant_id: &str, key_id: &str) -> Vec<u8> {
    format!("player_token_key\u{0}{merchant_id}\u{0}{key_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SealKey {
        SealKey::from_bytes([b; KEY_LEN])
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_row() {
        let secret = b"gateway secret of 32 bytes long!";
        let aad = token_key_aad("m1", "k1");
        let sealed = key(1).seal(secret, &aad, [7; NONCE_LEN]).expect("seal");
        assert_eq!(sealed.len(), 1 + NONCE_LEN + secret.len() + 16);
        assert!(
            !sealed.windows(8).any(|w| secret.windows(8).any(|s| s == w)),
            "no run of the secret shows in the sealed value"
        );
        assert_eq!(key(1).open(&sealed, &aad).as_deref(), Ok(&secret[..]));
        assert_eq!(key(2).open(&sealed, &aad), Err(SealError::Open));
        assert_eq!(
            key(1).open(&sealed, &token_key_aad("m1", "k2")),
            Err(SealError::Open),
            "moved to another row"
        );
        assert_eq!(
            key(1).open(&sealed, &token_key_aad("m2", "k1")),
            Err(SealError::Open)
        );
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(key(1).open(&bad, &aad).is_err(), "byte {i} altered");
        }
        assert_eq!(key(1).open(&[], &aad), Err(SealError::Format));
        assert_eq!(key(1).open(&sealed[..20], &aad), Err(SealError::Format));
    }

    #[test]
    fn fresh_nonces_give_different_sealed_values() {
        let aad = token_key_aad("m", "");
        let a = key(1).seal(b"s", &aad, [1; NONCE_LEN]).expect("seal");
        let b = key(1).seal(b"s", &aad, [2; NONCE_LEN]).expect("seal");
        assert_ne!(a, b);
        assert_eq!(key(1).open(&b, &aad).as_deref(), Ok(&b"s"[..]));
    }

    #[test]
    fn the_key_text_round_trips_and_bad_text_is_refused() {
        let k = key(0xab);
        assert_eq!(
            SealKey::parse(&format!("  {}\n", k.to_text()))
                .expect("parses")
                .to_text(),
            k.to_text()
        );
        for bad in [
            "",
            "zz",
            &"ab".repeat(31),
            &"ab".repeat(33),
            &"g".repeat(64),
        ] {
            assert_eq!(
                SealKey::parse(bad).map(|_| ()),
                Err(SealError::BadKey),
                "{bad}"
            );
        }
        assert_eq!(format!("{k:?}"), "SealKey(***)");
    }

    #[test]
    fn derived_keys_depend_on_the_key_and_the_label() {
        assert_eq!(key(1).derive(b"a"), key(1).derive(b"a"));
        assert_ne!(key(1).derive(b"a"), key(1).derive(b"b"));
        assert_ne!(key(1).derive(b"a"), key(2).derive(b"a"));
        assert_ne!(key(1).derive(b"a"), [1; KEY_LEN]);
    }

    #[test]
    fn the_check_value_tells_keys_apart_without_showing_them() {
        assert_eq!(key(1).check_value(), key(1).check_value());
        assert_ne!(key(1).check_value(), key(2).check_value());
        assert_eq!(key(1).check_value().len(), 32);
        assert!(
            !key(1)
                .to_text()
                .contains(&hex::encode(key(1).check_value()))
        );
    }
}
