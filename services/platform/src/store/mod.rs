//! Storage every service shares: the database seam ([`db::Db`]) with its
//! two backends ([`sqlite`], [`postgres`]), rows defined once for every
//! backend's statement ([`rows`]), batching of concurrent requests
//! ([`batching`]), the store's error, and the idempotency protocol.
//!
//! Mutating methods take an [`Idempotency`] and an `encode` function: the
//! key row is claimed first ([`claim_key`]), the effect runs, and the
//! encoded answer is stored before commit ([`finish`]), so a retry gets the
//! same bytes back ([`Outcome::Replay`]). The hot paths write the key last
//! instead (see [`sql_key_lookup!`]).

pub mod batching;
pub mod db;
pub mod events;
mod glue;
pub mod postgres;
pub mod rows;
pub mod sqlite;
mod sqlite_writer;

use thiserror::Error;

use crate::domain::{AccessRefusal, Millis, idempotency::Idempotency};
use db::{DbRow, DbTx, args};

/// A service's own refusal of a well-formed request (a wheel's "no draws
/// left today", a coupon's "already redeemed"): its message, and the gRPC
/// code the transport answers with. The platform knows no activity; each
/// service implements this for its refusals.
pub trait Refusal: std::error::Error + Send + Sync + 'static {
    /// The gRPC status code for this refusal.
    fn code(&self) -> tonic::Code;
    /// The refusal as `Any`, for [`StoreError::refusal`].
    fn as_any(&self) -> &dyn std::any::Any;
}

/// What the store reports; the transport maps each variant to one code.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The thing exists but belongs to another merchant. Callers outside
    /// that merchant are answered exactly as for a thing that does not
    /// exist (the transport logs the difference).
    #[error("{0} belongs to another merchant")]
    OtherMerchant(&'static str),
    /// A well-formed request a service's rules refuse in the current
    /// state: that service's own refusal, which names its gRPC code.
    #[error("{0}")]
    Rejected(Box<dyn Refusal>),
    /// The idempotency key was sent before with a different request.
    #[error("this idempotency key was used with a different request")]
    KeyReused,
    /// A concurrent change won a uniqueness race; retrying is safe.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database is busy or unreachable; retrying with the same
    /// idempotency key is safe.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stream's reader took nothing for this many seconds.
    #[error("the reader took nothing for {0} s")]
    Stalled(u64),
    #[error("database error: {0}")]
    Database(String),
    /// The first admin key could not be handed over; nothing was created.
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    /// A stored value the engine does not understand.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// Sealed secrets cannot be read or written: no seal key, or not the
    /// key the database was sealed with (`access::seal`).
    #[error("sealed secrets: {0}")]
    Seal(String),
}

impl From<AccessRefusal> for StoreError {
    fn from(r: AccessRefusal) -> Self {
        StoreError::Rejected(Box::new(r))
    }
}

impl From<crate::stores::StoreRefusal> for StoreError {
    fn from(r: crate::stores::StoreRefusal) -> Self {
        StoreError::Rejected(Box::new(r))
    }
}

impl StoreError {
    /// A service's refusal as its own type, if this is one of that type.
    pub fn refusal<R: Refusal>(&self) -> Option<&R> {
        match self {
            Self::Rejected(r) => r.as_any().downcast_ref(),
            _ => None,
        }
    }

    pub fn from_sqlx(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound("row"),
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(db.message().to_owned())
            }
            other => Self::Database(other.to_string()),
        }
    }
}

/// The answer of a mutating method: freshly applied, or the stored answer
/// of an earlier request with the same idempotency key.
#[derive(Debug)]
pub enum Outcome<T> {
    Fresh(T),
    Replay(Vec<u8>),
}

/// Claims the idempotency key inside `tx`. `Ok(None)`: first time, go on.
/// `Ok(Some(bytes))`: the stored answer of the same request. A different
/// request under the same key is rejected. On PostgreSQL a concurrent copy
/// blocks on the key's index entry until the first commits or aborts.
pub async fn claim_key<T: DbTx>(
    tx: &mut T,
    idem: &Idempotency,
    now: Millis,
) -> Result<Option<Vec<u8>>, StoreError> {
    let inserted = tx
        .execute(
            "INSERT INTO idempotency (scope, method, idem_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, method, idem_key) DO NOTHING",
            args![
                &idem.scope,
                idem.method,
                idem.key.as_str(),
                idem.fingerprint.clone(),
                now
            ],
        )
        .await?;
    if inserted == 1 {
        return Ok(None);
    }
    stored_answer(tx, idem)
        .await?
        .ok_or(StoreError::NotFound("idempotency key"))
        .map(Some)
}

/// What an idempotency row found under `idem`'s key means: the stored
/// answer of the same request, a different request under the same key
/// (rejected), or the same request still in progress (retry).
pub fn replay_of(
    idem: &Idempotency,
    fingerprint: Vec<u8>,
    response: Option<Vec<u8>>,
) -> Result<Vec<u8>, StoreError> {
    if fingerprint != idem.fingerprint {
        return Err(StoreError::KeyReused);
    }
    // No answer: only visible to a concurrent copy that read before the
    // first committed; retrying resolves it.
    response.ok_or_else(|| StoreError::Conflict("request in progress".into()))
}

/// The answer already stored under `idem`'s key, if any, read on its own
/// (for the key-last pattern below, after its effect was refused or its key
/// insert collided: a concurrent copy may have committed meanwhile).
pub async fn stored_answer<T: DbTx>(
    tx: &mut T,
    idem: &Idempotency,
) -> Result<Option<Vec<u8>>, StoreError> {
    let row = tx
        .fetch_optional(
            "SELECT fingerprint, response FROM idempotency \
             WHERE scope = $1 AND method = $2 AND idem_key = $3",
            args![&idem.scope, idem.method, idem.key.as_str()],
        )
        .await?;
    row.map(|r| replay_of(idem, r.bytes(0)?, r.opt_bytes(1)?))
        .transpose()
}

/// For the key-last pattern, after its effect was refused or its key insert
/// collided: the answer of a concurrent copy that committed meanwhile, or
/// else `refusal`.
pub async fn replay_or<T: DbTx, R, E: From<StoreError>>(
    tx: &mut T,
    idem: &Idempotency,
    refusal: E,
) -> Result<Outcome<R>, E> {
    match stored_answer(tx, idem).await? {
        Some(bytes) => Ok(Outcome::Replay(bytes)),
        None => Err(refusal),
    }
}

/// The key-last pattern, for hot paths whose effect is one guarded
/// statement: the first read also looks the key up (`sql_key_lookup!`, a
/// stored answer is replayed), and the effect inserts the key with its
/// answer (`rows::ANSWERED_KEY`) instead of claiming it first and
/// updating it last: one statement and one index write fewer. The insert
/// has no `ON CONFLICT`: a concurrent copy that committed first makes it
/// fail, undoing the whole effect, and the caller then replays the stored
/// answer.
#[macro_export]
macro_rules! sql_key_lookup {
    ($scope:literal, $method:literal, $key:literal) => {
        concat!(
            "(SELECT fingerprint FROM idempotency WHERE scope = ",
            $scope,
            " AND method = ",
            $method,
            " AND idem_key = ",
            $key,
            "), ",
            "(SELECT response FROM idempotency WHERE scope = ",
            $scope,
            " AND method = ",
            $method,
            " AND idem_key = ",
            $key,
            ")"
        )
    };
}

/// Stores the answer under the claimed key and commits the transaction.
pub async fn finish<T: DbTx>(
    mut tx: T,
    idem: &Idempotency,
    response: Vec<u8>,
) -> Result<(), StoreError> {
    store_answer(&mut tx, idem, response).await?;
    tx.commit().await
}

/// Stores the answer under the claimed key, for a commit that follows.
pub async fn store_answer<T: DbTx>(
    tx: &mut T,
    idem: &Idempotency,
    response: Vec<u8>,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE idempotency SET response = $4 WHERE scope = $1 AND method = $2 AND idem_key = $3",
        args![&idem.scope, idem.method, idem.key.as_str(), response],
    )
    .await?;
    Ok(())
}

pub fn parse_uuid(s: &str) -> Result<uuid::Uuid, StoreError> {
    uuid::Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("uuid {s:?}")))
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
