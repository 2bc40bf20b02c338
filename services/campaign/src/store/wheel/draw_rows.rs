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
/// only this player's rows. On PostgreSQL it is one statement (a round
/// trip is most of a statement's cost there); a refusal aborts the whole
/// transaction either way, so the parts that ran anyway are undone.
pub(super) async fn count_draw<T: DbTx>(
    tx: &mut T,
    backend: Backend,
    campaign: &str,
    cmd: &DrawCommand,
    day: &str,
    (per_day, per_campaign): (i64, i64),
    now: Millis,
) -> Result<(i64, i64), StoreError> {
    let player = cmd.player_id.as_str();
    let channel = cmd.channel.as_deref().unwrap_or("");
    let (today, total) = if backend == Backend::Postgres {
        let row = fetch_one(
            tx,
            "draw count",
            concat!(
                "WITH today AS (",
                sql_count_today!(),
                "), total AS (",
                sql_count_total!("$5"),
                "), seen_day AS (",
                crate::store::stats::sql_note_day!("$1, $3, $6, $2"),
                "), seen AS (",
                crate::store::stats::sql_note_first!("$1, $2, $7, $3, $6"),
                ") SELECT (SELECT draws FROM today), (SELECT draws FROM total)"
            ),
            args![campaign, player, day, per_day, per_campaign, channel, now],
        )
        .await?;
        (
            row.opt_int(0)?.ok_or(Rejection::NoChancesToday)?,
            row.opt_int(1)?.ok_or(Rejection::NoChancesLeft)?,
        )
    } else {
        let today = tx
            .fetch_optional(sql_count_today!(), args![campaign, player, day, per_day])
            .await?
            .ok_or(Rejection::NoChancesToday)?
            .int(0)?;
        let total = tx
            .fetch_optional(
                sql_count_total!("$3"),
                args![campaign, player, per_campaign],
            )
            .await?
            .ok_or(Rejection::NoChancesLeft)?
            .int(0)?;
        crate::store::stats::note_activity(tx, campaign, player, day, cmd.channel.as_deref(), now)
            .await?;
        (today, total)
    };
    Ok((today, total))
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

// The draw record and the award, written once for the two ways they are
// sent: one by one (SQLite), or with the answer as one statement of CTEs
// (PostgreSQL), where `$15`... are the award's and the answer's.
macro_rules! sql_insert_draw {
    () => {
        "INSERT INTO draw (draw_id, campaign_id, player_id, draw_seq, day, roll, rolled_slot, \
         awarded_slot, fallback_reason, channel, drawn_at, ledger_seq, player_pseudonym, \
         table_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    };
}
macro_rules! sql_insert_award_columns {
    () => {
        "INSERT INTO prize_award (award_id, campaign_id, draw_id, player_id, slot_index, \
         prize_name, kind, status, won_at, claim_deadline, updated_at) "
    };
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
/// the award, its cash payment, its outbox entry and the idempotency key
/// with its answer (key last: the draw's first read looked it up); returns
/// the answer.
pub(super) async fn record_draw<T: DbTx>(
    tx: &mut T,
    d: &DrawFacts<'_>,
    given: &SlotRecord,
    fallback: FallbackReason,
    ledger_seq: Option<i64>,
    encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Sync),
) -> Result<DrawOutcome, StoreError> {
    let (cmd, campaign, now) = (d.cmd, d.campaign, d.now);
    let out = outcome_of(d, given, fallback)?;
    let answer = encode(&out);
    let mut draw_args = args![
        &out.draw_id,
        campaign,
        &cmd.player_id,
        d.draw_sequence,
        d.day,
        d.roll,
        i64::from(d.rolled.index),
        i64::from(given.index),
        fallback.as_str(),
        cmd.channel.clone(),
        now,
        ledger_seq,
        d.pseudonym,
        d.table_version
    ];
    let award = out.award.as_ref();
    let award_args = args![
        award.map(|a| a.award_id.clone()),
        award.map(|a| a.prize_name.clone()),
        award.map(|a| a.kind.as_str()),
        award.map(|a| a.status.as_str()),
        award.and_then(|a| a.claim_deadline)
    ];
    if d.backend == Backend::Postgres {
        draw_args.extend(award_args);
        draw_args.extend(args![
            answer,
            &d.idem.scope,
            d.idem.method,
            d.idem.key.as_str(),
            d.idem.fingerprint.clone()
        ]);
        tx.execute(
            concat!(
                "WITH drawn AS (",
                sql_insert_draw!(),
                " RETURNING draw_id), awarded AS (",
                sql_insert_award_columns!(),
                "SELECT $15, $2, drawn.draw_id, $3, $8, $16, $17, $18, $11, $19, $11 \
                 FROM drawn WHERE CAST($15 AS TEXT) IS NOT NULL), answered AS (",
                crate::sql_insert_answered_key!(),
                "VALUES ($21, $22, $23, $24, $11, $20)) SELECT 1"
            ),
            draw_args,
        )
        .await?;
    } else {
        tx.execute(sql_insert_draw!(), draw_args).await?;
        if award.is_some() {
            let mut a = args![
                &out.draw_id,
                campaign,
                &cmd.player_id,
                i64::from(given.index),
                now
            ];
            a.extend(award_args);
            tx.execute(
                concat!(
                    sql_insert_award_columns!(),
                    "VALUES ($6, $2, $1, $3, $4, $7, $8, $9, $5, $10, $5)"
                ),
                a,
            )
            .await?;
        }
        tx.execute(
            concat!(
                crate::sql_insert_answered_key!(),
                "VALUES ($1, $2, $3, $4, $5, $6)"
            ),
            args![
                &d.idem.scope,
                d.idem.method,
                d.idem.key.as_str(),
                d.idem.fingerprint.clone(),
                now,
                answer
            ],
        )
        .await?;
    }
    if let Some(award) = award {
        if award.kind == PrizeKind::Cash {
            crate::store::money::pay_cash_prize(
                tx,
                campaign,
                &cmd.player_id,
                &out.draw_id,
                given.spec.amount,
                now,
            )
            .await?;
        }
        // Coupons and top-up codes come from the coupon service: the
        // outbox row commits with the win, so the prize is delivered
        // exactly once even if that service is down right now.
        crate::store::outbox::enqueue(
            tx,
            &out.draw_id,
            &award.award_id,
            &cmd.merchant_id,
            campaign,
            &cmd.player_id,
            award.kind,
            given.spec.reference.as_deref().unwrap_or(""),
            now,
        )
        .await?;
    }
    Ok(out)
}
