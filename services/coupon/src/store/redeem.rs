//! A till's side of a coupon: validate, redeem exactly once, reverse on
//! refund. A code is found by its keyed digest (`domain::vault`), never by
//! the code itself.

use platform::domain::{Millis, events::EventType, idempotency::Idempotency};
use platform::store::events::event_values;
use platform::store::{
    Outcome, StoreError, claim_key,
    db::{Backend, Db, DbRow, DbTx, fetch_one},
    finish, new_id, replay_of, replay_or,
    rows::answered_key_values,
};

use super::{
    CouponInUse, CouponStore, Quote, RedeemCommand, RedemptionRecord, Result, Till, coupon_in_use,
    redemption_values,
};
use crate::domain::{
    CouponRejection, Refusal,
    code::CouponCode,
    template::{Order, check_use},
};

impl<D: Db> CouponStore<D> {
    /// Reads the coupon with this code of this merchant and its template.
    async fn find_by_code<T: DbTx>(
        tx: &mut T,
        merchant_id: &str,
        digest: &str,
    ) -> Result<CouponInUse> {
        let row = tx
            .fetch_optional(
                concat!(
                    "SELECT ",
                    sql_coupon_in_use!(),
                    " FROM coupon c JOIN coupon_template t ON t.template_id = c.template_id \
                     WHERE c.code_digest = $1 AND c.merchant_id = $2"
                ),
                args![digest, merchant_id],
            )
            .await?
            .ok_or(Refusal::NotFound)?;
        coupon_in_use(&row, 0)
    }

    /// What this coupon is worth for `order` at the till's store; changes
    /// nothing.
    pub async fn validate(
        &self,
        till: &Till<'_>,
        code: &CouponCode,
        order: &Order,
        now: Millis,
    ) -> Result<Quote> {
        let mut tx = self.db.begin_read().await?;
        let digest = self.vault.coupon_digest(code);
        let c = Self::find_by_code(&mut tx, till.merchant_id, &digest).await?;
        let discount = check_use(&c.usage(), till.store_id, order, now)?;
        Ok(Quote {
            discount_cents: discount,
            template_id: c.template.template_id,
            gift_item: c.template.spec.gift_item,
        })
    }

    /// Redeems exactly once: the guarded update on `coupon.redemption_id`
    /// lets one of any number of racing tills through.
    ///
    /// Key last (`platform::sql_key_lookup!`): the read also looks
    /// the idempotency key up, and the effect (the guarded take, the key
    /// with its answer, the redemption row) is one statement on
    /// PostgreSQL, so a redemption is two round trips with no BEGIN or
    /// COMMIT of its own; SQLite runs the same steps in one write
    /// transaction. A take refused or a key insert that collides means a
    /// concurrent copy may have committed: its stored answer is replayed.
    ///
    /// On PostgreSQL the redemptions that wait at the same time are read
    /// and applied together (`redeem_batch_postgres.rs`); each still gets the
    /// answer it would get alone.
    #[tracing::instrument(skip_all)]
    pub async fn redeem(
        &self,
        cmd: &RedeemCommand,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&RedemptionRecord) -> Vec<u8> + Send + Sync + 'static,
    ) -> Result<Outcome<RedemptionRecord>> {
        match &self.redeem_batches {
            Some(batches) => {
                self.redeem_batched(batches, cmd, idem, now, std::sync::Arc::new(encode))
                    .await
            }
            None => self.redeem_one(cmd, idem, now, &encode).await,
        }
    }

    /// One redemption on its own.
    pub(super) async fn redeem_one(
        &self,
        cmd: &RedeemCommand,
        idem: &Idempotency,
        now: Millis,
        encode: &(impl Fn(&RedemptionRecord) -> Vec<u8> + Sync),
    ) -> Result<Outcome<RedemptionRecord>> {
        let (till, code, order, order_ref) = (cmd.till(), &cmd.code, &cmd.order, &cmd.order_ref);
        let digest = self.vault.coupon_digest(code);
        let mut tx = self.db.begin_autocommit().await?;
        // One row always: the key's fingerprint and answer (or nulls), then
        // the coupon (or nulls).
        let row = fetch_one(
            &mut tx,
            "coupon",
            concat!(
                "SELECT ",
                platform::sql_key_lookup!("$3", "$4", "$5"),
                ", ",
                sql_coupon_in_use!(),
                " FROM (SELECT 1) AS one \
                 LEFT JOIN coupon c ON c.code_digest = $1 AND c.merchant_id = $2 \
                 LEFT JOIN coupon_template t ON t.template_id = c.template_id"
            ),
            args![
                digest,
                till.merchant_id,
                &idem.scope,
                idem.method,
                idem.key.as_str()
            ],
        )
        .await?;
        if let Some(fingerprint) = row.opt_bytes(0)? {
            return Ok(Outcome::Replay(replay_of(
                idem,
                fingerprint,
                row.opt_bytes(1)?,
            )?));
        }
        if row.opt_text(2)?.is_none() {
            return Err(Refusal::NotFound.into());
        }
        let c = coupon_in_use(&row, 2)?;
        let discount = check_use(&c.usage(), till.store_id, order, now)?;
        let r = RedemptionRecord {
            redemption_id: new_id(),
            coupon_id: c.coupon_id.clone(),
            store_id: till.store_id.to_owned(),
            order_amount_cents: order.amount_cents,
            discount_cents: discount,
            order_ref: order_ref.to_owned(),
            redeemed_at: now,
            reversal_id: None,
            reversed_at: None,
            code_tail: code.tail().to_owned(),
        };
        let answer = encode(&r);
        let redemption = redemption_values(&r, &till, idem)?;
        let key = answered_key_values(idem, now, answer);
        let event = event_values(&c.event(EventType::CouponRedeemed, &r, &till));
        let taken = match D::BACKEND {
            Backend::Postgres => {
                match super::redeem_postgres::apply(&mut tx, redemption, key, event).await {
                    Ok(taken) => taken,
                    Err(e @ StoreError::Conflict(_)) => {
                        return replay_or(&mut tx, idem, e.into()).await;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Backend::Sqlite => super::redeem_sqlite::apply(&mut tx, redemption, key, event).await?,
        };
        if !taken {
            // Taken by another redemption; if it was this request's
            // concurrent copy, its answer is this one's.
            return replay_or(&mut tx, idem, Refusal::AlreadyRedeemed.into()).await;
        }
        tx.commit().await?;
        Ok(Outcome::Fresh(r))
    }

    /// Reverses a redemption on refund, once, at the store that made it;
    /// the coupon is usable again.
    #[tracing::instrument(skip_all)]
    pub async fn reverse(
        &self,
        till: &Till<'_>,
        redemption_id: &str,
        reason: &str,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&RedemptionRecord) -> Vec<u8>,
    ) -> Result<Outcome<RedemptionRecord>> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = tx
            .fetch_optional(
                "SELECT r.redemption_id, r.coupon_id, r.store_id, r.order_amount_cents, \
                 r.discount_cents, r.order_ref, r.redeemed_at, r.reversal_id, r.reversed_at, \
                 c.code_sealed, c.template_id, c.player_id, c.campaign_id \
                 FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE r.redemption_id = $1 AND r.merchant_id = $2",
                args![redemption_id, till.merchant_id],
            )
            .await?
            .ok_or(StoreError::NotFound("redemption"))?;
        let mut r = self.redemption_from_row(&row)?;
        let (template_id, player, campaign) = (row.text(10)?, row.opt_text(11)?, row.opt_text(12)?);
        drop(row);
        if r.store_id != till.store_id {
            return Err(CouponRejection::OtherStore.into());
        }
        let reversal_id = new_id();
        let reversed = tx
            .execute(
                "UPDATE coupon_redemption SET reversal_id = $1, reversed_at = $2, \
                 reversal_reason = $3 WHERE redemption_id = $4 AND reversed_at IS NULL",
                args![&reversal_id, now, reason, redemption_id],
            )
            .await?;
        if reversed == 0 {
            return Err(CouponRejection::AlreadyReversed.into());
        }
        let freed = tx
            .execute(
                "UPDATE coupon SET redemption_id = NULL \
                 WHERE coupon_id = $1 AND redemption_id = $2",
                args![&r.coupon_id, redemption_id],
            )
            .await?;
        if freed != 1 {
            return Err(StoreError::Corrupt(format!(
                "coupon {} does not point at its live redemption {redemption_id}",
                r.coupon_id
            ))
            .into());
        }
        r.reversal_id = Some(reversal_id);
        r.reversed_at = Some(now);
        let event = super::coupon_use_event(
            EventType::CouponReversed,
            (campaign.as_deref(), player.as_deref()),
            &template_id,
            &r,
            till,
        );
        platform::store::events::append(&mut tx, &event).await?;
        finish(tx, idem, encode(&r)).await?;
        Ok(Outcome::Fresh(r))
    }

    /// The redemption this till made under `idem_key`, as it is now.
    pub async fn redemption_by_key(
        &self,
        pos_key_id: &str,
        idem_key: &str,
    ) -> Result<RedemptionRecord> {
        let mut tx = self.db.begin_read().await?;
        let row = tx
            .fetch_optional(
                "SELECT r.redemption_id, r.coupon_id, r.store_id, r.order_amount_cents, \
                 r.discount_cents, r.order_ref, r.redeemed_at, r.reversal_id, r.reversed_at, \
                 c.code_sealed FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE r.pos_key_id = $1 AND r.idem_key = $2",
                args![pos_key_id, idem_key],
            )
            .await?
            .ok_or(StoreError::NotFound("redemption with this idempotency key"))?;
        Ok(self.redemption_from_row(&row)?)
    }
}
