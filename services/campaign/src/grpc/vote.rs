//! VoteAdminService (admin; ListVotes also auditor) and VoteService
//! (players; GetLeaderboard also admin and auditor).

use std::sync::Arc;

use engine_proto::campaign::v1::{
    self as pb, vote_admin_service_server::VoteAdminService, vote_service_server::VoteService,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    auth::Principal,
    convert::{idempotency, uuid_field},
    error::invalid,
    respond, traced,
};
use crate::{
    domain::{
        InvalidField,
        list::{CANDIDATE_PAGES, VOTE_PAGES, VoteCursor, VoteFilter},
        vote::{VoteRules, candidate_text},
    },
    store::{
        db::Db,
        vote::{CandidateRecord, CandidateStatus, VoteRecord},
    },
};

pub struct VoteAdminApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> VoteAdminApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

pub struct VoteApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> VoteApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn rules_to_proto(campaign: &str, r: &VoteRules) -> pb::VoteRules {
    pb::VoteRules {
        campaign_id: campaign.to_owned(),
        votes_per_day: r.per_day,
        votes_per_candidate_per_day: r.per_candidate_per_day,
        votes_total: r.total,
        player_registration: r.player_registration,
    }
}

fn candidate_to_proto(c: &CandidateRecord) -> pb::Candidate {
    pb::Candidate {
        candidate_id: c.candidate_id.clone(),
        campaign_id: c.campaign_id.clone(),
        name: c.name.clone(),
        description: c.description.clone(),
        status: match c.status {
            CandidateStatus::Pending => pb::CandidateStatus::Pending,
            CandidateStatus::Approved => pb::CandidateStatus::Approved,
            CandidateStatus::Rejected => pb::CandidateStatus::Rejected,
        }
        .into(),
        votes: c.votes,
        created_at_ms: c.created_at,
    }
}

fn vote_to_proto(v: &VoteRecord, with_player: bool) -> pb::VoteRecord {
    pb::VoteRecord {
        vote_id: v.vote_id.clone(),
        campaign_id: v.campaign_id.clone(),
        candidate_id: v.candidate_id.clone(),
        day: v.day.clone(),
        status: if v.accepted {
            pb::VoteStatus::Accepted
        } else {
            pb::VoteStatus::Invalidated
        }
        .into(),
        cast_at_ms: v.cast_at,
        remaining_today: v.remaining_today,
        remaining_total: v.remaining_total,
        invalidation_reason: v.invalidation_reason.clone().unwrap_or_default(),
        player_id: if with_player {
            v.player_id.clone()
        } else {
            String::new()
        },
    }
}

/// An optional channel tag: at most 64 bytes, empty means none.
pub fn channel_tag(s: &str) -> Result<Option<String>, Status> {
    let c = s.trim();
    if c.len() > 64 {
        return Err(invalid(InvalidField::new("channel", "at most 64 bytes")));
    }
    Ok(Some(c.to_owned()).filter(|c| !c.is_empty()))
}

#[tonic::async_trait]
impl<D: Db> VoteAdminService for VoteAdminApi<D> {
    #[tracing::instrument(name = "SetVoteRules", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn set_vote_rules(
        &self,
        request: Request<pb::SetVoteRulesRequest>,
    ) -> Result<Response<pb::VoteRules>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "SetVoteRules", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let rules = VoteRules::validate(
                    req.votes_per_day,
                    req.votes_per_candidate_per_day,
                    req.votes_total,
                    req.player_registration,
                )
                .map_err(invalid)?;
                let campaign = id.to_string();
                let out = s
                    .store
                    .set_vote_rules(merchant, id, rules, &idem, s.clock.now_ms(), |r| {
                        rules_to_proto(&campaign, r).encode_to_vec()
                    })
                    .await?;
                respond(out, |r| rules_to_proto(&campaign, r))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "AddCandidate", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn add_candidate(
        &self,
        request: Request<pb::AddCandidateRequest>,
    ) -> Result<Response<pb::Candidate>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "AddCandidate", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let (name, description) =
                    candidate_text(&req.name, &req.description).map_err(invalid)?;
                let out = s
                    .store
                    .add_candidate(
                        merchant,
                        id,
                        None,
                        &name,
                        &description,
                        &idem,
                        s.clock.now_ms(),
                        |c| candidate_to_proto(c).encode_to_vec(),
                    )
                    .await?;
                respond(out, candidate_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ReviewCandidate", skip_all, fields(outcome, candidate.id = %request.get_ref().candidate_id))]
    async fn review_candidate(
        &self,
        request: Request<pb::ReviewCandidateRequest>,
    ) -> Result<Response<pb::Candidate>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "ReviewCandidate", req)?;
                let id = uuid_field("candidate_id", &req.candidate_id)?;
                let out = s
                    .store
                    .review_candidate(merchant, id, req.approve, &idem, s.clock.now_ms(), |c| {
                        candidate_to_proto(c).encode_to_vec()
                    })
                    .await?;
                respond(out, candidate_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "InvalidateVote", skip_all, fields(outcome, vote.id = %request.get_ref().vote_id))]
    async fn invalidate_vote(
        &self,
        request: Request<pb::InvalidateVoteRequest>,
    ) -> Result<Response<pb::VoteRecord>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "InvalidateVote", req)?;
                let id = uuid_field("vote_id", &req.vote_id)?;
                let reason = req.reason.trim();
                if reason.is_empty() || reason.chars().count() > 200 {
                    return Err(invalid(InvalidField::new("reason", "1..=200 characters")));
                }
                let out = s
                    .store
                    .invalidate_vote(merchant, id, reason, &idem, s.clock.now_ms(), |v| {
                        vote_to_proto(v, true).encode_to_vec()
                    })
                    .await?;
                respond(out, |v| vote_to_proto(v, true))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListCandidates", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_candidates(
        &self,
        request: Request<pb::ListCandidatesRequest>,
    ) -> Result<Response<pb::ListCandidatesResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let size = CANDIDATE_PAGES.size(req.page_size).map_err(invalid)?;
                let status = match pb::CandidateStatus::try_from(req.status) {
                    Ok(pb::CandidateStatus::Unspecified) => None,
                    Ok(pb::CandidateStatus::Pending) => Some(CandidateStatus::Pending),
                    Ok(pb::CandidateStatus::Approved) => Some(CandidateStatus::Approved),
                    Ok(pb::CandidateStatus::Rejected) => Some(CandidateStatus::Rejected),
                    Err(_) => {
                        return Err(invalid(InvalidField::new(
                            "status",
                            "PENDING, APPROVED, REJECTED or UNSPECIFIED (any)",
                        )));
                    }
                };
                let tokens = s.store.page_tokens();
                let scope =
                    serde_json::json!([merchant, id.to_string(), status.map(|k| k.as_str())])
                        .to_string();
                let after: Option<String> = tokens
                    .open("candidates", &scope, &req.page_token)
                    .map_err(invalid)?;
                let (candidates, more) = s
                    .store
                    .list_candidates(merchant, id, status, after.as_deref(), size)
                    .await?;
                let next_page_token = match candidates.last() {
                    Some(last) if more => tokens.seal("candidates", &scope, &last.candidate_id),
                    _ => String::new(),
                };
                Ok(Response::new(pb::ListCandidatesResponse {
                    candidates: candidates.iter().map(candidate_to_proto).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListVotes", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_votes(
        &self,
        request: Request<pb::ListVotesRequest>,
    ) -> Result<Response<pb::ListVotesResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let candidate = match req.candidate_id.trim() {
                    "" => None,
                    c => Some(uuid_field("candidate_id", c)?.to_string()),
                };
                let size = VOTE_PAGES.size(req.page_size).map_err(invalid)?;
                let status = match pb::VoteStatus::try_from(req.status) {
                    Ok(pb::VoteStatus::Unspecified) => None,
                    Ok(pb::VoteStatus::Accepted) => Some("accepted"),
                    Ok(pb::VoteStatus::Invalidated) => Some("invalidated"),
                    Err(_) => {
                        return Err(invalid(InvalidField::new(
                            "status",
                            "ACCEPTED, INVALIDATED or UNSPECIFIED (any)",
                        )));
                    }
                };
                let filter =
                    VoteFilter::new(candidate, req.day.clone(), status).map_err(invalid)?;
                let tokens = s.store.page_tokens();
                let scope = filter.scope(merchant, &id.to_string());
                let after: Option<VoteCursor> = tokens
                    .open("votes", &scope, &req.page_token)
                    .map_err(invalid)?;
                let (votes, more) = s
                    .store
                    .list_votes(merchant, id, &filter, after.as_ref(), size)
                    .await?;
                let next_page_token = match votes.last() {
                    Some(last) if more => tokens.seal(
                        "votes",
                        &scope,
                        &VoteCursor {
                            vote_id: last.vote_id.clone(),
                        },
                    ),
                    _ => String::new(),
                };
                Ok(Response::new(pb::ListVotesResponse {
                    votes: votes.iter().map(|v| vote_to_proto(v, true)).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }
}

#[tonic::async_trait]
impl<D: Db> VoteService for VoteApi<D> {
    #[tracing::instrument(name = "RegisterCandidate", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn register_candidate(
        &self,
        request: Request<pb::RegisterCandidateRequest>,
    ) -> Result<Response<pb::Candidate>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "RegisterCandidate", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let (name, description) =
                    candidate_text(&req.name, &req.description).map_err(invalid)?;
                let out = s
                    .store
                    .add_candidate(
                        merchant,
                        id,
                        Some(player),
                        &name,
                        &description,
                        &idem,
                        s.clock.now_ms(),
                        |c| candidate_to_proto(c).encode_to_vec(),
                    )
                    .await?;
                respond(out, candidate_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "CastVote", skip_all, fields(outcome, candidate.id = %request.get_ref().candidate_id))]
    async fn cast_vote(
        &self,
        request: Request<pb::CastVoteRequest>,
    ) -> Result<Response<pb::VoteRecord>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "CastVote", req)?;
                let id = uuid_field("candidate_id", &req.candidate_id)?;
                let channel = channel_tag(&req.channel)?;
                let out = s
                    .store
                    .cast_vote(
                        merchant,
                        player,
                        id,
                        channel.as_deref(),
                        &idem,
                        s.clock.now_ms(),
                        |v| vote_to_proto(v, false).encode_to_vec(),
                    )
                    .await?;
                respond(out, |v| vote_to_proto(v, false))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetLeaderboard", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_leaderboard(
        &self,
        request: Request<pb::GetLeaderboardRequest>,
    ) -> Result<Response<pb::Leaderboard>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, as_player) = match &who {
                    Principal::Player { merchant_id, .. } => {
                        s.player_limit.check(&who.scope())?;
                        (merchant_id.as_str(), true)
                    }
                    _ => (who.admin_or_auditor()?, false),
                };
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let board = s.store.leaderboard(merchant, id, as_player).await?;
                Ok(Response::new(pb::Leaderboard {
                    campaign_id: id.to_string(),
                    candidates: board.iter().map(candidate_to_proto).collect(),
                }))
            }
            .await,
        )
    }
}
