//! Credentials: API keys (admin, POS, auditor) and player tokens.
//!
//! API keys are `cek_<key id>_<secret>`: a 64-bit id in hex to find the
//! row, and a 256-bit secret in base64url of which only the SHA-256 hash is
//! stored and compared in constant time. Player tokens are compact JWTs
//! signed HS256 by the merchant's gateway; the algorithm is pinned, and the
//! issuer, audience, expiry and lifetime are checked.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Millis;

const API_KEY_PREFIX: &str = "cek_";
/// Longest lifetime (`exp - iat`) a player token may have.
pub const MAX_TOKEN_LIFETIME_S: i64 = 3600;
/// Clock skew tolerated on `iat` / `exp`.
const LEEWAY_S: i64 = 30;
/// Shortest gateway secret accepted.
pub const MIN_TOKEN_SECRET: usize = 32;

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct LooseClaims {
    iss: Option<String>,
}

/// Why a player token was refused (never shown in detail to callers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("bad signature")]
    Signature,
    #[error("wrong audience")]
    Audience,
    #[error("wrong issuer")]
    Issuer,
    #[error("expired")]
    Expired,
    #[error("lifetime too long or issued in the future")]
    Lifetime,
    #[error("missing subject")]
    Subject,
}

fn b64(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

/// The unverified issuer, used only to look up whose secret verifies it.
pub fn token_issuer(token: &str) -> Result<String, TokenError> {
    let mut parts = token.split('.');
    let (_, payload) = (parts.next(), parts.next().ok_or(TokenError::Malformed)?);
    let claims: LooseClaims =
        serde_json::from_slice(&b64(payload)?).map_err(|_| TokenError::Malformed)?;
    claims.iss.ok_or(TokenError::Malformed)
}

/// Verifies a compact JWT: exactly three parts, `alg` exactly `HS256`, a
/// valid HMAC under `secret`, then `iss`, `aud`, `exp`, `iat` and `sub`.
pub fn verify_player_token(
    token: &str,
    secret: &[u8],
    issuer: &str,
    audience: &str,
    now: Millis,
) -> Result<PlayerClaims, TokenError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(TokenError::Malformed);
    };
    let header: Header = serde_json::from_slice(&b64(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        return Err(TokenError::Algorithm);
    }
    let sig = b64(s)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| TokenError::Signature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
    let claims: PlayerClaims =
        serde_json::from_slice(&b64(p)?).map_err(|_| TokenError::Malformed)?;
    if claims.iss != issuer {
        return Err(TokenError::Issuer);
    }
    if claims.aud != audience {
        return Err(TokenError::Audience);
    }
    let now_s = now.div_euclid(1000);
    if claims.exp + LEEWAY_S <= now_s {
        return Err(TokenError::Expired);
    }
    if claims.iat > now_s + LEEWAY_S || claims.exp - claims.iat > MAX_TOKEN_LIFETIME_S {
        return Err(TokenError::Lifetime);
    }
    if claims.sub.is_empty() || claims.sub.len() > 128 {
        return Err(TokenError::Subject);
    }
    Ok(claims)
}

/// Signs a player token the way a gateway does (tests, the CLI helper).
pub fn sign_player_token(secret: &[u8], claims: &PlayerClaims) -> String {
    sign_with_alg(secret, claims, "HS256")
}

fn sign_with_alg(secret: &[u8], claims: &PlayerClaims, alg: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let signing_input = format!("{header}.{payload}");
    let sig = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Issuers of the development token issuer start with this; the merchant's
/// id follows (`campaign-engine-dev/<merchant id>`).
pub const DEV_ISSUER_PREFIX: &str = "campaign-engine-dev/";
/// Lifetime of a development token.
pub const DEV_TOKEN_LIFETIME_S: i64 = 600;

/// The development-only player token issuer (`dev_token_issuer`): signs
/// player tokens for any openid at any merchant with a random secret of
/// this process, in place of a merchant's gateway. The authenticator
/// accepts its tokens only while it exists; no token survives a restart.
/// The secret is never shown (no `Debug`).
pub struct DevIssuer {
    secret: [u8; 32],
}

impl DevIssuer {
    /// `secret` comes from a CSPRNG.
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// The merchant a development issuer names, if `issuer` is one.
    pub fn merchant_of(issuer: &str) -> Option<&str> {
        issuer
            .strip_prefix(DEV_ISSUER_PREFIX)
            .filter(|m| !m.is_empty())
    }

    /// A token for `openid` at `merchant_id`, and when it expires (ms).
    pub fn mint(
        &self,
        merchant_id: &str,
        openid: &str,
        audience: &str,
        now: Millis,
    ) -> (String, Millis) {
        let iat = now.div_euclid(1000);
        let claims = PlayerClaims {
            iss: format!("{DEV_ISSUER_PREFIX}{merchant_id}"),
            aud: audience.to_owned(),
            sub: openid.to_owned(),
            iat,
            exp: iat + DEV_TOKEN_LIFETIME_S,
        };
        (sign_player_token(&self.secret, &claims), claims.exp * 1000)
    }

    /// Verifies a token this issuer signed: `(merchant, claims)`.
    pub fn verify(
        &self,
        token: &str,
        audience: &str,
        now: Millis,
    ) -> Result<(String, PlayerClaims), TokenError> {
        let issuer = token_issuer(token)?;
        let merchant = Self::merchant_of(&issuer)
            .ok_or(TokenError::Issuer)?
            .to_owned();
        let claims = verify_player_token(token, &self.secret, &issuer, audience, now)?;
        Ok((merchant, claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NOW: Millis = 1_800_000_000_000;

    fn claims() -> PlayerClaims {
        PlayerClaims {
            iss: "gw".into(),
            aud: "campaign-engine".into(),
            sub: "openid-1".into(),
            iat: NOW / 1000,
            exp: NOW / 1000 + 600,
        }
    }

    fn verify(t: &str) -> Result<PlayerClaims, TokenError> {
        verify_player_token(t, SECRET, "gw", "campaign-engine", NOW)
    }

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

    #[test]
    fn good_token_verifies() {
        assert_eq!(verify(&sign_player_token(SECRET, &claims())), Ok(claims()));
        assert_eq!(
            token_issuer(&sign_player_token(SECRET, &claims())),
            Ok("gw".into())
        );
    }

    #[test]
    fn every_bad_token_is_refused() {
        let t = |c: PlayerClaims| sign_player_token(SECRET, &c);
        assert_eq!(
            verify(&sign_with_alg(SECRET, &claims(), "none")),
            Err(TokenError::Algorithm)
        );
        assert_eq!(
            verify(&sign_with_alg(SECRET, &claims(), "HS512")),
            Err(TokenError::Algorithm)
        );
        assert_eq!(
            verify(&sign_player_token(
                b"another-secret-another-secret-xx",
                &claims()
            )),
            Err(TokenError::Signature)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                iss: "x".into(),
                ..claims()
            })),
            Err(TokenError::Issuer)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                aud: "x".into(),
                ..claims()
            })),
            Err(TokenError::Audience)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                iat: NOW / 1000 - 700,
                exp: NOW / 1000 - 100,
                ..claims()
            })),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                exp: NOW / 1000 + 7200,
                ..claims()
            })),
            Err(TokenError::Lifetime)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                iat: NOW / 1000 + 300,
                ..claims()
            })),
            Err(TokenError::Lifetime)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                sub: String::new(),
                ..claims()
            })),
            Err(TokenError::Subject)
        );
        assert_eq!(verify("a.b"), Err(TokenError::Malformed));
        assert_eq!(verify("a.b.c.d"), Err(TokenError::Malformed));
        // A payload swapped under a valid signature fails the signature.
        let good = t(claims());
        let evil = t(PlayerClaims {
            sub: "victim".into(),
            ..claims()
        });
        let g: Vec<&str> = good.split('.').collect();
        let e: Vec<&str> = evil.split('.').collect();
        assert_eq!(
            verify(&format!("{}.{}.{}", g[0], e[1], g[2])),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn dev_issuer_tokens_verify_only_with_its_own_secret() {
        let dev = DevIssuer::new([7; 32]);
        let (token, exp) = dev.mint("m-1", "openid-9", "campaign-engine", NOW);
        assert_eq!(exp, NOW + DEV_TOKEN_LIFETIME_S * 1000);
        let (merchant, c) = dev.verify(&token, "campaign-engine", NOW).expect("valid");
        assert_eq!((merchant.as_str(), c.sub.as_str()), ("m-1", "openid-9"));
        assert_eq!(
            token_issuer(&token).as_deref(),
            Ok("campaign-engine-dev/m-1")
        );
        // Another process (another secret), another audience, too late.
        let other = DevIssuer::new([8; 32]);
        assert_eq!(
            other.verify(&token, "campaign-engine", NOW).map(|_| ()),
            Err(TokenError::Signature)
        );
        assert_eq!(
            dev.verify(&token, "other", NOW).map(|_| ()),
            Err(TokenError::Audience)
        );
        let late = NOW + (DEV_TOKEN_LIFETIME_S + 60) * 1000;
        assert_eq!(
            dev.verify(&token, "campaign-engine", late).map(|_| ()),
            Err(TokenError::Expired)
        );
        // A gateway's token is not the dev issuer's.
        let gw = sign_player_token(SECRET, &claims());
        assert_eq!(
            dev.verify(&gw, "campaign-engine", NOW).map(|_| ()),
            Err(TokenError::Issuer)
        );
        assert_eq!(DevIssuer::merchant_of("campaign-engine-dev/"), None);
    }
}
