//! The roll and what follows from it: the draw's inputs, the unbiased
//! HMAC-SHA-256 roll, the slot it lands on, the fallback reasons and the
//! chances left.

use super::*;

/// What a draw's roll depends on, fixed before the outcome can be known.
#[derive(Debug, Clone, Copy)]
pub struct RollInput<'a> {
    pub campaign_id: Uuid,
    pub player_id: &'a str,
    /// The player's n-th draw in this campaign, 1-based.
    pub draw_sequence: i64,
}

impl RollInput<'_> {
    /// Canonical message bytes: "wheel-roll/v1" || campaign uuid (16 bytes)
    /// || u64 BE sequence || u32 BE len(player) || player UTF-8 || u32 BE
    /// counter. Length prefixes make the encoding unambiguous.
    pub(super) fn message(&self, counter: u32) -> Vec<u8> {
        let p = self.player_id.as_bytes();
        let mut m = Vec::with_capacity(13 + 16 + 8 + 4 + p.len() + 4);
        m.extend_from_slice(b"wheel-roll/v1");
        m.extend_from_slice(self.campaign_id.as_bytes());
        m.extend_from_slice(&(self.draw_sequence as u64).to_be_bytes());
        m.extend_from_slice(&(p.len() as u32).to_be_bytes());
        m.extend_from_slice(p);
        m.extend_from_slice(&counter.to_be_bytes());
        m
    }
}

/// An unbiased integer in `[0, total_weight)` derived from the secret and
/// the draw's inputs: take the first 8 bytes of HMAC-SHA-256(secret,
/// message(counter)) as a big-endian u64, reject values at or above the
/// largest multiple of `total_weight` (no modulo bias) and retry with the
/// next counter. Returns 0 when `total_weight` is 0.
pub fn draw_roll(secret: &[u8], input: &RollInput<'_>, total_weight: u64) -> u64 {
    if total_weight == 0 {
        return 0;
    }
    let zone = u64::MAX - (u64::MAX % total_weight);
    let mut counter = 0u32;
    loop {
        // HMAC accepts keys of any length; new_from_slice cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(m) => m,
            Err(_) => return 0,
        };
        mac.update(&input.message(counter));
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        let x = u64::from_be_bytes(first);
        if x < zone {
            return x % total_weight;
        }
        counter = counter.wrapping_add(1);
    }
}

/// The slot a roll lands on: slots laid end to end in index order, each as
/// wide as its weight. `weights` is indexed by slot; the roll must be below
/// their sum.
pub fn slot_for_roll(weights: &[i64], roll: u64) -> Option<usize> {
    let mut acc = 0u64;
    for (i, w) in weights.iter().enumerate() {
        acc += u64::try_from(*w).unwrap_or(0);
        if roll < acc {
            return Some(i);
        }
    }
    None
}

/// Sum of the weights, the roll's range.
pub fn total_weight(weights: &[i64]) -> u64 {
    weights.iter().map(|w| u64::try_from(*w).unwrap_or(0)).sum()
}

/// Why a draw gave the fallback prize instead of the rolled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    None,
    OutOfStock,
    DailyCap,
    UserCap,
}

impl FallbackReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::OutOfStock => "out_of_stock",
            Self::DailyCap => "daily_cap",
            Self::UserCap => "user_cap",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::None, Self::OutOfStock, Self::DailyCap, Self::UserCap]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Chances left after a draw that brought the player's counts to
/// `today` and `total`.
pub fn remaining_chances(
    rules_per_day: i64,
    rules_total: i64,
    today: i64,
    total: i64,
) -> (i64, i64) {
    let left_total = (rules_total - total).max(0);
    let left_today = (rules_per_day - today).max(0).min(left_total);
    (left_today, left_total)
}
