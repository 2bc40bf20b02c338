//! The event outbox's row (issue 25): an effect's event is inserted in the
//! effect's own transaction, by [`append`] or as one more row of a hot
//! path's statement ([`EVENT`], [`event_values`]). Numbering, reading and
//! delivering events are the campaign service's (`store::events`).

use std::sync::LazyLock;

use super::{
    StoreError,
    db::{DbTx, Value, args},
    rows::{Table, Ty},
};
use crate::domain::events::EventDraft;

/// The event row as the effects write it: unnumbered (the sequencer sets
/// `position`, `seq` and `sequenced_at` after commit).
pub static EVENT: Table = Table {
    name: "event",
    columns: &[
        ("event_id", Ty::Text),
        ("merchant_id", Ty::Text),
        ("campaign_id", Ty::Text),
        ("event_type", Ty::Text),
        ("player_id", Ty::Text),
        ("pseudonym", Ty::Text),
        ("occurred_at", Ty::Int),
        ("payload", Ty::Text),
    ],
};

/// [`EVENT`]'s values for `e`.
pub fn event_values(e: &EventDraft) -> Vec<Value> {
    args![
        &e.event_id,
        &e.merchant_id,
        &e.campaign_id,
        e.event_type.as_str(),
        &e.player_id,
        &e.pseudonym,
        e.occurred_at,
        &e.payload
    ]
}

/// Writes `e` in the effect's transaction `tx`.
pub async fn append<T: DbTx>(tx: &mut T, e: &EventDraft) -> Result<(), StoreError> {
    static SQL: LazyLock<String> = LazyLock::new(|| EVENT.insert_values(1));
    tx.execute(SQL.as_str(), event_values(e)).await?;
    Ok(())
}
