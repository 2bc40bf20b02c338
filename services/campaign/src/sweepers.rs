//! The campaign's background sweeps, started by its module
//! (`module.rs`) and aborted with the server: prizes past their claim
//! deadline, campaigns past their window, stored answers past retention,
//! red packets past their expiry, drafts scheduled to publish at their
//! start, raffles past their cut-off; and the event sequencer.

use std::{sync::Arc, time::Duration};

use crate::{
    clock::Clock,
    domain::{Rejection, wheel::Transition},
    prize_refs::{PrizeReferences, PublishCheckError, ReferenceError, check_campaign},
    store::{
        Outcome, Store, StoreError, db::Db, raffle::raffle_run_key, schedule::scheduled_publish_key,
    },
};

/// How often the event sequencer looks for committed, unnumbered events.
pub const SEQUENCER_POLL: Duration = Duration::from_millis(25);

/// Numbers committed events (`store::events`) every [`SEQUENCER_POLL`],
/// and at once again after a full batch, waking the streams.
pub fn spawn_sequencer<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match store.sequence_and_wake(clock.now_ms()).await {
                Ok(n) if n >= crate::store::events::SEQUENCE_BATCH => continue,
                Ok(_) => tokio::time::sleep(SEQUENCER_POLL).await,
                // Another process numbered them first.
                Err(StoreError::Conflict(_)) => tokio::time::sleep(SEQUENCER_POLL).await,
                Err(e) => {
                    tracing::warn!(error = %e, "numbering events failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}

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
                match store.purge_deliveries(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(purged = n, "delivered webhooks past retention forgotten")
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook delivery purge failed"),
                }
            }
        }
    })
}

/// Publishes the drafts scheduled to publish at their start
/// (`store::schedule`), every 5 s, the first time at once: a draft that
/// came due while the engine was down is published when it starts.
pub fn spawn_publisher<D: Db>(
    store: Store<D>,
    clock: Arc<dyn Clock>,
    refs: Arc<PrizeReferences>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            match publish_due(&store, clock.as_ref(), &refs).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(published = n, "scheduled campaigns published"),
                Err(e) => tracing::warn!(error = %e, "scheduled publish sweep failed"),
            }
            match run_due_raffles(&store, clock.as_ref()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(drawn = n, "due raffles drawn"),
                Err(e) => tracing::warn!(error = %e, "raffle sweep failed"),
            }
        }
    })
}

/// One pass of the publisher: each due draft is published as
/// `PublishCampaign` publishes it (the prize references checked first),
/// under the engine's own key for that campaign, so replicas racing
/// publish it once. A refusal (a prize naming nothing, no fallback slot,
/// the window already over) is recorded on the campaign and not tried
/// again; a coupon service that cannot be asked postpones it to the next
/// pass. Returns how many it published.
pub async fn publish_due<D: Db>(
    store: &Store<D>,
    clock: &dyn Clock,
    refs: &PrizeReferences,
) -> Result<u64, StoreError> {
    let now = clock.now_ms();
    let mut published = 0;
    for due in store.due_publications(now, 100).await? {
        if due.ends_at <= now {
            store
                .record_publish_refusal(
                    &due,
                    "the campaign's window ended before it could be published",
                )
                .await?;
            continue;
        }
        match check_campaign(refs, store, &due.merchant_id, due.id, now).await {
            Ok(()) => {}
            Err(PublishCheckError::Reference(
                e @ (ReferenceError::Missing { .. } | ReferenceError::NoCouponService { .. }),
            )) => {
                store.record_publish_refusal(&due, &e.to_string()).await?;
                continue;
            }
            Err(e) => {
                tracing::warn!(campaign.id = %due.id, error = %e, "scheduled publish postponed");
                continue;
            }
        }
        let key = scheduled_publish_key(due.id)?;
        match store
            .transition(
                &due.merchant_id,
                due.id,
                Transition::Publish,
                now,
                &key,
                |_| Vec::new(),
            )
            .await
        {
            Ok(Outcome::Fresh(_)) => {
                tracing::info!(campaign.id = %due.id, "scheduled campaign published");
                published += 1;
            }
            // Another publisher (a replica) published it under the same key.
            Ok(Outcome::Replay(_)) => {}
            Err(e) if e.refusal::<Rejection>().is_some() => {
                store.record_publish_refusal(&due, &e.to_string()).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(published)
}

/// One pass of the raffle runner (in the publisher's loop): each raffle
/// whose cut-off has passed is run as `RunRaffle` runs it, under the
/// engine's own key for that raffle, so replicas racing run it once (and
/// an admin's run meanwhile leaves the same winners). A refusal (the
/// campaign never published, a budget too short for a CASH prize) is
/// recorded on the raffle and not tried again. Returns how many it drew.
pub async fn run_due_raffles<D: Db>(
    store: &Store<D>,
    clock: &dyn Clock,
) -> Result<u64, StoreError> {
    let now = clock.now_ms();
    let mut drawn = 0;
    for due in store.due_raffles(now, 20).await? {
        let key = raffle_run_key(due.raffle_id)?;
        match store
            .run_raffle(&due.merchant_id, due.raffle_id, &key, now, |_| Vec::new())
            .await
        {
            Ok(Outcome::Fresh(_)) => drawn += 1,
            Ok(Outcome::Replay(_)) => {}
            Err(e) if e.refusal::<Rejection>().is_some() => {
                tracing::warn!(raffle.id = %due.raffle_id, error = %e, "raffle run refused");
                store
                    .record_raffle_refusal(due.raffle_id, &e.to_string())
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(drawn)
}
