//! Player-token keys: each merchant's gateway issuer (`merchant.token_issuer`)
//! and its active HS256 secrets (`player_token_key`, at most
//! [`ACTIVE_KEYS`], ordered by `generation`), so that a gateway can rotate
//! its secret with two keys active during the overlap. A retired key's row
//! is deleted: its secret is kept nowhere.
//!
//! Both changes lock the merchant row first (an UPDATE: the row lock on
//! PostgreSQL; SQLite's writer is already exclusive), so two registrations
//! for one merchant cannot both keep "the newest two".

use serde_json::json;

use super::{AccessRefusal, AccessStore, audit::append_audit};
use crate::{
    domain::{
        Millis,
        credential::{GatewayKey, Rotation, rotate},
        idempotency::Idempotency,
    },
    store::{
        Outcome, StoreError, claim_key,
        db::{Db, DbRow, DbTx, args},
        finish,
    },
};

/// Everything that verifies one issuer's tokens: whose they are and the
/// active keys, newest first. `Debug` does not show the secrets.
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    pub merchant_id: String,
    pub issuer: String,
    pub keys: Vec<GatewayKey>,
}

/// A merchant's token keys after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKeyChange {
    pub issuer: String,
    /// The issuer before, when the change replaced it (its keys are retired).
    pub previous_issuer: Option<String>,
    /// Active key ids, newest first.
    pub active: Vec<String>,
    /// Key ids this change retired.
    pub retired: Vec<String>,
}

/// A new key to register for the merchant's gateway.
pub struct NewTokenKey<'a> {
    pub issuer: &'a str,
    pub key_id: &'a str,
    pub secret: &'a [u8],
}

/// Locks the merchant row for a token key change; its current issuer.
async fn lock_merchant<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
) -> Result<Option<String>, StoreError> {
    let n = tx
        .execute(
            "UPDATE merchant SET token_issuer = token_issuer WHERE merchant_id = $1",
            args![merchant_id],
        )
        .await?;
    if n == 0 {
        return Err(StoreError::NotFound("merchant"));
    }
    tx.fetch_optional(
        "SELECT token_issuer FROM merchant WHERE merchant_id = $1",
        args![merchant_id],
    )
    .await?
    .map(|r| r.opt_text(0))
    .transpose()
    .map(Option::flatten)
}

/// The merchant's active key ids and the newest generation.
async fn active_ids<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
) -> Result<(Vec<String>, i64), StoreError> {
    let rows = tx
        .fetch_all(
            "SELECT key_id, generation FROM player_token_key WHERE merchant_id = $1 \
             ORDER BY generation DESC",
            args![merchant_id],
        )
        .await?;
    let newest = rows.first().map(|r| r.int(1)).transpose()?.unwrap_or(0);
    let ids = rows.iter().map(|r| r.text(0)).collect::<Result<_, _>>()?;
    Ok((ids, newest))
}

impl<D: Db> AccessStore<D> {
    /// The active keys of `issuer`, newest first; `None` if no merchant has
    /// this issuer or it has no active key.
    #[tracing::instrument(skip_all)]
    pub async fn find_token_keys(&self, issuer: &str) -> Result<Option<IssuerKeys>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT m.merchant_id, k.key_id, k.secret, k.sealed FROM merchant m \
                 JOIN player_token_key k ON k.merchant_id = m.merchant_id \
                 WHERE m.token_issuer = $1 ORDER BY k.generation DESC",
                args![issuer],
            )
            .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let keys = rows
            .iter()
            .map(|r| {
                let (merchant, kid) = (r.text(0)?, r.text(1)?);
                let stored = super::seal::Stored {
                    bytes: r.bytes(2)?,
                    sealed: r.int(3)?,
                };
                let secret = self.open_token_secret(&merchant, &kid, stored)?;
                Ok(GatewayKey { kid, secret })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(IssuerKeys {
            merchant_id: first.text(0)?,
            issuer: issuer.to_owned(),
            keys,
        }))
    }

    /// Registers `key` as the newest key of the merchant's gateway: the
    /// previous one stays active, older ones are retired (see
    /// [`rotate`]); a key id already active gets the new secret. Another
    /// issuer replaces the merchant's and retires all its keys.
    #[tracing::instrument(skip_all)]
    pub async fn set_player_token_key(
        &self,
        merchant_id: &str,
        key: NewTokenKey<'_>,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&TokenKeyChange) -> Vec<u8> + Send,
    ) -> Result<Outcome<TokenKeyChange>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let before = lock_merchant(&mut tx, merchant_id).await?;
        let taken = tx
            .fetch_optional(
                "SELECT merchant_id FROM merchant WHERE token_issuer = $1 AND merchant_id <> $2",
                args![key.issuer, merchant_id],
            )
            .await?;
        if taken.is_some() {
            return Err(AccessRefusal::IssuerTaken.into());
        }
        let (before_ids, newest) = active_ids(&mut tx, merchant_id).await?;
        let same_issuer = before.as_deref() == Some(key.issuer);
        let current = if same_issuer {
            before_ids.clone()
        } else {
            tx.execute(
                "UPDATE merchant SET token_issuer = $2 WHERE merchant_id = $1",
                args![merchant_id, key.issuer],
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccessRefusal::IssuerTaken.into(),
                e => e,
            })?;
            Vec::new()
        };
        let Rotation {
            active,
            mut retired,
        } = rotate(&current, key.key_id);
        if !same_issuer {
            retired = before_ids.clone();
        }
        let generation = newest
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt("player token key generation".into()))?;
        // Retired keys and the one being replaced go; the new one is the
        // newest.
        tx.execute(
            "DELETE FROM player_token_key WHERE merchant_id = $1 AND key_id = $2",
            args![merchant_id, key.key_id],
        )
        .await?;
        for kid in &retired {
            tx.execute(
                "DELETE FROM player_token_key WHERE merchant_id = $1 AND key_id = $2",
                args![merchant_id, kid.as_str()],
            )
            .await?;
        }
        let stored = self.seal_token_secret(merchant_id, key.key_id, key.secret)?;
        tx.execute(
            "INSERT INTO player_token_key \
             (merchant_id, key_id, secret, sealed, generation, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                merchant_id,
                key.key_id,
                stored.bytes,
                stored.sealed,
                generation,
                now
            ],
        )
        .await?;
        // The secret itself never enters the trail.
        let detail = json!({
            "key_id": key.key_id,
            "retired": retired,
            "before": {"issuer": before, "key_ids": before_ids},
            "after": {"issuer": key.issuer, "key_ids": active},
        });
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "player_token_key.set",
            None,
            detail,
            now,
        )
        .await?;
        let change = TokenKeyChange {
            issuer: key.issuer.to_owned(),
            previous_issuer: before.filter(|_| !same_issuer),
            active,
            retired,
        };
        finish(tx, idem, encode(&change)).await?;
        Ok(Outcome::Fresh(change))
    }

    /// Retires one active key of the merchant's gateway before its time.
    #[tracing::instrument(skip_all)]
    pub async fn retire_player_token_key(
        &self,
        merchant_id: &str,
        key_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&TokenKeyChange) -> Vec<u8> + Send,
    ) -> Result<Outcome<TokenKeyChange>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let issuer = lock_merchant(&mut tx, merchant_id).await?;
        let (before_ids, _) = active_ids(&mut tx, merchant_id).await?;
        let n = tx
            .execute(
                "DELETE FROM player_token_key WHERE merchant_id = $1 AND key_id = $2",
                args![merchant_id, key_id],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound("player token key"));
        }
        let active: Vec<String> = before_ids
            .iter()
            .filter(|k| *k != key_id)
            .cloned()
            .collect();
        let detail = json!({
            "key_id": key_id,
            "before": {"issuer": issuer, "key_ids": before_ids},
            "after": {"issuer": issuer, "key_ids": active},
        });
        append_audit(
            &mut tx,
            merchant_id,
            &idem.scope,
            "player_token_key.retire",
            None,
            detail,
            now,
        )
        .await?;
        let change = TokenKeyChange {
            issuer: issuer.unwrap_or_default(),
            previous_issuer: None,
            active,
            retired: vec![key_id.to_owned()],
        };
        finish(tx, idem, encode(&change)).await?;
        Ok(Outcome::Fresh(change))
    }
}
