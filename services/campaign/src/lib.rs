//! Campaign service: lucky-wheel draws with prize inventories, exact under
//! any concurrency, red packets, voting, forward-to-Moments rewards and
//! statistics, on SQLite (embedded default) or PostgreSQL. A module of the
//! platform's server (`platform::server`), a peer of the coupon service.
//!
//! # Layout
//! - [`grpc`]: transport. tonic handlers authenticate the caller
//!   ([`grpc::auth`]), validate and convert the request
//!   ([`grpc::convert`]), call one store method, map errors to a status
//!   ([`grpc::error`]).
//! - [`domain`]: pure rules: slot validation, the life cycle, the
//!   campaign's day, the roll, credentials, idempotency keys. No I/O.
//! - [`store`]: every transaction, written once over the [`store::db::Db`]
//!   seam, with one module per backend ([`store::sqlite`],
//!   [`store::postgres`]).
//! - [`module`]: the service as a `platform::server::Module`
//!   ([`CampaignModule`]): its services, [`sweepers`], the prize
//!   [`delivery`] worker, its [`metrics`] figures and its [`web`] routes
//!   (the pages and the development-only player token issuer).
//! - [`config`]: its settings section (`[campaign]`); the settings every
//!   service shares are the platform's.
//!
//! [`run`] serves the campaign service alone on a listener and stops when
//! `shutdown` resolves, draining calls in flight; tests call it with a
//! port-0 listener and a oneshot. The whole engine installs
//! [`CampaignModule`] beside the coupon service's (`services/engine`).

pub mod config;
pub mod delivery;
pub mod domain;
pub mod grpc;
pub mod metrics;
pub mod module;
pub mod prize_refs;
pub mod store;
pub mod sweepers;
pub mod web;
pub mod webhooks;

// Platform parts (the time authority, logs, the first admin key's and the
// seal key's files, the server's error) re-exported under their old paths.
pub use platform::{
    access::{bootstrap_key, seal_key},
    clock,
    server::ServerError,
    telemetry,
};

pub use module::CampaignModule;

use std::{future::Future, sync::Arc};

use tokio::net::TcpListener;

use clock::Clock;
use config::Settings;

/// Runs the campaign service alone on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    let module = CampaignModule::from_settings(&settings)?;
    platform::server::run_with(settings, listener, shutdown, clock, module).await
}
