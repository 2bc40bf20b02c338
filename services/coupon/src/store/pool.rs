//! Imported supplier code pools (top-up / recharge codes): bulk import, and
//! hand-out of each code at most once.

use platform::domain::{Millis, idempotency::Idempotency};
use platform::store::{
    Outcome, StoreError, claim_key,
    db::{Backend, Db, DbRow, DbTx, fetch_one},
    finish, new_id,
};

use super::{
    CouponError, CouponRecord, CouponStore, args,
    codes::{open_pool, pool_at_rest},
};
use crate::domain::{CouponRejection, vault::CodeVault};

/// Codes per import call.
pub const MAX_IMPORT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRecord {
    pub pool_id: String,
    pub name: String,
    pub total: i64,
    pub handed_out: i64,
    /// Codes the last import skipped because the pool had them already.
    pub duplicates: i64,
    pub created_at: Millis,
}

/// The columns `pool_from_row` reads, of `code_pool p`: the pool, its
/// merchant, and its counts of codes and of codes handed out.
macro_rules! sql_pool_columns {
    () => {
        "p.pool_id, p.merchant_id, p.name, \
         (SELECT COUNT(*) FROM pool_code c WHERE c.pool_id = p.pool_id), \
         (SELECT COUNT(*) FROM pool_code c WHERE c.pool_id = p.pool_id \
            AND c.source_id IS NOT NULL), \
         p.created_at"
    };
}
pub(super) use sql_pool_columns;

/// A pool and its merchant from `sql_pool_columns!`.
pub(super) fn pool_from_row(row: &impl DbRow) -> Result<(PoolRecord, String), StoreError> {
    Ok((
        PoolRecord {
            pool_id: row.text(0)?,
            name: row.text(2)?,
            total: row.int(3)?,
            handed_out: row.int(4)?,
            duplicates: 0,
            created_at: row.int(5)?,
        },
        row.text(1)?,
    ))
}

async fn pool_counts<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    pool_id: &str,
) -> Result<PoolRecord, StoreError> {
    let row = fetch_one(
        tx,
        "code pool",
        concat!(
            "SELECT ",
            sql_pool_columns!(),
            " FROM code_pool p WHERE p.pool_id = $1"
        ),
        args![pool_id],
    )
    .await?;
    let (pool, owner) = pool_from_row(&row)?;
    if owner != merchant_id {
        return Err(StoreError::OtherMerchant("code pool"));
    }
    Ok(pool)
}

/// The pool's next free code, in order (`hand_out`).
macro_rules! sql_next_free_code {
    () => {
        "SELECT seq, code_digest, code_sealed FROM pool_code \
         WHERE pool_id = $1 AND source_id IS NULL ORDER BY seq LIMIT 1"
    };
}
pub(super) use sql_next_free_code;

/// Hands out the next free code of the pool to the winner of `source_id`.
/// PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent deliveries take
/// different codes without waiting; SQLite: the single writer serialises
/// them. Either way the update is guarded (`source_id IS NULL`).
pub(super) async fn hand_out<D: Db>(
    vault: &CodeVault,
    tx: &mut D::Tx,
    merchant_id: &str,
    pool_id: &str,
    player_id: &str,
    source_id: &str,
    now: Millis,
) -> Result<CouponRecord, CouponError> {
    pool_counts(tx, merchant_id, pool_id).await?;
    let next_free = match D::BACKEND {
        Backend::Postgres => super::pool_postgres::NEXT_FREE_CODE,
        Backend::Sqlite => sql_next_free_code!(),
    };
    let next = tx.fetch_optional(next_free, args![pool_id]).await?;
    let row = next.ok_or(CouponRejection::PoolEmpty)?;
    let seq = row.int(0)?;
    let code = open_pool(vault, pool_id, &row.text(1)?, row.opt_bytes(2)?)?;
    let handout_id = new_id();
    let taken = tx
        .execute(
            "UPDATE pool_code SET player_id = $1, source_id = $2, handout_id = $3, \
             handed_at = $4 WHERE pool_id = $5 AND seq = $6 AND source_id IS NULL",
            args![player_id, source_id, &handout_id, now, pool_id, seq],
        )
        .await?;
    if taken == 0 {
        // Only possible if the lock was not held; retrying is safe.
        return Err(StoreError::Conflict("pool code taken concurrently".into()).into());
    }
    Ok(CouponRecord {
        coupon_id: handout_id,
        template_id: pool_id.to_owned(),
        code: String::new(),
        redeemed: false,
        valid_from: 0,
        valid_until: 0,
        issued_at: now,
        source: "prize".into(),
        pool_code: code,
    })
}

/// The supplier code an earlier delivery of `source_id` handed out.
pub(super) async fn delivered<T: DbTx>(
    tx: &mut T,
    vault: &CodeVault,
    source_id: &str,
) -> Result<Option<(String, String, CouponRecord)>, StoreError> {
    let Some(r) = tx
        .fetch_optional(
            "SELECT c.handout_id, c.pool_id, c.code_digest, c.handed_at, p.merchant_id, \
             c.player_id, c.code_sealed \
             FROM pool_code c JOIN code_pool p ON p.pool_id = c.pool_id WHERE c.source_id = $1",
            args![source_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let pool_id = r.text(1)?;
    let code = open_pool(vault, &pool_id, &r.text(2)?, r.opt_bytes(6)?)?;
    Ok(Some((
        r.text(4)?,
        r.opt_text(5)?.unwrap_or_default(),
        CouponRecord {
            coupon_id: r.opt_text(0)?.unwrap_or_default(),
            template_id: pool_id,
            code: String::new(),
            redeemed: false,
            valid_from: 0,
            valid_until: 0,
            issued_at: r.opt_int(3)?.unwrap_or(0),
            source: "prize".into(),
            pool_code: code,
        },
    )))
}

impl<D: Db> CouponStore<D> {
    /// Adds supplier codes to a pool (a new one when `pool_id` is None).
    /// Codes already in the pool are skipped and counted.
    #[tracing::instrument(skip_all, fields(codes = codes.len()))]
    #[allow(clippy::too_many_arguments)]
    pub async fn import_pool_codes(
        &self,
        merchant_id: &str,
        pool_id: Option<&str>,
        name: &str,
        codes: &[String],
        idem: &Idempotency,
        now: Millis,
        encode: impl Fn(&PoolRecord) -> Vec<u8>,
    ) -> Result<Outcome<PoolRecord>, CouponError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let pool_id = match pool_id {
            Some(id) => {
                // Serialises imports into one pool on PostgreSQL and checks
                // the owner.
                let owner = tx
                    .fetch_optional(
                        "UPDATE code_pool SET name = name WHERE pool_id = $1 RETURNING merchant_id",
                        args![id],
                    )
                    .await?
                    .ok_or(StoreError::NotFound("code pool"))?;
                if owner.text(0)? != merchant_id {
                    return Err(StoreError::OtherMerchant("code pool").into());
                }
                id.to_owned()
            }
            None => {
                let id = new_id();
                tx.execute(
                    "INSERT INTO code_pool (pool_id, merchant_id, name, created_at) \
                     VALUES ($1, $2, $3, $4)",
                    args![&id, merchant_id, name, now],
                )
                .await?;
                id
            }
        };
        let next = fetch_one(
            &mut tx,
            "code pool",
            "SELECT COALESCE(MAX(seq), 0) FROM pool_code WHERE pool_id = $1",
            args![&pool_id],
        )
        .await?
        .int(0)?;
        let mut seq = next;
        let mut duplicates = 0;
        for code in codes {
            // Stored as a digest (duplicates meet on it) and a sealed copy.
            let (digest, sealed) = pool_at_rest(&self.vault, &pool_id, code)?;
            let added = tx
                .execute(
                    "INSERT INTO pool_code (pool_id, seq, code_digest, code_sealed) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (pool_id, code_digest) DO NOTHING",
                    args![&pool_id, seq + 1, digest, sealed],
                )
                .await?;
            if added == 1 {
                seq += 1;
            } else {
                duplicates += 1;
            }
        }
        let mut pool = pool_counts(&mut tx, merchant_id, &pool_id).await?;
        pool.duplicates = duplicates;
        finish(tx, idem, encode(&pool)).await?;
        Ok(Outcome::Fresh(pool))
    }

    pub async fn get_pool(
        &self,
        merchant_id: &str,
        pool_id: &str,
    ) -> Result<PoolRecord, CouponError> {
        let mut tx = self.db.begin_read().await?;
        Ok(pool_counts(&mut tx, merchant_id, pool_id).await?)
    }
}
