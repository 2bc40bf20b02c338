//! Issuing coupons: a player's claim (supply and per-user limit guarded in
//! its transaction), a won prize delivered once per draw, and the coupons
//! a player holds.

use super::*;

impl<D: Db> CouponStore<D> {
    /// A player claims one coupon: supply and per-user limit are guarded
    /// writes in the same transaction as the coupon.
    #[tracing::instrument(skip_all)]
    pub async fn claim(
        &self,
        merchant_id: &str,
        player_id: &str,
        template_id: &str,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&CouponRecord) -> Vec<u8>,
    ) -> Result<Outcome<CouponRecord>> {
        let code = fresh_code()?;
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let template = own_template(&mut tx, merchant_id, template_id).await?;
        if let Validity::Fixed { until, .. } = template.spec.validity
            && now >= until
        {
            return Err(Refusal::Expired.into());
        }
        let supplied = tx
            .execute(
                "UPDATE coupon_template SET issued = issued + 1 \
                 WHERE template_id = $1 AND issued < total_supply",
                args![template_id],
            )
            .await?;
        if supplied == 0 {
            return Err(CouponRejection::SupplyExhausted.into());
        }
        let limit = match template.spec.per_user_limit {
            0 => i64::MAX,
            n => i64::from(n),
        };
        let counted = tx
            .execute(
                "INSERT INTO coupon_player_count (template_id, player_id, held) VALUES ($1, $2, 1) \
                 ON CONFLICT (template_id, player_id) DO UPDATE \
                 SET held = coupon_player_count.held + 1 WHERE coupon_player_count.held < $3",
                args![template_id, player_id, limit],
            )
            .await?;
        if counted == 0 {
            return Err(CouponRejection::PerUserLimit.into());
        }
        let coupon = insert_coupon(
            &mut tx,
            &self.vault,
            &template,
            Some(player_id),
            Source::Claim,
            None,
            &code,
            now,
            "",
        )
        .await?;
        finish(tx, idem, encode(&coupon)).await?;
        Ok(Outcome::Fresh(coupon))
    }

    /// The player's coupons and prize codes, newest first. `after` is the
    /// `(issued_at, id)` of the last item of the previous page.
    pub async fn list_player_coupons(
        &self,
        merchant_id: &str,
        player_id: &str,
        limit: u32,
        after: Option<(Millis, String)>,
    ) -> Result<Vec<CouponRecord>> {
        let mut tx = self.db.begin_read().await?;
        let (at, id) = after.unwrap_or((i64::MAX, String::new()));
        let rows = tx
            .fetch_all(
                "SELECT id, template_id, sealed, redeemed, valid_from, valid_until, issued_at, \
                 source, pool_digest FROM ( \
                   SELECT c.coupon_id AS id, c.template_id, c.code_sealed AS sealed, \
                     CAST(CASE WHEN c.redemption_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS redeemed, \
                     c.valid_from, c.valid_until, c.issued_at, c.source, '' AS pool_digest \
                   FROM coupon c WHERE c.merchant_id = $1 AND c.player_id = $2 \
                   UNION ALL \
                   SELECT p.handout_id, p.pool_id, p.code_sealed, 0, 0, 0, p.handed_at, 'prize', \
                     p.code_digest \
                   FROM pool_code p JOIN code_pool cp ON cp.pool_id = p.pool_id \
                   WHERE cp.merchant_id = $1 AND p.player_id = $2 \
                 ) mine \
                 WHERE issued_at < $3 OR (issued_at = $3 AND ($4 = '' OR id < $4)) \
                 ORDER BY issued_at DESC, id DESC LIMIT $5",
                args![merchant_id, player_id, at, id, i64::from(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                // A supplier code (its row has a pool digest) or a coupon.
                let pool_digest = r.text(8)?;
                if pool_digest.is_empty() {
                    return Ok(self.coupon_from_row(r)?);
                }
                let pool_id = r.text(1)?;
                Ok(CouponRecord {
                    coupon_id: r.text(0)?,
                    pool_code: self.open_pool_code(&pool_id, &pool_digest, r.opt_bytes(2)?)?,
                    template_id: pool_id,
                    code: String::new(),
                    redeemed: false,
                    valid_from: 0,
                    valid_until: 0,
                    issued_at: r.int(6)?,
                    source: r.text(7)?,
                })
            })
            .collect()
    }

    /// One coupon of this player; another's is NotFound.
    pub async fn player_coupon(
        &self,
        merchant_id: &str,
        player_id: &str,
        coupon_id: &str,
    ) -> Result<CouponRecord> {
        let mut tx = self.db.begin_read().await?;
        let row = fetch_one(
            &mut tx,
            "coupon",
            "SELECT c.coupon_id, c.template_id, c.code_sealed, \
             CAST(CASE WHEN c.redemption_id IS NULL THEN 0 ELSE 1 END AS BIGINT), c.valid_from, \
             c.valid_until, c.issued_at, c.source FROM coupon c \
             WHERE c.coupon_id = $1 AND c.merchant_id = $2 AND c.player_id = $3",
            args![coupon_id, merchant_id, player_id],
        )
        .await?;
        Ok(self.coupon_from_row(&row)?)
    }

    /// Delivers a won prize once per `source_id` (the draw id): a repeat
    /// returns what the first delivery made. Prize coupons are limited by
    /// the wheel's stock, so they count neither against the template's
    /// supply nor its per-user limit.
    #[tracing::instrument(skip_all, fields(source.id = %order.source_id))]
    pub async fn deliver_prize(&self, order: &PrizeOrder<'_>, now: Millis) -> Result<CouponRecord> {
        let PrizeOrder {
            source_id,
            merchant_id,
            player_id,
            kind,
            reference,
            campaign_id,
        } = *order;
        let code = fresh_code()?;
        let mut tx = self.db.begin_write().await?;
        if let Some(done) = self.delivered(&mut tx, source_id).await? {
            if done.0 != merchant_id || done.1 != player_id || done.2.template_id != reference {
                return Err(CouponRejection::SourceMismatch.into());
            }
            return Ok(done.2);
        }
        let coupon = match kind {
            PrizeKind::Coupon => {
                let template = own_template(&mut tx, merchant_id, reference).await?;
                let coupon = insert_coupon(
                    &mut tx,
                    &self.vault,
                    &template,
                    Some(player_id),
                    Source::Prize,
                    Some(source_id),
                    &code,
                    now,
                    campaign_id.unwrap_or_default(),
                )
                .await?;
                // The campaign that gave it, for its statistics
                // (ListCampaignPrizeCoupons).
                tx.execute(
                    "UPDATE coupon SET campaign_id = $2 WHERE coupon_id = $1",
                    args![&coupon.coupon_id, campaign_id],
                )
                .await?;
                coupon
            }
            PrizeKind::TopupCode => {
                pool::hand_out::<D>(
                    &self.vault,
                    &mut tx,
                    merchant_id,
                    reference,
                    player_id,
                    source_id,
                    now,
                )
                .await?
            }
        };
        tx.commit().await?;
        Ok(coupon)
    }

    /// What an earlier delivery of `source_id` made: (merchant, player,
    /// coupon).
    async fn delivered<T: DbTx>(
        &self,
        tx: &mut T,
        source_id: &str,
    ) -> Result<Option<(String, String, CouponRecord)>> {
        let coupon = tx
            .fetch_optional(
                "SELECT c.coupon_id, c.template_id, c.code_sealed, \
                 CAST(CASE WHEN c.redemption_id IS NULL THEN 0 ELSE 1 END AS BIGINT), c.valid_from, \
                 c.valid_until, c.issued_at, c.source, c.merchant_id, c.player_id \
                 FROM coupon c WHERE c.source_id = $1",
                args![source_id],
            )
            .await?;
        if let Some(r) = coupon {
            return Ok(Some((
                r.text(8)?,
                r.opt_text(9)?.unwrap_or_default(),
                self.coupon_from_row(&r)?,
            )));
        }
        Ok(pool::delivered(tx, &self.vault, source_id).await?)
    }
}

impl<D: Db> CouponStore<D> {
    /// The prize coupons `campaign_id` gave (of this merchant), by source
    /// id after `after`, at most `limit`, each with its redemptions. A
    /// page is cut by coupons, never inside one coupon's redemptions.
    pub async fn campaign_prize_coupons(
        &self,
        merchant_id: &str,
        campaign_id: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<CampaignPrizeCoupon>> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT c.source_id, c.issued_at, x.redeemed_at FROM coupon c \
                 LEFT JOIN coupon_redemption x ON x.coupon_id = c.coupon_id \
                 WHERE c.coupon_id IN (SELECT k.coupon_id FROM coupon k \
                   WHERE k.campaign_id = $2 AND k.merchant_id = $1 AND k.source = 'prize' \
                   AND k.source_id > $3 ORDER BY k.source_id LIMIT $4) \
                 ORDER BY c.source_id, x.redeemed_at",
                args![merchant_id, campaign_id, after, i64::from(limit)],
            )
            .await?;
        let mut out: Vec<CampaignPrizeCoupon> = Vec::new();
        for r in &rows {
            let source_id = r.text(0)?;
            let redeemed = r.opt_int(2)?;
            match out.last_mut() {
                Some(last) if last.source_id == source_id => last.redeemed_at.extend(redeemed),
                _ => out.push(CampaignPrizeCoupon {
                    source_id,
                    issued_at: r.int(1)?,
                    redeemed_at: redeemed.into_iter().collect(),
                }),
            }
        }
        Ok(out)
    }
}
