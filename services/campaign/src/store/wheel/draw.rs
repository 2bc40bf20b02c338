//! A draw from its request to its commit: read the wheel, count, roll,
//! take the prize, write the rows; the lock-last path on PostgreSQL and
//! the retry with the lock first (`draw_rows` writes the rows).

use super::*;

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

impl<D: Db> Store<D> {
    /// Spins the wheel once for a player.
    ///
    /// Key last (`store::sql_key_lookup!`): the first read looks the
    /// idempotency key up and the draw record inserts it with its answer.
    /// On PostgreSQL a concurrent copy of the request waits on the player's
    /// draw counter, then either collides on the key or is refused (its
    /// chances spent by the first copy); either way the first copy's stored
    /// answer is then replayed. SQLite's single writer makes the first read
    /// see any earlier copy.
    #[tracing::instrument(skip_all, fields(campaign.id = %cmd.campaign_id))]
    ///
    /// On PostgreSQL the draws of a campaign that wait at the same time are
    /// drawn as one transaction (`batch.rs`); each still gets the answer it
    /// would get alone.
    pub async fn draw(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync + 'static,
    ) -> Result<Outcome<DrawOutcome>, StoreError> {
        match &self.draw_batches {
            Some(batches) => {
                self.draw_batched(batches, cmd, clock, idem, std::sync::Arc::new(encode))
                    .await
            }
            None => self.draw_one(cmd, clock, idem, &encode).await,
        }
    }

    /// One draw in its own transaction.
    pub(super) async fn draw_one(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync),
    ) -> Result<Outcome<DrawOutcome>, StoreError> {
        let mut attempt = self.draw_attempt(cmd, clock, idem, encode, false).await;
        if let Ok(None) = attempt {
            attempt = self.draw_attempt(cmd, clock, idem, encode, true).await;
        }
        match attempt {
            Ok(Some(out)) => Ok(out),
            Ok(None) => Err(corrupt(
                "draw",
                "refused with the campaign lock taken first",
            )),
            Err(e @ (StoreError::Conflict(_) | StoreError::Rejected(_)))
                if D::BACKEND == Backend::Postgres =>
            {
                let mut tx = self.db.begin_autocommit().await?;
                replay_or(&mut tx, idem, e).await
            }
            Err(e) => Err(e),
        }
    }

    /// One try at a draw. `None`: a lock-last draw lost the last unit of
    /// its prize after reading it, and its transaction is rolled back: draw
    /// again with `lock_first`. One piece of about 140 lines: its steps
    /// run in one transaction in a fixed order and share what the first
    /// read found; split, each part would take most of the others' state.
    async fn draw_attempt(
        &self,
        cmd: &DrawCommand,
        clock: &dyn Clock,
        idem: &Idempotency,
        encode: &(impl Fn(&DrawOutcome) -> Vec<u8> + Send + Sync),
        lock_first: bool,
    ) -> Result<Option<Outcome<DrawOutcome>>, StoreError> {
        let campaign = cmd.campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        // "Now" once the write lock is held: waiting for it must not let a
        // draw land outside the window or on the wrong campaign day.
        let now = clock.now_ms();
        // The key, the campaign and its slots in one round trip: one row
        // per slot. Nothing is locked yet; the ledger step below re-checks
        // the status and the prize table version under the campaign row's
        // lock.
        let rows = tx
            .fetch_all(
                sql_read_wheel!(concat!(", ", crate::sql_key_lookup!("$3", "$4", "$5"))),
                args![
                    &campaign,
                    &cmd.player_id,
                    &idem.scope,
                    idem.method,
                    idem.key.as_str()
                ],
            )
            .await?;
        // No rows: unknown, or a draft without slots (drafts are invisible).
        let r = rows.first().ok_or(StoreError::NotFound("campaign"))?;
        if let Some(fingerprint) = r.opt_bytes(KEY_COLUMN)? {
            let answer = replay_of(idem, fingerprint, r.opt_bytes(KEY_COLUMN + 1)?)?;
            return Ok(Some(Outcome::Replay(answer)));
        }
        let w = WheelRead::of(&rows)?;
        w.check(&cmd.merchant_id, now)?;
        let (per_day, per_campaign) = (w.per_day, w.per_campaign);
        let fallback_slot = w.fallback()?;
        // Extra draws ever earned; most players have none, which spares the
        // per-day query below.
        let (extra_total, table_version) = (w.extra_total, w.table_version);
        let day = campaign_day(now, &w.time_zone).map_err(|e| corrupt("time zone", e))?;

        let (today, total) = count_draw(
            &mut tx,
            D::BACKEND,
            &campaign,
            cmd,
            &day,
            (per_day, per_campaign),
            now,
        )
        .await?;

        let pseudonym = player_pseudonym(cmd.campaign_id, &cmd.player_id);
        let (roll, rolled) = w.roll(cmd.campaign_id, &pseudonym, total)?;
        // Extra draws earned today, for those who have earned any.
        let extra_today = if extra_total == 0 {
            0
        } else {
            fetch_one(
                &mut tx,
                "extra chances",
                "SELECT CAST(COALESCE(SUM(granted), 0) AS BIGINT) FROM extra_chance \
                 WHERE campaign_id = $1 AND player_id = $2 AND day = $3",
                args![&campaign, &cmd.player_id, &day],
            )
            .await?
            .int(0)?
        };
        let facts = DrawFacts {
            cmd,
            campaign: &campaign,
            day: &day,
            pseudonym: &pseudonym,
            draw_sequence: total,
            roll,
            rolled,
            table_version,
            now,
            remaining: remaining_chances(
                per_day + extra_today,
                per_campaign + extra_total,
                today,
                total,
            ),
            idem,
            backend: D::BACKEND,
        };

        // The common case takes the campaign lock last: one statement under
        // it, then the commit (see `draw_lock_last`). A rolled prize with a
        // daily cap (a shared counter) or paid in cash (the campaign's
        // budget row) takes the lock first instead, as does a win the lock
        // then refuses (out of stock), after undoing the optimistic writes.
        // On SQLite, whose one writer runs one transaction at a time, no
        // other draw waits for the lock, so the order gains nothing and the
        // lock-first draw is the shorter one (it writes the draw row once,
        // with its ledger number).
        let thanks = rolled.spec.kind == PrizeKind::Thanks;
        let lock_last = D::BACKEND == Backend::Postgres
            && (thanks
                || (!lock_first
                    && rolled.remaining > 0
                    && rolled.spec.daily_cap.is_none()
                    && rolled.spec.kind != PrizeKind::Cash));
        if lock_last {
            match draw_lock_last(&mut tx, self.ledger_gate.as_deref(), &facts, encode).await? {
                LockLast::Done(out, _turn) => {
                    tx.commit().await?;
                    return Ok(Some(Outcome::Fresh(*out)));
                }
                // Nothing written yet: the lock-first path below gives the
                // fallback.
                LockLast::CapRefused => {}
                LockLast::OutOfStock => return Ok(None),
            }
        }

        let _turn = match &self.ledger_gate {
            Some(gate) => gate.enter(&campaign).await,
            None => None,
        };
        let ledger_seq = next_ledger_seq(&mut tx, &campaign, table_version).await?;
        let fallback = if thanks {
            FallbackReason::None
        } else {
            take_prize(&mut tx, cmd, &day, rolled).await?
        };
        let given = if fallback == FallbackReason::None {
            rolled
        } else {
            fallback_slot
        };
        let out = record_draw(&mut tx, &facts, given, fallback, Some(ledger_seq), encode).await?;
        tx.commit().await?;
        Ok(Some(Outcome::Fresh(out)))
    }
}
