//! The command line shared by the binaries (`campaign-engine`, the whole
//! engine; `campaign-service` and `coupon-service`, each alone): serve
//! (default), or run a helper command.
//!
//!   BIN                      serve (settings: README "Settings")
//!   BIN create-merchant NAME create a merchant, print its admin key
//!   BIN mint-player-token ISSUER SECRET OPENID [TTL_SECONDS]
//!                            sign a player token as a gateway would
//!   BIN print-config         print an example campaign.toml

use std::{future::Future, pin::Pin, sync::Arc};

use anyhow::{Context, bail};
use tokio::net::TcpListener;

use crate::{
    ServerError,
    clock::{Clock, FileOffsetClock, SystemClock},
    config::{self, Settings},
    domain::credential::{PlayerClaims, sign_player_token},
    store::{Store, postgres::PgDb, sqlite::SqliteDb},
    telemetry,
};

/// Resolves when the server should drain and stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs the command in `std::env::args`; `serve` starts the server with
/// `run`. `what` names the server in the start-up banner.
pub async fn main<F, Fut>(what: &str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Settings, TcpListener, Shutdown, Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Result<(), ServerError>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve(what, run).await,
        Some("create-merchant") => {
            create_merchant(args.get(1).context("usage: create-merchant NAME")?).await
        }
        Some("mint-player-token") => mint(&args[1..]),
        Some("print-config") => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}; see the README"),
    }
}

async fn serve<F, Fut>(what: &str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Settings, TcpListener, Shutdown, Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Result<(), ServerError>>,
{
    telemetry::init("info");
    let settings = Settings::load()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    println!(
        "{what} listening on {} (database {})",
        listener.local_addr()?,
        config::redact_url(&settings.database_url)
    );
    println!(
        "first admin API key: written to {} when the database is new; \
         `create-merchant NAME` makes another merchant with its own key",
        settings.bootstrap_key_file.display()
    );
    run(settings, listener, Box::pin(shutdown_signal()), clock()).await?;
    Ok(())
}

/// The wall clock, or for fault testing only, the wall clock moved by the
/// offset in `CAMPAIGN_FAULT_CLOCK_FILE` (the fault suite jumps it
/// backwards and across midnight through the real binary).
fn clock() -> Arc<dyn Clock> {
    match std::env::var_os("CAMPAIGN_FAULT_CLOCK_FILE") {
        Some(path) if !path.is_empty() => {
            tracing::warn!(
                "CAMPAIGN_FAULT_CLOCK_FILE is set: the clock follows an offset file \
                 (fault testing only, never in production)"
            );
            Arc::new(FileOffsetClock::follow(path.into()))
        }
        _ => Arc::new(SystemClock),
    }
}

/// Resolves on Ctrl-C or SIGTERM; the server then drains calls in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested; draining calls in flight");
}

async fn create_merchant(name: &str) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let now = SystemClock.now_ms();
    let url = &settings.database_url;
    let (merchant, key) = if url.starts_with("sqlite:") {
        Store::new(SqliteDb::connect(url).await?)
            .create_merchant(name, now)
            .await?
    } else {
        Store::new(PgDb::connect(url, 2).await?)
            .create_merchant(name, now)
            .await?
    };
    println!(
        "merchant {merchant}\nadmin API key (shown once): {}",
        key.full
    );
    Ok(())
}

fn mint(args: &[String]) -> anyhow::Result<()> {
    let [issuer, secret, openid, rest @ ..] = args else {
        bail!("usage: mint-player-token ISSUER SECRET OPENID [TTL_SECONDS]");
    };
    let ttl: i64 = rest.first().map(|t| t.parse()).transpose()?.unwrap_or(600);
    let now = SystemClock.now_ms() / 1000;
    let audience = Settings::load()?.player_token_audience;
    let claims = PlayerClaims {
        iss: issuer.clone(),
        aud: audience,
        sub: openid.clone(),
        iat: now,
        exp: now + ttl,
    };
    println!("{}", sign_player_token(secret.as_bytes(), &claims));
    Ok(())
}
