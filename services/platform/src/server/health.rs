//! Health that tells the truth about the database (issue 22): every
//! `HEALTH_EVERY` a probe ([`ping`]: a read and a write transaction through
//! the `Db` seam) must finish within `HEALTH_TIMEOUT`; while it does not,
//! every served service and the server as a whole (`""`) are NOT_SERVING,
//! and SERVING again after the next probe that passes. A load balancer or Kubernetes
//! then stops sending calls that could only time out (a pool taken by
//! stalled streams, a database that went away).

use std::{sync::Arc, time::Duration};

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::store::{
    StoreError,
    db::{Db, DbTx},
};

/// How often the database is probed.
pub const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How long one probe may take before the database counts as unavailable.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's liveness: Ok when a read and a write transaction can
/// each be opened and run `SELECT 1`. Both paths are probed because either
/// can be what stalls (a pool taken by slow readers, a writer queue that no
/// longer moves). The write transaction is dropped, never committed.
pub async fn ping<D: Db>(db: &D) -> Result<(), StoreError> {
    let mut read = db.begin_read().await?;
    read.fetch_optional("SELECT 1", vec![]).await?;
    drop(read);
    let mut write = db.begin_write().await?;
    write.fetch_optional("SELECT 1", vec![]).await?;
    Ok(())
}

/// Probes the database for ever, setting the status of `services` (and of
/// the server, `""`) on `reporter` whenever it changes.
pub fn spawn_prober<D: Db>(
    db: D,
    reporter: HealthReporter,
    services: Arc<Vec<&'static str>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut serving = true;
        let mut tick = tokio::time::interval(HEALTH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = tokio::time::timeout(HEALTH_TIMEOUT, ping(&db)).await;
            let ok = matches!(outcome, Ok(Ok(())));
            if ok == serving {
                continue;
            }
            match &outcome {
                Ok(Ok(())) => tracing::info!("database answers again: SERVING"),
                Ok(Err(e)) => tracing::warn!(error = %e, "database probe failed: NOT_SERVING"),
                Err(_) => tracing::warn!(
                    timeout_ms = HEALTH_TIMEOUT.as_millis() as u64,
                    "database probe timed out: NOT_SERVING"
                ),
            }
            serving = ok;
            let status = if ok {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            for name in services.iter().copied().chain([""]) {
                reporter.set_service_status(name, status).await;
            }
        }
    })
}
