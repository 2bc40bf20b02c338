//! The campaign's background sweeps, started by its module
//! (`module.rs`) and aborted with the server: prizes past their claim
//! deadline, campaigns past their window, stored answers past retention,
//! and red packets past their expiry.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    store::{Store, db::Db},
};

/// Expires due red packets every few seconds, returning their unclaimed
/// money to the budget (each exactly once; see `store::money`).
pub fn spawn_packet_expiry<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            match store.expire_due_packets(None, clock.now_ms()).await {
                Ok((0, _)) => {}
                Ok((n, cents)) => {
                    tracing::info!(expired = n, released_cents = cents, "red packets expired")
                }
                Err(e) => tracing::warn!(error = %e, "red packet expiry sweep failed"),
            }
        }
    })
}

/// Marks unclaimed physical prizes EXPIRED once their deadline passes, ends
/// campaigns past their window (`store::lifecycle`) and forgets stored
/// answers older than `retention_days` (`store::retention`; 0 = never),
/// every minute.
pub fn spawn_sweeper<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
    retention_days: u32,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            match store.expire_unclaimed(clock.now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "unclaimed prizes expired"),
                Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
            }
            match store.end_due_campaigns(clock.now_ms(), 100).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(ended = n, "campaigns past their window ended"),
                Err(e) => tracing::warn!(error = %e, "window end sweep failed"),
            }
            if retention_days > 0 {
                let before = clock.now_ms() - i64::from(retention_days) * 86_400_000;
                match store.purge_idempotency(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(purged = n, "idempotency keys past retention forgotten")
                    }
                    Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
                }
            }
        }
    })
}
