//! Idempotency keys and request fingerprints.
//!
//! The key is scoped to the caller and the RPC; the fingerprint is a hash of
//! the request without its key, so a retry that changed any parameter is
//! told apart from a faithful one.

use super::InvalidField;
use sha2::{Digest, Sha256};

pub const MAX_KEY_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1..=128 printable ASCII characters (no spaces or control characters).
    pub fn parse(s: &str) -> Result<Self, InvalidField> {
        const FIELD: &str = "idempotency_key";
        if s.is_empty() {
            return Err(InvalidField::new(FIELD, "is required for every change"));
        }
        if s.len() > MAX_KEY_LEN {
            return Err(InvalidField::new(
                FIELD,
                format!("at most {MAX_KEY_LEN} characters"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidField::new(FIELD, "printable ASCII only"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 over the RPC name and the request's canonical bytes (the
/// request with its idempotency key cleared).
pub fn fingerprint(method: &str, request_without_key: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update((method.len() as u32).to_be_bytes());
    h.update(method.as_bytes());
    h.update(request_without_key);
    h.finalize().to_vec()
}

/// Everything the store needs to make one request exactly-once.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// Who is asking (`key:<id>` or `player:<merchant>:<openid>`).
    pub scope: String,
    pub method: &'static str,
    pub key: IdempotencyKey,
    pub fingerprint: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert!(IdempotencyKey::parse("abc-123_X").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(128)).is_ok());
        for bad in ["", "has space", "tab\t", "é"] {
            assert_eq!(
                IdempotencyKey::parse(bad).expect_err(bad).field,
                "idempotency_key"
            );
        }
        assert!(IdempotencyKey::parse(&"k".repeat(129)).is_err());
    }

    #[test]
    fn fingerprint_separates_method_and_body() {
        assert_eq!(fingerprint("Draw", b"x"), fingerprint("Draw", b"x"));
        assert_ne!(fingerprint("Draw", b"x"), fingerprint("Draw", b"y"));
        assert_ne!(fingerprint("Draw", b"x"), fingerprint("Drawx", b""));
    }
}
