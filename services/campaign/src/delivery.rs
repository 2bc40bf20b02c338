//! The outbox worker: delivers won coupon and top-up-code prizes to the
//! coupon service over gRPC (`CouponDeliveryService.DeliverPrize`), with the
//! draw id as the idempotency key. The coupon store holds a UNIQUE source
//! id, so a retry after a lost answer returns the same coupon; while the
//! service is down, each prize is retried with exponential back-off (250 ms
//! doubling to 10 s) until it arrives. Scheduling uses wall-clock time: it
//! is operational, not business time.

use std::{sync::Arc, time::Duration};

use engine_proto::coupon::v1::{
    DeliverPrizeRequest, coupon_delivery_service_client::CouponDeliveryServiceClient,
};
use tokio::sync::Notify;
use tonic::{
    Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};

use crate::{
    clock::{Clock, SystemClock},
    domain::Millis,
    store::{Store, db::Db, outbox::PendingDelivery},
};

const BATCH: u32 = 64;
const POLL: Duration = Duration::from_secs(1);
const BACKOFF_BASE_MS: Millis = 250;
const BACKOFF_CAP_MS: Millis = 10_000;

/// Delay before attempt `attempts + 1`.
pub fn backoff_ms(attempts: i64) -> Millis {
    let shift = attempts.clamp(0, 16) as u32;
    (BACKOFF_BASE_MS << shift).min(BACKOFF_CAP_MS)
}

/// Runs forever (the caller aborts it on shutdown).
pub async fn run_worker<D: Db>(
    store: Store<D>,
    endpoint: String,
    secret: Arc<[u8]>,
    wakeup: Arc<Notify>,
) {
    let channel = match Endpoint::from_shared(endpoint.clone()) {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .connect_lazy(),
        Err(e) => {
            tracing::error!(endpoint = %endpoint, error = %e,
                "invalid coupon_endpoint; won coupon prizes stay in the outbox");
            return;
        }
    };
    let auth = match MetadataValue::try_from(format!("Bearer {}", String::from_utf8_lossy(&secret)))
    {
        Ok(v) => v,
        Err(_) => {
            tracing::error!(
                "delivery_secret is not a valid header value; prizes stay in the outbox"
            );
            return;
        }
    };
    let mut client = CouponDeliveryServiceClient::new(channel);
    tracing::info!(endpoint = %endpoint, "prize delivery worker started");
    loop {
        let due = match store.due_deliveries(SystemClock.now_ms(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "reading the prize outbox failed");
                Vec::new()
            }
        };
        let full = due.len() == BATCH as usize;
        for p in due {
            deliver_one(&store, &mut client, &auth, p).await;
        }
        if !full {
            // Nothing more is due: wait for a win or the next poll.
            let _ = tokio::time::timeout(POLL, wakeup.notified()).await;
        }
    }
}

async fn deliver_one<D: Db>(
    store: &Store<D>,
    client: &mut CouponDeliveryServiceClient<Channel>,
    auth: &MetadataValue<tonic::metadata::Ascii>,
    p: PendingDelivery,
) {
    let mut req = Request::new(DeliverPrizeRequest {
        source_id: p.source_id.clone(),
        merchant_id: p.merchant_id.clone(),
        player_id: p.player_id.clone(),
        prize_kind: p.kind.clone(),
        reference: p.reference.clone(),
        campaign_id: p.campaign_id.clone(),
    });
    req.metadata_mut().insert("authorization", auth.clone());
    let now = SystemClock.now_ms();
    let recorded = match client.deliver_prize(req).await {
        Ok(resp) => {
            let coupon_id = resp
                .into_inner()
                .coupon
                .map(|c| c.coupon_id)
                .unwrap_or_default();
            tracing::info!(source.id = %p.source_id, coupon.id = %coupon_id, "prize delivered");
            store.mark_delivered(&p.source_id, &coupon_id, now).await
        }
        Err(status) => {
            let next = now + backoff_ms(p.attempts);
            let error = format!("{:?}: {}", status.code(), status.message());
            if p.attempts < 3 {
                tracing::info!(source.id = %p.source_id, attempts = p.attempts + 1, error = %error,
                    "prize delivery failed; will retry");
            } else {
                tracing::warn!(source.id = %p.source_id, attempts = p.attempts + 1, error = %error,
                    "prize delivery still failing; will retry");
            }
            store.mark_attempt_failed(&p.source_id, &error, next).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(source.id = %p.source_id, error = %e, "recording a delivery attempt failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap() {
        assert_eq!(backoff_ms(0), 250);
        assert_eq!(backoff_ms(1), 500);
        assert_eq!(backoff_ms(3), 2000);
        assert_eq!(backoff_ms(5), 8000);
        assert_eq!(backoff_ms(6), 10_000);
        assert_eq!(backoff_ms(1000), 10_000);
        assert_eq!(backoff_ms(-3), 250);
    }
}
