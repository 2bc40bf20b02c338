//! One exhaustive mapping from coupon errors to gRPC statuses; store errors
//! shared with the campaign service map as they do there.

use tonic::{Code, Status};

use crate::{
    domain::{CouponRejection, Refusal},
    store::CouponError,
};

pub fn rejection(r: CouponRejection) -> Status {
    let code = match r {
        CouponRejection::SupplyExhausted
        | CouponRejection::PerUserLimit
        | CouponRejection::PoolEmpty => Code::ResourceExhausted,
        CouponRejection::Unusable(Refusal::NotFound | Refusal::Mistyped) => Code::NotFound,
        CouponRejection::OtherStore => Code::PermissionDenied,
        CouponRejection::Unusable(_)
        | CouponRejection::AlreadyReversed
        | CouponRejection::JobNotDone(_)
        | CouponRejection::TargetJobNotOpen(_) => Code::FailedPrecondition,
        CouponRejection::TooManyTargets(_) => Code::InvalidArgument,
        CouponRejection::SourceMismatch => Code::AlreadyExists,
    };
    Status::new(code, r.to_string())
}

impl From<CouponError> for Status {
    fn from(e: CouponError) -> Self {
        match e {
            CouponError::Store(s) => s.into(),
            CouponError::Rejected(r) => rejection(r),
        }
    }
}
