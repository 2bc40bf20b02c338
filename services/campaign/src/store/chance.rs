//! Extra wheel draws earned by sharing, share tiers and voting.
//!
//! Granted by [`grant_chances`] inside the transaction of the share, tier
//! or vote (so exactly once, under its idempotency key), capped per player
//! per campaign day with a guarded upsert; spent by the draw, whose daily
//! and total limits grow by what was granted (`wheel.rs`).

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
use crate::domain::{InvalidField, Millis, activity::Activity, idempotency::Idempotency};

pub const MAX_CHANCES: i64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChanceRules {
    pub per_share: i64,
    pub per_tier: i64,
    pub per_vote: i64,
    pub daily_cap: i64,
}

impl ChanceRules {
    pub fn validate(
        per_share: i64,
        per_tier: i64,
        per_vote: i64,
        daily_cap: i64,
    ) -> Result<Self, InvalidField> {
        for (field, v) in [
            ("per_share", per_share),
            ("per_tier", per_tier),
            ("per_vote", per_vote),
            ("daily_cap", daily_cap),
        ] {
            if !(0..=MAX_CHANCES).contains(&v) {
                return Err(InvalidField::new(
                    field,
                    format!("must be 0..={MAX_CHANCES}"),
                ));
            }
        }
        Ok(Self {
            per_share,
            per_tier,
            per_vote,
            daily_cap,
        })
    }
}

/// What earned the chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChanceSource {
    Share,
    Tier,
    Vote,
}

/// Grants the extra draws `source` earns, up to the day's cap. A no-op
/// without rules or with 0 for this source.
pub(super) async fn grant_chances<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    day: &str,
    source: ChanceSource,
) -> Result<(), StoreError> {
    let Some(r) = tx
        .fetch_optional(
            "SELECT per_share, per_tier, per_vote, daily_cap FROM chance_rules \
             WHERE campaign_id = $1",
            args![campaign],
        )
        .await?
    else {
        return Ok(());
    };
    let n = match source {
        ChanceSource::Share => r.int(0)?,
        ChanceSource::Tier => r.int(1)?,
        ChanceSource::Vote => r.int(2)?,
    };
    let cap = r.int(3)?;
    if n == 0 || cap == 0 {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO extra_chance (campaign_id, player_id, day, granted) \
         VALUES ($1, $2, $3, CASE WHEN $4 > $5 THEN $5 ELSE $4 END) \
         ON CONFLICT (campaign_id, player_id, day) DO UPDATE SET granted = \
         CASE WHEN extra_chance.granted + $4 > $5 THEN $5 ELSE extra_chance.granted + $4 END",
        args![campaign, player, day, n, cap],
    )
    .await?;
    Ok(())
}

/// Every player's extra draws per day, for the auditor's export:
/// `(player_id, day, granted)`.
pub(super) async fn all_chances<T: DbTx>(
    tx: &mut T,
    campaign: Uuid,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    tx.fetch_all(
        "SELECT player_id, day, granted FROM extra_chance WHERE campaign_id = $1 \
         AND granted > 0 ORDER BY player_id, day",
        args![campaign.to_string()],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)))
    .collect()
}

impl<D: Db> Store<D> {
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn set_chance_rules(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        rules: ChanceRules,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&ChanceRules) -> Vec<u8>,
    ) -> Result<Outcome<ChanceRules>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign_id, now)
            .await?
            .require(Activity::Wheel)?;
        tx.execute(
            "INSERT INTO chance_rules (campaign_id, per_share, per_tier, per_vote, daily_cap, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (campaign_id) DO UPDATE \
             SET per_share = $2, per_tier = $3, per_vote = $4, daily_cap = $5, updated_at = $6",
            args![
                campaign_id.to_string(),
                rules.per_share,
                rules.per_tier,
                rules.per_vote,
                rules.daily_cap,
                now
            ],
        )
        .await?;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "chance.rules",
            Some(campaign_id),
            json!({"per_share": rules.per_share, "per_tier": rules.per_tier,
                   "per_vote": rules.per_vote, "daily_cap": rules.daily_cap}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&rules)).await?;
        Ok(Outcome::Fresh(rules))
    }
}
