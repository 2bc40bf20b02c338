//! Webhook endpoints (issue 25, docs/events.md): a merchant's registered
//! receivers, their sealed secrets and their delivery health. The
//! deliveries themselves are `delivery.rs`; the rules (URL, secret,
//! signature, schedule) are `domain::webhook`.

pub mod delivery;

use serde_json::json;

use super::{
    Outcome, Store, StoreError,
    audit::append_audit,
    claim_key,
    db::{Db, DbRow, DbTx, args, fetch_one},
    finish, new_id,
};
use crate::domain::{
    Millis, Rejection, idempotency::Idempotency, seal::SealKey, webhook::MAX_ENDPOINTS,
};

/// An endpoint as admins see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub endpoint_id: String,
    pub merchant_id: String,
    pub url: String,
    pub description: String,
    /// `,type,type,` or empty for every type.
    pub event_types: String,
    /// `enabled`, `disabled` or `failing`.
    pub status: String,
    /// `admin` or `gone` when disabled.
    pub disabled_reason: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_success_at: Option<Millis>,
    pub last_failure_at: Option<Millis>,
    pub last_status: Option<i64>,
    pub last_error: String,
    pub health: Health,
}

/// An endpoint's deliveries by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Health {
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// When the oldest waiting delivery was queued.
    pub oldest_pending_at: Option<Millis>,
}

/// A created endpoint with its secret, shown once.
#[derive(Debug, Clone)]
pub struct CreatedEndpoint {
    pub record: EndpointRecord,
    pub secret: String,
}

/// What an admin changes (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<String>,
    /// Some(true): enable (clears FAILING); Some(false): disable.
    pub enabled: Option<bool>,
}

// An endpoint with its delivery counts, for `endpoint_of`.
macro_rules! select_endpoint {
    () => {
        "SELECT w.endpoint_id, w.merchant_id, w.url, w.description, \
     w.event_types, w.status, w.disabled_reason, w.created_at, w.updated_at, w.last_success_at, \
     w.last_failure_at, w.last_status, w.last_error, \
     (SELECT COUNT(*) FROM webhook_delivery d WHERE d.endpoint_id = w.endpoint_id \
        AND d.state = 'pending'), \
     (SELECT COUNT(*) FROM webhook_delivery d WHERE d.endpoint_id = w.endpoint_id \
        AND d.state = 'delivered'), \
     (SELECT COUNT(*) FROM webhook_delivery d WHERE d.endpoint_id = w.endpoint_id \
        AND d.state = 'failed'), \
     (SELECT MIN(d.created_at) FROM webhook_delivery d WHERE d.endpoint_id = w.endpoint_id \
        AND d.state = 'pending') \
     FROM webhook_endpoint w"
    };
}

fn endpoint_of(r: &impl DbRow) -> Result<EndpointRecord, StoreError> {
    Ok(EndpointRecord {
        endpoint_id: r.text(0)?,
        merchant_id: r.text(1)?,
        url: r.text(2)?,
        description: r.text(3)?,
        event_types: r.text(4)?,
        status: r.text(5)?,
        disabled_reason: r.text(6)?,
        created_at: r.int(7)?,
        updated_at: r.int(8)?,
        last_success_at: r.opt_int(9)?,
        last_failure_at: r.opt_int(10)?,
        last_status: r.opt_int(11)?,
        last_error: r.text(12)?,
        health: Health {
            pending: r.int(13)?,
            delivered: r.int(14)?,
            failed: r.int(15)?,
            oldest_pending_at: r.opt_int(16)?,
        },
    })
}

/// The associated data a secret is sealed for: its endpoint.
fn secret_aad(endpoint_id: &str) -> Vec<u8> {
    format!("webhook_endpoint\u{0}{endpoint_id}").into_bytes()
}

async fn own_endpoint<T: DbTx>(
    tx: &mut T,
    merchant: &str,
    endpoint_id: &str,
) -> Result<EndpointRecord, StoreError> {
    const SQL: &str = concat!(select_endpoint!(), " WHERE w.endpoint_id = $1");
    let e = endpoint_of(&fetch_one(tx, "webhook endpoint", SQL, args![endpoint_id]).await?)?;
    if e.merchant_id != merchant {
        return Err(StoreError::OtherMerchant("webhook endpoint"));
    }
    Ok(e)
}

impl<D: Db> Store<D> {
    /// The key secrets are sealed with: the server's seal key, or (a store
    /// built by hand) a key of this process.
    fn webhook_seal(&self) -> SealKey {
        static PROCESS_KEY: std::sync::LazyLock<[u8; 32]> = std::sync::LazyLock::new(|| {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
            key
        });
        match &self.seal_key {
            Some(k) => SealKey::from_bytes(k.derive(b"campaign-engine webhook secret v1")),
            None => SealKey::from_bytes(*PROCESS_KEY),
        }
    }

    /// Registers an endpoint with `secret` (checked by the caller),
    /// sealed; audited without the secret. At most [`MAX_ENDPOINTS`] a
    /// merchant.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_webhook_endpoint(
        &self,
        merchant: &str,
        url: &str,
        description: &str,
        event_types: &str,
        secret: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&CreatedEndpoint) -> Vec<u8> + Send,
    ) -> Result<Outcome<CreatedEndpoint>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        // The merchant's row locked first (as the gateway keys do), so two
        // creates at once count one after the other: the cap holds in SQL,
        // not only in this read.
        tx.execute(
            "UPDATE merchant SET token_issuer = token_issuer WHERE merchant_id = $1",
            args![merchant],
        )
        .await?;
        let count = fetch_one(
            &mut tx,
            "webhook endpoints",
            "SELECT COUNT(*) FROM webhook_endpoint WHERE merchant_id = $1",
            args![merchant],
        )
        .await?
        .int(0)?;
        if count >= MAX_ENDPOINTS {
            return Err(Rejection::TooManyEndpoints(MAX_ENDPOINTS).into());
        }
        let id = new_id();
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let sealed = self
            .webhook_seal()
            .seal(secret.as_bytes(), &secret_aad(&id), nonce)
            .map_err(|e| StoreError::Corrupt(format!("sealing a webhook secret: {e}")))?;
        tx.execute(
            "INSERT INTO webhook_endpoint (endpoint_id, merchant_id, url, description, \
             event_types, secret_sealed, status, disabled_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'enabled', '', $7, $7)",
            args![&id, merchant, url, description, event_types, sealed, now],
        )
        .await?;
        append_audit(
            &mut tx,
            merchant,
            &idem.scope,
            "webhook.create",
            None,
            json!({"endpoint_id": id, "url": url, "event_types": event_types}),
            now,
        )
        .await?;
        let record = own_endpoint(&mut tx, merchant, &id).await?;
        let created = CreatedEndpoint {
            record,
            secret: secret.to_owned(),
        };
        finish(tx, idem, encode(&created)).await?;
        Ok(Outcome::Fresh(created))
    }

    /// The merchant's endpoints, oldest first, with their health.
    pub async fn list_webhook_endpoints(
        &self,
        merchant: &str,
    ) -> Result<Vec<EndpointRecord>, StoreError> {
        const SQL: &str = concat!(
            select_endpoint!(),
            " WHERE w.merchant_id = $1 ORDER BY w.created_at, w.endpoint_id"
        );
        let mut tx = self.db.begin_read().await?;
        let rows = tx.fetch_all(SQL, args![merchant]).await?;
        rows.iter().map(endpoint_of).collect()
    }

    /// One endpoint of the merchant.
    pub async fn get_webhook_endpoint(
        &self,
        merchant: &str,
        endpoint_id: &str,
    ) -> Result<EndpointRecord, StoreError> {
        let mut tx = self.db.begin_read().await?;
        own_endpoint(&mut tx, merchant, endpoint_id).await
    }

    /// An endpoint's URL and opened secret, for a test delivery.
    pub async fn webhook_target(
        &self,
        merchant: &str,
        endpoint_id: &str,
    ) -> Result<(String, String), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let e = own_endpoint(&mut tx, merchant, endpoint_id).await?;
        let secret = self.endpoint_secret(&mut tx, endpoint_id).await?;
        Ok((e.url, secret))
    }

    /// The opened secret of an endpoint.
    pub(crate) async fn endpoint_secret<T: DbTx>(
        &self,
        tx: &mut T,
        endpoint_id: &str,
    ) -> Result<String, StoreError> {
        let sealed = fetch_one(
            tx,
            "webhook endpoint",
            "SELECT secret_sealed FROM webhook_endpoint WHERE endpoint_id = $1",
            args![endpoint_id],
        )
        .await?
        .bytes(0)?;
        let plain = self
            .webhook_seal()
            .open(&sealed, &secret_aad(endpoint_id))
            .map_err(|e| StoreError::Corrupt(format!("a webhook secret does not open: {e}")))?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt("a webhook secret is not UTF-8".into()))
    }

    /// Changes an endpoint; enabling clears FAILING and DISABLED (its
    /// waiting deliveries go out again). Audited.
    pub async fn update_webhook_endpoint(
        &self,
        merchant: &str,
        endpoint_id: &str,
        change: &EndpointChange,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&EndpointRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<EndpointRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let before = own_endpoint(&mut tx, merchant, endpoint_id).await?;
        let (status, reason) = match change.enabled {
            Some(true) => ("enabled", ""),
            Some(false) => ("disabled", "admin"),
            None => (before.status.as_str(), before.disabled_reason.as_str()),
        };
        tx.execute(
            "UPDATE webhook_endpoint SET url = $2, description = $3, event_types = $4, \
             status = $5, disabled_reason = $6, updated_at = $7 WHERE endpoint_id = $1",
            args![
                endpoint_id,
                change.url.as_deref().unwrap_or(&before.url),
                change.description.as_deref().unwrap_or(&before.description),
                change.event_types.as_deref().unwrap_or(&before.event_types),
                status,
                reason,
                now
            ],
        )
        .await?;
        append_audit(
            &mut tx,
            merchant,
            &idem.scope,
            "webhook.update",
            None,
            json!({
                "endpoint_id": endpoint_id,
                "before": {"url": before.url, "event_types": before.event_types,
                           "status": before.status},
                "after": {"url": change.url, "event_types": change.event_types,
                          "status": status},
            }),
            now,
        )
        .await?;
        let after = own_endpoint(&mut tx, merchant, endpoint_id).await?;
        finish(tx, idem, encode(&after)).await?;
        Ok(Outcome::Fresh(after))
    }

    /// Removes an endpoint and its deliveries (the events stay). Audited.
    pub async fn delete_webhook_endpoint(
        &self,
        merchant: &str,
        endpoint_id: &str,
        now: Millis,
        idem: &Idempotency,
        encode: impl FnOnce(&EndpointRecord) -> Vec<u8> + Send,
    ) -> Result<Outcome<EndpointRecord>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(bytes) = claim_key(&mut tx, idem, now).await? {
            return Ok(Outcome::Replay(bytes));
        }
        let gone = own_endpoint(&mut tx, merchant, endpoint_id).await?;
        // The endpoint's row locked first, then its deliveries: the order
        // the worker's `record_attempts` takes them in.
        tx.execute(
            "UPDATE webhook_endpoint SET updated_at = $2 WHERE endpoint_id = $1",
            args![endpoint_id, now],
        )
        .await?;
        tx.execute(
            "DELETE FROM webhook_delivery WHERE endpoint_id = $1",
            args![endpoint_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM webhook_endpoint WHERE endpoint_id = $1",
            args![endpoint_id],
        )
        .await?;
        append_audit(
            &mut tx,
            merchant,
            &idem.scope,
            "webhook.delete",
            None,
            json!({"endpoint_id": endpoint_id, "url": gone.url}),
            now,
        )
        .await?;
        finish(tx, idem, encode(&gone)).await?;
        Ok(Outcome::Fresh(gone))
    }
}
