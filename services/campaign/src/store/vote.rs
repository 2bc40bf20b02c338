//! Voting: rules, candidates, votes and the leaderboard.
//!
//! A vote is one transaction: the caps as guarded upserts on `vote_quota`
//! (`used < $cap`), the candidate's counter `votes = votes + 1` (only for an
//! approved candidate), the vote row, the stored answer. Invalidation flips
//! `accepted -> invalidated` (guarded) and decrements the counter in the
//! same transaction, with an audit entry. So `candidate.votes` always
//! equals the candidate's accepted votes.

use platform::domain::events::{EventDraft, EventType, VoteCast};
use serde_json::json;
use uuid::Uuid;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    finish,
    list::Page,
    new_id,
    wheel::own_campaign,
};
use crate::domain::{
    Millis, Rejection,
    activity::Activity,
    idempotency::Idempotency,
    list::{VoteCursor, VoteFilter},
    vote::{VoteCap, VoteRules},
    wheel::{CampaignStatus, campaign_day},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateStatus {
    Pending,
    Approved,
    Rejected,
}

impl CandidateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(Self::Pending),
            "approved" => Ok(Self::Approved),
            "rejected" => Ok(Self::Rejected),
            other => Err(StoreError::Corrupt(format!("candidate status {other}"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateRecord {
    pub candidate_id: String,
    pub campaign_id: String,
    pub name: String,
    pub description: String,
    pub status: CandidateStatus,
    pub votes: i64,
    pub created_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteRecord {
    pub vote_id: String,
    pub campaign_id: String,
    pub candidate_id: String,
    pub player_id: String,
    pub day: String,
    pub accepted: bool,
    pub cast_at: Millis,
    pub remaining_today: i64,
    pub remaining_total: i64,
    pub invalidation_reason: Option<String>,
}

const SELECT_CANDIDATE: &str = "SELECT k.candidate_id, k.campaign_id, k.name, k.description, \
     k.status, k.votes, k.created_at, c.merchant_id FROM candidate k \
     JOIN campaign c ON c.campaign_id = k.campaign_id WHERE k.candidate_id = $1";

fn candidate_from_row(r: &impl DbRow) -> Result<CandidateRecord, StoreError> {
    Ok(CandidateRecord {
        candidate_id: r.text(0)?,
        campaign_id: r.text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        status: CandidateStatus::parse(&r.text(4)?)?,
        votes: r.int(5)?,
        created_at: r.int(6)?,
    })
}

/// The candidate, if it belongs to this merchant (another merchant's is
/// `other`: NotFound for players, PermissionDenied for admins).
async fn own_candidate<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    candidate_id: &str,
    other: StoreError,
) -> Result<CandidateRecord, StoreError> {
    let r = fetch_one(tx, "candidate", SELECT_CANDIDATE, args![candidate_id]).await?;
    if r.text(7)? != merchant_id {
        return Err(other);
    }
    candidate_from_row(&r)
}

async fn rules_of<T: DbTx>(tx: &mut T, campaign: &str) -> Result<VoteRules, StoreError> {
    let r = tx
        .fetch_optional(
            "SELECT votes_per_day, votes_per_candidate_per_day, votes_total, \
             player_registration FROM vote_rules WHERE campaign_id = $1",
            args![campaign],
        )
        .await?
        .ok_or(Rejection::VotingNotSetUp)?;
    Ok(VoteRules {
        per_day: r.int(0)?,
        per_candidate_per_day: r.int(1)?,
        total: r.int(2)?,
        player_registration: r.int(3)? == 1,
    })
}

/// Takes one unit of a cap, or None when it is used up.
async fn take_quota<T: DbTx>(
    tx: &mut T,
    campaign: &str,
    player: &str,
    scope: &str,
    cap: i64,
) -> Result<Option<i64>, StoreError> {
    tx.fetch_optional(
        "INSERT INTO vote_quota (campaign_id, player_id, scope, used) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (campaign_id, player_id, scope) DO UPDATE SET used = vote_quota.used + 1 \
         WHERE vote_quota.used < $4 RETURNING used",
        args![campaign, player, scope, cap],
    )
    .await?
    .map(|r| r.int(0))
    .transpose()
}

fn vote_from_row(r: &impl DbRow) -> Result<VoteRecord, StoreError> {
    Ok(VoteRecord {
        vote_id: r.text(0)?,
        campaign_id: r.text(1)?,
        candidate_id: r.text(2)?,
        player_id: r.text(3)?,
        day: r.text(4)?,
        accepted: r.text(5)? == "accepted",
        cast_at: r.int(6)?,
        remaining_today: 0,
        remaining_total: 0,
        invalidation_reason: r.opt_text(7)?,
    })
}

/// One page of a campaign's votes, newest first by vote id (one vote more
/// than asked). `$1` the campaign, `$2` the day and `$3` the state (empty:
/// any), `$4` the cursor, exclusive (empty on the first page), `$5` the
/// votes to read; with `$6` only that candidate's. Two texts rather than a
/// `$6 = '' OR` term, so that the candidate's equality reaches the
/// planner: a candidate's page is a range of `vote_campaign_candidate`
/// (migration 0028) in vote id order, where the `OR` form had SQLite walk
/// all the campaign's votes in `vote_by_campaign` to find the candidate's.
macro_rules! votes_page_sql {
    ($candidate:literal) => {
        concat!(
            "SELECT v.vote_id, v.campaign_id, v.candidate_id, v.player_id, v.day, \
             v.status, v.cast_at, v.invalidation_reason FROM vote v \
             WHERE v.campaign_id = $1 ",
            $candidate,
            " AND ($2 = '' OR v.day = $2) AND ($3 = '' OR v.status = $3) \
             AND ($4 = '' OR v.vote_id < $4) \
             ORDER BY v.vote_id DESC LIMIT $5"
        )
    };
}
const VOTES_PAGE: &str = votes_page_sql!("");
const CANDIDATE_VOTES_PAGE: &str = votes_page_sql!("AND v.candidate_id = $6");

impl<D: Db> Store<D> {
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    pub async fn set_vote_rules(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        rules: VoteRules,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&VoteRules) -> Vec<u8>,
    ) -> Result<Outcome<VoteRules>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        own_campaign(&mut tx, merchant_id, campaign_id, now)
            .await?
            .require(Activity::Vote)?;
        let before = rules_of(&mut tx, &campaign).await.ok();
        tx.execute(
            "INSERT INTO vote_rules (campaign_id, votes_per_day, votes_per_candidate_per_day, \
             votes_total, player_registration, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (campaign_id) DO UPDATE SET votes_per_day = $2, \
             votes_per_candidate_per_day = $3, votes_total = $4, player_registration = $5, \
             updated_at = $6",
            args![
                &campaign,
                rules.per_day,
                rules.per_candidate_per_day,
                rules.total,
                i64::from(rules.player_registration),
                now
            ],
        )
        .await?;
        let as_json = |r: &VoteRules| {
            json!({"votes_per_day": r.per_day, "votes_per_candidate_per_day": r.per_candidate_per_day,
                   "votes_total": r.total, "player_registration": r.player_registration})
        };
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "vote.rules",
            Some(campaign_id),
            json!({"before": before.as_ref().map(as_json), "after": as_json(&rules)}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&rules)).await?;
        Ok(Outcome::Fresh(rules))
    }

    /// A candidate added by an admin (approved) or registered by a player
    /// (pending, if the rules allow it).
    #[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn add_candidate(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        by_player: Option<&str>,
        name: &str,
        description: &str,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&CandidateRecord) -> Vec<u8>,
    ) -> Result<Outcome<CandidateRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let status = match by_player {
            Some(_) => {
                super::share::running_campaign(
                    &mut tx,
                    merchant_id,
                    &campaign,
                    Activity::Vote,
                    now,
                )
                .await?;
                if !rules_of(&mut tx, &campaign).await?.player_registration {
                    return Err(Rejection::RegistrationClosed.into());
                }
                CandidateStatus::Pending
            }
            None => {
                own_campaign(&mut tx, merchant_id, campaign_id, now)
                    .await?
                    .require(Activity::Vote)?;
                CandidateStatus::Approved
            }
        };
        let c = CandidateRecord {
            candidate_id: new_id(),
            campaign_id: campaign.clone(),
            name: name.to_owned(),
            description: description.to_owned(),
            status,
            votes: 0,
            created_at: now,
        };
        let added = tx
            .execute(
                "INSERT INTO candidate (candidate_id, campaign_id, name, description, status, \
                 registered_by, votes, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7) \
                 ON CONFLICT (campaign_id, name) DO NOTHING",
                args![
                    &c.candidate_id,
                    &campaign,
                    name,
                    description,
                    status.as_str(),
                    by_player.map_or("admin".to_owned(), |p| format!("player:{p}")),
                    now
                ],
            )
            .await?;
        if added == 0 {
            return Err(Rejection::CandidateExists.into());
        }
        if by_player.is_none() {
            append_audit(
                &mut tx,
                merchant_id,
                &idem.scope,
                "vote.candidate.add",
                Some(campaign_id),
                json!({"candidate_id": c.candidate_id, "name": name}),
                now,
            )
            .await?;
        }
        finish(tx, idem, encode(&c)).await?;
        Ok(Outcome::Fresh(c))
    }

    /// PENDING -> APPROVED or REJECTED, audited.
    #[tracing::instrument(skip_all, fields(candidate.id = %candidate_id))]
    pub async fn review_candidate(
        &self,
        merchant_id: &str,
        candidate_id: Uuid,
        approve: bool,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&CandidateRecord) -> Vec<u8>,
    ) -> Result<Outcome<CandidateRecord>, StoreError> {
        let id = candidate_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let mut c = own_candidate(
            &mut tx,
            merchant_id,
            &id,
            StoreError::OtherMerchant("candidate"),
        )
        .await?;
        let next = if approve {
            CandidateStatus::Approved
        } else {
            CandidateStatus::Rejected
        };
        let changed = tx
            .execute(
                "UPDATE candidate SET status = $2, reviewed_at = $3 \
                 WHERE candidate_id = $1 AND status = 'pending'",
                args![&id, next.as_str(), now],
            )
            .await?;
        if changed == 0 {
            return Err(Rejection::NotPending(c.status.as_str()).into());
        }
        c.status = next;
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "vote.candidate.review",
            Some(super::parse_uuid(&c.campaign_id)?),
            json!({"candidate_id": id, "name": c.name, "status": next.as_str()}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&c)).await?;
        Ok(Outcome::Fresh(c))
    }

    /// One vote, exactly once, within every cap.
    #[tracing::instrument(skip_all, fields(candidate.id = %candidate_id))]
    #[allow(clippy::too_many_arguments)]
    pub async fn cast_vote(
        &self,
        merchant_id: &str,
        player_id: &str,
        candidate_id: Uuid,
        channel: Option<&str>,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&VoteRecord) -> Vec<u8>,
    ) -> Result<Outcome<VoteRecord>, StoreError> {
        let id = candidate_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let c = own_candidate(&mut tx, merchant_id, &id, StoreError::NotFound("candidate")).await?;
        let zone = super::share::running_campaign(
            &mut tx,
            merchant_id,
            &c.campaign_id,
            Activity::Vote,
            now,
        )
        .await?;
        if c.status != CandidateStatus::Approved {
            // Pending and rejected candidates are not on the ballot.
            return Err(StoreError::NotFound("candidate"));
        }
        let rules = rules_of(&mut tx, &c.campaign_id).await?;
        let day = campaign_day(now, &zone).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let refuse = |cap: VoteCap| StoreError::from(Rejection::VoteCap(cap.describe()));
        let total = take_quota(&mut tx, &c.campaign_id, player_id, "total", rules.total)
            .await?
            .ok_or_else(|| refuse(VoteCap::Total))?;
        let today = take_quota(
            &mut tx,
            &c.campaign_id,
            player_id,
            &format!("day:{day}"),
            rules.per_day,
        )
        .await?
        .ok_or_else(|| refuse(VoteCap::Day))?;
        take_quota(
            &mut tx,
            &c.campaign_id,
            player_id,
            &format!("candidate:{id}:{day}"),
            rules.per_candidate_per_day,
        )
        .await?
        .ok_or_else(|| refuse(VoteCap::CandidateDay))?;
        // The leaderboard counter, last: the contended row is held the
        // shortest time.
        let counted = tx
            .execute(
                "UPDATE candidate SET votes = votes + 1 \
                 WHERE candidate_id = $1 AND status = 'approved'",
                args![&id],
            )
            .await?;
        if counted != 1 {
            return Err(StoreError::NotFound("candidate"));
        }
        let v = VoteRecord {
            vote_id: new_id(),
            campaign_id: c.campaign_id.clone(),
            candidate_id: id.clone(),
            player_id: player_id.to_owned(),
            day: day.clone(),
            accepted: true,
            cast_at: now,
            remaining_today: rules.per_day - today,
            remaining_total: rules.total - total,
            invalidation_reason: None,
        };
        tx.execute(
            "INSERT INTO vote (vote_id, campaign_id, candidate_id, player_id, day, channel, status, \
             cast_at) VALUES ($1, $2, $3, $4, $5, $6, 'accepted', $7)",
            args![
                &v.vote_id,
                &c.campaign_id,
                &id,
                player_id,
                &day,
                channel,
                now
            ],
        )
        .await?;
        super::chance::grant_chances(
            &mut tx,
            &c.campaign_id,
            player_id,
            &day,
            super::chance::ChanceSource::Vote,
        )
        .await?;
        super::stats::note_activity(&mut tx, &c.campaign_id, player_id, &day, channel, now).await?;
        let cast = VoteCast {
            vote_id: v.vote_id.clone(),
            candidate_id: id.clone(),
        };
        let event = EventDraft::new(
            EventType::VoteCast,
            merchant_id,
            &c.campaign_id,
            player_id,
            now,
            &cast,
        );
        platform::store::events::append(&mut tx, &event).await?;
        finish(tx, idem, encode(&v)).await?;
        Ok(Outcome::Fresh(v))
    }

    /// ACCEPTED -> INVALIDATED, the counter follows, audited.
    #[tracing::instrument(skip_all, fields(vote.id = %vote_id))]
    pub async fn invalidate_vote(
        &self,
        merchant_id: &str,
        vote_id: Uuid,
        reason: &str,
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&VoteRecord) -> Vec<u8>,
    ) -> Result<Outcome<VoteRecord>, StoreError> {
        let id = vote_id.to_string();
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let r = tx
            .fetch_optional(
                "SELECT v.vote_id, v.campaign_id, v.candidate_id, v.player_id, v.day, v.status, \
                 v.cast_at, v.invalidation_reason, c.merchant_id FROM vote v \
                 JOIN campaign c ON c.campaign_id = v.campaign_id WHERE v.vote_id = $1",
                args![&id],
            )
            .await?
            .ok_or(StoreError::NotFound("vote"))?;
        if r.text(8)? != merchant_id {
            return Err(StoreError::OtherMerchant("vote"));
        }
        let mut v = vote_from_row(&r)?;
        let flipped = tx
            .execute(
                "UPDATE vote SET status = 'invalidated', invalidated_at = $2, \
                 invalidation_reason = $3 WHERE vote_id = $1 AND status = 'accepted'",
                args![&id, now, reason],
            )
            .await?;
        if flipped == 0 {
            return Err(Rejection::VoteNotAccepted.into());
        }
        let counted = tx
            .execute(
                "UPDATE candidate SET votes = votes - 1 WHERE candidate_id = $1 AND votes > 0",
                args![&v.candidate_id],
            )
            .await?;
        if counted != 1 {
            return Err(StoreError::Corrupt(format!(
                "candidate {} has no vote to take back",
                v.candidate_id
            )));
        }
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "vote.invalidate",
            Some(super::parse_uuid(&v.campaign_id)?),
            json!({"vote_id": id, "candidate_id": v.candidate_id, "reason": reason}),
            now,
        )
        .await?;
        v.accepted = false;
        v.invalidation_reason = Some(reason.to_owned());
        finish(tx, idem, encode(&v)).await?;
        Ok(Outcome::Fresh(v))
    }

    /// Approved candidates, most votes first.
    pub async fn leaderboard(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        as_player: bool,
    ) -> Result<Vec<CandidateRecord>, StoreError> {
        let campaign = campaign_id.to_string();
        let mut tx = self.db.begin_read().await?;
        let owner = fetch_one(
            &mut tx,
            "campaign",
            "SELECT merchant_id, status FROM campaign WHERE campaign_id = $1",
            args![&campaign],
        )
        .await?;
        if owner.text(0)? != merchant_id {
            return Err(if as_player {
                StoreError::NotFound("campaign")
            } else {
                StoreError::OtherMerchant("campaign")
            });
        }
        if as_player && owner.text(1)? == CampaignStatus::Draft.as_str() {
            return Err(Rejection::DraftNotOpen.into());
        }
        super::activity::require_activity(&mut tx, &campaign, Activity::Vote).await?;
        let rows = tx
            .fetch_all(
                "SELECT k.candidate_id, k.campaign_id, k.name, k.description, k.status, k.votes, \
                 k.created_at FROM candidate k WHERE k.campaign_id = $1 AND k.status = 'approved' \
                 ORDER BY k.votes DESC, k.created_at, k.candidate_id LIMIT 500",
                args![&campaign],
            )
            .await?;
        rows.iter().map(candidate_from_row).collect()
    }

    /// A page of the campaign's votes matching `filter`, newest first by
    /// vote id (a UUIDv7), after `after` when continuing.
    pub async fn list_votes(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        filter: &VoteFilter,
        after: Option<&VoteCursor>,
        size: u32,
    ) -> Result<Page<VoteRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign_id, 0)
            .await?
            .require(Activity::Vote)?;
        let (id, day, status, cursor, limit) = (
            campaign_id.to_string(),
            filter.day.as_str(),
            filter.status.unwrap_or_default(),
            after.map(|c| c.vote_id.clone()).unwrap_or_default(),
            i64::from(size) + 1,
        );
        let rows = match filter.candidate.as_deref() {
            None | Some("") => {
                tx.fetch_all(VOTES_PAGE, args![id, day, status, cursor, limit])
                    .await?
            }
            Some(candidate) => {
                tx.fetch_all(
                    CANDIDATE_VOTES_PAGE,
                    args![id, day, status, cursor, limit, candidate],
                )
                .await?
            }
        };
        let more = rows.len() > size as usize;
        let votes = rows
            .iter()
            .take(size as usize)
            .map(vote_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((votes, more))
    }

    /// A page of the campaign's candidates (one state, or any), in
    /// registration order by candidate id (a UUIDv7), after `after`.
    pub async fn list_candidates(
        &self,
        merchant_id: &str,
        campaign_id: Uuid,
        status: Option<CandidateStatus>,
        after: Option<&str>,
        size: u32,
    ) -> Result<Page<CandidateRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_campaign(&mut tx, merchant_id, campaign_id, 0)
            .await?
            .require(Activity::Vote)?;
        let rows = tx
            .fetch_all(
                "SELECT k.candidate_id, k.campaign_id, k.name, k.description, k.status, \
                 k.votes, k.created_at FROM candidate k \
                 WHERE k.campaign_id = $1 AND ($2 = '' OR k.status = $2) \
                 AND k.candidate_id > $3 ORDER BY k.candidate_id LIMIT $4",
                args![
                    campaign_id.to_string(),
                    status.map(CandidateStatus::as_str).unwrap_or_default(),
                    after.unwrap_or_default(),
                    i64::from(size) + 1
                ],
            )
            .await?;
        let more = rows.len() > size as usize;
        let candidates = rows
            .iter()
            .take(size as usize)
            .map(candidate_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((candidates, more))
    }
}
