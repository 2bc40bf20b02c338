//! The one paging convention of every list RPC (AIP-158): `page_size`
//! (0 = the list's default; above its maximum, the maximum), an opaque
//! `page_token` from the previous answer, and `next_page_token` (empty on
//! the last page).
//!
//! Pages are keyset pages: a token carries the sort key of the last row
//! it gave (the cursor), and the next page starts strictly after it, so
//! rows added while a client pages never shift a row it has not seen yet
//! into a page it already read, and every row that existed when paging
//! began is seen exactly once.
//!
//! A token is bound to its list and to the request it continues (the
//! merchant and every filter: the `scope`), and carries a MAC under a key
//! derived from the seal key, so a token edited by hand, made up, or taken
//! from another list, merchant or filter is refused (`page_token`,
//! INVALID_ARGUMENT) instead of starting somewhere unexpected. Tokens stay
//! valid across restarts and replicas sharing the seal key; they do not
//! expire (a token only says where to continue, never what may be read).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};
use sha2::Sha256;

use super::InvalidField;

/// The token format's version, its first byte.
const VERSION: u8 = 1;
/// Bytes of the MAC a token carries (128 bits).
const MAC_LEN: usize = 16;
/// The longest token accepted, in characters: no cursor comes close.
const MAX_TOKEN_CHARS: usize = 1024;

/// A list's page sizes.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    /// Rows a page has when the request asks for none (`page_size` 0).
    pub default: u32,
    /// The most rows a page has; a larger `page_size` is lowered to it.
    pub max: u32,
}

impl PageLimits {
    /// The rows to read for `page_size`: negative is INVALID_ARGUMENT, 0 is
    /// the default, above the maximum is the maximum.
    pub fn size(&self, page_size: i32) -> Result<u32, InvalidField> {
        match u32::try_from(page_size) {
            Err(_) => Err(InvalidField::new("page_size", "must not be negative")),
            Ok(0) => Ok(self.default),
            Ok(n) => Ok(n.min(self.max)),
        }
    }
}

/// Seals and opens the page tokens of one list.
#[derive(Clone)]
pub struct PageTokens {
    key: [u8; 32],
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens(..)")
    }
}

impl PageTokens {
    /// Tokens under `key` (`SealKey::derive(b"page-token v1")`).
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self, list: &str, scope: &str, body: &[u8]) -> [u8; MAC_LEN] {
        let mut out = [0u8; MAC_LEN];
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            // Lengths first, so no two (list, scope, body) frame alike.
            for part in [list.as_bytes(), scope.as_bytes(), body] {
                mac.update(&(part.len() as u64).to_be_bytes());
                mac.update(part);
            }
            out.copy_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
        }
        out
    }

    /// The token that continues `list` for the request `scope` after the
    /// row whose sort key is `cursor`.
    pub fn seal<C: Serialize>(&self, list: &str, scope: &str, cursor: &C) -> String {
        let body = serde_json::to_vec(cursor).unwrap_or_default();
        let mut raw = Vec::with_capacity(1 + body.len() + MAC_LEN);
        raw.push(VERSION);
        raw.extend_from_slice(&body);
        raw.extend_from_slice(&self.mac(list, scope, &body));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The cursor in `token`, or None for the first page (an empty token).
    /// A token not sealed here for this `list` and `scope` is refused.
    pub fn open<C: DeserializeOwned>(
        &self,
        list: &str,
        scope: &str,
        token: &str,
    ) -> Result<Option<C>, InvalidField> {
        if token.is_empty() {
            return Ok(None);
        }
        let refused = || {
            InvalidField::new(
                "page_token",
                "not a page token of this list for this request: pass back \
                 next_page_token unchanged, with the same filters",
            )
        };
        if token.len() > MAX_TOKEN_CHARS {
            return Err(refused());
        }
        let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        if raw.len() < 1 + MAC_LEN || raw[0] != VERSION {
            return Err(refused());
        }
        let (body, mac) = raw[1..].split_at(raw.len() - 1 - MAC_LEN);
        let expected = self.mac(list, scope, body);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], mac)) {
            return Err(refused());
        }
        serde_json::from_slice(body)
            .map(Some)
            .map_err(|_| refused())
    }
}

/// One page of rows read with one row more than asked for: the rows to
/// answer, and whether another page follows.
pub fn split_page<T>(mut rows: Vec<T>, size: u32) -> (Vec<T>, bool) {
    let size = size as usize;
    let more = rows.len() > size;
    rows.truncate(size);
    (rows, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> PageTokens {
        PageTokens::new([7; 32])
    }

    #[test]
    fn a_token_round_trips_for_its_list_and_scope_only() {
        let t = tokens();
        let token = t.seal("campaigns", "m1|draft", &(42i64, "abc"));
        let back: Option<(i64, String)> = t.open("campaigns", "m1|draft", &token).expect("ok");
        assert_eq!(back, Some((42, "abc".to_owned())));
        for (list, scope) in [
            ("campaigns", "m2|draft"),
            ("winners", "m1|draft"),
            ("campaigns", "m1|"),
        ] {
            let e = t
                .open::<(i64, String)>(list, scope, &token)
                .expect_err("refused");
            assert_eq!(e.field, "page_token");
        }
        let other = PageTokens::new([8; 32]);
        assert!(
            other
                .open::<(i64, String)>("campaigns", "m1|draft", &token)
                .is_err()
        );
    }

    #[test]
    fn any_edited_byte_is_refused() {
        let t = tokens();
        let token = t.seal("l", "s", &(1i64, "x"));
        let raw = URL_SAFE_NO_PAD.decode(&token).expect("ok");
        for i in 0..raw.len() {
            for bit in [1u8, 0x80] {
                let mut bad = raw.clone();
                bad[i] ^= bit;
                let bad = URL_SAFE_NO_PAD.encode(bad);
                assert!(t.open::<(i64, String)>("l", "s", &bad).is_err(), "byte {i}");
            }
        }
        for junk in ["x", "!!!", "AAAA", &"A".repeat(2000)] {
            assert!(t.open::<(i64, String)>("l", "s", junk).is_err(), "{junk}");
        }
        assert_eq!(t.open::<(i64, String)>("l", "s", "").expect("ok"), None);
    }

    #[test]
    fn sizes_follow_aip_158() {
        let limits = PageLimits {
            default: 50,
            max: 500,
        };
        assert_eq!(limits.size(0).expect("ok"), 50);
        assert_eq!(limits.size(1).expect("ok"), 1);
        assert_eq!(limits.size(500).expect("ok"), 500);
        assert_eq!(limits.size(501).expect("ok"), 500);
        assert_eq!(limits.size(i32::MAX).expect("ok"), 500);
        assert_eq!(limits.size(-1).expect_err("refused").field, "page_size");
    }

    #[test]
    fn a_page_knows_whether_more_follow() {
        assert_eq!(split_page(vec![1, 2, 3], 2), (vec![1, 2], true));
        assert_eq!(split_page(vec![1, 2], 2), (vec![1, 2], false));
        assert_eq!(split_page(Vec::<i32>::new(), 2), (vec![], false));
    }
}
