//! Codes at rest, the store's half (`domain::vault` is the pure half): the
//! digest and sealed copy written with each code, the sealed copy opened
//! when a code is shown, and the conversion, at start, of rows a database
//! from before sealing holds in the clear.

use platform::domain::seal::{NONCE_LEN, SealError};
use platform::store::{
    StoreError,
    db::{Db, DbRow, DbTx},
};
use rand::{TryRngCore, rngs::OsRng};

use super::{CouponStore, args};
use crate::domain::{code::CouponCode, vault::CodeVault};

/// Rows converted per transaction at start: short transactions that never
/// hold the writer long.
const CONVERT_BATCH: i64 = 500;

fn nonce() -> Result<[u8; NONCE_LEN], StoreError> {
    let mut n = [0u8; NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut n)
        .map_err(|e| StoreError::Database(format!("OS random source: {e}")))?;
    Ok(n)
}

fn sealing(e: SealError) -> StoreError {
    StoreError::Seal(format!("coupon code: {e}"))
}

/// `(code_digest, code_sealed)` of the coupon `coupon_id` with `code`.
pub(super) fn coupon_at_rest(
    vault: &CodeVault,
    coupon_id: &str,
    code: &CouponCode,
) -> Result<(String, Vec<u8>), StoreError> {
    let sealed = vault
        .seal_coupon(coupon_id, code, nonce()?)
        .map_err(sealing)?;
    Ok((vault.coupon_digest(code), sealed))
}

/// `(code_digest, code_sealed)` of a supplier code of `pool_id`.
pub(super) fn pool_at_rest(
    vault: &CodeVault,
    pool_id: &str,
    code: &str,
) -> Result<(String, Vec<u8>), StoreError> {
    let digest = vault.pool_digest(pool_id, code);
    let sealed = vault
        .seal_pool(pool_id, &digest, code, nonce()?)
        .map_err(sealing)?;
    Ok((digest, sealed))
}

/// A supplier code from its row's `(pool_id, code_digest, code_sealed)`.
pub(super) fn open_pool(
    vault: &CodeVault,
    pool_id: &str,
    digest: &str,
    sealed: Option<Vec<u8>>,
) -> Result<String, StoreError> {
    let sealed = sealed.ok_or_else(|| not_converted("pool_code"))?;
    vault.open_pool(pool_id, digest, &sealed).map_err(sealing)
}

fn not_converted(table: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "a {table} row holds its code in the clear; a start converts it"
    ))
}

impl<D: Db> CouponStore<D> {
    /// The code of `coupon_id` from its sealed copy.
    pub(super) fn open_coupon_code(
        &self,
        coupon_id: &str,
        sealed: Option<Vec<u8>>,
    ) -> Result<String, StoreError> {
        let sealed = sealed.ok_or_else(|| not_converted("coupon"))?;
        self.vault.open_coupon(coupon_id, &sealed).map_err(sealing)
    }

    pub(super) fn open_pool_code(
        &self,
        pool_id: &str,
        digest: &str,
        sealed: Option<Vec<u8>>,
    ) -> Result<String, StoreError> {
        open_pool(&self.vault, pool_id, digest, sealed)
    }

    /// Converts every code a database from before sealing holds in the
    /// clear (`code_sealed IS NULL`, its code in `code_digest`) into its
    /// digest and sealed copy, in short transactions. Run at start, before
    /// the service answers; returns how many codes it converted.
    pub async fn seal_codes_in_the_clear(&self) -> Result<u64, StoreError> {
        let mut converted = 0u64;
        loop {
            let mut tx = self.db.begin_write().await?;
            let coupons = tx
                .fetch_all(
                    "SELECT coupon_id, code_digest FROM coupon WHERE code_sealed IS NULL \
                     ORDER BY coupon_id LIMIT $1",
                    args![CONVERT_BATCH],
                )
                .await?;
            let pool_codes = tx
                .fetch_all(
                    "SELECT pool_id, seq, code_digest FROM pool_code WHERE code_sealed IS NULL \
                     ORDER BY pool_id, seq LIMIT $1",
                    args![CONVERT_BATCH],
                )
                .await?;
            if coupons.is_empty() && pool_codes.is_empty() {
                tx.commit().await?;
                return Ok(converted);
            }
            // Rows are not `Sync`: read into plain values before the writes.
            let coupons = coupons
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let pool_codes = pool_codes
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?, r.text(2)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            for (coupon_id, plain) in &coupons {
                let code = CouponCode::parse(plain)
                    .map_err(|_| StoreError::Corrupt(format!("coupon {coupon_id}: its code")))?;
                let (digest, sealed) = coupon_at_rest(&self.vault, coupon_id, &code)?;
                tx.execute(
                    "UPDATE coupon SET code_digest = $1, code_sealed = $2 \
                     WHERE coupon_id = $3 AND code_sealed IS NULL",
                    args![digest, sealed, coupon_id],
                )
                .await?;
            }
            for (pool_id, seq, plain) in &pool_codes {
                let (digest, sealed) = pool_at_rest(&self.vault, pool_id, plain)?;
                tx.execute(
                    "UPDATE pool_code SET code_digest = $1, code_sealed = $2 \
                     WHERE pool_id = $3 AND seq = $4 AND code_sealed IS NULL",
                    args![digest, sealed, pool_id, *seq],
                )
                .await?;
            }
            tx.commit().await?;
            converted += (coupons.len() + pool_codes.len()) as u64;
        }
    }
}
