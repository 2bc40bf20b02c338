//! A campaign file: the TOML a marketer writes, parsed strictly (unknown
//! fields are errors) and validated before any call, into the exact
//! requests the engine takes. Every error names the field as it is written
//! in the file (`prizes[2].weight: must be between 1 and 1000000`).
//!
//! Values are normalised the way the engine stores them (names trimmed,
//! UUIDs lower-case, a PHYSICAL prize's `claim_days` defaulting to 7), so a
//! file compares equal to the campaign it created and a second `apply`
//! finds nothing to do.

use std::{collections::HashSet, fmt, path::Path};

use engine_proto::campaign::v1 as pb;
use serde::Deserialize;

pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
const MAX_SLOTS: usize = 17;
const MAX_TIERS: usize = 10;
const MAX_WEIGHT: i64 = 1_000_000;
const MAX_STOCK: i64 = 1_000_000_000;
const MAX_NAME: usize = 200;
const MAX_KEY: usize = 64;
const DEFAULT_CLAIM_DAYS: i64 = 7;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Why a campaign file was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not TOML, a wrong type, a missing or an unknown field (the parser's
    /// message names it, with the line).
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    /// Well-formed but invalid: every invalid field, one per line.
    #[error("{path}: invalid campaign file:\n{}", list(.errors))]
    Invalid {
        path: String,
        errors: Vec<FieldError>,
    },
}

fn list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// The file as written.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRaw {
    key: String,
    name: String,
    starts_at: InstantRaw,
    ends_at: InstantRaw,
    time_zone: Option<String>,
    draws_per_day: i64,
    draws_total: i64,
    fallback: String,
    #[serde(default)]
    prizes: Vec<PrizeRaw>,
    share: Option<ShareRaw>,
    votes: Option<VotesRaw>,
    chances: Option<ChancesRaw>,
}

/// A TOML offset date-time (`2026-11-26T00:00:00+08:00`) or the same as a
/// string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum InstantRaw {
    Datetime(toml::value::Datetime),
    Text(String),
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KindRaw {
    Coupon,
    Physical,
    TopupCode,
    Points,
    Cash,
    Thanks,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrizeRaw {
    name: String,
    kind: KindRaw,
    weight: Option<i64>,
    #[serde(default)]
    stock: i64,
    daily_cap: Option<i64>,
    per_user_cap: Option<i64>,
    /// COUPON: the coupon template's UUID.
    coupon_template: Option<String>,
    /// TOPUP_CODE: the code pool's UUID.
    code_pool: Option<String>,
    /// POINTS: loyalty points per win.
    points: Option<i64>,
    /// CASH: cents per win.
    cents: Option<i64>,
    /// PHYSICAL: days to claim (default 7).
    claim_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareRaw {
    enabled: bool,
    #[serde(default)]
    tiers: Vec<TierRaw>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum MetricRaw {
    Shares,
    Viewers,
    Forwards,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierRaw {
    metric: MetricRaw,
    threshold: i64,
    prize: PrizeRaw,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VotesRaw {
    votes_per_day: i64,
    votes_per_candidate_per_day: i64,
    votes_total: i64,
    #[serde(default)]
    player_registration: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChancesRaw {
    #[serde(default)]
    per_share: i64,
    #[serde(default)]
    per_tier: i64,
    #[serde(default)]
    per_vote: i64,
    daily_cap: i64,
}

// ---------------------------------------------------------------------------
// The file, validated.

/// Voting rules (`SetVoteRules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRules {
    pub votes_per_day: i64,
    pub votes_per_candidate_per_day: i64,
    pub votes_total: i64,
    pub player_registration: bool,
}

/// Extra draws earned by sharing and voting (`SetChanceRules`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChanceRules {
    pub per_share: i64,
    pub per_tier: i64,
    pub per_vote: i64,
    pub daily_cap: i64,
}

/// Share-gated rewards (`SetShareRules`); tiers have `remaining` 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRules {
    pub enabled: bool,
    pub tiers: Vec<pb::ShareTier>,
}

/// A campaign file, valid and normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct WheelSpec {
    /// Stable identity of the campaign for campaignctl (state file entry,
    /// idempotency key of its creation).
    pub key: String,
    pub name: String,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub time_zone: String,
    pub draws_per_day: i64,
    pub draws_total: i64,
    pub slots: Vec<pb::PrizeSlotSpec>,
    /// Index of the fallback slot.
    pub fallback: u32,
    pub share: Option<ShareRules>,
    pub votes: Option<VoteRules>,
    pub chances: Option<ChanceRules>,
}

impl WheelSpec {
    /// Reads and validates a campaign file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ParseError::Syntax(message) => SpecError::Syntax {
                path: shown.clone(),
                message,
            },
            ParseError::Invalid(errors) => SpecError::Invalid {
                path: shown.clone(),
                errors,
            },
        })
    }

    /// Parses and validates the text of a campaign file.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let raw: FileRaw =
            toml::from_str(text).map_err(|e| ParseError::Syntax(e.to_string().trim().into()))?;
        let mut v = Validator::default();
        let spec = v.file(raw);
        if v.errors.is_empty() {
            Ok(spec)
        } else {
            Err(ParseError::Invalid(v.errors))
        }
    }

    /// The `CreateWheel` request for this file.
    pub fn create_request(&self, idempotency_key: String) -> pb::CreateWheelRequest {
        pb::CreateWheelRequest {
            idempotency_key,
            name: self.name.clone(),
            starts_at_ms: self.starts_at_ms,
            ends_at_ms: self.ends_at_ms,
            time_zone: self.time_zone.clone(),
            draws_per_day: self.draws_per_day,
            draws_total: self.draws_total,
        }
    }
}

#[derive(Debug)]
pub enum ParseError {
    Syntax(String),
    Invalid(Vec<FieldError>),
}

#[derive(Default)]
struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    fn name(&mut self, field: &str, raw: &str) -> String {
        let name = raw.trim();
        if name.is_empty() {
            self.err(field, "must not be empty");
        } else if name.chars().count() > MAX_NAME {
            self.err(field, format!("at most {MAX_NAME} characters"));
        }
        name.to_owned()
    }

    /// Milliseconds since the Unix epoch; `None` (with the error noted) if
    /// it is not an RFC 3339 instant after 1970.
    fn instant(&mut self, field: &str, raw: &InstantRaw) -> Option<i64> {
        let text = match raw {
            InstantRaw::Datetime(d) => d.to_string(),
            InstantRaw::Text(s) => s.clone(),
        };
        match text.parse::<jiff::Timestamp>() {
            Ok(t) if t.as_millisecond() > 0 => Some(t.as_millisecond()),
            Ok(_) => {
                self.err(field, "must be after 1970-01-01T00:00:00Z");
                None
            }
            Err(_) => {
                self.err(
                    field,
                    format!(
                        "must be an RFC 3339 instant with an offset, \
                         e.g. 2026-11-26T00:00:00+08:00 (got {text:?})"
                    ),
                );
                None
            }
        }
    }

    fn range(&mut self, field: &str, v: i64, lo: i64, hi: i64) -> i64 {
        if !(lo..=hi).contains(&v) {
            self.err(field, format!("must be between {lo} and {hi}"));
        }
        v
    }

    fn uuid(&mut self, field: &str, raw: &str) -> String {
        match uuid::Uuid::parse_str(raw.trim()) {
            Ok(u) => u.to_string(),
            Err(_) => {
                self.err(field, "must be a UUID");
                raw.to_owned()
            }
        }
    }

    fn file(&mut self, raw: FileRaw) -> WheelSpec {
        let key = self.key(&raw.key);
        let name = self.name("name", &raw.name);
        let (starts_at_ms, ends_at_ms) = self.window(&raw.starts_at, &raw.ends_at);
        let time_zone = self.time_zone(raw.time_zone.as_deref());
        let (draws_per_day, draws_total) = self.draw_limits(raw.draws_per_day, raw.draws_total);
        let (slots, fallback) = self.prizes(&raw.prizes, &raw.fallback);
        WheelSpec {
            key,
            name,
            starts_at_ms,
            ends_at_ms,
            time_zone,
            draws_per_day,
            draws_total,
            slots,
            fallback: u32::try_from(fallback.unwrap_or(0)).unwrap_or(0),
            share: raw.share.map(|s| self.share(s)),
            votes: raw.votes.map(|v| self.votes(v)),
            chances: raw.chances.map(|c| self.chances(c)),
        }
    }

    /// The campaign's key: a short name safe in file names and keys.
    fn key(&mut self, raw: &str) -> String {
        let key = raw.trim().to_owned();
        if key.is_empty()
            || key.len() > MAX_KEY
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            self.err(
                "key",
                format!("1..={MAX_KEY} characters of A-Z a-z 0-9 - _ ."),
            );
        }
        key
    }

    /// `starts_at` and `ends_at` in milliseconds (0 when invalid), the end
    /// after the start.
    fn window(&mut self, starts: &InstantRaw, ends: &InstantRaw) -> (i64, i64) {
        let starts_at = self.instant("starts_at", starts);
        let ends_at = self.instant("ends_at", ends);
        if let (Some(s), Some(e)) = (starts_at, ends_at)
            && e <= s
        {
            self.err("ends_at", "must be after starts_at");
        }
        (starts_at.unwrap_or(0), ends_at.unwrap_or(0))
    }

    /// An IANA time zone, [`DEFAULT_TIME_ZONE`] when none is given.
    fn time_zone(&mut self, raw: Option<&str>) -> String {
        match raw.map(str::trim) {
            None | Some("") => DEFAULT_TIME_ZONE.to_owned(),
            Some(tz) => {
                if jiff::tz::TimeZone::get(tz).is_err() {
                    self.err("time_zone", format!("unknown IANA time zone {tz:?}"));
                }
                tz.to_owned()
            }
        }
    }

    /// `draws_per_day` and `draws_total`, the total at least a day's.
    fn draw_limits(&mut self, per_day: i64, total: i64) -> (i64, i64) {
        let draws_per_day = self.range("draws_per_day", per_day, 1, 10_000);
        if !(draws_per_day..=1_000_000).contains(&total) {
            self.err("draws_total", "must be between draws_per_day and 1000000");
        }
        (draws_per_day, total)
    }

    /// The wheel's slots, named uniquely, and the index of the fallback
    /// (a "thanks" prize named by `fallback`), if there is one.
    fn prizes(
        &mut self,
        prizes: &[PrizeRaw],
        fallback: &str,
    ) -> (Vec<pb::PrizeSlotSpec>, Option<usize>) {
        if prizes.is_empty() {
            self.err("prizes", "at least one prize is required");
        }
        if prizes.len() > MAX_SLOTS {
            self.err("prizes", format!("at most {MAX_SLOTS}"));
        }
        let mut seen = HashSet::new();
        for (i, p) in prizes.iter().enumerate() {
            if !seen.insert(p.name.trim()) {
                self.err(
                    format!("prizes[{i}].name"),
                    format!("{:?} is used twice; names identify prizes", p.name.trim()),
                );
            }
        }
        let index = prizes.iter().position(|p| p.name.trim() == fallback.trim());
        match index.map(|i| &prizes[i]) {
            None => self.err(
                "fallback",
                format!("{fallback:?} is not the name of a prize"),
            ),
            Some(p) if p.kind != KindRaw::Thanks => self.err(
                "fallback",
                format!("{fallback:?} must be a prize of kind \"thanks\""),
            ),
            Some(_) => {}
        }
        let slots = prizes
            .iter()
            .enumerate()
            .map(|(i, p)| self.slot(&format!("prizes[{i}]"), p, Some(i) == index))
            .collect();
        (slots, index)
    }

    /// The `[share]` section: at most [`MAX_TIERS`] tiers.
    fn share(&mut self, s: ShareRaw) -> ShareRules {
        if s.tiers.len() > MAX_TIERS {
            self.err("share.tiers", format!("at most {MAX_TIERS}"));
        }
        let tiers = s
            .tiers
            .iter()
            .enumerate()
            .map(|(i, t)| self.tier(&format!("share.tiers[{i}]"), t))
            .collect();
        ShareRules {
            enabled: s.enabled,
            tiers,
        }
    }

    /// The `[votes]` section: per candidate <= per day <= in total.
    fn votes(&mut self, v: VotesRaw) -> VoteRules {
        let r = VoteRules {
            votes_per_day: self.range("votes.votes_per_day", v.votes_per_day, 1, 1_000_000),
            votes_per_candidate_per_day: self.range(
                "votes.votes_per_candidate_per_day",
                v.votes_per_candidate_per_day,
                1,
                1_000_000,
            ),
            votes_total: self.range("votes.votes_total", v.votes_total, 1, 1_000_000),
            player_registration: v.player_registration,
        };
        if r.votes_per_candidate_per_day > r.votes_per_day {
            self.err(
                "votes.votes_per_candidate_per_day",
                "cannot exceed votes_per_day",
            );
        }
        if r.votes_per_day > r.votes_total {
            self.err("votes.votes_per_day", "cannot exceed votes_total");
        }
        r
    }

    /// The `[chances]` section.
    fn chances(&mut self, c: ChancesRaw) -> ChanceRules {
        ChanceRules {
            per_share: self.range("chances.per_share", c.per_share, 0, 1000),
            per_tier: self.range("chances.per_tier", c.per_tier, 0, 1000),
            per_vote: self.range("chances.per_vote", c.per_vote, 0, 1000),
            daily_cap: self.range("chances.daily_cap", c.daily_cap, 0, 1000),
        }
    }

    /// A wheel slot; `fallback` may have weight 0 (given only when a roll
    /// lands on an exhausted or capped slot).
    fn slot(&mut self, at: &str, p: &PrizeRaw, fallback: bool) -> pb::PrizeSlotSpec {
        let mut spec = self.prize(at, p);
        match p.weight {
            None => self.err(format!("{at}.weight"), "is required (the published odds)"),
            Some(0) if fallback => {}
            Some(w) if !(1..=MAX_WEIGHT).contains(&w) => self.err(
                format!("{at}.weight"),
                format!(
                    "must be > 0 and at most {MAX_WEIGHT} (only the fallback prize may have 0)"
                ),
            ),
            Some(_) => {}
        }
        spec.weight = p.weight.unwrap_or(0);
        let caps = [
            ("daily_cap", p.daily_cap, &mut spec.daily_cap),
            ("per_user_cap", p.per_user_cap, &mut spec.per_user_cap),
        ];
        for (field, value, out) in caps {
            match value {
                None => {}
                Some(_) if p.kind == KindRaw::Thanks => {
                    self.errors.push(FieldError {
                        field: format!("{at}.{field}"),
                        message: "a \"thanks\" prize has no caps".into(),
                    });
                }
                Some(v) if !(1..=MAX_STOCK).contains(&v) => {
                    self.errors.push(FieldError {
                        field: format!("{at}.{field}"),
                        message: format!("must be between 1 and {MAX_STOCK} (omit it for none)"),
                    });
                }
                Some(v) => *out = v,
            }
        }
        spec
    }

    /// A share tier: a prize without odds or caps.
    fn tier(&mut self, at: &str, t: &TierRaw) -> pb::ShareTier {
        let prize_at = format!("{at}.prize");
        let prize = self.prize(&prize_at, &t.prize);
        if t.prize.kind == KindRaw::Thanks {
            self.err(
                format!("{prize_at}.kind"),
                "a tier prize cannot be \"thanks\"",
            );
        }
        for (field, set) in [
            ("weight", t.prize.weight.is_some()),
            ("daily_cap", t.prize.daily_cap.is_some()),
            ("per_user_cap", t.prize.per_user_cap.is_some()),
        ] {
            if set {
                self.err(
                    format!("{prize_at}.{field}"),
                    "tiers have no odds or caps: remove it",
                );
            }
        }
        let metric = match t.metric {
            MetricRaw::Shares => pb::ShareMetric::Shares,
            MetricRaw::Viewers => pb::ShareMetric::Viewers,
            MetricRaw::Forwards => pb::ShareMetric::Forwards,
        };
        pb::ShareTier {
            metric: metric.into(),
            threshold: self.range(&format!("{at}.threshold"), t.threshold, 1, 1_000_000),
            prize: Some(prize),
            remaining: 0,
        }
    }

    /// What wheel slots and tier prizes share: name, kind, stock and the
    /// kind's own fields (each refused on the other kinds).
    fn prize(&mut self, at: &str, p: &PrizeRaw) -> pb::PrizeSlotSpec {
        let name = self.name(&format!("{at}.name"), &p.name);
        let kind = match p.kind {
            KindRaw::Coupon => pb::PrizeKind::Coupon,
            KindRaw::Physical => pb::PrizeKind::Physical,
            KindRaw::TopupCode => pb::PrizeKind::TopupCode,
            KindRaw::Points => pb::PrizeKind::Points,
            KindRaw::Cash => pb::PrizeKind::Cash,
            KindRaw::Thanks => pb::PrizeKind::Thanks,
        };
        if p.kind == KindRaw::Thanks {
            if p.stock != 0 {
                self.err(format!("{at}.stock"), "a \"thanks\" prize has no stock");
            }
        } else {
            self.range(&format!("{at}.stock"), p.stock, 1, MAX_STOCK);
        }
        let mut own = |field: &str, set: bool, wanted: bool, what: &str| {
            if set && !wanted {
                self.err(
                    format!("{at}.{field}"),
                    format!("only {what} prizes take it"),
                );
            }
            if !set && wanted {
                self.err(
                    format!("{at}.{field}"),
                    format!("is required for {what} prizes"),
                );
            }
        };
        own(
            "coupon_template",
            p.coupon_template.is_some(),
            p.kind == KindRaw::Coupon,
            "\"coupon\"",
        );
        own(
            "code_pool",
            p.code_pool.is_some(),
            p.kind == KindRaw::TopupCode,
            "\"topup_code\"",
        );
        own(
            "points",
            p.points.is_some(),
            p.kind == KindRaw::Points,
            "\"points\"",
        );
        own(
            "cents",
            p.cents.is_some(),
            p.kind == KindRaw::Cash,
            "\"cash\"",
        );
        if p.claim_days.is_some() && p.kind != KindRaw::Physical {
            self.err(
                format!("{at}.claim_days"),
                "only \"physical\" prizes take it",
            );
        }
        let reference = match (&p.coupon_template, &p.code_pool) {
            (Some(r), _) => self.uuid(&format!("{at}.coupon_template"), r),
            (None, Some(r)) => self.uuid(&format!("{at}.code_pool"), r),
            (None, None) => String::new(),
        };
        let amount = match (p.points, p.cents) {
            (Some(a), _) => self.range(&format!("{at}.points"), a, 1, 100_000_000),
            (None, Some(a)) => self.range(&format!("{at}.cents"), a, 1, 100_000_000),
            (None, None) => 0,
        };
        let claim_days = match (p.kind, p.claim_days) {
            (KindRaw::Physical, None) => DEFAULT_CLAIM_DAYS,
            (KindRaw::Physical, Some(d)) => self.range(&format!("{at}.claim_days"), d, 1, 365),
            _ => 0,
        };
        pb::PrizeSlotSpec {
            name,
            kind: kind.into(),
            weight: 0,
            stock: p.stock,
            daily_cap: 0,
            per_user_cap: 0,
            reference,
            amount,
            claim_days,
        }
    }
}

#[cfg(test)]
mod tests;
