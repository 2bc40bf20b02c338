//! The settings from where they live: defaults, then the file named by
//! `CAMPAIGN_CONFIG` (or `campaign.toml` in the working directory), then
//! the environment variables, one per setting (`CAMPAIGN_LISTEN` for
//! `listen`, ...). A service's section reads its own variables when the
//! service reads the section (`CAMPAIGN_COUPON_ENDPOINT`,
//! `CAMPAIGN_TILL_*`).

use std::path::PathBuf;

use super::{Settings, SettingsError};

impl Settings {
    /// Defaults, then the file named by `CAMPAIGN_CONFIG` (or
    /// `campaign.toml` in the working directory, if present), then env vars.
    pub fn load() -> Result<Self, SettingsError> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let explicit = env("CAMPAIGN_CONFIG").map(PathBuf::from);
        let path = explicit
            .clone()
            .or_else(|| Some(PathBuf::from("campaign.toml")).filter(|p| p.exists()));
        let mut s = match path {
            Some(p) => {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| SettingsError::Read(p.clone(), e))?;
                Settings::from_toml(&text).map_err(|e| SettingsError::Parse(p, e))?
            }
            None => Settings::default(),
        };
        if let Some(v) = env("CAMPAIGN_LISTEN") {
            s.listen = v.parse().map_err(|e: std::net::AddrParseError| {
                SettingsError::Env("CAMPAIGN_LISTEN", e.to_string())
            })?;
        }
        if let Some(v) = env("CAMPAIGN_DATABASE_URL") {
            s.database_url = v;
        }
        if let Some(v) = env("CAMPAIGN_PG_MAX_CONNECTIONS") {
            s.pg_max_connections = v.parse().map_err(|e: std::num::ParseIntError| {
                SettingsError::Env("CAMPAIGN_PG_MAX_CONNECTIONS", e.to_string())
            })?;
        }
        if let Some(v) = env("CAMPAIGN_PLAYER_TOKEN_AUDIENCE") {
            s.player_token_audience = v;
        }
        if let Some(v) = env("CAMPAIGN_BOOTSTRAP_KEY_FILE") {
            s.bootstrap_key_file = PathBuf::from(v);
        }
        if let Some(v) = env("CAMPAIGN_SEAL_KEY_FILE") {
            s.seal_key_file = PathBuf::from(v);
        }
        let number = |k: &'static str, v: String| {
            v.parse::<usize>()
                .map_err(|e| SettingsError::Env(k, e.to_string()))
        };
        if let Some(v) = env("CAMPAIGN_PLAYER_RATE_PER_SEC") {
            s.player_rate_per_sec = number("CAMPAIGN_PLAYER_RATE_PER_SEC", v)? as u32;
        }
        if let Some(v) = env("CAMPAIGN_PLAYER_RATE_BURST") {
            s.player_rate_burst = number("CAMPAIGN_PLAYER_RATE_BURST", v)? as u32;
        }
        if let Some(v) = env("CAMPAIGN_MAX_REQUEST_BYTES") {
            s.max_request_bytes = number("CAMPAIGN_MAX_REQUEST_BYTES", v)?;
        }
        if let Some(v) = env("CAMPAIGN_DELIVERY_SECRET") {
            s.delivery_secret = v;
        }
        if let Some(v) = env("CAMPAIGN_METRICS_LISTEN") {
            s.metrics_listen = v;
        }
        if let Some(v) = env("CAMPAIGN_STREAM_STALL_SECS") {
            s.stream_stall_secs = number("CAMPAIGN_STREAM_STALL_SECS", v)? as u32;
        }
        if let Some(v) = env("CAMPAIGN_IDEMPOTENCY_RETENTION_DAYS") {
            s.idempotency_retention_days = number("CAMPAIGN_IDEMPOTENCY_RETENTION_DAYS", v)? as u32;
        }
        if let Some(v) = env("CAMPAIGN_CORS_ALLOWED_ORIGINS") {
            s.cors_allowed_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
        }
        for (k, field) in [
            (
                "CAMPAIGN_HTTP2_MAX_CONCURRENT_STREAMS",
                &mut s.http2_max_concurrent_streams,
            ),
            ("CAMPAIGN_REQUEST_TIMEOUT_SECS", &mut s.request_timeout_secs),
            (
                "CAMPAIGN_HTTP2_KEEPALIVE_INTERVAL_SECS",
                &mut s.http2_keepalive_interval_secs,
            ),
            (
                "CAMPAIGN_HTTP2_KEEPALIVE_TIMEOUT_SECS",
                &mut s.http2_keepalive_timeout_secs,
            ),
            (
                "CAMPAIGN_CONNECTION_IDLE_TIMEOUT_SECS",
                &mut s.connection_idle_timeout_secs,
            ),
            ("CAMPAIGN_MAX_CONNECTIONS", &mut s.max_connections),
        ] {
            if let Some(v) = env(k) {
                *field = v
                    .parse()
                    .map_err(|e: std::num::ParseIntError| SettingsError::Env(k, e.to_string()))?;
            }
        }
        if let Some(v) = env("CAMPAIGN_DEV_TOKEN_ISSUER") {
            s.dev_token_issuer = match v.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(SettingsError::Env(
                        "CAMPAIGN_DEV_TOKEN_ISSUER",
                        "must be true or false".into(),
                    ));
                }
            };
        }
        s.checked_origins()?;
        s.checked_timeouts()?;
        Ok(s)
    }
}
