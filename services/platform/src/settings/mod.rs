//! Settings every service shares: defaults, then an optional TOML file,
//! then environment variables (`CAMPAIGN_*`, [`Settings::load`]). No
//! setting is required; the defaults run the whole engine on a SQLite file
//! in the working directory.
//!
//! The file's tables are the services' own sections (`[campaign]`,
//! `[coupon]`), kept as written in [`Settings::sections`]; each service
//! reads and checks its own. Keys that files from before a section existed
//! hold at the top are read as their section's ([`MovedKey`]).
//!
//! - [`load`](Settings::load): the file and the environment (`load.rs`).
//! - [`redact_url`]: a database URL without its credentials (`redact.rs`).

mod load;
mod redact;

pub use redact::redact_url;

use std::{collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf};

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
    /// The key that seals secrets at rest (gateway HS256 secrets): a file
    /// of 64 hex digits, made (0600) when missing. Empty: `seal.key` in
    /// the bootstrap key file's directory. Every replica needs the same
    /// one; keep it backed up apart from the database (`seal_key`). Env:
    /// `CAMPAIGN_SEAL_KEY_FILE`.
    pub seal_key_file: PathBuf,
    /// Player requests per second per player (token bucket, per replica
    /// and service: the campaign's player calls and the coupon's each
    /// have one); 0 = no limit. Env: `CAMPAIGN_PLAYER_RATE_PER_SEC`.
    pub player_rate_per_sec: u32,
    /// Burst allowed above that rate. Env: `CAMPAIGN_PLAYER_RATE_BURST`.
    pub player_rate_burst: u32,
    /// Largest request message accepted, in bytes. Env:
    /// `CAMPAIGN_MAX_REQUEST_BYTES`.
    pub max_request_bytes: usize,
    /// Bearer secret the outbox worker presents to the coupon service's
    /// DeliverPrize. Empty (default): a random one per process, which works
    /// when both services run in one engine; set the same value on both
    /// when they run apart. Env: `CAMPAIGN_DELIVERY_SECRET`.
    pub delivery_secret: String,
    /// Days a stored answer to an idempotency key is kept (0 = for
    /// ever): a retry within them replays the first answer; after them the
    /// key is forgotten and the same request acts again.
    pub idempotency_retention_days: u32,
    /// Seconds a server stream (a campaign export) waits for a client that
    /// reads nothing before it is cut and its snapshot released.
    pub stream_stall_secs: u32,
    /// Where Prometheus scrapes `GET /metrics` (plain HTTP), e.g.
    /// `127.0.0.1:9464`; empty (default): no metrics endpoint. Env:
    /// `CAMPAIGN_METRICS_LISTEN`.
    pub metrics_listen: String,
    /// Web pages allowed to call the engine from another origin (gRPC-Web
    /// and the dev token issuer, through CORS): exact origins such as
    /// `https://h5.example.com` or `http://localhost:8080` (scheme, host
    /// and port; no path, no wildcard). Empty (default): no cross-origin
    /// access; the pages the engine serves itself (`/console/`, `/h5/`)
    /// are same-origin and need none. Env: `CAMPAIGN_CORS_ALLOWED_ORIGINS`,
    /// comma-separated.
    pub cors_allowed_origins: Vec<String>,
    /// DEVELOPMENT ONLY. When true, `POST /dev/player-token` on the gRPC
    /// listener mints a 10-minute player token for any openid at any
    /// campaign's merchant, signed with a random per-process secret, so the
    /// H5 demo can spin without a gateway. Anyone who reaches the port can
    /// then act as any player: never turn it on in production. Off by
    /// default; a WARN is logged at start-up when on. Env:
    /// `CAMPAIGN_DEV_TOKEN_ISSUER` (`true` / `false`).
    pub dev_token_issuer: bool,
    /// HTTP/2 streams one connection may have open at once, advertised as
    /// SETTINGS_MAX_CONCURRENT_STREAMS; streams beyond it are refused
    /// (REFUSED_STREAM). 0 = no limit. Env:
    /// `CAMPAIGN_HTTP2_MAX_CONCURRENT_STREAMS`.
    pub http2_max_concurrent_streams: u32,
    /// Seconds a call may take until its answer starts (the request body
    /// included; a server stream is not cut once it runs): a stream whose
    /// request body never arrives is ended CANCELLED after this. 0 = no
    /// limit. Env:
    /// `CAMPAIGN_REQUEST_TIMEOUT_SECS`.
    pub request_timeout_secs: u32,
    /// Seconds of silence from a client after which the server pings its
    /// HTTP/2 connection. 0 = no pings. Env:
    /// `CAMPAIGN_HTTP2_KEEPALIVE_INTERVAL_SECS`.
    pub http2_keepalive_interval_secs: u32,
    /// Seconds the server waits for a ping's answer before closing the
    /// connection. Env: `CAMPAIGN_HTTP2_KEEPALIVE_TIMEOUT_SECS`.
    pub http2_keepalive_timeout_secs: u32,
    /// Seconds a connection may send nothing at all (not even a ping's
    /// answer) before it is closed: one that never sends its HTTP/2
    /// preface, or an idle HTTP/1.1 one. Must exceed the keep-alive
    /// interval, so answered pings keep quiet HTTP/2 clients open. 0 = no
    /// limit. Env: `CAMPAIGN_CONNECTION_IDLE_TIMEOUT_SECS`.
    pub connection_idle_timeout_secs: u32,
    /// Connections open at once on the gRPC listener; at the cap new ones
    /// wait in the kernel's backlog until one closes. Lowered at start-up
    /// to what the open-file limit leaves (`limits::connection_cap`).
    /// 0 = no cap. Env: `CAMPAIGN_MAX_CONNECTIONS`.
    pub max_connections: u32,
    /// The settings sections the services own (`[campaign]`, `[coupon]`),
    /// by name, as written: each service reads and checks its own, and a
    /// section no service of the process reads is logged at start
    /// (`server::run_with`): one file may serve services run apart.
    #[serde(skip)]
    pub sections: BTreeMap<String, toml::Table>,
    /// Keys the file held at the top that belong to a section now, moved
    /// into it by [`Settings::from_toml`]; warned about once at start
    /// ([`Settings::warn_moved_keys`]).
    #[serde(skip)]
    pub moved_keys: Vec<MovedKey>,
}

/// A key of a file from before its service had a section, read as that
/// section's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedKey {
    pub key: String,
    pub section: &'static str,
}

/// The keys files from before each service had its section carry at the
/// top, and the section that owns each now. A name ending in `_` is a
/// prefix (the coupon till's limits, `till_*`).
const MOVED_KEYS: [(&str, &str); 2] = [("coupon_endpoint", "campaign"), ("till_", "coupon")];

/// The section a top-level key of an older file belongs to, if any.
fn moved_to(key: &str) -> Option<&'static str> {
    MOVED_KEYS
        .iter()
        .find(|(name, _)| {
            if name.ends_with('_') {
                key.starts_with(name)
            } else {
                key == *name
            }
        })
        .map(|(_, section)| *section)
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite:campaign.db".into(),
            pg_max_connections: 16,
            player_token_audience: "campaign-engine".into(),
            bootstrap_key_file: PathBuf::from(".campaign/bootstrap-admin.key"),
            seal_key_file: PathBuf::new(),
            player_rate_per_sec: 20,
            player_rate_burst: 40,
            max_request_bytes: 64 * 1024,
            delivery_secret: String::new(),
            idempotency_retention_days: 7,
            stream_stall_secs: 30,
            metrics_listen: String::new(),
            cors_allowed_origins: Vec::new(),
            dev_token_issuer: false,
            http2_max_concurrent_streams: 200,
            request_timeout_secs: 30,
            http2_keepalive_interval_secs: 30,
            http2_keepalive_timeout_secs: 10,
            connection_idle_timeout_secs: 60,
            max_connections: 10_000,
            sections: BTreeMap::new(),
            moved_keys: Vec::new(),
        }
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
            .field("seal_key_file", &self.seal_key_file)
            .field("player_rate_per_sec", &self.player_rate_per_sec)
            .field("player_rate_burst", &self.player_rate_burst)
            .field("max_request_bytes", &self.max_request_bytes)
            .field(
                "delivery_secret",
                &if self.delivery_secret.is_empty() {
                    ""
                } else {
                    "***"
                },
            )
            .field(
                "idempotency_retention_days",
                &self.idempotency_retention_days,
            )
            .field("stream_stall_secs", &self.stream_stall_secs)
            .field("metrics_listen", &self.metrics_listen)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("dev_token_issuer", &self.dev_token_issuer)
            .field(
                "http2_max_concurrent_streams",
                &self.http2_max_concurrent_streams,
            )
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field(
                "http2_keepalive_interval_secs",
                &self.http2_keepalive_interval_secs,
            )
            .field(
                "http2_keepalive_timeout_secs",
                &self.http2_keepalive_timeout_secs,
            )
            .field(
                "connection_idle_timeout_secs",
                &self.connection_idle_timeout_secs,
            )
            .field("max_connections", &self.max_connections)
            // Names only: a section is its service's to show.
            .field("sections", &self.sections.keys().collect::<Vec<_>>())
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
    #[error("cors_allowed_origins: {0:?} {1}")]
    Origin(String, &'static str),
    #[error(
        "connection_idle_timeout_secs ({0}) must exceed http2_keepalive_interval_secs ({1}), \
         or quiet HTTP/2 clients are cut off; set 0 to turn either off"
    )]
    IdleBelowKeepalive(u32, u32),
    /// A service's own section is wrong.
    #[error("settings section [{0}]: {1}")]
    Section(&'static str, String),
}

impl Settings {
    /// Settings from a file's text: its tables are the services' sections
    /// (`[coupon]`), kept as written for them; every other key is this
    /// struct's, and an unknown one is refused. The keys of files from
    /// before a service had its own section (`coupon_endpoint`,
    /// `till_failure_limit` and the like at the top) are read as that
    /// section's (a key the section sets itself wins) and listed in
    /// [`Settings::moved_keys`].
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        let mut top: toml::Table = toml::from_str(text)?;
        let mut sections = BTreeMap::new();
        let mut moved_keys = Vec::new();
        let names: Vec<String> = top.keys().cloned().collect();
        for name in names {
            if let Some(toml::Value::Table(_)) = top.get(&name)
                && let Some(toml::Value::Table(t)) = top.remove(&name)
            {
                sections.insert(name, t);
            } else if let Some(section) = moved_to(&name)
                && let Some(v) = top.remove(&name)
            {
                moved_keys.push(MovedKey {
                    key: name.clone(),
                    section,
                });
                sections
                    .entry(section.to_owned())
                    .or_insert_with(toml::Table::new)
                    .entry(name)
                    .or_insert(v);
            }
        }
        let mut settings: Settings = top.try_into()?;
        settings.sections = sections;
        settings.moved_keys = moved_keys;
        Ok(settings)
    }

    /// Logs, once per start, the keys of an older file that were read as a
    /// section's, so the operator can move them (`server::run_with`).
    pub fn warn_moved_keys(&self) {
        if self.moved_keys.is_empty() {
            return;
        }
        let keys: Vec<String> = self
            .moved_keys
            .iter()
            .map(|m| format!("{} -> [{}]", m.key, m.section))
            .collect();
        tracing::warn!(
            keys = %keys.join(", "),
            "settings keys at the top of the file belong to a service's section now; \
             read as that section's: move them into it"
        );
    }

    /// The section `name` as written (empty when absent).
    pub fn section(&self, name: &str) -> toml::Table {
        self.sections.get(name).cloned().unwrap_or_default()
    }

    /// Where the seal key is: `seal_key_file`, or `seal.key` beside the
    /// bootstrap key file when that is empty.
    pub fn seal_key_path(&self) -> PathBuf {
        if !self.seal_key_file.as_os_str().is_empty() {
            return self.seal_key_file.clone();
        }
        self.bootstrap_key_file
            .parent()
            .map(|d| d.join("seal.key"))
            .unwrap_or_else(|| PathBuf::from("seal.key"))
    }

    /// The idle timeout, when on, outlasts the keep-alive interval (when
    /// on): a quiet but live HTTP/2 client answers a ping before it.
    pub fn checked_timeouts(&self) -> Result<(), SettingsError> {
        let (idle, ping) = (
            self.connection_idle_timeout_secs,
            self.http2_keepalive_interval_secs,
        );
        if idle > 0 && ping > 0 && idle <= ping {
            return Err(SettingsError::IdleBelowKeepalive(idle, ping));
        }
        Ok(())
    }

    /// The CORS allow-list, each entry checked to be an exact origin:
    /// `http://` or `https://`, a host (and port), nothing after it.
    pub fn checked_origins(&self) -> Result<Vec<http::HeaderValue>, SettingsError> {
        self.cors_allowed_origins
            .iter()
            .map(|o| {
                let bad = |why| SettingsError::Origin(o.clone(), why);
                let rest = o
                    .strip_prefix("https://")
                    .or_else(|| o.strip_prefix("http://"))
                    .ok_or_else(|| bad("must start with http:// or https://"))?;
                if rest.is_empty() {
                    return Err(bad("has no host"));
                }
                if rest.contains('/') {
                    return Err(bad("must not have a path or a trailing slash"));
                }
                if rest.contains('*') {
                    return Err(bad("must be an exact origin, not a pattern"));
                }
                if rest
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_ascii_uppercase())
                {
                    return Err(bad(
                        "must be lower case with no spaces, as browsers send it",
                    ));
                }
                http::HeaderValue::from_str(o).map_err(|_| bad("is not a valid header value"))
            })
            .collect()
    }
}

/// An example file, printed by `campaign-engine print-config` (followed by
/// the sections of the services the binary serves).
pub const EXAMPLE: &str = r#"# campaign.toml: every key is optional.
listen = "127.0.0.1:50051"
database_url = "sqlite:campaign.db"          # or "postgres://user:pass@host:5432/campaign"
pg_max_connections = 16
player_token_audience = "campaign-engine"
bootstrap_key_file = ".campaign/bootstrap-admin.key"
seal_key_file = ""                            # "": seal.key beside the bootstrap key file
player_rate_per_sec = 20                      # 0 = no limit
player_rate_burst = 40
max_request_bytes = 65536
delivery_secret = ""                          # empty: random per process
idempotency_retention_days = 7                # stored answers kept this long; 0 = for ever
stream_stall_secs = 30                        # an export nobody reads is cut after this
metrics_listen = ""                           # e.g. "127.0.0.1:9464" for GET /metrics
cors_allowed_origins = []                     # e.g. ["https://h5.example.com"]; [] = same origin only
dev_token_issuer = false                      # DEVELOPMENT ONLY: POST /dev/player-token
# Denial-of-service bounds (docs/operations.md); 0 = off.
http2_max_concurrent_streams = 200            # streams per connection; more are refused
request_timeout_secs = 30                     # a call, body included
http2_keepalive_interval_secs = 30            # ping a connection silent this long ...
http2_keepalive_timeout_secs = 10             # ... and close it if unanswered
connection_idle_timeout_secs = 60             # close a connection that sends nothing
max_connections = 10000                       # open at once (kept under ulimit -n)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_and_redacts() {
        let s = Settings::from_toml(EXAMPLE).expect("example parses");
        assert_eq!(s.listen.port(), 50051);
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        let with_secrets = Settings {
            database_url: "postgres://u:hunter2@h/db".into(),
            delivery_secret: "swordfish".into(),
            ..s
        };
        let shown = format!("{with_secrets:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("swordfish"));
        assert_eq!(redact_url("sqlite:x.db"), "sqlite:x.db");
    }

    #[test]
    fn the_example_shows_the_default_limits_and_idle_outlasts_pings() {
        let s = Settings::from_toml(EXAMPLE).expect("example parses");
        let d = Settings::default();
        assert_eq!(
            (
                s.http2_max_concurrent_streams,
                s.request_timeout_secs,
                s.http2_keepalive_interval_secs,
                s.http2_keepalive_timeout_secs,
                s.connection_idle_timeout_secs,
                s.max_connections,
            ),
            (
                d.http2_max_concurrent_streams,
                d.request_timeout_secs,
                d.http2_keepalive_interval_secs,
                d.http2_keepalive_timeout_secs,
                d.connection_idle_timeout_secs,
                d.max_connections,
            )
        );
        assert!(d.checked_timeouts().is_ok());
        let short = Settings {
            connection_idle_timeout_secs: 30,
            ..Settings::default()
        };
        assert!(short.checked_timeouts().is_err());
        let off = Settings {
            http2_keepalive_interval_secs: 0,
            ..short
        };
        assert!(off.checked_timeouts().is_ok());
    }

    #[test]
    fn keys_of_older_files_are_read_as_their_sections() {
        // Arrange: a file from before [campaign] and [coupon] existed.
        let old = "player_rate_per_sec = 5\ncoupon_endpoint = \"none\"\n\
                   till_failure_limit = 3\n[coupon]\ntill_rate_burst = 9\n";

        // Act
        let s = Settings::from_toml(old).expect("an older file still parses");

        // Assert: the shared key stays; the others moved, and are listed.
        assert_eq!(s.player_rate_per_sec, 5);
        assert_eq!(
            s.section("campaign").get("coupon_endpoint"),
            Some(&toml::Value::String("none".into()))
        );
        let coupon = s.section("coupon");
        assert_eq!(
            coupon.get("till_failure_limit"),
            Some(&toml::Value::Integer(3))
        );
        assert_eq!(
            coupon.get("till_rate_burst"),
            Some(&toml::Value::Integer(9))
        );
        let moved: Vec<_> = s
            .moved_keys
            .iter()
            .map(|m| (m.key.as_str(), m.section))
            .collect();
        assert_eq!(
            moved,
            [
                ("coupon_endpoint", "campaign"),
                ("till_failure_limit", "coupon")
            ]
        );
        // A section's own value wins over the same key at the top.
        let both =
            Settings::from_toml("coupon_endpoint = \"a\"\n[campaign]\ncoupon_endpoint = \"b\"\n")
                .expect("parses");
        assert_eq!(
            both.section("campaign").get("coupon_endpoint"),
            Some(&toml::Value::String("b".into()))
        );
        assert!(Settings::from_toml(EXAMPLE).is_ok_and(|s| s.moved_keys.is_empty()));
        assert!(Settings::from_toml("no_such_key = 1\n").is_err());
    }

    #[test]
    fn origins_must_be_exact() {
        let with = |o: &[&str]| Settings {
            cors_allowed_origins: o.iter().map(|s| s.to_string()).collect(),
            ..Settings::default()
        };
        let ok = with(&["https://h5.example.com", "http://localhost:8080"]);
        assert_eq!(ok.checked_origins().map(|v| v.len()).ok(), Some(2));
        for bad in [
            "h5.example.com",
            "https://",
            "https://h5.example.com/",
            "https://h5.example.com/page",
            "https://*.example.com",
            "https://H5.example.com",
            "*",
        ] {
            let err = with(&[bad]).checked_origins().map(|_| ()).expect_err(bad);
            assert!(
                err.to_string().starts_with("cors_allowed_origins: "),
                "{err}"
            );
        }
    }
}
