//! SQLite backend, the embedded default.
//!
//! One writer connection (SQLite admits one writer at a time; more writer
//! connections only add busy-wait tails), driven directly with group commit
//! (`sqlite_writer`), and a small sqlx pool of readers, in WAL mode with
//! `synchronous=FULL` so an acknowledged draw survives power loss. Every
//! write batch starts with `BEGIN IMMEDIATE`, taking the write lock up
//! front, so a read-then-write transaction can never fail with SQLITE_BUSY
//! halfway.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
        SqliteSynchronous,
    },
};

use super::{
    StoreError,
    db::{Backend, Db, DbRow, DbTx, Value},
    glue::sqlx_glue,
    sqlite_writer::{RawRow, WriteTx, Writer},
};

/// A read snapshot on sqlx's reader pool.
pub struct SqliteReadTx(sqlx::Transaction<'static, sqlx::Sqlite>);

impl SqliteReadTx {
    fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.0
    }
    async fn end(self) -> Result<(), sqlx::Error> {
        self.0.commit().await
    }
}

/// A transaction: reads run on sqlx's readers, writes on the raw writer
/// connection (see `sqlite_writer`).
pub enum SqliteTx {
    Read(SqliteReadTx),
    Write(WriteTx),
}

/// A row from either side.
pub enum SqliteAnyRow {
    Read(SqliteRow),
    Write(RawRow),
}

#[derive(Clone)]
pub struct SqliteDb {
    writer: Writer,
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
        owner_only(opts.get_filename())?;
        // Migrations on a pool of one (its future is Send), closed before
        // the writer connection opens.
        let migrating = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(map_err)?;
        let migrated = sqlx::migrate!("../../migrations/sqlite")
            .run(&migrating)
            .await
            .map_err(|e| StoreError::Database(e.to_string()));
        migrating.close().await;
        migrated?;
        // Each write transaction is a savepoint in a group-commit batch;
        // its undo copies go to a sub-journal, a temp file unless temp
        // storage is memory (a quarter of the draw's time went to those
        // writes). A 16 MB page cache holds a whole batch (128 draws dirty
        // ~10 MB at most) within the memory budget.
        let writer_opts = opts
            .clone()
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16384")
            // Checkpoint every ~40 MB of WAL rather than every 4 MB: a page
            // rewritten by many batches is copied back once.
            .pragma("wal_autocheckpoint", "10000");
        let writer = Writer::new(writer_opts.connect().await.map_err(map_err)?).await?;
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
    const BACKEND: Backend = Backend::Sqlite;

    async fn begin_write(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx::Write(self.writer.begin().await?))
    }

    /// The ordinary write transaction: the writer is in-process, so a
    /// transaction's statements cost no round trips, and its batch gives
    /// group commit.
    async fn begin_autocommit(&self) -> Result<SqliteTx, StoreError> {
        self.begin_write().await
    }

    async fn begin_read(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx::Read(SqliteReadTx(
            self.readers.begin().await.map_err(map_err)?,
        )))
    }

    fn pool_gauges(&self) -> Vec<(&'static str, u64)> {
        vec![
            (
                "campaign_db_pool_connections",
                u64::from(self.readers.size()) + 1,
            ),
            ("campaign_db_pool_idle", self.readers.num_idle() as u64),
            ("campaign_db_writers_queued", self.writer.queued() as u64),
        ]
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let (batches, transactions) = self.writer.group_commits();
        vec![
            ("campaign_db_group_commits_total", batches),
            (
                "campaign_db_group_committed_transactions_total",
                transactions,
            ),
        ]
    }
}

impl DbTx for SqliteTx {
    type Row = SqliteAnyRow;

    async fn execute(&mut self, sql: &'static str, args: Vec<Value>) -> Result<u64, StoreError> {
        match self {
            Self::Read(tx) => tx.execute(sql, args).await,
            Self::Write(tx) => tx.run(sql, &args).map(|(_, n)| n),
        }
    }

    async fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> Result<Option<SqliteAnyRow>, StoreError> {
        match self {
            Self::Read(tx) => Ok(tx.fetch_optional(sql, args).await?.map(SqliteAnyRow::Read)),
            Self::Write(tx) => Ok(tx
                .run(sql, &args)?
                .0
                .into_iter()
                .next()
                .map(SqliteAnyRow::Write)),
        }
    }

    async fn fetch_all(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> Result<Vec<SqliteAnyRow>, StoreError> {
        match self {
            Self::Read(tx) => Ok(tx
                .fetch_all(sql, args)
                .await?
                .into_iter()
                .map(SqliteAnyRow::Read)
                .collect()),
            Self::Write(tx) => Ok(tx
                .run(sql, &args)?
                .0
                .into_iter()
                .map(SqliteAnyRow::Write)
                .collect()),
        }
    }

    async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Read(tx) => tx.commit().await,
            Self::Write(tx) => tx.commit().await,
        }
    }
}

macro_rules! either_row {
    ($($f:ident -> $t:ty),*) => {
        impl DbRow for SqliteAnyRow {
            $(fn $f(&self, i: usize) -> Result<$t, StoreError> {
                match self {
                    Self::Read(r) => r.$f(i),
                    Self::Write(r) => r.$f(i),
                }
            })*
        }
    };
}
either_row!(
    int -> i64,
    opt_int -> Option<i64>,
    text -> String,
    opt_text -> Option<String>,
    bytes -> Vec<u8>,
    opt_bytes -> Option<Vec<u8>>
);

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

sqlx_glue!(sqlx::Sqlite, SqliteReadTx, SqliteRow, map_err);

/// The database file readable and writable by its owner only (0600): it
/// holds gateway secrets, unrevealed roll seeds and coupon codes. Created
/// so when missing, in directories created 0700 when they are missing too
/// (an existing directory, such as the working directory of the default
/// `sqlite:campaign.db`, is left as it is). An existing database, WAL or
/// shared-memory file that others can read is tightened; SQLite gives new
/// WAL and shared-memory files the database file's mode.
fn owner_only(path: &std::path::Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let io = |e: std::io::Error| StoreError::Database(format!("{}: {e}", path.display()));
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            return Ok(());
        }
        match std::fs::metadata(path) {
            Ok(_) => {
                let beside = |suffix: &str| {
                    let mut name = path.as_os_str().to_owned();
                    name.push(suffix);
                    std::path::PathBuf::from(name)
                };
                for file in [path.to_path_buf(), beside("-wal"), beside("-shm")] {
                    tighten(&file).map_err(io)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(io)?;
                }
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
    }
    Ok(())
}

/// Makes `file` 0600 if it exists and others (or its group) may read it.
#[cfg(unix)]
fn tighten(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(file) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            tracing::info!(path = %file.display(), "database file made readable by its owner only");
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
