//! The seam between the shared store logic and the two backends.
//!
//! The SQL the engine runs is portable (`$N` placeholders, `ON CONFLICT`,
//! `RETURNING`, `SAVEPOINT`, integer/text/blob columns), so it is written
//! once, in the store modules. What differs per backend lives behind these
//! traits, one module per backend: how a write transaction begins (SQLite:
//! `BEGIN IMMEDIATE` on the single writer connection), pools and pragmas,
//! migrations, value binding and decoding, and the mapping of driver errors.

use std::future::Future;

use super::StoreError;

/// A bound parameter. Nulls are typed because PostgreSQL checks the type of
/// every parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}
impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Self::Bytes(Some(v.to_vec()))
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Self::Bytes(Some(v))
    }
}

/// `args![a, b, c]` builds the parameter list for `$1, $2, $3`.
#[macro_export]
#[doc(hidden)]
macro_rules! __db_args {
    ($($v:expr),* $(,)?) => { vec![$($crate::store::db::Value::from($v)),*] };
}
pub use crate::__db_args as args;

/// One result row; columns are read by position, in the SELECT's order.
pub trait DbRow: Send {
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, i: usize) -> Result<String, StoreError>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
    fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError>;
}

/// An open transaction. Dropping it without `commit` rolls it back.
pub trait DbTx: Send {
    type Row: DbRow;
    fn execute(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    fn fetch_optional(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Option<Self::Row>, StoreError>> + Send;
    fn fetch_all(
        &mut self,
        sql: &'static str,
        args: Vec<Value>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, StoreError>> + Send;
    fn commit(self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Which database a [`Db`] is. The few hot paths that take a shape of
/// their own on one backend match on it exhaustively (`Db::BACKEND`), so a
/// third backend would not compile until each says what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// For logs and the start-up line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// Whether two transactions can write at once: PostgreSQL's do, so
    /// copies of one request race and the paths that batch concurrent
    /// requests have something to batch; SQLite runs one writer at a time.
    pub fn concurrent_writers(self) -> bool {
        match self {
            Self::Sqlite => false,
            Self::Postgres => true,
        }
    }
}

/// A database: where transactions come from.
pub trait Db: Clone + Send + Sync + 'static {
    type Tx: DbTx;
    /// Which backend this is.
    const BACKEND: Backend;
    /// A transaction that may write; on SQLite it holds the write lock from
    /// its first statement, so no read-then-write upgrade can fail.
    fn begin_write(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
    /// Statements that each commit on their own (PostgreSQL: no BEGIN and
    /// COMMIT round trips; SQLite: the ordinary write transaction). Only for
    /// an operation whose reads may be stale (as under READ COMMITTED
    /// anyway) and whose whole effect is one guarded statement; `commit`
    /// ends it.
    fn begin_autocommit(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
    /// A read-only snapshot.
    fn begin_read(&self) -> impl Future<Output = Result<Self::Tx, StoreError>> + Send;
    /// Which backend, for logs and the bootstrap message.
    fn backend_name(&self) -> &'static str {
        Self::BACKEND.name()
    }
    /// Connection pool figures for the metrics endpoint: (name, value).
    fn pool_gauges(&self) -> Vec<(&'static str, u64)>;
    /// Counters of the backend's own work (metric name, value).
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// Reads an optional row and fails with NotFound when it is absent.
pub async fn fetch_one<T: DbTx>(
    tx: &mut T,
    what: &'static str,
    sql: &'static str,
    args: Vec<Value>,
) -> Result<T::Row, StoreError> {
    tx.fetch_optional(sql, args)
        .await?
        .ok_or(StoreError::NotFound(what))
}
