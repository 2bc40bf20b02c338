//! Health that tells the truth about the database (issue 22): every
//! `HEALTH_EVERY` a probe (`Store::ping`: a read and a write transaction)
//! must finish within `HEALTH_TIMEOUT`; while it does not, every served
//! service and the server as a whole (`""`) are NOT_SERVING, and SERVING
//! again after the next probe that passes. A load balancer or Kubernetes
//! then stops sending calls that could only time out (a pool taken by
//! stalled streams, a database that went away).

use std::{sync::Arc, time::Duration};

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::store::{Store, db::Db};

/// How often the database is probed.
pub const HEALTH_EVERY: Duration = Duration::from_secs(2);
/// How long one probe may take before the database counts as unavailable.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// Probes the database for ever, setting the status of `services` (and of
/// the server, `""`) on `reporter` whenever it changes.
pub fn spawn_prober<D: Db>(
    store: Store<D>,
    reporter: HealthReporter,
    services: Arc<Vec<&'static str>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut serving = true;
        let mut tick = tokio::time::interval(HEALTH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let outcome = tokio::time::timeout(HEALTH_TIMEOUT, store.ping()).await;
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
