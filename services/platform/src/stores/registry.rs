//! Stores' storage: the `merchant_store` table, each change under an
//! idempotency key with its audit entry, and the guard POS keys and coupon
//! templates take on the stores they name ([`lock_open_stores`]).

use serde_json::json;

use super::domain::{
    GeoPoint, StoreCursor, StoreFilter, StoreRecord, StoreRefusal, StoreSpec, StoreStatus,
};
use crate::{
    access::audit::append_audit,
    domain::{Millis, idempotency::Idempotency},
    store::{
        Outcome, StoreError, claim_key,
        db::{Db, DbRow, DbTx, args},
        finish,
    },
};

/// The stores of every merchant, over one backend.
#[derive(Clone)]
pub struct StoreRegistry<D: Db> {
    db: D,
}

/// A store after `UpdateStore`, and the POS keys its closing revoked.
#[derive(Debug, Clone)]
pub struct UpdatedStore {
    pub store: StoreRecord,
    pub revoked_key_ids: Vec<String>,
}

/// `SELECT <every column> FROM merchant_store <rest>`, as one static
/// statement (the seam caches statements by their text).
macro_rules! select_stores {
    ($rest:literal) => {
        concat!(
            "SELECT merchant_id, store_id, name, city, address, lat_e6, lng_e6, status, \
             created_at, updated_at FROM merchant_store ",
            $rest
        )
    };
}

fn store_from_row(r: &impl DbRow) -> Result<StoreRecord, StoreError> {
    let status = r.text(7)?;
    let location = match (r.opt_int(5)?, r.opt_int(6)?) {
        (Some(lat_e6), Some(lng_e6)) => Some(GeoPoint { lat_e6, lng_e6 }),
        _ => None,
    };
    Ok(StoreRecord {
        merchant_id: r.text(0)?,
        store_id: r.text(1)?,
        spec: StoreSpec {
            name: r.text(2)?,
            city: r.text(3)?,
            address: r.text(4)?,
            location,
        },
        status: StoreStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("store status {status}")))?,
        created_at: r.int(8)?,
        updated_at: r.int(9)?,
    })
}

fn spec_json(s: &StoreSpec, status: StoreStatus) -> serde_json::Value {
    json!({
        "name": s.name, "city": s.city, "address": s.address,
        "lat_e6": s.location.map(|p| p.lat_e6), "lng_e6": s.location.map(|p| p.lng_e6),
        "status": status.as_str(),
    })
}

async fn find<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    store_id: &str,
) -> Result<Option<StoreRecord>, StoreError> {
    tx.fetch_optional(
        select_stores!("WHERE merchant_id = $1 AND store_id = $2"),
        args![merchant_id, store_id],
    )
    .await?
    .map(|r| store_from_row(&r))
    .transpose()
}

/// Inside a write transaction: each of `store_ids` (the request's
/// `field`) is an OPEN store of `merchant_id`, and stays so until the
/// transaction ends. The check is a conditional UPDATE of the store's
/// row, so on PostgreSQL it takes the row's lock: a store being closed at the same moment either closes
/// first (and this refuses) or waits for this transaction (and its closing
/// revokes the key this made).
pub async fn lock_open_stores<T: DbTx>(
    tx: &mut T,
    field: &'static str,
    merchant_id: &str,
    store_ids: &[String],
) -> Result<(), StoreError> {
    for id in store_ids {
        let n = tx
            .execute(
                "UPDATE merchant_store SET status = status \
                 WHERE merchant_id = $1 AND store_id = $2 AND status = 'OPEN'",
                args![merchant_id, id.as_str()],
            )
            .await?;
        if n == 0 {
            let refusal = match find(tx, merchant_id, id).await? {
                Some(_) => StoreRefusal::Closed(field, id.clone()),
                None => StoreRefusal::Unknown(field, id.clone()),
            };
            return Err(refusal.into());
        }
    }
    Ok(())
}

impl<D: Db> StoreRegistry<D> {
    pub fn new(db: D) -> Self {
        Self { db }
    }

    /// Registers a store, OPEN. A code the merchant already registered is
    /// refused ([`StoreRefusal::Exists`]), whatever its details.
    #[tracing::instrument(skip_all)]
    pub async fn create_store(
        &self,
        merchant_id: &str,
        store_id: &str,
        spec: StoreSpec,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&StoreRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<StoreRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let n = tx
            .execute(
                "INSERT INTO merchant_store (merchant_id, store_id, name, city, address, \
                 lat_e6, lng_e6, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'OPEN', $8, $8) \
                 ON CONFLICT (merchant_id, store_id) DO NOTHING",
                args![
                    merchant_id,
                    store_id,
                    spec.name.as_str(),
                    spec.city.as_str(),
                    spec.address.as_str(),
                    spec.location.map(|p| p.lat_e6),
                    spec.location.map(|p| p.lng_e6),
                    now
                ],
            )
            .await?;
        if n == 0 {
            return Err(StoreRefusal::Exists(store_id.to_owned()).into());
        }
        let store = StoreRecord {
            merchant_id: merchant_id.to_owned(),
            store_id: store_id.to_owned(),
            spec,
            status: StoreStatus::Open,
            created_at: now,
            updated_at: now,
        };
        let detail = json!({"store_id": store_id, "after": spec_json(&store.spec, store.status)});
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "store.create",
            None,
            detail,
            now,
        )
        .await?;
        finish(tx, idem, encode(&store)).await?;
        Ok(Outcome::Fresh(store))
    }

    /// Replaces a store's details and, when `status` is given, sets it.
    /// Closing an OPEN store revokes its unrevoked POS keys in the same
    /// transaction; reopening restores none.
    #[tracing::instrument(skip_all)]
    #[allow(clippy::too_many_arguments)]
    pub async fn update_store(
        &self,
        merchant_id: &str,
        store_id: &str,
        spec: StoreSpec,
        status: Option<StoreStatus>,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&UpdatedStore) -> Vec<u8> + Send,
    ) -> Result<Outcome<UpdatedStore>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // Locks the row first (PostgreSQL), then reads what it locked.
        let n = tx
            .execute(
                "UPDATE merchant_store SET updated_at = updated_at \
                 WHERE merchant_id = $1 AND store_id = $2",
                args![merchant_id, store_id],
            )
            .await?;
        let before = match (n, find(&mut tx, merchant_id, store_id).await?) {
            (1, Some(s)) => s,
            _ => return Err(StoreError::NotFound("store")),
        };
        let status = status.unwrap_or(before.status);
        tx.execute(
            "UPDATE merchant_store SET name = $3, city = $4, address = $5, lat_e6 = $6, \
             lng_e6 = $7, status = $8, updated_at = $9 \
             WHERE merchant_id = $1 AND store_id = $2",
            args![
                merchant_id,
                store_id,
                spec.name.as_str(),
                spec.city.as_str(),
                spec.address.as_str(),
                spec.location.map(|p| p.lat_e6),
                spec.location.map(|p| p.lng_e6),
                status.as_str(),
                now
            ],
        )
        .await?;
        let mut revoked_key_ids = Vec::new();
        if before.status == StoreStatus::Open && status == StoreStatus::Closed {
            // No key can be added meanwhile: a new key locks this row.
            let rows = tx
                .fetch_all(
                    "SELECT key_id FROM api_key WHERE merchant_id = $1 AND store_id = $2 \
                     AND role = 'pos' AND revoked_at IS NULL ORDER BY key_id",
                    args![merchant_id, store_id],
                )
                .await?;
            for r in &rows {
                revoked_key_ids.push(r.text(0)?);
            }
            tx.execute(
                "UPDATE api_key SET revoked_at = $3 WHERE merchant_id = $1 AND store_id = $2 \
                 AND role = 'pos' AND revoked_at IS NULL",
                args![merchant_id, store_id, now],
            )
            .await?;
        }
        let store = StoreRecord {
            spec,
            status,
            updated_at: now,
            ..before.clone()
        };
        let detail = json!({
            "store_id": store_id,
            "before": spec_json(&before.spec, before.status),
            "after": spec_json(&store.spec, store.status),
            "revoked_key_ids": revoked_key_ids,
        });
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "store.update",
            None,
            detail,
            now,
        )
        .await?;
        let updated = UpdatedStore {
            store,
            revoked_key_ids,
        };
        finish(tx, idem, encode(&updated)).await?;
        Ok(Outcome::Fresh(updated))
    }

    /// A store of this merchant; NOT_FOUND for any other.
    pub async fn get_store(
        &self,
        merchant_id: &str,
        store_id: &str,
    ) -> Result<StoreRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        find(&mut tx, merchant_id, store_id)
            .await?
            .ok_or(StoreError::NotFound("store"))
    }

    /// A page of the merchant's stores matching `filter`, in code order,
    /// after `after` when continuing; one row past the page says whether
    /// more follow.
    pub async fn list_stores(
        &self,
        merchant_id: &str,
        filter: &StoreFilter,
        after: Option<&StoreCursor>,
        size: u32,
    ) -> Result<(Vec<StoreRecord>, bool), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let after = after.map(|c| c.store_id.as_str()).unwrap_or_default();
        let rows = tx
            .fetch_all(
                select_stores!(
                    "WHERE merchant_id = $1 \
                     AND ($2 = '' OR status = $2) AND ($3 = '' OR city = $3) \
                     AND store_id > $4 ORDER BY store_id LIMIT $5"
                ),
                args![
                    merchant_id,
                    filter.status.map(StoreStatus::as_str).unwrap_or_default(),
                    filter.city.as_str(),
                    after,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let more = rows.len() > size as usize;
        let stores = rows
            .iter()
            .take(size as usize)
            .map(store_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((stores, more))
    }
}
