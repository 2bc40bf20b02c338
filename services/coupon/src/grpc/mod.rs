//! Transport: tonic handlers of the four coupon services. Each
//! authenticates (the platform's authenticator: the same keys and
//! tokens as the campaign service), authorizes, converts the request (`convert.rs`), calls one
//! store method and maps errors (`error.rs`). No SQL here.

pub mod admin;
pub mod convert;
pub mod delivery;
pub mod error;
mod figures;
pub mod guard;
mod list;
pub mod player;
pub mod pos;
mod target;

use std::sync::Arc;

use platform::{
    access::auth::Authenticator, clock::Clock, grpc::limit::RateLimiter, store::db::Db,
    stores::StoreRegistry,
};
use tokio::sync::Notify;

use crate::store::CouponStore;

/// What every coupon handler needs.
pub struct CouponShared<D: Db> {
    pub coupons: CouponStore<D>,
    /// The merchant's stores (`platform::stores`).
    pub stores: StoreRegistry<D>,
    pub auth: Authenticator<D>,
    pub clock: Arc<dyn Clock>,
    pub player_limit: RateLimiter,
    /// Calls per second per till (POS key).
    pub till_limit: RateLimiter,
    /// Failed validations per till.
    pub till_guard: guard::TillGuard,
    /// The outbox worker's bearer secret for DeliverPrize.
    pub delivery_secret: Vec<u8>,
    /// Wakes the bulk-issue worker when a job starts.
    pub bulk_wakeup: Arc<Notify>,
}
