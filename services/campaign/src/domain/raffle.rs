//! Raffles among entrants (issue 24; FAIRNESS.md §9): N winners drawn
//! from the players who voted, shared, drew or grabbed a red packet in a
//! period, or the top N candidates of the vote. Pure rules: the spec's
//! checks, the entrants' canonical order and hash, the seeded pick and the
//! candidates' ranking. `tools/verify_fairness.py` recomputes the same.

use sha2::{Digest, Sha256};

use super::{InvalidField, Millis, money::MoneyRng, wheel::PrizeKind, wheel::SlotSpec};

/// The most winners one raffle draws.
pub const MAX_WINNERS: i64 = 1000;
/// The most raffles a campaign holds.
pub const MAX_RAFFLES: i64 = 1000;
const MAX_NAME: usize = 64;

/// Who enters a raffle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaffleSource {
    /// Players with an accepted vote cast in the period (optionally for
    /// one candidate).
    Vote,
    /// Players who made a Forward-to-Moments share in the period.
    Share,
    /// Players who spun the wheel in the period.
    Draw,
    /// Players who grabbed a red packet in the period.
    Grab,
    /// No lottery: the owners of the N approved candidates with the most
    /// accepted votes cast in the period.
    TopCandidates,
}

impl RaffleSource {
    pub const ALL: [RaffleSource; 5] = [
        Self::Vote,
        Self::Share,
        Self::Draw,
        Self::Grab,
        Self::TopCandidates,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vote => "vote",
            Self::Share => "share",
            Self::Draw => "draw",
            Self::Grab => "grab",
            Self::TopCandidates => "top_candidates",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A raffle as the merchant defines it, validated. Never edited after it
/// is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaffleSpec {
    pub name: String,
    pub source: RaffleSource,
    /// Vote: only votes for this candidate count; None: any.
    pub candidate_id: Option<String>,
    /// Each entry counts as a ticket (else each entrant has one).
    pub tickets: bool,
    /// The period of entries: `[from, until)`; `until` is the cut-off.
    pub from: Millis,
    pub until: Millis,
    pub winners: i64,
    /// Kind, name, reference, amount and claim days as a wheel slot's;
    /// its stock is `winners`.
    pub prize: SlotSpec,
}

/// The raw fields of a raffle, as they arrive.
#[derive(Debug, Clone)]
pub struct RawRaffle {
    pub name: String,
    pub source: Option<RaffleSource>,
    pub candidate_id: Option<String>,
    pub tickets: bool,
    pub from: Millis,
    pub until: Millis,
    pub winners: i64,
    pub prize: SlotSpec,
}

impl RaffleSpec {
    /// Checks a new raffle against the clock and its campaign's window
    /// `[starts_at, ends_at)`. `from`/`until` 0 mean the campaign's start
    /// and end. Errors name the request field.
    pub fn check(
        raw: RawRaffle,
        now: Millis,
        starts_at: Millis,
        ends_at: Millis,
    ) -> Result<Self, InvalidField> {
        let name = raw.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(InvalidField::new(
                "name",
                format!("1..={MAX_NAME} characters"),
            ));
        }
        let source = raw
            .source
            .ok_or_else(|| InvalidField::new("source", "must be set"))?;
        if !(1..=MAX_WINNERS).contains(&raw.winners) {
            return Err(InvalidField::new(
                "winners",
                format!("must be 1..={MAX_WINNERS}"),
            ));
        }
        let from = if raw.from == 0 { starts_at } else { raw.from };
        let until = if raw.until == 0 { ends_at } else { raw.until };
        if from < 0 || until <= from {
            return Err(InvalidField::new(
                "until_ms",
                "the period must end after it starts",
            ));
        }
        if until <= now {
            return Err(InvalidField::new(
                "until_ms",
                "the cut-off must be in the future: the entrants are not known when the raffle is made",
            ));
        }
        if until > ends_at {
            return Err(InvalidField::new(
                "until_ms",
                "the cut-off must not be after the campaign's end",
            ));
        }
        let candidate_id = raw
            .candidate_id
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty());
        if candidate_id.is_some() && source != RaffleSource::Vote {
            return Err(InvalidField::new(
                "candidate_id",
                "only a raffle among voters can name a candidate",
            ));
        }
        if raw.tickets && source == RaffleSource::TopCandidates {
            return Err(InvalidField::new(
                "tickets",
                "the top candidates are ranked by votes, not drawn",
            ));
        }
        let p = raw.prize;
        if p.kind == PrizeKind::Thanks {
            return Err(InvalidField::new(
                "prize.kind",
                "a raffle prize cannot be THANKS",
            ));
        }
        if p.weight != 0 || p.daily_cap.is_some() || p.per_user_cap.is_some() {
            return Err(InvalidField::new(
                "prize.weight",
                "a raffle has no odds or caps: weight, daily_cap and per_user_cap must be 0",
            ));
        }
        if p.stock != raw.winners {
            return Err(InvalidField::new(
                "prize.stock",
                "a raffle gives one unit a winner: leave stock 0 (it is `winners`)",
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            source,
            candidate_id,
            tickets: raw.tickets,
            from,
            until,
            winners: raw.winners,
            prize: p,
        })
    }
}

/// One entrant in the pick's order: a player's pseudonym and its tickets,
/// or (top candidates) a candidate id, its owner's pseudonym ('' when the
/// merchant registered it) and its votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entrant {
    pub id: String,
    pub owner: String,
    pub weight: u64,
}

/// Players' entries in canonical order: by pseudonym (its lower-case hex),
/// each once; `weight` is the entry count with tickets, else 1.
pub fn player_entrants(mut counted: Vec<(String, u64)>, tickets: bool) -> Vec<Entrant> {
    counted.sort();
    counted.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 = a.1.saturating_add(b.1);
            true
        } else {
            false
        }
    });
    counted
        .into_iter()
        .map(|(id, n)| Entrant {
            id,
            owner: String::new(),
            weight: if tickets { n.max(1) } else { 1 },
        })
        .collect()
}

/// Candidates ranked: most votes first, ties by candidate id (UUIDv7, so
/// the earlier registered first).
pub fn rank_candidates(mut c: Vec<Entrant>) -> Vec<Entrant> {
    c.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
    c
}

/// SHA-256("raffle-entrants/v1" || for each entrant in order: u32be(len
/// id) || id || u32be(len owner) || owner || u64be(weight)).
pub fn entrants_hash(entrants: &[Entrant]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"raffle-entrants/v1");
    for e in entrants {
        for s in [&e.id, &e.owner] {
            h.update((s.len() as u32).to_be_bytes());
            h.update(s.as_bytes());
        }
        h.update(e.weight.to_be_bytes());
    }
    h.finalize().to_vec()
}

/// The message that keys a raffle's pick: "raffle-pick/v1" || campaign
/// UUID (16 bytes) || u64be(raffle_seq) || entrants hash (32 bytes).
pub fn pick_message(campaign_id: &[u8; 16], raffle_seq: u64, entrants_hash: &[u8]) -> Vec<u8> {
    let mut m = b"raffle-pick/v1".to_vec();
    m.extend_from_slice(campaign_id);
    m.extend_from_slice(&raffle_seq.to_be_bytes());
    m.extend_from_slice(entrants_hash);
    m
}

/// Up to `n` distinct positions drawn without replacement, each with
/// probability proportional to its weight among those left: for each
/// winner, `x = below(total weight left)` and the winner is the first
/// position whose running sum of the weights left exceeds `x`. A Fenwick
/// tree keeps it O(n log m) at a million entrants; the result is that of
/// the plain walk FAIRNESS.md §9 describes. Stops early when no weight is
/// left.
pub fn pick(rng: &mut MoneyRng, weights: &[u64], n: usize) -> Vec<usize> {
    let m = weights.len();
    let mut tree = vec![0u64; m + 1];
    for (i, w) in weights.iter().enumerate() {
        let mut j = i + 1;
        while j <= m {
            tree[j] = tree[j].saturating_add(*w);
            j += j & j.wrapping_neg();
        }
    }
    let mut total: u64 = weights.iter().fold(0u64, |a, w| a.saturating_add(*w));
    let top = if m == 0 {
        0
    } else {
        1usize << (usize::BITS - 1 - m.leading_zeros())
    };
    let mut out = Vec::with_capacity(n.min(m));
    while out.len() < n && total > 0 {
        let mut rest = rng.below(total);
        let (mut pos, mut step) = (0usize, top);
        while step > 0 {
            let next = pos + step;
            if next <= m && tree[next] <= rest {
                pos = next;
                rest -= tree[next];
            }
            step >>= 1;
        }
        // `pos` is 0-based: the first position whose running sum > x.
        let w = weights[pos];
        let mut j = pos + 1;
        while j <= m {
            tree[j] -= w;
            j += j & j.wrapping_neg();
        }
        total -= w;
        out.push(pos);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(kind: PrizeKind) -> SlotSpec {
        SlotSpec {
            name: "Cup".into(),
            kind,
            weight: 0,
            stock: 2,
            daily_cap: None,
            per_user_cap: None,
            reference: None,
            amount: 0,
            claim_days: 7,
        }
    }

    fn raw() -> RawRaffle {
        RawRaffle {
            name: " 每天抽 2 人 ".into(),
            source: Some(RaffleSource::Vote),
            candidate_id: None,
            tickets: false,
            from: 0,
            until: 0,
            winners: 2,
            prize: slot(PrizeKind::Physical),
        }
    }

    #[test]
    fn a_spec_names_its_bad_field() {
        let ok = RaffleSpec::check(raw(), 10, 100, 1000).expect("valid");
        assert_eq!(
            (ok.name.as_str(), ok.from, ok.until),
            ("每天抽 2 人", 100, 1000)
        );
        let bad = |f: fn(&mut RawRaffle), now: Millis| {
            let mut r = raw();
            f(&mut r);
            RaffleSpec::check(r, now, 100, 1000)
                .expect_err("refused")
                .field
        };
        assert_eq!(bad(|r| r.name = " ".into(), 10), "name");
        assert_eq!(bad(|r| r.source = None, 10), "source");
        assert_eq!(bad(|r| r.winners = 0, 10), "winners");
        assert_eq!(bad(|r| r.winners = 1001, 10), "winners");
        assert_eq!(bad(|r| r.until = 50, 10), "until_ms");
        assert_eq!(bad(|_| {}, 1000), "until_ms");
        assert_eq!(bad(|r| r.until = 1001, 10), "until_ms");
        assert_eq!(
            bad(
                |r| {
                    r.source = Some(RaffleSource::Draw);
                    r.candidate_id = Some("c".into())
                },
                10
            ),
            "candidate_id"
        );
        assert_eq!(
            bad(
                |r| {
                    r.source = Some(RaffleSource::TopCandidates);
                    r.tickets = true
                },
                10
            ),
            "tickets"
        );
        assert_eq!(bad(|r| r.prize.kind = PrizeKind::Thanks, 10), "prize.kind");
        assert_eq!(bad(|r| r.prize.weight = 1, 10), "prize.weight");
        assert_eq!(bad(|r| r.prize.stock = 3, 10), "prize.stock");
    }

    #[test]
    fn entrants_count_once_unless_entries_are_tickets() {
        let rows = vec![
            ("b".to_owned(), 3),
            ("a".to_owned(), 1),
            ("b".to_owned(), 2),
        ];
        let once = player_entrants(rows.clone(), false);
        assert_eq!(
            once.iter()
                .map(|e| (e.id.as_str(), e.weight))
                .collect::<Vec<_>>(),
            [("a", 1), ("b", 1)]
        );
        let tickets = player_entrants(rows, true);
        assert_eq!(
            tickets
                .iter()
                .map(|e| (e.id.as_str(), e.weight))
                .collect::<Vec<_>>(),
            [("a", 1), ("b", 5)]
        );
    }

    #[test]
    fn candidates_rank_by_votes_then_id() {
        let e = |id: &str, w| Entrant {
            id: id.into(),
            owner: String::new(),
            weight: w,
        };
        let r = rank_candidates(vec![e("c", 5), e("a", 5), e("b", 9), e("d", 0)]);
        let ids: Vec<&str> = r.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c", "d"]);
    }

    /// The plain walk FAIRNESS.md §9 describes, to hold the tree to it.
    fn walk(rng: &mut MoneyRng, weights: &[u64], n: usize) -> Vec<usize> {
        let mut left: Vec<u64> = weights.to_vec();
        let mut out = Vec::new();
        while out.len() < n {
            let total: u64 = left.iter().sum();
            if total == 0 {
                break;
            }
            let x = rng.below(total);
            let mut acc = 0;
            let i = left
                .iter()
                .position(|w| {
                    acc += w;
                    acc > x
                })
                .expect("x < total");
            left[i] = 0;
            out.push(i);
        }
        out
    }

    #[test]
    fn the_tree_picks_what_the_plain_walk_picks() {
        for m in [0usize, 1, 2, 3, 7, 8, 9, 100, 1000] {
            for n in [1usize, 2, 5, 50] {
                let weights: Vec<u64> = (0..m as u64).map(|i| (i * 7919) % 5).collect();
                let msg = [m as u8, n as u8];
                let a = pick(&mut MoneyRng::new(&[3u8; 32], &msg), &weights, n);
                let b = walk(&mut MoneyRng::new(&[3u8; 32], &msg), &weights, n);
                assert_eq!(a, b, "m={m} n={n}");
                let mut d = a.clone();
                d.sort();
                d.dedup();
                assert_eq!(d.len(), a.len(), "distinct");
                assert!(a.iter().all(|i| weights[*i] > 0), "never a weight 0");
                let positive = weights.iter().filter(|w| **w > 0).count();
                assert_eq!(a.len(), n.min(positive));
            }
        }
    }

    #[test]
    fn the_pick_is_fair_in_the_large() {
        // 3 entrants, one with two tickets: over 40,000 single picks the
        // two-ticket entrant wins about half.
        let mut wins = [0u32; 3];
        for k in 0u32..40_000 {
            let p = pick(
                &mut MoneyRng::new(&[9u8; 32], &k.to_be_bytes()),
                &[1, 2, 1],
                1,
            );
            wins[p[0]] += 1;
        }
        assert!((19_000..21_000).contains(&wins[1]), "{wins:?}");
        assert!((9_400..10_600).contains(&wins[0]), "{wins:?}");
    }

    #[test]
    fn known_answers_match_the_python_verifier() {
        let entrants = vec![
            Entrant {
                id: "73ce4b8f13797041515bd5f3e062ae8c".into(),
                owner: String::new(),
                weight: 1,
            },
            Entrant {
                id: "a1".into(),
                owner: "b2".into(),
                weight: 3,
            },
        ];
        let hash = entrants_hash(&entrants);
        assert_eq!(hex::encode(&hash), KNOWN_ENTRANTS_HASH);
        let msg = pick_message(uuid::Uuid::from_u128(0x2a).as_bytes(), 1, &hash);
        let weights: Vec<u64> = (1..=10).collect();
        let picked = pick(&mut MoneyRng::new(&[7u8; 32], &msg), &weights, 4);
        assert_eq!(picked, KNOWN_PICK);
    }

    // Computed with tools/verify_fairness.py's functions from the same
    // inputs (FAIRNESS.md "Known answers").
    const KNOWN_ENTRANTS_HASH: &str =
        "317807d582209670979567231f0aa199f5a5ac4023a0933b485c5c3e506dc46c";
    const KNOWN_PICK: [usize; 4] = [8, 1, 9, 5];
}
