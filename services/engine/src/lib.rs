//! The whole campaign engine in one process: the campaign and the coupon
//! services, peers on the platform's server (`platform::server`), on one
//! listener, with the prize outbox delivering to this same process
//! (`coupon_endpoint = "self"`). The `campaign-engine` binary is
//! `main.rs`; the tests, the fuzz targets and the load generator start the
//! engine in-process with [`run_engine`].

use std::{future::Future, sync::Arc};

use campaign::CampaignModule;
use coupon::CouponModule;
use platform::{clock::Clock, server::ServerError, settings::Settings};
use tokio::net::TcpListener;

/// The example sections of the services the engine serves, for
/// `print-config`.
pub const SECTIONS: [&str; 2] = [campaign::config::EXAMPLE, coupon::config::EXAMPLE];

/// The whole engine: campaign and coupon services on one listener.
pub async fn run_engine(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    let modules = (
        CampaignModule::from_settings(&settings)?,
        CouponModule::from_settings(&settings)?,
    );
    platform::server::run_with(settings, listener, shutdown, clock, modules).await
}
