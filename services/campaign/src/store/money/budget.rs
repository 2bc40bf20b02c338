//! A campaign's budget: funding and refunds, and the money a cash prize
//! or a packet takes from it, each a balanced ledger movement.

use super::*;
use platform::domain::events::{BudgetChanged, EventDraft, EventType};

/// Keeps the wheel's cash-prize reserve equal to what its CASH slots can
/// still pay (`remaining × amount`; nothing once `ended`): at publish it is
/// taken from the budget's available money (RESOURCE_EXHAUSTED when the
/// budget is short), a revision tops it up or gives back the difference,
/// and the end of the campaign gives all of it back. Runs in the
/// transaction of the transition.
pub(in crate::store) async fn settle_cash_reserve<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    ended: bool,
    now: Millis,
) -> Result<(), StoreError> {
    let needed = if ended {
        0
    } else {
        fetch_one(
            tx,
            "campaign",
            "SELECT CAST(COALESCE(SUM(remaining * amount), 0) AS BIGINT) FROM prize_slot \
             WHERE campaign_id = $1 AND kind = 'cash'",
            args![campaign],
        )
        .await?
        .int(0)?
    };
    let held = fetch_one(
        tx,
        "ledger",
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entry WHERE account = $1",
        args![prizes_account(campaign)],
    )
    .await?
    .int(0)?;
    let delta = needed - held;
    if delta > 0 {
        let taken = tx
            .execute(
                "UPDATE budget SET available = available - $2, reserved = reserved + $2 \
                 WHERE campaign_id = $1 AND available >= $2",
                args![campaign, delta],
            )
            .await?;
        if taken == 0 {
            let available = tx
                .fetch_optional(
                    "SELECT available FROM budget WHERE campaign_id = $1",
                    args![campaign],
                )
                .await?
                .map(|r| r.int(0))
                .transpose()?
                .unwrap_or(0);
            return Err(Rejection::CashPrizesUnfunded {
                needed: delta,
                available,
            }
            .into());
        }
        move_money(
            tx,
            campaign,
            "reserve",
            delta,
            &budget_account(campaign),
            &prizes_account(campaign),
            None,
            None,
            now,
        )
        .await?;
    } else if delta < 0 {
        tx.execute(
            "UPDATE budget SET available = available + $2, reserved = reserved - $2 \
             WHERE campaign_id = $1",
            args![campaign, -delta],
        )
        .await?;
        move_money(
            tx,
            campaign,
            "release",
            -delta,
            &prizes_account(campaign),
            &budget_account(campaign),
            None,
            None,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Pays `amount` straight from the budget's available money to a player
/// (a cash share tier), guarded by `available >= amount`. False, and
/// nothing moved, when the budget is short or does not exist.
pub(in crate::store) async fn pay_from_budget<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    amount: i64,
    now: Millis,
) -> Result<bool, StoreError> {
    if amount <= 0 {
        return Ok(true);
    }
    let paid = tx
        .execute(
            "UPDATE budget SET available = available - $2, granted = granted + $2 \
             WHERE campaign_id = $1 AND available >= $2",
            args![campaign, amount],
        )
        .await?;
    if paid == 0 {
        return Ok(false);
    }
    move_money(
        tx,
        campaign,
        "grant",
        amount,
        &budget_account(campaign),
        &player_account(campaign, player),
        None,
        Some(player),
        now,
    )
    .await?;
    Ok(true)
}

/// Pays a won cash prize out of the wheel's reserve, in the draw's
/// transaction. The slot's stock guard already ran, so the reserve holds
/// the amount; the guard here is the backstop.
pub(in crate::store) async fn pay_cash_prize<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    draw_id: &str,
    amount: i64,
    now: Millis,
) -> Result<(), StoreError> {
    if amount <= 0 {
        return Ok(());
    }
    let paid = tx
        .execute(
            "UPDATE budget SET reserved = reserved - $2, granted = granted + $2 \
             WHERE campaign_id = $1 AND reserved >= $2",
            args![campaign, amount],
        )
        .await?;
    if paid != 1 {
        return Err(StoreError::Corrupt(format!(
            "campaign {campaign}: the cash-prize reserve cannot pay {amount} cents"
        )));
    }
    insert_movement(
        tx,
        campaign,
        "grant",
        amount,
        &prizes_account(campaign),
        &player_account(campaign, player),
        (None, Some(player), Some(draw_id)),
        now,
    )
    .await?;
    Ok(())
}

impl<D: Db> Store<D> {
    /// Adds `amount` to the campaign's budget, creating it on first use.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn fund_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        amount: i64,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&BudgetRecord) -> Vec<u8>,
    ) -> Result<Outcome<BudgetRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign_id, now).await?;
        tx.execute(
            "INSERT INTO budget (campaign_id, merchant_id, funded, available, reserved, granted, \
             refunded, packet_count, created_at) VALUES ($1, $2, 0, 0, 0, 0, 0, 0, $3) \
             ON CONFLICT (campaign_id) DO NOTHING",
            args![&campaign, merchant_id, now],
        )
        .await?;
        tx.execute(
            "UPDATE budget SET funded = funded + $2, available = available + $2 \
             WHERE campaign_id = $1",
            args![&campaign, amount],
        )
        .await?;
        let entry_id = move_money(
            &mut tx,
            &campaign,
            "fund",
            amount,
            &format!("merchant:{merchant_id}"),
            &budget_account(&campaign),
            None,
            None,
            now,
        )
        .await?;
        let changed = BudgetChanged { amount, entry_id };
        let event = EventDraft::new(
            EventType::BudgetFunded,
            merchant_id,
            &campaign,
            "",
            now,
            &changed,
        );
        platform::store::events::append(&mut tx, &event).await?;
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        finish(tx, idem, encode(&b)).await?;
        Ok(Outcome::Fresh(b))
    }

    /// Takes available money back to the merchant.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn refund_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        amount: i64,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&BudgetRecord) -> Vec<u8>,
    ) -> Result<Outcome<BudgetRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        let taken = tx
            .execute(
                "UPDATE budget SET available = available - $2, refunded = refunded + $2 \
                 WHERE campaign_id = $1 AND available >= $2",
                args![&campaign, amount],
            )
            .await?;
        if taken == 0 {
            return Err(Rejection::BudgetShort {
                available: b.available,
            }
            .into());
        }
        let entry_id = move_money(
            &mut tx,
            &campaign,
            "refund",
            amount,
            &budget_account(&campaign),
            &format!("refunded:{campaign}"),
            None,
            None,
            now,
        )
        .await?;
        let changed = BudgetChanged { amount, entry_id };
        let event = EventDraft::new(
            EventType::BudgetRefunded,
            merchant_id,
            &campaign,
            "",
            now,
            &changed,
        );
        platform::store::events::append(&mut tx, &event).await?;
        let b = own_budget(&mut tx, merchant_id, &campaign).await?;
        finish(tx, idem, encode(&b)).await?;
        Ok(Outcome::Fresh(b))
    }

    pub async fn get_budget(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<BudgetRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_budget(&mut tx, merchant_id, &campaign_id.to_string()).await
    }

    /// Takes up to `want` cents of the budget's available money: all of it
    /// if there is that much, else what is left (the last grant is capped),
    /// never below zero. BudgetSpent when nothing is left.
    pub(super) async fn take_from_budget<T: DbTx>(
        &self,
        tx: &mut T,
        campaign: &str,
        want: i64,
    ) -> Result<i64, StoreError> {
        let mut amount = want;
        // Each round either succeeds or sees a smaller balance; concurrent
        // grabs can shrink it a few times at most before it is 0.
        for _ in 0..64 {
            let taken = tx
                .execute(
                    "UPDATE budget SET available = available - $2, granted = granted + $2 \
                     WHERE campaign_id = $1 AND available >= $2",
                    args![campaign, amount],
                )
                .await?;
            if taken == 1 {
                return Ok(amount);
            }
            let left = fetch_one(
                tx,
                "budget",
                "SELECT available FROM budget WHERE campaign_id = $1",
                args![campaign],
            )
            .await?
            .int(0)?;
            if left == 0 {
                return Err(Rejection::BudgetSpent.into());
            }
            amount = left.min(want);
        }
        Err(StoreError::Conflict("budget contended; retry".into()))
    }
}
