//! Player tokens: compact JWTs signed HS256 by the merchant's gateway,
//! checked with `jsonwebtoken` (HS256 from [`super::hs256`]). The algorithm
//! is pinned; `iss`, `aud` (a string or an array holding the engine's
//! audience), `exp`, `nbf`, `iat`, the lifetime and `sub` are checked, the
//! times against the engine's clock (leeway 30 s). A gateway may name its
//! signing key in the `kid` header, so that it can rotate keys with two
//! active at once (`AdminService.SetPlayerTokenKey`).

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::{Millis, hs256};

/// Longest lifetime (`exp - iat`) a player token may have.
pub const MAX_TOKEN_LIFETIME_S: i64 = 3600;
/// Clock skew tolerated on `iat`, `nbf` and `exp`.
const LEEWAY_S: i64 = 30;
/// Shortest gateway secret accepted.
pub const MIN_TOKEN_SECRET: usize = 32;
/// Longest `kid` accepted when a gateway key is registered.
pub const MAX_KEY_ID_LEN: usize = 64;

/// What a gateway signs (tests, the CLI helper, the development issuer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub exp: i64,
}

/// One active signing key of a gateway: its `kid` (`""` is the legacy key,
/// registered before key ids existed) and its HS256 secret. `Debug` does not
/// show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct GatewayKey {
    pub kid: String,
    pub secret: Vec<u8>,
}

impl fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Whether `kid` can name a gateway key: empty (the legacy key) or up to
/// [`MAX_KEY_ID_LEN`] of `A-Z a-z 0-9 . _ -`.
pub fn valid_key_id(kid: &str) -> bool {
    kid.len() <= MAX_KEY_ID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Keys active at once per merchant (and so per issuer): the newest two.
pub const ACTIVE_KEYS: usize = 2;

/// The key ids after `new` is registered: `active` (newest first) and the
/// ids that registering it retires. `current` is the merchant's active ids,
/// newest first; registering an id already among them replaces that key
/// and makes it the newest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub active: Vec<String>,
    pub retired: Vec<String>,
}

pub fn rotate(current: &[String], new: &str) -> Rotation {
    let mut active = vec![new.to_owned()];
    let mut retired = Vec::new();
    for kid in current.iter().filter(|k| *k != new) {
        if active.len() < ACTIVE_KEYS {
            active.push(kid.clone());
        } else {
            retired.push(kid.clone());
        }
    }
    Rotation { active, retired }
}

/// A verified player token: the player's openid and the `kid` of the key
/// whose signature it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub sub: String,
    pub key_id: String,
}

/// The payload as the engine reads it; `jsonwebtoken` checks `aud` (a
/// string or an array) and `iss` and that `exp`, `iss`, `aud` and `sub` are
/// there.
#[derive(Deserialize)]
struct TokenClaims {
    sub: String,
    iat: i64,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
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
    #[error("no active key has this kid")]
    UnknownKey,
    #[error("bad signature")]
    Signature,
    #[error("wrong audience")]
    Audience,
    #[error("wrong issuer")]
    Issuer,
    #[error("expired")]
    Expired,
    #[error("not valid yet (nbf)")]
    NotYetValid,
    #[error("lifetime too long or issued in the future")]
    Lifetime,
    #[error("missing subject")]
    Subject,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        match e.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidKeyFormat => Self::Signature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::MissingAlgorithm
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::InvalidAlgorithmName => Self::Algorithm,
            ErrorKind::InvalidIssuer => Self::Issuer,
            ErrorKind::InvalidAudience => Self::Audience,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            _ => Self::Malformed,
        }
    }
}

/// The unverified issuer, used only to look up whose keys verify it.
pub fn token_issuer(token: &str) -> Result<String, TokenError> {
    let claims: LooseClaims = jsonwebtoken::dangerous::insecure_decode_claims(token)?;
    claims.iss.ok_or(TokenError::Malformed)
}

/// Verifies a compact JWT signed by one of `keys` (the issuer's active keys,
/// newest first): `alg` exactly `HS256`; with a `kid` header, the signature
/// of that key only (none with that kid: [`TokenError::UnknownKey`]);
/// without one, each key in turn, newest first, each compared in constant
/// time; then `iss`, `aud`, `exp`, `nbf`, `iat`, the lifetime and `sub`.
pub fn verify_player_token(
    token: &str,
    keys: &[GatewayKey],
    issuer: &str,
    audience: &str,
    now: Millis,
) -> Result<VerifiedToken, TokenError> {
    hs256::install();
    let header = jsonwebtoken::decode_header(token)?;
    if header.alg != Algorithm::HS256 {
        return Err(TokenError::Algorithm);
    }
    let mut validation = Validation::new(Algorithm::HS256);
    // The library reads the system clock; the times are checked below
    // against the engine's.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    if let Some(kid) = header.kid.as_deref() {
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(TokenError::UnknownKey)?;
        return verify_with(token, key, &validation, now);
    }
    for key in keys {
        match verify_with(token, key, &validation, now) {
            Err(TokenError::Signature) => continue,
            verdict => return verdict,
        }
    }
    Err(TokenError::Signature)
}

fn verify_with(
    token: &str,
    key: &GatewayKey,
    validation: &Validation,
    now: Millis,
) -> Result<VerifiedToken, TokenError> {
    let decoding = DecodingKey::from_secret(&key.secret)?;
    let claims = jsonwebtoken::decode::<TokenClaims>(token, &decoding, validation)?.claims;
    // The times come from the caller: checked arithmetic only.
    let now_s = now.div_euclid(1000);
    if claims.exp.saturating_add(LEEWAY_S) <= now_s {
        return Err(TokenError::Expired);
    }
    let lifetime = claims.exp.checked_sub(claims.iat);
    if claims.iat > now_s.saturating_add(LEEWAY_S)
        || lifetime.is_none_or(|l| l > MAX_TOKEN_LIFETIME_S)
    {
        return Err(TokenError::Lifetime);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_s.saturating_add(LEEWAY_S))
    {
        return Err(TokenError::NotYetValid);
    }
    if claims.sub.is_empty() || claims.sub.len() > 128 {
        return Err(TokenError::Subject);
    }
    Ok(VerifiedToken {
        sub: claims.sub,
        key_id: key.kid.clone(),
    })
}

/// Signs a player token the way a gateway does (tests, the CLI helper).
pub fn sign_player_token(secret: &[u8], claims: &PlayerClaims) -> String {
    sign_gateway_token(secret, None, claims)
}

/// Signs any claims HS256 with an optional `kid` header, as a gateway
/// does. An empty secret cannot sign: the answer is then an empty string,
/// which no check accepts.
pub fn sign_gateway_token(secret: &[u8], kid: Option<&str>, claims: &impl Serialize) -> String {
    hs256::install();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    EncodingKey::from_secret(secret)
        .and_then(|key| jsonwebtoken::encode(&header, claims, &key))
        .unwrap_or_default()
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
    key: GatewayKey,
}

impl DevIssuer {
    /// `secret` comes from a CSPRNG.
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            key: GatewayKey {
                kid: String::new(),
                secret: secret.to_vec(),
            },
        }
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
        (
            sign_player_token(&self.key.secret, &claims),
            claims.exp * 1000,
        )
    }

    /// Verifies a token this issuer signed: `(merchant, token)`.
    pub fn verify(
        &self,
        token: &str,
        audience: &str,
        now: Millis,
    ) -> Result<(String, VerifiedToken), TokenError> {
        let issuer = token_issuer(token)?;
        let merchant = Self::merchant_of(&issuer)
            .ok_or(TokenError::Issuer)?
            .to_owned();
        let verified = verify_player_token(
            token,
            std::slice::from_ref(&self.key),
            &issuer,
            audience,
            now,
        )?;
        Ok((merchant, verified))
    }
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use hmac::{Hmac, Mac};
    use serde_json::{Value, json};
    use sha2::Sha256;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
    const K1: &[u8] = b"k1-secret-k1-secret-k1-secret-k1";
    const K2: &[u8] = b"k2-secret-k2-secret-k2-secret-k2";
    const NOW: Millis = 1_800_000_000_000;
    const NOW_S: i64 = NOW / 1000;

    fn claims() -> PlayerClaims {
        PlayerClaims {
            iss: "gw".into(),
            aud: "campaign-engine".into(),
            sub: "openid-1".into(),
            iat: NOW_S,
            exp: NOW_S + 600,
        }
    }

    /// `claims()` as JSON with `changes` merged in (`null` removes).
    fn claims_with(changes: Value) -> Value {
        let mut c = serde_json::to_value(claims()).expect("json");
        for (k, v) in changes.as_object().expect("object") {
            match v {
                Value::Null => c.as_object_mut().expect("object").remove(k),
                v => c
                    .as_object_mut()
                    .expect("object")
                    .insert(k.clone(), v.clone()),
            };
        }
        c
    }

    fn key(kid: &str, secret: &[u8]) -> GatewayKey {
        GatewayKey {
            kid: kid.into(),
            secret: secret.to_vec(),
        }
    }

    fn verify(t: &str) -> Result<VerifiedToken, TokenError> {
        verify_player_token(t, &[key("", SECRET)], "gw", "campaign-engine", NOW)
    }

    fn ok() -> Result<VerifiedToken, TokenError> {
        Ok(VerifiedToken {
            sub: "openid-1".into(),
            key_id: String::new(),
        })
    }

    /// A token built by hand: any header, HMAC-SHA256 or -SHA384 over it.
    fn raw_token(header: &str, payload: &Value, sha384: bool) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload.to_string())
        );
        let sig = if sha384 {
            let mut m = Hmac::<sha2::Sha384>::new_from_slice(SECRET).expect("key");
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        } else {
            let mut m = Hmac::<Sha256>::new_from_slice(SECRET).expect("key");
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    #[test]
    fn good_token_verifies() {
        assert_eq!(verify(&sign_player_token(SECRET, &claims())), ok());
        assert_eq!(
            token_issuer(&sign_player_token(SECRET, &claims())),
            Ok("gw".into())
        );
        // A token built by hand the way today's gateways do it, too.
        let by_hand = raw_token(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            &claims_with(json!({})),
            false,
        );
        assert_eq!(verify(&by_hand), ok());
    }

    #[test]
    fn every_bad_token_is_refused() {
        let t = |c: PlayerClaims| sign_player_token(SECRET, &c);
        // `none` is no algorithm the library knows: the header does not parse.
        assert_eq!(
            verify(&raw_token(
                r#"{"alg":"none","typ":"JWT"}"#,
                &claims_with(json!({})),
                false
            )),
            Err(TokenError::Malformed)
        );
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(claims_with(json!({})).to_string())
        );
        assert_eq!(verify(&unsigned), Err(TokenError::Malformed));
        // Correctly signed with HS384, or claiming HS512 / RS256 over an
        // HS256 signature: refused for the algorithm.
        assert_eq!(
            verify(&raw_token(
                r#"{"alg":"HS384","typ":"JWT"}"#,
                &claims_with(json!({})),
                true
            )),
            Err(TokenError::Algorithm)
        );
        for alg in ["HS512", "RS256", "ES256"] {
            let h = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
            assert_eq!(
                verify(&raw_token(&h, &claims_with(json!({})), false)),
                Err(TokenError::Algorithm),
                "{alg}"
            );
        }
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
                iat: NOW_S - 700,
                exp: NOW_S - 100,
                ..claims()
            })),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                exp: NOW_S + 7200,
                ..claims()
            })),
            Err(TokenError::Lifetime)
        );
        assert_eq!(
            verify(&t(PlayerClaims {
                iat: NOW_S + 300,
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
        for missing in ["iss", "aud", "sub", "iat", "exp"] {
            let c = claims_with(json!({ missing: null }));
            assert_eq!(
                verify(&sign_gateway_token(SECRET, None, &c)),
                Err(TokenError::Malformed),
                "without {missing}"
            );
        }
        assert_eq!(verify("a.b"), Err(TokenError::Malformed));
        assert_eq!(verify("a.b.c.d"), Err(TokenError::Malformed));
        assert_eq!(verify(""), Err(TokenError::Malformed));
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
    fn a_tampered_signature_is_refused() {
        let good = sign_player_token(SECRET, &claims());
        let (input, sig) = good.rsplit_once('.').expect("three parts");
        let mut bytes = URL_SAFE_NO_PAD.decode(sig).expect("base64");
        for i in [0, bytes.len() / 2, bytes.len() - 1] {
            bytes[i] ^= 0x01;
            let tampered = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert_eq!(verify(&tampered), Err(TokenError::Signature), "byte {i}");
            bytes[i] ^= 0x01;
        }
        // Truncated, or none at all.
        let short = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&bytes[..31]));
        assert_eq!(verify(&short), Err(TokenError::Signature));
        assert_eq!(verify(&format!("{input}.")), Err(TokenError::Signature));
    }

    #[test]
    fn nbf_in_the_future_is_refused_and_in_the_past_accepted() {
        let with_nbf =
            |nbf: i64| sign_gateway_token(SECRET, None, &claims_with(json!({ "nbf": nbf })));
        assert_eq!(verify(&with_nbf(NOW_S - 300)), ok());
        assert_eq!(verify(&with_nbf(NOW_S)), ok());
        // The same leeway as iat and exp: 30 s.
        assert_eq!(verify(&with_nbf(NOW_S + LEEWAY_S)), ok());
        assert_eq!(
            verify(&with_nbf(NOW_S + LEEWAY_S + 1)),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(verify(&with_nbf(NOW_S + 300)), Err(TokenError::NotYetValid));
        // Not a number: refused, not ignored.
        let text = sign_gateway_token(SECRET, None, &claims_with(json!({ "nbf": "soon" })));
        assert_eq!(verify(&text), Err(TokenError::Malformed));
    }

    #[test]
    fn aud_may_be_a_string_or_an_array_holding_ours() {
        let with_aud =
            |aud: Value| sign_gateway_token(SECRET, None, &claims_with(json!({ "aud": aud })));
        assert_eq!(verify(&with_aud(json!("campaign-engine"))), ok());
        assert_eq!(verify(&with_aud(json!(["campaign-engine"]))), ok());
        assert_eq!(
            verify(&with_aud(json!(["wallet", "campaign-engine", "crm"]))),
            ok()
        );
        for refused in [
            json!(["wallet", "crm"]),
            json!([]),
            json!("wallet"),
            json!(["campaign-engine-x"]),
        ] {
            assert_eq!(
                verify(&with_aud(refused.clone())),
                Err(TokenError::Audience),
                "{refused}"
            );
        }
        assert_eq!(verify(&with_aud(json!(42))), Err(TokenError::Malformed));
    }

    #[test]
    fn a_kid_selects_its_key_and_no_other() {
        let keys = [key("k2", K2), key("k1", K1)];
        let v = |t: &str| verify_player_token(t, &keys, "gw", "campaign-engine", NOW);
        let signed = |kid: &str, secret: &[u8]| sign_gateway_token(secret, Some(kid), &claims());
        assert_eq!(v(&signed("k1", K1)).map(|t| t.key_id), Ok("k1".into()));
        assert_eq!(v(&signed("k2", K2)).map(|t| t.key_id), Ok("k2".into()));
        // Named k1 but signed with k2: only k1 is tried.
        assert_eq!(v(&signed("k1", K2)), Err(TokenError::Signature));
        // A kid no active key has (retired, or never registered).
        assert_eq!(v(&signed("k0", K1)), Err(TokenError::UnknownKey));
        assert_eq!(v(&signed("", K1)), Err(TokenError::UnknownKey));
        // The legacy key answers to an explicit empty kid.
        let legacy = [key("k1", K1), key("", SECRET)];
        assert_eq!(
            verify_player_token(&signed("", SECRET), &legacy, "gw", "campaign-engine", NOW)
                .map(|t| t.key_id),
            Ok(String::new())
        );
        // The claims are still checked after the key is chosen.
        let late = sign_gateway_token(
            K1,
            Some("k1"),
            &claims_with(json!({ "exp": NOW_S - 100, "iat": NOW_S - 700 })),
        );
        assert_eq!(v(&late), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_without_kid_verifies_with_either_active_key() {
        let keys = [key("k2", K2), key("", K1)];
        let v = |t: &str| verify_player_token(t, &keys, "gw", "campaign-engine", NOW);
        let plain = |secret: &[u8]| sign_player_token(secret, &claims());
        assert_eq!(v(&plain(K1)).map(|t| t.key_id), Ok(String::new()));
        assert_eq!(v(&plain(K2)).map(|t| t.key_id), Ok("k2".into()));
        assert_eq!(v(&plain(SECRET)), Err(TokenError::Signature));
        // A verdict other than the signature stops the search: an expired
        // token signed with the older key is expired, not "bad signature".
        let late = sign_gateway_token(
            K1,
            None,
            &claims_with(json!({ "exp": NOW_S - 100, "iat": NOW_S - 700 })),
        );
        assert_eq!(v(&late), Err(TokenError::Expired));
        // No active key at all.
        assert_eq!(
            verify_player_token(&plain(K1), &[], "gw", "campaign-engine", NOW),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn extreme_times_are_refused_without_overflow() {
        for (iat, exp) in [
            (i64::MIN, i64::MAX),
            // The issue's two vectors: exp - iat wrapped in release builds.
            (i64::MIN, i64::MAX - 30),
            (-(1 << 62), (1 << 62) + 3000),
            (0, i64::MAX),
            (NOW_S, i64::MAX),
            (i64::MAX, i64::MAX),
        ] {
            let c = claims_with(json!({ "iat": iat, "exp": exp }));
            assert_eq!(
                verify(&sign_gateway_token(SECRET, None, &c)),
                Err(TokenError::Lifetime),
                "iat {iat} exp {exp}"
            );
        }
        let c = claims_with(json!({ "nbf": i64::MAX }));
        assert_eq!(
            verify(&sign_gateway_token(SECRET, None, &c)),
            Err(TokenError::NotYetValid)
        );
        let c = claims_with(json!({ "nbf": i64::MIN }));
        assert_eq!(verify(&sign_gateway_token(SECRET, None, &c)), ok());
        for now in [i64::MIN, i64::MAX] {
            let t = sign_player_token(SECRET, &claims());
            let _ = verify_player_token(&t, &[key("", SECRET)], "gw", "campaign-engine", now);
        }
    }

    #[test]
    fn registering_keeps_the_newest_two() {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let r = |current: &[&str], new: &str| {
            let Rotation { active, retired } = rotate(&ids(current), new);
            (active, retired)
        };
        // First key; a second keeps the first; a third retires the oldest.
        assert_eq!(r(&[], "k1"), (ids(&["k1"]), ids(&[])));
        assert_eq!(r(&["k1"], "k2"), (ids(&["k2", "k1"]), ids(&[])));
        assert_eq!(r(&["k2", "k1"], "k3"), (ids(&["k3", "k2"]), ids(&["k1"])));
        // Today's gateways: the legacy key replaced by itself.
        assert_eq!(r(&[""], ""), (ids(&[""]), ids(&[])));
        assert_eq!(r(&[""], "k1"), (ids(&["k1", ""]), ids(&[])));
        // An active id again: replaced and made the newest, nothing retired.
        assert_eq!(r(&["k2", "k1"], "k1"), (ids(&["k1", "k2"]), ids(&[])));
        assert_eq!(r(&["k2", "k1"], "k2"), (ids(&["k2", "k1"]), ids(&[])));
        // More than two stored (never written so, but bounded anyway).
        assert_eq!(
            r(&["c", "b", "a"], "d"),
            (ids(&["d", "c"]), ids(&["b", "a"]))
        );
    }

    #[test]
    fn key_ids_are_short_and_plain() {
        for good in ["", "k1", "2026-06.gw_A", &"a".repeat(MAX_KEY_ID_LEN)] {
            assert!(valid_key_id(good), "{good}");
        }
        for bad in [" k", "k/1", "ké", "k\n", &"a".repeat(MAX_KEY_ID_LEN + 1)] {
            assert!(!valid_key_id(bad), "{bad:?}");
        }
        let k = key("k1", K1);
        assert!(!format!("{k:?}").contains("k1-secret"));
    }

    #[test]
    fn signing_with_an_empty_secret_yields_nothing_that_verifies() {
        assert_eq!(sign_player_token(b"", &claims()), "");
        assert_eq!(verify(""), Err(TokenError::Malformed));
        assert_eq!(
            verify_player_token(
                &sign_player_token(SECRET, &claims()),
                &[key("", b"")],
                "gw",
                "campaign-engine",
                NOW
            ),
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
