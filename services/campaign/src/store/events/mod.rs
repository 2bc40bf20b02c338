//! Events (issue 25, docs/events.md): the outbox every effect writes its
//! event into (`platform::store::events`), numbered after commit by the
//! sequencer ([`Store::sequence_events`]) and read in order by the list,
//! the stream and the webhook deliveries.
//!
//! **Numbering.** One sequencer at a time (PostgreSQL: an advisory lock;
//! SQLite: its one writer) takes committed, unnumbered events in id order
//! and gives each the next `position` of its merchant and the next `seq`
//! of its campaign, both without gaps; UNIQUE indexes on both back it in
//! SQL. An event is visible to readers once numbered, so a reader that
//! has seen position n has seen every event of its merchant up to n:
//! resuming after n misses nothing and repeats nothing. The numbering
//! writes the events' webhook deliveries in the same transaction.

pub mod emit;

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::{
    Store, StoreError,
    db::{Backend, Db, DbRow, DbTx, args, fetch_one},
};
use crate::domain::Millis;

/// Events numbered in one transaction at most.
pub const SEQUENCE_BATCH: i64 = 2000;

/// The advisory lock the PostgreSQL sequencer holds for its transaction.
const SEQUENCER_LOCK: i64 = 0x5EC0_E7E7;

/// A numbered event as readers get it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub event_id: String,
    pub merchant_id: String,
    pub campaign_id: String,
    pub event_type: String,
    pub player_id: String,
    pub pseudonym: String,
    pub occurred_at: Millis,
    pub payload: String,
    /// Without gaps per merchant, from 1.
    pub position: i64,
    /// Without gaps per campaign, from 1.
    pub seq: i64,
}

/// Which of a merchant's events a read wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// Events after this position (0: from the first).
    pub after: i64,
    /// One campaign's only (its id), or every campaign's.
    pub campaign: Option<String>,
    /// `,type,type,` of the types wanted; empty for every type.
    pub types: String,
}

impl EventQuery {
    /// The types clause's parameter for `names` (empty: every type).
    pub fn types_param(names: &[String]) -> String {
        if names.is_empty() || names.iter().any(|n| n == "*") {
            String::new()
        } else {
            format!(",{},", names.join(","))
        }
    }
}

const SELECT_EVENTS: &str = "SELECT event_id, merchant_id, campaign_id, event_type, player_id, \
     pseudonym, occurred_at, payload, position, seq FROM event \
     WHERE merchant_id = $1 AND position > $2 AND ($3 = '' OR campaign_id = $3) \
     AND ($4 = '' OR $4 LIKE '%,' || event_type || ',%') ORDER BY position LIMIT $5";

fn event_of(r: &impl DbRow) -> Result<EventRecord, StoreError> {
    Ok(EventRecord {
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
    })
}

/// An unnumbered event, as the sequencer reads it.
struct Unnumbered {
    event_id: String,
    merchant_id: String,
    campaign_id: String,
}

/// Writes the numbers `(event, position, seq)` the sequencer gave; answers
/// how many rows took them (fewer: another sequencer got there first).
async fn write_numbers<D: Db, T: DbTx>(
    tx: &mut T,
    numbered: &[(&str, i64, i64)],
    now: Millis,
) -> Result<i64, StoreError> {
    Ok(match D::BACKEND {
        Backend::Postgres => {
            let rows: Vec<Json> = numbered
                .iter()
                .map(|(id, p, s)| json!({"event_id": id, "position": p, "seq": s}))
                .collect();
            fetch_one(
                tx,
                "event numbering",
                "WITH numbered AS (UPDATE event SET position = x.position, seq = x.seq, \
                 sequenced_at = $2 FROM json_to_recordset(CAST($1 AS json)) \
                 AS x(event_id text, position bigint, seq bigint) \
                 WHERE event.event_id = x.event_id AND event.position IS NULL RETURNING 1) \
                 SELECT CAST(COUNT(*) AS BIGINT) FROM numbered",
                args![Json::Array(rows).to_string(), now],
            )
            .await?
            .int(0)?
        }
        // One writer in-process: a statement a row costs no round trip.
        Backend::Sqlite => {
            let mut updated = 0;
            for (id, p, s) in numbered {
                updated += tx
                    .execute(
                        "UPDATE event SET position = $1, seq = $2, sequenced_at = $3 \
                         WHERE event_id = $4 AND position IS NULL",
                        args![*p, *s, now, *id],
                    )
                    .await?;
            }
            i64::try_from(updated).unwrap_or(i64::MAX)
        }
    })
}

impl<D: Db> Store<D> {
    /// Numbers up to [`SEQUENCE_BATCH`] committed events; answers how many
    /// it numbered (the caller runs again at once when that is a full
    /// batch). Safe to run from several processes: one holds the turn.
    pub async fn sequence_events(&self, now: Millis) -> Result<i64, StoreError> {
        {
            // Most calls find nothing: a read is enough to know.
            let mut read = self.db.begin_read().await?;
            let any = read
                .fetch_optional(
                    "SELECT 1 FROM event WHERE position IS NULL LIMIT 1",
                    args![],
                )
                .await?
                .is_some();
            if !any {
                return Ok(0);
            }
        }
        let mut tx = self.db.begin_write().await?;
        if D::BACKEND == Backend::Postgres {
            tx.execute("SELECT pg_advisory_xact_lock($1)", args![SEQUENCER_LOCK])
                .await?;
        }
        let rows = tx
            .fetch_all(
                "SELECT event_id, merchant_id, campaign_id FROM event WHERE position IS NULL \
                 ORDER BY event_id LIMIT $1",
                args![SEQUENCE_BATCH],
            )
            .await?;
        let batch = rows
            .iter()
            .map(|r| {
                Ok(Unnumbered {
                    event_id: r.text(0)?,
                    merchant_id: r.text(1)?,
                    campaign_id: r.text(2)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        drop(rows);
        if batch.is_empty() {
            return Ok(0);
        }
        let mut positions: HashMap<String, i64> = HashMap::new();
        // Each merchant's last position before this batch.
        let mut firsts: HashMap<String, i64> = HashMap::new();
        let mut seqs: HashMap<(String, String), i64> = HashMap::new();
        let mut numbered = Vec::with_capacity(batch.len());
        for e in &batch {
            let position = match positions.get_mut(&e.merchant_id) {
                Some(p) => p,
                None => {
                    let last = fetch_one(
                        &mut tx,
                        "event position",
                        "SELECT COALESCE(MAX(position), 0) FROM event WHERE merchant_id = $1",
                        args![&e.merchant_id],
                    )
                    .await?
                    .int(0)?;
                    firsts.insert(e.merchant_id.clone(), last);
                    positions.entry(e.merchant_id.clone()).or_insert(last)
                }
            };
            *position += 1;
            let position = *position;
            // Per campaign; events of no campaign per merchant.
            let stream = (e.merchant_id.clone(), e.campaign_id.clone());
            let seq = match seqs.get_mut(&stream) {
                Some(s) => s,
                None => {
                    let last = fetch_one(
                        &mut tx,
                        "event seq",
                        "SELECT COALESCE(MAX(seq), 0) FROM event \
                         WHERE merchant_id = $1 AND campaign_id = $2",
                        args![&e.merchant_id, &e.campaign_id],
                    )
                    .await?
                    .int(0)?;
                    seqs.entry(stream).or_insert(last)
                }
            };
            *seq += 1;
            numbered.push((e.event_id.as_str(), position, *seq));
        }
        let n = i64::try_from(numbered.len()).unwrap_or(i64::MAX);
        let updated = write_numbers::<D, _>(&mut tx, &numbered, now).await?;
        if updated != n {
            return Err(StoreError::Conflict(format!(
                "numbered {updated} of {n} events: another sequencer ran"
            )));
        }
        // Their webhook deliveries, in the same transaction: an event is
        // never numbered without them.
        for (merchant, last) in &positions {
            let first = firsts.get(merchant).copied().unwrap_or(0);
            super::webhooks::delivery::fan_out(&mut tx, merchant, (first, *last), now).await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// A merchant's numbered events matching `q`, in position order, at
    /// most `limit`.
    pub async fn list_events(
        &self,
        merchant: &str,
        q: &EventQuery,
        limit: i64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                SELECT_EVENTS,
                args![
                    merchant,
                    q.after,
                    q.campaign.clone().unwrap_or_default(),
                    &q.types,
                    limit
                ],
            )
            .await?;
        rows.iter().map(event_of).collect()
    }

    /// The position of the merchant's event `event_id` once numbered: a
    /// stream or list resumes after it. Another merchant's event is
    /// `OtherMerchant`; an event not yet numbered is `NotFound` for now.
    pub async fn event_position(&self, merchant: &str, event_id: &str) -> Result<i64, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row = tx
            .fetch_optional(
                "SELECT merchant_id, position FROM event WHERE event_id = $1",
                args![event_id],
            )
            .await?
            .ok_or(StoreError::NotFound("event"))?;
        if row.text(0)? != merchant {
            return Err(StoreError::OtherMerchant("event"));
        }
        row.opt_int(1)?.ok_or(StoreError::NotFound("event"))
    }

    /// The merchant's last numbered position (0: none yet).
    pub async fn event_head(&self, merchant: &str) -> Result<i64, StoreError> {
        let mut tx = self.db.begin_read().await?;
        fetch_one(
            &mut tx,
            "event head",
            "SELECT COALESCE(MAX(position), 0) FROM event WHERE merchant_id = $1",
            args![merchant],
        )
        .await?
        .int(0)
    }

    /// `(unnumbered, numbered)` events, for operators and tests.
    pub async fn event_counts(&self) -> Result<(i64, i64), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let row = fetch_one(
            &mut tx,
            "event counts",
            "SELECT COALESCE(SUM(CASE WHEN position IS NULL THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN position IS NULL THEN 0 ELSE 1 END), 0) FROM event",
            args![],
        )
        .await?;
        Ok((row.int(0)?, row.int(1)?))
    }
}

impl<D: Db> Store<D> {
    /// Whether `campaign` is the merchant's: `NotFound` when it does not
    /// exist, `OtherMerchant` when it is another's.
    pub async fn check_campaign_owner(
        &self,
        merchant: &str,
        campaign: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let owner = tx
            .fetch_optional(
                "SELECT merchant_id FROM campaign WHERE campaign_id = $1",
                args![campaign],
            )
            .await?
            .ok_or(StoreError::NotFound("campaign"))?
            .text(0)?;
        if owner != merchant {
            return Err(StoreError::OtherMerchant("campaign"));
        }
        Ok(())
    }

    /// Wakes readers waiting for new events: the value grows each time the
    /// sequencer of this process numbers some (readers also poll, for
    /// events numbered by another process).
    pub fn event_ticks(&self) -> tokio::sync::watch::Receiver<u64> {
        self.event_tick.subscribe()
    }

    /// Numbers what is waiting and wakes the readers; answers how many.
    pub async fn sequence_and_wake(&self, now: Millis) -> Result<i64, StoreError> {
        let n = self.sequence_events(now).await?;
        if n > 0 {
            self.event_tick.send_modify(|t| *t = t.wrapping_add(1));
        }
        Ok(n)
    }
}
