//! A redemption's PostgreSQL-only statement: the guarded take, the key and
//! the redemption row in one statement (a round trip is most of a
//! statement's cost there). The redemptions that wait together are applied
//! by `redeem_batch_postgres.rs`; SQLite's shape is in `redeem_sqlite.rs`.

use std::sync::LazyLock;

use platform::store::{
    StoreError,
    db::{DbRow, DbTx, Value, fetch_one},
    events::EVENT,
    rows::ANSWERED_KEY,
};

use super::REDEMPTION;

/// Takes the coupon for the redemption (`redemption`'s first two values)
/// and, only if this redemption got it, writes the key with its answer,
/// the redemption row and its event. False: another redemption holds the coupon. A key
/// that collides (a concurrent copy) is `Conflict`.
pub(super) async fn apply<T: DbTx>(
    tx: &mut T,
    redemption: Vec<Value>,
    key: Vec<Value>,
    event: Vec<Value>,
) -> Result<bool, StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let key_at = REDEMPTION.columns.len() + 1;
        let event_at = key_at + ANSWERED_KEY.columns.len();
        format!(
            "WITH taken AS ({} RETURNING coupon_id), keyed AS ({} FROM taken RETURNING 1), \
             redeemed AS ({} FROM keyed), evented AS ({} FROM keyed) \
             SELECT CAST(COUNT(*) AS BIGINT) FROM taken",
            sql_take_coupon!(),
            ANSWERED_KEY.insert_select(key_at),
            REDEMPTION.insert_select(1),
            EVENT.insert_select(event_at)
        )
    });
    let mut all = redemption;
    all.extend(key);
    all.extend(event);
    let row = fetch_one(tx, "redemption", SQL.as_str(), all).await?;
    Ok(row.int(0)? != 0)
}
