//! CouponDeliveryService: the campaign service's outbox worker delivers won
//! coupon and top-up-code prizes here. Authenticated with the shared
//! delivery secret, compared in constant time; never a player or API key.

use std::sync::Arc;

use engine_proto::coupon::v1::{self as pb, coupon_delivery_service_server::CouponDeliveryService};
use platform::domain::InvalidField;
use platform::{
    grpc::{invalid, traced},
    store::{StoreError, db::Db},
};
use subtle::ConstantTimeEq;
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{coupon_to_proto, uuid_field},
};
use crate::store::{CouponError, MAX_PRIZE_COUPON_PAGE, PrizeKind, PrizeOrder};

pub struct DeliveryApi<D: Db> {
    shared: Arc<CouponShared<D>>,
}

impl<D: Db> DeliveryApi<D> {
    pub fn new(shared: Arc<CouponShared<D>>) -> Self {
        Self { shared }
    }
}

fn authorized(secret: &[u8], meta: &tonic::metadata::MetadataMap) -> Result<(), Status> {
    let given = meta
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if secret.is_empty() || !bool::from(given.as_bytes().ct_eq(secret)) {
        return Err(Status::unauthenticated("missing or invalid credential"));
    }
    Ok(())
}

#[tonic::async_trait]
impl<D: Db> CouponDeliveryService for DeliveryApi<D> {
    #[tracing::instrument(name = "DeliverPrize", skip_all, fields(outcome, source.id = %request.get_ref().source_id))]
    async fn deliver_prize(
        &self,
        request: Request<pb::DeliverPrizeRequest>,
    ) -> Result<Response<pb::DeliverPrizeResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                authorized(&s.delivery_secret, request.metadata())?;
                let req = request.get_ref();
                let source = uuid_field("source_id", &req.source_id)?;
                let merchant = uuid_field("merchant_id", &req.merchant_id)?;
                let reference = uuid_field("reference", &req.reference)?;
                let player = req.player_id.trim();
                if player.is_empty() || player.len() > 128 {
                    return Err(invalid(InvalidField::new("player_id", "1..=128 bytes")));
                }
                let kind = PrizeKind::parse(&req.prize_kind).ok_or_else(|| {
                    invalid(InvalidField::new("prize_kind", "COUPON or TOPUP_CODE"))
                })?;
                let campaign = match req.campaign_id.as_str() {
                    "" => None,
                    c => Some(uuid_field("campaign_id", c)?),
                };
                let order = PrizeOrder {
                    source_id: &source,
                    merchant_id: &merchant,
                    player_id: player,
                    kind,
                    reference: &reference,
                    campaign_id: campaign.as_deref(),
                };
                let c = s.coupons.deliver_prize(&order, s.clock.now_ms()).await?;
                Ok(Response::new(pb::DeliverPrizeResponse {
                    coupon: Some(coupon_to_proto(&c, true)),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListCampaignPrizeCoupons", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_campaign_prize_coupons(
        &self,
        request: Request<pb::ListCampaignPrizeCouponsRequest>,
    ) -> Result<Response<pb::ListCampaignPrizeCouponsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                authorized(&s.delivery_secret, request.metadata())?;
                let req = request.get_ref();
                let merchant = uuid_field("merchant_id", &req.merchant_id)?;
                let campaign = uuid_field("campaign_id", &req.campaign_id)?;
                let after = req.after_source_id.trim();
                if after.len() > 64 {
                    return Err(invalid(InvalidField::new(
                        "after_source_id",
                        "at most 64 bytes",
                    )));
                }
                let limit = match req.page_size {
                    0 => MAX_PRIZE_COUPON_PAGE,
                    n if n <= MAX_PRIZE_COUPON_PAGE => n,
                    _ => {
                        return Err(invalid(InvalidField::new(
                            "page_size",
                            format!("at most {MAX_PRIZE_COUPON_PAGE}"),
                        )));
                    }
                };
                let coupons = s
                    .coupons
                    .campaign_prize_coupons(&merchant, &campaign, after, limit)
                    .await?;
                Ok(Response::new(pb::ListCampaignPrizeCouponsResponse {
                    done: coupons.len() < limit as usize,
                    coupons: coupons
                        .into_iter()
                        .map(|c| pb::CampaignPrizeCoupon {
                            source_id: c.source_id,
                            issued_at_ms: c.issued_at,
                            redeemed_at_ms: c.redeemed_at,
                        })
                        .collect(),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "CheckPrizeReference", skip_all, fields(outcome))]
    async fn check_prize_reference(
        &self,
        request: Request<pb::CheckPrizeReferenceRequest>,
    ) -> Result<Response<pb::CheckPrizeReferenceResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                authorized(&s.delivery_secret, request.metadata())?;
                let req = request.get_ref();
                let merchant = uuid_field("merchant_id", &req.merchant_id)?;
                let reference = uuid_field("reference", &req.reference)?;
                let kind = PrizeKind::parse(&req.prize_kind).ok_or_else(|| {
                    invalid(InvalidField::new("prize_kind", "COUPON or TOPUP_CODE"))
                })?;
                let name = match kind {
                    PrizeKind::Coupon => s
                        .coupons
                        .get_template(&merchant, &reference)
                        .await
                        .map(|t| t.spec.name),
                    PrizeKind::TopupCode => s
                        .coupons
                        .get_pool(&merchant, &reference)
                        .await
                        .map(|p| p.name),
                };
                let found = |name| pb::CheckPrizeReferenceResponse { found: true, name };
                match name {
                    Ok(name) => Ok(Response::new(found(name))),
                    // Missing, or another merchant's: not this merchant's prize.
                    Err(CouponError::Store(
                        StoreError::NotFound(_) | StoreError::OtherMerchant(_),
                    )) => Ok(Response::new(pb::CheckPrizeReferenceResponse::default())),
                    Err(e) => Err(e.into()),
                }
            }
            .await,
        )
    }
}
