//! What one draw writes: its place in the ledger, the counted chances,
//! the prize taken under its guards, and the rows of the draw, the award
//! and the stored answer (one statement on PostgreSQL, step by step on
//! SQLite).

use super::*;

/// The draw's place in the campaign's ledger: the campaign row's draw
/// counter, bumped under its row lock, which the draw holds until it
/// commits. So draws of one campaign commit in ledger order (an auditor
/// replays them in that order; stock is taken after this, under the same
/// lock), and End, Pause and prize table revisions, which lock the row
/// first too, wait for draws in flight. Taken as late as possible (only the
/// prize, the draw record and the answer follow) because every draw of the
/// campaign queues here. A draw that read the campaign before an End, a
/// Pause or a revision committed finds it changed here and is refused.
pub(super) async fn next_ledger_seq<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    table_version: i64,
) -> Result<i64, StoreError> {
    let bumped = tx
        .fetch_optional(
            "UPDATE campaign SET draw_count = draw_count + 1 \
             WHERE campaign_id = $1 AND status = 'published' AND table_version = $2 \
             RETURNING draw_count",
            args![campaign, table_version],
        )
        .await?;
    match bumped {
        Some(row) => row.int(0),
        None => Err(not_bumped(tx, campaign).await),
    }
}

/// Why the ledger step found the campaign changed since the draw read it.
pub(super) async fn not_bumped<T: DbTx>(tx: &mut T, campaign: &str) -> StoreError {
    let now = fetch_one(
        tx,
        "campaign",
        "SELECT status FROM campaign WHERE campaign_id = $1",
        args![campaign],
    )
    .await;
    match now.and_then(|r| status_of(&r.text(0)?)) {
        Ok(CampaignStatus::Published) => {
            StoreError::Conflict("the prize table was revised during the draw; retry".into())
        }
        Ok(s) => Rejection::NotRunning(s.as_str()).into(),
        Err(e) => e,
    }
}

/// Tries to take one unit of `slot` for the player: every guard is a
/// conditional write, the contended stock row last. A refused guard undoes
/// the guards already passed in this transaction (cheaper than a savepoint
/// on the common path, where nothing is refused) and is the fallback
/// reason. `Err` only for database failures.
pub(super) async fn take_prize<T: DbTx>(
    tx: &mut T,
    cmd: &DrawCommand,
    day: &str,
    slot: &SlotRecord,
) -> Result<FallbackReason, StoreError> {
    let campaign = cmd.campaign_id.to_string();
    let index = i64::from(slot.index);
    let mut user_counted = false;
    let mut day_counted = false;
    let refused = 'guards: {
        if let Some(cap) = slot.spec.per_user_cap {
            if !count_user_win(tx, &campaign, index, &cmd.player_id, cap).await? {
                break 'guards FallbackReason::UserCap;
            }
            user_counted = true;
        }
        if let Some(cap) = slot.spec.daily_cap {
            let ok = tx
                .fetch_optional(
                    "INSERT INTO prize_daily_release (campaign_id, slot_index, day, released) \
                     VALUES ($1, $2, $3, 1) \
                     ON CONFLICT (campaign_id, slot_index, day) \
                     DO UPDATE SET released = prize_daily_release.released + 1 \
                     WHERE prize_daily_release.released < $4 RETURNING released",
                    args![&campaign, index, day, cap],
                )
                .await?;
            if ok.is_none() {
                break 'guards FallbackReason::DailyCap;
            }
            day_counted = true;
        }
        if take_stock(tx, &campaign, index).await? {
            return Ok(FallbackReason::None);
        }
        FallbackReason::OutOfStock
    };
    if user_counted {
        tx.execute(
            "UPDATE player_prize_count SET won = won - 1 \
             WHERE campaign_id = $1 AND slot_index = $2 AND player_id = $3",
            args![&campaign, index, &cmd.player_id],
        )
        .await?;
    }
    if day_counted {
        tx.execute(
            "UPDATE prize_daily_release SET released = released - 1 \
             WHERE campaign_id = $1 AND slot_index = $2 AND day = $3",
            args![&campaign, index, day],
        )
        .await?;
    }
    Ok(refused)
}

// The draw-count guards, written once for the two ways they are sent:
// one by one (SQLite), or as one statement of CTEs (PostgreSQL).
macro_rules! sql_count_today {
    () => {
        "INSERT INTO player_daily_draws (campaign_id, player_id, day, draws) \
         VALUES ($1, $2, $3, 1) ON CONFLICT (campaign_id, player_id, day) \
         DO UPDATE SET draws = player_daily_draws.draws + 1 \
         WHERE player_daily_draws.draws < $4 + COALESCE((SELECT e.granted \
           FROM extra_chance e WHERE e.campaign_id = $1 AND e.player_id = $2 \
           AND e.day = $3), 0) RETURNING draws"
    };
}
macro_rules! sql_count_total {
    ($limit:literal) => {
        concat!(
            "INSERT INTO player_draws (campaign_id, player_id, draws) VALUES ($1, $2, 1) \
             ON CONFLICT (campaign_id, player_id) \
             DO UPDATE SET draws = player_draws.draws + 1 \
             WHERE player_draws.draws < ",
            $limit,
            " + COALESCE((SELECT CAST(SUM(e.granted) AS BIGINT) \
             FROM extra_chance e WHERE e.campaign_id = $1 AND e.player_id = $2), 0) \
             RETURNING draws"
        )
    };
}
/// Counts the draw against the player's daily and total limits (each a
/// guarded upsert whose limit grows by the extra chances earned) and notes
/// the participation; `(today, total)` after this draw. All of it touches
/// only this player's rows. A refusal aborts the whole transaction, so the
/// parts that ran anyway are undone. One statement on PostgreSQL
/// (`draw_postgres.rs`), step by step on SQLite (`draw_sqlite.rs`).
pub(super) async fn count_draw<T: DbTx>(
    tx: &mut T,
    backend: Backend,
    campaign: &str,
    cmd: &DrawCommand,
    day: &str,
    limits: (i64, i64),
    now: Millis,
) -> Result<(i64, i64), StoreError> {
    match backend {
        Backend::Postgres => {
            super::draw_postgres::count_draw(tx, campaign, cmd, day, limits, now).await
        }
        Backend::Sqlite => {
            super::draw_sqlite::count_draw(tx, campaign, cmd, day, limits, now).await
        }
    }
}

/// What a draw has settled before it learns whether its prize is given:
/// the player's draw number, the roll and the chances left.
pub(super) struct DrawFacts<'a> {
    pub(super) cmd: &'a DrawCommand,
    pub(super) campaign: &'a str,
    pub(super) day: &'a str,
    pub(super) pseudonym: &'a str,
    pub(super) draw_sequence: i64,
    pub(super) roll: i64,
    pub(super) rolled: &'a SlotRecord,
    pub(super) table_version: i64,
    pub(super) now: Millis,
    /// (today, in total) after this draw.
    pub(super) remaining: (i64, i64),
    /// Where the answer is stored.
    pub(super) idem: &'a Idempotency,
    /// The backend: its rows are written in one statement on PostgreSQL.
    pub(super) backend: Backend,
}

/// Counts a win of the slot against the player's per-user cap; false when
/// the cap is reached. The row is the player's own, so no other player's
/// draw waits for it.
pub(super) async fn count_user_win<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    index: i64,
    player_id: &str,
    cap: i64,
) -> Result<bool, StoreError> {
    let counted = tx
        .fetch_optional(
            "INSERT INTO player_prize_count (campaign_id, slot_index, player_id, won) \
             VALUES ($1, $2, $3, 1) \
             ON CONFLICT (campaign_id, slot_index, player_id) \
             DO UPDATE SET won = player_prize_count.won + 1 \
             WHERE player_prize_count.won < $4 RETURNING won",
            args![campaign, index, player_id, cap],
        )
        .await?;
    Ok(counted.is_some())
}

/// The draw row (`store::rows`: every backend's statement is built from
/// it); values from [`DrawRows::of`].
pub(super) static DRAW: Table = Table {
    name: "draw",
    columns: &[
        ("draw_id", Ty::Text),
        ("campaign_id", Ty::Text),
        ("player_id", Ty::Text),
        ("draw_seq", Ty::Int),
        ("day", Ty::Text),
        ("roll", Ty::Int),
        ("rolled_slot", Ty::Int),
        ("awarded_slot", Ty::Int),
        ("fallback_reason", Ty::Text),
        ("channel", Ty::Text),
        ("drawn_at", Ty::Int),
        ("ledger_seq", Ty::Int),
        ("player_pseudonym", Ty::Text),
        ("table_version", Ty::Int),
        ("store_id", Ty::Text),
    ],
};

/// The award row of a draw that gives a prize.
pub(super) static AWARD: Table = Table {
    name: "prize_award",
    columns: &[
        ("award_id", Ty::Text),
        ("campaign_id", Ty::Text),
        ("draw_id", Ty::Text),
        ("player_id", Ty::Text),
        ("slot_index", Ty::Int),
        ("prize_name", Ty::Text),
        ("kind", Ty::Text),
        ("status", Ty::Text),
        ("won_at", Ty::Int),
        ("claim_deadline", Ty::Int),
        ("updated_at", Ty::Int),
        ("store_id", Ty::Text),
    ],
};

/// The rows one draw writes, each in its table's column order: the draw,
/// its award if it gives a prize, the outbox entry if another service
/// delivers that prize, its `draw.won` event, and the request's key with its answer. Written by
/// `draw_sqlite::write_rows`, `draw_postgres::write_rows` and the
/// PostgreSQL batch, all from these values.
pub(super) struct DrawRows {
    pub(super) draw: Vec<Value>,
    pub(super) award: Option<Vec<Value>>,
    pub(super) outbox: Option<Vec<Value>>,
    /// The `draw.won` event of a draw that gives a prize.
    pub(super) event: Option<Vec<Value>>,
    pub(super) answer: Vec<Value>,
}

impl DrawRows {
    /// The rows of the draw answered `out` (its ledger number now, or
    /// later under the lock), whose stored answer is `answer`.
    pub(super) fn of(
        d: &DrawFacts<'_>,
        out: &DrawOutcome,
        given: &SlotRecord,
        ledger_seq: Option<i64>,
        answer: Vec<u8>,
    ) -> Result<Self, StoreError> {
        let (cmd, campaign, now) = (d.cmd, d.campaign, d.now);
        let draw = args![
            &out.draw_id,
            campaign,
            &cmd.player_id,
            d.draw_sequence,
            d.day,
            d.roll,
            i64::from(d.rolled.index),
            i64::from(given.index),
            out.fallback.as_str(),
            cmd.channel.clone(),
            now,
            ledger_seq,
            d.pseudonym,
            d.table_version,
            cmd.store_id.clone()
        ];
        let award = out.award.as_ref().map(|a| {
            args![
                &a.award_id,
                campaign,
                &out.draw_id,
                &cmd.player_id,
                i64::from(a.slot_index),
                &a.prize_name,
                a.kind.as_str(),
                a.status.as_str(),
                now,
                a.claim_deadline,
                now,
                cmd.store_id.clone()
            ]
        });
        let outbox = out.award.as_ref().and_then(|a| {
            outbox_values(&OutboxEntry {
                source_id: &out.draw_id,
                award_id: &a.award_id,
                merchant_id: &cmd.merchant_id,
                campaign_id: campaign,
                player_id: &cmd.player_id,
                kind: a.kind,
                reference: given.spec.reference.as_deref().unwrap_or(""),
                now,
            })
        });
        let event = out.award.as_ref().map(|a| {
            event_values(&crate::store::events::emit::draw_won(
                cmd,
                out,
                a,
                given.spec.amount,
            ))
        });
        let answer = answered_key_values(d.idem, now, answer);
        // Values against their definitions: a column added to a table but
        // not here (or in another order) fails every draw, not one backend.
        DRAW.check(&draw)?;
        ANSWERED_KEY.check(&answer)?;
        if let Some(award) = &award {
            AWARD.check(award)?;
        }
        if let Some(outbox) = &outbox {
            OUTBOX.check(outbox)?;
        }
        Ok(Self {
            draw,
            award,
            outbox,
            event,
            answer,
        })
    }
}

/// The answer of a draw that gives `given` (the rolled slot, or the
/// fallback for `fallback`'s reason), with its award if it is a prize.
pub(super) fn outcome_of(
    d: &DrawFacts<'_>,
    given: &SlotRecord,
    fallback: FallbackReason,
) -> Result<DrawOutcome, StoreError> {
    let (cmd, campaign, now) = (d.cmd, d.campaign, d.now);
    let draw_id = new_id();
    let award = (given.spec.kind != PrizeKind::Thanks).then(|| {
        let physical = given.spec.kind == PrizeKind::Physical;
        AwardRecord {
            award_id: new_id(),
            campaign_id: campaign.to_owned(),
            source: AwardSource::Draw(draw_id.clone()),
            player_id: cmd.player_id.clone(),
            slot_index: given.index,
            prize_name: given.spec.name.clone(),
            kind: given.spec.kind,
            status: if physical {
                AwardStatus::Won
            } else {
                AwardStatus::Granted
            },
            won_at: now,
            claim_deadline: physical.then(|| claim_deadline(now, given.spec.claim_days)),
            shipping: None,
            tracking_number: None,
            store_id: cmd.store_id.clone(),
        }
    });
    let (remaining_today, remaining_total) = d.remaining;
    Ok(DrawOutcome {
        draw_id,
        draw_sequence: d.draw_sequence,
        rolled_slot: d.rolled.index,
        slot: given.index,
        prize_name: given.spec.name.clone(),
        kind: given.spec.kind,
        fallback,
        remaining_today,
        remaining_total,
        award,
        drawn_at: now,
        table_version: index_of(d.table_version)?,
    })
}

/// Writes the draw row (its ledger number now, or later under the lock),
/// the award, its outbox entry, its cash payment and the idempotency key
/// with its answer (key last: the draw's first read looked it up); returns
/// the answer. The rows go in one statement on PostgreSQL
/// (`draw_postgres.rs`), step by step on SQLite (`draw_sqlite.rs`).
pub(super) async fn record_draw<T: DbTx>(
    tx: &mut T,
    d: &DrawFacts<'_>,
    given: &SlotRecord,
    fallback: FallbackReason,
    ledger_seq: Option<i64>,
    encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Sync),
) -> Result<DrawOutcome, StoreError> {
    let out = outcome_of(d, given, fallback)?;
    let rows = DrawRows::of(d, &out, given, ledger_seq, encode(&out))?;
    match d.backend {
        Backend::Postgres => super::draw_postgres::write_rows(tx, rows).await?,
        Backend::Sqlite => super::draw_sqlite::write_rows(tx, rows).await?,
    }
    if out
        .award
        .as_ref()
        .is_some_and(|a| a.kind == PrizeKind::Cash)
    {
        crate::store::money::pay_cash_prize(
            tx,
            d.campaign,
            &d.cmd.player_id,
            &out.draw_id,
            given.spec.amount,
            d.now,
        )
        .await?;
    }
    Ok(out)
}
