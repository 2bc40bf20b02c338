//! SQLite backend, the embedded default.
//!
//! One writer connection (SQLite admits one writer at a time; more writer
//! connections only add busy-wait tails) and a small pool of readers, in WAL
//! mode with `synchronous=FULL` so an acknowledged draw survives power loss.
//! Every write transaction starts with `BEGIN IMMEDIATE`, taking the write
//! lock up front, so a read-then-write transaction can never fail with
//! SQLITE_BUSY halfway.

use std::{str::FromStr, time::Duration};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::{StoreError, db::Db, glue::sqlx_glue};

pub struct SqliteTx(sqlx::Transaction<'static, sqlx::Sqlite>);

#[derive(Clone)]
pub struct SqliteDb {
    writer: SqlitePool,
    readers: SqlitePool,
}

impl SqliteDb {
    /// Opens (creating if missing) the database at `url` (`sqlite:path`) and
    /// applies the embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(map_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await
            .map_err(map_err)?;
        Ok(Self { writer, readers })
    }

    pub async fn close(&self) {
        self.readers.close().await;
        self.writer.close().await;
    }
}

impl Db for SqliteDb {
    type Tx = SqliteTx;

    async fn begin_write(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx(
            self.writer
                .begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(map_err)?,
        ))
    }

    async fn begin_read(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx(self.readers.begin().await.map_err(map_err)?))
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

/// SQLITE_BUSY / SQLITE_LOCKED (and their extended codes) mean "try again".
fn map_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let busy = db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6));
        if busy {
            return StoreError::Unavailable(db.message().to_owned());
        }
    }
    StoreError::from_sqlx(e)
}

sqlx_glue!(sqlx::Sqlite, SqliteTx, SqliteRow, map_err);
