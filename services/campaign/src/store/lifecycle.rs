//! Campaigns whose window is over are ended by the engine itself, as
//! `EndCampaign` would end them: the stored status catches up with what
//! callers are already shown (ENDED), the audit trail records the end (by
//! `engine:window`), and what cash prizes no longer need goes back to the
//! budget without anyone having to press End.

use uuid::Uuid;

use super::{
    Store, StoreError,
    db::{Db, DbRow, DbTx, args},
    parse_uuid,
};
use crate::domain::{
    Millis, Rejection,
    idempotency::{Idempotency, IdempotencyKey},
    wheel::Transition,
};

/// Who ends a campaign whose window is over, in the audit trail.
pub const WINDOW_SCOPE: &str = "engine:window";

impl<D: Db> Store<D> {
    /// Ends up to `limit` published or paused campaigns whose window is
    /// over at `now`, each in its own transaction and exactly once (a key
    /// of the engine's own scope per campaign); returns how many it ended.
    /// A campaign an admin ends at the same moment is simply skipped.
    pub async fn end_due_campaigns(&self, now: Millis, limit: i64) -> Result<u64, StoreError> {
        let due = {
            let mut tx = self.db.begin_read().await?;
            let rows = tx
                .fetch_all(
                    "SELECT campaign_id, merchant_id FROM campaign \
                     WHERE status IN ('published', 'paused') AND ends_at <= $1 \
                     ORDER BY ends_at, campaign_id LIMIT $2",
                    args![now, limit],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((parse_uuid(&r.text(0)?)?, r.text(1)?)))
                .collect::<Result<Vec<(Uuid, String)>, StoreError>>()?
        };
        let mut ended = 0;
        for (id, merchant) in due {
            let key = IdempotencyKey::parse(&format!("window-end:{id}"))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let idem = Idempotency {
                scope: WINDOW_SCOPE.to_owned(),
                method: "EndCampaign",
                key,
                fingerprint: id.as_bytes().to_vec(),
            };
            match self
                .transition(&merchant, id, Transition::End, now, &idem, |_| Vec::new())
                .await
            {
                Ok(_) => ended += 1,
                Err(e)
                    if matches!(
                        e.refusal::<Rejection>(),
                        Some(Rejection::InvalidTransition { .. })
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ended)
    }
}
