//! The admin audit trail: every change an admin makes is appended, in the
//! same transaction as the change, to a per-merchant hash chain. The store
//! only ever inserts audit rows (triggers refuse UPDATE and DELETE).

use serde_json::Value;
use uuid::Uuid;

use super::AccessStore;
use crate::{
    domain::{
        Millis,
        audit::{AuditEntry, audit_entry_hash},
    },
    store::{
        StoreError,
        db::{Db, DbRow, DbTx, args, fetch_one},
    },
};

/// One stored entry, as exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Millis,
    pub actor: String,
    pub action: String,
    pub campaign_id: Option<String>,
    /// Canonical JSON.
    pub detail: String,
    pub prev_hash: Vec<u8>,
    pub entry_hash: Vec<u8>,
}

/// Appends one entry to the merchant's chain inside `tx`. The merchant row
/// is the chain head: bumping its counter locks it until commit, so entries
/// get consecutive numbers in commit order.
pub async fn append_audit<T: DbTx>(
    tx: &mut T,
    merchant_id: &str,
    actor: &str,
    action: &str,
    campaign_id: Option<Uuid>,
    detail: Value,
    now: Millis,
) -> Result<(), StoreError> {
    let head = fetch_one(
        tx,
        "merchant",
        "UPDATE merchant SET audit_seq = audit_seq + 1 WHERE merchant_id = $1 \
         RETURNING audit_seq, audit_head",
        args![merchant_id],
    )
    .await?;
    let seq = head.int(0)?;
    let prev = head.opt_bytes(1)?.unwrap_or_else(|| vec![0u8; 32]);
    let campaign = campaign_id.map(|c| c.to_string());
    let entry = AuditEntry {
        seq,
        at: now,
        actor,
        action,
        campaign_id: campaign.as_deref(),
        detail: &detail,
    };
    let hash = audit_entry_hash(&prev, &entry);
    tx.execute(
        "INSERT INTO audit_log (merchant_id, seq, at, actor, action, campaign_id, detail, \
         prev_hash, entry_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        args![
            merchant_id,
            seq,
            now,
            actor,
            action,
            campaign,
            detail.to_string(),
            prev,
            hash.clone()
        ],
    )
    .await?;
    tx.execute(
        "UPDATE merchant SET audit_head = $2 WHERE merchant_id = $1",
        args![merchant_id, hash],
    )
    .await?;
    Ok(())
}

impl<D: Db> AccessStore<D> {
    /// The merchant's audit chain head: its last entry's seq (0 for none)
    /// and hash. An export fixes it first, then pages up to it.
    pub async fn audit_head(
        &self,
        merchant_id: &str,
    ) -> Result<(i64, Option<Vec<u8>>), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let head = fetch_one(
            &mut tx,
            "merchant",
            "SELECT audit_seq, audit_head FROM merchant WHERE merchant_id = $1",
            args![merchant_id],
        )
        .await?;
        Ok((head.int(0)?, head.opt_bytes(1)?))
    }

    /// Up to `limit` audit entries of the merchant with `after < seq <=
    /// upto`, in order, read in a transaction of their own.
    pub async fn audit_page(
        &self,
        merchant_id: &str,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut tx = self.db.begin_read().await?;
        let rows = tx
            .fetch_all(
                "SELECT seq, at, actor, action, campaign_id, detail, prev_hash, entry_hash \
                 FROM audit_log WHERE merchant_id = $1 AND seq > $2 AND seq <= $3 \
                 ORDER BY seq LIMIT $4",
                args![merchant_id, after, upto, limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    seq: r.int(0)?,
                    at: r.int(1)?,
                    actor: r.text(2)?,
                    action: r.text(3)?,
                    campaign_id: r.opt_text(4)?,
                    detail: r.text(5)?,
                    prev_hash: r.bytes(6)?,
                    entry_hash: r.bytes(7)?,
                })
            })
            .collect()
    }
}
