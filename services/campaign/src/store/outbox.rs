//! The prize outbox: won coupon and top-up-code prizes waiting to be
//! delivered to the coupon service. The draw writes the row in its own
//! transaction (`wheel.rs`); the delivery worker (`crate::delivery`) reads
//! due rows and records each attempt here.

use std::sync::LazyLock;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, Value, args},
    rows::{Table, Ty},
};
use crate::domain::{Millis, wheel::PrizeKind};

/// One prize to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDelivery {
    /// The draw, or the tier award, the prize came from: the coupon
    /// service's idempotency key for it.
    pub source_id: String,
    pub merchant_id: String,
    pub player_id: String,
    /// `COUPON` or `TOPUP_CODE`.
    pub kind: String,
    pub reference: String,
    pub attempts: i64,
    /// The campaign that gave the prize (the coupon remembers it).
    pub campaign_id: String,
}

/// The outbox row, defined once for the single draw, the tier award and
/// the PostgreSQL batch (`store::rows`); values from [`outbox_values`].
pub(super) static OUTBOX: Table = Table {
    name: "prize_outbox",
    columns: &[
        ("source_id", Ty::Text),
        ("award_id", Ty::Text),
        ("merchant_id", Ty::Text),
        ("campaign_id", Ty::Text),
        ("player_id", Ty::Text),
        ("kind", Ty::Text),
        ("reference", Ty::Text),
        ("attempts", Ty::Int),
        ("next_attempt_at", Ty::Int),
        ("delivered_at", Ty::Int),
        ("coupon_id", Ty::Text),
        ("last_error", Ty::Text),
        ("created_at", Ty::Int),
    ],
};

/// Who delivers a prize and what it is, for its outbox row.
pub(super) struct OutboxEntry<'a> {
    pub(super) source_id: &'a str,
    pub(super) award_id: &'a str,
    pub(super) merchant_id: &'a str,
    pub(super) campaign_id: &'a str,
    pub(super) player_id: &'a str,
    pub(super) kind: PrizeKind,
    pub(super) reference: &'a str,
    pub(super) now: Millis,
}

/// [`OUTBOX`]'s values for a won prize, or `None` when no other service
/// delivers it (only coupons and top-up codes go through the outbox).
pub(super) fn outbox_values(e: &OutboxEntry<'_>) -> Option<Vec<Value>> {
    let kind = match e.kind {
        PrizeKind::Coupon => "COUPON",
        PrizeKind::TopupCode => "TOPUP_CODE",
        _ => return None,
    };
    Some(args![
        e.source_id,
        e.award_id,
        e.merchant_id,
        e.campaign_id,
        e.player_id,
        kind,
        e.reference,
        0,
        0,
        None::<i64>,
        None::<String>,
        "",
        e.now
    ])
}

/// Writes the outbox row for a won prize that another service delivers.
/// Called inside the draw's (or the tier award's) transaction.
pub(super) async fn enqueue<T: DbTx>(tx: &mut T, e: &OutboxEntry<'_>) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| OUTBOX.insert_values(1));
    if let Some(values) = outbox_values(e) {
        tx.execute(SQL.as_str(), values).await?;
    }
    Ok(())
}

impl<D: Db> Store<D> {
    /// Undelivered prizes whose next attempt is due at wall-clock `now`.
    pub async fn due_deliveries(
        &self,
        now: Millis,
        limit: u32,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT source_id, merchant_id, player_id, kind, reference, attempts, campaign_id \
                 FROM prize_outbox WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, source_id LIMIT $2",
                args![now, i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingDelivery {
                    source_id: r.text(0)?,
                    merchant_id: r.text(1)?,
                    player_id: r.text(2)?,
                    kind: r.text(3)?,
                    reference: r.text(4)?,
                    attempts: r.int(5)?,
                    campaign_id: r.text(6)?,
                })
            })
            .collect()
    }

    /// Records a delivery; a second record of the same draw changes nothing.
    pub async fn mark_delivered(
        &self,
        source_id: &str,
        coupon_id: &str,
        now: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE prize_outbox SET delivered_at = $1, coupon_id = $2, attempts = attempts + 1, \
             last_error = '' WHERE source_id = $3 AND delivered_at IS NULL",
            args![now, coupon_id, source_id],
        )
        .await?;
        tx.commit().await
    }

    /// Records a failed attempt and when to try again.
    pub async fn mark_attempt_failed(
        &self,
        source_id: &str,
        error: &str,
        next_attempt_at: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        tx.execute(
            "UPDATE prize_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = $2 WHERE source_id = $3 AND delivered_at IS NULL",
            args![error, next_attempt_at, source_id],
        )
        .await?;
        tx.commit().await
    }

    /// `(waiting, delivered)` prize deliveries, for operators and tests.
    pub async fn delivery_counts(&self) -> Result<(i64, i64), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row = super::db::fetch_one(
            &mut tx,
            "outbox",
            "SELECT COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN delivered_at IS NULL THEN 0 ELSE 1 END), 0) FROM prize_outbox",
            args![],
        )
        .await?;
        Ok((row.int(0)?, row.int(1)?))
    }
}
