//! Coupon codes: 12 random Crockford base32 characters and one check
//! character, typed at a till as `XXXX-XXXX-XXXX-C`.
//!
//! 12 × 5 = 60 random bits: with a million live codes, a guesser at 10^4
//! tries a second needs years for a first hit (RELIABILITY.md 5.4), before
//! the per-till lock-out. The random part comes from the OS CSPRNG (the
//! caller passes its bytes in, so this module stays pure); codes are never
//! sequential and never derived from ids.
//!
//! # The check character
//! Each symbol is an element of GF(32) (polynomial basis, modulus
//! x^5 + x^2 + 1). For a code c_0 .. c_12 (c_12 the check) the weighted sum
//! Σ c_j · α^(12-j) must be 0, with α = x. So c_12 = Σ_{j<12} c_j · α^(12-j).
//! - A single substituted character changes the sum by d · α^k with d ≠ 0:
//!   a product of non-zero field elements is non-zero, so it is caught.
//! - Swapping adjacent characters a, b changes it by
//!   (a + b) · α^k · (1 + α), non-zero whenever a ≠ b, so it is caught.
//!
//! Unlike Crockford's mod-37 check, the check character is from the same 32
//! typable symbols (no `*~$=U`).

use std::fmt;

/// Crockford base32: no I, L, O, U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const RANDOM_LEN: usize = 12;
pub const CODE_LEN: usize = RANDOM_LEN + 1;

/// A well-formed code with a matching check character, normalised (upper
/// case, no separators).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CouponCode(String);

/// Why typed input is not a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeError {
    /// Wrong length or a character outside the alphabet.
    Malformed,
    /// Well-formed, but the check character does not match: mistyped.
    Mistyped,
}

impl CouponCode {
    /// A new code from 12 random bytes (each byte's low 5 bits are used;
    /// 256 is a multiple of 32, so each symbol is uniform).
    pub fn from_random(bytes: [u8; RANDOM_LEN]) -> Self {
        let mut values = [0u8; CODE_LEN];
        for (v, b) in values.iter_mut().zip(bytes) {
            *v = b & 31;
        }
        values[RANDOM_LEN] = check_value(&values[..RANDOM_LEN]);
        Self(
            values
                .iter()
                .map(|&v| ALPHABET[v as usize] as char)
                .collect(),
        )
    }

    /// Normalises what a cashier typed or a scanner read: case folded,
    /// spaces and dashes dropped, I/L read as 1 and O as 0.
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let mut values = Vec::with_capacity(CODE_LEN);
        for ch in input.chars() {
            if ch == '-' || ch == ' ' {
                continue;
            }
            if values.len() == CODE_LEN {
                return Err(CodeError::Malformed);
            }
            values.push(symbol_value(ch).ok_or(CodeError::Malformed)?);
        }
        if values.len() != CODE_LEN {
            return Err(CodeError::Malformed);
        }
        if weighted_sum(&values) != 0 {
            return Err(CodeError::Mistyped);
        }
        Ok(Self(
            values
                .iter()
                .map(|&v| ALPHABET[v as usize] as char)
                .collect(),
        ))
    }

    /// The normalised form: what is stored and looked up.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `XXXX-XXXX-XXXX-C`, for print and for the owner's screen.
    pub fn display(&self) -> String {
        let s = &self.0;
        format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..])
    }

    /// The last four characters, for receipts and logs (never the whole
    /// code).
    pub fn tail(&self) -> &str {
        &self.0[CODE_LEN - 4..]
    }
}

impl fmt::Debug for CouponCode {
    // Codes are bearer secrets: debug output shows the tail only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CouponCode(…{})", self.tail())
    }
}

/// The tail of a stored normalised code, for receipts.
pub fn tail_of(normalised: &str) -> &str {
    normalised
        .get(normalised.len().saturating_sub(4)..)
        .unwrap_or("")
}

fn symbol_value(ch: char) -> Option<u8> {
    let up = match ch.to_ascii_uppercase() {
        'I' | 'L' => '1',
        'O' => '0',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == up)
        .map(|p| p as u8)
}

/// Multiplication in GF(32) with modulus x^5 + x^2 + 1.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0b10_0000 != 0 {
            a ^= 0b10_0101;
        }
    }
    product
}

/// Σ v_j · α^(n-1-j) over all symbols (the last has weight 1).
fn weighted_sum(values: &[u8]) -> u8 {
    // Horner: ((v_0·α + v_1)·α + ...)·α + v_{n-1}.
    values.iter().fold(0u8, |acc, &v| gf_mul(acc, 2) ^ v)
}

/// The check value that makes the weighted sum of `data ++ [check]` zero.
fn check_value(data: &[u8]) -> u8 {
    gf_mul(weighted_sum(data), 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<CouponCode> {
        // Deterministic pseudo-random samples (a simple LCG) plus edge cases.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut out = vec![
            CouponCode::from_random([0; 12]),
            CouponCode::from_random([31; 12]),
        ];
        for _ in 0..500 {
            let mut b = [0u8; 12];
            for x in &mut b {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                *x = (state >> 33) as u8;
            }
            out.push(CouponCode::from_random(b));
        }
        out
    }

    #[test]
    fn generated_codes_parse_back_in_every_form() {
        for c in samples() {
            assert_eq!(c.as_str().len(), CODE_LEN);
            assert_eq!(CouponCode::parse(c.as_str()), Ok(c.clone()));
            assert_eq!(CouponCode::parse(&c.display()), Ok(c.clone()));
            assert_eq!(
                CouponCode::parse(&c.display().to_lowercase().replace('-', " ")),
                Ok(c.clone())
            );
        }
    }

    #[test]
    fn look_alikes_are_read_as_digits() {
        let c = CouponCode::from_random([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
        let typed: String = c
            .as_str()
            .chars()
            .enumerate()
            .map(|(i, ch)| match (ch, i % 3) {
                ('1', 0) => 'I',
                ('1', 1) => 'l',
                ('0', _) => 'o',
                (c, _) => c,
            })
            .collect();
        assert_eq!(CouponCode::parse(&typed), Ok(c));
    }

    #[test]
    fn every_single_substitution_is_caught() {
        for c in samples() {
            let s = c.as_str().as_bytes();
            for pos in 0..CODE_LEN {
                for &sym in ALPHABET {
                    if sym == s[pos] {
                        continue;
                    }
                    let mut typo = s.to_vec();
                    typo[pos] = sym;
                    let typo = String::from_utf8(typo).expect("ascii");
                    assert_eq!(
                        CouponCode::parse(&typo),
                        Err(CodeError::Mistyped),
                        "{typo} (from {}) passed",
                        c.as_str()
                    );
                }
            }
        }
    }

    #[test]
    fn every_adjacent_swap_is_caught() {
        let mut swaps = 0;
        for c in samples() {
            let s = c.as_str().as_bytes();
            for pos in 0..CODE_LEN - 1 {
                if s[pos] == s[pos + 1] {
                    continue;
                }
                let mut typo = s.to_vec();
                typo.swap(pos, pos + 1);
                let typo = String::from_utf8(typo).expect("ascii");
                assert_eq!(CouponCode::parse(&typo), Err(CodeError::Mistyped));
                swaps += 1;
            }
        }
        assert!(swaps > 5000, "too few swaps exercised: {swaps}");
    }

    #[test]
    fn every_symbol_pair_swap_is_caught_at_every_position() {
        // Exhaustive over the alphabet: any two distinct symbols a, b at any
        // adjacent positions k, k+1 of an otherwise fixed code.
        let base = CouponCode::from_random([7; 12]);
        for pos in 0..CODE_LEN - 1 {
            for a in 0..32u8 {
                for b in 0..32u8 {
                    if a == b {
                        continue;
                    }
                    let mut v: Vec<u8> = base
                        .as_str()
                        .chars()
                        .map(|ch| symbol_value(ch).expect("valid"))
                        .collect();
                    v[pos] = a;
                    v[pos + 1] = b;
                    let before = weighted_sum(&v);
                    v.swap(pos, pos + 1);
                    assert_ne!(before, weighted_sum(&v), "pos {pos} a {a} b {b}");
                }
            }
        }
    }

    #[test]
    fn malformed_input_is_told_apart() {
        assert_eq!(CouponCode::parse(""), Err(CodeError::Malformed));
        assert_eq!(CouponCode::parse("ABC"), Err(CodeError::Malformed));
        let c = CouponCode::from_random([3; 12]);
        assert_eq!(
            CouponCode::parse(&format!("{}0", c.as_str())),
            Err(CodeError::Malformed)
        );
        let with_u = format!("U{}", &c.as_str()[1..]);
        assert_eq!(CouponCode::parse(&with_u), Err(CodeError::Malformed));
        assert_eq!(
            CouponCode::parse(&format!("{}!", &c.as_str()[..12])),
            Err(CodeError::Malformed)
        );
    }

    #[test]
    fn codes_are_not_sequential_and_debug_hides_them() {
        let a = CouponCode::from_random([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let b = CouponCode::from_random([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        // Neighbouring random parts differ in the check character too.
        assert_ne!(a.as_str()[12..], b.as_str()[12..]);
        let dbg = format!("{a:?}");
        assert!(!dbg.contains(a.as_str()));
        assert!(dbg.ends_with(&format!("{})", a.tail())));
        assert_eq!(tail_of(a.as_str()), a.tail());
    }

    #[test]
    fn field_multiplication_has_inverses() {
        // GF(32): every non-zero element has an inverse, so the modulus is
        // irreducible and the proofs above hold.
        for a in 1..32u8 {
            assert!((1..32u8).any(|b| gf_mul(a, b) == 1), "{a} has no inverse");
        }
    }
}
