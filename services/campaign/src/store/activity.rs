//! Activities of a campaign (issue 23): a campaign created with any set of
//! them, one attached later, and the check each activity's calls make.
//! The set lives in `campaign_activity`; the wheel's limits stay in the
//! campaign row, which the draw path reads anyway.

use rand::RngCore;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError, claim_key,
    db::{Db, DbRow, DbTx, args},
    wheel::{CampaignRecord, commit_change, load_campaign, lock_campaign},
};
use crate::domain::{
    Millis, Rejection,
    activity::{Activity, NO_WHEEL_LIMITS},
    idempotency::Idempotency,
    wheel::{CampaignStatus, WheelRules},
};

/// The activities a campaign holds, in `Activity::ALL` order.
pub(crate) async fn activities_of<T: DbTx>(
    tx: &mut T,
    campaign: &str,
) -> Result<Vec<Activity>, StoreError> {
    let rows = tx
        .fetch_all(
            "SELECT activity FROM campaign_activity WHERE campaign_id = $1",
            args![campaign],
        )
        .await?;
    let mut set = rows
        .iter()
        .map(|r| {
            let name = r.text(0)?;
            Activity::parse(&name).ok_or_else(|| StoreError::Corrupt(format!("activity {name}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    set.sort();
    Ok(set)
}

/// Refuses a call of `activity` on a campaign that does not hold it. The
/// caller has already found the campaign (and checked whose it is).
pub(crate) async fn require_activity<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    activity: Activity,
) -> Result<(), StoreError> {
    let held = tx
        .fetch_optional(
            "SELECT 1 FROM campaign_activity WHERE campaign_id = $1 AND activity = $2",
            args![campaign, activity.as_str()],
        )
        .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(Rejection::NoActivity(activity.as_str()).into()),
    }
}

async fn insert_activity<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    activity: Activity,
    now: Millis,
) -> Result<u64, StoreError> {
    tx.execute(
        "INSERT INTO campaign_activity (campaign_id, activity, attached_at) VALUES ($1, $2, $3) \
         ON CONFLICT (campaign_id, activity) DO NOTHING",
        args![campaign, activity.as_str(), now],
    )
    .await
}

impl<D: Db> Store<D> {
    /// A DRAFT campaign holding `activities` (validated: at least one, each
    /// once). `rules` carries the wheel's limits when the wheel is among
    /// them; without it they are stored as `NO_WHEEL_LIMITS`.
    #[tracing::instrument(skip_all)]
    pub async fn create_campaign(
        &self,
        merchant_id: &str,
        rules: &WheelRules,
        activities: &[Activity],
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let id = Uuid::now_v7();
        let (per_day, total) = if activities.contains(&Activity::Wheel) {
            (rules.draws_per_day, rules.draws_total)
        } else {
            NO_WHEEL_LIMITS
        };
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        tx.execute(
            "INSERT INTO campaign (campaign_id, merchant_id, name, status, starts_at, ends_at, \
             time_zone, draws_per_day, draws_total, roll_secret, created_at, updated_at) \
             VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7, $8, $9, $10, $10)",
            args![
                id.to_string(),
                merchant_id,
                &rules.name,
                rules.starts_at,
                rules.ends_at,
                &rules.time_zone,
                per_day,
                total,
                secret.to_vec(),
                now
            ],
        )
        .await?;
        for a in activities {
            insert_activity(&mut tx, &id.to_string(), *a, now).await?;
        }
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.create",
            id,
            None,
            now,
            encode,
        )
        .await
    }

    /// Adds `activity` to a campaign of this merchant: the wheel (with its
    /// limits) only to a DRAFT, the others to anything not ENDED.
    #[tracing::instrument(skip_all, fields(campaign.id = %id, activity = activity.as_str()))]
    #[allow(clippy::too_many_arguments)]
    pub async fn attach_activity(
        &self,
        merchant_id: &str,
        id: Uuid,
        activity: Activity,
        limits: (i64, i64),
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let campaign = id.to_string();
        // Takes the campaign row's lock (PostgreSQL) before the status is
        // judged, so a racing publish or end is seen.
        lock_campaign(&mut tx, merchant_id, id, false, now).await?;
        let before = load_campaign(&mut tx, id, now).await?;
        let status = before.shown_status();
        match (activity, status) {
            (Activity::Wheel, CampaignStatus::Draft) => {}
            (Activity::Wheel, s) => return Err(Rejection::NotDraft(s.as_str()).into()),
            (_, CampaignStatus::Ended) => return Err(Rejection::NotRunning("ended").into()),
            _ => {}
        }
        if insert_activity(&mut tx, &campaign, activity, now).await? == 0 {
            return Err(Rejection::ActivityAttached(activity.as_str()).into());
        }
        if activity == Activity::Wheel {
            tx.execute(
                "UPDATE campaign SET draws_per_day = $2, draws_total = $3 WHERE campaign_id = $1",
                args![&campaign, limits.0, limits.1],
            )
            .await?;
        }
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.attach_activity",
            id,
            Some(&before),
            now,
            encode,
        )
        .await
    }
}
