//! Draw batching (PostgreSQL only): the draws of one campaign that wait at the
//! same time become one transaction.
//!
//! Every draw of a campaign takes the campaign row's lock for its ledger
//! number and holds it to commit, so one row caps the campaign's draw rate
//! at one commit (a flush and a few round trips) per draw, whatever the
//! replicas. Here the draws of a campaign queue per engine process; a draw
//! that gets one of the campaign's [`DRAW_BATCH_TURNS`] turns takes every
//! draw waiting (up to [`MAX_DRAW_BATCH`]) and runs them as one transaction
//! of a handful of set-based statements: one lock, one flush, one ledger
//! step of `n`. Each draw is still
//! all-or-nothing, because a draw either has all its rows written in that
//! transaction or none: its guards refuse it before it writes anything
//! (counts), or its refusal is undone in the same transaction (the daily
//! count of a draw the total refused), or the whole batch rolls back.
//!
//! The batch handles the common draw: a first request (no stored answer),
//! one draw per player per batch. Any
//! other draw, a refused one, and every draw of a batch that failed, is
//! drawn again alone afterwards by [`Store::draw_one`], which gives its
//! exact answer (a replay, a refusal, an error). A batch of one is drawn
//! alone too, so a quiet campaign sees no difference.
//!
//! Scarce things stay guarded in SQL in the batch's transaction: the
//! counters' limits are in their upserts' `WHERE`, the stock is taken with
//! `LEAST(remaining, wanted)` under a row lock, per-user and daily caps go
//! through the same guarded statements as a single draw, and the keys are
//! inserted without `ON CONFLICT`.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex, PoisonError},
};

use std::sync::LazyLock;

use platform::store::events::EVENT;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{
    AWARD, DRAW, DrawCommand, DrawFacts, DrawOutcome, DrawRows, WheelRead, corrupt, not_bumped,
    outcome_of, take_prize,
};
use crate::{
    clock::Clock,
    domain::{
        Millis,
        fairness::player_pseudonym,
        idempotency::Idempotency,
        wheel::{FallbackReason, PrizeKind, campaign_day, remaining_chances},
    },
    store::{
        Outcome, Store, StoreError,
        batching::{self, BatchCounters, BatchQueue},
        db::{Db, DbRow, DbTx, args, fetch_one},
        money::pay_cash_prize,
        outbox::OUTBOX,
        replay_of,
        rows::ANSWERED_KEY,
    },
};

/// The most draws one batch takes, so a batch's statements stay small and
/// its latency bounded.
pub const MAX_DRAW_BATCH: usize = 64;

/// Batches of one campaign in flight at once per process. With 2, the next
/// batch reads and counts while the other holds the lock; on 2 cores that
/// gave no more draws per second than 1 and cost the engine more CPU per
/// draw (smaller batches), so 1 (BENCHMARKS.md).
pub const DRAW_BATCH_TURNS: usize = 1;

/// Campaigns remembered before idle queues are dropped.
const PRUNE_AT: usize = 4096;

/// How a draw's answer is encoded for its idempotency key.
pub type Encode = Arc<dyn Fn(&DrawOutcome) -> Vec<u8> + Send + Sync>;

type Answer = Result<Outcome<DrawOutcome>, StoreError>;

/// A draw to make.
#[derive(Clone)]
struct DrawRequest {
    cmd: DrawCommand,
    idem: Idempotency,
    encode: Encode,
}

/// A draw waiting for its batch.
type Waiting = batching::Waiting<DrawRequest, Answer>;

type CampaignQueue = BatchQueue<DrawRequest, Answer>;

/// The per-campaign draw queues of one store.
#[derive(Default)]
pub struct DrawBatches {
    queues: Mutex<HashMap<Uuid, Arc<CampaignQueue>>>,
    counters: BatchCounters,
}

impl DrawBatches {
    /// The batches' counters for the metrics endpoint (name, value).
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        self.counters.named([
            "campaign_draw_batches_total",
            "campaign_draw_batched_draws_total",
            "campaign_draw_batches_undone_total",
            "campaign_draws_alone_total",
        ])
    }

    fn queue(&self, campaign: Uuid) -> Arc<CampaignQueue> {
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        if queues.len() >= PRUNE_AT && !queues.contains_key(&campaign) {
            // A queue nobody waits in is only memory.
            queues.retain(|_, q| Arc::strong_count(q) > 1);
        }
        queues
            .entry(campaign)
            .or_insert_with(|| Arc::new(BatchQueue::new(DRAW_BATCH_TURNS, MAX_DRAW_BATCH)))
            .clone()
    }
}

/// One draw of a batch after its counts: what it rolled and, once the
/// prizes are handed out, what it is given.
struct Counted<'a> {
    at: usize,
    pseudonym: String,
    today: i64,
    total: i64,
    roll: i64,
    rolled: &'a super::SlotRecord,
    fallback: FallbackReason,
}

/// What the phases of one batch's transaction share: its draws, their
/// campaign and its wheel as the transaction read it, and the day and
/// time they are drawn at.
struct Batch<'a> {
    set: &'a [Waiting],
    campaign_id: Uuid,
    campaign: &'a str,
    wheel: &'a WheelRead,
    fallback_slot: &'a super::SlotRecord,
    day: &'a str,
    now: Millis,
}

/// Extra chances earned (in total, today) per draw, by its index in the
/// batch.
type Extra = HashMap<usize, (i64, i64)>;

/// The rows a batch writes, one JSON array per table, and per draw (index
/// in the batch) its answer and the cash amount of the prize it is given.
struct Written {
    draws: Vec<Json>,
    awards: Vec<Json>,
    queued: Vec<Json>,
    events: Vec<Json>,
    answers: Vec<Json>,
    outs: Vec<(usize, DrawOutcome, i64)>,
}

impl<D: Db> Store<D> {
    /// Queues the draw with the campaign's other waiting draws; the first
    /// of them to get one of the campaign's turns draws them all.
    pub(super) async fn draw_batched(
        &self,
        batches: &DrawBatches,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: Encode,
    ) -> Answer {
        let request = DrawRequest {
            cmd: cmd.clone(),
            idem: idem.clone(),
            encode,
        };
        batches
            .queue(cmd.campaign_id)
            .submit(request, |batch| self.run_batch(batches, batch, clock))
            .await
    }

    /// Draws a batch and answers each of its draws.
    async fn run_batch(&self, batches: &DrawBatches, batch: Vec<Waiting>, clock: &dyn Clock) {
        // One draw per player in a set: a statement cannot upsert one
        // counter row twice. A player's second draw goes alone, after.
        let mut players = HashSet::new();
        let (set, mut alone): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .partition(|w| players.insert(w.cmd.player_id.clone()));
        if set.len() > 1 {
            match self.draw_set(&set, clock).await {
                Ok(answers) => {
                    let mut rest = Vec::new();
                    let mut answered = 0;
                    for (w, got) in set.into_iter().zip(answers) {
                        match got {
                            Some(got) => {
                                answered += 1;
                                w.reply(got);
                            }
                            None => rest.push(w),
                        }
                    }
                    batches.counters.set_applied(answered);
                    rest.append(&mut alone);
                    alone = rest;
                }
                Err(e) => {
                    batches.counters.set_undone();
                    tracing::info!(error = %e, draws = set.len(), "draw batch undone; drawing alone");
                    let mut rest = set;
                    rest.append(&mut alone);
                    alone = rest;
                }
            }
        } else {
            let mut rest = set;
            rest.append(&mut alone);
            alone = rest;
        }
        // Alone, but at once, as they would have come without a batch.
        batches.counters.alone(alone.len());
        futures_util::future::join_all(alone.into_iter().map(|w| async move {
            let encode = w.encode.clone();
            let got = self
                .draw_one(&w.cmd, clock, &w.idem, &move |d: &DrawOutcome| encode(d))
                .await;
            w.reply(got);
        }))
        .await;
    }

    /// One transaction for the draws of `set` (one campaign, distinct
    /// players). Per draw: its answer, or `None` to draw it alone. The
    /// answers hold only once this returns `Ok` (committed).
    async fn draw_set(
        &self,
        set: &[Waiting],
        clock: &dyn Clock,
    ) -> Result<Vec<Option<Answer>>, StoreError> {
        let mut answers: Vec<Option<Answer>> = set.iter().map(|_| None).collect();
        let Some(first) = set.first() else {
            return Ok(answers);
        };
        let campaign_id = first.cmd.campaign_id;
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        let now = clock.now_ms();
        let rows = tx
            .fetch_all(sql_read_wheel!(""), args![&campaign, ""])
            .await?;
        if rows.is_empty() {
            return Ok(answers);
        }
        let wheel = WheelRead::of(&rows)?;
        if wheel.check(&first.cmd.merchant_id, now).is_err() {
            return Ok(answers);
        }
        let fallback_slot = wheel.fallback()?;
        let day = campaign_day(now, &wheel.time_zone).map_err(|e| corrupt("time zone", e))?;
        let batch = Batch {
            set,
            campaign_id,
            campaign: &campaign,
            wheel: &wheel,
            fallback_slot,
            day: &day,
            now,
        };

        let (mut eligible, extra) = batch.read_stored(&mut tx, &mut answers).await?;
        if eligible.len() < 2 {
            // Nothing written: the replays stand, the rest go alone.
            return Ok(answers);
        }
        // The rows of the players' counters are locked in one order by
        // every batch, so two batches (two replicas) cannot deadlock.
        eligible.sort_by(|a, b| set[*a].cmd.player_id.cmp(&set[*b].cmd.player_id));

        let count_of = batch.count_draws(&mut tx, &eligible).await?;
        let mut counted = batch.roll_counted(&eligible, &count_of)?;
        if counted.is_empty() {
            return Ok(answers);
        }
        let n = i64::try_from(counted.len()).map_err(|_| corrupt("batch", counted.len()))?;
        let last = batch.step_ledger(&mut tx, n).await?;
        batch.take_prizes(&mut tx, &mut counted).await?;

        // The answers, then the draw rows, awards, outbox entries and keys
        // with their answers, in one statement.
        let written = batch.answer_rows(&counted, &extra, last - n + 1)?;
        let outs = batch.write_rows(&mut tx, written, n).await?;
        batch.pay_cash(&mut tx, &outs).await?;
        tx.commit().await?;
        for (at, out, _) in outs {
            answers[at] = Some(Ok(Outcome::Fresh(out)));
        }
        Ok(answers)
    }
}

impl<'a> Batch<'a> {
    /// Stored answers and extra chances, per draw, in one statement. A draw
    /// whose key holds its answer gets it in `answers` (a replay); a first
    /// request on the wheel's merchant is eligible for the batch, with its
    /// extra chances. Any other draw is left to be drawn alone.
    async fn read_stored<T: DbTx>(
        &self,
        tx: &mut T,
        answers: &mut [Option<Answer>],
    ) -> Result<(Vec<usize>, Extra), StoreError> {
        let lookup = self
            .set
            .iter()
            .enumerate()
            .map(|(i, w)| {
                json!({
                    "i": i,
                    "p": w.cmd.player_id,
                    "s": w.idem.scope,
                    "m": w.idem.method,
                    "k": w.idem.key.as_str(),
                })
            })
            .collect::<Vec<_>>();
        let found = tx
            .fetch_all(
                "SELECT x.i, k.fingerprint, k.response, \
                 (SELECT CAST(COALESCE(SUM(e.granted), 0) AS BIGINT) FROM extra_chance e \
                   WHERE e.campaign_id = $1 AND e.player_id = x.p), \
                 (SELECT CAST(COALESCE(SUM(e.granted), 0) AS BIGINT) FROM extra_chance e \
                   WHERE e.campaign_id = $1 AND e.player_id = x.p AND e.day = $3) \
                 FROM json_to_recordset(CAST($2 AS json)) AS x(i bigint, p text, s text, m text, k text) \
                 LEFT JOIN idempotency k ON k.scope = x.s AND k.method = x.m AND k.idem_key = x.k",
                args![self.campaign, serde_json::Value::Array(lookup).to_string(), self.day],
            )
            .await?;
        let mut eligible = Vec::new();
        // Extra chances earned (in total, today) per draw.
        let mut extra = HashMap::new();
        for r in &found {
            let at = usize::try_from(r.int(0)?).map_err(|_| corrupt("batch row", "index"))?;
            let w = self.set.get(at).ok_or_else(|| corrupt("batch row", at))?;
            if let Some(fingerprint) = r.opt_bytes(1)? {
                // A reused key or a copy in progress is drawn alone, which
                // says which.
                if let Ok(bytes) = replay_of(&w.idem, fingerprint, r.opt_bytes(2)?) {
                    answers[at] = Some(Ok(Outcome::Replay(bytes)));
                }
            } else if w.cmd.merchant_id == self.wheel.merchant_id {
                eligible.push(at);
                extra.insert(at, (r.int(3)?, r.int(4)?));
            }
        }
        Ok((eligible, extra))
    }

    /// Counts the `eligible` draws against their players' limits; per
    /// draw the limits let through: its counts (today, in total) after it.
    async fn count_draws<T: DbTx>(
        &self,
        tx: &mut T,
        eligible: &[usize],
    ) -> Result<HashMap<usize, (i64, i64)>, StoreError> {
        // Count each draw against its player's limits, as a single draw
        // does (`count_draw`), for all of them in one statement. A draw the
        // daily limit refuses writes nothing; one the total refuses has its
        // daily count undone below. Only counted draws note participation.
        let players = eligible
            .iter()
            .map(|&at| {
                let cmd = &self.set[at].cmd;
                json!({"i": at, "p": cmd.player_id, "c": cmd.channel.as_deref().unwrap_or("")})
            })
            .collect::<Vec<_>>();
        let counts = tx
            .fetch_all(
                "WITH x AS (SELECT * FROM json_to_recordset(CAST($2 AS json)) \
                   AS x(i bigint, p text, c text)), \
                 today AS (INSERT INTO player_daily_draws (campaign_id, player_id, day, draws) \
                   SELECT $1, x.p, $3, 1 FROM x \
                   ON CONFLICT (campaign_id, player_id, day) \
                   DO UPDATE SET draws = player_daily_draws.draws + 1 \
                   WHERE player_daily_draws.draws < $4 + COALESCE((SELECT e.granted \
                     FROM extra_chance e WHERE e.campaign_id = $1 \
                     AND e.player_id = player_daily_draws.player_id AND e.day = $3), 0) \
                   RETURNING player_id, draws), \
                 total AS (INSERT INTO player_draws (campaign_id, player_id, draws) \
                   SELECT $1, today.player_id, 1 FROM today \
                   ON CONFLICT (campaign_id, player_id) \
                   DO UPDATE SET draws = player_draws.draws + 1 \
                   WHERE player_draws.draws < $5 + COALESCE((SELECT CAST(SUM(e.granted) AS BIGINT) \
                     FROM extra_chance e WHERE e.campaign_id = $1 \
                     AND e.player_id = player_draws.player_id), 0) \
                   RETURNING player_id, draws), \
                 seen_day AS (INSERT INTO participant_day (campaign_id, day, channel, player_id) \
                   SELECT $1, $3, x.c, x.p FROM x JOIN total ON total.player_id = x.p \
                   ON CONFLICT DO NOTHING), \
                 seen AS (INSERT INTO participant (campaign_id, player_id, first_at, first_day, \
                   first_channel) \
                   SELECT $1, x.p, $6, $3, x.c FROM x JOIN total ON total.player_id = x.p \
                   ON CONFLICT DO NOTHING) \
                 SELECT x.i, today.draws, total.draws FROM x \
                 LEFT JOIN today ON today.player_id = x.p \
                 LEFT JOIN total ON total.player_id = x.p",
                args![
                    self.campaign,
                    serde_json::Value::Array(players).to_string(),
                    self.day,
                    self.wheel.per_day,
                    self.wheel.per_campaign,
                    self.now
                ],
            )
            .await?;
        let mut count_of = HashMap::new();
        let mut undo_today = Vec::new();
        for r in &counts {
            let at = usize::try_from(r.int(0)?).map_err(|_| corrupt("batch row", "index"))?;
            match (r.opt_int(1)?, r.opt_int(2)?) {
                (Some(today), Some(total)) => {
                    count_of.insert(at, (today, total));
                }
                (Some(_), None) => undo_today.push(self.set[at].cmd.player_id.clone()),
                _ => {}
            }
        }
        if !undo_today.is_empty() {
            tx.execute(
                "UPDATE player_daily_draws SET draws = draws - 1 \
                 WHERE campaign_id = $1 AND day = $2 \
                 AND player_id IN (SELECT value FROM json_array_elements_text(CAST($3 AS json)))",
                args![self.campaign, self.day, json!(undo_today).to_string()],
            )
            .await?;
        }
        Ok(count_of)
    }

    /// The counted draws of `eligible` (in its order), each with its roll.
    fn roll_counted(
        &self,
        eligible: &[usize],
        count_of: &HashMap<usize, (i64, i64)>,
    ) -> Result<Vec<Counted<'a>>, StoreError> {
        // Roll each counted draw, in ledger order.
        let mut counted = Vec::new();
        for &at in eligible {
            let Some(&(today, total)) = count_of.get(&at) else {
                continue;
            };
            let pseudonym = player_pseudonym(self.campaign_id, &self.set[at].cmd.player_id);
            let (roll, rolled) = self.wheel.roll(self.campaign_id, &pseudonym, total)?;
            counted.push(Counted {
                at,
                pseudonym,
                today,
                total,
                roll,
                rolled,
                fallback: FallbackReason::None,
            });
        }
        Ok(counted)
    }

    /// Steps the campaign's ledger by `n`; its last number after the step.
    async fn step_ledger<T: DbTx>(&self, tx: &mut T, n: i64) -> Result<i64, StoreError> {
        // The ledger step: the campaign row's lock, held to commit, and the
        // batch's ledger numbers.
        match tx
            .fetch_optional(
                "UPDATE campaign SET draw_count = draw_count + $3 \
                 WHERE campaign_id = $1 AND status = 'published' AND table_version = $2 \
                 RETURNING draw_count",
                args![self.campaign, self.wheel.table_version, n],
            )
            .await?
        {
            Some(r) => r.int(0),
            None => Err(not_bumped(tx, self.campaign).await),
        }
    }

    /// Hands out the prizes the `counted` draws rolled; a draw that does
    /// not get its prize has its `fallback` set.
    async fn take_prizes<T: DbTx>(
        &self,
        tx: &mut T,
        counted: &mut [Counted<'a>],
    ) -> Result<(), StoreError> {
        // Prizes, in ledger order. A plain stock prize: all its wins of the
        // batch in one guarded statement, the first `taken` get it. A prize
        // with a per-user or daily cap, or paid in cash: one draw at a time,
        // through the same guarded statements as a single draw.
        let mut wanted: BTreeMap<u32, i64> = BTreeMap::new();
        for c in counted.iter_mut() {
            let spec = &c.rolled.spec;
            if spec.kind == PrizeKind::Thanks {
                continue;
            }
            if spec.per_user_cap.is_none()
                && spec.daily_cap.is_none()
                && spec.kind != PrizeKind::Cash
            {
                *wanted.entry(c.rolled.index).or_default() += 1;
            } else {
                c.fallback = take_prize(tx, &self.set[c.at].cmd, self.day, c.rolled).await?;
            }
        }
        if !wanted.is_empty() {
            let mut left = self.take_stock(tx, &wanted).await?;
            for c in counted.iter_mut() {
                // Only the plain stock prizes wanted above are in `left`.
                let Some(units) = left.get_mut(&c.rolled.index) else {
                    continue;
                };
                if *units > 0 {
                    *units -= 1;
                } else {
                    c.fallback = FallbackReason::OutOfStock;
                }
            }
        }
        Ok(())
    }

    /// Takes the `wanted` units of each plain stock prize (slot, units) in
    /// one guarded statement; per slot, the units taken.
    async fn take_stock<T: DbTx>(
        &self,
        tx: &mut T,
        wanted: &BTreeMap<u32, i64>,
    ) -> Result<BTreeMap<u32, i64>, StoreError> {
        let want = wanted
            .iter()
            .map(|(slot, n)| json!({"slot": slot, "n": n}))
            .collect::<Vec<_>>();
        let taken = tx
            .fetch_all(
                "WITH w AS (SELECT * FROM json_to_recordset(CAST($2 AS json)) \
                   AS w(slot bigint, n bigint)), \
                 held AS (SELECT p.slot_index, p.remaining FROM prize_slot p \
                   JOIN w ON w.slot = p.slot_index WHERE p.campaign_id = $1 FOR UPDATE OF p), \
                 took AS (UPDATE prize_slot p \
                   SET remaining = p.remaining - LEAST(held.remaining, w.n) \
                   FROM held JOIN w ON w.slot = held.slot_index \
                   WHERE p.campaign_id = $1 AND p.slot_index = held.slot_index \
                   AND p.remaining >= LEAST(held.remaining, w.n) \
                   RETURNING p.slot_index, LEAST(held.remaining, w.n) AS taken) \
                 SELECT slot_index, taken FROM took",
                args![self.campaign, serde_json::Value::Array(want).to_string()],
            )
            .await?;
        let mut left: BTreeMap<u32, i64> = BTreeMap::new();
        for r in &taken {
            let slot = u32::try_from(r.int(0)?).map_err(|_| corrupt("slot", "index"))?;
            left.insert(slot, r.int(1)?);
        }
        if left.len() != wanted.len() {
            return Err(corrupt("prize stock", "a wanted slot was not found"));
        }
        Ok(left)
    }

    /// Each counted draw's answer and the rows it writes; the first has
    /// the ledger number `first_seq`, the next ones follow.
    fn answer_rows(
        &self,
        counted: &[Counted<'_>],
        extra: &Extra,
        first_seq: i64,
    ) -> Result<Written, StoreError> {
        let mut rows = Written {
            draws: Vec::new(),
            awards: Vec::new(),
            queued: Vec::new(),
            events: Vec::new(),
            answers: Vec::new(),
            outs: Vec::with_capacity(counted.len()),
        };
        for (j, c) in counted.iter().enumerate() {
            let w = &self.set[c.at];
            let given = if c.fallback == FallbackReason::None {
                c.rolled
            } else {
                self.fallback_slot
            };
            let facts = DrawFacts {
                cmd: &w.cmd,
                campaign: self.campaign,
                day: self.day,
                pseudonym: &c.pseudonym,
                draw_sequence: c.total,
                roll: c.roll,
                rolled: c.rolled,
                table_version: self.wheel.table_version,
                now: self.now,
                remaining: {
                    let (total, today) = extra.get(&c.at).copied().unwrap_or_default();
                    remaining_chances(
                        self.wheel.per_day + today,
                        self.wheel.per_campaign + total,
                        c.today,
                        c.total,
                    )
                },
                idem: &w.idem,
                backend: crate::store::db::Backend::Postgres,
            };
            let out = outcome_of(&facts, given, c.fallback)?;
            let response = (w.encode)(&out);
            let r = DrawRows::of(&facts, &out, given, Some(first_seq + j as i64), response)?;
            rows.draws.push(DRAW.json_row(&r.draw)?);
            if let Some(award) = &r.award {
                rows.awards.push(AWARD.json_row(award)?);
            }
            if let Some(outbox) = &r.outbox {
                rows.queued.push(OUTBOX.json_row(outbox)?);
            }
            if let Some(event) = &r.event {
                rows.events.push(EVENT.json_row(event)?);
            }
            rows.answers.push(ANSWERED_KEY.json_row(&r.answer)?);
            rows.outs.push((c.at, out, given.spec.amount));
        }
        Ok(rows)
    }

    /// Writes the `n` draws' rows in one statement; their answers once it
    /// has (index in the set, answer, cash amount of the prize given).
    async fn write_rows<T: DbTx>(
        &self,
        tx: &mut T,
        rows: Written,
        n: i64,
    ) -> Result<Vec<(usize, DrawOutcome, i64)>, StoreError> {
        // Every row from its one definition (`DrawRows`), one JSON array per
        // table.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH drawn AS ({} RETURNING 1), awarded AS ({}), queued AS ({}), \
                 evented AS ({}), answered AS ({}) SELECT CAST(COUNT(*) AS BIGINT) FROM drawn",
                DRAW.insert_json(1, ""),
                AWARD.insert_json(2, ""),
                OUTBOX.insert_json(3, ""),
                EVENT.insert_json(4, ""),
                ANSWERED_KEY.insert_json(5, "")
            )
        });
        let array = |rows: Vec<Json>| Json::Array(rows).to_string();
        let written = fetch_one(
            tx,
            "draw batch",
            SQL.as_str(),
            args![
                array(rows.draws),
                array(rows.awards),
                array(rows.queued),
                array(rows.events),
                array(rows.answers)
            ],
        )
        .await?
        .int(0)?;
        if written != n {
            return Err(corrupt("draw batch", written));
        }
        Ok(rows.outs)
    }

    /// Pays the cash prizes of the answers `outs`.
    async fn pay_cash<T: DbTx>(
        &self,
        tx: &mut T,
        outs: &[(usize, DrawOutcome, i64)],
    ) -> Result<(), StoreError> {
        for (at, out, amount) in outs {
            if out
                .award
                .as_ref()
                .is_some_and(|a| a.kind == PrizeKind::Cash)
            {
                pay_cash_prize(
                    tx,
                    self.campaign,
                    &self.set[*at].cmd.player_id,
                    &out.draw_id,
                    *amount,
                    self.now,
                )
                .await?;
            }
        }
        Ok(())
    }
}
