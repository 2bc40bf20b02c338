//! Cloning a campaign into a new DRAFT (issue 24: the usual way a season's
//! next promotion starts): its activities, wheel limits and prize table
//! (stock full again), fallback, voting, sharing and extra-chance rules,
//! with the prizes' coupon template and code pool references. Not cloned:
//! what happened in it (draws, awards, votes, candidates, shares, the
//! budget and red packets) and its fairness: the clone draws its own
//! secret and commits to it when it is published. Every copy is an
//! `INSERT ... SELECT` in the one transaction that creates the clone.

use rand::RngCore;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError, claim_key,
    db::{Db, DbTx, args},
    wheel::{CampaignRecord, commit_change, own_campaign},
};
use crate::domain::{Millis, idempotency::Idempotency, wheel::copy_name};

/// The new campaign's own fields: its name (None: `copy_name` of the
/// source's) and window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneAs {
    pub name: Option<String>,
    pub starts_at: Millis,
    pub ends_at: Millis,
}

/// The copies after the campaign row, each `$1` = the source, `$2` = the
/// clone, `$3` = now.
const COPIES: [&str; 6] = [
    "INSERT INTO prize_slot (campaign_id, slot_index, name, kind, weight, initial_stock, \
     remaining, daily_cap, per_user_cap, reference, amount, claim_days) \
     SELECT $2, slot_index, name, kind, weight, initial_stock, initial_stock, daily_cap, \
     per_user_cap, reference, amount, claim_days FROM prize_slot WHERE campaign_id = $1 AND $3 = $3",
    "INSERT INTO campaign_activity (campaign_id, activity, attached_at) \
     SELECT $2, activity, $3 FROM campaign_activity WHERE campaign_id = $1",
    "INSERT INTO vote_rules (campaign_id, votes_per_day, votes_per_candidate_per_day, \
     votes_total, player_registration, updated_at) \
     SELECT $2, votes_per_day, votes_per_candidate_per_day, votes_total, player_registration, $3 \
     FROM vote_rules WHERE campaign_id = $1",
    "INSERT INTO share_rules (campaign_id, enabled, updated_at) \
     SELECT $2, enabled, $3 FROM share_rules WHERE campaign_id = $1",
    "INSERT INTO share_tier (campaign_id, tier_index, metric, threshold, name, kind, reference, \
     amount, claim_days, initial_stock, remaining) \
     SELECT $2, tier_index, metric, threshold, name, kind, reference, amount, claim_days, \
     initial_stock, initial_stock FROM share_tier WHERE campaign_id = $1 AND $3 = $3",
    "INSERT INTO chance_rules (campaign_id, per_share, per_tier, per_vote, daily_cap, updated_at) \
     SELECT $2, per_share, per_tier, per_vote, daily_cap, $3 FROM chance_rules \
     WHERE campaign_id = $1",
];

impl<D: Db> Store<D> {
    /// A new DRAFT copy of a campaign of this merchant (any status), named
    /// and timed as `new`.
    #[tracing::instrument(skip_all, fields(campaign.id = %source))]
    pub async fn clone_campaign(
        &self,
        merchant_id: &str,
        source: Uuid,
        new: &CloneAs,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let original = own_campaign(&mut tx, merchant_id, source, now).await?;
        let name = new
            .name
            .clone()
            .unwrap_or_else(|| copy_name(&original.rules.name));
        let id = Uuid::now_v7();
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let (from, to) = (source.to_string(), id.to_string());
        tx.execute(
            "INSERT INTO campaign (campaign_id, merchant_id, name, status, starts_at, ends_at, \
             time_zone, draws_per_day, draws_total, fallback_slot, roll_secret, created_at, \
             updated_at) \
             SELECT $2, merchant_id, $3, 'draft', $4, $5, time_zone, draws_per_day, draws_total, \
             fallback_slot, $6, $7, $7 FROM campaign WHERE campaign_id = $1",
            args![
                from.as_str(),
                to.as_str(),
                name.as_str(),
                new.starts_at,
                new.ends_at,
                secret.to_vec(),
                now
            ],
        )
        .await?;
        for sql in COPIES {
            tx.execute(sql, args![from.as_str(), to.as_str(), now])
                .await?;
        }
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.clone",
            id,
            None,
            now,
            encode,
        )
        .await
    }
}
