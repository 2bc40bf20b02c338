//! `campaign-engine`: starts the engine (default), or runs a helper command.
//!
//!   campaign-engine                      serve (settings: README "Settings")
//!   campaign-engine create-merchant NAME create a merchant, print its admin key
//!   campaign-engine mint-player-token ISSUER SECRET OPENID [TTL_SECONDS]
//!                                        sign a player token as a gateway would
//!   campaign-engine print-config         print an example campaign.toml

use std::sync::Arc;

use anyhow::{Context, bail};
use campaign::{
    clock::{Clock, SystemClock},
    config::{self, Settings},
    domain::credential::{PlayerClaims, sign_player_token},
    store::{Store, postgres::PgDb, sqlite::SqliteDb},
    telemetry,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => serve().await,
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

async fn serve() -> anyhow::Result<()> {
    telemetry::init("info");
    let settings = Settings::load()?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    println!(
        "campaign engine listening on {} (database {})",
        listener.local_addr()?,
        config::redact_url(&settings.database_url)
    );
    println!(
        "first admin API key: written to {} when the database is new; \
         `campaign-engine create-merchant NAME` makes another merchant with its own key",
        settings.bootstrap_key_file.display()
    );
    campaign::run(settings, listener, shutdown_signal(), Arc::new(SystemClock)).await?;
    Ok(())
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
