//! The platform under the engine's services: what every service shares and
//! no activity owns. The campaign and coupon services are peers on top of
//! it; `services/engine` composes them.
//!
//! - [`domain`]: shared rules, pure (time, invalid fields, idempotency
//!   keys, API keys and player tokens, sealing secrets at rest).
//! - [`clock`]: the time authority (real, or moved by tests and the fault
//!   suite).
//! - [`telemetry`]: the log subscriber.
//!
//! The database seam, the idempotency protocol's storage and the gRPC
//! plumbing still live in the campaign crate (issue 23 moves them here in
//! steps).

pub mod clock;
pub mod domain;
pub mod telemetry;
