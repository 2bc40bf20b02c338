//! The server every binary runs: one listener, one database, the shared
//! credentials and clock, and the [`Module`]s installed on them (the
//! campaign service's, the coupon service's, or both as a pair).
//!
//! [`run_with`] connects the database named by the settings' URL and
//! serves until `shutdown` resolves, draining calls in flight; tests call
//! it (through each service's `run`) with a port-0 listener and a oneshot.
//! In order, the assembly:
//!
//! - [`startup`]: adopts the seal key, makes the first admin key of an
//!   empty database, turns on the development token issuer when asked;
//! - [`module`]: prepares, then installs, the modules;
//! - [`health`]: reports the modules' services SERVING, then follows the
//!   database (a prober through the `Db` seam); reflection (v1 and
//!   v1alpha) of the modules' descriptors;
//! - [`metrics`]: every RPC counted and timed, and `GET /metrics` on
//!   `metrics_listen` with the modules' counters and figures;
//! - [`web`]: gRPC-Web and the CORS allow-list, the modules' HTTP routes;
//! - [`limits`]: the bounds on what one client can hold open.

pub mod health;
pub mod limits;
pub mod metrics;
pub mod module;
pub mod startup;
pub mod web;

#[cfg(test)]
mod tests;

pub use module::{Installed, Module, ModuleContext};

use std::{future::Future, sync::Arc};

use tokio::{net::TcpListener, task::JoinHandle};
use tonic::service::RoutesBuilder;

use crate::{
    access::seal_key,
    clock::Clock,
    settings::{Settings, SettingsError, redact_url},
    store::{StoreError, db::Db, postgres::PgDb, sqlite::SqliteDb},
};

/// Why the server did not start, or stopped.
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
    Settings(#[from] SettingsError),
    #[error("{0}")]
    SealKey(#[from] seal_key::SealKeyError),
}

/// Runs `module` on `listener` until `shutdown` resolves, over the
/// database of `settings.database_url` (SQLite or PostgreSQL).
pub async fn run_with<M: Module>(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
    module: M,
) -> Result<(), ServerError> {
    settings.warn_moved_keys();
    let read = module.sections();
    for name in settings.sections.keys() {
        if !read.contains(&name.as_str()) {
            tracing::warn!(section = %name, "settings section not read by this process");
        }
    }
    let url = settings.database_url.clone();
    if url.starts_with("sqlite:") {
        let db = SqliteDb::connect(&url).await?;
        let result = serve(db.clone(), &settings, listener, shutdown, clock, module).await;
        db.close().await;
        result
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let db = PgDb::connect(&url, settings.pg_max_connections).await?;
        let result = serve(db.clone(), &settings, listener, shutdown, clock, module).await;
        db.close().await;
        result
    } else {
        Err(ServerError::UnsupportedUrl(redact_url(&url)))
    }
}

/// Background tasks, aborted when the server stops or fails to start.
struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Assembles the server from its phases (the seal key and the first admin
/// key, the modules, health, reflection, metrics, the browsers' side),
/// serves until `shutdown` and stops the tasks.
async fn serve<D: Db, M: Module>(
    db: D,
    settings: &Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
    module: M,
) -> Result<(), ServerError> {
    let (access, seal_key) = startup::open_access(db.clone(), settings, clock.as_ref()).await?;
    startup::bootstrap_admin_key(&access, settings, clock.as_ref()).await?;
    let ctx = ModuleContext {
        db: &db,
        access,
        settings,
        clock: clock.clone(),
        delivery_secret: startup::delivery_secret(settings),
        dev_issuer: startup::dev_issuer(settings),
        seal_key,
        local_addr: listener.local_addr().ok(),
    };
    module.prepare(&ctx).await?;
    let mut routes = RoutesBuilder::default();
    let installed = module.install(&ctx, &mut routes);
    let mut tasks = Tasks(installed.tasks);

    let (health, health_service) = tonic_health::server::health_reporter();
    for name in &installed.serving {
        health
            .set_service_status(*name, tonic_health::ServingStatus::Serving)
            .await;
    }
    // From here on health follows the database (`health`).
    let serving = Arc::new(installed.serving);
    tasks
        .0
        .push(health::spawn_prober(db.clone(), health, serving));
    routes.add_service(health_service);
    let descriptor_sets = served_descriptor_sets(installed.descriptor_sets);
    add_reflection(&mut routes, &descriptor_sets)?;
    let origins = settings.checked_origins()?;

    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(),
        backend = db.backend_name(), cors_origins = origins.len(), "campaign engine serving");
    let rpc_metrics = Arc::new(metrics::RpcMetrics::for_services(&descriptor_sets));
    let sources = metrics::Sources {
        counters: installed.counters,
        scrapes: installed.scrapes,
    };
    if let Some(task) = metrics::spawn(settings, rpc_metrics.clone(), &db, sources).await? {
        tasks.0.push(task);
    }
    let app = web::app(routes.routes(), rpc_metrics, origins, installed.router);
    // Streams, call time, keep-alive pings: see `limits` (issue 22).
    let result = limits::server(settings)
        // HTTP/1.1 too, for gRPC-Web from browsers (HTTP/2 is detected by
        // its preface, so native gRPC is unchanged).
        .accept_http1(true)
        .add_routes(app.into())
        .serve_with_incoming_shutdown(limits::incoming(listener, settings), shutdown)
        .await;
    drop(tasks);
    tracing::info!("campaign engine stopped");
    Ok(result?)
}

/// The modules' descriptor sets, each once (two modules may serve from the
/// same one), then health's.
fn served_descriptor_sets(from_modules: Vec<&'static [u8]>) -> Vec<&'static [u8]> {
    let mut sets: Vec<&'static [u8]> = Vec::new();
    for set in from_modules
        .into_iter()
        .chain([tonic_health::pb::FILE_DESCRIPTOR_SET])
    {
        if !sets.contains(&set) {
            sets.push(set);
        }
    }
    sets
}

/// Reflection in both versions: v1, and v1alpha for the clients that speak
/// only it (grpcurl before 1.9, Postman, Evans, older Kreya).
fn add_reflection(routes: &mut RoutesBuilder, sets: &[&'static [u8]]) -> Result<(), ServerError> {
    let reflection = || {
        sets.iter().fold(
            tonic_reflection::server::Builder::configure(),
            |builder, set| builder.register_encoded_file_descriptor_set(set),
        )
    };
    routes.add_service(reflection().build_v1()?);
    routes.add_service(reflection().build_v1alpha()?);
    Ok(())
}
