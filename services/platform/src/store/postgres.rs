//! PostgreSQL backend, the production store.
//!
//! READ COMMITTED with single-statement guarded writes: a conditional
//! `UPDATE ... WHERE remaining > 0` that meets a concurrent change waits and
//! re-checks its condition on the new row version, so it cannot oversell and
//! raises no serialization errors. Upserts with `ON CONFLICT ... DO UPDATE
//! ... WHERE` guard per-player counters the same way.

use std::{str::FromStr, time::Duration};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use super::{
    StoreError,
    db::{Backend, Db},
    glue::sqlx_glue,
};

/// A transaction, or a connection whose statements each commit on their
/// own (`begin_autocommit`).
pub enum PgTx {
    Tx(sqlx::Transaction<'static, sqlx::Postgres>),
    Autocommit(sqlx::pool::PoolConnection<sqlx::Postgres>),
}

impl PgTx {
    fn conn(&mut self) -> &mut sqlx::PgConnection {
        match self {
            Self::Tx(tx) => tx,
            Self::Autocommit(c) => c,
        }
    }
    async fn end(self) -> Result<(), sqlx::Error> {
        match self {
            Self::Tx(tx) => tx.commit().await,
            // Each statement committed as it ran.
            Self::Autocommit(_) => Ok(()),
        }
    }
}

/// The query parameters sqlx's PostgreSQL options read (sqlx-postgres
/// 0.9, `options/parse.rs`), besides `options[...]`.
const KNOWN_PARAMS: [&str; 18] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// `url` without the query parameters sqlx does not read. sqlx ignores
/// them too, but logs each with its value, and one may be a secret
/// (`sslpassword`, which sqlx cannot use: decrypt the client key
/// instead): they are dropped here and named without their value.
fn known_params_only(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (known, unknown): (Vec<&str>, Vec<&str>) = query.split('&').partition(|p| {
        let key = p.split_once('=').map_or(*p, |(k, _)| k);
        KNOWN_PARAMS.contains(&key) || key.starts_with("options[")
    });
    for p in unknown.iter().filter(|p| !p.is_empty()) {
        let key = p.split_once('=').map_or(*p, |(k, _)| k);
        tracing::warn!(%key, "ignoring a database URL parameter the PostgreSQL driver does not read");
    }
    if known.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", known.join("&"))
    }
}

#[derive(Clone)]
pub struct PgDb {
    pool: PgPool,
}

impl PgDb {
    /// Connects to `url` (`postgres://...`) and applies the embedded
    /// migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let opts = PgConnectOptions::from_str(&known_params_only(url)).map_err(map_err)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            // No ping before every transaction: that is a round trip on
            // every call. A connection the server has dropped fails its
            // first statement instead (UNAVAILABLE: retry with the same
            // idempotency key) and is discarded.
            .test_before_acquire(false)
            .connect_with(opts)
            .await
            .map_err(map_err)?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(Self { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl Db for PgDb {
    type Tx = PgTx;
    const BACKEND: Backend = Backend::Postgres;

    async fn begin_write(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx::Tx(self.pool.begin().await.map_err(map_err)?))
    }

    async fn begin_autocommit(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx::Autocommit(
            self.pool.acquire().await.map_err(map_err)?,
        ))
    }

    async fn begin_read(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx::Tx(
            self.pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(map_err)?,
        ))
    }

    fn pool_gauges(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("campaign_db_pool_connections", u64::from(self.pool.size())),
            ("campaign_db_pool_idle", self.pool.num_idle() as u64),
        ]
    }
}

/// Serialization failures, deadlocks and lost connections are retryable.
fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && matches!(
            db.code().as_deref(),
            Some("40001" | "40P01" | "57P01" | "57P03")
        )
    {
        return StoreError::Unavailable(db.message().to_owned());
    }
    StoreError::from_sqlx(e)
}

sqlx_glue!(sqlx::Postgres, PgTx, PgRow, map_err);

#[cfg(test)]
mod tests {
    use super::known_params_only;

    #[test]
    fn parameters_sqlx_would_log_are_dropped() {
        assert_eq!(known_params_only("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            known_params_only("postgres://h/db?sslmode=require&sslpassword=s3cret&x=1"),
            "postgres://h/db?sslmode=require"
        );
        assert_eq!(
            known_params_only("postgres://h/db?sslpassword=s3cret"),
            "postgres://h/db"
        );
        assert_eq!(
            known_params_only(
                "postgres://h/db?password=p&options[search_path]=a&application_name=e"
            ),
            "postgres://h/db?password=p&options[search_path]=a&application_name=e"
        );
    }
}
