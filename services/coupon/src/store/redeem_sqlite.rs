//! A redemption's SQLite-only statements: the guarded take, then the key
//! and the redemption row, one statement each (in-process, one writer: a
//! statement costs no round trip). PostgreSQL's shape is in
//! `redeem_postgres.rs`.

use std::sync::LazyLock;

use platform::store::{
    StoreError,
    db::{DbTx, Value},
    events::EVENT,
    rows::ANSWERED_KEY,
};

use super::REDEMPTION;

/// Takes the coupon for the redemption (`redemption`'s first two values)
/// and, if this redemption got it, writes the key with its answer, the
/// redemption row and its event. False: another redemption holds the coupon.
pub(super) async fn apply<T: DbTx>(
    tx: &mut T,
    redemption: Vec<Value>,
    key: Vec<Value>,
    event: Vec<Value>,
) -> Result<bool, StoreError> {
    static EVENT_SQL: LazyLock<String> = LazyLock::new(|| EVENT.insert_values(1));
    static KEY_SQL: LazyLock<String> = LazyLock::new(|| ANSWERED_KEY.insert_values(1));
    static ROW_SQL: LazyLock<String> = LazyLock::new(|| REDEMPTION.insert_values(1));
    let take = redemption.iter().take(2).cloned().collect();
    if tx.execute(sql_take_coupon!(), take).await? != 1 {
        return Ok(false);
    }
    tx.execute(KEY_SQL.as_str(), key).await?;
    tx.execute(ROW_SQL.as_str(), redemption).await?;
    tx.execute(EVENT_SQL.as_str(), event).await?;
    Ok(true)
}
