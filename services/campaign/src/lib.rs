//! Campaign engine: lucky-wheel draws with prize inventories, exact under
//! any concurrency, on SQLite (embedded default) or PostgreSQL.
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
//! - [`web`]: what browsers get on the same listener: gRPC-Web behind a
//!   CORS allow-list, and the development-only player token issuer.
//! - [`config`], [`telemetry`], [`clock`]: settings, logs, the time
//!   authority.
//!
//! [`run`] starts everything on a listener and stops when `shutdown`
//! resolves, draining calls in flight; tests call it with a port-0
//! listener and a oneshot. [`run_with`] adds more services (an
//! [`Extension`]) on the same listener, database and credentials: the whole
//! engine adds the coupon service this way (`services/engine`).

pub mod config;
pub mod delivery;
pub mod domain;
pub mod grpc;
pub mod health;
pub mod limits;
pub mod metrics;
pub mod prize_refs;
pub mod store;
pub mod web;

// Platform parts (the time authority, logs, the first admin key's and the
// seal key's files) re-exported under their old paths.
pub use platform::{
    access::{bootstrap_key, seal_key},
    clock, telemetry,
};

use std::{future::Future, sync::Arc, time::Duration};

use engine_proto::campaign::v1::{
    admin_service_server::AdminServiceServer, audit_service_server::AuditServiceServer,
    money_service_server::MoneyServiceServer, player_service_server::PlayerServiceServer,
    red_packet_service_server::RedPacketServiceServer,
    share_admin_service_server::ShareAdminServiceServer, share_service_server::ShareServiceServer,
    stats_service_server::StatsServiceServer, vote_admin_service_server::VoteAdminServiceServer,
    vote_service_server::VoteServiceServer,
};
use tokio::{net::TcpListener, sync::Notify};
use tonic::service::RoutesBuilder;

use clock::Clock;
use config::Settings;
use grpc::{
    Shared,
    admin::AdminApi,
    audit::AuditApi,
    auth::Authenticator,
    money::{MoneyApi, RedPacketApi},
    player::PlayerApi,
    share::{ShareAdminApi, ShareApi},
    stats::StatsApi,
    vote::{VoteAdminApi, VoteApi},
};
use store::{Store, StoreError, db::Db, postgres::PgDb, sqlite::SqliteDb};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("unsupported database URL {0:?}: use sqlite:<path> or postgres://...")]
    UnsupportedUrl(String),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics_listen {0}: {1}")]
    Metrics(String, std::io::Error),
    #[error("settings: {0}")]
    Settings(#[from] config::SettingsError),
    #[error("{0}")]
    SealKey(#[from] seal_key::SealKeyError),
}

/// More gRPC services served beside (or instead of) the campaign
/// services, on the same listener, database, credentials and clock.
pub trait Extension: Send + 'static {
    /// Adds services to `routes`, starts background tasks (aborted when the
    /// server stops), and names the services to report SERVING on health.
    fn install<D: Db>(self, ctx: ExtensionContext<'_, D>, routes: &mut RoutesBuilder) -> Installed;

    /// The settings section the extension reads (`[coupon]`), if any.
    fn section(&self) -> Option<&'static str> {
        None
    }

    /// Brings the extension's data up to date before it serves (for
    /// example sealing values a database from before sealing holds in the
    /// clear); a failure stops the start. Nothing by default.
    fn prepare<D: Db>(
        &self,
        ctx: &ExtensionContext<'_, D>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }
}

/// What an extension gets to build its services from.
pub struct ExtensionContext<'a, D: Db> {
    pub db: &'a D,
    /// The platform's access store over the same database: merchants, keys
    /// and token keys for an extension's authenticator.
    pub access: platform::access::AccessStore<D>,
    pub settings: &'a Settings,
    pub clock: Arc<dyn Clock>,
    /// The secret the outbox worker presents to DeliverPrize.
    pub delivery_secret: Arc<[u8]>,
    /// The development token issuer, when `dev_token_issuer` is on: an
    /// extension's authenticator accepts its player tokens too.
    pub dev_issuer: Option<Arc<domain::credential::DevIssuer>>,
    /// The key secrets at rest are sealed with (`seal_key_file`).
    pub seal_key: Arc<domain::seal::SealKey>,
}

#[derive(Default)]
pub struct Installed {
    pub serving: Vec<&'static str>,
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Counters the extension adds to `GET /metrics`, read at each scrape.
    pub counters: Vec<metrics::CounterSource>,
}

/// No extension: the campaign service alone.
pub struct CampaignOnly;

impl Extension for CampaignOnly {
    fn install<D: Db>(self, _: ExtensionContext<'_, D>, _: &mut RoutesBuilder) -> Installed {
        Installed::default()
    }
}

/// Which services one process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Services {
    /// The campaign services (and the prize delivery worker), plus the
    /// extension's.
    CampaignAndExtension,
    /// Only the extension's services (for example the coupon service run
    /// alone).
    ExtensionOnly,
}

/// Runs the campaign service alone on `listener` until `shutdown` resolves.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> Result<(), ServerError> {
    run_with(
        settings,
        listener,
        shutdown,
        clock,
        Services::CampaignAndExtension,
        CampaignOnly,
    )
    .await
}

/// Runs the chosen services on `listener` until `shutdown` resolves.
pub async fn run_with<E: Extension>(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
    services: Services,
    ext: E,
) -> Result<(), ServerError> {
    settings.warn_moved_keys();
    let campaign = services == Services::CampaignAndExtension;
    if campaign {
        // Checked here; read where it is used (`coupon_endpoint`).
        config::CampaignSettings::from_settings(&settings)?;
    }
    for name in settings.sections.keys() {
        if Some(name.as_str()) != ext.section() && !(campaign && name == config::SECTION) {
            tracing::warn!(section = %name, "settings section not read by this process");
        }
    }
    let url = settings.database_url.clone();
    if url.starts_with("sqlite:") {
        let db = SqliteDb::connect(&url).await?;
        let result = serve(
            db.clone(),
            &settings,
            listener,
            shutdown,
            clock,
            services,
            ext,
        )
        .await;
        db.close().await;
        result
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let db = PgDb::connect(&url, settings.pg_max_connections).await?;
        let result = serve(
            db.clone(),
            &settings,
            listener,
            shutdown,
            clock,
            services,
            ext,
        )
        .await;
        db.close().await;
        result
    } else {
        Err(ServerError::UnsupportedUrl(config::redact_url(&url)))
    }
}

/// The delivery secret: configured, or random for this process.
fn delivery_secret(settings: &Settings) -> Arc<[u8]> {
    if !settings.delivery_secret.is_empty() {
        return settings.delivery_secret.as_bytes().into();
    }
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
    hex::encode(raw).into_bytes().into()
}

/// The coupon service's address for the outbox worker, if any.
fn coupon_endpoint(settings: &Settings, listener: &TcpListener) -> Option<String> {
    let own = config::CampaignSettings::from_settings(settings).ok()?;
    match own.coupon_endpoint.trim() {
        "" | "none" => None,
        "self" => {
            let mut addr = listener.local_addr().ok()?;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            Some(format!("http://{addr}"))
        }
        other => Some(other.to_owned()),
    }
}

/// Assembles the server from its phases (the store, the first admin key,
/// the shared state, the routes and their background tasks), serves until
/// `shutdown` and stops the tasks.
async fn serve<D: Db, E: Extension>(
    db: D,
    settings: &Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
    services: Services,
    ext: E,
) -> Result<(), ServerError> {
    let (store, seal_key) = open_store(db.clone(), settings, clock.as_ref()).await?;
    bootstrap_admin_key(&store, settings, clock.as_ref()).await?;
    let dev_issuer = dev_issuer(settings);
    let secret = delivery_secret(settings);
    let shared = shared_state(
        &store,
        settings,
        &clock,
        dev_issuer.as_ref(),
        &secret,
        &listener,
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    let mut parts = Assembly {
        health,
        serving: Vec::new(),
        routes: RoutesBuilder::default(),
        tasks: Vec::new(),
    };
    if services == Services::CampaignAndExtension {
        parts
            .add_campaign(&shared, settings, &listener, &secret)
            .await;
    }
    let ctx = ExtensionContext {
        db: &db,
        access: store.access(),
        settings,
        clock: clock.clone(),
        delivery_secret: secret,
        dev_issuer: dev_issuer.clone(),
        seal_key,
    };
    ext.prepare(&ctx).await?;
    let installed = ext.install(ctx, &mut parts.routes);
    for name in installed.serving {
        parts.report_serving(name).await;
    }
    // From here on health follows the database (`health`).
    let Assembly {
        health,
        serving,
        mut routes,
        mut tasks,
    } = parts;
    tasks.push(health::spawn_prober(
        store.clone(),
        health.clone(),
        Arc::new(serving),
    ));
    tasks.extend(installed.tasks);
    routes.add_service(health_service);
    add_reflection(&mut routes)?;
    let origins = settings.checked_origins()?;

    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        backend = store.db().backend_name(), cors_origins = origins.len(), "campaign engine serving");
    let rpc_metrics = Arc::new(metrics::RpcMetrics::for_services(&[
        engine_proto::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ]));
    if let Some(task) =
        spawn_metrics(settings, rpc_metrics.clone(), &store, installed.counters).await?
    {
        tasks.push(task);
    }
    let dev_tokens = dev_issuer.map(|issuer| web::dev_token::DevTokenState {
        store: store.clone(),
        issuer,
        audience: settings.player_token_audience.clone(),
        clock: clock.clone(),
    });
    let app = web::app(routes.routes(), rpc_metrics, origins, dev_tokens);
    // Streams, call time, keep-alive pings: see `limits` (issue 22).
    let result = limits::server(settings)
        // HTTP/1.1 too, for gRPC-Web from browsers (HTTP/2 is detected by
        // its preface, so native gRPC is unchanged).
        .accept_http1(true)
        .add_routes(app.into())
        .serve_with_incoming_shutdown(limits::incoming(listener, settings), shutdown)
        .await;
    for t in tasks {
        t.abort();
    }
    tracing::info!("campaign engine stopped");
    Ok(result?)
}

/// The store over `db`, its secrets at rest sealed with a key outside the
/// database (`seal_key`, `store::seal`): the right one, or no start at all.
async fn open_store<D: Db>(
    db: D,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(Store<D>, Arc<domain::seal::SealKey>), ServerError> {
    let seal_path = settings.seal_key_path();
    let (seal_key, made) = seal_key::load_or_create(&seal_path)?;
    let seal_key = Arc::new(seal_key);
    let store = Store::new(db).with_seal_key(seal_key.clone());
    let sealed_now = store
        .adopt_seal_key(clock.now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Seal(why) => {
                StoreError::Seal(format!("{why} (seal key file {})", seal_path.display()))
            }
            other => other,
        })?;
    if made {
        tracing::info!(path = %seal_path.display(), "seal key made: keep it backed up apart from the database");
    }
    if sealed_now > 0 {
        tracing::info!(
            sealed = sealed_now,
            "gateway secrets kept in the clear are now sealed"
        );
    }
    Ok((store, seal_key))
}

/// Makes the default merchant and its first admin key in an empty
/// database (or recovers the key of an interrupted first start), and tells
/// the operator where the key is: written now, already there, or gone.
async fn bootstrap_admin_key<D: Db>(
    store: &Store<D>,
    settings: &Settings,
    clock: &dyn Clock,
) -> Result<(), StoreError> {
    let path = &settings.bootstrap_key_file;
    let persist = |key: &store::access::CreatedKey| {
        bootstrap_key::write_pending(path, &key.full).map_err(|e| {
            format!(
                "writing the first admin key to {}: {e} (set CAMPAIGN_BOOTSTRAP_KEY_FILE \
                 to a writable place)",
                bootstrap_key::pending_path(path).display()
            )
        })
    };
    let bootstrapped = store.bootstrap(clock.now_ms(), persist).await?;
    let recovered = match &bootstrapped {
        Some(_) => {
            bootstrap_key::publish(path).map_err(|e| {
                StoreError::Bootstrap(format!("moving the key into {}: {e}", path.display()))
            })?;
            bootstrap_key::Recovery::Nothing
        }
        None => bootstrap_key::recover(&store.access(), path).await?,
    };
    if recovered == bootstrap_key::Recovery::Recovered {
        tracing::info!(
            "recovered the first admin API key of an interrupted first start into {}",
            path.display()
        );
    }
    match bootstrapped {
        Some((merchant, key)) => {
            tracing::info!(merchant.id = %merchant, key.id = %key.record.key_id,
            "empty database: created the default merchant; first admin API key written to {}",
            path.display())
        }
        None if path.exists() => tracing::info!(
            "admin API key file: {} (written when the database was created)",
            path.display()
        ),
        None => tracing::info!(
            "admin API key file {} not found: the database had a merchant before this start, \
             whose key was written elsewhere or removed; `create-merchant NAME` makes a \
             merchant with a new admin API key",
            path.display()
        ),
    }
    Ok(())
}

/// The development token issuer with a fresh secret, when
/// `dev_token_issuer` is on.
fn dev_issuer(settings: &Settings) -> Option<Arc<domain::credential::DevIssuer>> {
    settings.dev_token_issuer.then(|| {
        let mut secret = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
        tracing::warn!(
            "DEVELOPMENT ONLY: dev_token_issuer is on: POST /dev/player-token mints player \
             tokens for anyone who reaches this port; never run it in production"
        );
        Arc::new(domain::credential::DevIssuer::new(secret))
    })
}

/// What every campaign handler shares: the authenticator, the store, the
/// clock, the player rate limit and the prize reference check.
fn shared_state<D: Db>(
    store: &Store<D>,
    settings: &Settings,
    clock: &Arc<dyn Clock>,
    dev_issuer: Option<&Arc<domain::credential::DevIssuer>>,
    secret: &[u8],
    listener: &TcpListener,
) -> Arc<Shared<D>> {
    let mut auth = Authenticator::new(
        store.access(),
        settings.player_token_audience.clone(),
        clock.clone(),
    );
    if let Some(dev) = dev_issuer {
        auth = auth.with_dev_issuer(dev.clone());
    }
    let prize_refs =
        prize_refs::PrizeReferences::new(coupon_endpoint(settings, listener).as_deref(), secret);
    Arc::new(Shared {
        auth,
        prize_refs: Arc::new(prize_refs),
        store: store.clone(),
        clock: clock.clone(),
        player_limit: grpc::limit::RateLimiter::new(
            settings.player_rate_per_sec,
            settings.player_rate_burst,
        ),
        outbox_wakeup: Arc::new(Notify::new()),
        exports: Default::default(),
        stall: Duration::from_secs(settings.stream_stall_secs.max(1).into()),
    })
}

/// The server being assembled: its routes, the names health reports
/// SERVING, and the background tasks stopped with it.
struct Assembly {
    health: tonic_health::server::HealthReporter,
    serving: Vec<&'static str>,
    routes: RoutesBuilder,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Assembly {
    /// Reports `name` SERVING on health and keeps it for the prober.
    async fn report_serving(&mut self, name: &'static str) {
        self.health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
        self.serving.push(name);
    }

    /// The campaign services, and the sweepers and prize delivery worker
    /// behind them.
    async fn add_campaign<D: Db>(
        &mut self,
        shared: &Arc<Shared<D>>,
        settings: &Settings,
        listener: &TcpListener,
        secret: &Arc<[u8]>,
    ) {
        let max = settings.max_request_bytes;
        // Each service is routed and reported SERVING in one step, so the
        // two lists cannot drift apart.
        macro_rules! serve {
            ($($server:ident($api:expr)),* $(,)?) => {$(
                let svc = $server::new($api).max_decoding_message_size(max);
                self.report_serving(name_of(&svc)).await;
                self.routes.add_service(svc);
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
        );
        let store = &shared.store;
        let clock = &shared.clock;
        self.tasks.push(spawn_sweeper(
            store.clone(),
            clock.clone(),
            settings.idempotency_retention_days,
        ));
        self.tasks
            .push(spawn_packet_expiry(store.clone(), clock.clone()));
        match coupon_endpoint(settings, listener) {
            Some(endpoint) => self.tasks.push(tokio::spawn(delivery::run_worker(
                store.clone(),
                endpoint,
                secret.clone(),
                shared.outbox_wakeup.clone(),
            ))),
            None => tracing::warn!(
                "coupon_endpoint is none: won coupon and top-up prizes wait in the outbox"
            ),
        }
    }
}

/// Reflection in both versions: v1, and v1alpha for the clients that speak
/// only it (grpcurl before 1.9, Postman, Evans, older Kreya).
fn add_reflection(routes: &mut RoutesBuilder) -> Result<(), ServerError> {
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(engine_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    routes.add_service(reflection().build_v1()?);
    routes.add_service(reflection().build_v1alpha()?);
    Ok(())
}

/// Serves `GET /metrics` on `metrics_listen`, when one is set.
async fn spawn_metrics<D: Db>(
    settings: &Settings,
    rpc_metrics: Arc<metrics::RpcMetrics>,
    store: &Store<D>,
    counters: Vec<metrics::CounterSource>,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServerError> {
    if settings.metrics_listen.is_empty() {
        return Ok(None);
    }
    let addr = &settings.metrics_listen;
    let metrics_listener = tokio::net::TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| ServerError::Metrics(addr.clone(), e))?;
    tracing::info!(addr = %addr, "metrics at GET /metrics");
    Ok(Some(tokio::spawn(metrics::serve(
        metrics_listener,
        rpc_metrics,
        store.clone(),
        counters,
    ))))
}

/// The gRPC name of a service, for its health status.
fn name_of<S: tonic::server::NamedService>(_: &S) -> &'static str {
    S::NAME
}

/// Expires due red packets every few seconds, returning their unclaimed
/// money to the budget (each exactly once; see `store::money`).
fn spawn_packet_expiry<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            match store.expire_due_packets(None, clock.now_ms()).await {
                Ok((0, _)) => {}
                Ok((n, cents)) => {
                    tracing::info!(expired = n, released_cents = cents, "red packets expired")
                }
                Err(e) => tracing::warn!(error = %e, "red packet expiry sweep failed"),
            }
        }
    })
}

/// Marks unclaimed physical prizes EXPIRED once their deadline passes, ends
/// campaigns past their window (`store::lifecycle`) and forgets stored
/// answers older than `retention_days` (`store::retention`; 0 = never),
/// every minute.
fn spawn_sweeper<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
    retention_days: u32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store.expire_unclaimed(clock.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "unclaimed prizes expired"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
            match store.end_due_campaigns(clock.now_ms(), 100).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "campaigns past their window ended"),
                Err(e) => tracing::warn!(error = %e, "window end sweep failed"),
            }
            if retention_days > 0 {
                let before = clock.now_ms() - i64::from(retention_days) * 86_400_000;
                match store.purge_idempotency(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(purged = n, "idempotency keys past retention forgotten")
                    }
                    Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
                }
            }
        }
    })
}
