//! Codes at rest (issue 22): the database never holds a coupon code or a
//! supplier code in the clear. Each is stored twice, neither readable
//! without the seal key (`seal_key_file`, outside the database):
//!
//! - a **digest**, to recognise a code: HMAC-SHA256 under a key derived
//!   from the seal key, over a label and the code, cut to 16 bytes and
//!   written as 32 hex digits. A till's lookup is one index probe on it, as
//!   fast as on the code itself. Keyed, so a copy of the database cannot be
//!   searched offline (supplier codes may be short or numeric); 128 bits,
//!   so two codes of one merchant never share a digest in practice.
//! - a **sealed copy**, to show a code to its owner (or export a bulk job's
//!   codes for printing): ChaCha20-Poly1305 as in `platform::domain::seal`,
//!   with the row's identity as associated data, so a sealed code copied
//!   into another row does not open.
//!
//! Pure: the caller brings the nonce and the key.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use platform::domain::seal::{NONCE_LEN, SealError, SealKey};
use sha2::Sha256;

use super::code::CouponCode;

/// Bytes of the HMAC kept in a digest.
const DIGEST_BYTES: usize = 16;

/// Digests and seals codes with keys from the engine's seal key.
/// `Debug` shows no key.
#[derive(Clone)]
pub struct CodeVault {
    digest_key: [u8; 32],
    seal: Arc<SealKey>,
}

impl std::fmt::Debug for CodeVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeVault(***)")
    }
}

impl CodeVault {
    pub fn new(seal: Arc<SealKey>) -> Self {
        Self {
            digest_key: seal.derive(b"campaign-engine code digest v1"),
            seal,
        }
    }

    /// The key page tokens of list RPCs are MACed with: the same
    /// derivation as the campaign store's, so one engine has one page
    /// token key (`platform::domain::paging`).
    pub fn page_token_key(&self) -> [u8; 32] {
        self.seal.derive(b"campaign-engine page token v1")
    }

    fn digest(&self, label: &str, parts: &[&str]) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.digest_key) else {
            // HMAC takes a key of any length; this arm cannot happen.
            return String::new();
        };
        mac.update(label.as_bytes());
        for p in parts {
            // Each part behind its length: no two lists hash alike.
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p.as_bytes());
        }
        hex::encode(&mac.finalize().into_bytes()[..DIGEST_BYTES])
    }

    /// What `coupon.code_digest` holds for `code` (normalised, so every way
    /// a cashier may type it finds the same row).
    pub fn coupon_digest(&self, code: &CouponCode) -> String {
        self.digest("coupon", &[code.as_str()])
    }

    /// What `pool_code.code_digest` holds for a supplier code of `pool_id`.
    pub fn pool_digest(&self, pool_id: &str, code: &str) -> String {
        self.digest("pool_code", &[pool_id, code])
    }

    /// The sealed copy of the coupon `coupon_id`'s code.
    pub fn seal_coupon(
        &self,
        coupon_id: &str,
        code: &CouponCode,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, SealError> {
        self.seal
            .seal(code.as_str().as_bytes(), &coupon_aad(coupon_id), nonce)
    }

    /// The code of the coupon `coupon_id` from its sealed copy.
    pub fn open_coupon(&self, coupon_id: &str, sealed: &[u8]) -> Result<String, SealError> {
        let plain = self.seal.open(sealed, &coupon_aad(coupon_id))?;
        String::from_utf8(plain).map_err(|_| SealError::Format)
    }

    /// The sealed copy of a supplier code; the row is `(pool_id, digest)`.
    pub fn seal_pool(
        &self,
        pool_id: &str,
        digest: &str,
        code: &str,
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>, SealError> {
        self.seal
            .seal(code.as_bytes(), &pool_aad(pool_id, digest), nonce)
    }

    /// A supplier code from its sealed copy.
    pub fn open_pool(
        &self,
        pool_id: &str,
        digest: &str,
        sealed: &[u8],
    ) -> Result<String, SealError> {
        let plain = self.seal.open(sealed, &pool_aad(pool_id, digest))?;
        String::from_utf8(plain).map_err(|_| SealError::Format)
    }
}

fn coupon_aad(coupon_id: &str) -> Vec<u8> {
    format!("coupon\u{0}{coupon_id}").into_bytes()
}

fn pool_aad(pool_id: &str, digest: &str) -> Vec<u8> {
    format!("pool_code\u{0}{pool_id}\u{0}{digest}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use platform::domain::seal::KEY_LEN;

    fn vault(b: u8) -> CodeVault {
        CodeVault::new(Arc::new(SealKey::from_bytes([b; KEY_LEN])))
    }

    fn code(b: u8) -> CouponCode {
        CouponCode::from_random([b; 12])
    }

    #[test]
    fn a_digest_is_fixed_per_key_and_code_and_shows_nothing_of_it() {
        let (v, c) = (vault(1), code(3));
        let d = v.coupon_digest(&c);
        assert_eq!(d.len(), 32);
        assert!(d.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            d,
            v.coupon_digest(&CouponCode::parse(&c.display()).expect("parses"))
        );
        assert_ne!(d, v.coupon_digest(&code(4)), "another code");
        assert_ne!(d, vault(2).coupon_digest(&c), "another key");
        assert!(!d.to_uppercase().contains(&c.as_str()[..4]));
        // Pool digests: per pool, and apart from coupon digests.
        assert_ne!(v.pool_digest("p1", "123"), v.pool_digest("p2", "123"));
        assert_ne!(v.pool_digest("p1", "123"), v.pool_digest("p1", "124"));
        assert_ne!(v.pool_digest("p", "1p"), v.pool_digest("p1", "p"));
        assert_ne!(v.pool_digest("", c.as_str()), d);
    }

    #[test]
    fn a_sealed_code_opens_only_with_its_key_and_row() {
        let (v, c) = (vault(1), code(9));
        let sealed = v.seal_coupon("c1", &c, [5; NONCE_LEN]).expect("seal");
        assert!(
            !sealed
                .windows(4)
                .any(|w| c.as_str().as_bytes().windows(4).any(|x| x == w))
        );
        assert_eq!(v.open_coupon("c1", &sealed).as_deref(), Ok(c.as_str()));
        assert_eq!(v.open_coupon("c2", &sealed), Err(SealError::Open));
        assert_eq!(vault(2).open_coupon("c1", &sealed), Err(SealError::Open));

        let d = v.pool_digest("p1", "TOPUP-0001");
        let sealed = v
            .seal_pool("p1", &d, "TOPUP-0001", [6; NONCE_LEN])
            .expect("seal");
        assert_eq!(v.open_pool("p1", &d, &sealed).as_deref(), Ok("TOPUP-0001"));
        assert_eq!(v.open_pool("p2", &d, &sealed), Err(SealError::Open));
        assert_eq!(v.open_coupon("p1", &sealed), Err(SealError::Open));
        assert_eq!(format!("{v:?}"), "CodeVault(***)");
    }
}
