//! The draw's SQLite-only statements: the chances counted and the rows
//! written one statement at a time. SQLite runs in-process behind one
//! writer, so a statement costs no round trip and there is no lock to
//! shorten (see `draw_postgres.rs` for the other shape).

use super::*;

/// `count_draw` on SQLite: the daily and the total count, then the
/// participation note.
pub(super) async fn count_draw<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    cmd: &DrawCommand,
    day: &str,
    (per_day, per_campaign): (i64, i64),
    now: Millis,
) -> Result<(i64, i64), StoreError> {
    let player = cmd.player_id.as_str();
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
    Ok((today, total))
}

/// `record_draw`'s rows on SQLite, one `INSERT` each.
pub(super) async fn write_rows<T: DbTx>(tx: &mut T, rows: DrawRows) -> Result<(), StoreError> {
    static DRAW_SQL: LazyLock<String> = LazyLock::new(|| DRAW.insert_values(1));
    static AWARD_SQL: LazyLock<String> = LazyLock::new(|| AWARD.insert_values(1));
    static OUTBOX_SQL: LazyLock<String> = LazyLock::new(|| OUTBOX.insert_values(1));
    static EVENT_SQL: LazyLock<String> = LazyLock::new(|| EVENT.insert_values(1));
    static ANSWER_SQL: LazyLock<String> = LazyLock::new(|| ANSWERED_KEY.insert_values(1));
    tx.execute(DRAW_SQL.as_str(), rows.draw).await?;
    if let Some(award) = rows.award {
        tx.execute(AWARD_SQL.as_str(), award).await?;
    }
    if let Some(outbox) = rows.outbox {
        tx.execute(OUTBOX_SQL.as_str(), outbox).await?;
    }
    if let Some(event) = rows.event {
        tx.execute(EVENT_SQL.as_str(), event).await?;
    }
    tx.execute(ANSWER_SQL.as_str(), rows.answer).await?;
    Ok(())
}
