//! The draw's PostgreSQL-only statements. A round trip is most of a
//! statement's cost there and every draw of a campaign queues on its row
//! lock, so the chances are counted in one statement, the rows are written
//! in one statement of CTEs, and the common draw takes the campaign lock
//! last (`draw_lock_last`). The draws that wait together are drawn as one
//! transaction by `draw_batch_postgres.rs`. SQLite's shapes are in
//! `draw_sqlite.rs`.

use super::*;

/// `count_draw` on PostgreSQL: both counts and the participation note in
/// one statement.
pub(super) async fn count_draw<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    cmd: &DrawCommand,
    day: &str,
    (per_day, per_campaign): (i64, i64),
    now: Millis,
) -> Result<(i64, i64), StoreError> {
    let player = cmd.player_id.as_str();
    let channel = cmd.channel.as_deref().unwrap_or("");
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
    Ok((
        row.opt_int(0)?.ok_or(Rejection::NoChancesToday)?,
        row.opt_int(1)?.ok_or(Rejection::NoChancesLeft)?,
    ))
}

/// `record_draw`'s rows on PostgreSQL: one statement, the award, the
/// outbox entry and the event written only when bound.
pub(super) async fn write_rows<T: DbTx>(tx: &mut T, rows: DrawRows) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let award_at = DRAW.columns.len() + 1;
        let outbox_at = award_at + AWARD.columns.len();
        let event_at = outbox_at + OUTBOX.columns.len();
        let answer_at = event_at + EVENT.columns.len();
        format!(
            "WITH drawn AS ({}), awarded AS ({}), queued AS ({}), evented AS ({}), \
             answered AS ({}) SELECT 1",
            DRAW.insert_values(1),
            AWARD.insert_if_bound(award_at),
            OUTBOX.insert_if_bound(outbox_at),
            EVENT.insert_if_bound(event_at),
            ANSWERED_KEY.insert_values(answer_at)
        )
    });
    let mut all = rows.draw;
    all.extend(rows.award.unwrap_or_else(|| AWARD.nulls()));
    all.extend(rows.outbox.unwrap_or_else(|| OUTBOX.nulls()));
    all.extend(rows.event.unwrap_or_else(|| EVENT.nulls()));
    all.extend(rows.answer);
    tx.execute(SQL.as_str(), all).await?;
    Ok(())
}

/// The draw with the campaign lock taken last, assuming the rolled prize
/// is given: everything that touches only this player's rows or new rows
/// (the per-user cap, the draw without its ledger number, the award, the
/// outbox entry, the stored answer) is written first, and then one step
/// takes the ledger number and the stock under the campaign row's lock,
/// so the lock is held for one statement and the commit rather than the
/// whole draw. A THANKS draw is never refused here; a refusal says what
/// the caller must do (see [`LockLast`]). PostgreSQL only: SQLite's one
/// writer has no lock to shorten.
///
/// `gate` is the draw's turn at the row lock, returned with the answer to
/// be held until the commit.
pub(super) async fn draw_lock_last<T: DbTx>(
    tx: &mut T,
    gate: Option<&LedgerGate>,
    d: &DrawFacts<'_>,
    encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Sync),
) -> Result<LockLast, StoreError> {
    let stock_slot = (d.rolled.spec.kind != PrizeKind::Thanks).then(|| i64::from(d.rolled.index));
    if let (Some(index), Some(cap)) = (stock_slot, d.rolled.spec.per_user_cap)
        && !count_user_win(tx, d.campaign, index, &d.cmd.player_id, cap).await?
    {
        return Ok(LockLast::CapRefused);
    }
    let out = record_draw(tx, d, d.rolled, FallbackReason::None, None, encode).await?;
    let turn = match gate {
        Some(gate) => gate.enter(d.campaign).await,
        None => None,
    };
    // One round trip under the lock. `stock` and `placed` depend on
    // `ledger`, so the campaign row is locked before the prize row,
    // the same order as every other campaign-wide change.
    let row = fetch_one(
        tx,
        "ledger step",
        "WITH ledger AS ( \
           UPDATE campaign SET draw_count = draw_count + 1 \
           WHERE campaign_id = $1 AND status = 'published' AND table_version = $2 \
           RETURNING draw_count), \
         stock AS ( \
           UPDATE prize_slot SET remaining = remaining - 1 \
           WHERE campaign_id = $1 AND slot_index = $3 AND remaining > 0 \
             AND EXISTS (SELECT 1 FROM ledger) \
           RETURNING slot_index), \
         placed AS ( \
           UPDATE draw SET ledger_seq = (SELECT draw_count FROM ledger) \
           WHERE draw_id = $4 AND EXISTS (SELECT 1 FROM ledger) \
           RETURNING ledger_seq) \
         SELECT (SELECT draw_count FROM ledger), \
           (SELECT CAST(COUNT(*) AS BIGINT) FROM stock), \
           (SELECT CAST(COUNT(*) AS BIGINT) FROM placed)",
        args![d.campaign, d.table_version, stock_slot, &out.draw_id],
    )
    .await?;
    if row.opt_int(0)?.is_none() {
        return Err(not_bumped(tx, d.campaign).await);
    }
    if row.int(2)? != 1 {
        return Err(corrupt("draw row", "not placed in the ledger"));
    }
    let taken = stock_slot.is_none() || row.int(1)? == 1;
    Ok(if taken {
        LockLast::Done(Box::new(out), turn)
    } else {
        LockLast::OutOfStock
    })
}
