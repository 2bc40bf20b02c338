//! Forward-to-Moments: share tokens and their chain, views, forwards, fan
//! counters and tier rewards.
//!
//! A view, share or forward bumps the fan's counter row (`fan_stats`) in
//! its transaction; that row's lock orders concurrent crossings of the same
//! tier, and the grant is a guarded stock update (`remaining > 0`) plus a
//! prize award under UNIQUE (campaign, tier, fan), all in the same
//! transaction. Views and forwards are idempotent by their primary keys.

use serde_json::json;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    chance::ChanceSource,
    claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    events::emit::{prize, tier_reached},
    finish, new_id,
    wheel::own_campaign,
};
use crate::domain::{
    Millis, Rejection,
    activity::Activity,
    idempotency::Idempotency,
    wheel::{CampaignStatus, PrizeKind, SlotSpec, campaign_day, check_window},
};

/// What a tier counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareMetric {
    Shares,
    Viewers,
    Forwards,
}

impl ShareMetric {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shares => "shares",
            Self::Viewers => "viewers",
            Self::Forwards => "forwards",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "shares" => Ok(Self::Shares),
            "viewers" => Ok(Self::Viewers),
            "forwards" => Ok(Self::Forwards),
            other => Err(StoreError::Corrupt(format!("share metric {other}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSpec {
    pub metric: ShareMetric,
    pub threshold: i64,
    pub prize: SlotSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRulesRecord {
    pub enabled: bool,
    pub tiers: Vec<(TierSpec, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    pub token: String,
    pub campaign_id: String,
    pub sharer_id: String,
    pub parent_token: Option<String>,
    pub root_sharer_id: String,
    pub depth: i64,
    pub created_at: Millis,
    /// Counted views (read by the admin's reads; 0 elsewhere).
    pub views: i64,
    /// Onward forwards by other players (as `views`).
    pub forwards: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FanStatsRecord {
    pub shares: i64,
    pub viewers: i64,
    pub forwards: i64,
    pub tiers_granted: Vec<i64>,
}

/// A published campaign of this merchant inside its window that holds
/// `activity`, for player calls (votes, shares): another merchant's is
/// NotFound. Returns its time zone.
pub(super) async fn running_campaign<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    campaign: &str,
    activity: Activity,
    now: Millis,
) -> Result<String, StoreError> {
    let r = fetch_one(
        tx,
        "campaign",
        "SELECT merchant_id, status, starts_at, ends_at, time_zone, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM campaign_activity a \
              WHERE a.campaign_id = campaign.campaign_id AND a.activity = $2) \
              THEN 1 ELSE 0 END AS BIGINT) \
         FROM campaign WHERE campaign_id = $1",
        args![campaign, activity.as_str()],
    )
    .await?;
    if r.text(0)? != merchant_id {
        return Err(StoreError::NotFound("campaign"));
    }
    if r.int(5)? == 0 {
        return Err(Rejection::NoActivity(activity.as_str()).into());
    }
    match CampaignStatus::parse(&r.text(1)?) {
        Some(CampaignStatus::Published) => {}
        Some(CampaignStatus::Draft) => return Err(Rejection::DraftNotOpen.into()),
        Some(s) => return Err(Rejection::NotRunning(s.as_str()).into()),
        None => return Err(StoreError::Corrupt("campaign status".into())),
    }
    check_window(now, r.int(2)?, r.int(3)?)?;
    r.text(4)
}

const SELECT_SHARE: &str = "SELECT s.token, s.campaign_id, s.sharer_id, s.parent_token, \
     s.root_sharer_id, s.depth, s.created_at, c.merchant_id FROM share s \
     JOIN campaign c ON c.campaign_id = s.campaign_id WHERE s.token = $1";

pub(super) fn share_from_row(r: &impl DbRow) -> Result<ShareRecord, StoreError> {
    Ok(ShareRecord {
        token: r.text(0)?,
        campaign_id: r.text(1)?,
        sharer_id: r.text(2)?,
        parent_token: r.opt_text(3)?,
        root_sharer_id: r.text(4)?,
        depth: r.int(5)?,
        created_at: r.int(6)?,
        views: 0,
        forwards: 0,
    })
}

/// A share token of this merchant; another merchant's is NotFound.
async fn own_share<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    token: &str,
) -> Result<ShareRecord, StoreError> {
    let r = fetch_one(tx, "share", SELECT_SHARE, args![token]).await?;
    if r.text(7)? != merchant_id {
        return Err(StoreError::NotFound("share"));
    }
    share_from_row(&r)
}

/// Adds to a fan's counters (locking the fan's row) and returns them.
async fn bump_fan<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    fan: &str,
    (shares, viewers, forwards): (i64, i64, i64),
) -> Result<(i64, i64, i64), StoreError> {
    let r = fetch_one(
        tx,
        "fan",
        "INSERT INTO fan_stats (campaign_id, player_id, shares, viewers, forwards) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id, player_id) DO UPDATE SET \
         shares = fan_stats.shares + $3, viewers = fan_stats.viewers + $4, \
         forwards = fan_stats.forwards + $5 RETURNING shares, viewers, forwards",
        args![campaign, fan, shares, viewers, forwards],
    )
    .await?;
    Ok((r.int(0)?, r.int(1)?, r.int(2)?))
}

/// Grants every enabled tier of `metric` the fan has reached and not yet
/// been granted, each out of its stock. Runs under the fan's row lock.
#[allow(clippy::too_many_arguments)]
async fn grant_tiers<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    campaign: &str,
    fan: &str,
    (metric, value): (ShareMetric, i64),
    day: &str,
    now: Millis,
) -> Result<(), StoreError> {
    let enabled = tx
        .fetch_optional(
            "SELECT enabled FROM share_rules WHERE campaign_id = $1",
            args![campaign],
        )
        .await?
        .map(|r| r.int(0))
        .transpose()?
        .unwrap_or(0);
    if enabled != 1 {
        return Ok(());
    }
    let due = tx
        .fetch_all(
            "SELECT t.tier_index, t.name, t.kind, t.reference, t.claim_days, t.amount \
             FROM share_tier t \
             WHERE t.campaign_id = $1 AND t.metric = $2 AND t.threshold <= $3 AND NOT EXISTS \
             (SELECT 1 FROM prize_award a WHERE a.campaign_id = t.campaign_id \
              AND a.tier_index = t.tier_index AND a.player_id = $4) ORDER BY t.tier_index",
            args![campaign, metric.as_str(), value, fan],
        )
        .await?;
    type Due = (i64, String, String, Option<String>, i64, i64);
    let due: Vec<Due> = due
        .iter()
        .map(|r| {
            Ok((
                r.int(0)?,
                r.text(1)?,
                r.text(2)?,
                r.opt_text(3)?,
                r.int(4)?,
                r.int(5)?,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    for (tier, name, kind_s, reference, claim_days, amount) in due {
        let taken = tx
            .execute(
                "UPDATE share_tier SET remaining = remaining - 1 \
                 WHERE campaign_id = $1 AND tier_index = $2 AND remaining > 0",
                args![campaign, tier],
            )
            .await?;
        if taken == 0 {
            // Out of stock: the tier simply gives nothing more.
            continue;
        }
        let kind = PrizeKind::parse(&kind_s)
            .ok_or_else(|| StoreError::Corrupt(format!("prize kind {kind_s}")))?;
        // A cash tier pays from the campaign's budget; a budget too short
        // gives nothing, like an empty stock (the unit goes back).
        if kind == PrizeKind::Cash
            && !super::money::pay_from_budget(tx, campaign, fan, amount, now).await?
        {
            tx.execute(
                "UPDATE share_tier SET remaining = remaining + 1 \
                 WHERE campaign_id = $1 AND tier_index = $2",
                args![campaign, tier],
            )
            .await?;
            continue;
        }
        let physical = kind == PrizeKind::Physical;
        let award_id = new_id();
        tx.execute(
            "INSERT INTO prize_award (award_id, campaign_id, draw_id, tier_index, player_id, \
             slot_index, prize_name, kind, status, won_at, claim_deadline, updated_at) \
             VALUES ($1, $2, NULL, $3, $4, $3, $5, $6, $7, $8, $9, $8)",
            args![
                &award_id,
                campaign,
                tier,
                fan,
                &name,
                kind.as_str(),
                if physical { "won" } else { "granted" },
                now,
                physical.then_some(now + claim_days * 86_400_000)
            ],
        )
        .await?;
        let entry = super::outbox::OutboxEntry {
            source_id: &award_id,
            award_id: &award_id,
            merchant_id,
            campaign_id: campaign,
            player_id: fan,
            kind,
            reference: reference.as_deref().unwrap_or(""),
            now,
        };
        super::outbox::enqueue(tx, &entry).await?;
        let slot = u32::try_from(tier).unwrap_or(0);
        let deadline = physical.then_some(now + claim_days * 86_400_000);
        let won = prize(&award_id, slot, &name, kind, amount, deadline);
        let event = tier_reached(
            (merchant_id, campaign, fan),
            metric.as_str(),
            value,
            won,
            now,
        );
        platform::store::events::append(tx, &event).await?;
        super::chance::grant_chances(tx, campaign, fan, day, ChanceSource::Tier).await?;
        tracing::info!(tier, metric = metric.as_str(), "share tier granted");
    }
    Ok(())
}

impl<D: Db> Store<D> {
    /// Turns rewards on or off and replaces the tiers (only while none has
    /// been granted).
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn set_share_rules(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        enabled: bool,
        tiers: &[TierSpec],
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&ShareRulesRecord) -> Vec<u8>,
    ) -> Result<Outcome<ShareRulesRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign_id, now)
            .await?
            .require(Activity::Share)?;
        let before = self.rules_in(&mut tx, &campaign).await?;
        let current: Vec<&TierSpec> = before.tiers.iter().map(|(t, _)| t).collect();
        let same = current.len() == tiers.len() && current.iter().zip(tiers).all(|(a, b)| *a == b);
        if !same {
            // Lock the tiers first: a grant in flight holds its tier's row
            // (the stock update) until it commits, so the count below sees
            // it, and a later grant finds its tier replaced and gives
            // nothing.
            tx.execute(
                "UPDATE share_tier SET remaining = remaining WHERE campaign_id = $1",
                args![&campaign],
            )
            .await?;
            let granted = fetch_one(
                &mut tx,
                "awards",
                "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1 AND tier_index IS NOT NULL",
                args![&campaign],
            )
            .await?
            .int(0)?;
            if granted > 0 {
                return Err(Rejection::TiersInUse.into());
            }
            tx.execute(
                "DELETE FROM share_tier WHERE campaign_id = $1",
                args![&campaign],
            )
            .await?;
            for (i, t) in tiers.iter().enumerate() {
                let p = &t.prize;
                tx.execute(
                    "INSERT INTO share_tier (campaign_id, tier_index, metric, threshold, name, \
                     kind, reference, amount, claim_days, initial_stock, remaining) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                    args![
                        &campaign,
                        i as i64,
                        t.metric.as_str(),
                        t.threshold,
                        &p.name,
                        p.kind.as_str(),
                        p.reference.clone(),
                        p.amount,
                        p.claim_days,
                        p.stock
                    ],
                )
                .await?;
            }
        }
        tx.execute(
            "INSERT INTO share_rules (campaign_id, enabled, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (campaign_id) DO UPDATE SET enabled = $2, updated_at = $3",
            args![&campaign, i64::from(enabled), now],
        )
        .await?;
        let after = self.rules_in(&mut tx, &campaign).await?;
        let summary = |r: &ShareRulesRecord| {
            json!({"enabled": r.enabled, "tiers": r.tiers.iter().map(|(t, left)| json!({
                "metric": t.metric.as_str(), "threshold": t.threshold, "prize": t.prize.name,
                "kind": t.prize.kind.as_str(), "stock": t.prize.stock, "remaining": left,
            })).collect::<Vec<_>>()})
        };
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "share.rules",
            Some(campaign_id),
            json!({"before": summary(&before), "after": summary(&after)}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&after)).await?;
        Ok(Outcome::Fresh(after))
    }

    async fn rules_in<T: DbTx>(
        &self,
        tx: &mut T,
        campaign: &str,
    ) -> Result<ShareRulesRecord, StoreError> {
        let enabled = tx
            .fetch_optional(
                "SELECT enabled FROM share_rules WHERE campaign_id = $1",
                args![campaign],
            )
            .await?
            .map(|r| r.int(0))
            .transpose()?
            .unwrap_or(0)
            == 1;
        let rows = tx
            .fetch_all(
                "SELECT metric, threshold, name, kind, reference, amount, claim_days, \
                 initial_stock, remaining FROM share_tier WHERE campaign_id = $1 \
                 ORDER BY tier_index",
                args![campaign],
            )
            .await?;
        let tiers = rows
            .iter()
            .map(|r| {
                let kind = r.text(3)?;
                Ok((
                    TierSpec {
                        metric: ShareMetric::parse(&r.text(0)?)?,
                        threshold: r.int(1)?,
                        prize: SlotSpec {
                            name: r.text(2)?,
                            kind: PrizeKind::parse(&kind)
                                .ok_or_else(|| StoreError::Corrupt(format!("kind {kind}")))?,
                            weight: 0,
                            stock: r.int(7)?,
                            daily_cap: None,
                            per_user_cap: None,
                            reference: r.opt_text(4)?,
                            amount: r.int(5)?,
                            claim_days: r.int(6)?,
                        },
                    },
                    r.int(8)?,
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(ShareRulesRecord { enabled, tiers })
    }

    pub async fn get_share_rules(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
    ) -> Result<ShareRulesRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign_id, 0)
            .await?
            .require(Activity::Share)?;
        self.rules_in(&mut tx, &campaign_id.to_string()).await
    }

    /// A root share, or one onward from `parent` (a forward for the
    /// parent's sharer).
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_share(
        &self,
        merchant_id: &str,
        player_id: &str,
        campaign_id: Uuid,
        parent: Option<Uuid>,
        channel: Option<&str>,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&ShareRecord) -> Vec<u8>,
    ) -> Result<Outcome<ShareRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let zone = running_campaign(&mut tx, merchant_id, &campaign, Activity::Share, now).await?;
        let day = campaign_day(now, &zone).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let parent = match parent {
            Some(p) => {
                let p = own_share(&mut tx, merchant_id, &p.to_string()).await?;
                if p.campaign_id != campaign {
                    return Err(StoreError::NotFound("share"));
                }
                Some(p)
            }
            None => None,
        };
        // Random, not derived from anything: the token is in public links.
        let token = Uuid::new_v4().to_string();
        let s = ShareRecord {
            token: token.clone(),
            campaign_id: campaign.clone(),
            sharer_id: player_id.to_owned(),
            parent_token: parent.as_ref().map(|p| p.token.clone()),
            root_sharer_id: parent
                .as_ref()
                .map_or(player_id.to_owned(), |p| p.root_sharer_id.clone()),
            depth: parent.as_ref().map_or(1, |p| p.depth + 1),
            created_at: now,
            views: 0,
            forwards: 0,
        };
        tx.execute(
            "INSERT INTO share (token, campaign_id, sharer_id, parent_token, root_sharer_id, \
             depth, channel, day, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            args![
                &token,
                &campaign,
                player_id,
                s.parent_token.clone(),
                &s.root_sharer_id,
                s.depth,
                channel,
                &day,
                now
            ],
        )
        .await?;
        super::stats::note_activity(&mut tx, &campaign, player_id, &day, channel, now).await?;
        let (shares, _, _) = bump_fan(&mut tx, &campaign, player_id, (1, 0, 0)).await?;
        super::chance::grant_chances(&mut tx, &campaign, player_id, &day, ChanceSource::Share)
            .await?;
        grant_tiers(
            &mut tx,
            merchant_id,
            &campaign,
            player_id,
            (ShareMetric::Shares, shares),
            &day,
            now,
        )
        .await?;
        if let Some(p) = parent.filter(|p| p.sharer_id != player_id) {
            let forwarded = tx
                .execute(
                    "INSERT INTO share_forward (parent_token, forwarder_id, child_token) \
                     VALUES ($1, $2, $3) ON CONFLICT (parent_token, forwarder_id) DO NOTHING",
                    args![&p.token, player_id, &token],
                )
                .await?;
            if forwarded == 1 {
                let (_, _, forwards) =
                    bump_fan(&mut tx, &campaign, &p.sharer_id, (0, 0, 1)).await?;
                grant_tiers(
                    &mut tx,
                    merchant_id,
                    &campaign,
                    &p.sharer_id,
                    (ShareMetric::Forwards, forwards),
                    &day,
                    now,
                )
                .await?;
            }
        }
        finish(tx, idem, encode(&s)).await?;
        Ok(Outcome::Fresh(s))
    }

    /// A viewer opens a share: counted once per share and viewer, never
    /// for the sharer; a new viewer of the fan may cross a tier.
    #[tracing::instrument(skip_all)]
    #[allow(clippy::too_many_arguments)]
    pub async fn open_share(
        &self,
        merchant_id: &str,
        viewer_id: &str,
        token: Uuid,
        channel: Option<&str>,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&(String, bool)) -> Vec<u8>,
    ) -> Result<Outcome<(String, bool)>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let s = own_share(&mut tx, merchant_id, &token.to_string()).await?;
        let zone =
            running_campaign(&mut tx, merchant_id, &s.campaign_id, Activity::Share, now).await?;
        let day = campaign_day(now, &zone).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut counted = false;
        if s.sharer_id != viewer_id {
            counted = tx
                .execute(
                    "INSERT INTO share_view (token, viewer_id, channel, day, viewed_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token, viewer_id) DO NOTHING",
                    args![&s.token, viewer_id, channel, &day, now],
                )
                .await?
                == 1;
            if counted {
                super::stats::note_activity(&mut tx, &s.campaign_id, viewer_id, &day, channel, now)
                    .await?;
                let new_viewer = tx
                    .execute(
                        "INSERT INTO fan_viewer (campaign_id, sharer_id, viewer_id) \
                         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                        args![&s.campaign_id, &s.sharer_id, viewer_id],
                    )
                    .await?
                    == 1;
                if new_viewer {
                    let (_, viewers, _) =
                        bump_fan(&mut tx, &s.campaign_id, &s.sharer_id, (0, 1, 0)).await?;
                    grant_tiers(
                        &mut tx,
                        merchant_id,
                        &s.campaign_id,
                        &s.sharer_id,
                        (ShareMetric::Viewers, viewers),
                        &day,
                        now,
                    )
                    .await?;
                }
            }
        }
        let out = (s.campaign_id, counted);
        finish(tx, idem, encode(&out)).await?;
        Ok(Outcome::Fresh(out))
    }

    pub async fn fan_stats(
        &self,
        merchant_id: &str,
        player_id: &str,
        campaign_id: Uuid,
    ) -> Result<FanStatsRecord, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_read().await?;
        let owner = fetch_one(
            &mut tx,
            "campaign",
            "SELECT merchant_id FROM campaign WHERE campaign_id = $1",
            args![&campaign],
        )
        .await?;
        if owner.text(0)? != merchant_id {
            return Err(StoreError::NotFound("campaign"));
        }
        let counts = tx
            .fetch_optional(
                "SELECT shares, viewers, forwards FROM fan_stats \
                 WHERE campaign_id = $1 AND player_id = $2",
                args![&campaign, player_id],
            )
            .await?;
        let (shares, viewers, forwards) = match counts {
            Some(r) => (r.int(0)?, r.int(1)?, r.int(2)?),
            None => (0, 0, 0),
        };
        let tiers = tx
            .fetch_all(
                "SELECT tier_index FROM prize_award WHERE campaign_id = $1 AND player_id = $2 \
                 AND tier_index IS NOT NULL ORDER BY tier_index",
                args![&campaign, player_id],
            )
            .await?
            .iter()
            .map(|r| r.int(0))
            .collect::<Result<_, _>>()?;
        Ok(FanStatsRecord {
            shares,
            viewers,
            forwards,
            tiers_granted: tiers,
        })
    }

    /// A share and everything shared onward from it, in depth order.
    pub async fn share_chain(
        &self,
        merchant_id: &str,
        token: Uuid,
    ) -> Result<Vec<ShareRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let root = fetch_one(&mut tx, "share", SELECT_SHARE, args![token.to_string()]).await?;
        if root.text(7)? != merchant_id {
            return Err(StoreError::OtherMerchant("share"));
        }
        let rows = tx
            .fetch_all(
                "WITH RECURSIVE chain (token) AS ( \
                   SELECT token FROM share WHERE token = $1 \
                   UNION ALL SELECT s.token FROM share s JOIN chain c ON s.parent_token = c.token \
                 ) SELECT s.token, s.campaign_id, s.sharer_id, s.parent_token, s.root_sharer_id, \
                   s.depth, s.created_at, \
                   (SELECT COUNT(*) FROM share_view v WHERE v.token = s.token), \
                   (SELECT COUNT(*) FROM share_forward f WHERE f.parent_token = s.token) \
                 FROM share s JOIN chain c ON c.token = s.token \
                 ORDER BY s.depth, s.created_at, s.token LIMIT 10000",
                args![token.to_string()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let mut s = share_from_row(r)?;
                s.views = r.int(7)?;
                s.forwards = r.int(8)?;
                Ok(s)
            })
            .collect()
    }
}
