//! The lucky wheel: prize slots and their validation, the campaign life
//! cycle, the campaign's own "day", the roll and the fallback rule.
//!
//! The roll is one pure function of the campaign's secret and the draw's own
//! inputs (campaign, player, the player's draw sequence number), built on
//! HMAC-SHA-256 with rejection sampling, so it is unbiased and can later be
//! recomputed by anyone who is given the secret.

use super::{InvalidField, Millis, Rejection};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// At most this many slots on one wheel.
pub const MAX_SLOTS: usize = 17;
/// Largest weight of one slot; 17 slots stay far below u64 overflow.
pub const MAX_WEIGHT: i64 = 1_000_000;
/// Largest stock of one slot.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// Default campaign time zone.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
/// Days a physical prize may be claimed, unless the slot says otherwise.
pub const DEFAULT_CLAIM_DAYS: i64 = 7;
pub const MAX_NAME: usize = 200;
const DAY_MS: i64 = 86_400_000;

/// The rule that every player is told, with the odds.
pub const FALLBACK_RULE: &str = "A roll that lands on a prize that is out of stock, has reached its \
daily release cap, or that the player has already won as often as its per-user cap allows, gives \
the fallback prize instead.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrizeKind {
    Coupon,
    Physical,
    TopupCode,
    Points,
    Cash,
    Thanks,
}

impl PrizeKind {
    pub const ALL: [PrizeKind; 6] = [
        Self::Coupon,
        Self::Physical,
        Self::TopupCode,
        Self::Points,
        Self::Cash,
        Self::Thanks,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coupon => "coupon",
            Self::Physical => "physical",
            Self::TopupCode => "topup_code",
            Self::Points => "points",
            Self::Cash => "cash",
            Self::Thanks => "thanks",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One prize slot as configured by marketing, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSpec {
    pub name: String,
    pub kind: PrizeKind,
    pub weight: i64,
    pub stock: i64,
    pub daily_cap: Option<i64>,
    pub per_user_cap: Option<i64>,
    pub reference: Option<String>,
    pub amount: i64,
    pub claim_days: i64,
}

/// Unvalidated slot fields, as they arrive.
#[derive(Debug, Clone, Default)]
pub struct RawSlot {
    pub name: String,
    pub kind: Option<PrizeKind>,
    pub weight: i64,
    pub stock: i64,
    pub daily_cap: i64,
    pub per_user_cap: i64,
    pub reference: String,
    pub amount: i64,
    pub claim_days: i64,
}

fn check_name(field: &'static str, name: &str) -> Result<String, InvalidField> {
    let name = name.trim();
    if name.is_empty() {
        return Err(InvalidField::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME {
        return Err(InvalidField::new(
            field,
            format!("at most {MAX_NAME} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn optional_cap(field: &'static str, v: i64) -> Result<Option<i64>, InvalidField> {
    match v {
        0 => Ok(None),
        v if v < 0 => Err(InvalidField::new(field, "must be >= 0 (0 = no cap)")),
        v if v > MAX_STOCK => Err(InvalidField::new(field, format!("at most {MAX_STOCK}"))),
        v => Ok(Some(v)),
    }
}

impl SlotSpec {
    /// Validates raw fields; errors name the proto field (`slot.weight`, ...).
    pub fn parse(raw: RawSlot) -> Result<Self, InvalidField> {
        let name = check_name("slot.name", &raw.name)?;
        let kind = raw
            .kind
            .ok_or_else(|| InvalidField::new("slot.kind", "must be set"))?;
        if !(0..=MAX_WEIGHT).contains(&raw.weight) {
            return Err(InvalidField::new(
                "slot.weight",
                format!("must be between 0 and {MAX_WEIGHT}"),
            ));
        }
        let daily_cap = optional_cap("slot.daily_cap", raw.daily_cap)?;
        let per_user_cap = optional_cap("slot.per_user_cap", raw.per_user_cap)?;
        // Canonical lowercase form, so the prize table hash and the coupon
        // service see the same id however it was typed.
        let reference = Some(raw.reference.trim().to_owned())
            .filter(|r| !r.is_empty())
            .map(|r| uuid::Uuid::parse_str(&r).map_or(r, |u| u.to_string()));
        if kind == PrizeKind::Thanks {
            if raw.stock != 0 {
                return Err(InvalidField::new(
                    "slot.stock",
                    "a THANKS slot has no stock (0)",
                ));
            }
            if daily_cap.is_some() || per_user_cap.is_some() {
                return Err(InvalidField::new(
                    if daily_cap.is_some() {
                        "slot.daily_cap"
                    } else {
                        "slot.per_user_cap"
                    },
                    "a THANKS slot has no caps",
                ));
            }
        } else if !(1..=MAX_STOCK).contains(&raw.stock) {
            return Err(InvalidField::new(
                "slot.stock",
                format!("must be between 1 and {MAX_STOCK}"),
            ));
        }
        match kind {
            PrizeKind::Coupon | PrizeKind::TopupCode => {
                let Some(r) = &reference else {
                    return Err(InvalidField::new(
                        "slot.reference",
                        "the coupon template or code pool id is required",
                    ));
                };
                if uuid::Uuid::parse_str(r).is_err() {
                    return Err(InvalidField::new(
                        "slot.reference",
                        "must be the UUID of a coupon template (COUPON) or code pool (TOPUP_CODE)",
                    ));
                }
            }
            _ if reference.is_some() => {
                return Err(InvalidField::new(
                    "slot.reference",
                    "only COUPON and TOPUP_CODE slots take a reference",
                ));
            }
            _ => {}
        }
        match kind {
            PrizeKind::Points | PrizeKind::Cash if !(1..=100_000_000).contains(&raw.amount) => {
                return Err(InvalidField::new(
                    "slot.amount",
                    "must be between 1 and 100000000",
                ));
            }
            PrizeKind::Points | PrizeKind::Cash => {}
            _ if raw.amount != 0 => {
                return Err(InvalidField::new(
                    "slot.amount",
                    "only POINTS and CASH slots take an amount",
                ));
            }
            _ => {}
        }
        let claim_days = match (kind, raw.claim_days) {
            (PrizeKind::Physical, 0) => DEFAULT_CLAIM_DAYS,
            (PrizeKind::Physical, d) if (1..=365).contains(&d) => d,
            (PrizeKind::Physical, _) => {
                return Err(InvalidField::new(
                    "slot.claim_days",
                    "must be between 1 and 365",
                ));
            }
            (_, 0) => 0,
            (_, _) => {
                return Err(InvalidField::new(
                    "slot.claim_days",
                    "only PHYSICAL slots take claim_days",
                ));
            }
        };
        Ok(Self {
            name,
            kind,
            weight: raw.weight,
            stock: raw.stock,
            daily_cap,
            per_user_cap,
            reference,
            amount: raw.amount,
            claim_days,
        })
    }
}

/// Campaign-wide rules of a wheel, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelRules {
    pub name: String,
    pub starts_at: Millis,
    pub ends_at: Millis,
    pub time_zone: String,
    pub draws_per_day: i64,
    pub draws_total: i64,
}

/// The name of a campaign's copy when none is given: the source's name
/// and " 副本" ("copy"), the source's cut so the whole fits `MAX_NAME`.
pub fn copy_name(source: &str) -> String {
    const SUFFIX: &str = " 副本";
    let keep = MAX_NAME - SUFFIX.chars().count();
    let mut name: String = source.chars().take(keep).collect();
    name.push_str(SUFFIX);
    name
}

impl WheelRules {
    pub fn parse(
        name: &str,
        starts_at: Millis,
        ends_at: Millis,
        time_zone: &str,
        draws_per_day: i64,
        draws_total: i64,
    ) -> Result<Self, InvalidField> {
        let name = check_name("name", name)?;
        if starts_at <= 0 {
            return Err(InvalidField::new(
                "starts_at_ms",
                "must be set (ms since epoch)",
            ));
        }
        if ends_at <= starts_at {
            return Err(InvalidField::new(
                "ends_at_ms",
                "must be after starts_at_ms",
            ));
        }
        let time_zone = match time_zone.trim() {
            "" => DEFAULT_TIME_ZONE.to_owned(),
            tz => {
                jiff::tz::TimeZone::get(tz)
                    .map_err(|_| InvalidField::new("time_zone", "unknown IANA time zone"))?;
                tz.to_owned()
            }
        };
        super::activity::check_draw_limits(draws_per_day, draws_total)?;
        Ok(Self {
            name,
            starts_at,
            ends_at,
            time_zone,
            draws_per_day,
            draws_total,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CampaignStatus {
    Draft,
    Published,
    Paused,
    Ended,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Paused => "paused",
            Self::Ended => "ended",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Draft, Self::Published, Self::Paused, Self::Ended]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// The status callers see: a published or paused campaign whose window
    /// is over has ended (its seed is revealed, draws are refused) before
    /// `EndCampaign` writes it. A draft stays a draft.
    pub fn shown(self, window_over: bool) -> Self {
        match (self, window_over) {
            (Self::Published | Self::Paused, true) => Self::Ended,
            (s, _) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Publish,
    Pause,
    Resume,
    End,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::End => "end",
        }
    }

    /// The life cycle: draft -> published <-> paused -> ended.
    pub fn apply(self, from: CampaignStatus) -> Result<CampaignStatus, Rejection> {
        use CampaignStatus::*;
        match (self, from) {
            (Self::Publish, Draft) => Ok(Published),
            (Self::Pause, Published) => Ok(Paused),
            (Self::Resume, Paused) => Ok(Published),
            (Self::End, Published | Paused) => Ok(Ended),
            _ => Err(Rejection::InvalidTransition {
                from: from.as_str(),
                action: self.as_str(),
            }),
        }
    }
}

/// Checks that a draft may be published with these slots.
pub fn check_publishable(
    slots: &[(u32, PrizeKind, i64)],
    fallback: Option<u32>,
) -> Result<(), Rejection> {
    if !slots.iter().any(|(_, _, w)| *w > 0) {
        return Err(Rejection::NoWeightedSlot);
    }
    let fb = fallback.ok_or(Rejection::NoFallback)?;
    match slots.iter().find(|(i, _, _)| *i == fb) {
        Some((_, PrizeKind::Thanks, _)) => Ok(()),
        Some(_) => Err(Rejection::FallbackNotThanks),
        None => Err(Rejection::NoSuchSlot(fb)),
    }
}

/// Whether a draw at `now` falls inside the window [starts_at, ends_at).
pub fn check_window(now: Millis, starts_at: Millis, ends_at: Millis) -> Result<(), Rejection> {
    if now < starts_at {
        Err(Rejection::NotStarted)
    } else if now >= ends_at {
        Err(Rejection::WindowOver)
    } else {
        Ok(())
    }
}

/// The campaign's own calendar day (`YYYY-MM-DD`) of an instant, in its
/// time zone. Daily chances and daily release caps count per such day.
pub fn campaign_day(at: Millis, time_zone: &str) -> Result<String, InvalidField> {
    let tz = jiff::tz::TimeZone::get(time_zone)
        .map_err(|_| InvalidField::new("time_zone", "unknown IANA time zone"))?;
    let ts = jiff::Timestamp::from_millisecond(at)
        .map_err(|_| InvalidField::new("time", "instant out of range"))?;
    Ok(ts.to_zoned(tz).date().to_string())
}

/// Deadline to claim a physical prize won at `won_at`.
pub fn claim_deadline(won_at: Millis, claim_days: i64) -> Millis {
    won_at.saturating_add(claim_days.saturating_mul(DAY_MS))
}

mod roll;

pub use roll::*;

#[cfg(test)]
mod tests;
