//! HS256, and nothing else, as the crypto backend of `jsonwebtoken`.
//!
//! Why not the crate's own `rust_crypto` backend: that feature has no
//! HMAC-only subset; it always brings RSA, ECDSA (P-256, P-384) and EdDSA.
//! Measured on this machine with jsonwebtoken 12.0.0: in this workspace,
//! `rust_crypto` puts 31 more crates in Cargo.lock than the crate without
//! a backend (rsa, crypto-bigint, crypto-primes, p256, p384, ecdsa,
//! elliptic-curve, ed25519-dalek, curve25519-dalek, pkcs1, pkcs8, der,
//! spki, ...). A clean `-j1` build of a scratch crate with just
//! jsonwebtoken, hmac, sha2 and serde, dependencies at opt-level 2 as in
//! our dev profile, took 91 s user and 11 s sys with it against 54 s and
//! 4 s without: about 45 s of CPU more per clean build, for algorithms the
//! engine refuses. `aws_lc_rs` builds a C library. So the crate is used
//! without a backend, and this module installs a provider that signs and
//! verifies HS256 with the `hmac` and `sha2` crates already in the build.
//! Everything else (splitting, base64, header and claims parsing, `alg`
//! pinning, the `iss` and `aud` checks) stays the library's.
//!
//! Verification is `Mac::verify_slice`, a constant-time comparison. Any
//! other algorithm, or a key that is not an HMAC secret, is refused when
//! the signer or verifier is made.

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{Error, ErrorKind},
    signature::{self, Signer, Verifier},
};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

struct Hs256Signer(HmacSha256);

impl Signer<Vec<u8>> for Hs256Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        Ok(mac.finalize().into_bytes().to_vec())
    }
}

impl JwtSigner for Hs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

struct Hs256Verifier(HmacSha256);

impl Verifier<Vec<u8>> for Hs256Verifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        let mut mac = self.0.clone();
        mac.update(msg);
        mac.verify_slice(signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Hs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

fn hmac_key(alg: Algorithm, family: AlgorithmFamily, secret: &[u8]) -> Result<HmacSha256, Error> {
    if alg != Algorithm::HS256 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    if family != AlgorithmFamily::Hmac {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    HmacSha256::new_from_slice(secret).map_err(|_| ErrorKind::InvalidKeyFormat.into())
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    let mac = hmac_key(*alg, key.family(), key.as_bytes())?;
    Ok(Box::new(Hs256Signer(mac)))
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let mac = hmac_key(*alg, key.family(), key.try_get_as_bytes()?)?;
    Ok(Box::new(Hs256Verifier(mac)))
}

/// The provider; the engine never uses JWKs, so `key_utils` is left out.
static HS256_ONLY: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes sure a provider is installed before `jsonwebtoken` signs or
/// verifies (it has none of its own without a backend feature). Cheap after
/// the first call. If something else in the process installed one first,
/// that one stays: the `Validation` still pins HS256.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = HS256_ONLY.install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_only_hs256_with_an_hmac_key() {
        install();
        let enc = EncodingKey::from_secret(b"k").expect("key");
        let dec = DecodingKey::from_secret(b"k").expect("key");
        let sig = jsonwebtoken::crypto::sign(b"msg", &enc, Algorithm::HS256).expect("signs");
        // The same bytes as a direct HMAC-SHA256 of the message.
        let mut mac = HmacSha256::new_from_slice(b"k").expect("key");
        mac.update(b"msg");
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        assert_eq!(sig, URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
        assert_eq!(
            jsonwebtoken::crypto::verify(&sig, b"msg", &dec, Algorithm::HS256).ok(),
            Some(true)
        );
        assert_eq!(
            jsonwebtoken::crypto::verify(&sig, b"other", &dec, Algorithm::HS256).ok(),
            Some(false)
        );
        for alg in [Algorithm::HS384, Algorithm::HS512, Algorithm::RS256] {
            assert!(
                jsonwebtoken::crypto::sign(b"msg", &enc, alg).is_err(),
                "{alg:?}"
            );
            assert!(
                jsonwebtoken::crypto::verify(&sig, b"msg", &dec, alg).is_err(),
                "{alg:?}"
            );
        }
    }
}
