//! Shipping many physical prizes in one transaction (issue 24,
//! `domain::shipping`): each row a guarded `UPDATE ... WHERE status =
//! 'claimed'`, so a prize ships once however many files or admins name
//! it at once; a row that changes nothing is explained from the prize as
//! it stands.

use std::collections::HashSet;

use platform::domain::events::{EventDraft, EventType, PrizeChanged};
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
use crate::domain::{
    Millis,
    idempotency::Idempotency,
    shipping::{RowOutcome, RowRefusal, ShipRow, explain},
};

impl<D: Db> Store<D> {
    /// Applies `rows` (checked: `domain::shipping::check_rows`) to the
    /// campaign's prizes; one outcome a row, in order.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    pub async fn ship_prizes(
        &self,
        merchant_id: &str,
        campaign: Uuid,
        rows: &[ShipRow],
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&[RowOutcome]) -> Vec<u8> + Send,
    ) -> Result<Outcome<Vec<RowOutcome>>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign, now).await?;
        let campaign_id = campaign.to_string();
        let mut seen = HashSet::new();
        let mut outcomes = Vec::with_capacity(rows.len());
        let mut shipped = Vec::new();
        for r in rows {
            if !seen.insert(r.award_id.as_str()) {
                outcomes.push(RowOutcome::Refused(RowRefusal::Repeated));
                continue;
            }
            let winner = tx
                .fetch_optional(
                    "UPDATE prize_award SET status = 'shipped', tracking_number = $2, \
                     updated_at = $3 WHERE award_id = $1 AND campaign_id = $4 \
                     AND kind = 'physical' AND status = 'claimed' RETURNING player_id, prize_name",
                    args![
                        r.award_id.as_str(),
                        r.tracking_number.as_str(),
                        now,
                        campaign_id.as_str()
                    ],
                )
                .await?
                .map(|w| Ok::<_, StoreError>((w.text(0)?, w.text(1)?)))
                .transpose()?;
            if let Some((player_id, prize_name)) = winner {
                let event = EventDraft::new(
                    EventType::PrizeShipped,
                    merchant_id,
                    &campaign_id,
                    &player_id,
                    now,
                    &PrizeChanged {
                        award_id: r.award_id.clone(),
                        prize_name,
                        tracking_number: r.tracking_number.clone(),
                    },
                );
                platform::store::events::append(&mut tx, &event).await?;
                outcomes.push(RowOutcome::Shipped);
                shipped.push(json!({"award_id": r.award_id, "tracking_number": r.tracking_number}));
                continue;
            }
            let current = tx
                .fetch_optional(
                    "SELECT kind, status, tracking_number FROM prize_award \
                     WHERE award_id = $1 AND campaign_id = $2",
                    args![r.award_id.as_str(), campaign_id.as_str()],
                )
                .await?;
            outcomes.push(match current {
                None => RowOutcome::Refused(RowRefusal::NotFound),
                Some(p) => explain(
                    p.text(0)? == "physical",
                    &p.text(1)?,
                    p.opt_text(2)?.as_deref(),
                    &r.tracking_number,
                ),
            });
        }
        if !shipped.is_empty() {
            append_audit(
                &mut tx,
                merchant_id,
                &idem.scope,
                "prize.ship_bulk",
                Some(campaign),
                json!({"shipped": shipped, "rows": rows.len()}),
                now,
            )
            .await?;
        }
        finish(tx, idem, encode(&outcomes)).await?;
        Ok(Outcome::Fresh(outcomes))
    }
}
