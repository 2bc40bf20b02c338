//! AdminService: marketing staff of one merchant (GetCampaign also for
//! auditors).

use std::sync::Arc;

use engine_proto::campaign::v1::{self as pb, admin_service_server::AdminService};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{
        award_to_proto, campaign_to_proto, idempotency, key_to_proto, required, role_from_proto,
        slot_from_proto, uuid_field,
    },
    error::{invalid, rejection},
    respond, traced,
};
use crate::{
    domain::{
        InvalidField, Rejection,
        activity::Activity,
        credential::{MAX_KEY_ID_LEN, MIN_TOKEN_SECRET, Role, valid_key_id},
        simulation::{Scenario, simulate},
        wheel::{Transition, WheelRules},
    },
    store::{
        Outcome,
        db::Db,
        token_key::{NewTokenKey, TokenKeyChange},
    },
};

pub struct AdminApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> AdminApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }

    async fn transition(
        &self,
        request: Request<pb::CampaignTransitionRequest>,
        t: Transition,
        method: &'static str,
    ) -> Result<Response<pb::Campaign>, Status> {
        let s = &self.shared;
        let who = s.auth.authenticate(request.metadata()).await?;
        let merchant = who.admin()?;
        let req = request.get_ref();
        let id = uuid_field("campaign_id", &req.campaign_id)?;
        let idem = idempotency(&who, method, req)?;
        if t == Transition::Publish {
            self.check_prizes(merchant, id).await?;
        }
        let out = s
            .store
            .transition(merchant, id, t, s.clock.now_ms(), &idem, |c| {
                campaign_to_proto(c).encode_to_vec()
            })
            .await?;
        respond(out, campaign_to_proto)
    }

    /// Before publishing: every coupon and top-up prize names a template
    /// or pool of the merchant (`prize_refs::check_campaign`).
    async fn check_prizes(&self, merchant: &str, id: uuid::Uuid) -> Result<(), Status> {
        let s = &self.shared;
        crate::prize_refs::check_campaign(&s.prize_refs, &s.store, merchant, id, s.clock.now_ms())
            .await
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl<D: Db> AdminService for AdminApi<D> {
    #[tracing::instrument(name = "CreateApiKey", skip_all, fields(outcome))]
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Result<Response<pb::CreateApiKeyResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let role = role_from_proto(req.role)?;
                let store_id = match (role, req.store_id.trim()) {
                    (Role::Pos, _) => Some(required("store_id", &req.store_id, 64)?),
                    (_, "") => None,
                    (_, _) => {
                        return Err(invalid(InvalidField::new(
                            "store_id",
                            "only POS keys are bound to a store",
                        )));
                    }
                };
                let label = req.label.trim();
                if label.chars().count() > 200 {
                    return Err(invalid(InvalidField::new(
                        "label",
                        "at most 200 characters",
                    )));
                }
                let idem = idempotency(&who, "CreateApiKey", req)?;
                let convert = |k: &crate::store::access::CreatedKey| pb::CreateApiKeyResponse {
                    key: Some(key_to_proto(&k.record)),
                    api_key: k.full.clone(),
                };
                let out = s
                    .store
                    .create_api_key(
                        merchant,
                        role,
                        store_id,
                        label,
                        s.clock.now_ms(),
                        &idem,
                        // The secret never rests in the database: the stored
                        // answer that a retry replays leaves it out.
                        |k| {
                            pb::CreateApiKeyResponse {
                                api_key: String::new(),
                                ..convert(k)
                            }
                            .encode_to_vec()
                        },
                    )
                    .await?;
                respond(out, convert)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RevokeApiKey", skip_all, fields(outcome))]
    async fn revoke_api_key(
        &self,
        request: Request<pb::RevokeApiKeyRequest>,
    ) -> Result<Response<pb::RevokeApiKeyResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let key_id = required("key_id", &req.key_id, 64)?;
                let idem = idempotency(&who, "RevokeApiKey", req)?;
                let convert = |k: &crate::store::access::ApiKeyRecord| pb::RevokeApiKeyResponse {
                    key: Some(key_to_proto(k)),
                };
                let out = s
                    .store
                    .revoke_api_key(merchant, key_id, s.clock.now_ms(), &idem, |k| {
                        convert(k).encode_to_vec()
                    })
                    .await;
                // Refused from the next call on, not after the cache's TTL.
                s.auth.forget_api_key(key_id);
                let out = out?;
                respond(out, convert)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListApiKeys", skip_all, fields(outcome))]
    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Result<Response<pb::ListApiKeysResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let (keys, next_page_token) =
                    super::list::api_keys(s, merchant, request.get_ref()).await?;
                Ok(Response::new(pb::ListApiKeysResponse {
                    keys: keys.iter().map(key_to_proto).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "SetPlayerTokenKey", skip_all, fields(outcome))]
    async fn set_player_token_key(
        &self,
        request: Request<pb::SetPlayerTokenKeyRequest>,
    ) -> Result<Response<pb::SetPlayerTokenKeyResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let issuer = required("issuer", &req.issuer, 200)?;
                if req.secret.len() < MIN_TOKEN_SECRET || req.secret.len() > 512 {
                    return Err(invalid(InvalidField::new(
                        "secret",
                        format!("must be {MIN_TOKEN_SECRET} to 512 bytes"),
                    )));
                }
                if !valid_key_id(&req.key_id) {
                    return Err(invalid(InvalidField::new(
                        "key_id",
                        format!("at most {MAX_KEY_ID_LEN} of A-Z a-z 0-9 . _ -"),
                    )));
                }
                let idem = idempotency(&who, "SetPlayerTokenKey", req)?;
                let convert = |c: &TokenKeyChange| pb::SetPlayerTokenKeyResponse {
                    issuer: c.issuer.clone(),
                    active_key_ids: c.active.clone(),
                    retired_key_ids: c.retired.clone(),
                };
                let key = NewTokenKey {
                    issuer,
                    key_id: &req.key_id,
                    secret: &req.secret,
                };
                let out = s
                    .store
                    .set_player_token_key(merchant, key, s.clock.now_ms(), &idem, |c| {
                        convert(c).encode_to_vec()
                    })
                    .await;
                s.auth.forget_token_key(issuer);
                let out = out?;
                if let Outcome::Fresh(TokenKeyChange {
                    previous_issuer: Some(previous),
                    ..
                }) = &out
                {
                    s.auth.forget_token_key(previous);
                }
                respond(out, convert)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RetirePlayerTokenKey", skip_all, fields(outcome))]
    async fn retire_player_token_key(
        &self,
        request: Request<pb::RetirePlayerTokenKeyRequest>,
    ) -> Result<Response<pb::RetirePlayerTokenKeyResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                if !valid_key_id(&req.key_id) {
                    return Err(invalid(InvalidField::new(
                        "key_id",
                        format!("at most {MAX_KEY_ID_LEN} of A-Z a-z 0-9 . _ -"),
                    )));
                }
                let idem = idempotency(&who, "RetirePlayerTokenKey", req)?;
                let convert = |c: &TokenKeyChange| pb::RetirePlayerTokenKeyResponse {
                    issuer: c.issuer.clone(),
                    active_key_ids: c.active.clone(),
                };
                let out = s
                    .store
                    .retire_player_token_key(merchant, &req.key_id, s.clock.now_ms(), &idem, |c| {
                        convert(c).encode_to_vec()
                    })
                    .await?;
                let resp = respond(out, convert)?;
                s.auth.forget_token_key(&resp.get_ref().issuer);
                Ok(resp)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "CreateCampaign", skip_all, fields(outcome, campaign.id))]
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(super::activity::create_campaign(&self.shared, request).await)
    }

    #[tracing::instrument(name = "CloneCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn clone_campaign(
        &self,
        request: Request<pb::CloneCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(super::activity::clone_campaign(&self.shared, request).await)
    }

    #[tracing::instrument(name = "AttachActivity", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn attach_activity(
        &self,
        request: Request<pb::AttachActivityRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(super::activity::attach_activity(&self.shared, request).await)
    }

    #[tracing::instrument(name = "CreateWheel", skip_all, fields(outcome, campaign.id))]
    async fn create_wheel(
        &self,
        request: Request<pb::CreateWheelRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let rules = WheelRules::parse(
                    &req.name,
                    req.starts_at_ms,
                    req.ends_at_ms,
                    &req.time_zone,
                    req.draws_per_day,
                    req.draws_total,
                )
                .map_err(invalid)?;
                let idem = idempotency(&who, "CreateWheel", req)?;
                let out = s
                    .store
                    .create_wheel(merchant, &rules, s.clock.now_ms(), &idem, |c| {
                        campaign_to_proto(c).encode_to_vec()
                    })
                    .await?;
                let resp = respond(out, campaign_to_proto)?;
                tracing::Span::current().record("campaign.id", &resp.get_ref().campaign_id);
                Ok(resp)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "AddPrizeSlot", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn add_prize_slot(
        &self,
        request: Request<pb::AddPrizeSlotRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let spec = slot_from_proto(req.slot.clone())?;
                let idem = idempotency(&who, "AddPrizeSlot", req)?;
                s.prize_refs.check_slot(merchant, &spec, "slot").await?;
                let out = s
                    .store
                    .add_slot(merchant, id, &spec, s.clock.now_ms(), &idem, |c| {
                        campaign_to_proto(c).encode_to_vec()
                    })
                    .await?;
                respond(out, campaign_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "UpdatePrizeSlot", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn update_prize_slot(
        &self,
        request: Request<pb::UpdatePrizeSlotRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let spec = slot_from_proto(req.slot.clone())?;
                let idem = idempotency(&who, "UpdatePrizeSlot", req)?;
                s.prize_refs.check_slot(merchant, &spec, "slot").await?;
                let out = s
                    .store
                    .update_slot(
                        merchant,
                        id,
                        req.index,
                        &spec,
                        s.clock.now_ms(),
                        &idem,
                        |c| campaign_to_proto(c).encode_to_vec(),
                    )
                    .await?;
                respond(out, campaign_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ReviseWheel", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn revise_wheel(
        &self,
        request: Request<pb::ReviseWheelRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                if req.slots.is_empty() {
                    return Err(invalid(InvalidField::new(
                        "slots",
                        "every slot of the wheel, in order",
                    )));
                }
                let specs = req
                    .slots
                    .iter()
                    .map(|s| slot_from_proto(Some(s.clone())))
                    .collect::<Result<Vec<_>, _>>()?;
                let idem = idempotency(&who, "ReviseWheel", req)?;
                for (i, spec) in specs.iter().enumerate() {
                    let field = format!("slots[{i}]");
                    s.prize_refs.check_slot(merchant, spec, &field).await?;
                }
                let out = s
                    .store
                    .revise_wheel(merchant, id, &specs, s.clock.now_ms(), &idem, |c| {
                        campaign_to_proto(c).encode_to_vec()
                    })
                    .await?;
                respond(out, campaign_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "SetFallbackSlot", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn set_fallback_slot(
        &self,
        request: Request<pb::SetFallbackSlotRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let idem = idempotency(&who, "SetFallbackSlot", req)?;
                let out = s
                    .store
                    .set_fallback(merchant, id, req.index, s.clock.now_ms(), &idem, |c| {
                        campaign_to_proto(c).encode_to_vec()
                    })
                    .await?;
                respond(out, campaign_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "PublishCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn publish_campaign(
        &self,
        request: Request<pb::CampaignTransitionRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            self.transition(request, Transition::Publish, "PublishCampaign")
                .await,
        )
    }

    #[tracing::instrument(name = "SchedulePublish", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn schedule_publish(
        &self,
        request: Request<pb::SchedulePublishRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let idem = idempotency(&who, "SchedulePublish", req)?;
                let out = s
                    .store
                    .schedule_publish(
                        merchant,
                        id,
                        req.publish_at_start,
                        s.clock.now_ms(),
                        &idem,
                        |c| campaign_to_proto(c).encode_to_vec(),
                    )
                    .await?;
                respond(out, campaign_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "PauseCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn pause_campaign(
        &self,
        request: Request<pb::CampaignTransitionRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            self.transition(request, Transition::Pause, "PauseCampaign")
                .await,
        )
    }

    #[tracing::instrument(name = "ResumeCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn resume_campaign(
        &self,
        request: Request<pb::CampaignTransitionRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            self.transition(request, Transition::Resume, "ResumeCampaign")
                .await,
        )
    }

    #[tracing::instrument(name = "EndCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn end_campaign(
        &self,
        request: Request<pb::CampaignTransitionRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            self.transition(request, Transition::End, "EndCampaign")
                .await,
        )
    }

    #[tracing::instrument(name = "GetCampaign", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> Result<Response<pb::Campaign>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let c = s.store.get_campaign(merchant, id, s.clock.now_ms()).await?;
                Ok(Response::new(campaign_to_proto(&c)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListCampaigns", skip_all, fields(outcome))]
    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> Result<Response<pb::ListCampaignsResponse>, Status> {
        traced(super::list::list_campaigns(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListWinners", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_winners(
        &self,
        request: Request<pb::ListWinnersRequest>,
    ) -> Result<Response<pb::ListWinnersResponse>, Status> {
        traced(super::list::list_winners(&self.shared, request).await)
    }

    #[tracing::instrument(name = "BulkShipPrizes", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id, rows = request.get_ref().rows.len()))]
    async fn bulk_ship_prizes(
        &self,
        request: Request<pb::BulkShipPrizesRequest>,
    ) -> Result<Response<pb::BulkShipReport>, Status> {
        traced(super::shipping::bulk_ship(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ErasePersonalData", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn erase_personal_data(
        &self,
        request: Request<pb::ErasePersonalDataRequest>,
    ) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
        traced(super::shipping::erase(&self.shared, request).await)
    }

    type ExportWinnersStream = super::shipping::CsvStream;

    #[tracing::instrument(name = "ExportWinners", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn export_winners(
        &self,
        request: Request<pb::ExportWinnersRequest>,
    ) -> Result<Response<Self::ExportWinnersStream>, Status> {
        traced(super::shipping::export_winners(&self.shared, request).await)
    }

    #[tracing::instrument(name = "SimulateWheel", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn simulate_wheel(
        &self,
        request: Request<pb::SimulateWheelRequest>,
    ) -> Result<Response<pb::SimulationReport>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let c = s.store.get_campaign(merchant, id, s.clock.now_ms()).await?;
                c.require(Activity::Wheel)?;
                let fallback = c
                    .fallback_slot
                    .ok_or(Rejection::NoFallback)
                    .map_err(rejection)?;
                let window_days = (c.rules.ends_at - c.rules.starts_at + 86_399_999) / 86_400_000;
                let scenario = Scenario {
                    days: match req.days {
                        0 => u32::try_from(window_days.clamp(1, 366)).unwrap_or(366),
                        d => d,
                    },
                    players: req.players_per_day,
                    draws_per_player: match req.draws_per_player_per_day {
                        0 => u32::try_from(c.rules.draws_per_day).unwrap_or(u32::MAX),
                        d => d,
                    },
                    draws_per_day: c.rules.draws_per_day,
                    draws_total: c.rules.draws_total,
                    runs: if req.runs == 0 { 100 } else { req.runs },
                    rng_seed: req.rng_seed,
                };
                scenario.validate().map_err(invalid)?;
                let slots: Vec<_> = c.slots.iter().map(|x| x.spec.clone()).collect();
                let (days, runs) = (scenario.days, scenario.runs);
                let f = tokio::task::spawn_blocking(move || simulate(&slots, fallback, &scenario))
                    .await
                    .map_err(|e| super::error::internal(&e))?;
                Ok(Response::new(pb::SimulationReport {
                    slots: f
                        .slots
                        .iter()
                        .map(|x| pb::SlotForecast {
                            index: x.index,
                            mean_given: x.mean_given,
                            mean_payout: x.mean_payout,
                            sold_out_share: x.sold_out_share,
                            mean_sold_out_day: x.mean_sold_out_day.unwrap_or(0.0),
                        })
                        .collect(),
                    fallback_share: f.fallback_share,
                    mean_draws: f.mean_draws,
                    days,
                    runs,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ShipPrize", skip_all, fields(outcome))]
    async fn ship_prize(
        &self,
        request: Request<pb::ShipPrizeRequest>,
    ) -> Result<Response<pb::PrizeAward>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let award_id = uuid_field("award_id", &req.award_id)?.to_string();
                let tracking = required("tracking_number", &req.tracking_number, 100)?;
                let idem = idempotency(&who, "ShipPrize", req)?;
                let now = s.clock.now_ms();
                let convert = |a: &crate::store::wheel::AwardRecord| award_to_proto(a, now, true);
                let out = s
                    .store
                    .ship_prize(merchant, &award_id, tracking, now, &idem, |a| {
                        convert(a).encode_to_vec()
                    })
                    .await?;
                respond(out, convert)
            }
            .await,
        )
    }
}
