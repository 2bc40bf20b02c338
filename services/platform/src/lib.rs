//! The platform under the engine's services: what every service shares and
//! no activity owns. The campaign and coupon services are peers on top of
//! it; `services/engine` composes them.
//!
//! - [`domain`]: shared rules, pure (time, invalid fields, idempotency
//!   keys, API keys and player tokens, sealing secrets at rest, the audit
//!   chain's hash).
//! - [`clock`]: the time authority (real, or moved by tests and the fault
//!   suite).
//! - [`store`]: the database seam and its two backends, rows defined once
//!   for every backend, batching, the store's error and the idempotency
//!   protocol.
//! - [`grpc`]: how the store's errors become gRPC statuses.
//! - [`access`]: who may call: merchants and API keys, player-token keys
//!   and their secrets sealed at rest, the authenticator and its
//!   principals, the admin audit chain ([`access::AccessStore`]), the first
//!   admin key's and the seal key's files.
//! - [`stores`]: the merchant's stores as entities, which POS keys and
//!   coupon templates name.
//! - [`telemetry`]: the log subscriber.
//! - [`settings`]: the settings every service shares, and the services'
//!   own sections as written (each service reads its own).
//! - [`cli`]: the command line every binary shares (serve, and the helper
//!   commands).
//! - [`server`]: the server every binary runs: the listener and its
//!   limits, health, reflection, metrics, gRPC-Web and CORS, and the
//!   services installed on it as [`server::Module`]s.

pub mod access;
pub mod cli;
pub mod clock;
pub mod domain;
pub mod grpc;
pub mod server;
pub mod settings;
pub mod store;
pub mod stores;
pub mod telemetry;
