//! Coupon storage: every coupon transaction, written once over the
//! campaign crate's `Db` seam (SQLite or PostgreSQL).
//!
//! Scarce things are guarded in SQL in the same transaction as the effect:
//! template supply (`issued < total_supply`), the per-user limit (a guarded
//! upsert), one live redemption per coupon (a guarded update on
//! `coupon.redemption_id` plus a partial UNIQUE index), one coupon per won
//! prize (UNIQUE `source_id`), one hand-out per pool code (a guarded update,
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL).

mod bulk;
mod codes;
pub mod figures;
mod pool;
mod pool_postgres;
mod target;

use std::sync::Arc;

use platform::domain::{
    Millis,
    events::{CouponIssued, CouponRedeemed, EventDraft, EventType},
    idempotency::Idempotency,
    paging::PageTokens,
};
use platform::store::{
    Outcome, StoreError, claim_key,
    db::{Backend, Db, DbRow, DbTx, Value, fetch_one},
    finish, new_id,
    rows::{Table, Ty},
};
use rand::{TryRngCore, rngs::OsRng};
use thiserror::Error;

use crate::domain::{
    CouponRejection, Refusal,
    code::{CouponCode, RANDOM_LEN},
    template::{CouponUse, DiscountKind, Order, TemplateSpec, Validity},
    vault::CodeVault,
};

pub use bulk::{BATCH, JobRecord, JobState, MAX_JOB};
pub use pool::{MAX_IMPORT, PoolRecord};
pub use target::{TargetJobRecord, TargetRow};

/// `args![a, b]`: the parameter list for `$1, $2`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { vec![$(platform::store::db::Value::from($v)),*] };
}
pub(crate) use args;

#[derive(Debug, Error)]
pub enum CouponError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Rejected(#[from] CouponRejection),
}

impl From<Refusal> for CouponError {
    fn from(r: Refusal) -> Self {
        Self::Rejected(CouponRejection::Unusable(r))
    }
}

type Result<T, E = CouponError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub template_id: String,
    pub merchant_id: String,
    pub spec: TemplateSpec,
    pub issued: i64,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Claim,
    Prize,
    Bulk,
    /// Targeted issue: one coupon per openid of a job's list.
    Targeted,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claim => "claim",
            Self::Prize => "prize",
            Self::Bulk => "bulk",
            Self::Targeted => "targeted",
        }
    }
}

/// A coupon as its owner sees it; or a supplier code handed out as a prize
/// (`pool_code` set, no template).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponRecord {
    pub coupon_id: String,
    /// The template, or the pool of a supplier code.
    pub template_id: String,
    /// Normalised code (empty for a supplier code).
    pub code: String,
    pub redeemed: bool,
    pub valid_from: Millis,
    pub valid_until: Millis,
    pub issued_at: Millis,
    pub source: String,
    pub pool_code: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRecord {
    pub redemption_id: String,
    pub coupon_id: String,
    pub store_id: String,
    pub order_amount_cents: i64,
    pub discount_cents: i64,
    pub order_ref: String,
    pub redeemed_at: Millis,
    pub reversal_id: Option<String>,
    pub reversed_at: Option<Millis>,
    pub code_tail: String,
}

/// What a till may use: the answer of a validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub discount_cents: i64,
    pub template_id: String,
    pub gift_item: String,
}

/// Who is redeeming: the till's merchant, store and key.
#[derive(Debug, Clone)]
pub struct Till<'a> {
    pub merchant_id: &'a str,
    pub store_id: &'a str,
    pub key_id: &'a str,
}

/// A POS redemption to make: at which till, which coupon, for which order.
/// (No `Debug`: the code is a secret.)
#[derive(Clone)]
pub struct RedeemCommand {
    pub merchant_id: String,
    pub store_id: String,
    pub key_id: String,
    pub code: CouponCode,
    pub order: Order,
    pub order_ref: String,
}

impl RedeemCommand {
    pub fn till(&self) -> Till<'_> {
        Till {
            merchant_id: &self.merchant_id,
            store_id: &self.store_id,
            key_id: &self.key_id,
        }
    }
}

/// A won prize to deliver (`CouponStore::deliver_prize`).
#[derive(Debug, Clone, Copy)]
pub struct PrizeOrder<'a> {
    /// The draw or award id: one delivery per source, ever.
    pub source_id: &'a str,
    pub merchant_id: &'a str,
    pub player_id: &'a str,
    pub kind: PrizeKind,
    /// The template (COUPON) or pool (TOPUP_CODE).
    pub reference: &'a str,
    /// The campaign that gave it, when the caller says.
    pub campaign_id: Option<&'a str>,
}

/// A prize coupon a campaign gave, with its redemptions (for the
/// campaign's statistics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignPrizeCoupon {
    pub source_id: String,
    pub issued_at: Millis,
    /// Oldest first, reversed ones included.
    pub redeemed_at: Vec<Millis>,
}

/// Most prize coupons per `campaign_prize_coupons` page.
pub const MAX_PRIZE_COUPON_PAGE: u32 = 1000;

#[derive(Clone)]
pub struct CouponStore<D: Db> {
    db: D,
    /// Digests and seals codes: none is stored in the clear.
    vault: Arc<CodeVault>,
    /// PostgreSQL only (`redeem_batch_postgres.rs`): SQLite's writer already
    /// commits waiting transactions together.
    redeem_batches: Option<std::sync::Arc<redeem_batch_postgres::RedeemBatches>>,
}

/// A fresh code from the OS CSPRNG.
pub fn fresh_code() -> Result<CouponCode, StoreError> {
    let mut bytes = [0u8; RANDOM_LEN];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Database(format!("OS random source: {e}")))?;
    Ok(CouponCode::from_random(bytes))
}

fn corrupt(what: &str, v: impl std::fmt::Debug) -> StoreError {
    StoreError::Corrupt(format!("{what} {v:?}"))
}

fn u32_of(what: &str, v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| corrupt(what, v))
}

fn template_from_row(r: &impl DbRow, at: usize) -> Result<TemplateRecord, StoreError> {
    let kind = r.text(at + 3)?;
    let valid_days = u32_of("valid_days", r.int(at + 11)?)?;
    let validity = if valid_days > 0 {
        Validity::DaysFromIssue(valid_days)
    } else {
        Validity::Fixed {
            from: r.opt_int(at + 9)?.unwrap_or(0),
            until: r.opt_int(at + 10)?.unwrap_or(0),
        }
    };
    let stores = r.text(at + 14)?;
    Ok(TemplateRecord {
        template_id: r.text(at)?,
        merchant_id: r.text(at + 1)?,
        spec: TemplateSpec {
            name: r.text(at + 2)?,
            kind: DiscountKind::parse(&kind).ok_or_else(|| corrupt("kind", &kind))?,
            amount_off_cents: r.int(at + 4)?,
            percent_off: u32_of("percent_off", r.int(at + 5)?)?,
            max_discount_cents: r.int(at + 6)?,
            min_spend_cents: r.int(at + 7)?,
            gift_item: r.text(at + 8)?,
            validity,
            total_supply: r.int(at + 12)?,
            per_user_limit: u32_of("per_user_limit", r.int(at + 13)?)?,
            store_ids: stores
                .split('\n')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        },
        issued: r.int(at + 15)?,
        created_at: r.int(at + 16)?,
    })
}

impl<D: Db> CouponStore<D> {
    /// A coupon from `(coupon_id, template_id, code_sealed, redeemed,
    /// valid_from, valid_until, issued_at, source)`.
    fn coupon_from_row(&self, r: &impl DbRow) -> Result<CouponRecord, StoreError> {
        let coupon_id = r.text(0)?;
        Ok(CouponRecord {
            code: self.open_coupon_code(&coupon_id, r.opt_bytes(2)?)?,
            coupon_id,
            template_id: r.text(1)?,
            redeemed: r.int(3)? != 0,
            valid_from: r.int(4)?,
            valid_until: r.int(5)?,
            issued_at: r.int(6)?,
            source: r.text(7)?,
            pool_code: String::new(),
        })
    }

    /// A redemption from its row and its coupon's `code_sealed` (last).
    fn redemption_from_row(&self, r: &impl DbRow) -> Result<RedemptionRecord, StoreError> {
        let coupon_id = r.text(1)?;
        let code = self.open_coupon_code(&coupon_id, r.opt_bytes(9)?)?;
        Ok(RedemptionRecord {
            redemption_id: r.text(0)?,
            coupon_id,
            store_id: r.text(2)?,
            order_amount_cents: r.int(3)?,
            discount_cents: r.int(4)?,
            order_ref: r.text(5)?,
            redeemed_at: r.int(6)?,
            reversal_id: r.opt_text(7)?,
            reversed_at: r.opt_int(8)?,
            code_tail: crate::domain::code::tail_of(&code).to_owned(),
        })
    }
}

/// Inserts one coupon of `template` (validity from `now`): its code as a
/// digest and a sealed copy (`domain::vault`); one issued to a player
/// writes its `coupon.issued` event (of `campaign_id`, empty for none).
#[allow(clippy::too_many_arguments)]
async fn insert_coupon<T: DbTx>(
    tx: &mut T,
    vault: &CodeVault,
    template: &TemplateRecord,
    player_id: Option<&str>,
    source: Source,
    source_id: Option<&str>,
    code: &CouponCode,
    now: Millis,
    campaign_id: &str,
) -> Result<CouponRecord, StoreError> {
    let (from, until) = template.spec.validity.window(now);
    let coupon = CouponRecord {
        coupon_id: new_id(),
        template_id: template.template_id.clone(),
        code: code.as_str().to_owned(),
        redeemed: false,
        valid_from: from,
        valid_until: until,
        issued_at: now,
        source: source.as_str().to_owned(),
        pool_code: String::new(),
    };
    let (digest, sealed) = codes::coupon_at_rest(vault, &coupon.coupon_id, code)?;
    tx.execute(
        "INSERT INTO coupon (coupon_id, merchant_id, template_id, code_digest, code_sealed, \
         player_id, source, source_id, bulk_job_id, valid_from, valid_until, redemption_id, \
         issued_at) VALUES ($1, $2, $3, $4, $11, $5, $6, $7, NULL, $8, $9, NULL, $10)",
        args![
            &coupon.coupon_id,
            &template.merchant_id,
            &template.template_id,
            digest,
            player_id,
            source.as_str(),
            source_id,
            from,
            until,
            now,
            sealed
        ],
    )
    .await?;
    // Issued to a player: the merchant's systems hear of it (never the
    // code itself).
    if let Some(player) = player_id {
        let issued = CouponIssued {
            coupon_id: coupon.coupon_id.clone(),
            template_id: coupon.template_id.clone(),
            source_id: source_id.unwrap_or_default().to_owned(),
            valid_until_ms: Some(until),
        };
        let event = EventDraft::new(
            EventType::CouponIssued,
            &template.merchant_id,
            campaign_id,
            player,
            now,
            &issued,
        );
        platform::store::events::append(tx, &event).await?;
    }
    Ok(coupon)
}

/// The template of this merchant, read inside `tx`.
async fn own_template<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    template_id: &str,
) -> Result<TemplateRecord, StoreError> {
    let row = fetch_one(
        tx,
        "coupon template",
        // A static string: the columns are fixed, only the id is bound.
        SELECT_TEMPLATE,
        args![template_id],
    )
    .await?;
    let t = template_from_row(&row, 0)?;
    if t.merchant_id != merchant_id {
        return Err(StoreError::OtherMerchant("coupon template"));
    }
    Ok(t)
}

/// The columns `template_from_row` reads, of `coupon_template t`.
macro_rules! sql_template_columns {
    () => {
        "t.template_id, t.merchant_id, t.name, t.kind, \
         t.amount_off_cents, t.percent_off, t.max_discount_cents, t.min_spend_cents, t.gift_item, \
         t.valid_from, t.valid_until, t.valid_days, t.total_supply, t.per_user_limit, t.store_ids, \
         t.issued, t.created_at"
    };
}

const SELECT_TEMPLATE: &str = concat!(
    "SELECT ",
    sql_template_columns!(),
    " FROM coupon_template t WHERE t.template_id = $1"
);

// The redemption's guard and row, written once for the two ways they are
// sent: one by one (SQLite), or as one statement of CTEs (PostgreSQL).
macro_rules! sql_take_coupon {
    () => {
        "UPDATE coupon SET redemption_id = $1 WHERE coupon_id = $2 AND redemption_id IS NULL"
    };
}
/// The columns `coupon_in_use` reads: the coupon (`c`) and its template
/// (`t`).
macro_rules! sql_coupon_in_use {
    () => {
        "c.coupon_id, c.valid_from, c.valid_until, \
         CAST(CASE WHEN c.redemption_id IS NULL THEN 0 ELSE 1 END AS BIGINT), \
         t.template_id, t.merchant_id, t.name, t.kind, t.amount_off_cents, \
         t.percent_off, t.max_discount_cents, t.min_spend_cents, t.gift_item, \
         t.valid_from, t.valid_until, t.valid_days, t.total_supply, t.per_user_limit, \
         t.store_ids, t.issued, t.created_at, c.player_id, c.campaign_id"
    };
}

/// A coupon as a till uses it: its id, template, validity and whether it is
/// redeemed now.
struct CouponInUse {
    coupon_id: String,
    template: TemplateRecord,
    valid_from: Millis,
    valid_until: Millis,
    redeemed: bool,
    /// Whose it is (none for a printed code) and the campaign that gave
    /// it (none for a claim), for its events.
    player_id: Option<String>,
    campaign_id: Option<String>,
}

impl CouponInUse {
    /// The `coupon.redeemed` (or `coupon.reversed`) event of `r`.
    fn event(&self, event_type: EventType, r: &RedemptionRecord, till: &Till<'_>) -> EventDraft {
        coupon_use_event(
            event_type,
            (self.campaign_id.as_deref(), self.player_id.as_deref()),
            &self.template.template_id,
            r,
            till,
        )
    }

    fn usage(&self) -> CouponUse<'_> {
        CouponUse {
            spec: &self.template.spec,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            redeemed: self.redeemed,
        }
    }
}

fn coupon_in_use(row: &impl DbRow, at: usize) -> Result<CouponInUse> {
    Ok(CouponInUse {
        coupon_id: row.text(at)?,
        template: template_from_row(row, at + 4)?,
        valid_from: row.int(at + 1)?,
        valid_until: row.int(at + 2)?,
        redeemed: row.int(at + 3)? != 0,
        player_id: row.opt_text(at + 21)?,
        campaign_id: row.opt_text(at + 22)?,
    })
}

/// A redemption's event, or its reversal's, for the coupon of `campaign`
/// and `player` (either may be none).
pub(super) fn coupon_use_event(
    event_type: EventType,
    (campaign, player): (Option<&str>, Option<&str>),
    template_id: &str,
    r: &RedemptionRecord,
    till: &Till<'_>,
) -> EventDraft {
    let used = CouponRedeemed {
        coupon_id: r.coupon_id.clone(),
        template_id: template_id.to_owned(),
        redemption_id: r.redemption_id.clone(),
        store_id: r.store_id.clone(),
        pos_key_id: till.key_id.to_owned(),
        order_ref: r.order_ref.clone(),
        order_amount: r.order_amount_cents,
        discount: r.discount_cents,
    };
    let at = r.reversed_at.unwrap_or(r.redeemed_at);
    EventDraft::new(
        event_type,
        till.merchant_id,
        campaign.unwrap_or_default(),
        player.unwrap_or_default(),
        at,
        &used,
    )
}

/// The redemption row, defined once for the SQLite and PostgreSQL paths
/// and the PostgreSQL batch (`platform::store::rows`); values from
/// [`redemption_values`].
pub(super) static REDEMPTION: Table = Table {
    name: "coupon_redemption",
    columns: &[
        ("redemption_id", Ty::Text),
        ("coupon_id", Ty::Text),
        ("merchant_id", Ty::Text),
        ("store_id", Ty::Text),
        ("pos_key_id", Ty::Text),
        ("idem_key", Ty::Text),
        ("order_amount_cents", Ty::Int),
        ("discount_cents", Ty::Int),
        ("order_ref", Ty::Text),
        ("redeemed_at", Ty::Int),
    ],
};

/// [`REDEMPTION`]'s values for `r`, made at `till` under `idem`; the
/// first two (`redemption_id`, `coupon_id`) are also `sql_take_coupon!`'s.
pub(super) fn redemption_values(
    r: &RedemptionRecord,
    till: &Till<'_>,
    idem: &Idempotency,
) -> std::result::Result<Vec<Value>, StoreError> {
    let values = args![
        &r.redemption_id,
        &r.coupon_id,
        till.merchant_id,
        till.store_id,
        till.key_id,
        idem.key.as_str(),
        r.order_amount_cents,
        r.discount_cents,
        &r.order_ref,
        r.redeemed_at
    ];
    REDEMPTION.check(&values)?;
    Ok(values)
}

impl<D: Db> CouponStore<D> {
    pub fn new(db: D, vault: Arc<CodeVault>) -> Self {
        // SQLite's writer already commits waiting transactions together.
        let redeem_batches = match D::BACKEND {
            Backend::Postgres => Some(Default::default()),
            Backend::Sqlite => None,
        };
        Self {
            db,
            vault,
            redeem_batches,
        }
    }

    /// Counters of how redemptions were grouped, for the metrics endpoint
    /// (name, value): PostgreSQL's redemption batches (SQLite's grouping is
    /// its writer's group commit, counted by the campaign store).
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.redeem_batches
            .as_ref()
            .map(|b| b.counters())
            .unwrap_or_default()
    }

    pub fn db(&self) -> &D {
        &self.db
    }

    /// The list RPCs' page tokens (`platform::domain::paging`), MACed with
    /// the key the campaign store derives from the same seal key, so they
    /// outlive a restart and hold on every replica. The store always has
    /// the seal key (its vault), so it needs no process key of its own;
    /// the list names (`grpc::list`) keep its tokens apart from the
    /// campaign's.
    pub fn page_tokens(&self) -> PageTokens {
        PageTokens::new(self.vault.page_token_key())
    }
}

/// What a won prize delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrizeKind {
    Coupon,
    TopupCode,
}

impl PrizeKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "COUPON" => Some(Self::Coupon),
            "TOPUP_CODE" => Some(Self::TopupCode),
            _ => None,
        }
    }
}

mod issue;
// After the SQL macros above (`sql_template_columns!`), which it uses.
pub mod list;
mod redeem;
mod redeem_batch_postgres;
mod redeem_postgres;
mod redeem_sqlite;
mod template;
