//! Per-store figures (issue 24): redemptions, discount given and order
//! amounts per store, for one template's coupons or one campaign's prize
//! coupons. One grouped read over the coupons of that scope and their
//! redemptions (`coupon_by_template` / `coupon_by_campaign`, then each
//! coupon's redemptions).

use std::collections::{HashMap, HashSet};

use platform::stores::{
    StoreRecord, StoreRegistry, StoreStatus,
    domain::{StoreCursor, StoreFilter},
};

use super::*;

/// Whose coupons are counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FigureScope {
    Template(String),
    Campaign(String),
}

/// One store's figures; amounts in cents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreFigure {
    pub store_id: String,
    pub name: String,
    pub city: String,
    /// Redemptions in force (not reversed), and their sums.
    pub redemptions: i64,
    pub discount_cents: i64,
    pub order_amount_cents: i64,
    /// Redemptions made and then reversed.
    pub reversed: i64,
}

/// The sums over every store: checked, since a till sends the amounts.
pub fn totals(rows: &[StoreFigure]) -> Option<StoreFigure> {
    rows.iter().try_fold(StoreFigure::default(), |t, r| {
        Some(StoreFigure {
            redemptions: t.redemptions.checked_add(r.redemptions)?,
            reversed: t.reversed.checked_add(r.reversed)?,
            discount_cents: t.discount_cents.checked_add(r.discount_cents)?,
            order_amount_cents: t.order_amount_cents.checked_add(r.order_amount_cents)?,
            ..t
        })
    })
}

/// The grouped read, for coupons matching `$scope` (`$1`) of merchant
/// `$2`, redeemed in [`$3`, `$4`). Sums of BIGINT are NUMERIC on
/// PostgreSQL: cast back (the amounts are per-row CHECKed non-negative; an
/// overflow is an error from the database, not a wrapped figure).
macro_rules! figures_sql {
    ($scope:literal) => {
        concat!(
            "SELECT r.store_id, \
             CAST(SUM(CASE WHEN r.reversed_at IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN r.reversed_at IS NULL THEN 0 ELSE 1 END) AS BIGINT), \
             CAST(SUM(CASE WHEN r.reversed_at IS NULL THEN r.discount_cents ELSE 0 END) AS BIGINT), \
             CAST(SUM(CASE WHEN r.reversed_at IS NULL THEN r.order_amount_cents ELSE 0 END) AS BIGINT) \
             FROM coupon c JOIN coupon_redemption r ON r.coupon_id = c.coupon_id WHERE ",
            $scope,
            " AND c.merchant_id = $2 AND r.redeemed_at >= $3 AND r.redeemed_at < $4 \
             GROUP BY r.store_id"
        )
    };
}

impl<D: Db> CouponStore<D> {
    /// The figures of `scope` per store, in store code order: every store
    /// with a redemption in [from, until), and with zeros every store the
    /// coupons are valid at (a template's stores; for a campaign or an
    /// unrestricted template, every OPEN store of the merchant). A
    /// template of another merchant is NOT_FOUND.
    pub async fn store_figures(
        &self,
        merchant_id: &str,
        scope: &FigureScope,
        from: Millis,
        until: Millis,
    ) -> Result<Vec<StoreFigure>> {
        let mut tx = self.db.begin_read().await?;
        let (id, valid_at) = match scope {
            FigureScope::Template(id) => {
                let t = own_template(&mut tx, merchant_id, id).await?;
                (id.as_str(), t.spec.store_ids)
            }
            FigureScope::Campaign(id) => (id.as_str(), Vec::new()),
        };
        let sql = match scope {
            FigureScope::Template(_) => figures_sql!("c.template_id = $1"),
            FigureScope::Campaign(_) => figures_sql!("c.campaign_id = $1"),
        };
        let rows = tx
            .fetch_all(sql, args![id, merchant_id, from, until])
            .await?;
        let mut figures = Vec::with_capacity(rows.len());
        for r in &rows {
            figures.push(StoreFigure {
                store_id: r.text(0)?,
                redemptions: r.int(1)?,
                reversed: r.int(2)?,
                discount_cents: r.int(3)?,
                order_amount_cents: r.int(4)?,
                ..StoreFigure::default()
            });
        }
        drop(tx);
        let stores = all_stores(&StoreRegistry::new(self.db.clone()), merchant_id).await?;
        let valid_at: Vec<String> = if valid_at.is_empty() {
            stores
                .values()
                .filter(|s| s.status == StoreStatus::Open)
                .map(|s| s.store_id.clone())
                .collect()
        } else {
            valid_at
        };
        let mut seen: HashSet<String> = figures.iter().map(|f| f.store_id.clone()).collect();
        for s in valid_at {
            if seen.insert(s.clone()) {
                figures.push(StoreFigure {
                    store_id: s,
                    ..StoreFigure::default()
                });
            }
        }
        for f in &mut figures {
            if let Some(s) = stores.get(&f.store_id) {
                f.name = s.spec.name.clone();
                f.city = s.spec.city.clone();
            }
        }
        figures.sort_by(|a, b| a.store_id.cmp(&b.store_id));
        Ok(figures)
    }
}

/// Every store of the merchant by code, read page by page.
async fn all_stores<D: Db>(
    registry: &StoreRegistry<D>,
    merchant_id: &str,
) -> Result<HashMap<String, StoreRecord>, StoreError> {
    let filter = StoreFilter::default();
    let mut out = HashMap::new();
    let mut after = None;
    loop {
        let (page, more) = registry
            .list_stores(merchant_id, &filter, after.as_ref(), 1000)
            .await?;
        after = page.last().map(|s| StoreCursor {
            store_id: s.store_id.clone(),
        });
        out.extend(page.into_iter().map(|s| (s.store_id.clone(), s)));
        if !more {
            return Ok(out);
        }
    }
}
