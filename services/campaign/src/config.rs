//! Settings: defaults, then an optional TOML file, then environment
//! variables (`CAMPAIGN_*`). No setting is required; the defaults run the
//! whole engine on a SQLite file in the working directory.

use std::{fmt, net::SocketAddr, path::PathBuf};

use serde::Deserialize;

#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the gRPC server listens. Env: `CAMPAIGN_LISTEN`.
    pub listen: SocketAddr,
    /// `sqlite:<path>` (default `sqlite:campaign.db`) or
    /// `postgres://user@host:port/db`. Env: `CAMPAIGN_DATABASE_URL`.
    pub database_url: String,
    /// PostgreSQL pool size. Env: `CAMPAIGN_PG_MAX_CONNECTIONS`.
    pub pg_max_connections: u32,
    /// The `aud` claim player tokens must carry. Env:
    /// `CAMPAIGN_PLAYER_TOKEN_AUDIENCE`.
    pub player_token_audience: String,
    /// Where the first admin API key is written on an empty database
    /// (mode 0600). Env: `CAMPAIGN_BOOTSTRAP_KEY_FILE`.
    pub bootstrap_key_file: PathBuf,
    /// Player requests per second per player (token bucket, per replica);
    /// 0 = no limit. Env: `CAMPAIGN_PLAYER_RATE_PER_SEC`.
    pub player_rate_per_sec: u32,
    /// Burst allowed above that rate. Env: `CAMPAIGN_PLAYER_RATE_BURST`.
    pub player_rate_burst: u32,
    /// Largest request message accepted, in bytes. Env:
    /// `CAMPAIGN_MAX_REQUEST_BYTES`.
    pub max_request_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite:campaign.db".into(),
            pg_max_connections: 16,
            player_token_audience: "campaign-engine".into(),
            bootstrap_key_file: PathBuf::from(".campaign/bootstrap-admin.key"),
            player_rate_per_sec: 20,
            player_rate_burst: 40,
            max_request_bytes: 64 * 1024,
        }
    }
}

/// The database URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("pg_max_connections", &self.pg_max_connections)
            .field("player_token_audience", &self.player_token_audience)
            .field("bootstrap_key_file", &self.bootstrap_key_file)
            .field("player_rate_per_sec", &self.player_rate_per_sec)
            .field("player_rate_burst", &self.player_rate_burst)
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("reading {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("parsing {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
}

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
                toml::from_str(&text).map_err(|e| SettingsError::Parse(p, e))?
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
        Ok(s)
    }
}

/// An example file, printed by `campaign-engine print-config`.
pub const EXAMPLE: &str = r#"# campaign.toml: every key is optional.
listen = "127.0.0.1:50051"
database_url = "sqlite:campaign.db"          # or "postgres://user:pass@host:5432/campaign"
pg_max_connections = 16
player_token_audience = "campaign-engine"
bootstrap_key_file = ".campaign/bootstrap-admin.key"
player_rate_per_sec = 20                      # 0 = no limit
player_rate_burst = 40
max_request_bytes = 65536
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_redacts() {
        let s: Settings = toml::from_str(EXAMPLE).expect("example parses");
        assert_eq!(s.listen.port(), 50051);
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert!(!format!("{s:?}").contains("secret"));
        assert_eq!(redact_url("sqlite:x.db"), "sqlite:x.db");
    }
}
