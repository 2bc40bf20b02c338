//! Webhook deliveries (issue 25): one row per event per endpoint, written
//! by the sequencer with the event's number ([`fan_out`]); each endpoint's
//! worker (`crate::webhooks`) leases its due rows, posts them and records
//! the answers here. A lease expires on its own (its `next_attempt_at`),
//! so a worker that dies mid-flight leaves nothing stuck.

use super::super::{
    Outcome, Store, StoreError, claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    events::EventRecord,
    finish,
};
use crate::domain::{Millis, idempotency::Idempotency, webhook::Answer};

/// Writes the deliveries of the merchant's events numbered in
/// `(after, upto]` for each of its ENABLED or FAILING endpoints whose types
/// admit them. Runs in the sequencer's transaction.
pub(crate) async fn fan_out<T: DbTx>(
    tx: &mut T,
    merchant: &str,
    (after, upto): (i64, i64),
    now: Millis,
) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO webhook_delivery (endpoint_id, event_id, event_position, state, attempts, \
         next_attempt_at, created_at) \
         SELECT w.endpoint_id, e.event_id, e.position, 'pending', 0, $4, $4 \
         FROM event e JOIN webhook_endpoint w ON w.merchant_id = e.merchant_id \
         WHERE e.merchant_id = $1 AND e.position > $2 AND e.position <= $3 \
           AND w.status IN ('enabled', 'failing') \
           AND (w.event_types = '' OR w.event_types LIKE '%,' || e.event_type || ',%')",
        args![merchant, after, upto, now],
    )
    .await
}

/// A leased delivery: its event and attempt count so far.
#[derive(Debug, Clone)]
pub struct Leased {
    pub event: EventRecord,
    pub attempts: i64,
}

/// What a worker got: the endpoint's URL and secret and the deliveries it
/// now holds (empty: nothing due); `None`: the endpoint is gone or not
/// active any more.
pub struct Lease {
    pub url: String,
    pub secret: String,
    pub token: String,
    pub due: Vec<Leased>,
}

/// An attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    pub event_id: String,
    /// The HTTP status, if the receiver answered.
    pub status: Option<u16>,
    pub answer: Answer,
    /// Why it failed ('' when delivered).
    pub error: String,
    /// When to try again if it failed.
    pub retry_at: Millis,
}

/// A delivery as admins list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub event_type: String,
    pub position: i64,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Millis,
    pub delivered_at: Option<Millis>,
    pub last_status: Option<i64>,
    pub last_error: String,
}

// A delivery with its event's type, for `delivery_of`.
macro_rules! select_delivery {
    () => {
        "SELECT d.event_id, e.event_type, d.event_position, d.state, d.attempts, \
         d.next_attempt_at, d.delivered_at, d.last_status, d.last_error \
         FROM webhook_delivery d JOIN event e ON e.event_id = d.event_id"
    };
}

fn delivery_of(r: &impl DbRow) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        event_id: r.text(0)?,
        event_type: r.text(1)?,
        position: r.int(2)?,
        state: r.text(3)?,
        attempts: r.int(4)?,
        next_attempt_at: r.int(5)?,
        delivered_at: r.opt_int(6)?,
        last_status: r.opt_int(7)?,
        last_error: r.text(8)?,
    })
}

impl<D: Db> Store<D> {
    /// The endpoints that take deliveries now: ENABLED or FAILING.
    pub async fn active_webhook_endpoints(&self) -> Result<Vec<String>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT endpoint_id FROM webhook_endpoint \
                 WHERE status IN ('enabled', 'failing') ORDER BY endpoint_id",
                args![],
            )
            .await?;
        rows.iter().map(|r| r.text(0)).collect()
    }

    /// Leases up to `limit` of the endpoint's due deliveries, oldest event
    /// first, until `until` (then they are due again if not recorded).
    pub async fn lease_deliveries(
        &self,
        endpoint_id: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Option<Lease>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let Some(w) = tx
            .fetch_optional(
                "SELECT url FROM webhook_endpoint WHERE endpoint_id = $1 \
                 AND status IN ('enabled', 'failing')",
                args![endpoint_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let url = w.text(0)?;
        drop(w);
        let token = super::super::new_id();
        // The last position of the first `limit` due deliveries, then one
        // range update: every due delivery up to it is one of them. (An
        // `IN (SELECT … LIMIT)` was planned on PostgreSQL as a nested loop
        // re-running the subquery per row: seconds a batch once the
        // statistics were stale.)
        let last = fetch_one(
            &mut tx,
            "webhook deliveries",
            "SELECT MAX(event_position) FROM (SELECT event_position FROM webhook_delivery \
             WHERE endpoint_id = $1 AND state = 'pending' AND next_attempt_at <= $2 \
             ORDER BY event_position LIMIT $3) due",
            args![endpoint_id, now, limit],
        )
        .await?
        .opt_int(0)?;
        if let Some(last) = last {
            tx.execute(
                "UPDATE webhook_delivery SET lease = $1, next_attempt_at = $2 \
                 WHERE endpoint_id = $3 AND state = 'pending' AND next_attempt_at <= $4 \
                   AND event_position <= $5",
                args![&token, until, endpoint_id, now, last],
            )
            .await?;
        }
        let rows = tx
            .fetch_all(
                "SELECT e.event_id, e.merchant_id, e.campaign_id, e.event_type, e.player_id, \
                 e.pseudonym, e.occurred_at, e.payload, e.position, e.seq, d.attempts \
                 FROM webhook_delivery d JOIN event e ON e.event_id = d.event_id \
                 WHERE d.endpoint_id = $1 AND d.lease = $2 ORDER BY d.event_position",
                args![endpoint_id, &token],
            )
            .await?;
        let due = rows
            .iter()
            .map(|r| {
                Ok(Leased {
                    event: EventRecord {
                        event_id: r.text(0)?,
                        merchant_id: r.text(1)?,
                        campaign_id: r.text(2)?,
                        event_type: r.text(3)?,
                        player_id: r.text(4)?,
                        pseudonym: r.text(5)?,
                        occurred_at: r.int(6)?,
                        payload: r.text(7)?,
                        position: r.int(8)?,
                        seq: r.int(9)?,
                    },
                    attempts: r.int(10)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        drop(rows);
        let secret = if due.is_empty() {
            String::new()
        } else {
            self.endpoint_secret(&mut tx, endpoint_id).await?
        };
        tx.commit().await?;
        Ok(Some(Lease {
            url,
            secret,
            token,
            due,
        }))
    }

    /// Records a leased batch's attempts: delivered, or due again at their
    /// `retry_at` (FAILED once `window_ms` has passed since the first
    /// attempt); the endpoint's health follows (a 410 disables it, a
    /// delivery that runs out of time marks it FAILING, a success makes a
    /// FAILING endpoint ENABLED again).
    pub async fn record_attempts(
        &self,
        endpoint_id: &str,
        token: &str,
        results: &[Attempted],
        now: Millis,
        window_ms: Millis,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        // The endpoint's row first, as DeleteWebhookEndpoint and updates
        // take it: the same lock order, so they never deadlock.
        tx.execute(
            "UPDATE webhook_endpoint SET updated_at = updated_at WHERE endpoint_id = $1",
            args![endpoint_id],
        )
        .await?;
        let (mut failed_out, mut gone) = (0u64, false);
        let mut last_ok = None;
        let mut last_bad = None;
        // The failures one by one (rare); then every delivery still held
        // by this lease was delivered: one statement for the batch.
        for r in results {
            let status = r.status.map(i64::from);
            match r.answer {
                Answer::Delivered => last_ok = status,
                Answer::Gone | Answer::Retry => {
                    gone |= r.answer == Answer::Gone;
                    let row = tx
                        .fetch_optional(
                            "UPDATE webhook_delivery SET attempts = attempts + 1, \
                             first_attempt_at = COALESCE(first_attempt_at, $1), lease = NULL, \
                             next_attempt_at = $2, last_status = $3, last_error = $4, \
                             state = CASE WHEN COALESCE(first_attempt_at, $1) + $5 <= $1 \
                               THEN 'failed' ELSE 'pending' END \
                             WHERE endpoint_id = $6 AND event_id = $7 AND lease = $8 \
                             RETURNING state",
                            args![
                                now,
                                r.retry_at,
                                status,
                                &r.error,
                                window_ms,
                                endpoint_id,
                                &r.event_id,
                                token
                            ],
                        )
                        .await?;
                    if let Some(row) = row
                        && row.text(0)? == "failed"
                    {
                        failed_out += 1;
                    }
                    last_bad = Some((status, r.error.clone()));
                }
            }
        }
        let delivered = if last_ok.is_some() {
            tx.execute(
                "UPDATE webhook_delivery SET state = 'delivered', delivered_at = $1, \
                 attempts = attempts + 1, first_attempt_at = COALESCE(first_attempt_at, $1), \
                 lease = NULL, last_status = $2, last_error = '' \
                 WHERE endpoint_id = $3 AND lease = $4",
                args![now, last_ok, endpoint_id, token],
            )
            .await?
        } else {
            0
        };
        if delivered > 0 {
            tx.execute(
                "UPDATE webhook_endpoint SET last_success_at = $1, last_status = $2, \
                 status = CASE WHEN status = 'failing' THEN 'enabled' ELSE status END \
                 WHERE endpoint_id = $3",
                args![now, last_ok, endpoint_id],
            )
            .await?;
        }
        if let Some((status, error)) = last_bad {
            tx.execute(
                "UPDATE webhook_endpoint SET last_failure_at = $1, last_status = $2, \
                 last_error = $3 WHERE endpoint_id = $4",
                args![now, status, error, endpoint_id],
            )
            .await?;
        }
        if failed_out > 0 {
            tx.execute(
                "UPDATE webhook_endpoint SET status = 'failing' \
                 WHERE endpoint_id = $1 AND status = 'enabled'",
                args![endpoint_id],
            )
            .await?;
        }
        if gone {
            tx.execute(
                "UPDATE webhook_endpoint SET status = 'disabled', disabled_reason = 'gone', \
                 updated_at = $1 WHERE endpoint_id = $2",
                args![now, endpoint_id],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Queues `event_id` for the endpoint again now (its window starts
    /// over), whatever became of it before. The event must be the
    /// merchant's and numbered.
    pub async fn redeliver_event(
        &self,
        merchant: &str,
        endpoint_id: &str,
        event_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&DeliveryRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<DeliveryRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        super::own_endpoint(&mut tx, merchant, endpoint_id).await?;
        let e = tx
            .fetch_optional(
                "SELECT merchant_id, position FROM event WHERE event_id = $1",
                args![event_id],
            )
            .await?
            .ok_or(StoreError::NotFound("event"))?;
        if e.text(0)? != merchant {
            return Err(StoreError::OtherMerchant("event"));
        }
        let position = e.opt_int(1)?.ok_or(StoreError::NotFound("event"))?;
        drop(e);
        tx.execute(
            "INSERT INTO webhook_delivery (endpoint_id, event_id, event_position, state, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, 'pending', 0, $4, $4) \
             ON CONFLICT (endpoint_id, event_id) DO UPDATE SET state = 'pending', \
             next_attempt_at = $4, lease = NULL, delivered_at = NULL, first_attempt_at = NULL",
            args![endpoint_id, event_id, position, now],
        )
        .await?;
        let row = fetch_one(
            &mut tx,
            "webhook delivery",
            concat!(
                select_delivery!(),
                " WHERE d.endpoint_id = $1 AND d.event_id = $2"
            ),
            args![endpoint_id, event_id],
        )
        .await?;
        let d = delivery_of(&row)?;
        drop(row);
        finish(tx, idem, encode(&d)).await?;
        Ok(Outcome::Fresh(d))
    }

    /// The endpoint's deliveries after `after` (event position), in
    /// order; only `state`'s when given.
    pub async fn list_deliveries(
        &self,
        merchant: &str,
        endpoint_id: &str,
        state: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        super::own_endpoint(&mut tx, merchant, endpoint_id).await?;
        let rows = tx
            .fetch_all(
                concat!(
                    select_delivery!(),
                    " WHERE d.endpoint_id = $1 AND d.event_position > $2 \
                     AND ($3 = '' OR d.state = $3) ORDER BY d.event_position LIMIT $4"
                ),
                args![endpoint_id, after, state, limit],
            )
            .await?;
        rows.iter().map(delivery_of).collect()
    }

    /// Forgets deliveries delivered before `before` (the events stay, and
    /// RedeliverEvent can send one again); returns how many. In batches
    /// of 1,000, each its own short transaction, as the idempotency purge.
    pub async fn purge_deliveries(&self, before: Millis) -> Result<u64, StoreError> {
        const BATCH: i64 = 1_000;
        let mut purged = 0;
        for _ in 0..100 {
            let mut tx = self.db.begin_write().await?;
            let n = tx
                .execute(
                    "DELETE FROM webhook_delivery WHERE (endpoint_id, event_id) IN \
                     (SELECT endpoint_id, event_id FROM webhook_delivery \
                      WHERE state = 'delivered' AND delivered_at < $1 \
                      ORDER BY delivered_at LIMIT $2)",
                    args![before, BATCH],
                )
                .await?;
            tx.commit().await?;
            purged += n;
            if n < BATCH as u64 {
                break;
            }
        }
        Ok(purged)
    }

    /// `(pending, delivered, failed)` deliveries of every endpoint, for
    /// operators and tests.
    pub async fn delivery_states(&self) -> Result<(i64, i64, i64), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let r = fetch_one(
            &mut tx,
            "webhook deliveries",
            "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'delivered' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) \
             FROM webhook_delivery",
            args![],
        )
        .await?;
        Ok((r.int(0)?, r.int(1)?, r.int(2)?))
    }
}
