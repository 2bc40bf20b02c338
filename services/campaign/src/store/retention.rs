//! Stored answers to idempotency keys are kept for a retention window and
//! then forgotten (about 380 bytes a row, one row per change: without this
//! the table only grows). A retry within the window replays the first
//! answer; after it the key is unknown and the same request acts again, as
//! a new one. The default window (7 days, `idempotency_retention_days`)
//! covers the longest retry our callers make by far: a POS that was offline
//! over a long weekend, an H5 page reopened days later. Stripe keeps keys
//! 24 hours.
//!
//! Rows are deleted oldest first in batches of at most `PURGE_BATCH`, each
//! its own short write transaction, so the purge never holds the SQLite
//! writer or a PostgreSQL lock for long.

use super::{
    Store, StoreError,
    db::{Db, DbTx, args},
};
use crate::domain::Millis;

/// Rows deleted per transaction.
pub const PURGE_BATCH: i64 = 1_000;
/// Batches per sweep, so one sweep is bounded too (the next one goes on).
const MAX_BATCHES: u32 = 100;

impl<D: Db> Store<D> {
    /// Deletes stored answers created before `before`; returns how many.
    pub async fn purge_idempotency(&self, before: Millis) -> Result<u64, StoreError> {
        let mut purged = 0;
        for _ in 0..MAX_BATCHES {
            let mut tx = self.db.begin_write().await?;
            let n = tx
                .execute(
                    "DELETE FROM idempotency WHERE (scope, method, idem_key) IN \
                     (SELECT scope, method, idem_key FROM idempotency \
                      WHERE created_at < $1 ORDER BY created_at LIMIT $2)",
                    args![before, PURGE_BATCH],
                )
                .await?;
            tx.commit().await?;
            purged += n;
            if n < PURGE_BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }
}
