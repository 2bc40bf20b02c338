//! The campaign service as a module of the platform's server
//! (`platform::server::Module`): its twelve gRPC services, the sweepers and
//! the prize delivery worker behind them, its figures on `GET /metrics`,
//! and its pages and development token issuer on the listener.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use engine_proto::campaign::v1::{
    admin_service_server::AdminServiceServer, audit_service_server::AuditServiceServer,
    event_service_server::EventServiceServer, money_service_server::MoneyServiceServer,
    player_service_server::PlayerServiceServer,
    raffle_admin_service_server::RaffleAdminServiceServer,
    red_packet_service_server::RedPacketServiceServer,
    share_admin_service_server::ShareAdminServiceServer, share_service_server::ShareServiceServer,
    stats_service_server::StatsServiceServer, store_admin_service_server::StoreAdminServiceServer,
    vote_admin_service_server::VoteAdminServiceServer, vote_service_server::VoteServiceServer,
    webhook_admin_service_server::WebhookAdminServiceServer,
};
use platform::server::{Installed, Module, ModuleContext, metrics::BoxFuture};
use tokio::sync::Notify;
use tonic::service::RoutesBuilder;

use crate::{
    config::{self, CampaignSettings, Settings, SettingsError},
    delivery,
    grpc::{
        Shared,
        admin::AdminApi,
        audit::AuditApi,
        events::EventApi,
        money::{MoneyApi, RedPacketApi},
        player::PlayerApi,
        raffle::RaffleApi,
        share::{ShareAdminApi, ShareApi},
        stats::StatsApi,
        stores::StoresApi,
        vote::{VoteAdminApi, VoteApi},
        webhooks::WebhookApi,
    },
    metrics, prize_refs,
    store::Store,
    store::db::Db,
    sweepers, web,
};

/// The campaign service, to install on the platform's server, with its
/// settings (`[campaign]`).
pub struct CampaignModule {
    pub settings: CampaignSettings,
}

impl CampaignModule {
    /// The module with the `[campaign]` section of `settings`.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        Ok(Self {
            settings: CampaignSettings::from_settings(settings)?,
        })
    }

    /// The coupon service's address for the outbox worker and the prize
    /// checks, if any: `self` is this server's own listener.
    fn coupon_endpoint(&self, local_addr: Option<SocketAddr>) -> Option<String> {
        match self.settings.coupon_endpoint.trim() {
            "" | "none" => None,
            "self" => {
                let mut addr = local_addr?;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                Some(format!("http://{addr}"))
            }
            other => Some(other.to_owned()),
        }
    }
}

impl Module for CampaignModule {
    fn sections(&self) -> Vec<&'static str> {
        vec![config::SECTION]
    }

    fn install<D: Db>(self, ctx: &ModuleContext<'_, D>, routes: &mut RoutesBuilder) -> Installed {
        let store = Store::new(ctx.db.clone()).with_seal_key(ctx.seal_key.clone());
        let endpoint = self.coupon_endpoint(ctx.local_addr);
        let sender = crate::webhooks::Sender::new(self.settings.webhook_allow_private);
        let shared = shared_state(&store, ctx, endpoint.as_deref(), sender.clone());
        let serving = add_services(routes, &shared, ctx.settings.max_request_bytes);
        let mut tasks = vec![
            sweepers::spawn_sweeper(
                store.clone(),
                ctx.clock.clone(),
                ctx.settings.idempotency_retention_days,
            ),
            sweepers::spawn_packet_expiry(store.clone(), ctx.clock.clone()),
            sweepers::spawn_publisher(store.clone(), ctx.clock.clone(), shared.prize_refs.clone()),
            sweepers::spawn_sequencer(store.clone(), ctx.clock.clone()),
            crate::webhooks::spawn(
                store.clone(),
                ctx.clock.clone(),
                sender,
                crate::webhooks::WebhookConfig {
                    retry_window_ms: i64::from(self.settings.webhook_retry_hours) * 3_600_000,
                    concurrency: self.settings.webhook_concurrency as usize,
                    backoff_cap_ms: i64::from(self.settings.webhook_backoff_cap_secs) * 1000,
                },
            ),
        ];
        match endpoint {
            Some(endpoint) => tasks.push(tokio::spawn(delivery::run_worker(
                store.clone(),
                endpoint,
                ctx.delivery_secret.clone(),
                shared.outbox_wakeup.clone(),
            ))),
            None => tracing::warn!(
                "coupon_endpoint is none: won coupon and top-up prizes wait in the outbox"
            ),
        }
        let dev_tokens = ctx
            .dev_issuer
            .clone()
            .map(|issuer| web::dev_token::DevTokenState {
                store: store.clone(),
                issuer,
                audience: ctx.settings.player_token_audience.clone(),
                clock: ctx.clock.clone(),
            });
        let counted = store.clone();
        let figures = store.clone();
        Installed {
            serving,
            tasks,
            counters: vec![Arc::new(move || counted.draw_batch_counters())],
            scrapes: vec![Arc::new(move || -> BoxFuture<String> {
                let store = figures.clone();
                Box::pin(async move { metrics::render(&store).await })
            })],
            descriptor_sets: vec![engine_proto::FILE_DESCRIPTOR_SET],
            router: web::routes(dev_tokens),
        }
    }
}

/// What every campaign handler shares: the authenticator, the store, the
/// clock, the player rate limit and the prize reference check.
fn shared_state<D: Db>(
    store: &Store<D>,
    ctx: &ModuleContext<'_, D>,
    coupon_endpoint: Option<&str>,
    webhooks: crate::webhooks::Sender,
) -> Arc<Shared<D>> {
    let settings = ctx.settings;
    let prize_refs = prize_refs::PrizeReferences::new(coupon_endpoint, &ctx.delivery_secret);
    Arc::new(Shared {
        auth: ctx.authenticator(),
        prize_refs: Arc::new(prize_refs),
        store: store.clone(),
        clock: ctx.clock.clone(),
        player_limit: crate::grpc::limit::RateLimiter::new(
            settings.player_rate_per_sec,
            settings.player_rate_burst,
        ),
        outbox_wakeup: Arc::new(Notify::new()),
        exports: Default::default(),
        event_streams: Default::default(),
        webhooks,
        stall: Duration::from_secs(settings.stream_stall_secs.max(1).into()),
    })
}

/// The campaign services on `routes`; their names, for health.
fn add_services<D: Db>(
    routes: &mut RoutesBuilder,
    shared: &Arc<Shared<D>>,
    max: usize,
) -> Vec<&'static str> {
    let mut serving = Vec::new();
    // Each service is routed and named for health in one step, so the two
    // lists cannot drift apart.
    macro_rules! serve {
        ($($server:ident($api:expr)),* $(,)?) => {$(
            let svc = $server::new($api).max_decoding_message_size(max);
            serving.push(name_of(&svc));
            routes.add_service(svc);
        )*};
    }
    serve!(
        AdminServiceServer(AdminApi::new(shared.clone())),
        AuditServiceServer(AuditApi::new(shared.clone())),
        PlayerServiceServer(PlayerApi::new(shared.clone())),
        MoneyServiceServer(MoneyApi::new(shared.clone())),
        RedPacketServiceServer(RedPacketApi::new(shared.clone())),
        VoteAdminServiceServer(VoteAdminApi::new(shared.clone())),
        VoteServiceServer(VoteApi::new(shared.clone())),
        ShareAdminServiceServer(ShareAdminApi::new(shared.clone())),
        ShareServiceServer(ShareApi::new(shared.clone())),
        StatsServiceServer(StatsApi::new(shared.clone())),
        StoreAdminServiceServer(StoresApi::new(shared.clone())),
        RaffleAdminServiceServer(RaffleApi::new(shared.clone())),
        EventServiceServer(EventApi::new(shared.clone())),
        WebhookAdminServiceServer(WebhookApi::new(shared.clone())),
    );
    serving
}

/// The gRPC name of a service, for its health status.
fn name_of<S: tonic::server::NamedService>(_: &S) -> &'static str {
    S::NAME
}
