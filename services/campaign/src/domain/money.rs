//! Red-packet money rules: splits and grant amounts, integer cents only, no
//! floating point anywhere.
//!
//! Every random choice comes from the campaign's committed seed (the same
//! commit-reveal scheme as draws, FAIRNESS.md), through [`MoneyRng`]: an
//! HMAC-SHA-256 stream keyed by the seed over a message that names what is
//! being decided. After the reveal an auditor recomputes every split and
//! every grant amount.
//!
//! # Lucky split (fair to every grab position)
//! `parts - 1` distinct cut points are drawn uniformly from `1..=total-1`
//! (Floyd's sampling without replacement), sorted, and the parts are the
//! gaps between `0`, the cuts and `total`. The gaps of uniformly random cut
//! points are exchangeable: every position has the same distribution, so
//! the first grabber and the last expect the same `total / parts`. Every
//! gap is at least 1 cent because the cuts are distinct, and the gaps sum
//! to `total` by construction. The tests check the means per position
//! over 20,000 splits, and that the same check rejects a split that
//! favours early grabbers.
//!
//! # Equal split
//! `total / parts` each; the `total % parts` leftover cents go one each to
//! positions drawn without replacement, so no position is favoured.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::InvalidField;

/// Most parts in one group packet.
pub const MAX_PARTS: u32 = 10_000;
/// Largest group packet or campaign-packet grant, in cents (1,000,000.00).
pub const MAX_PACKET_CENTS: i64 = 100_000_000;
/// Largest budget top-up, in cents.
pub const MAX_FUNDING_CENTS: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitMode {
    Lucky,
    Equal,
}

impl SplitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lucky => "lucky",
            Self::Equal => "equal",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "lucky" => Some(Self::Lucky),
            "equal" => Some(Self::Equal),
            _ => None,
        }
    }
    fn tag(self) -> u8 {
        match self {
            Self::Lucky => 1,
            Self::Equal => 2,
        }
    }
}

/// A red packet's state as shown at an instant (the store decides it in
/// SQL, `packet_state_sql!`, so a list filters on what its rows show).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketState {
    /// Grabs are taken.
    Open,
    /// Nothing left to grab: every part of a group packet taken, or a
    /// campaign packet's budget has nothing available.
    Exhausted,
    /// Past its expiry: grabs are refused (its rest goes back to the
    /// budget when the sweep runs).
    Expired,
}

impl PacketState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Exhausted => "exhausted",
            Self::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "exhausted" => Some(Self::Exhausted),
            "expired" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A deterministic stream of unbiased integers: block `i` is
/// HMAC-SHA-256(seed, message || i as u64 big-endian); each block gives four
/// big-endian u64 words, used in order.
pub struct MoneyRng {
    mac: Hmac<Sha256>,
    block: u64,
    words: [u64; 4],
    next: usize,
}

impl MoneyRng {
    pub fn new(seed: &[u8], message: &[u8]) -> Self {
        // HMAC takes keys of any length; the error case cannot happen, and
        // an empty key would still give a well-defined stream.
        let mut mac = Hmac::<Sha256>::new_from_slice(seed)
            .or_else(|_| Hmac::<Sha256>::new_from_slice(&[]))
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(message);
        Self {
            mac,
            block: 0,
            words: [0; 4],
            next: 4,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.next == 4 {
            let mut m = self.mac.clone();
            m.update(&self.block.to_be_bytes());
            let out = m.finalize().into_bytes();
            for (i, w) in self.words.iter_mut().enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(&out[i * 8..i * 8 + 8]);
                *w = u64::from_be_bytes(b);
            }
            self.block += 1;
            self.next = 0;
        }
        let w = self.words[self.next];
        self.next += 1;
        w
    }

    /// Uniform in `[0, n)`: words at or above the largest multiple of `n`
    /// are rejected (no modulo bias). `n == 0` gives 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

/// The message that keys a group packet's split.
pub fn split_message(
    campaign_id: &[u8; 16],
    packet_seq: u64,
    total: i64,
    parts: u32,
    mode: SplitMode,
) -> Vec<u8> {
    let mut m = b"redpacket-split/v1".to_vec();
    m.extend_from_slice(campaign_id);
    m.extend_from_slice(&packet_seq.to_be_bytes());
    m.extend_from_slice(&total.to_be_bytes());
    m.extend_from_slice(&parts.to_be_bytes());
    m.push(mode.tag());
    m
}

/// The message that keys one player's grant from a campaign packet.
pub fn grant_message(campaign_id: &[u8; 16], packet_seq: u64, pseudonym: &[u8]) -> Vec<u8> {
    let mut m = b"redpacket-grant/v1".to_vec();
    m.extend_from_slice(campaign_id);
    m.extend_from_slice(&packet_seq.to_be_bytes());
    m.extend_from_slice(&(pseudonym.len() as u32).to_be_bytes());
    m.extend_from_slice(pseudonym);
    m
}

/// Checks a group packet's amounts: `1 <= parts <= MAX_PARTS`,
/// `parts <= total <= MAX_PACKET_CENTS` (at least a cent per part).
pub fn check_group(total: i64, parts: i64) -> Result<(i64, u32), InvalidField> {
    if !(1..=i64::from(MAX_PARTS)).contains(&parts) {
        return Err(InvalidField::new(
            "parts",
            format!("must be 1..={MAX_PARTS}"),
        ));
    }
    if !(1..=MAX_PACKET_CENTS).contains(&total) {
        return Err(InvalidField::new(
            "total_cents",
            format!("must be 1..={MAX_PACKET_CENTS} cents"),
        ));
    }
    if total < parts {
        return Err(InvalidField::new(
            "total_cents",
            format!("{total} cents cannot give {parts} parts at least 1 cent each"),
        ));
    }
    Ok((total, parts as u32))
}

/// Checks a campaign packet's grant range: `1 <= min <= max <=
/// MAX_PACKET_CENTS`.
pub fn check_range(min: i64, max: i64) -> Result<(i64, i64), InvalidField> {
    if !(1..=MAX_PACKET_CENTS).contains(&min) {
        return Err(InvalidField::new(
            "min_cents",
            format!("must be 1..={MAX_PACKET_CENTS} cents"),
        ));
    }
    if !(min..=MAX_PACKET_CENTS).contains(&max) {
        return Err(InvalidField::new(
            "max_cents",
            format!("must be min_cents..={MAX_PACKET_CENTS} cents"),
        ));
    }
    Ok((min, max))
}

/// `count` distinct values from `1..=range`, uniformly (Floyd), sorted.
fn distinct_sorted(rng: &mut MoneyRng, range: u64, count: u64) -> Vec<u64> {
    let mut chosen = std::collections::BTreeSet::new();
    for j in (range - count + 1)..=range {
        let t = 1 + rng.below(j);
        if !chosen.insert(t) {
            chosen.insert(j);
        }
    }
    chosen.into_iter().collect()
}

/// The parts of a group packet, in grab order. `total` and `parts` must
/// have passed [`check_group`].
pub fn split(total: i64, parts: u32, mode: SplitMode, rng: &mut MoneyRng) -> Vec<i64> {
    let (total_u, n) = (total.max(0) as u64, u64::from(parts.max(1)));
    match mode {
        SplitMode::Lucky => {
            let cuts = distinct_sorted(rng, total_u.saturating_sub(1), n - 1);
            let mut out = Vec::with_capacity(parts as usize);
            let mut last = 0u64;
            for c in cuts.into_iter().chain(std::iter::once(total_u)) {
                out.push((c - last) as i64);
                last = c;
            }
            out
        }
        SplitMode::Equal => {
            let base = (total_u / n) as i64;
            let extra = total_u % n;
            let mut out = vec![base; n as usize];
            for p in distinct_sorted(rng, n, extra) {
                out[(p - 1) as usize] += 1;
            }
            out
        }
    }
}

/// A campaign packet's grant: uniform in `[min, max]`.
pub fn grant_amount(min: i64, max: i64, rng: &mut MoneyRng) -> i64 {
    let span = (max - min).max(0) as u64 + 1;
    min + rng.below(span) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rng(i: u64) -> MoneyRng {
        MoneyRng::new(
            &[7u8; 32],
            &split_message(&[1; 16], i, 0, 0, SplitMode::Lucky),
        )
    }

    #[test]
    fn packet_states_round_trip() {
        for s in [
            PacketState::Open,
            PacketState::Exhausted,
            PacketState::Expired,
        ] {
            assert_eq!(PacketState::parse(s.as_str()), Some(s));
        }
        assert_eq!(PacketState::parse("gone"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn lucky_split_sums_exactly_and_every_part_has_a_cent(
            total in 1i64..=MAX_PACKET_CENTS,
            parts in 1u32..=MAX_PARTS,
            seed in any::<u64>(),
        ) {
            let parts = parts.min(total as u32);
            for mode in [SplitMode::Lucky, SplitMode::Equal] {
                let p = split(total, parts, mode, &mut rng(seed));
                prop_assert_eq!(p.len(), parts as usize);
                prop_assert_eq!(p.iter().sum::<i64>(), total);
                prop_assert!(p.iter().all(|&x| x >= 1));
                if mode == SplitMode::Equal {
                    let lo = total / i64::from(parts);
                    prop_assert!(p.iter().all(|&x| x == lo || x == lo + 1));
                }
            }
        }

        #[test]
        fn grants_stay_in_range(min in 1i64..1000, span in 0i64..1000, seed in any::<u64>()) {
            let a = grant_amount(min, min + span, &mut rng(seed));
            prop_assert!((min..=min + span).contains(&a));
        }
    }

    #[test]
    fn edge_splits() {
        assert_eq!(split(1, 1, SplitMode::Lucky, &mut rng(0)), vec![1]);
        assert_eq!(split(5, 5, SplitMode::Lucky, &mut rng(0)), vec![1; 5]);
        assert_eq!(split(5, 5, SplitMode::Equal, &mut rng(0)), vec![1; 5]);
        assert_eq!(split(100, 1, SplitMode::Lucky, &mut rng(0)), vec![100]);
        let e = split(10, 3, SplitMode::Equal, &mut rng(0));
        assert_eq!(e.iter().sum::<i64>(), 10);
        assert_eq!(e.iter().filter(|&&x| x == 4).count(), 1);
        // Deterministic: the same seed and message give the same split.
        assert_eq!(
            split(10_000, 37, SplitMode::Lucky, &mut rng(9)),
            split(10_000, 37, SplitMode::Lucky, &mut rng(9))
        );
        assert_ne!(
            split(10_000, 37, SplitMode::Lucky, &mut rng(9)),
            split(10_000, 37, SplitMode::Lucky, &mut rng(10))
        );
    }

    #[test]
    fn bad_amounts_name_their_field() {
        assert_eq!(check_group(100, 0).expect_err("0 parts").field, "parts");
        assert_eq!(
            check_group(100, i64::from(MAX_PARTS) + 1)
                .expect_err("too many")
                .field,
            "parts"
        );
        assert_eq!(check_group(0, 1).expect_err("zero").field, "total_cents");
        assert_eq!(
            check_group(-5, 1).expect_err("negative").field,
            "total_cents"
        );
        assert_eq!(
            check_group(9, 10).expect_err("N > cents").field,
            "total_cents"
        );
        assert_eq!(
            check_group(MAX_PACKET_CENTS + 1, 1).expect_err("big").field,
            "total_cents"
        );
        assert_eq!(check_group(10, 10), Ok((10, 10)));
        assert_eq!(check_range(0, 5).expect_err("min 0").field, "min_cents");
        assert_eq!(check_range(6, 5).expect_err("max < min").field, "max_cents");
        assert_eq!(
            check_range(1, i64::MAX).expect_err("max").field,
            "max_cents"
        );
        assert_eq!(check_range(5, 5), Ok((5, 5)));
    }

    /// Mean amount per grab position over `runs` splits, and the standard
    /// error of each mean.
    fn position_means(runs: u64, f: impl Fn(u64) -> Vec<i64>) -> Vec<(f64, f64)> {
        let first = f(0);
        let n = first.len();
        let (mut sum, mut sq) = (vec![0f64; n], vec![0f64; n]);
        for r in 0..runs {
            for (i, x) in f(r).into_iter().enumerate() {
                sum[i] += x as f64;
                sq[i] += (x as f64) * (x as f64);
            }
        }
        (0..n)
            .map(|i| {
                let mean = sum[i] / runs as f64;
                let var = sq[i] / runs as f64 - mean * mean;
                (mean, (var / runs as f64).sqrt())
            })
            .collect()
    }

    /// Every position's mean is within 5 standard errors of total / n (the
    /// statistics are only in the test; money never touches a float).
    fn is_position_fair(means: &[(f64, f64)], expected: f64) -> bool {
        means
            .iter()
            .all(|(m, se)| (m - expected).abs() <= 5.0 * se.max(1e-9))
    }

    /// A naive rule: each grab takes uniform [1, what is left minus a cent
    /// for each later grabber]. Early grabbers are favoured; it is the
    /// negative control that shows the test below can tell.
    fn naive(total: i64, parts: u32, rng: &mut MoneyRng) -> Vec<i64> {
        let (mut left, mut n) = (total, i64::from(parts));
        let mut out = Vec::new();
        while n > 1 {
            let x = 1 + rng.below((left - (n - 1)) as u64) as i64;
            out.push(x);
            left -= x;
            n -= 1;
        }
        out.push(left);
        out
    }

    #[test]
    fn lucky_split_is_fair_to_every_grab_position() {
        let (total, parts, runs) = (1000i64, 10u32, 20_000u64);
        let lucky = position_means(runs, |r| split(total, parts, SplitMode::Lucky, &mut rng(r)));
        assert!(
            is_position_fair(&lucky, 100.0),
            "lucky split favours a position: {lucky:?}"
        );
        let equal = position_means(runs, |r| split(1003, parts, SplitMode::Equal, &mut rng(r)));
        assert!(is_position_fair(&equal, 100.3), "equal split: {equal:?}");
        // The same test rejects a split that favours early grabbers.
        let unfair = position_means(runs, |r| naive(total, parts, &mut rng(r)));
        assert!(
            !is_position_fair(&unfair, 100.0),
            "the fairness test cannot tell an unfair split: {unfair:?}"
        );
    }

    #[test]
    fn below_is_unbiased_at_small_ranges() {
        let mut r = rng(1);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[r.below(3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..=10_500).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }
}
