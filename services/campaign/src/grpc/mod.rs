//! Transport: tonic handlers. Each handler authenticates, authorizes,
//! validates and converts the request (`convert.rs`), calls one store method,
//! and maps errors with one exhaustive function (`error.rs`). No SQL here.

mod activity;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod convert;
pub mod error;
pub mod events;
pub mod export;
mod list;
pub mod money;
pub mod player;
pub mod raffle;
pub mod share;
mod shipping;
pub mod stats;
pub mod stores;
pub mod vote;
pub mod webhooks;

use std::sync::Arc;

use crate::{
    clock::Clock,
    store::{Store, db::Db},
};
use auth::Authenticator;

// The plumbing every service's handlers share lives in the platform crate;
// re-exported under its old paths.
pub use platform::grpc::{limit, respond, traced};

/// What every handler needs.
pub struct Shared<D: Db> {
    pub store: Store<D>,
    pub auth: Authenticator<D>,
    pub clock: Arc<dyn Clock>,
    /// Per-player request rate.
    pub player_limit: limit::RateLimiter,
    /// Wakes the prize delivery worker after a coupon or top-up win.
    pub outbox_wakeup: Arc<tokio::sync::Notify>,
    /// Whether a coupon or top-up prize names a template or pool of the
    /// merchant (asked of the coupon service).
    pub prize_refs: Arc<crate::prize_refs::PrizeReferences>,
    /// The exports running now (`export`).
    pub exports: export::ExportBudget,
    /// The event streams open now (`events`).
    pub event_streams: events::StreamBudget,
    /// The webhook client (TestWebhookEndpoint; the workers share it).
    pub webhooks: crate::webhooks::Sender,
    /// How long a stream waits for a client that reads nothing before it
    /// is cut (`stream_stall_secs`).
    pub stall: std::time::Duration,
}
