//! Templates and their rules: what a coupon is worth for an order, when and
//! where it may be used. Pure functions, integer cents.

use platform::domain::{InvalidField, Millis};

const DAY_MS: Millis = 86_400_000;
/// Upper bound for any amount, so sums and products stay far from overflow.
pub const MAX_CENTS: i64 = 10_000_000_000;
pub const MAX_SUPPLY: i64 = 10_000_000;
pub const MAX_VALID_DAYS: u32 = 3650;
pub const MAX_STORES: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscountKind {
    AmountOff,
    PercentOff,
    SpendThreshold,
    GiftItem,
}

impl DiscountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmountOff => "AMOUNT_OFF",
            Self::PercentOff => "PERCENT_OFF",
            Self::SpendThreshold => "SPEND_THRESHOLD",
            Self::GiftItem => "GIFT_ITEM",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::AmountOff,
            Self::PercentOff,
            Self::SpendThreshold,
            Self::GiftItem,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// When a coupon may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// `[from, until)` for every coupon of the template.
    Fixed { from: Millis, until: Millis },
    /// From the moment of issue, for this many days.
    DaysFromIssue(u32),
}

impl Validity {
    /// The window of a coupon issued at `issued_at`.
    pub fn window(self, issued_at: Millis) -> (Millis, Millis) {
        match self {
            Self::Fixed { from, until } => (from, until),
            Self::DaysFromIssue(days) => (issued_at, issued_at + i64::from(days) * DAY_MS),
        }
    }
}

/// A template as the admin sent it, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawTemplate {
    pub name: String,
    pub kind: Option<DiscountKind>,
    pub amount_off_cents: i64,
    pub percent_off: u32,
    pub max_discount_cents: i64,
    pub min_spend_cents: i64,
    pub gift_item: String,
    pub valid_from: Millis,
    pub valid_until: Millis,
    pub valid_days: u32,
    pub total_supply: i64,
    pub per_user_limit: u32,
    pub store_ids: Vec<String>,
}

/// A valid template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSpec {
    pub name: String,
    pub kind: DiscountKind,
    pub amount_off_cents: i64,
    pub percent_off: u32,
    /// 0 = no cap (percent off only).
    pub max_discount_cents: i64,
    /// 0 = no minimum.
    pub min_spend_cents: i64,
    pub gift_item: String,
    pub validity: Validity,
    pub total_supply: i64,
    /// 0 = no limit.
    pub per_user_limit: u32,
    /// Empty = every store of the merchant.
    pub store_ids: Vec<String>,
}

fn bad(field: &'static str, reason: impl Into<String>) -> InvalidField {
    InvalidField::new(field, reason)
}

fn cents(field: &'static str, v: i64) -> Result<i64, InvalidField> {
    if !(0..=MAX_CENTS).contains(&v) {
        return Err(bad(field, format!("must be 0..={MAX_CENTS} cents")));
    }
    Ok(v)
}

impl TemplateSpec {
    /// Checks every field; the error names the first bad one. Fields that
    /// do not apply to the kind must be left empty, so a template never
    /// carries a number that silently means nothing.
    pub fn validate(raw: RawTemplate) -> Result<Self, InvalidField> {
        let name = raw.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(bad("name", "1..=100 characters"));
        }
        let kind = raw.kind.ok_or_else(|| bad("kind", "is required"))?;
        let amount = cents("amount_off_cents", raw.amount_off_cents)?;
        let cap = cents("max_discount_cents", raw.max_discount_cents)?;
        let min_spend = cents("min_spend_cents", raw.min_spend_cents)?;
        let gift = raw.gift_item.trim().to_owned();
        let uses_amount = matches!(kind, DiscountKind::AmountOff | DiscountKind::SpendThreshold);
        if uses_amount && amount == 0 {
            return Err(bad("amount_off_cents", "must be > 0 for this kind"));
        }
        if !uses_amount && amount != 0 {
            return Err(bad(
                "amount_off_cents",
                "only for AMOUNT_OFF and SPEND_THRESHOLD",
            ));
        }
        if kind == DiscountKind::PercentOff {
            if !(1..=100).contains(&raw.percent_off) {
                return Err(bad("percent_off", "must be 1..=100"));
            }
        } else if raw.percent_off != 0 || cap != 0 {
            let field = if raw.percent_off != 0 {
                "percent_off"
            } else {
                "max_discount_cents"
            };
            return Err(bad(field, "only for PERCENT_OFF"));
        }
        if kind == DiscountKind::SpendThreshold {
            if min_spend == 0 {
                return Err(bad("min_spend_cents", "must be > 0 for SPEND_THRESHOLD"));
            }
            if amount > min_spend {
                return Err(bad(
                    "amount_off_cents",
                    "cannot exceed min_spend_cents for SPEND_THRESHOLD",
                ));
            }
        }
        if kind == DiscountKind::GiftItem {
            if gift.is_empty() || gift.chars().count() > 64 {
                return Err(bad("gift_item", "1..=64 characters for GIFT_ITEM"));
            }
        } else if !gift.is_empty() {
            return Err(bad("gift_item", "only for GIFT_ITEM"));
        }
        let validity = match (raw.valid_days, raw.valid_from, raw.valid_until) {
            (0, 0, 0) => {
                return Err(bad(
                    "valid_days",
                    "set valid_days, or valid_from_ms and valid_until_ms",
                ));
            }
            (0, from, until) => {
                if from <= 0 {
                    return Err(bad("valid_from_ms", "must be a positive instant"));
                }
                if until <= from {
                    return Err(bad("valid_until_ms", "must be after valid_from_ms"));
                }
                Validity::Fixed { from, until }
            }
            (days, 0, 0) if days <= MAX_VALID_DAYS => Validity::DaysFromIssue(days),
            (days, 0, 0) => {
                return Err(bad(
                    "valid_days",
                    format!("at most {MAX_VALID_DAYS} (got {days})"),
                ));
            }
            _ => {
                return Err(bad(
                    "valid_days",
                    "either valid_days or a fixed window, not both",
                ));
            }
        };
        if !(1..=MAX_SUPPLY).contains(&raw.total_supply) {
            return Err(bad("total_supply", format!("must be 1..={MAX_SUPPLY}")));
        }
        if raw.store_ids.len() > MAX_STORES {
            return Err(bad("store_ids", format!("at most {MAX_STORES} stores")));
        }
        let mut stores = Vec::with_capacity(raw.store_ids.len());
        for s in raw.store_ids {
            if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(bad(
                    "store_ids",
                    "each store id is 1..=64 printable ASCII characters",
                ));
            }
            if stores.contains(&s) {
                return Err(bad("store_ids", format!("{s:?} is listed twice")));
            }
            stores.push(s);
        }
        Ok(Self {
            name,
            kind,
            amount_off_cents: amount,
            percent_off: raw.percent_off,
            max_discount_cents: cap,
            min_spend_cents: min_spend,
            gift_item: gift,
            validity,
            total_supply: raw.total_supply,
            per_user_limit: raw.per_user_limit,
            store_ids: stores,
        })
    }

    pub fn valid_at_store(&self, store_id: &str) -> bool {
        self.store_ids.is_empty() || self.store_ids.iter().any(|s| s == store_id)
    }

    /// The discount for an order, or why the order does not qualify. Never
    /// more than the order; percentages round down to the cent.
    pub fn discount(&self, order: &Order) -> Result<i64, Refusal> {
        if order.amount_cents < self.min_spend_cents {
            return Err(Refusal::MinSpendNotMet);
        }
        let raw = match self.kind {
            DiscountKind::AmountOff | DiscountKind::SpendThreshold => self.amount_off_cents,
            DiscountKind::PercentOff => {
                let pct = i128::from(order.amount_cents) * i128::from(self.percent_off) / 100;
                let pct = i64::try_from(pct).unwrap_or(i64::MAX);
                if self.max_discount_cents > 0 {
                    pct.min(self.max_discount_cents)
                } else {
                    pct
                }
            }
            DiscountKind::GiftItem => {
                if !order
                    .items
                    .iter()
                    .any(|(item, qty)| *qty > 0 && *item == self.gift_item)
                {
                    return Err(Refusal::GiftItemMissing);
                }
                0
            }
        };
        Ok(raw.min(order.amount_cents))
    }
}

/// An order at a till, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub amount_cents: i64,
    pub items: Vec<(String, u32)>,
}

impl Order {
    pub fn validate(amount_cents: i64, items: Vec<(String, u32)>) -> Result<Self, InvalidField> {
        if !(0..=MAX_CENTS).contains(&amount_cents) {
            return Err(bad(
                "order_amount_cents",
                format!("must be 0..={MAX_CENTS} cents"),
            ));
        }
        if items.len() > 500 {
            return Err(bad("items", "at most 500 order lines"));
        }
        if items.iter().any(|(i, _)| i.is_empty() || i.len() > 64) {
            return Err(bad("items", "each item is 1..=64 characters"));
        }
        Ok(Self {
            amount_cents,
            items,
        })
    }
}

/// Why a coupon cannot be used for an order, as the till is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    Mistyped,
    NotYetValid,
    Expired,
    WrongStore,
    MinSpendNotMet,
    AlreadyRedeemed,
    GiftItemMissing,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Self::NotFound => "no such coupon",
            Self::Mistyped => "the check character does not match: a character was mistyped",
            Self::NotYetValid => "the coupon is not valid yet",
            Self::Expired => "the coupon has expired",
            Self::WrongStore => "the coupon is not valid at this store",
            Self::MinSpendNotMet => "the order does not reach the minimum spend",
            Self::AlreadyRedeemed => "the coupon is already redeemed",
            Self::GiftItemMissing => "the order does not contain the gift item",
        }
    }
}

/// The state of one coupon that matters at a till.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponUse<'a> {
    pub spec: &'a TemplateSpec,
    pub valid_from: Millis,
    pub valid_until: Millis,
    pub redeemed: bool,
}

/// Whether this coupon can be used for `order` at `store_id` at `now`, and
/// for what discount. Checks in a fixed order, so the answer is stable:
/// redeemed, not yet valid, expired, store, then the order.
pub fn check_use(
    coupon: &CouponUse<'_>,
    store_id: &str,
    order: &Order,
    now: Millis,
) -> Result<i64, Refusal> {
    if coupon.redeemed {
        return Err(Refusal::AlreadyRedeemed);
    }
    if now < coupon.valid_from {
        return Err(Refusal::NotYetValid);
    }
    if now >= coupon.valid_until {
        return Err(Refusal::Expired);
    }
    if !coupon.spec.valid_at_store(store_id) {
        return Err(Refusal::WrongStore);
    }
    coupon.spec.discount(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: DiscountKind) -> RawTemplate {
        RawTemplate {
            name: "Spring".into(),
            kind: Some(kind),
            amount_off_cents: match kind {
                DiscountKind::AmountOff | DiscountKind::SpendThreshold => 500,
                _ => 0,
            },
            percent_off: if kind == DiscountKind::PercentOff {
                15
            } else {
                0
            },
            max_discount_cents: 0,
            min_spend_cents: if kind == DiscountKind::SpendThreshold {
                5000
            } else {
                0
            },
            gift_item: if kind == DiscountKind::GiftItem {
                "TOTE-BAG".into()
            } else {
                String::new()
            },
            valid_days: 30,
            total_supply: 100,
            ..RawTemplate::default()
        }
    }

    fn spec(kind: DiscountKind) -> TemplateSpec {
        TemplateSpec::validate(raw(kind)).expect("valid")
    }

    fn order(cents: i64) -> Order {
        Order::validate(cents, vec![]).expect("valid order")
    }

    fn field_of(r: RawTemplate) -> &'static str {
        TemplateSpec::validate(r)
            .expect_err("must be refused")
            .field
    }

    #[test]
    fn amount_off_never_exceeds_the_order() {
        let s = spec(DiscountKind::AmountOff);
        assert_eq!(s.discount(&order(10_000)), Ok(500));
        assert_eq!(s.discount(&order(500)), Ok(500));
        assert_eq!(s.discount(&order(499)), Ok(499));
        assert_eq!(s.discount(&order(0)), Ok(0));
    }

    #[test]
    fn percent_off_rounds_down_to_the_cent_and_respects_the_cap() {
        let s = spec(DiscountKind::PercentOff); // 15 %
        assert_eq!(s.discount(&order(1000)), Ok(150));
        assert_eq!(s.discount(&order(999)), Ok(149)); // 149.85 -> 149
        assert_eq!(s.discount(&order(6)), Ok(0)); // 0.9 -> 0
        assert_eq!(s.discount(&order(7)), Ok(1)); // 1.05 -> 1
        let mut r = raw(DiscountKind::PercentOff);
        r.max_discount_cents = 2000;
        let capped = TemplateSpec::validate(r).expect("valid");
        assert_eq!(capped.discount(&order(10_000)), Ok(1500));
        assert_eq!(capped.discount(&order(13_333)), Ok(1999));
        assert_eq!(capped.discount(&order(13_334)), Ok(2000));
        assert_eq!(capped.discount(&order(1_000_000)), Ok(2000));
        let mut all = raw(DiscountKind::PercentOff);
        all.percent_off = 100;
        let free = TemplateSpec::validate(all).expect("valid");
        assert_eq!(free.discount(&order(12_345)), Ok(12_345));
        assert_eq!(free.discount(&order(MAX_CENTS)), Ok(MAX_CENTS));
    }

    #[test]
    fn spend_threshold_needs_the_minimum() {
        let s = spec(DiscountKind::SpendThreshold); // 500 off 5000
        assert_eq!(s.discount(&order(4999)), Err(Refusal::MinSpendNotMet));
        assert_eq!(s.discount(&order(5000)), Ok(500));
        assert_eq!(s.discount(&order(80_000)), Ok(500));
    }

    #[test]
    fn min_spend_applies_to_other_kinds_too() {
        let mut r = raw(DiscountKind::AmountOff);
        r.min_spend_cents = 1000;
        let s = TemplateSpec::validate(r).expect("valid");
        assert_eq!(s.discount(&order(999)), Err(Refusal::MinSpendNotMet));
        assert_eq!(s.discount(&order(1000)), Ok(500));
    }

    #[test]
    fn gift_item_needs_the_item_in_the_order() {
        let s = spec(DiscountKind::GiftItem);
        assert_eq!(s.discount(&order(100)), Err(Refusal::GiftItemMissing));
        let with = Order::validate(100, vec![("TOTE-BAG".into(), 1)]).expect("valid");
        assert_eq!(s.discount(&with), Ok(0));
        let zero = Order::validate(100, vec![("TOTE-BAG".into(), 0)]).expect("valid");
        assert_eq!(s.discount(&zero), Err(Refusal::GiftItemMissing));
    }

    #[test]
    fn check_use_order_of_refusals() {
        let s = spec(DiscountKind::AmountOff);
        let mut stores = raw(DiscountKind::AmountOff);
        stores.store_ids = vec!["S1".into(), "S2".into()];
        let only = TemplateSpec::validate(stores).expect("valid");
        let mut c = CouponUse {
            spec: &s,
            valid_from: 1000,
            valid_until: 2000,
            redeemed: false,
        };
        let o = order(900);
        assert_eq!(check_use(&c, "S9", &o, 999), Err(Refusal::NotYetValid));
        assert_eq!(check_use(&c, "S9", &o, 1000), Ok(500));
        assert_eq!(check_use(&c, "S9", &o, 1999), Ok(500));
        assert_eq!(check_use(&c, "S9", &o, 2000), Err(Refusal::Expired));
        c.redeemed = true;
        assert_eq!(check_use(&c, "S9", &o, 1500), Err(Refusal::AlreadyRedeemed));
        c.redeemed = false;
        c.spec = &only;
        assert_eq!(check_use(&c, "S9", &o, 1500), Err(Refusal::WrongStore));
        assert_eq!(check_use(&c, "S2", &o, 1500), Ok(500));
    }

    #[test]
    fn validity_windows() {
        assert_eq!(Validity::DaysFromIssue(2).window(10), (10, 10 + 2 * DAY_MS));
        assert_eq!(Validity::Fixed { from: 5, until: 9 }.window(1_000), (5, 9));
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut r = raw(DiscountKind::AmountOff);
        r.name = " ".into();
        assert_eq!(field_of(r), "name");
        let mut r = raw(DiscountKind::AmountOff);
        r.kind = None;
        assert_eq!(field_of(r), "kind");
        let mut r = raw(DiscountKind::AmountOff);
        r.amount_off_cents = 0;
        assert_eq!(field_of(r), "amount_off_cents");
        let mut r = raw(DiscountKind::AmountOff);
        r.amount_off_cents = -1;
        assert_eq!(field_of(r), "amount_off_cents");
        let mut r = raw(DiscountKind::PercentOff);
        r.amount_off_cents = 5;
        assert_eq!(field_of(r), "amount_off_cents");
        let mut r = raw(DiscountKind::PercentOff);
        r.percent_off = 101;
        assert_eq!(field_of(r), "percent_off");
        let mut r = raw(DiscountKind::PercentOff);
        r.percent_off = 0;
        assert_eq!(field_of(r), "percent_off");
        let mut r = raw(DiscountKind::AmountOff);
        r.percent_off = 5;
        assert_eq!(field_of(r), "percent_off");
        let mut r = raw(DiscountKind::AmountOff);
        r.max_discount_cents = 5;
        assert_eq!(field_of(r), "max_discount_cents");
        let mut r = raw(DiscountKind::SpendThreshold);
        r.min_spend_cents = 0;
        assert_eq!(field_of(r), "min_spend_cents");
        let mut r = raw(DiscountKind::SpendThreshold);
        r.amount_off_cents = 6000;
        assert_eq!(field_of(r), "amount_off_cents");
        let mut r = raw(DiscountKind::GiftItem);
        r.gift_item = String::new();
        assert_eq!(field_of(r), "gift_item");
        let mut r = raw(DiscountKind::AmountOff);
        r.gift_item = "X".into();
        assert_eq!(field_of(r), "gift_item");
        let mut r = raw(DiscountKind::AmountOff);
        r.valid_days = 0;
        assert_eq!(field_of(r), "valid_days");
        let mut r = raw(DiscountKind::AmountOff);
        r.valid_days = MAX_VALID_DAYS + 1;
        assert_eq!(field_of(r), "valid_days");
        let mut r = raw(DiscountKind::AmountOff);
        r.valid_from = 100;
        assert_eq!(field_of(r), "valid_days");
        let mut r = raw(DiscountKind::AmountOff);
        (r.valid_days, r.valid_from, r.valid_until) = (0, 100, 100);
        assert_eq!(field_of(r), "valid_until_ms");
        let mut r = raw(DiscountKind::AmountOff);
        (r.valid_days, r.valid_from, r.valid_until) = (0, -5, 100);
        assert_eq!(field_of(r), "valid_from_ms");
        let mut r = raw(DiscountKind::AmountOff);
        r.total_supply = 0;
        assert_eq!(field_of(r), "total_supply");
        let mut r = raw(DiscountKind::AmountOff);
        r.total_supply = MAX_SUPPLY + 1;
        assert_eq!(field_of(r), "total_supply");
        let mut r = raw(DiscountKind::AmountOff);
        r.store_ids = vec!["A".into(), "A".into()];
        assert_eq!(field_of(r), "store_ids");
        let mut r = raw(DiscountKind::AmountOff);
        r.store_ids = vec![String::new()];
        assert_eq!(field_of(r), "store_ids");
        assert_eq!(
            Order::validate(-1, vec![]).expect_err("negative").field,
            "order_amount_cents"
        );
        assert_eq!(
            Order::validate(1, vec![(String::new(), 1)])
                .expect_err("empty item")
                .field,
            "items"
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            DiscountKind::AmountOff,
            DiscountKind::PercentOff,
            DiscountKind::SpendThreshold,
            DiscountKind::GiftItem,
        ] {
            assert_eq!(DiscountKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(DiscountKind::parse("BOGUS"), None);
    }
}
