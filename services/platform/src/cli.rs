//! The command line shared by the binaries (`campaign-engine`, the whole
//! engine; `campaign-service` and `coupon-service`, each alone): serve
//! (default), or run a helper command. Parsed with clap, so `--help`,
//! `--version`, `help COMMAND` and `COMMAND --help` work, and a bad command
//! line exits 2 with clap's message.
//!
//!   BIN [serve]              serve (settings: docs/settings.md)
//!   BIN create-merchant NAME create a merchant, print its admin key
//!   BIN mint-player-token ISSUER SECRET OPENID [TTL_SECONDS]
//!                            sign a player token as a gateway would
//!   BIN print-config         print an example campaign.toml

use std::{future::Future, pin::Pin, sync::Arc};

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::{
    access::AccessStore,
    clock::{Clock, FileOffsetClock, SystemClock},
    domain::credential::{PlayerClaims, sign_player_token},
    settings::{self, Settings},
    store::{postgres::PgDb, sqlite::SqliteDb},
    telemetry,
};

/// Resolves when the server should drain and stop.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

const AFTER_HELP: &str = "\
With no command it serves. Settings come from defaults, then campaign.toml
(or the file in CAMPAIGN_CONFIG), then CAMPAIGN_* environment variables;
`print-config` prints every setting with its default. On an empty database
the first start creates the default merchant and writes its first admin API
key to bootstrap_key_file (.campaign/bootstrap-admin.key, mode 0600).";

#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Start the server (the default): gRPC, gRPC-Web and health on `listen`
    ///
    /// Ctrl-C or SIGTERM drains the calls in flight and exits 0.
    Serve,
    /// Create a merchant and print its admin API key (shown once)
    ///
    /// Uses the database in the settings; the server need not be running.
    CreateMerchant {
        /// The merchant's display name
        name: String,
    },
    /// Sign a player token as a merchant's gateway would (for trying the API)
    ///
    /// The audience is the `player_token_audience` setting. Register the
    /// same ISSUER and SECRET first with AdminService/SetPlayerTokenKey.
    MintPlayerToken {
        /// The gateway's issuer name (`iss`)
        issuer: String,
        /// The gateway's HS256 secret, as text
        secret: String,
        /// The player's openid (`sub`)
        openid: String,
        /// How long the token is valid
        #[arg(default_value_t = 600)]
        ttl_seconds: i64,
    },
    /// Print an example campaign.toml with every setting and its default
    PrintConfig,
}

/// Runs the command in `std::env::args`; `serve` starts the server with
/// `run`. `bin` is the binary's name (for help and `--version`), `what`
/// names the server in the start-up banner, `sections` are the example
/// settings sections of the services it serves (for `print-config`). A
/// bad command line exits 2.
pub async fn main<F, Fut, E>(
    bin: &'static str,
    what: &str,
    sections: &[&str],
    run: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Settings, TcpListener, Shutdown, Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let about = format!("Runs the {what} (the default), or a helper command");
    let matches = Cli::command().name(bin).about(about).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command.unwrap_or(Cmd::Serve) {
        Cmd::Serve => serve(what, run).await,
        Cmd::CreateMerchant { name } => create_merchant(&name).await,
        Cmd::MintPlayerToken {
            issuer,
            secret,
            openid,
            ttl_seconds,
        } => mint(issuer, &secret, openid, ttl_seconds),
        Cmd::PrintConfig => {
            print!("{}", settings::EXAMPLE);
            for section in sections {
                print!("\n{section}");
            }
            Ok(())
        }
    }
}

async fn serve<F, Fut, E>(what: &str, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Settings, TcpListener, Shutdown, Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    telemetry::init("info");
    let settings = Settings::load()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    println!(
        "{what} listening on {} (database {})",
        listener.local_addr()?,
        settings::redact_url(&settings.database_url)
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
        AccessStore::new(SqliteDb::connect(url).await?)
            .create_merchant(name, now)
            .await?
    } else {
        AccessStore::new(PgDb::connect(url, 2).await?)
            .create_merchant(name, now)
            .await?
    };
    println!(
        "merchant {merchant}\nadmin API key (shown once): {}",
        key.full
    );
    Ok(())
}

fn mint(issuer: String, secret: &str, openid: String, ttl: i64) -> anyhow::Result<()> {
    let now = SystemClock.now_ms() / 1000;
    let audience = Settings::load()?.player_token_audience;
    let claims = PlayerClaims {
        iss: issuer,
        aud: audience,
        sub: openid,
        iat: now,
        exp: now + ttl,
    };
    println!("{}", sign_player_token(secret.as_bytes(), &claims));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().name("campaign-engine").debug_assert();
        let cli = Cli::try_parse_from(["campaign-engine", "mint-player-token", "gw", "s", "alice"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Some(Cmd::MintPlayerToken {
                ttl_seconds: 600,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["campaign-engine"]).is_ok_and(|c| c.command.is_none()));
    }
}
