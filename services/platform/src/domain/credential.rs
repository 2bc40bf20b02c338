//! Credentials: API keys (admin, POS, auditor), and the player tokens of
//! [`super::player_token`] (re-exported here).
//!
//! API keys are `cek_<key id>_<secret>`: a 64-bit id in hex to find the
//! row, and a 256-bit secret in base64url of which only the SHA-256 hash is
//! stored and compared in constant time.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use super::player_token::{
    ACTIVE_KEYS, DEV_ISSUER_PREFIX, DEV_TOKEN_LIFETIME_S, DevIssuer, GatewayKey, MAX_KEY_ID_LEN,
    MAX_TOKEN_LIFETIME_S, MIN_TOKEN_SECRET, PlayerClaims, Rotation, TokenError, VerifiedToken,
    rotate, sign_gateway_token, sign_player_token, token_issuer, valid_key_id, verify_player_token,
};

const API_KEY_PREFIX: &str = "cek_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Pos,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Pos => "pos",
            Self::Auditor => "auditor",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Admin, Self::Pos, Self::Auditor]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A freshly generated API key: the full secret string goes to the caller
/// once; only `secret_hash` is stored.
pub struct NewApiKey {
    pub key_id: String,
    pub secret_hash: Vec<u8>,
    pub full: String,
}

/// Builds a key from 8 random id bytes and 32 random secret bytes (the
/// caller draws them from a CSPRNG).
pub fn new_api_key(id_bytes: [u8; 8], secret_bytes: [u8; 32]) -> NewApiKey {
    let key_id = hex::encode(id_bytes);
    let secret = URL_SAFE_NO_PAD.encode(secret_bytes);
    NewApiKey {
        secret_hash: hash_secret(&secret),
        full: format!("{API_KEY_PREFIX}{key_id}_{secret}"),
        key_id,
    }
}

fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits `cek_<id>_<secret>`; `None` if it is not shaped like an API key.
pub fn parse_api_key(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix(API_KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

/// Constant-time check of a presented secret against the stored hash.
pub fn api_secret_matches(presented: &str, stored_hash: &[u8]) -> bool {
    hash_secret(presented).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_round_trip() {
        let k = new_api_key([1; 8], [2; 32]);
        let (id, secret) = parse_api_key(&k.full).expect("shape");
        assert_eq!(id, k.key_id);
        assert!(api_secret_matches(secret, &k.secret_hash));
        let other = new_api_key([1; 8], [3; 32]);
        let (_, other_secret) = parse_api_key(&other.full).expect("shape");
        assert!(!api_secret_matches(other_secret, &k.secret_hash));
        for bad in [
            "",
            "cek_",
            "cek_zz_yy",
            "xyz_0101010101010101_abc",
            &k.full[..k.full.len() - 1],
        ] {
            assert!(parse_api_key(bad).is_none(), "{bad}");
        }
    }
}
