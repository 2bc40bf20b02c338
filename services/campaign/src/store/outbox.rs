//! The prize outbox: won coupon and top-up-code prizes waiting to be
//! delivered to the coupon service. The draw writes the row in its own
//! transaction (`wheel.rs`); the delivery worker (`crate::delivery`) reads
//! due rows and records each attempt here.

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args},
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
}

/// Writes the outbox row for a won prize that another service delivers.
/// Called inside the draw's transaction.
#[allow(clippy::too_many_arguments)]
pub(super) async fn enqueue<T: DbTx>(
    tx: &mut T,
    source_id: &str,
    award_id: &str,
    merchant_id: &str,
    campaign_id: &str,
    player_id: &str,
    kind: PrizeKind,
    reference: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let kind = match kind {
        PrizeKind::Coupon => "COUPON",
        PrizeKind::TopupCode => "TOPUP_CODE",
        _ => return Ok(()),
    };
    tx.execute(
        "INSERT INTO prize_outbox (source_id, award_id, merchant_id, campaign_id, player_id, kind, \
         reference, attempts, next_attempt_at, delivered_at, coupon_id, last_error, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, NULL, NULL, '', $8)",
        args![
            source_id,
            award_id,
            merchant_id,
            campaign_id,
            player_id,
            kind,
            reference,
            now
        ],
    )
    .await?;
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
                "SELECT source_id, merchant_id, player_id, kind, reference, attempts \
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
