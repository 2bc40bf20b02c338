//! Erasing winners' personal data after a campaign (issue 24): the name,
//! phone and address a winner gave to have a prize shipped are blanked;
//! the award, its state and tracking number (the fulfilment history)
//! stay. Only once the campaign has ENDED, so no prize still waiting for
//! its shipment loses its address. The stored answers of the claims that
//! carried the details are forgotten too.

use serde_json::json;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, args},
    finish,
    wheel::own_campaign,
};
use crate::domain::{Millis, Rejection, idempotency::Idempotency, wheel::CampaignStatus};

impl<D: Db> Store<D> {
    /// Blanks the shipping details of one player's prizes in an ENDED
    /// campaign of this merchant (`player` None: every winner's); returns
    /// how many prizes had details to erase. The audit entry records the
    /// count, never the data.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign))]
    pub async fn erase_personal_data(
        &self,
        merchant_id: &str,
        campaign: Uuid,
        player: Option<&str>,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&u64) -> Vec<u8> + Send,
    ) -> Result<Outcome<u64>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let c = own_campaign(&mut tx, merchant_id, campaign, now).await?;
        let shown = c.shown_status();
        if shown != CampaignStatus::Ended {
            return Err(Rejection::NotEnded(shown.as_str()).into());
        }
        let holders = tx
            .fetch_all(
                "SELECT award_id, player_id FROM prize_award WHERE campaign_id = $1 \
                 AND ($2 = '' OR player_id = $2) \
                 AND (recipient IS NOT NULL OR phone IS NOT NULL OR address IS NOT NULL)",
                args![campaign.to_string(), player.unwrap_or_default()],
            )
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        forget_claim_answers(&mut tx, merchant_id, &holders).await?;
        let erased = tx
            .execute(
                "UPDATE prize_award SET recipient = NULL, phone = NULL, address = NULL, \
                 updated_at = $3 WHERE campaign_id = $1 AND ($2 = '' OR player_id = $2) \
                 AND (recipient IS NOT NULL OR phone IS NOT NULL OR address IS NOT NULL)",
                args![campaign.to_string(), player.unwrap_or_default(), now],
            )
            .await?;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "prize.erase_personal_data",
            Some(campaign),
            json!({"erased": erased, "one_player": player.is_some()}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&erased)).await?;
        Ok(Outcome::Fresh(erased))
    }
}

/// Forgets the stored answers of the claims that carried these prizes'
/// shipping details (ClaimPrize answers with the award, kept for retries
/// for `idempotency_retention_days`), so no replay hands the erased data
/// back. A claim retried afterwards runs again and is refused (the prize
/// is no longer WON). Matched by the award id in the stored bytes: the
/// store does not decode answers.
async fn forget_claim_answers<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    holders: &[(String, String)],
) -> Result<(), StoreError> {
    let mut by_player: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for (award, player) in holders {
        by_player.entry(player).or_default().push(award);
    }
    for (player, awards) in by_player {
        let scope = format!("player:{merchant_id}:{player}");
        let stored = tx
            .fetch_all(
                "SELECT idem_key, response FROM idempotency \
                 WHERE scope = $1 AND method = 'ClaimPrize' AND response IS NOT NULL",
                args![scope.as_str()],
            )
            .await?
            .iter()
            .map(|r| Ok((r.text(0)?, r.bytes(1)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (key, answer) in stored {
            let carries = awards
                .iter()
                .any(|a| answer.windows(a.len()).any(|w| w == a.as_bytes()));
            if carries {
                tx.execute(
                    "DELETE FROM idempotency WHERE scope = $1 AND method = 'ClaimPrize' \
                     AND idem_key = $2",
                    args![scope.as_str(), key],
                )
                .await?;
            }
        }
    }
    Ok(())
}
