//! Coupon service: templates, codes, issuance (claims, won prizes, bulk
//! print jobs, supplier code pools), and the POS: validate, redeem exactly
//! once, reverse on refund.
//!
//! # Layout
//! - [`grpc`]: transport, four tonic services (admin, player, POS, and the
//!   delivery endpoint the campaign service's outbox worker calls).
//! - [`domain`]: pure rules: codes and their check character, templates,
//!   discounts, validity.
//! - [`store`]: every coupon transaction over the platform's `Db` seam, so
//!   SQLite and PostgreSQL run the same SQL.
//!
//! The service shares the database and credentials of the campaign
//! service (checked by the platform's authenticator, `platform::access`),
//! reads its own settings section (`[coupon]`, [`config`]) and owns its
//! tables (`coupon_*`, `code_pool`, `pool_code`). [`CouponModule`] is a
//! `platform::server::Module`, a peer of the campaign service's: the whole
//! engine serves both on one listener (`services/engine`); [`run_alone`]
//! serves it by itself.

pub mod config;
pub mod domain;
pub mod grpc;
pub mod store;

use std::{future::Future, sync::Arc, time::Duration};

use engine_proto::coupon::v1::{
    coupon_admin_service_server::CouponAdminServiceServer,
    coupon_delivery_service_server::CouponDeliveryServiceServer,
    coupon_player_service_server::CouponPlayerServiceServer,
    coupon_pos_service_server::CouponPosServiceServer,
};
use platform::{
    clock::Clock,
    grpc::limit::RateLimiter,
    server::{Installed, Module, ModuleContext, ServerError},
    settings::{Settings, SettingsError},
    store::{StoreError, db::Db},
    stores::StoreRegistry,
};
use tokio::{net::TcpListener, sync::Notify};
use tonic::{server::NamedService, service::RoutesBuilder};

use config::CouponSettings;
use domain::{target::TargetJobState, vault::CodeVault};
use grpc::{
    CouponShared, admin::AdminApi, delivery::DeliveryApi, guard::TillGuard, player::PlayerApi,
    pos::PosApi,
};
use store::{CouponStore, JobState};

/// Admin calls carry bulk imports (up to 10,000 codes): a larger limit than
/// the player and POS calls.
const ADMIN_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The coupon service, to install on the platform's server, with its
/// settings (`config`).
pub struct CouponModule {
    pub settings: CouponSettings,
}

impl CouponModule {
    /// The module with the `[coupon]` section of `settings`.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        Ok(Self {
            settings: CouponSettings::from_settings(settings)?,
        })
    }
}

/// The codes' vault, from the engine's seal key.
fn vault<D: Db>(ctx: &ModuleContext<'_, D>) -> Arc<CodeVault> {
    Arc::new(CodeVault::new(ctx.seal_key.clone()))
}

impl Module for CouponModule {
    /// Codes a database from before sealing holds in the clear are sealed
    /// before the first till can look one up.
    async fn prepare<D: Db>(&self, ctx: &ModuleContext<'_, D>) -> Result<(), StoreError> {
        let store = CouponStore::new(ctx.db.clone(), vault(ctx));
        let converted = store.seal_codes_in_the_clear().await?;
        if converted > 0 {
            tracing::info!(
                converted,
                "coupon and supplier codes kept in the clear are now sealed"
            );
        }
        Ok(())
    }

    fn sections(&self) -> Vec<&'static str> {
        vec![config::SECTION]
    }

    fn install<D: Db>(self, ctx: &ModuleContext<'_, D>, routes: &mut RoutesBuilder) -> Installed {
        let settings = ctx.settings;
        let bulk_wakeup = Arc::new(Notify::new());
        let shared = Arc::new(CouponShared {
            coupons: CouponStore::new(ctx.db.clone(), vault(ctx)),
            stores: StoreRegistry::new(ctx.db.clone()),
            auth: ctx.authenticator(),
            clock: ctx.clock.clone(),
            player_limit: RateLimiter::new(
                settings.player_rate_per_sec,
                settings.player_rate_burst,
            ),
            till_limit: RateLimiter::new(
                self.settings.till_rate_per_sec,
                self.settings.till_rate_burst,
            ),
            till_guard: TillGuard::new(
                self.settings.till_failure_limit,
                i64::from(self.settings.till_failure_window_secs) * 1000,
            ),
            delivery_secret: ctx.delivery_secret.to_vec(),
            bulk_wakeup: bulk_wakeup.clone(),
        });
        let max = settings.max_request_bytes;
        routes
            .add_service(
                CouponAdminServiceServer::new(AdminApi::new(shared.clone()))
                    .max_decoding_message_size(ADMIN_MAX_REQUEST_BYTES.max(max)),
            )
            .add_service(
                CouponPlayerServiceServer::new(PlayerApi::new(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                CouponPosServiceServer::new(PosApi::new(shared.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                CouponDeliveryServiceServer::new(DeliveryApi::new(shared.clone()))
                    .max_decoding_message_size(max),
            );
        let counted = shared.coupons.clone();
        let worker = tokio::spawn(run_bulk_worker(
            shared.coupons.clone(),
            ctx.clock.clone(),
            bulk_wakeup,
        ));
        Installed {
            serving: vec![
                <CouponAdminServiceServer<AdminApi<D>> as NamedService>::NAME,
                <CouponPlayerServiceServer<PlayerApi<D>> as NamedService>::NAME,
                <CouponPosServiceServer<PosApi<D>> as NamedService>::NAME,
                <CouponDeliveryServiceServer<DeliveryApi<D>> as NamedService>::NAME,
            ],
            tasks: vec![worker],
            counters: vec![Arc::new(move || counted.counters())],
            descriptor_sets: vec![engine_proto::FILE_DESCRIPTOR_SET],
            ..Installed::default()
        }
    }
}

/// Issues the coupons of RUNNING bulk jobs, batch by batch; resumes jobs
/// left running by a restart. Repeated failures of one job mark it FAILED
/// and give back its unissued supply. Then the targeted issue jobs.
async fn run_bulk_worker<D: Db>(
    coupons: CouponStore<D>,
    clock: Arc<dyn Clock>,
    wakeup: Arc<Notify>,
) {
    loop {
        let jobs = match coupons.running_jobs().await {
            Ok(j) => j,
            Err(e) => {
                tracing::warn!(error = %e, "listing bulk issue jobs failed");
                Vec::new()
            }
        };
        for job in jobs {
            let mut failures = 0u32;
            loop {
                match coupons.bulk_issue_step(&job, clock.now_ms()).await {
                    Ok(j) if j.state == JobState::Running => failures = 0,
                    Ok(j) => {
                        tracing::info!(job.id = %job, issued = j.issued, state = j.state.as_str(),
                            "bulk issue job finished");
                        break;
                    }
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(job.id = %job, error = %e, failures, "bulk issue batch failed");
                        if failures >= 5 {
                            if let Err(e) =
                                coupons.fail_job(&job, &e.to_string(), clock.now_ms()).await
                            {
                                tracing::warn!(job.id = %job, error = %e, "marking the job failed");
                            }
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200 << failures)).await;
                    }
                }
            }
        }
        run_targeted_jobs(&coupons, clock.as_ref()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), wakeup.notified()).await;
    }
}

/// Decides the targets of RUNNING targeted issue jobs, batch by batch
/// (`store::target`); resumes jobs left running by a restart. Repeated
/// failures of one job mark it FAILED (its undecided targets stay PENDING).
async fn run_targeted_jobs<D: Db>(coupons: &CouponStore<D>, clock: &dyn Clock) {
    let jobs = match coupons.running_targeted_jobs().await {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "listing targeted issue jobs failed");
            Vec::new()
        }
    };
    for job in jobs {
        let mut failures = 0u32;
        loop {
            match coupons.targeted_issue_step(&job, clock.now_ms()).await {
                Ok(j) if j.state == TargetJobState::Running => failures = 0,
                Ok(j) => {
                    tracing::info!(job.id = %job, issued = j.issued, refused = j.refused,
                        state = j.state.as_str(), "targeted issue job finished");
                    break;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(job.id = %job, error = %e, failures, "targeted issue batch failed");
                    if failures >= 5 {
                        if let Err(e) = coupons
                            .fail_targeted_job(&job, &e.to_string(), clock.now_ms())
                            .await
                        {
                            tracing::warn!(job.id = %job, error = %e, "marking the job failed");
                        }
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200 << failures)).await;
                }
            }
        }
    }
}

/// The coupon service alone (a campaign service elsewhere delivers prizes
/// to it with the shared `delivery_secret`).
pub async fn run_alone(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    let coupon = CouponModule::from_settings(&settings)?;
    platform::server::run_with(settings, listener, shutdown, clock, coupon).await
}
