//! CouponPlayerService: one player (openid) through the merchant's H5 page.
//! Lists are always filtered by the caller's own id.

use std::sync::Arc;

use engine_proto::coupon::v1::{self as pb, coupon_player_service_server::CouponPlayerService};
use platform::domain::InvalidField;
use platform::{
    grpc::{internal, invalid, traced},
    store::{Outcome, db::Db},
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{coupon_to_proto, idempotency, uuid_field},
};

pub const MAX_PAGE: u32 = 100;

pub struct PlayerApi<D: Db> {
    shared: Arc<CouponShared<D>>,
}

impl<D: Db> PlayerApi<D> {
    pub fn new(shared: Arc<CouponShared<D>>) -> Self {
        Self { shared }
    }
}

/// `"<issued_at>:<id>"` of the last item of a page.
fn parse_page_token(t: &str) -> Result<Option<(i64, String)>, Status> {
    if t.is_empty() {
        return Ok(None);
    }
    let bad = || invalid(InvalidField::new("page_token", "not a token from this API"));
    let (at, id) = t.split_once(':').ok_or_else(bad)?;
    let at = at.parse().map_err(|_| bad())?;
    let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(Some((at, id.to_string())))
}

#[tonic::async_trait]
impl<D: Db> CouponPlayerService for PlayerApi<D> {
    #[tracing::instrument(name = "ClaimCoupon", skip_all, fields(outcome, template.id = %request.get_ref().template_id))]
    async fn claim_coupon(
        &self,
        request: Request<pb::ClaimCouponRequest>,
    ) -> Result<Response<pb::Coupon>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "ClaimCoupon", req, |r| &mut r.idempotency_key)?;
                let template = uuid_field("template_id", &req.template_id)?;
                let out = s
                    .coupons
                    // The stored answer shows the code's tail only: no code
                    // in the clear in the idempotency table either.
                    .claim(merchant, player, &template, &idem, s.clock.now_ms(), |c| {
                        coupon_to_proto(c, false).encode_to_vec()
                    })
                    .await
                    .map_err(|e| match e {
                        // Another merchant's template is simply not there
                        // for this player.
                        crate::store::CouponError::Store(
                            platform::store::StoreError::OtherMerchant(_),
                        ) => Status::not_found("coupon template not found"),
                        e => e.into(),
                    })?;
                match out {
                    Outcome::Fresh(c) => Ok(Response::new(coupon_to_proto(&c, true))),
                    Outcome::Replay(bytes) => {
                        // The first answer, its code read back from the
                        // coupon's sealed copy.
                        let mut first =
                            pb::Coupon::decode(bytes.as_slice()).map_err(|e| internal(&e))?;
                        let c = s
                            .coupons
                            .player_coupon(merchant, player, &first.coupon_id)
                            .await?;
                        first.code = coupon_to_proto(&c, true).code;
                        Ok(Response::new(first))
                    }
                }
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetMyCoupon", skip_all, fields(outcome, coupon.id = %request.get_ref().coupon_id))]
    async fn get_my_coupon(
        &self,
        request: Request<pb::GetMyCouponRequest>,
    ) -> Result<Response<pb::Coupon>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let id = uuid_field("coupon_id", &request.get_ref().coupon_id)?;
                let c = s.coupons.player_coupon(merchant, player, &id).await?;
                Ok(Response::new(coupon_to_proto(&c, true)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListMyCoupons", skip_all, fields(outcome))]
    async fn list_my_coupons(
        &self,
        request: Request<pb::ListMyCouponsRequest>,
    ) -> Result<Response<pb::ListMyCouponsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let size = match req.page_size {
                    0 => 20,
                    n => n.min(MAX_PAGE),
                };
                let after = parse_page_token(&req.page_token)?;
                let items = s
                    .coupons
                    .list_player_coupons(merchant, player, size, after)
                    .await?;
                let next = if items.len() == size as usize {
                    items
                        .last()
                        .map(|c| format!("{}:{}", c.issued_at, c.coupon_id))
                        .unwrap_or_default()
                } else {
                    String::new()
                };
                Ok(Response::new(pb::ListMyCouponsResponse {
                    coupons: items.iter().map(|c| coupon_to_proto(c, true)).collect(),
                    next_page_token: next,
                }))
            }
            .await,
        )
    }
}
