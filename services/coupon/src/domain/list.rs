//! What the coupon service's list RPCs (issue 24) may ask for: their
//! filters, checked, the scope a page token is bound to (the merchant and
//! every filter, written canonically, so a token continues only the
//! request that made it: `platform::domain::paging`), the keyset cursor,
//! and how a coupon's state is derived. Pure; the store turns a filter
//! into SQL (`store::list`).

use platform::domain::{InvalidField, Millis, paging::PageLimits};
use serde::{Deserialize, Serialize};

use super::template::DiscountKind;

/// ListTemplates: 50 a page unless asked, at most 200.
pub const TEMPLATE_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};
/// ListCodePools: 50 a page unless asked, at most 200.
pub const POOL_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};
/// ListBulkIssueJobs: 50 a page unless asked, at most 200.
pub const JOB_PAGES: PageLimits = PageLimits {
    default: 50,
    max: 200,
};
/// ListCoupons: 100 a page unless asked, at most 1,000.
pub const COUPON_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};
/// ListRedemptions: 100 a page unless asked, at most 1,000.
pub const REDEMPTION_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// The longest `name_prefix`, in characters (a template name's limit).
pub const MAX_NAME_PREFIX: usize = 100;

/// Where a page continues: after the row with this (time, id), newest
/// first. Every coupon list sorts by a time and a unique id (created_at,
/// issued_at or redeemed_at, then the row's UUID); the token says which
/// list it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub at: Millis,
    pub id: String,
}

impl Cursor {
    /// The store's keyset arguments: (has a cursor, time, id); the first
    /// page reads from the top.
    pub fn keyset(after: Option<&Cursor>) -> (i64, Millis, String) {
        match after {
            Some(c) => (1, c.at, c.id.clone()),
            None => (0, 0, String::new()),
        }
    }
}

/// Which of a merchant's templates to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateFilter {
    /// Only names starting with this text (exact characters, case
    /// included); empty: any.
    pub name_prefix: String,
    /// Only templates of this kind.
    pub kind: Option<DiscountKind>,
}

impl TemplateFilter {
    /// The filter, checked: a prefix of at most `MAX_NAME_PREFIX`
    /// characters.
    pub fn new(name_prefix: String, kind: Option<DiscountKind>) -> Result<Self, InvalidField> {
        if name_prefix.chars().count() > MAX_NAME_PREFIX {
            return Err(InvalidField::new(
                "name_prefix",
                format!("at most {MAX_NAME_PREFIX} characters"),
            ));
        }
        Ok(Self { name_prefix, kind })
    }

    /// The page token's scope: the merchant and the filter, canonically.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            self.name_prefix,
            self.kind.map(DiscountKind::as_str)
        ])
        .to_string()
    }
}

/// The page token's scope of ListCodePools (no filters).
pub fn pool_scope(merchant_id: &str) -> String {
    serde_json::json!([merchant_id]).to_string()
}

/// Which of a merchant's bulk issue jobs to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs of this template (a canonical UUID).
    pub template_id: Option<String>,
    /// Only jobs in this stored state (`RUNNING`, `DONE`, `FAILED`).
    pub state: Option<&'static str>,
}

impl JobFilter {
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([merchant_id, self.template_id, self.state]).to_string()
    }
}

/// A coupon's state as staff see it, derived when read: REDEEMED while it
/// has a live redemption, EXPIRED once past its validity unredeemed,
/// ISSUED otherwise (not yet valid counts as ISSUED).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponState {
    Issued,
    Redeemed,
    Expired,
}

impl CouponState {
    /// The state of a coupon valid until `valid_until`, redeemed or not,
    /// at `now`. `store::list` writes the same rule in SQL.
    pub fn of(redeemed: bool, valid_until: Millis, now: Millis) -> Self {
        if redeemed {
            Self::Redeemed
        } else if valid_until <= now {
            Self::Expired
        } else {
            Self::Issued
        }
    }

    /// The name `store::list`'s SQL derives.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Redeemed => "redeemed",
            Self::Expired => "expired",
        }
    }
}

/// How a coupon was issued (`coupon.source`).
pub const SOURCES: [&str; 4] = ["claim", "prize", "bulk", "targeted"];

/// Which coupons of one template to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponFilter {
    /// The template (a canonical UUID).
    pub template_id: String,
    /// Only coupons in this state, as of the call.
    pub state: Option<CouponState>,
    /// Only coupons of this source (one of `SOURCES`).
    pub source: Option<&'static str>,
}

impl CouponFilter {
    /// The filter, checked: a source is one of `SOURCES` (empty: any).
    pub fn new(
        template_id: String,
        state: Option<CouponState>,
        source: &str,
    ) -> Result<Self, InvalidField> {
        let source = match source.trim() {
            "" => None,
            s => Some(SOURCES.into_iter().find(|k| *k == s).ok_or_else(|| {
                InvalidField::new(
                    "source",
                    "\"claim\", \"prize\", \"bulk\", \"targeted\" or empty (any)",
                )
            })?),
        };
        Ok(Self {
            template_id,
            state,
            source,
        })
    }

    /// The page token's scope: the merchant, the template and the filter.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            self.template_id,
            self.state.map(CouponState::as_str),
            self.source
        ])
        .to_string()
    }
}

/// Which of a merchant's redemptions to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionFilter {
    /// Only redemptions at this store; empty: any. A POS key's is forced
    /// to its own store (`RedemptionFilter::for_till`).
    pub store_id: String,
    /// Only redemptions of coupons of this template (a canonical UUID).
    pub template_id: Option<String>,
    /// Include reversed redemptions.
    pub include_reversed: bool,
    /// Only redemptions made in [from, until); None: open on that side.
    pub from: Option<Millis>,
    pub until: Option<Millis>,
}

impl RedemptionFilter {
    /// The filter, checked: a range that is not empty.
    pub fn new(
        store_id: &str,
        template_id: Option<String>,
        include_reversed: bool,
        from: Option<Millis>,
        until: Option<Millis>,
    ) -> Result<Self, InvalidField> {
        if let (Some(from), Some(until)) = (from, until)
            && from >= until
        {
            return Err(InvalidField::new("until_ms", "must be after from_ms"));
        }
        Ok(Self {
            store_id: store_id.trim().to_owned(),
            template_id,
            include_reversed,
            from,
            until,
        })
    }

    /// The filter a till may use: its own store only. An empty `store_id`
    /// becomes the till's; another store is refused (None).
    pub fn for_till(mut self, own_store: &str) -> Option<Self> {
        if self.store_id.is_empty() {
            self.store_id = own_store.to_owned();
        }
        (self.store_id == own_store).then_some(self)
    }

    /// The page token's scope: the merchant and the filter as applied.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            self.store_id,
            self.template_id,
            self.include_reversed,
            self.from,
            self.until
        ])
        .to_string()
    }
}

/// A bound of a time range: 0 is open, a negative instant a mistake.
pub fn bound(field: &'static str, ms: i64) -> Result<Option<Millis>, InvalidField> {
    match ms {
        0 => Ok(None),
        ms if ms < 0 => Err(InvalidField::new(field, "must not be negative (0 = open)")),
        ms => Ok(Some(ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_filter_is_checked_and_scoped() {
        let f = TemplateFilter::new("春节".into(), Some(DiscountKind::AmountOff)).expect("ok");
        assert_eq!(
            f.scope("m"),
            TemplateFilter::new("春节".into(), Some(DiscountKind::AmountOff))
                .expect("ok")
                .scope("m")
        );
        assert_ne!(f.scope("m"), f.scope("n"), "another merchant");
        assert_ne!(
            f.scope("m"),
            TemplateFilter::new("春节".into(), None)
                .expect("ok")
                .scope("m"),
            "another kind"
        );
        assert_ne!(
            f.scope("m"),
            TemplateFilter::new("春".into(), Some(DiscountKind::AmountOff))
                .expect("ok")
                .scope("m"),
            "another prefix"
        );
        let e = TemplateFilter::new("长".repeat(MAX_NAME_PREFIX + 1), None).expect_err("refused");
        assert_eq!(e.field, "name_prefix");
        assert!(TemplateFilter::new("长".repeat(MAX_NAME_PREFIX), None).is_ok());
        assert_ne!(pool_scope("m"), pool_scope("n"));
    }

    #[test]
    fn job_scopes_differ_by_every_filter() {
        let all = JobFilter::default();
        let t = JobFilter {
            template_id: Some("t".into()),
            state: None,
        };
        let done = JobFilter {
            template_id: None,
            state: Some("DONE"),
        };
        let scopes = [
            all.scope("m"),
            t.scope("m"),
            done.scope("m"),
            all.scope("n"),
        ];
        for (i, a) in scopes.iter().enumerate() {
            for b in &scopes[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn a_coupons_state_is_derived_from_redemption_and_validity() {
        assert_eq!(CouponState::of(true, 10, 20), CouponState::Redeemed);
        assert_eq!(CouponState::of(false, 10, 20), CouponState::Expired);
        assert_eq!(
            CouponState::of(false, 20, 20),
            CouponState::Expired,
            "until is exclusive"
        );
        assert_eq!(CouponState::of(false, 21, 20), CouponState::Issued);
        assert_eq!(CouponState::of(true, 21, 20), CouponState::Redeemed);
    }

    #[test]
    fn a_coupon_filter_knows_the_sources() {
        for s in SOURCES {
            let f = CouponFilter::new("t".into(), None, s).expect("a source");
            assert_eq!(f.source, Some(s));
        }
        assert_eq!(
            CouponFilter::new("t".into(), None, " ")
                .expect("any")
                .source,
            None
        );
        let e = CouponFilter::new("t".into(), None, "gift").expect_err("refused");
        assert_eq!(e.field, "source");
        let f = CouponFilter::new("t".into(), Some(CouponState::Expired), "bulk").expect("ok");
        let g = CouponFilter::new("t".into(), Some(CouponState::Issued), "bulk").expect("ok");
        let h = CouponFilter::new("u".into(), Some(CouponState::Expired), "bulk").expect("ok");
        assert_ne!(f.scope("m"), g.scope("m"));
        assert_ne!(f.scope("m"), h.scope("m"));
        assert_ne!(f.scope("m"), f.scope("n"));
    }

    #[test]
    fn a_till_lists_its_own_store_only() {
        let f = RedemptionFilter::new("", None, true, None, None).expect("ok");
        let own = f.clone().for_till("S1").expect("forced to its store");
        assert_eq!(own.store_id, "S1");
        let same = RedemptionFilter::new(" S1 ", None, true, None, None)
            .expect("ok")
            .for_till("S1")
            .expect("its own");
        assert_eq!(own.scope("m"), same.scope("m"));
        assert!(
            RedemptionFilter::new("S2", None, true, None, None)
                .expect("ok")
                .for_till("S1")
                .is_none()
        );
        assert_ne!(f.scope("m"), own.scope("m"));
        let e = RedemptionFilter::new("", None, true, Some(5), Some(5)).expect_err("refused");
        assert_eq!(e.field, "until_ms");
        let narrow =
            RedemptionFilter::new("", Some("t".into()), false, Some(1), Some(9)).expect("ok");
        assert_ne!(narrow.scope("m"), f.scope("m"));
        assert_eq!(bound("from_ms", -1).expect_err("refused").field, "from_ms");
        assert_eq!(bound("from_ms", 0).expect("open"), None);
        assert_eq!(bound("from_ms", 7).expect("ok"), Some(7));
    }

    #[test]
    fn a_cursor_gives_the_keyset_arguments() {
        assert_eq!(Cursor::keyset(None), (0, 0, String::new()));
        let c = Cursor {
            at: 5,
            id: "x".into(),
        };
        assert_eq!(Cursor::keyset(Some(&c)), (1, 5, "x".into()));
    }
}
