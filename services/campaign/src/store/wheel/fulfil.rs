//! After the draw: winners and a player's prizes, claiming and shipping a
//! physical prize, and expiring the unclaimed.

use super::*;
use crate::store::events::emit::prize_changed;
use platform::domain::events::{EventDraft, EventType, PrizeChanged};

impl<D: Db> Store<D> {
    /// One player's prizes at this merchant (optionally one campaign).
    pub async fn list_player_awards(
        &self,
        merchant_id: &str,
        player_id: &str,
        campaign: Option<Uuid>,
    ) -> Result<Vec<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let campaign = campaign.map(|c| c.to_string()).unwrap_or_default();
        tx.fetch_all(
            "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
             a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, \
             a.address, a.tracking_number, c.merchant_id, a.tier_index, a.raffle_id, a.store_id \
             FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
             WHERE c.merchant_id = $1 AND a.player_id = $2 AND ($3 = '' OR a.campaign_id = $3) \
             ORDER BY a.won_at DESC, a.award_id DESC LIMIT 1000",
            args![merchant_id, player_id, campaign],
        )
        .await?
        .iter()
        .map(|r| award_from_row(r).map(|(a, _)| a))
        .collect()
    }

    /// WON -> CLAIMED with shipping details, by the winner, before the
    /// deadline. Someone else's prize is NotFound.
    #[tracing::instrument(skip_all)]
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_prize(
        &self,
        merchant_id: &str,
        player_id: &str,
        award_id: &str,
        shipping: &Shipping,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&AwardRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = fetch_one(&mut tx, "prize", SELECT_AWARD, args![award_id]).await?;
        let (award, merchant) = award_from_row(&row)?;
        if merchant != merchant_id || award.player_id != player_id {
            return Err(StoreError::NotFound("prize"));
        }
        if award.kind != PrizeKind::Physical {
            return Err(Rejection::NotPhysical.into());
        }
        match award.status_at(now) {
            AwardStatus::Won => {}
            AwardStatus::Expired => return Err(Rejection::ClaimExpired.into()),
            s => return Err(Rejection::NotClaimable(s.as_str()).into()),
        }
        let n = tx
            .execute(
                "UPDATE prize_award SET status = 'claimed', recipient = $2, phone = $3, \
                 address = $4, updated_at = $5 \
                 WHERE award_id = $1 AND status = 'won' AND claim_deadline >= $5",
                args![
                    award_id,
                    &shipping.recipient,
                    &shipping.phone,
                    &shipping.address,
                    now
                ],
            )
            .await?;
        if n != 1 {
            return Err(StoreError::Conflict("prize changed concurrently".into()));
        }
        let award = AwardRecord {
            status: AwardStatus::Claimed,
            shipping: Some(shipping.clone()),
            ..award
        };
        let event = prize_changed(EventType::PrizeClaimed, merchant_id, &award, "", now);
        platform::store::events::append(&mut tx, &event).await?;
        finish(tx, idem, encode(&award)).await?;
        Ok(Outcome::Fresh(award))
    }

    /// CLAIMED -> SHIPPED, by an admin of the campaign's merchant.
    #[tracing::instrument(skip_all)]
    pub async fn ship_prize(
        &self,
        merchant_id: &str,
        award_id: &str,
        tracking_number: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&AwardRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = fetch_one(&mut tx, "prize", SELECT_AWARD, args![award_id]).await?;
        let (award, merchant) = award_from_row(&row)?;
        if merchant != merchant_id {
            return Err(StoreError::OtherMerchant("prize"));
        }
        if award.kind != PrizeKind::Physical {
            return Err(Rejection::NotPhysical.into());
        }
        let n = tx
            .execute(
                "UPDATE prize_award SET status = 'shipped', tracking_number = $2, updated_at = $3 \
                 WHERE award_id = $1 AND status = 'claimed'",
                args![award_id, tracking_number, now],
            )
            .await?;
        if n != 1 {
            return Err(Rejection::NotShippable(award.status_at(now).as_str()).into());
        }
        let detail = json!({
            "award_id": award_id,
            "before": {"status": "claimed"},
            "after": {"status": "shipped", "tracking_number": tracking_number},
        });
        let campaign = parse_uuid(&award.campaign_id)?;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "prize.ship",
            Some(campaign),
            detail,
            now,
        )
        .await?;
        let award = AwardRecord {
            status: AwardStatus::Shipped,
            tracking_number: Some(tracking_number.to_owned()),
            ..award
        };
        let event = prize_changed(
            EventType::PrizeShipped,
            merchant_id,
            &award,
            tracking_number,
            now,
        );
        platform::store::events::append(&mut tx, &event).await?;
        finish(tx, idem, encode(&award)).await?;
        Ok(Outcome::Fresh(award))
    }

    /// Marks WON physical prizes past their deadline EXPIRED, each with its
    /// `prize.expired` event; returns how many. Safe to run any number of
    /// times (a pass takes 1000 at most; the sweeper runs again).
    pub async fn expire_unclaimed(&self, now: Millis) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let rows = tx
            .fetch_all(
                "SELECT a.award_id, a.campaign_id, a.player_id, a.prize_name, c.merchant_id \
                 FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
                 WHERE a.status = 'won' AND a.claim_deadline < $1 ORDER BY a.award_id LIMIT 1000",
                args![now],
            )
            .await?;
        let due = rows
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.text(4)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        drop(rows);
        let mut n = 0;
        for (award_id, campaign_id, player_id, prize_name, merchant) in due {
            let changed = tx
                .execute(
                    "UPDATE prize_award SET status = 'expired', updated_at = $1 \
                     WHERE award_id = $2 AND status = 'won' AND claim_deadline < $1",
                    args![now, &award_id],
                )
                .await?;
            if changed == 1 {
                let event = EventDraft::new(
                    EventType::PrizeExpired,
                    &merchant,
                    &campaign_id,
                    &player_id,
                    now,
                    &PrizeChanged {
                        award_id,
                        prize_name,
                        tracking_number: String::new(),
                    },
                );
                platform::store::events::append(&mut tx, &event).await?;
                n += 1;
            }
        }
        tx.commit().await?;
        Ok(n)
    }
}
