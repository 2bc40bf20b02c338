//! Redemption batching (PostgreSQL only): the POS redemptions that wait at the
//! same time are read and applied by two statements for all of them.
//!
//! A redemption alone is two statements that each commit (a read, then one
//! guarded statement). On a small machine the database's cost per
//! statement and per commit, not per row, is most of a redemption's. Here
//! redemptions queue per engine process; one that gets one of the
//! [`REDEEM_BATCH_TURNS`] turns takes every one waiting (up to
//! [`MAX_REDEEM_BATCH`]) and runs the same two
//! statements over all of them: one read, then one statement that takes
//! each coupon (guarded by `redemption_id IS NULL`) and, only for the
//! coupons it took, inserts the key with its answer and the redemption row.
//! That statement is atomic: every redemption of the batch is applied with
//! its key, or (a key that collides) none is.
//!
//! What the batch does not apply itself is redeemed alone afterwards by
//! [`CouponStore::redeem_one`], which gives its exact answer: a stored
//! answer still in progress or under another request, a take refused (the
//! coupon went to another redemption between the read and the take), the
//! second of two redemptions of one coupon or under one key in a batch, and
//! every redemption of a batch whose statement failed. A batch of one is
//! redeemed alone, so a quiet till sees no difference.

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock},
};

use platform::domain::{
    Millis,
    events::{EventDraft, EventType},
    idempotency::Idempotency,
};
use platform::store::{
    Outcome, StoreError,
    batching::{self, BatchCounters, BatchQueue},
    db::{Db, DbRow, DbTx},
    events::{EVENT, event_values},
    new_id, replay_of,
    rows::{ANSWERED_KEY, Ty, answered_key_values},
};
use serde_json::json;

use super::{
    CouponError, CouponStore, REDEMPTION, RedeemCommand, RedemptionRecord, Refusal, coupon_in_use,
    redemption_values,
};
use crate::domain::template::check_use;

/// The most redemptions one batch takes.
pub const MAX_REDEEM_BATCH: usize = 64;

/// Batches in flight at once per process. With 2, the next batch is read
/// while the other waits for its flush; on 2 cores that gave no more
/// redemptions per second than 1 and cost the engine more CPU per
/// redemption (smaller batches), so 1 (BENCHMARKS.md).
pub const REDEEM_BATCH_TURNS: usize = 1;

/// How a redemption's answer is encoded for its idempotency key.
pub type Encode = Arc<dyn Fn(&RedemptionRecord) -> Vec<u8> + Send + Sync>;

type Answer = Result<Outcome<RedemptionRecord>, CouponError>;

/// A redemption to make.
#[derive(Clone)]
struct RedeemRequest {
    cmd: RedeemCommand,
    idem: Idempotency,
    now: Millis,
    encode: Encode,
}

/// A redemption waiting for its batch.
type Waiting = batching::Waiting<RedeemRequest, Answer>;

/// The redemption queue of one store, and what its batches did.
pub struct RedeemBatches {
    queue: BatchQueue<RedeemRequest, Answer>,
    counters: BatchCounters,
}

impl Default for RedeemBatches {
    fn default() -> Self {
        Self {
            queue: BatchQueue::new(REDEEM_BATCH_TURNS, MAX_REDEEM_BATCH),
            counters: BatchCounters::default(),
        }
    }
}

impl RedeemBatches {
    /// The batches' counters for the metrics endpoint (name, value).
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counters.named([
            "coupon_redeem_batches_total",
            "coupon_redeem_batched_redemptions_total",
            "coupon_redeem_batches_undone_total",
            "coupon_redemptions_alone_total",
        ])
    }
}

/// What the batch's read decided for one redemption.
enum Decided {
    /// Answered without writing: a stored answer, or a refusal.
    Answer(Answer),
    /// To apply: the redemption, its encoded answer and its event.
    Apply(RedemptionRecord, Vec<u8>, EventDraft),
    /// To redeem alone.
    Alone,
}

impl<D: Db> CouponStore<D> {
    /// Queues the redemption; the first waiting one to get a turn redeems
    /// all that wait.
    pub(super) async fn redeem_batched(
        &self,
        batches: &RedeemBatches,
        cmd: &RedeemCommand,
        idem: &Idempotency,
        now: Millis,
        encode: Encode,
    ) -> Answer {
        let request = RedeemRequest {
            cmd: cmd.clone(),
            idem: idem.clone(),
            now,
            encode,
        };
        batches
            .queue
            .submit(request, |batch| self.run_batch(batches, batch))
            .await
    }

    /// Redeems a batch and answers each of its redemptions.
    async fn run_batch(&self, batches: &RedeemBatches, batch: Vec<Waiting>) {
        // One redemption per coupon and per key in a set: the second of
        // either goes alone, after, and then sees the first.
        let (mut codes, mut keys) = (HashSet::new(), HashSet::new());
        let (set, mut alone): (Vec<_>, Vec<_>) = batch.into_iter().partition(|w| {
            let code = (w.cmd.merchant_id.clone(), w.cmd.code.as_str().to_owned());
            let key = (w.idem.scope.clone(), w.idem.key.as_str().to_owned());
            // Both checked, so both sets remember this one.
            let fresh_code = codes.insert(code);
            let fresh_key = keys.insert(key);
            fresh_code && fresh_key
        });
        let mut first = Vec::new();
        if set.len() > 1 {
            match self.redeem_set(&set).await {
                Ok(answers) => {
                    let mut answered = 0;
                    for (w, got) in set.into_iter().zip(answers) {
                        match got {
                            Some(got) => {
                                answered += 1;
                                w.reply(got);
                            }
                            None => first.push(w),
                        }
                    }
                    batches.counters.set_applied(answered);
                }
                Err(e) => {
                    batches.counters.set_undone();
                    tracing::info!(error = %e, redemptions = set.len(), "redemption batch undone; redeeming alone");
                    first = set;
                }
            }
        } else {
            first = set;
        }
        first.append(&mut alone);
        // Alone, but at once, as they would have come without a batch.
        batches.counters.alone(first.len());
        futures_util::future::join_all(first.into_iter().map(|w| async move {
            let encode = w.encode.clone();
            let got = self
                .redeem_one(&w.cmd, &w.idem, w.now, &move |r: &RedemptionRecord| {
                    encode(r)
                })
                .await;
            w.reply(got);
        }))
        .await;
    }

    /// The two statements for the redemptions of `set` (distinct coupons
    /// and keys). Per redemption: its answer, or `None` to redeem it alone.
    /// The answers hold only once this returns `Ok`.
    async fn redeem_set(&self, set: &[Waiting]) -> Result<Vec<Option<Answer>>, StoreError> {
        let mut tx = self.db.begin_autocommit().await?;
        let lookup = set
            .iter()
            .enumerate()
            .map(|(i, w)| {
                json!({
                    "i": i,
                    "code": self.vault.coupon_digest(&w.cmd.code),
                    "merchant": w.cmd.merchant_id,
                    "s": w.idem.scope,
                    "m": w.idem.method,
                    "k": w.idem.key.as_str(),
                })
            })
            .collect::<Vec<_>>();
        let rows = tx
            .fetch_all(
                concat!(
                    "SELECT x.i, k.fingerprint, k.response, ",
                    sql_coupon_in_use!(),
                    " FROM json_to_recordset(CAST($1 AS json)) \
                       AS x(i bigint, code text, merchant text, s text, m text, k text) \
                     LEFT JOIN idempotency k \
                       ON k.scope = x.s AND k.method = x.m AND k.idem_key = x.k \
                     LEFT JOIN coupon c ON c.code_digest = x.code AND c.merchant_id = x.merchant \
                     LEFT JOIN coupon_template t ON t.template_id = c.template_id"
                ),
                args![serde_json::Value::Array(lookup).to_string()],
            )
            .await?;
        let mut decided: Vec<Decided> = set.iter().map(|_| Decided::Alone).collect();
        for r in &rows {
            let at = usize::try_from(r.int(0)?)
                .ok()
                .filter(|at| *at < set.len())
                .ok_or_else(|| StoreError::Corrupt("redemption batch row".into()))?;
            decided[at] = decide(&set[at], r)?;
        }

        let (mut apply, mut keys, mut events) = (Vec::new(), Vec::new(), Vec::new());
        for (w, d) in set.iter().zip(&decided) {
            if let Decided::Apply(r, answer, event) = d {
                let mut event = EVENT.json_row(&event_values(event))?;
                if let serde_json::Value::Object(event) = &mut event {
                    event.insert("redemption_id".into(), r.redemption_id.clone().into());
                }
                events.push(event);
                apply.push(REDEMPTION.json_row(&redemption_values(r, &w.cmd.till(), &w.idem)?)?);
                let mut key = ANSWERED_KEY.json_row(&answered_key_values(
                    &w.idem,
                    r.redeemed_at,
                    answer.clone(),
                ))?;
                if let serde_json::Value::Object(key) = &mut key {
                    key.insert("redemption_id".into(), r.redemption_id.clone().into());
                }
                keys.push(key);
            }
        }
        let mut taken = HashSet::new();
        if !apply.is_empty() {
            // One statement: each guarded take, then the key and the row
            // of each redemption that took its coupon, both rows from their
            // one definition (`REDEMPTION`, `ANSWERED_KEY`).
            static SQL: LazyLock<String> = LazyLock::new(|| {
                let took = "x.redemption_id IN (SELECT redemption_id FROM taken)";
                format!(
                    "WITH taken AS (UPDATE coupon c SET redemption_id = x.redemption_id \
                       FROM json_to_recordset(CAST($1 AS json)) AS x(redemption_id text, \
                       coupon_id text) \
                       WHERE c.coupon_id = x.coupon_id AND c.redemption_id IS NULL \
                       RETURNING c.coupon_id, c.redemption_id), \
                     keyed AS ({}), redeemed AS ({}), evented AS ({}) \
                     SELECT redemption_id FROM taken",
                    ANSWERED_KEY.insert_json_with(2, &[("redemption_id", Ty::Text)], took),
                    REDEMPTION.insert_json(1, took),
                    EVENT.insert_json_with(3, &[("redemption_id", Ty::Text)], took)
                )
            });
            let array = |rows: Vec<serde_json::Value>| serde_json::Value::Array(rows).to_string();
            let rows = tx
                .fetch_all(
                    SQL.as_str(),
                    args![array(apply), array(keys), array(events)],
                )
                .await?;
            for r in &rows {
                taken.insert(r.text(0)?);
            }
        }
        tx.commit().await?;
        Ok(decided
            .into_iter()
            .map(|d| match d {
                Decided::Answer(got) => Some(got),
                Decided::Apply(r, ..) if taken.contains(&r.redemption_id) => {
                    Some(Ok(Outcome::Fresh(r)))
                }
                // Taken by another redemption after the read: alone, it
                // finds out whose.
                Decided::Apply(..) | Decided::Alone => None,
            })
            .collect())
    }
}

/// What one row of the batch's read means for its redemption, as
/// [`CouponStore::redeem_one`] decides from its own read.
fn decide(w: &Waiting, row: &impl DbRow) -> Result<Decided, StoreError> {
    if let Some(fingerprint) = row.opt_bytes(1)? {
        return Ok(match replay_of(&w.idem, fingerprint, row.opt_bytes(2)?) {
            Ok(bytes) => Decided::Answer(Ok(Outcome::Replay(bytes))),
            // Another request's key, or a copy in progress: alone says
            // which.
            Err(_) => Decided::Alone,
        });
    }
    if row.opt_text(3)?.is_none() {
        return Ok(Decided::Answer(Err(Refusal::NotFound.into())));
    }
    let c = coupon_in_use(row, 3).map_err(|e| match e {
        CouponError::Store(e) => e,
        other => StoreError::Corrupt(other.to_string()),
    })?;
    let discount = match check_use(&c.usage(), &w.cmd.store_id, &w.cmd.order, w.now) {
        Ok(discount) => discount,
        Err(refusal) => return Ok(Decided::Answer(Err(refusal.into()))),
    };
    let r = RedemptionRecord {
        redemption_id: new_id(),
        coupon_id: c.coupon_id.clone(),
        store_id: w.cmd.store_id.clone(),
        order_amount_cents: w.cmd.order.amount_cents,
        discount_cents: discount,
        order_ref: w.cmd.order_ref.clone(),
        redeemed_at: w.now,
        reversal_id: None,
        reversed_at: None,
        code_tail: w.cmd.code.tail().to_owned(),
    };
    let answer = (w.encode)(&r);
    let event = c.event(EventType::CouponRedeemed, &r, &w.cmd.till());
    Ok(Decided::Apply(r, answer, event))
}
