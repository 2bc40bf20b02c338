//! Merchants and API keys (player-token keys: `token_key.rs`).

use rand::RngCore;

use serde_json::json;

use super::{AccessRefusal, AccessStore, audit::append_audit};
use crate::{
    domain::{
        Millis,
        credential::{Role, new_api_key},
        idempotency::Idempotency,
    },
    store::{
        Outcome, StoreError, claim_key,
        db::{Db, DbRow, DbTx, args, fetch_one},
        finish, new_id,
    },
    stores::lock_open_stores,
};

/// Which of a merchant's API keys to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFilter {
    pub role: Option<Role>,
    /// Only keys bound to this store; empty: any.
    pub store_id: String,
    pub active_only: bool,
}

impl KeyFilter {
    /// The page token's scope: the merchant and the filter.
    pub fn scope(&self, merchant_id: &str) -> String {
        serde_json::json!([
            merchant_id,
            self.role.map(Role::as_str),
            self.store_id,
            self.active_only
        ])
        .to_string()
    }
}

/// Where a page of keys continues: after this (created_at, key_id).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyCursor {
    pub created_at: Millis,
    pub key_id: String,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub merchant_id: String,
    pub role: Role,
    pub store_id: Option<String>,
    pub label: String,
    pub secret_hash: Vec<u8>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

/// A created key: its record and the full secret string, shown once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub record: ApiKeyRecord,
    pub full: String,
}

const SELECT_KEY: &str = "SELECT key_id, merchant_id, role, store_id, label, secret_hash, \
                          created_at, revoked_at FROM api_key WHERE key_id = $1";

fn key_from_row(r: &impl DbRow) -> Result<ApiKeyRecord, StoreError> {
    let role = r.text(2)?;
    Ok(ApiKeyRecord {
        key_id: r.text(0)?,
        merchant_id: r.text(1)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role}")))?,
        store_id: r.opt_text(3)?,
        label: r.text(4)?,
        secret_hash: r.bytes(5)?,
        created_at: r.int(6)?,
        revoked_at: r.opt_int(7)?,
    })
}

/// The merchant created on an empty database.
pub const DEFAULT_MERCHANT_ID: &str = "00000000-0000-7000-8000-000000000001";

fn random_key() -> ([u8; 8], [u8; 32]) {
    let mut rng = rand::rng();
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    (id, secret)
}

async fn insert_key<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    role: Role,
    store_id: Option<&str>,
    label: &str,
    now: Millis,
) -> Result<CreatedKey, StoreError> {
    let (id, secret) = random_key();
    let key = new_api_key(id, secret);
    tx.execute(
        "INSERT INTO api_key (key_id, merchant_id, role, store_id, label, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        args![
            &key.key_id,
            merchant_id,
            role.as_str(),
            store_id,
            label,
            key.secret_hash.clone(),
            now
        ],
    )
    .await?;
    Ok(CreatedKey {
        record: ApiKeyRecord {
            key_id: key.key_id,
            merchant_id: merchant_id.to_owned(),
            role,
            store_id: store_id.map(str::to_owned),
            label: label.to_owned(),
            secret_hash: key.secret_hash,
            created_at: now,
            revoked_at: None,
        },
        full: key.full,
    })
}

impl<D: Db> AccessStore<D> {
    /// Creates a merchant and its first admin key.
    pub async fn create_merchant(
        &self,
        name: &str,
        now: Millis,
    ) -> Result<(String, CreatedKey), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let merchant_id = new_id();
        tx.execute(
            "INSERT INTO merchant (merchant_id, name, created_at) VALUES ($1, $2, $3)",
            args![&merchant_id, name, now],
        )
        .await?;
        let key = insert_key(
            &mut tx,
            &merchant_id,
            Role::Admin,
            None,
            "bootstrap admin",
            now,
        )
        .await?;
        let detail = json!({"after": {"name": name, "admin_key_id": key.record.key_id}});
        append_audit(
            &mut tx,
            &merchant_id,
            "cli",
            "merchant.create",
            None,
            detail,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((merchant_id, key))
    }

    /// On an empty database, creates the default merchant and its first
    /// admin key, and hands the key to `persist` (which writes it where the
    /// operator can read it) *before* committing: if `persist` fails nothing
    /// is created, so the next start tries again instead of leaving a
    /// merchant whose only admin key was never shown. Replicas starting at
    /// once on PostgreSQL race on the default merchant's fixed id; one wins.
    pub async fn bootstrap(
        &self,
        now: Millis,
        persist: impl FnOnce(&CreatedKey) -> Result<(), String> + Send,
    ) -> Result<Option<(String, CreatedKey)>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let any = tx
            .fetch_optional("SELECT merchant_id FROM merchant LIMIT 1", args![])
            .await?;
        if any.is_some() {
            return Ok(None);
        }
        let inserted = tx
            .execute(
                "INSERT INTO merchant (merchant_id, name, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (merchant_id) DO NOTHING",
                args![DEFAULT_MERCHANT_ID, "default", now],
            )
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        let key = insert_key(
            &mut tx,
            DEFAULT_MERCHANT_ID,
            Role::Admin,
            None,
            "bootstrap admin",
            now,
        )
        .await?;
        let detail = json!({"after": {"name": "default", "admin_key_id": key.record.key_id}});
        append_audit(
            &mut tx,
            DEFAULT_MERCHANT_ID,
            "bootstrap",
            "merchant.create",
            None,
            detail,
            now,
        )
        .await?;
        persist(&key).map_err(StoreError::Bootstrap)?;
        tx.commit().await?;
        Ok(Some((DEFAULT_MERCHANT_ID.to_owned(), key)))
    }

    #[tracing::instrument(skip_all)]
    pub async fn find_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        tx.fetch_optional(SELECT_KEY, args![key_id])
            .await?
            .map(|r| key_from_row(&r))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(role = role.as_str()))]
    #[allow(clippy::too_many_arguments)]
    pub async fn create_api_key(
        &self,
        merchant_id: &str,
        role: Role,
        store_id: Option<&str>,
        label: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CreatedKey) -> Vec<u8> + Send,
    ) -> Result<Outcome<CreatedKey>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // A POS key is bound to an OPEN store of its merchant, held so
        // until this commits (`stores::lock_open_stores`).
        if let Some(store) = store_id {
            lock_open_stores(&mut tx, "store_id", merchant_id, &[store.to_owned()]).await?;
        }
        let key = insert_key(&mut tx, merchant_id, role, store_id, label, now).await?;
        let detail = json!({"after": {
            "key_id": key.record.key_id, "role": role.as_str(), "store_id": store_id, "label": label,
        }});
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "api_key.create",
            None,
            detail,
            now,
        )
        .await?;
        finish(tx, idem, encode(&key)).await?;
        Ok(Outcome::Fresh(key))
    }

    #[tracing::instrument(skip_all)]
    pub async fn revoke_api_key(
        &self,
        merchant_id: &str,
        key_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&ApiKeyRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<ApiKeyRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let row = fetch_one(&mut tx, "api key", SELECT_KEY, args![key_id]).await?;
        let mut key = key_from_row(&row)?;
        if key.merchant_id != merchant_id {
            return Err(StoreError::OtherMerchant("api key"));
        }
        let n = tx
            .execute(
                "UPDATE api_key SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
                args![key_id, now],
            )
            .await?;
        if n == 0 {
            return Err(AccessRefusal::AlreadyRevoked.into());
        }
        key.revoked_at = Some(now);
        let detail =
            json!({"key_id": key_id, "before": {"revoked_at": null}, "after": {"revoked_at": now}});
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "api_key.revoke",
            None,
            detail,
            now,
        )
        .await?;
        finish(tx, idem, encode(&key)).await?;
        Ok(Outcome::Fresh(key))
    }

    /// A page of the merchant's keys matching `filter`, oldest first
    /// (created_at, then key_id), after `after` when continuing; one row
    /// past the page says whether more follow.
    pub async fn list_api_keys(
        &self,
        merchant_id: &str,
        filter: &KeyFilter,
        after: Option<&KeyCursor>,
        size: u32,
    ) -> Result<(Vec<ApiKeyRecord>, bool), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let (has_cursor, at, id) = match after {
            Some(c) => (1i64, c.created_at, c.key_id.clone()),
            None => (0, 0, String::new()),
        };
        let rows = tx
            .fetch_all(
                "SELECT key_id, merchant_id, role, store_id, label, secret_hash, created_at, \
                 revoked_at FROM api_key WHERE merchant_id = $1 \
                 AND ($2 = '' OR role = $2) AND ($3 = '' OR store_id = $3) \
                 AND ($4 = 0 OR revoked_at IS NULL) \
                 AND ($5 = 0 OR created_at > $6 OR (created_at = $6 AND key_id > $7)) \
                 ORDER BY created_at, key_id LIMIT $8",
                args![
                    merchant_id,
                    filter.role.map(Role::as_str).unwrap_or_default(),
                    filter.store_id.as_str(),
                    i64::from(filter.active_only),
                    has_cursor,
                    at,
                    id,
                    i64::from(size) + 1
                ],
            )
            .await?;
        let more = rows.len() > size as usize;
        let keys = rows
            .iter()
            .take(size as usize)
            .map(key_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((keys, more))
    }
}
