//! Keyset pages of the campaign's lists (issue 24): a merchant's campaigns,
//! a campaign's winners and its shares (its red packets are in
//! `money::list`), each newest first by a unique ordered key, read one row
//! past the page to know whether another follows (`domain::list`,
//! `platform::domain::paging`). One SQL text serves both backends: the
//! filters are parameters, never spliced in.

use uuid::Uuid;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args},
    share::{ShareRecord, share_from_row},
    wheel::{AwardRecord, CampaignRecord, award_from_row, load_campaign, own_campaign},
};
use crate::domain::{
    Millis,
    activity::Activity,
    list::{
        CampaignCursor, CampaignFilter, ShareCursor, ShareFilter, WinnerCursor, WinnerFilter,
        day_range,
    },
    paging::split_page,
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

/// A share as ListShareChains gives it: its numbers (`views`,
/// `forwards`) and the tiers its sharer has been granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSummary {
    pub share: ShareRecord,
    /// Tier indexes, ascending.
    pub sharer_tiers: Vec<i64>,
}

/// One page of a campaign's shares, newest first (one share more than
/// asked), each row a share with one of its sharer's tiers (a share with
/// none or several gives one row or several, in tier order). `$1` the
/// campaign, `$2` 1 for roots only, `($3, $4)` the cursor, exclusive
/// (`(i64::MAX, '')` on the first page, so the index range of
/// `share_campaign_created`, or with `$6` the sharer's
/// `share_sharer_created`, is bounded by it on both backends), `$5` the
/// shares to read.
macro_rules! shares_page_sql {
    ($sharer:literal) => {
        concat!(
            "WITH page AS (SELECT s.token, s.campaign_id, s.sharer_id, s.parent_token, \
             s.root_sharer_id, s.depth, s.created_at FROM share s \
             WHERE s.campaign_id = $1 ",
            $sharer,
            " AND ($2 = 0 OR s.depth = 1) AND (s.created_at, s.token) < ($3, $4) \
             ORDER BY s.created_at DESC, s.token DESC LIMIT $5) \
             SELECT page.token, page.campaign_id, page.sharer_id, page.parent_token, \
             page.root_sharer_id, page.depth, page.created_at, \
             (SELECT COUNT(*) FROM share_view v WHERE v.token = page.token), \
             (SELECT COUNT(*) FROM share_forward f WHERE f.parent_token = page.token), \
             a.tier_index \
             FROM page LEFT JOIN prize_award a ON a.campaign_id = page.campaign_id \
             AND a.player_id = page.sharer_id AND a.tier_index IS NOT NULL \
             ORDER BY page.created_at DESC, page.token DESC, a.tier_index"
        )
    };
}
const SHARES_PAGE: &str = shares_page_sql!("");
const SHARER_SHARES_PAGE: &str = shares_page_sql!("AND s.sharer_id = $6");

impl<D: Db> Store<D> {
    /// Up to `size` shares of a campaign of this merchant matching
    /// `filter`, newest first (created_at, then token, both descending),
    /// after `after` when continuing. The campaign must hold the share
    /// activity.
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign))]
    pub async fn list_shares(
        &self,
        merchant_id: &str,
        campaign: Uuid,
        filter: &ShareFilter,
        after: Option<&ShareCursor>,
        size: u32,
    ) -> Result<Page<ShareSummary>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign, 0)
            .await?
            .require(Activity::Share)?;
        let (at, token) = match after {
            Some(c) => (c.created_at, c.token.clone()),
            None => (Millis::MAX, String::new()),
        };
        let (id, roots, limit) = (
            campaign.to_string(),
            i64::from(filter.roots_only),
            i64::from(size) + 1,
        );
        let rows = match &filter.sharer_id {
            None => {
                tx.fetch_all(SHARES_PAGE, args![id, roots, at, token, limit])
                    .await?
            }
            Some(sharer) => {
                tx.fetch_all(
                    SHARER_SHARES_PAGE,
                    args![id, roots, at, token, limit, sharer.as_str()],
                )
                .await?
            }
        };
        let mut shares: Vec<ShareSummary> = Vec::new();
        for r in &rows {
            let (token, tier) = (r.text(0)?, r.opt_int(9)?);
            match shares.last_mut() {
                Some(last) if last.share.token == token => last.sharer_tiers.extend(tier),
                _ => {
                    let mut share = share_from_row(r)?;
                    share.views = r.int(7)?;
                    share.forwards = r.int(8)?;
                    shares.push(ShareSummary {
                        share,
                        sharer_tiers: tier.into_iter().collect(),
                    });
                }
            }
        }
        Ok(split_page(shares, size))
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
    // By store, its own statement: the planner then reads the store's
    // awards from `prize_award_store` instead of filtering the campaign's.
    let sql = if filter.store.is_some() {
        WINNERS_IN_STORE
    } else {
        WINNERS
    };
    tx.fetch_all(
        sql,
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
            now,
            filter.store.clone().unwrap_or_default()
        ],
    )
    .await
}

/// A winners page; `$store` is where the store filter goes.
macro_rules! winners_sql {
    ($store:literal) => {
        concat!(
            "SELECT a.award_id, a.campaign_id, a.draw_id, a.player_id, a.slot_index, \
             a.prize_name, a.kind, a.status, a.won_at, a.claim_deadline, a.recipient, a.phone, \
             a.address, a.tracking_number, c.merchant_id, a.tier_index, a.raffle_id, a.store_id \
             FROM prize_award a JOIN campaign c ON c.campaign_id = a.campaign_id \
             WHERE a.campaign_id = $1 ",
            $store,
            " AND ($2 = '' OR $2 LIKE ('%,' || CASE WHEN a.status = 'won' AND a.claim_deadline < $10 \
              THEN 'expired' ELSE a.status END || ',%')) \
             AND ($3 < 0 OR (a.draw_id IS NOT NULL AND a.slot_index = $3)) \
             AND a.won_at >= $4 AND a.won_at < $5 \
             AND ($6 = 0 OR a.won_at < $7 OR (a.won_at = $7 AND a.award_id < $8)) \
             ORDER BY a.won_at DESC, a.award_id DESC LIMIT $9"
        )
    };
}
// `$11 = $11` keeps the parameter bound in the statement without a store.
const WINNERS: &str = winners_sql!("AND $11 = $11");
const WINNERS_IN_STORE: &str = winners_sql!("AND a.store_id = $11");
