//! ShareAdminService (admin; reads also auditor) and ShareService
//! (players): Forward-to-Moments tokens, views, forwards and tiers.

use std::sync::Arc;

use engine_proto::campaign::v1::{
    self as pb, share_admin_service_server::ShareAdminService, share_service_server::ShareService,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{idempotency, slot_from_proto, slot_spec_to_proto, uuid_field},
    error::invalid,
    respond, traced,
    vote::channel_tag,
};
use crate::{
    domain::{InvalidField, wheel::PrizeKind},
    store::{
        chance::ChanceRules,
        db::Db,
        share::{FanStatsRecord, ShareMetric, ShareRecord, ShareRulesRecord, TierSpec},
    },
};

pub const MAX_TIERS: usize = 10;
pub const MAX_THRESHOLD: i64 = 1_000_000;

pub struct ShareAdminApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> ShareAdminApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

pub struct ShareApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> ShareApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn metric_to_proto(m: ShareMetric) -> pb::ShareMetric {
    match m {
        ShareMetric::Shares => pb::ShareMetric::Shares,
        ShareMetric::Viewers => pb::ShareMetric::Viewers,
        ShareMetric::Forwards => pb::ShareMetric::Forwards,
    }
}

fn tier_from_proto(t: &pb::ShareTier) -> Result<TierSpec, Status> {
    let metric = match pb::ShareMetric::try_from(t.metric) {
        Ok(pb::ShareMetric::Shares) => ShareMetric::Shares,
        Ok(pb::ShareMetric::Viewers) => ShareMetric::Viewers,
        Ok(pb::ShareMetric::Forwards) => ShareMetric::Forwards,
        _ => {
            return Err(invalid(InvalidField::new(
                "tiers.metric",
                "SHARES, VIEWERS or FORWARDS",
            )));
        }
    };
    if !(1..=MAX_THRESHOLD).contains(&t.threshold) {
        return Err(invalid(InvalidField::new(
            "tiers.threshold",
            format!("must be 1..={MAX_THRESHOLD}"),
        )));
    }
    let prize = slot_from_proto(t.prize.clone()).map_err(|s| {
        // Name the field inside the tier.
        Status::invalid_argument(format!(
            "tiers.prize.{}",
            s.message().trim_start_matches("slot.")
        ))
    })?;
    if prize.kind == PrizeKind::Thanks {
        return Err(invalid(InvalidField::new(
            "tiers.prize.kind",
            "a tier prize cannot be THANKS",
        )));
    }
    if prize.weight != 0 || prize.daily_cap.is_some() || prize.per_user_cap.is_some() {
        return Err(invalid(InvalidField::new(
            "tiers.prize.weight",
            "tiers have no odds or caps: weight, daily_cap and per_user_cap must be 0",
        )));
    }
    Ok(TierSpec {
        metric,
        threshold: t.threshold,
        prize,
    })
}

fn rules_to_proto(campaign: &str, r: &ShareRulesRecord) -> pb::ShareRules {
    pb::ShareRules {
        campaign_id: campaign.to_owned(),
        enabled: r.enabled,
        tiers: r
            .tiers
            .iter()
            .map(|(t, left)| pb::ShareTier {
                metric: metric_to_proto(t.metric).into(),
                threshold: t.threshold,
                prize: Some(slot_spec_to_proto(&t.prize)),
                remaining: *left,
            })
            .collect(),
    }
}

fn share_to_proto(s: &ShareRecord) -> pb::Share {
    pb::Share {
        token: s.token.clone(),
        campaign_id: s.campaign_id.clone(),
        parent_token: s.parent_token.clone().unwrap_or_default(),
        depth: s.depth.max(0) as u32,
        created_at_ms: s.created_at,
    }
}

/// A share with its numbers, as GetShareChain and ListShareChains give it.
pub(super) fn link_to_proto(l: &ShareRecord) -> pb::ChainLink {
    pb::ChainLink {
        token: l.token.clone(),
        parent_token: l.parent_token.clone().unwrap_or_default(),
        sharer_id: l.sharer_id.clone(),
        root_sharer_id: l.root_sharer_id.clone(),
        depth: l.depth.max(0) as u32,
        views: l.views,
        created_at_ms: l.created_at,
        forwards: l.forwards,
    }
}

fn stats_to_proto(campaign: &str, f: &FanStatsRecord) -> pb::FanStats {
    pb::FanStats {
        campaign_id: campaign.to_owned(),
        shares: f.shares,
        viewers: f.viewers,
        forwards: f.forwards,
        tiers_granted: f.tiers_granted.iter().map(|t| (*t).max(0) as u32).collect(),
    }
}

#[tonic::async_trait]
impl<D: Db> ShareAdminService for ShareAdminApi<D> {
    #[tracing::instrument(name = "SetShareRules", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn set_share_rules(
        &self,
        request: Request<pb::SetShareRulesRequest>,
    ) -> Result<Response<pb::ShareRules>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "SetShareRules", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                if req.tiers.len() > MAX_TIERS {
                    return Err(invalid(InvalidField::new(
                        "tiers",
                        format!("at most {MAX_TIERS}"),
                    )));
                }
                let tiers = req
                    .tiers
                    .iter()
                    .map(tier_from_proto)
                    .collect::<Result<Vec<_>, _>>()?;
                for (i, tier) in tiers.iter().enumerate() {
                    let field = format!("tiers[{i}].prize");
                    s.prize_refs
                        .check_slot(merchant, &tier.prize, &field)
                        .await?;
                }
                let campaign = id.to_string();
                let out = s
                    .store
                    .set_share_rules(
                        merchant,
                        id,
                        req.enabled,
                        &tiers,
                        &idem,
                        s.clock.now_ms(),
                        |r| rules_to_proto(&campaign, r).encode_to_vec(),
                    )
                    .await?;
                respond(out, |r| rules_to_proto(&campaign, r))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "SetChanceRules", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn set_chance_rules(
        &self,
        request: Request<pb::SetChanceRulesRequest>,
    ) -> Result<Response<pb::ChanceRules>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "SetChanceRules", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let rules =
                    ChanceRules::validate(req.per_share, req.per_tier, req.per_vote, req.daily_cap)
                        .map_err(invalid)?;
                let campaign = id.to_string();
                let answer = |r: &ChanceRules| pb::ChanceRules {
                    campaign_id: campaign.clone(),
                    per_share: r.per_share,
                    per_tier: r.per_tier,
                    per_vote: r.per_vote,
                    daily_cap: r.daily_cap,
                };
                let out = s
                    .store
                    .set_chance_rules(merchant, id, rules, &idem, s.clock.now_ms(), |r| {
                        answer(r).encode_to_vec()
                    })
                    .await?;
                respond(out, answer)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetShareRules", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_share_rules(
        &self,
        request: Request<pb::GetShareRulesRequest>,
    ) -> Result<Response<pb::ShareRules>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let r = s.store.get_share_rules(merchant, id).await?;
                Ok(Response::new(rules_to_proto(&id.to_string(), &r)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetShareChain", skip_all, fields(outcome))]
    async fn get_share_chain(
        &self,
        request: Request<pb::GetShareChainRequest>,
    ) -> Result<Response<pb::ShareChain>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let token = uuid_field("token", &request.get_ref().token)?;
                let links = s.store.share_chain(merchant, token).await?;
                Ok(Response::new(pb::ShareChain {
                    links: links.iter().map(link_to_proto).collect(),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListShareChains", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_share_chains(
        &self,
        request: Request<pb::ListShareChainsRequest>,
    ) -> Result<Response<pb::ListShareChainsResponse>, Status> {
        traced(super::list::list_share_chains(&self.shared, request).await)
    }
}

#[tonic::async_trait]
impl<D: Db> ShareService for ShareApi<D> {
    #[tracing::instrument(name = "CreateShare", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn create_share(
        &self,
        request: Request<pb::CreateShareRequest>,
    ) -> Result<Response<pb::Share>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "CreateShare", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let parent = match req.parent_token.trim() {
                    "" => None,
                    t => Some(uuid_field("parent_token", t)?),
                };
                let channel = channel_tag(&req.channel)?;
                let out = s
                    .store
                    .create_share(
                        merchant,
                        player,
                        id,
                        parent,
                        channel.as_deref(),
                        &idem,
                        s.clock.now_ms(),
                        |x| share_to_proto(x).encode_to_vec(),
                    )
                    .await?;
                respond(out, share_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "OpenShare", skip_all, fields(outcome))]
    async fn open_share(
        &self,
        request: Request<pb::OpenShareRequest>,
    ) -> Result<Response<pb::OpenShareResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "OpenShare", req)?;
                let token = uuid_field("token", &req.token)?;
                let channel = channel_tag(&req.channel)?;
                let answer = |(campaign, counted): &(String, bool)| pb::OpenShareResponse {
                    campaign_id: campaign.clone(),
                    counted: *counted,
                };
                let out = s
                    .store
                    .open_share(
                        merchant,
                        player,
                        token,
                        channel.as_deref(),
                        &idem,
                        s.clock.now_ms(),
                        |x| answer(x).encode_to_vec(),
                    )
                    .await?;
                respond(out, answer)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetMyShareStats", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_my_share_stats(
        &self,
        request: Request<pb::GetMyShareStatsRequest>,
    ) -> Result<Response<pb::FanStats>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let f = s.store.fan_stats(merchant, player, id).await?;
                Ok(Response::new(stats_to_proto(&id.to_string(), &f)))
            }
            .await,
        )
    }
}
