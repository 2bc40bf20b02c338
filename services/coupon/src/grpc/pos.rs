//! CouponPosService: a store's till. The store comes from the POS API key,
//! never from the request; codes are logged by their last four characters
//! only.

use std::sync::Arc;

use engine_proto::coupon::v1::{self as pb, coupon_pos_service_server::CouponPosService};
use platform::access::auth::Principal;
use platform::domain::InvalidField;
use platform::{
    grpc::{invalid, respond, traced},
    store::db::Db,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{idempotency, order_from_proto, redemption_to_proto, refusal_to_proto, uuid_field},
};
use crate::{
    domain::{
        CouponRejection, Refusal,
        code::{CodeError, CouponCode},
    },
    store::{CouponError, RedeemCommand, Till},
};

pub struct PosApi<D: Db> {
    shared: Arc<CouponShared<D>>,
}

impl<D: Db> PosApi<D> {
    pub fn new(shared: Arc<CouponShared<D>>) -> Self {
        Self { shared }
    }
}

/// The till behind a POS credential, or PERMISSION_DENIED.
fn till(who: &Principal) -> Result<Till<'_>, Status> {
    match who {
        Principal::Pos {
            merchant_id,
            store_id,
            key_id,
        } => Ok(Till {
            merchant_id,
            store_id,
            key_id,
        }),
        _ => Err(Status::permission_denied(
            "only a store's POS key may validate, redeem or reverse coupons",
        )),
    }
}

/// Is this refusal what a guessed code produces? Those count against the
/// till; refusals of real codes (expired, minimum spend) do not. Only a
/// well-formed code (right length, alphabet and check character) can be a
/// guess that finds a coupon, so only those count: a scan of nothing, a
/// short or foreign string, or a typo the check character catches cannot
/// match any coupon and costs the till nothing.
fn is_guess(r: Refusal) -> bool {
    matches!(r, Refusal::NotFound)
}

/// Parses a typed or scanned code. Not a code at all (empty, wrong length,
/// a character outside the alphabet): INVALID_ARGUMENT naming `code`. A
/// typo the check character catches: the MISTYPED refusal. Neither counts
/// against the till.
fn parse_code(code: &str) -> Result<Result<CouponCode, Refusal>, Status> {
    match CouponCode::parse(code) {
        Ok(c) => Ok(Ok(c)),
        Err(CodeError::Malformed) => Err(invalid(InvalidField::new(
            "code",
            if code.trim().is_empty() {
                "empty: scan or type the coupon's code"
            } else {
                "not a coupon code: 13 characters of 0-9 and A-Z (dashes and spaces ignored)"
            },
        ))),
        Err(CodeError::Mistyped) => Ok(Err(Refusal::Mistyped)),
    }
}

impl<D: Db> PosApi<D> {
    fn count_failure(&self, till: &Till<'_>, e: &CouponError) -> Result<(), Status> {
        if let CouponError::Rejected(CouponRejection::Unusable(r)) = e
            && is_guess(*r)
        {
            let s = &self.shared;
            s.till_guard.record_failure(till.key_id, s.clock.now_ms())?;
        }
        Ok(())
    }
}

fn code_status(r: Refusal) -> Status {
    match r {
        Refusal::Mistyped => invalid(InvalidField::new(
            "code",
            "the check character does not match: a character was mistyped",
        )),
        _ => Status::not_found("no such coupon"),
    }
}

#[tonic::async_trait]
impl<D: Db> CouponPosService for PosApi<D> {
    #[tracing::instrument(name = "ValidateCoupon", skip_all, fields(outcome, store.id, refusal))]
    async fn validate_coupon(
        &self,
        request: Request<pb::ValidateCouponRequest>,
    ) -> Result<Response<pb::ValidateCouponResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let till = till(&who)?;
                s.till_limit.check(till.key_id)?;
                tracing::Span::current().record("store.id", till.store_id);
                let now = s.clock.now_ms();
                s.till_guard.check(till.key_id, now)?;
                let req = request.get_ref();
                let order = order_from_proto(req.order_amount_cents, &req.items)?;
                let refused = |r: Refusal| {
                    tracing::Span::current().record("refusal", tracing::field::debug(r));
                    Response::new(pb::ValidateCouponResponse {
                        valid: false,
                        refusal: refusal_to_proto(r).into(),
                        message: r.message().to_owned(),
                        ..Default::default()
                    })
                };
                let code = match parse_code(&req.code)? {
                    Ok(c) => c,
                    Err(r) => return Ok(refused(r)),
                };
                match s.coupons.validate(&till, &code, &order, now).await {
                    Ok(q) => Ok(Response::new(pb::ValidateCouponResponse {
                        valid: true,
                        discount_cents: q.discount_cents,
                        refusal: pb::Refusal::Unspecified.into(),
                        message: String::new(),
                        template_id: q.template_id,
                        gift_item: q.gift_item,
                    })),
                    Err(CouponError::Rejected(CouponRejection::Unusable(r))) => {
                        if is_guess(r) {
                            s.till_guard.record_failure(till.key_id, now)?;
                        }
                        Ok(refused(r))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RedeemCoupon", skip_all, fields(outcome, store.id))]
    async fn redeem_coupon(
        &self,
        request: Request<pb::RedeemCouponRequest>,
    ) -> Result<Response<pb::Redemption>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let till = till(&who)?;
                s.till_limit.check(till.key_id)?;
                tracing::Span::current().record("store.id", till.store_id);
                s.till_guard.check(till.key_id, s.clock.now_ms())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "RedeemCoupon", req, |r| &mut r.idempotency_key)?;
                let order = order_from_proto(req.order_amount_cents, &req.items)?;
                if req.order_ref.len() > 128 {
                    return Err(invalid(InvalidField::new("order_ref", "at most 128 bytes")));
                }
                let code = parse_code(&req.code)?.map_err(code_status)?;
                let cmd = RedeemCommand {
                    merchant_id: till.merchant_id.to_owned(),
                    store_id: till.store_id.to_owned(),
                    key_id: till.key_id.to_owned(),
                    code,
                    order,
                    order_ref: req.order_ref.trim().to_owned(),
                };
                let out = s
                    .coupons
                    .redeem(&cmd, &idem, s.clock.now_ms(), |r| {
                        redemption_to_proto(r).encode_to_vec()
                    })
                    .await;
                if let Err(e) = &out {
                    self.count_failure(&till, e)?;
                }
                respond(out?, redemption_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ReverseRedemption", skip_all, fields(outcome, store.id, redemption.id = %request.get_ref().redemption_id))]
    async fn reverse_redemption(
        &self,
        request: Request<pb::ReverseRedemptionRequest>,
    ) -> Result<Response<pb::Redemption>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let till = till(&who)?;
                s.till_limit.check(till.key_id)?;
                tracing::Span::current().record("store.id", till.store_id);
                let req = request.get_ref();
                let idem = idempotency(&who, "ReverseRedemption", req, |r| &mut r.idempotency_key)?;
                let id = uuid_field("redemption_id", &req.redemption_id)?;
                if req.reason.len() > 256 {
                    return Err(invalid(InvalidField::new("reason", "at most 256 bytes")));
                }
                let out = s
                    .coupons
                    .reverse(
                        &till,
                        &id,
                        req.reason.trim(),
                        &idem,
                        s.clock.now_ms(),
                        |r| redemption_to_proto(r).encode_to_vec(),
                    )
                    .await?;
                respond(out, redemption_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetRedemptionByKey", skip_all, fields(outcome, store.id))]
    async fn get_redemption_by_key(
        &self,
        request: Request<pb::GetRedemptionByKeyRequest>,
    ) -> Result<Response<pb::Redemption>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let till = till(&who)?;
                s.till_limit.check(till.key_id)?;
                tracing::Span::current().record("store.id", till.store_id);
                let key = platform::domain::idempotency::IdempotencyKey::parse(
                    &request.get_ref().idempotency_key,
                )
                .map_err(invalid)?;
                let r = s
                    .coupons
                    .redemption_by_key(till.key_id, key.as_str())
                    .await?;
                Ok(Response::new(redemption_to_proto(&r)))
            }
            .await,
        )
    }
}
