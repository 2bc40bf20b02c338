//! The admin audit trail: every change an admin makes is appended, in the
//! same transaction as the change, to a per-merchant hash chain. The store
//! only ever inserts audit rows (triggers refuse UPDATE and DELETE).

use serde_json::Value;
use uuid::Uuid;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args, fetch_one},
};
use crate::domain::{
    Millis,
    fairness::{AuditEntry, audit_entry_hash},
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
pub(crate) async fn append_audit<T: DbTx>(
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

impl<D: Db> Store<D> {
    /// The merchant's whole chain in order, and its head (last seq, hash),
    /// from one snapshot.
    pub async fn audit_log(
        &self,
        merchant_id: &str,
    ) -> Result<(Vec<AuditRecord>, i64, Option<Vec<u8>>), StoreError> {
        let mut tx = self.db.begin_read().await?;
        let head = fetch_one(
            &mut tx,
            "merchant",
            "SELECT audit_seq, audit_head FROM merchant WHERE merchant_id = $1",
            args![merchant_id],
        )
        .await?;
        let rows = tx
            .fetch_all(
                "SELECT seq, at, actor, action, campaign_id, detail, prev_hash, entry_hash \
                 FROM audit_log WHERE merchant_id = $1 ORDER BY seq",
                args![merchant_id],
            )
            .await?;
        let entries = rows
            .iter()
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
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((entries, head.int(0)?, head.opt_bytes(1)?))
    }
}
