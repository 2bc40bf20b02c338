//! The campaign's HTTP routes on the gRPC listener, beside gRPC-Web and
//! the CORS allow-list in front of everything (both the platform's,
//! `platform::server::web`):
//!
//! - [`assets`]: the marketing console (`/console/`) and the H5 demo
//!   (`/h5/`), embedded from `web/`;
//! - [`dev_token`]: `POST /dev/player-token`, the development-only player
//!   token issuer (a token at a campaign's merchant); it mints only when
//!   `dev_token_issuer` is on, and answers 404 "off" otherwise.

pub mod assets;
pub mod dev_token;

use crate::store::db::Db;
use dev_token::DevTokenState;

/// The campaign's routes: the dev token issuer (minting when `dev` is
/// given) and the pages.
pub fn routes<D: Db>(dev: Option<DevTokenState<D>>) -> axum::Router {
    let router = match dev {
        Some(state) => axum::Router::new()
            .route(
                "/dev/player-token",
                axum::routing::post(dev_token::mint::<D>),
            )
            .with_state(state),
        None => axum::Router::new().route("/dev/player-token", axum::routing::post(dev_token::off)),
    };
    router.merge(assets::routes())
}
