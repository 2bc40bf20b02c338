//! Keyset pages of the coupon service's lists (issue 24): a merchant's
//! templates, code pools, bulk issue jobs and redemptions, and a
//! template's coupons, each newest first by a time and a unique id, read
//! one row past the page to know whether another follows
//! (`domain::list`, `platform::domain::paging`). One SQL text per list
//! serves both backends: the filters are parameters, never spliced in.
//! Migration 0023 gives each order its index.

use platform::domain::{Millis, paging::split_page};
use platform::store::{
    StoreError,
    db::{Db, DbRow, DbTx},
};

use super::{
    CouponError, CouponStore, JobRecord, PoolRecord, RedemptionRecord, TemplateRecord,
    bulk::job_from_row, own_template, pool::pool_from_row, template_from_row,
};
use crate::domain::{
    code::tail_of,
    list::{CouponFilter, Cursor, JobFilter, RedemptionFilter, TemplateFilter},
};

/// A page's rows and whether more follow.
pub type Page<T> = (Vec<T>, bool);

/// A coupon as staff list it: never its code, only the code's tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponListing {
    pub coupon_id: String,
    pub template_id: String,
    /// The code's last four characters.
    pub code_tail: String,
    /// The live redemption, while redeemed.
    pub redemption_id: Option<String>,
    pub valid_from: Millis,
    pub valid_until: Millis,
    pub issued_at: Millis,
    pub source: String,
    /// The owner (none for bulk-issued coupons).
    pub player_id: Option<String>,
}

impl<D: Db> CouponStore<D> {
    /// Up to `size` of the merchant's templates matching `filter`, newest
    /// first (created_at, then template_id, both descending), after
    /// `after` when continuing.
    #[tracing::instrument(skip_all)]
    pub async fn list_templates(
        &self,
        merchant_id: &str,
        filter: &TemplateFilter,
        after: Option<&Cursor>,
        size: u32,
    ) -> Result<Page<TemplateRecord>, CouponError> {
        let (has_cursor, at, id) = Cursor::keyset(after);
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                concat!(
                    "SELECT ",
                    sql_template_columns!(),
                    " FROM coupon_template t WHERE t.merchant_id = $1 \
                     AND substr(t.name, 1, length($2)) = $2 \
                     AND ($3 = '' OR t.kind = $3) \
                     AND ($4 = 0 OR t.created_at < $5 \
                          OR (t.created_at = $5 AND t.template_id < $6)) \
                     ORDER BY t.created_at DESC, t.template_id DESC LIMIT $7"
                ),
                args![
                    merchant_id,
                    filter.name_prefix.as_str(),
                    filter.kind.map(|k| k.as_str()).unwrap_or_default(),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let templates = rows
            .iter()
            .map(|r| template_from_row(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(split_page(templates, size))
    }

    /// Up to `size` of the merchant's code pools with their counts, newest
    /// first (created_at, then pool_id).
    #[tracing::instrument(skip_all)]
    pub async fn list_pools(
        &self,
        merchant_id: &str,
        after: Option<&Cursor>,
        size: u32,
    ) -> Result<Page<PoolRecord>, CouponError> {
        let (has_cursor, at, id) = Cursor::keyset(after);
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                concat!(
                    "SELECT ",
                    super::pool::sql_pool_columns!(),
                    " FROM code_pool p WHERE p.merchant_id = $1 \
                     AND ($2 = 0 OR p.created_at < $3 OR (p.created_at = $3 AND p.pool_id < $4)) \
                     ORDER BY p.created_at DESC, p.pool_id DESC LIMIT $5"
                ),
                args![merchant_id, has_cursor, at, id, i64::from(size) + 1],
            )
            .await?;
        let pools = rows
            .iter()
            .map(|r| pool_from_row(r).map(|(pool, _)| pool))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(split_page(pools, size))
    }

    /// Up to `size` of the merchant's bulk issue jobs matching `filter`,
    /// newest first (created_at, then job_id).
    #[tracing::instrument(skip_all)]
    pub async fn list_jobs(
        &self,
        merchant_id: &str,
        filter: &JobFilter,
        after: Option<&Cursor>,
        size: u32,
    ) -> Result<Page<JobRecord>, CouponError> {
        let (has_cursor, at, id) = Cursor::keyset(after);
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT job_id, merchant_id, template_id, requested, issued, state, error, \
                 created_at, finished_at FROM coupon_bulk_job WHERE merchant_id = $1 \
                 AND ($2 = '' OR template_id = $2) AND ($3 = '' OR state = $3) \
                 AND ($4 = 0 OR created_at < $5 OR (created_at = $5 AND job_id < $6)) \
                 ORDER BY created_at DESC, job_id DESC LIMIT $7",
                args![
                    merchant_id,
                    filter.template_id.clone().unwrap_or_default(),
                    filter.state.unwrap_or_default(),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let jobs = rows
            .iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(split_page(jobs, size))
    }

    /// Up to `size` coupons of one of the merchant's templates matching
    /// `filter` (its state as of `now`: `domain::list::CouponState::of`,
    /// written here in SQL), newest first (issued_at, then coupon_id). A
    /// template of another merchant is not found. Each code is opened
    /// only to cut its tail.
    #[tracing::instrument(skip_all)]
    pub async fn list_coupons(
        &self,
        merchant_id: &str,
        filter: &CouponFilter,
        after: Option<&Cursor>,
        size: u32,
        now: Millis,
    ) -> Result<Page<CouponListing>, CouponError> {
        let (has_cursor, at, id) = Cursor::keyset(after);
        let mut tx = self.db.begin_read().await?;
        own_template(&mut tx, merchant_id, &filter.template_id).await?;
        let rows = tx
            .fetch_all(
                "SELECT c.coupon_id, c.template_id, c.code_sealed, c.redemption_id, \
                 c.valid_from, c.valid_until, c.issued_at, c.source, c.player_id \
                 FROM coupon c WHERE c.template_id = $1 AND c.merchant_id = $2 \
                 AND ($3 = '' OR $3 = CASE WHEN c.redemption_id IS NOT NULL THEN 'redeemed' \
                      WHEN c.valid_until <= $4 THEN 'expired' ELSE 'issued' END) \
                 AND ($5 = '' OR c.source = $5) \
                 AND ($6 = 0 OR c.issued_at < $7 OR (c.issued_at = $7 AND c.coupon_id < $8)) \
                 ORDER BY c.issued_at DESC, c.coupon_id DESC LIMIT $9",
                args![
                    filter.template_id.as_str(),
                    merchant_id,
                    filter.state.map(|s| s.as_str()).unwrap_or_default(),
                    now,
                    filter.source.unwrap_or_default(),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let (rows, more) = split_page(rows, size);
        let coupons = rows
            .iter()
            .map(|r| self.coupon_listing(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((coupons, more))
    }

    fn coupon_listing(&self, r: &impl DbRow) -> Result<CouponListing, StoreError> {
        let coupon_id = r.text(0)?;
        let code = self.open_coupon_code(&coupon_id, r.opt_bytes(2)?)?;
        Ok(CouponListing {
            code_tail: tail_of(&code).to_owned(),
            coupon_id,
            template_id: r.text(1)?,
            redemption_id: r.opt_text(3)?,
            valid_from: r.int(4)?,
            valid_until: r.int(5)?,
            issued_at: r.int(6)?,
            source: r.text(7)?,
            player_id: r.opt_text(8)?,
        })
    }

    /// Up to `size` of the merchant's redemptions matching `filter`,
    /// newest first (redeemed_at, then redemption_id).
    #[tracing::instrument(skip_all)]
    pub async fn list_redemptions(
        &self,
        merchant_id: &str,
        filter: &RedemptionFilter,
        after: Option<&Cursor>,
        size: u32,
    ) -> Result<Page<RedemptionRecord>, CouponError> {
        let (has_cursor, at, id) = Cursor::keyset(after);
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT r.redemption_id, r.coupon_id, r.store_id, r.order_amount_cents, \
                 r.discount_cents, r.order_ref, r.redeemed_at, r.reversal_id, r.reversed_at, \
                 c.code_sealed FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE r.merchant_id = $1 AND ($2 = '' OR r.store_id = $2) \
                 AND ($3 = '' OR c.template_id = $3) AND ($4 = 1 OR r.reversed_at IS NULL) \
                 AND r.redeemed_at >= $5 AND r.redeemed_at < $6 \
                 AND ($7 = 0 OR r.redeemed_at < $8 \
                      OR (r.redeemed_at = $8 AND r.redemption_id < $9)) \
                 ORDER BY r.redeemed_at DESC, r.redemption_id DESC LIMIT $10",
                args![
                    merchant_id,
                    filter.store_id.as_str(),
                    filter.template_id.clone().unwrap_or_default(),
                    i64::from(filter.include_reversed),
                    filter.from.unwrap_or(Millis::MIN),
                    filter.until.unwrap_or(Millis::MAX),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let (rows, more) = split_page(rows, size);
        let redemptions = rows
            .iter()
            .map(|r| self.redemption_from_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((redemptions, more))
    }
}
