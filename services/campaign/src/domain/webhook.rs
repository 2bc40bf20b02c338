//! Webhooks (issue 25, docs/events.md): the rules, no I/O. An endpoint's
//! URL and secret, the signature a receiver checks, the body it gets, the
//! retry schedule, and which addresses the engine refuses to call (SSRF).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::{InvalidField, Millis};

/// A secret the engine makes: `whsec_` and 32 random bytes, base64url.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest secret an admin may choose (characters).
pub const MIN_SECRET_LEN: usize = 24;
pub const MAX_SECRET_LEN: usize = 256;
pub const MAX_URL_LEN: usize = 2048;
/// Endpoints a merchant may register.
pub const MAX_ENDPOINTS: i64 = 16;
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "campaign-signature";
/// The first retry waits this long; each next one twice as long, up to
/// [`BACKOFF_CAP_MS`], with jitter.
pub const BACKOFF_BASE_MS: Millis = 10_000;
pub const BACKOFF_CAP_MS: Millis = 3_600_000;

/// A new secret from 32 random bytes.
pub fn new_secret(random: &[u8; 32]) -> String {
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    )
}

/// An admin's own secret: printable ASCII, no spaces, 24..=256 long.
pub fn check_secret(s: &str) -> Result<(), InvalidField> {
    if s.len() < MIN_SECRET_LEN || s.len() > MAX_SECRET_LEN {
        return Err(InvalidField::new(
            "secret",
            format!(
                "must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters (leave it empty to have \
                 one made)"
            ),
        ));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(InvalidField::new(
            "secret",
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the
/// value of the `Campaign-Signature` header (Stripe's scheme).
pub fn signature(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    format!(
        "t={unix_secs},v1={}",
        hex::encode(mac(secret, unix_secs, body))
    )
}

fn keyed(secret: &str, unix_secs: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC takes a key of any length: this never fails.
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    m.update(unix_secs.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

fn mac(secret: &str, unix_secs: i64, body: &[u8]) -> Vec<u8> {
    keyed(secret, unix_secs, body)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// What a receiver does: whether `header` signs `body` with `secret`, at
/// most `tolerance_secs` from `now_secs` (any `v1` may match: during a
/// secret's rotation there are two). Compared in constant time.
pub fn verify(secret: &str, header: &str, body: &[u8], now_secs: i64, tolerance_secs: i64) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now_secs.abs_diff(t) > tolerance_secs.unsigned_abs() {
        return false;
    }
    sigs.iter()
        .any(|s| keyed(secret, t, body).is_some_and(|m| m.verify_slice(s).is_ok()))
}

/// An event as a webhook body: the envelope of docs/events.md, with the
/// payload as `data`.
pub struct Envelope<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub merchant_id: &'a str,
    pub campaign_id: &'a str,
    pub position: i64,
    pub seq: i64,
    pub occurred_at: Millis,
    pub pseudonym: &'a str,
    pub openid: &'a str,
    /// The payload's JSON text.
    pub payload: &'a str,
}

impl Envelope<'_> {
    /// The JSON body (keys in a fixed order).
    pub fn body(&self) -> Vec<u8> {
        let data: Value = serde_json::from_str(self.payload).unwrap_or_else(|_| json!({}));
        let v = json!({
            "id": self.event_id,
            "type": self.event_type,
            "merchant_id": self.merchant_id,
            "campaign_id": self.campaign_id,
            "position": self.position,
            "seq": self.seq,
            "occurred_at_ms": self.occurred_at,
            "player": {"pseudonym": self.pseudonym, "openid": self.openid},
            "data": data,
        });
        serde_json::to_vec(&v).unwrap_or_default()
    }
}

/// The delay before the next attempt after `attempts` failed ones (1 or
/// more): 10 s doubling to `cap_ms` (1 h by default), the second half
/// drawn at random (`jitter` in 0.0..1.0), so a receiver that comes back
/// is not hit by every endpoint's retries at once.
pub fn backoff_ms(attempts: i64, jitter: f64, cap_ms: Millis) -> Millis {
    let shift = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let full = BACKOFF_BASE_MS
        .saturating_mul(1_i64 << shift)
        .min(cap_ms.max(1));
    let half = full / 2;
    half + (half as f64 * jitter.clamp(0.0, 1.0)) as Millis
}

/// What an answer means for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
    /// Anything else (3xx included: redirects are never followed).
    Retry,
}

pub fn answer_of(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        _ => Answer::Retry,
    }
}

/// A URL an endpoint may have: `http` or `https`, a host, no user info,
/// at most 2048 characters. Where it points is checked when it is called
/// (the name may resolve elsewhere later): [`address_allowed`].
pub fn check_url(url: &str) -> Result<(), InvalidField> {
    let bad = |why: &str| InvalidField::new("url", why.to_owned());
    if url.len() > MAX_URL_LEN {
        return Err(bad("is longer than 2048 characters"));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains('@') {
        return Err(bad("must not carry a user name or password"));
    }
    if url.contains('#') {
        return Err(bad("must not have a fragment"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain spaces or control characters"));
    }
    Ok(())
}

/// Whether the engine may call `ip`: never loopback, private, link-local,
/// shared (CGNAT), unspecified, multicast, broadcast or documentation
/// ranges, nor their IPv4-mapped IPv6 forms, unless `allow_private` (a
/// setting for tests and on-premises receivers).
pub fn address_allowed(ip: IpAddr, allow_private: bool) -> bool {
    allow_private || is_public(ip)
}

fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => public_v4(v4),
            None => public_v6(v6),
        },
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10, shared address space (carrier-grade NAT)
        || (o[0] == 100 && (o[1] & 0xC0) == 64)
        // 192.0.0.0/24, protocol assignments; 198.18.0.0/15, benchmarking
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xFE) == 18)
        // 240.0.0.0/4, reserved
        || o[0] >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link-local
        || (s[0] & 0xFE00) == 0xFC00
        || (s[0] & 0xFFC0) == 0xFE80
        // 2001:db8::/32 documentation; 64:ff9b::/96 NAT64 (could reach a
        // private IPv4 through a translator)
        || (s[0] == 0x2001 && s[1] == 0x0DB8)
        || (s[0] == 0x0064 && s[1] == 0xFF9B))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_byte_does_not() {
        let secret = "whsec_test_secret_0123456789";
        let body = br#"{"id":"e1"}"#;
        let h = signature(secret, 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert!(verify(secret, &h, body, 1_700_000_100, 300));
        assert!(!verify(secret, &h, br#"{"id":"e2"}"#, 1_700_000_100, 300));
        assert!(!verify(
            "whsec_other_secret_0123456789",
            &h,
            body,
            1_700_000_100,
            300
        ));
        assert!(!verify(secret, &h, body, 1_700_000_301, 300), "too old");
        assert!(!verify(secret, "v1=00", body, 1_700_000_000, 300), "no t");
        // Rotation: two v1 values, either may match.
        let two = format!("{h},v1={}", "ab".repeat(32));
        assert!(verify(secret, &two, body, 1_700_000_000, 300));
    }

    #[test]
    fn known_answer_for_the_documented_snippets() {
        // docs/events.md's Python and Node snippets are tested against
        // this vector too (tests/webhook_docs.rs).
        assert_eq!(
            signature("whsec_docs_example_secret_000", 1_700_000_000, b"{}"),
            format!(
                "t=1700000000,v1={}",
                hex::encode(mac("whsec_docs_example_secret_000", 1_700_000_000, b"{}"))
            )
        );
    }

    #[test]
    fn secrets_are_made_long_and_checked() {
        let s = new_secret(&[7u8; 32]);
        assert!(s.starts_with(SECRET_PREFIX) && s.len() == 6 + 43, "{s}");
        assert!(check_secret(&s).is_ok());
        assert_eq!(check_secret("short").map_err(|e| e.field), Err("secret"));
        assert!(check_secret(&"x".repeat(257)).is_err());
        assert!(check_secret("with a space in it 0123456789").is_err());
        assert!(check_secret("中文中文中文中文中文中文中文中文").is_err());
    }

    #[test]
    fn backoff_doubles_to_an_hour_with_jitter_in_its_second_half() {
        let cap = BACKOFF_CAP_MS;
        assert_eq!(backoff_ms(1, 0.0, cap), 5_000);
        assert_eq!(backoff_ms(1, 1.0, cap), 10_000);
        assert_eq!(backoff_ms(2, 0.0, cap), 10_000);
        assert_eq!(backoff_ms(4, 0.5, cap), 60_000);
        assert_eq!(backoff_ms(30, 1.0, cap), 3_600_000);
        assert_eq!(backoff_ms(30, 0.0, cap), 1_800_000);
        assert_eq!(backoff_ms(0, 0.0, cap), 5_000);
        assert_eq!(backoff_ms(i64::MAX, 2.0, cap), 3_600_000);
        // A lower cap (the fault suite's 2 s) holds from the first retry.
        assert_eq!(backoff_ms(1, 1.0, 2_000), 2_000);
        assert_eq!(backoff_ms(9, 0.0, 2_000), 1_000);
    }

    #[test]
    fn answers_end_retry_or_disable() {
        assert_eq!(answer_of(200), Answer::Delivered);
        assert_eq!(answer_of(204), Answer::Delivered);
        assert_eq!(answer_of(410), Answer::Gone);
        for s in [301, 302, 400, 404, 429, 500, 503] {
            assert_eq!(answer_of(s), Answer::Retry, "{s}");
        }
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        for ok in [
            "https://crm.example.com/hooks/campaign",
            "http://10.0.0.5:8080/x?y=1",
            "https://[2001:4860::1]/hook",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://example.com/",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "https://exa mple.com/",
            "javascript:alert(1)",
            "file:///etc/passwd",
        ] {
            assert_eq!(check_url(bad).map_err(|e| e.field), Err("url"), "{bad}");
        }
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2048))).is_err());
    }

    #[test]
    fn private_and_special_addresses_are_refused_unless_allowed() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = bad.parse().expect("ip");
            assert!(!address_allowed(ip, false), "{bad}");
            assert!(address_allowed(ip, true), "{bad} allowed by the setting");
        }
        for good in ["8.8.8.8", "114.114.114.114", "2400:3200::1"] {
            assert!(address_allowed(good.parse().expect("ip"), false), "{good}");
        }
    }

    #[test]
    fn the_body_is_the_documented_envelope() {
        let e = Envelope {
            event_id: "e",
            event_type: "vote.cast.v1",
            merchant_id: "m",
            campaign_id: "c",
            position: 3,
            seq: 2,
            occurred_at: 9,
            pseudonym: "p",
            openid: "o",
            payload: r#"{"vote_id":"v"}"#,
        };
        let v: Value = serde_json::from_slice(&e.body()).expect("json");
        assert_eq!(v["data"]["vote_id"], "v");
        assert_eq!(v["player"]["openid"], "o");
        assert_eq!(
            (v["position"].as_i64(), v["seq"].as_i64()),
            (Some(3), Some(2))
        );
    }
}
