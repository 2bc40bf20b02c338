//! Transport: tonic handlers. Each handler authenticates, authorizes,
//! validates and converts the request (`convert.rs`), calls one store method,
//! and maps errors with one exhaustive function (`error.rs`). No SQL here.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod convert;
pub mod error;
pub mod export;
pub mod limit;
pub mod money;
pub mod player;
pub mod share;
pub mod stats;
pub mod vote;

use std::sync::Arc;

use prost::Message;
use tonic::{Response, Status};

use crate::{
    clock::Clock,
    store::{Outcome, Store, db::Db},
};
use auth::Authenticator;

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
    /// How long a stream waits for a client that reads nothing before it
    /// is cut (`stream_stall_secs`).
    pub stall: std::time::Duration,
}

/// Turns a store outcome into the answer: a fresh result is converted, a
/// replay returns the stored bytes of the first answer.
pub fn respond<T, R: Message + Default>(
    outcome: Outcome<T>,
    convert: impl Fn(&T) -> R,
) -> Result<Response<R>, Status> {
    match outcome {
        Outcome::Fresh(t) => Ok(Response::new(convert(&t))),
        Outcome::Replay(bytes) => R::decode(bytes.as_slice())
            .map(Response::new)
            .map_err(|e| error::internal(&e)),
    }
}

/// Records the outcome on the RPC's span (`ok` or the status code) and logs
/// one line at DEBUG with the span, so every call leaves a trace.
pub fn traced<R>(result: Result<R, Status>) -> Result<R, Status> {
    let span = tracing::Span::current();
    match &result {
        Ok(_) => {
            span.record("outcome", "ok");
            tracing::debug!("rpc done");
        }
        Err(s) => {
            span.record("outcome", tracing::field::debug(s.code()));
            tracing::debug!(code = ?s.code(), "rpc refused");
        }
    };
    result
}
