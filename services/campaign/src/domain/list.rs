//! What a list RPC may ask for: its filters, checked, and the scope a page
//! token is bound to (`platform::domain::paging`: the merchant and every
//! filter, written canonically, so a token continues only the request
//! that made it). Pure; the store turns a filter into SQL.

use serde::{Deserialize, Serialize};

use super::{InvalidField, Millis, activity::Activity, money::PacketState, paging::PageLimits};

/// ListCampaigns: 50 a page unless asked, at most 200.
pub const CAMPAIGN_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};
/// ListWinners: 100 a page unless asked, at most 1,000.
pub const WINNER_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// ListVotes: 100 a page unless asked (its one page before paging), at
/// most 1,000.
pub const VOTE_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// ListCandidates: 100 a page unless asked, at most 1,000.
pub const CANDIDATE_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// ListRedPackets: 50 a page unless asked, at most 200.
pub const PACKET_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};

/// ListShareChains: 50 a page unless asked, at most 200.
pub const SHARE_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};

/// The longest `sharer_id` filter, in bytes (a player token's subject).
pub const MAX_SHARER_ID: usize = 128;

/// The longest `name_prefix`, in characters (a campaign name's limit).
pub const MAX_NAME_PREFIX: usize = 100;

/// Which of a merchant's campaigns to list. Every part narrows the list;
/// the default lists them all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignFilter {
    /// Stored status names (`draft`, ...); empty: any status.
    pub statuses: Vec<&'static str>,
    /// Only campaigns holding this activity.
    pub activity: Option<Activity>,
    /// Only names starting with this text (exact characters, case
    /// included); empty: any name.
    pub name_prefix: String,
    /// Only campaigns whose window [starts_at, ends_at) overlaps
    /// [from, until); None: unbounded on that side.
    pub active_from: Option<Millis>,
    pub active_until: Option<Millis>,
}

impl CampaignFilter {
    /// The filter, checked: a prefix of at most `MAX_NAME_PREFIX`
    /// characters, a range that is not empty.
    pub fn new(
        mut statuses: Vec<&'static str>,
        activity: Option<Activity>,
        name_prefix: String,
        active_from: Option<Millis>,
        active_until: Option<Millis>,
    ) -> Result<Self, InvalidField> {
        if name_prefix.chars().count() > MAX_NAME_PREFIX {
            return Err(InvalidField::new(
                "name_prefix",
                format!("at most {MAX_NAME_PREFIX} characters"),
            ));
        }
        if let (Some(from), Some(until)) = (active_from, active_until)
            && from >= until
        {
            return Err(InvalidField::new(
                "active_until_ms",
                "must be after active_from_ms",
            ));
        }
        statuses.sort_unstable();
        statuses.dedup();
        Ok(Self {
            statuses,
            activity,
            name_prefix,
            active_from,
            active_until,
        })
    }

    /// The statuses as the store matches them (`status_set`).
    pub fn status_set(&self) -> String {
        status_set(&self.statuses)
    }

    /// The page token's scope: the merchant and the filter, canonically.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            self.statuses,
            self.activity.map(Activity::as_str),
            self.name_prefix,
            self.active_from,
            self.active_until,
        ])
        .to_string()
    }
}

/// Where a page of campaigns continues: after this (created_at,
/// campaign_id), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCursor {
    pub created_at: Millis,
    pub campaign_id: String,
}

/// Which of a campaign's winners to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WinnerFilter {
    /// Stored award status names; empty: any.
    pub statuses: Vec<&'static str>,
    /// Only prizes of this wheel slot.
    pub slot: Option<u32>,
    /// Only prizes won on this day of the campaign (`YYYY-MM-DD` in its
    /// time zone); empty: any day.
    pub day: String,
    /// Only prizes won in this store (a store code, checked by the
    /// caller).
    pub store: Option<String>,
}

impl WinnerFilter {
    /// The filter, checked: a day must be a calendar date.
    pub fn new(
        mut statuses: Vec<&'static str>,
        slot: Option<u32>,
        day: String,
        store: Option<String>,
    ) -> Result<Self, InvalidField> {
        if !day.is_empty() && !valid_day(&day) {
            return Err(InvalidField::new("day", DAY_FORMAT));
        }
        statuses.sort_unstable();
        statuses.dedup();
        Ok(Self {
            statuses,
            slot,
            day,
            store,
        })
    }

    /// The statuses as the store matches them (`status_set`).
    pub fn status_set(&self) -> String {
        status_set(&self.statuses)
    }

    /// The page token's scope: the merchant, the campaign and the filter.
    pub fn scope(&self, merchant_id: &str, campaign_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            campaign_id,
            self.statuses,
            self.slot,
            self.day,
            self.store
        ])
        .to_string()
    }
}

/// Where a page of winners continues: after this (won_at, award_id),
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinnerCursor {
    pub won_at: Millis,
    pub award_id: String,
}

/// Which of a campaign's votes to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VoteFilter {
    /// Only this candidate's votes.
    pub candidate: Option<String>,
    /// Only votes counted on this campaign day; empty: any.
    pub day: String,
    /// Only votes in this stored state (`accepted`, `invalidated`).
    pub status: Option<&'static str>,
}

impl VoteFilter {
    /// The filter, checked: a day must be a calendar date.
    pub fn new(
        candidate: Option<String>,
        day: String,
        status: Option<&'static str>,
    ) -> Result<Self, InvalidField> {
        if !day.is_empty() && !valid_day(&day) {
            return Err(InvalidField::new("day", DAY_FORMAT));
        }
        Ok(Self {
            candidate,
            day,
            status,
        })
    }

    /// The page token's scope: the merchant, the campaign and the filter.
    pub fn scope(&self, merchant_id: &str, campaign_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            campaign_id,
            self.candidate,
            self.day,
            self.status
        ])
        .to_string()
    }
}

/// Where a page of votes continues: after this vote id (a UUIDv7), newest
/// first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteCursor {
    pub vote_id: String,
}

/// Which of a campaign's red packets to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketFilter {
    /// Only packets of this stored kind (`group`, `campaign`); None: both.
    pub kind: Option<&'static str>,
    /// Only packets in these states as shown at the call; empty: any.
    pub states: Vec<PacketState>,
}

impl PacketFilter {
    /// The filter, canonical: states sorted, each once.
    pub fn new(kind: Option<&'static str>, mut states: Vec<PacketState>) -> Self {
        states.sort_unstable_by_key(|s| s.as_str());
        states.dedup();
        Self { kind, states }
    }

    /// The states as the store matches them (`status_set`).
    pub fn state_set(&self) -> String {
        status_set(&self.state_names())
    }

    fn state_names(&self) -> Vec<&'static str> {
        self.states.iter().map(|s| s.as_str()).collect()
    }

    /// The page token's scope: the merchant, the campaign and the filter.
    pub fn scope(&self, merchant_id: &str, campaign_id: &str) -> String {
        serde_json::json!([merchant_id, campaign_id, self.kind, self.state_names()]).to_string()
    }
}

/// Where a page of red packets continues: below this packet number (its
/// campaign's sequence, unique and growing with creation), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketCursor {
    pub packet_seq: i64,
}

/// Which of a campaign's shares to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareFilter {
    /// Only this player's shares (an openid); None: anyone's.
    pub sharer_id: Option<String>,
    /// Only root shares (depth 1): one per chain.
    pub roots_only: bool,
}

impl ShareFilter {
    /// The filter, checked: a sharer id of at most `MAX_SHARER_ID` bytes
    /// (trimmed; empty is anyone).
    pub fn new(sharer_id: &str, roots_only: bool) -> Result<Self, InvalidField> {
        let sharer = sharer_id.trim();
        if sharer.len() > MAX_SHARER_ID {
            return Err(InvalidField::new(
                "sharer_id",
                format!("at most {MAX_SHARER_ID} bytes (an openid)"),
            ));
        }
        Ok(Self {
            sharer_id: (!sharer.is_empty()).then(|| sharer.to_owned()),
            roots_only,
        })
    }

    /// The page token's scope: the merchant, the campaign and the filter.
    pub fn scope(&self, merchant_id: &str, campaign_id: &str) -> String {
        serde_json::json!([merchant_id, campaign_id, self.sharer_id, self.roots_only]).to_string()
    }
}

/// Where a page of shares continues: after this (created_at, token),
/// newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCursor {
    pub created_at: Millis,
    pub token: String,
}

/// Stored state names as the store matches them: `,draft,paused,`, or
/// empty for any.
fn status_set(statuses: &[&str]) -> String {
    if statuses.is_empty() {
        String::new()
    } else {
        format!(",{},", statuses.join(","))
    }
}

const DAY_FORMAT: &str = "a calendar date YYYY-MM-DD, e.g. 2026-12-07";

/// A calendar date `YYYY-MM-DD` between the years 2000 and 2999.
fn valid_day(day: &str) -> bool {
    day.parse::<jiff::civil::Date>()
        .is_ok_and(|d| (2000..=2999).contains(&d.year()))
}

/// The instants [start, end) of a calendar day in `time_zone` (23 or 25
/// hours long on a day the zone's offset changes).
pub fn day_range(day: &str, time_zone: &str) -> Result<(Millis, Millis), InvalidField> {
    let bad_day = || InvalidField::new("day", DAY_FORMAT);
    let date: jiff::civil::Date = day.parse().map_err(|_| bad_day())?;
    let tz = jiff::tz::TimeZone::get(time_zone)
        .map_err(|_| InvalidField::new("time_zone", "unknown IANA time zone"))?;
    let start = date.to_zoned(tz.clone()).map_err(|_| bad_day())?;
    let next = date
        .tomorrow()
        .and_then(|d| d.to_zoned(tz))
        .map_err(|_| bad_day())?;
    Ok((
        start.timestamp().as_millisecond(),
        next.timestamp().as_millisecond(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_checked_and_canonical() {
        let f = CampaignFilter::new(
            vec!["paused", "draft", "paused"],
            Some(Activity::Vote),
            "春节".into(),
            Some(10),
            Some(20),
        )
        .expect("ok");
        assert_eq!(f.statuses, vec!["draft", "paused"]);
        assert_eq!(f.status_set(), ",draft,paused,");
        let same = CampaignFilter::new(
            vec!["draft", "paused"],
            Some(Activity::Vote),
            "春节".into(),
            Some(10),
            Some(20),
        )
        .expect("ok");
        assert_eq!(f.scope("m"), same.scope("m"));
        assert_ne!(f.scope("m"), same.scope("n"));
        let other = CampaignFilter::new(vec!["draft"], None, "春节".into(), Some(10), Some(20));
        assert_ne!(f.scope("m"), other.expect("ok").scope("m"));
        assert_eq!(CampaignFilter::default().status_set(), "");

        let long = "长".repeat(MAX_NAME_PREFIX + 1);
        let e = CampaignFilter::new(vec![], None, long, None, None).expect_err("refused");
        assert_eq!(e.field, "name_prefix");
        let e = CampaignFilter::new(vec![], None, String::new(), Some(5), Some(5))
            .expect_err("refused");
        assert_eq!(e.field, "active_until_ms");
        assert!(
            CampaignFilter::new(vec![], None, "长".repeat(MAX_NAME_PREFIX), None, Some(1)).is_ok()
        );
    }

    #[test]
    fn packet_and_share_filters_are_canonical_and_checked() {
        use PacketState::*;
        let f = PacketFilter::new(Some("group"), vec![Expired, Open, Expired]);
        assert_eq!(f.states, vec![Expired, Open]);
        assert_eq!(f.state_set(), ",expired,open,");
        let same = PacketFilter::new(Some("group"), vec![Open, Expired]);
        assert_eq!(f.scope("m", "c"), same.scope("m", "c"));
        assert_ne!(f.scope("m", "c"), f.scope("m", "d"));
        assert_ne!(
            f.scope("m", "c"),
            PacketFilter::new(None, vec![Open, Expired]).scope("m", "c")
        );
        assert_eq!(PacketFilter::default().state_set(), "");

        let s = ShareFilter::new(" fan-1 ", true).expect("ok");
        assert_eq!(s.sharer_id.as_deref(), Some("fan-1"));
        assert_eq!(
            ShareFilter::new("", false).expect("ok"),
            ShareFilter::default()
        );
        assert_ne!(
            s.scope("m", "c"),
            ShareFilter::new("fan-1", false)
                .expect("ok")
                .scope("m", "c")
        );
        assert!(ShareFilter::new(&"x".repeat(MAX_SHARER_ID), false).is_ok());
        assert_eq!(
            ShareFilter::new(&"x".repeat(MAX_SHARER_ID + 1), false)
                .expect_err("refused")
                .field,
            "sharer_id"
        );
    }

    #[test]
    fn a_day_is_the_campaigns_own() {
        // Shanghai is UTC+8: its 2026-12-07 starts at 2026-12-06T16:00Z.
        let (start, end) = day_range("2026-12-07", "Asia/Shanghai").expect("ok");
        assert_eq!(start, 1_796_572_800_000);
        assert_eq!(end - start, 86_400_000);
        // A day the clocks go back is 25 hours long.
        let (s, e) = day_range("2026-11-01", "America/New_York").expect("ok");
        assert_eq!(e - s, 25 * 3_600_000);
        assert_eq!(
            day_range("2026-13-01", "Asia/Shanghai")
                .expect_err("refused")
                .field,
            "day"
        );
        assert_eq!(
            day_range("2026-12-07", "Mars/Olympus")
                .expect_err("refused")
                .field,
            "time_zone"
        );
        for bad in ["7 Dec", "9999-12-31", "1999-12-31", "2026-02-30"] {
            assert_eq!(
                WinnerFilter::new(vec![], None, bad.into(), None)
                    .expect_err("refused")
                    .field,
                "day"
            );
        }
        assert_eq!(
            VoteFilter::new(None, "2026-02-30".into(), None)
                .expect_err("refused")
                .field,
            "day"
        );
        let v =
            VoteFilter::new(Some("k".into()), "2026-12-07".into(), Some("accepted")).expect("ok");
        assert_ne!(v.scope("m", "c"), VoteFilter::default().scope("m", "c"));
        let w = WinnerFilter::new(vec!["won", "claimed"], Some(2), "2026-12-07".into(), None)
            .expect("ok");
        assert_eq!(w.status_set(), ",claimed,won,");
        assert_ne!(w.scope("m", "c"), w.scope("m", "d"));
    }
}
