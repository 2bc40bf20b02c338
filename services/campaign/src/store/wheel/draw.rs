//! A draw from its request to its commit: read the wheel, count, roll,
//! take the prize, write the rows (`draw_rows.rs`, with the backends'
//! own statements in `draw_sqlite.rs` and `draw_postgres.rs`), and the
//! retry with the lock first when the lock-last path lost its prize.

use super::*;

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
            // PostgreSQL: a concurrent copy of this request collided on
            // its key or spent its chances; SQLite's one writer cannot race.
            Err(e @ (StoreError::Conflict(_) | StoreError::Rejected(_)))
                if D::BACKEND.concurrent_writers() =>
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
                sql_read_wheel!(concat!(", ", platform::sql_key_lookup!("$3", "$4", "$5"))),
                args![
                    &campaign,
                    &cmd.player_id,
                    &idem.scope,
                    idem.method,
                    idem.key.as_str()
                ],
            )
            .await?;
        // No rows: unknown, a campaign without a wheel, or a draft without
        // slots (drafts are invisible).
        let Some(r) = rows.first() else {
            return Err(no_wheel_to_draw(&mut tx, &campaign, &cmd.merchant_id).await);
        };
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
        let lock_last = match D::BACKEND {
            Backend::Postgres => {
                thanks
                    || (!lock_first
                        && rolled.remaining > 0
                        && rolled.spec.daily_cap.is_none()
                        && rolled.spec.kind != PrizeKind::Cash)
            }
            Backend::Sqlite => false,
        };
        if lock_last {
            match super::draw_postgres::draw_lock_last(
                &mut tx,
                self.ledger_gate.as_deref(),
                &facts,
                encode,
            )
            .await?
            {
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

/// Why a draw found no wheel rows: a campaign of this merchant that holds
/// no wheel says so; anything else (unknown, another merchant's, a draft
/// without slots) stays NotFound, as before campaigns had activities.
async fn no_wheel_to_draw<T: DbTx>(tx: &mut T, campaign: &str, merchant: &str) -> StoreError {
    let found = tx
        .fetch_optional(
            "SELECT c.merchant_id FROM campaign c WHERE c.campaign_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM campaign_activity a WHERE a.campaign_id = c.campaign_id \
             AND a.activity = 'wheel')",
            args![campaign],
        )
        .await;
    match found {
        Ok(Some(r)) if r.text(0).is_ok_and(|m| m == merchant) => {
            Rejection::NoActivity(Activity::Wheel.as_str()).into()
        }
        Ok(_) => StoreError::NotFound("campaign"),
        Err(e) => e,
    }
}
