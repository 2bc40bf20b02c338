//! Scheduled publish (issue 24): a DRAFT marked `publish_at_start`
//! publishes itself once its window starts. `SchedulePublish` sets or
//! clears the mark; the engine's publisher (`sweepers::spawn_publisher`)
//! asks for the due drafts and publishes each through `transition`, the
//! path `PublishCampaign` takes, under a key of the engine's own scope per
//! campaign: two replicas (or a retry after a crash) publish it once. A
//! refusal is recorded on the campaign and not tried again until the
//! campaign is scheduled again.

use uuid::Uuid;

use super::{
    Outcome, Store, StoreError, claim_key,
    db::{Db, DbRow, DbTx, args},
    parse_uuid,
    wheel::{CampaignRecord, commit_change, load_campaign, lock_campaign},
};
use crate::domain::{
    Millis,
    idempotency::{Idempotency, IdempotencyKey},
};

/// Who publishes a scheduled campaign, in the audit trail.
pub const SCHEDULE_SCOPE: &str = "engine:schedule";

/// A draft whose scheduled publish is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuePublish {
    pub id: Uuid,
    pub merchant_id: String,
    pub ends_at: Millis,
    /// The schedule read (`publish_schedule_seq`): a refusal is recorded
    /// only while it is still this one.
    pub schedule_seq: i64,
}

/// The exactly-once identity of a campaign's scheduled publish.
pub fn scheduled_publish_key(id: Uuid) -> Result<Idempotency, StoreError> {
    let key = IdempotencyKey::parse(&format!("scheduled-publish:{id}"))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Idempotency {
        scope: SCHEDULE_SCOPE.to_owned(),
        method: "PublishCampaign",
        key,
        fingerprint: id.as_bytes().to_vec(),
    })
}

impl<D: Db> Store<D> {
    /// Marks a DRAFT to publish itself at its start (`on`), or unmarks
    /// it; either clears the last refusal. Not a draft: `NotDraft`.
    #[tracing::instrument(skip_all, fields(campaign.id = %id))]
    pub async fn schedule_publish(
        &self,
        merchant_id: &str,
        id: Uuid,
        on: bool,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CampaignRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        lock_campaign(&mut tx, merchant_id, id, true, now).await?;
        let before = load_campaign(&mut tx, id, now).await?;
        tx.execute(
            "UPDATE campaign SET publish_at_start = $2, publish_error = '', \
             publish_schedule_seq = publish_schedule_seq + 1 \
             WHERE campaign_id = $1 AND status = 'draft'",
            args![id.to_string(), i64::from(on)],
        )
        .await?;
        commit_change(
            tx,
            merchant_id,
            idem,
            "campaign.schedule_publish",
            id,
            Some(&before),
            now,
            encode,
        )
        .await
    }

    /// Up to `limit` drafts marked to publish at their start, due at
    /// `now`, with no refusal recorded; the earliest first.
    pub async fn due_publications(
        &self,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<DuePublish>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT campaign_id, merchant_id, ends_at, publish_schedule_seq FROM campaign \
                 WHERE status = 'draft' AND publish_at_start = 1 AND starts_at <= $1 \
                 AND publish_error = '' ORDER BY starts_at, campaign_id LIMIT $2",
                args![now, limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(DuePublish {
                    id: parse_uuid(&r.text(0)?)?,
                    merchant_id: r.text(1)?,
                    ends_at: r.int(2)?,
                    schedule_seq: r.int(3)?,
                })
            })
            .collect()
    }

    /// Records why the scheduled publish of a draft was refused; the
    /// publisher skips it until it is scheduled again. Only while the
    /// schedule is still the one the publisher read (`due.schedule_seq`):
    /// a refusal of a schedule an admin has since replaced is dropped.
    /// Returns whether it was recorded.
    pub async fn record_publish_refusal(
        &self,
        due: &DuePublish,
        why: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let why: String = why.chars().take(500).collect();
        let n = tx
            .execute(
                "UPDATE campaign SET publish_error = $2 \
                 WHERE campaign_id = $1 AND status = 'draft' AND publish_at_start = 1 \
                 AND publish_schedule_seq = $3",
                args![due.id.to_string(), why, due.schedule_seq],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }
}
