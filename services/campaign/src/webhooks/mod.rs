//! Webhook delivery (issue 25, docs/events.md): one worker per active
//! endpoint, so a slow or dead receiver delays only its own deliveries.
//! A worker leases its endpoint's due deliveries (`store::webhooks::
//! delivery`), posts them signed, at most `webhook_concurrency` at once,
//! and records every answer in one transaction: 2xx delivered, 410 the
//! endpoint disabled, anything else retried on the schedule of
//! `domain::webhook::backoff_ms` until `webhook_retry_hours` have passed.
//!
//! Delivery is at least once: a crash after the receiver's 2xx and before
//! the record sends it again once the lease runs out. Receivers dedupe by
//! the event id (docs/events.md "Exactly once").

pub mod http;

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures_util::{StreamExt, stream};
use tokio::task::JoinSet;

use crate::{
    clock::{Clock, SystemClock},
    domain::{
        Millis,
        webhook::{Answer, Envelope, SIGNATURE_HEADER, answer_of, backoff_ms, signature},
    },
    store::{
        Store,
        db::Db,
        webhooks::delivery::{Attempted, Leased},
    },
};
pub use http::{Posted, Sender};

/// Deliveries a worker leases at a time.
const BATCH: i64 = 256;
/// How long a lease holds before its deliveries are due again (a worker
/// killed mid-batch delays them this long).
const LEASE_MS: Millis = 30_000;
/// How often an idle worker looks for new deliveries (it also wakes when
/// this process numbers events).
const IDLE_POLL: Duration = Duration::from_millis(250);
/// How often the supervisor looks for endpoints to start workers for.
const SUPERVISE: Duration = Duration::from_secs(1);

/// The delivery settings (`[campaign]` `webhook_*`).
#[derive(Clone, Copy, Debug)]
pub struct WebhookConfig {
    pub retry_window_ms: Millis,
    pub concurrency: usize,
    pub backoff_cap_ms: Millis,
}

/// Starts the supervisor: a worker for each ENABLED or FAILING endpoint,
/// stopped with it (the workers live in its `JoinSet`).
pub fn spawn<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
    sender: Sender,
    cfg: WebhookConfig,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut workers: JoinSet<()> = JoinSet::new();
        let mut running: HashMap<String, tokio::task::AbortHandle> = HashMap::new();
        loop {
            while workers.try_join_next().is_some() {}
            running.retain(|_, h| !h.is_finished());
            match store.active_webhook_endpoints().await {
                Ok(active) => {
                    for id in active {
                        if running.contains_key(&id) {
                            continue;
                        }
                        let w = Worker {
                            store: store.clone(),
                            clock: clock.clone(),
                            sender: sender.clone(),
                            endpoint: id.clone(),
                            cfg,
                        };
                        running.insert(id, workers.spawn(w.run()));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "listing webhook endpoints failed"),
            }
            tokio::time::sleep(SUPERVISE).await;
        }
    })
}

struct Worker<D: Db> {
    store: Store<D>,
    clock: Arc<dyn Clock>,
    sender: Sender,
    endpoint: String,
    cfg: WebhookConfig,
}

impl<D: Db> Worker<D> {
    /// Delivers until the endpoint is no longer active.
    async fn run(self) {
        let mut ticks = self.store.event_ticks();
        tracing::info!(endpoint.id = %self.endpoint, "webhook worker started");
        loop {
            ticks.borrow_and_update();
            let now = self.clock.now_ms();
            let lease = match self
                .store
                .lease_deliveries(&self.endpoint, now, now + LEASE_MS, BATCH)
                .await
            {
                Ok(Some(l)) => l,
                Ok(None) => {
                    tracing::info!(endpoint.id = %self.endpoint, "webhook worker stopped");
                    return;
                }
                Err(e) => {
                    tracing::warn!(endpoint.id = %self.endpoint, error = %e,
                        "leasing webhook deliveries failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if lease.due.is_empty() {
                tokio::select! {
                    _ = ticks.changed() => {}
                    _ = tokio::time::sleep(IDLE_POLL) => {}
                }
                continue;
            }
            let (url, secret) = (lease.url.as_str(), lease.secret.as_str());
            let results: Vec<Attempted> = stream::iter(lease.due)
                .map(|d| self.attempt(url, secret, d))
                .buffer_unordered(self.cfg.concurrency.max(1))
                .collect()
                .await;
            let delivered = results
                .iter()
                .filter(|r| r.answer == Answer::Delivered)
                .count();
            tracing::debug!(endpoint.id = %self.endpoint, sent = results.len(), delivered,
                "webhook batch");
            let recorded = self
                .store
                .record_attempts(
                    &self.endpoint,
                    &lease.token,
                    &results,
                    self.clock.now_ms(),
                    self.cfg.retry_window_ms,
                )
                .await;
            if let Err(e) = recorded {
                // The lease runs out and they are sent again: at least once.
                tracing::warn!(endpoint.id = %self.endpoint, error = %e,
                    "recording webhook answers failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// One POST of a leased delivery, and what it means.
    async fn attempt(&self, url: &str, secret: &str, d: Leased) -> Attempted {
        let e = &d.event;
        let body = Envelope {
            event_id: &e.event_id,
            event_type: &e.event_type,
            merchant_id: &e.merchant_id,
            campaign_id: &e.campaign_id,
            position: e.position,
            seq: e.seq,
            occurred_at: e.occurred_at,
            pseudonym: &e.pseudonym,
            openid: &e.player_id,
            payload: &e.payload,
        }
        .body();
        let attempt = d.attempts + 1;
        let posted = post(&self.sender, url, secret, &e.event_id, attempt, body).await;
        let (status, answer, error) = match posted {
            Ok(s) => (
                Some(s),
                answer_of(s),
                if (200..300).contains(&s) {
                    String::new()
                } else {
                    format!("HTTP {s}")
                },
            ),
            Err(why) => (None, Answer::Retry, why),
        };
        if answer != Answer::Delivered {
            tracing::info!(endpoint.id = %self.endpoint, event.id = %e.event_id, attempt,
                error = %error, "webhook not delivered; will retry");
        }
        let jitter = rand::random::<f64>();
        Attempted {
            event_id: e.event_id.clone(),
            status,
            answer,
            error,
            retry_at: self.clock.now_ms() + backoff_ms(attempt, jitter, self.cfg.backoff_cap_ms),
        }
    }
}

/// POSTs one signed body: the signature's time is the wall clock (the
/// receiver checks it against its own).
pub async fn post(
    sender: &Sender,
    url: &str,
    secret: &str,
    event_id: &str,
    attempt: i64,
    body: Vec<u8>,
) -> Posted {
    let t = SystemClock.now_ms() / 1000;
    let headers = [
        (SIGNATURE_HEADER, signature(secret, t, &body)),
        ("webhook-id", event_id.to_owned()),
        ("idempotency-key", event_id.to_owned()),
        ("webhook-attempt", attempt.to_string()),
        ("user-agent", "campaign-engine-webhook/1".to_owned()),
    ];
    sender.post(url, &headers, body).await
}

/// TestWebhookEndpoint: one `webhook.ping.v1`, not stored, not retried;
/// the answer and how long it took (ms).
pub async fn ping(
    sender: &Sender,
    url: &str,
    secret: &str,
    merchant: &str,
    endpoint_id: &str,
) -> (Posted, u64) {
    let id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::json!({ "endpoint_id": endpoint_id }).to_string();
    let now = SystemClock.now_ms();
    let body = Envelope {
        event_id: &id,
        event_type: "webhook.ping.v1",
        merchant_id: merchant,
        campaign_id: "",
        position: 0,
        seq: 0,
        occurred_at: now,
        pseudonym: "",
        openid: "",
        payload: &payload,
    }
    .body();
    let started = std::time::Instant::now();
    let posted = post(sender, url, secret, &id, 1, body).await;
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (posted, ms)
}
