//! Coupon rules as pure functions and types, no I/O: codes and their check
//! character ([`code`]), templates, discounts and validity ([`template`]),
//! the list RPCs' filters, cursors and derived states ([`list`]), targeted
//! issue's lists, states and refusals ([`target`]), and how codes are kept
//! at rest ([`vault`]).

pub mod code;
pub mod list;
pub mod target;
pub mod template;
pub mod vault;

use thiserror::Error;

pub use template::Refusal;

/// A well-formed request that the current state refuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CouponRejection {
    #[error("the template's total supply is used up")]
    SupplyExhausted,
    #[error("this player already holds the most coupons of this template allowed")]
    PerUserLimit,
    /// The coupon cannot be used for this order; says exactly why.
    #[error("{}", .0.message())]
    Unusable(Refusal),
    #[error("only the store that redeemed can reverse the redemption")]
    OtherStore,
    #[error("the redemption is already reversed")]
    AlreadyReversed,
    #[error("the code pool has no codes left")]
    PoolEmpty,
    #[error("the bulk issue job is {0}; codes can be exported once it is DONE")]
    JobNotDone(&'static str),
    #[error("a coupon for this source was delivered with other parameters")]
    SourceMismatch,
    #[error(
        "the targeted issue job is {0}; openids are appended and the job started only while it is OPEN"
    )]
    TargetJobNotOpen(&'static str),
    /// Worded as an invalid field: the transport answers INVALID_ARGUMENT.
    #[error("openids: a targeted issue job holds at most {0} distinct openids")]
    TooManyTargets(usize),
}
