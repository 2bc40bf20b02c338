//! PlayerService: one end user (openid) through the merchant's H5 page.

use std::sync::Arc;

use engine_proto::campaign::v1::{self as pb, player_service_server::PlayerService};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{
        award_to_proto, draw_answer_from_store, draw_answer_to_store, draw_to_proto, idempotency,
        shipping_from_proto, uuid_field, wheel_to_proto,
    },
    error::{internal, invalid},
    respond, traced,
};
use crate::{
    domain::{
        InvalidField, Rejection,
        activity::Activity,
        wheel::{CampaignStatus, PrizeKind},
    },
    store::{Outcome, StoreError, db::Db, wheel::DrawCommand},
};
use platform::stores::{
    StoreRegistry,
    domain::{StoreRefusal, StoreStatus, store_code},
};

pub struct PlayerApi<D: Db> {
    shared: Arc<Shared<D>>,
    stores: StoreRegistry<D>,
}

impl<D: Db> PlayerApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        let stores = StoreRegistry::new(shared.store.db().clone());
        Self { shared, stores }
    }

    /// The store a draw names: none, or an OPEN store of the merchant
    /// (FAILED_PRECONDITION naming `store_id` otherwise). Read apart from
    /// the draw: the store only attributes the prize, it guards nothing.
    async fn draw_store(&self, merchant: &str, raw: &str) -> Result<Option<String>, Status> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let code = store_code("store_id", raw).map_err(invalid)?;
        let refusal = match self.stores.get_store(merchant, &code).await {
            Ok(s) if s.status == StoreStatus::Open => return Ok(Some(code)),
            Ok(_) => StoreRefusal::Closed("store_id", code),
            Err(StoreError::NotFound(_)) => StoreRefusal::Unknown("store_id", code),
            Err(e) => return Err(e.into()),
        };
        Err(StoreError::from(refusal).into())
    }
}

#[tonic::async_trait]
impl<D: Db> PlayerService for PlayerApi<D> {
    #[tracing::instrument(name = "GetWheel", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_wheel(
        &self,
        request: Request<pb::GetWheelRequest>,
    ) -> Result<Response<pb::Wheel>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, _) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let c = match s.store.get_campaign(merchant, id, s.clock.now_ms()).await {
                    // Another merchant's campaign does not exist for this player.
                    Err(StoreError::OtherMerchant(_)) => Err(StoreError::NotFound("campaign")),
                    other => other,
                }?;
                if c.status == CampaignStatus::Draft {
                    // A draft's prizes are not shown before it is published.
                    return Err(StoreError::from(Rejection::DraftNotOpen).into());
                }
                c.require(Activity::Wheel)?;
                Ok(Response::new(wheel_to_proto(&c)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "Draw", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn draw(
        &self,
        request: Request<pb::DrawRequest>,
    ) -> Result<Response<pb::DrawResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let channel = req.channel.trim();
                if channel.len() > 64 {
                    return Err(invalid(InvalidField::new("channel", "at most 64 bytes")));
                }
                let store_id = self.draw_store(merchant, &req.store_id).await?;
                let idem = idempotency(&who, "Draw", req)?;
                let cmd = DrawCommand {
                    merchant_id: merchant.to_owned(),
                    player_id: player.to_owned(),
                    campaign_id: id,
                    channel: Some(channel.to_owned()).filter(|c| !c.is_empty()),
                    store_id,
                };
                let campaign = cmd.campaign_id.to_string();
                let stored = campaign.clone();
                let out = s
                    .store
                    .draw(&cmd, s.clock.as_ref(), &idem, move |d| {
                        draw_answer_to_store(d, &stored)
                    })
                    .await?;
                if let Outcome::Fresh(d) = &out
                    && d.award
                        .as_ref()
                        .is_some_and(|a| matches!(a.kind, PrizeKind::Coupon | PrizeKind::TopupCode))
                {
                    s.outbox_wakeup.notify_one();
                }
                match out {
                    Outcome::Fresh(d) => Ok(Response::new(draw_to_proto(&d))),
                    Outcome::Replay(bytes) => draw_answer_from_store(&bytes, &campaign)
                        .map(Response::new)
                        .map_err(|e| internal(&e)),
                }
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListMyPrizes", skip_all, fields(outcome))]
    async fn list_my_prizes(
        &self,
        request: Request<pb::ListMyPrizesRequest>,
    ) -> Result<Response<pb::ListMyPrizesResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let campaign = match req.campaign_id.trim() {
                    "" => None,
                    c => Some(uuid_field("campaign_id", c)?),
                };
                let now = s.clock.now_ms();
                let awards = s
                    .store
                    .list_player_awards(merchant, player, campaign)
                    .await?;
                Ok(Response::new(pb::ListMyPrizesResponse {
                    awards: awards
                        .iter()
                        .map(|a| award_to_proto(a, now, false))
                        .collect(),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ClaimPrize", skip_all, fields(outcome))]
    async fn claim_prize(
        &self,
        request: Request<pb::ClaimPrizeRequest>,
    ) -> Result<Response<pb::PrizeAward>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let award_id = uuid_field("award_id", &req.award_id)?.to_string();
                let shipping = shipping_from_proto(req.shipping.clone())?;
                let idem = idempotency(&who, "ClaimPrize", req)?;
                let now = s.clock.now_ms();
                let convert = |a: &crate::store::wheel::AwardRecord| award_to_proto(a, now, false);
                let out = s
                    .store
                    .claim_prize(merchant, player, &award_id, &shipping, now, &idem, |a| {
                        convert(a).encode_to_vec()
                    })
                    .await?;
                respond(out, convert)
            }
            .await,
        )
    }
}
