//! Keyset pages of the campaign's lists (issue 24): a merchant's campaigns
//! and a campaign's winners, each newest first by a unique ordered key,
//! read one row past the page to know whether another follows
//! (`domain::list`, `platform::domain::paging`). One SQL text serves both
//! backends: the filters are parameters, never spliced in.

use uuid::Uuid;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args},
    wheel::{AwardRecord, CampaignRecord, award_from_row, load_campaign, own_campaign},
};
use crate::domain::{
    Millis,
    list::{CampaignCursor, CampaignFilter, WinnerCursor, WinnerFilter, day_range},
};

/// A page's rows and whether more follow.
pub type Page<T> = (Vec<T>, bool);

impl<D: Db> Store<D> {
    /// Up to `size` of the merchant's campaigns matching `filter` (its
    /// statuses as shown at `now`: a window past its end is ENDED), newest
    /// first (created_at, then campaign_id, both descending), after
    /// `after` when continuing. Each comes whole (slots, activities,
    /// fairness), as GetCampaign gives it, from the same snapshot.
    pub async fn list_campaigns(
        &self,
        merchant_id: &str,
        filter: &CampaignFilter,
        after: Option<&CampaignCursor>,
        size: u32,
        now: Millis,
    ) -> Result<Page<CampaignRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let (has_cursor, at, id) = match after {
            Some(c) => (1i64, c.created_at, c.campaign_id.clone()),
            None => (0, 0, String::new()),
        };
        let ids = tx
            .fetch_all(
                "SELECT c.campaign_id FROM campaign c \
                 WHERE c.merchant_id = $1 \
                 AND ($2 = '' OR $2 LIKE ('%,' || CASE WHEN c.status IN ('published', 'paused') \
                      AND c.ends_at <= $11 THEN 'ended' ELSE c.status END || ',%')) \
                 AND ($3 = '' OR EXISTS (SELECT 1 FROM campaign_activity a \
                      WHERE a.campaign_id = c.campaign_id AND a.activity = $3)) \
                 AND substr(c.name, 1, length($4)) = $4 \
                 AND c.ends_at > $5 AND c.starts_at < $6 \
                 AND ($7 = 0 OR c.created_at < $8 OR (c.created_at = $8 AND c.campaign_id < $9)) \
                 ORDER BY c.created_at DESC, c.campaign_id DESC LIMIT $10",
                args![
                    merchant_id,
                    filter.status_set(),
                    filter.activity.map(|a| a.as_str()).unwrap_or_default(),
                    filter.name_prefix.clone(),
                    filter.active_from.unwrap_or(Millis::MIN),
                    filter.active_until.unwrap_or(Millis::MAX),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1,
                    now
                ],
            )
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>, _>>()?;
        let more = ids.len() > size as usize;
        let mut campaigns = Vec::with_capacity(ids.len().min(size as usize));
        for id in ids.iter().take(size as usize) {
            let id = super::parse_uuid(id)?;
            campaigns.push(load_campaign(&mut tx, id, now).await?);
        }
        Ok((campaigns, more))
    }

    /// Up to `size` prizes won in a campaign of this merchant, matching
    /// `filter`, newest first (won_at, then award_id, both descending),
    /// after `after` when continuing. A day filter is the campaign's own
    /// day, in its time zone; a state filter matches the state shown at
    /// `now` (a physical prize past its claim deadline is EXPIRED before
    /// the sweeper marks it).
    pub async fn list_winners(
        &self,
        merchant_id: &str,
        campaign: Uuid,
        filter: &WinnerFilter,
        after: Option<&WinnerCursor>,
        size: u32,
        now: Millis,
    ) -> Result<Page<AwardRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let c = own_campaign(&mut tx, merchant_id, campaign, now).await?;
        let (from, until) = if filter.day.is_empty() {
            (Millis::MIN, Millis::MAX)
        } else {
            // The day was checked (`WinnerFilter::new`) and the zone when the
            // campaign was made: a refusal here is a stored value gone bad.
            day_range(&filter.day, &c.rules.time_zone)
                .map_err(|e| StoreError::Corrupt(format!("campaign day: {}", e.reason)))?
        };
        let (has_cursor, at, id) = match after {
            Some(w) => (1i64, w.won_at, w.award_id.clone()),
            None => (0, 0, String::new()),
        };
        let rows = winners_after(
            &mut tx,
            &campaign.to_string(),
            filter,
            (from, until),
            (has_cursor, at, id),
            size,
            now,
        )
        .await?;
        let more = rows.len() > size as usize;
        let awards = rows
            .iter()
            .take(size as usize)
            .map(|r| award_from_row(r).map(|(a, _)| a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((awards, more))
    }
}

/// The award rows of one winners page (one more than `size`).
async fn winners_after<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    filter: &WinnerFilter,
    (from, until): (Millis, Millis),
    (has_cursor, at, id): (i64, Millis, String),
    size: u32,
    now: Millis,
) -> Result<Vec<T::Row>, StoreError> {
    tx.fetch_all(
        "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
         a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, \
         a.address, a.tracking_number, c.merchant_id, a.tier_index \
         FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
         WHERE a.campaign_id = $1 \
         AND ($2 = '' OR $2 LIKE ('%,' || CASE WHEN a.status = 'won' AND a.claim_deadline < $10 \
              THEN 'expired' ELSE a.status END || ',%')) \
         AND ($3 < 0 OR (a.tier_index IS NULL AND a.slot_index = $3)) \
         AND a.won_at >= $4 AND a.won_at < $5 \
         AND ($6 = 0 OR a.won_at < $7 OR (a.won_at = $7 AND a.award_id < $8)) \
         ORDER BY a.won_at DESC, a.award_id DESC LIMIT $9",
        args![
            campaign,
            filter.status_set(),
            filter.slot.map_or(-1, i64::from),
            from,
            until,
            has_cursor,
            at,
            id,
            i64::from(size) + 1,
            now
        ],
    )
    .await
}
