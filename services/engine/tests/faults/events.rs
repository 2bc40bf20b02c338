//! Events under faults (issue 25): a real webhook receiver the engine
//! posts to, whose answers a nemesis turns to 500, 503 and 11 s stalls
//! (past the engine's 10 s request timeout), and a stream subscriber that
//! reads through the fault proxy and resumes after the last position it
//! got whenever its stream breaks (engine kills, dropped connections).
//!
//! After the run: every event the database holds (one per effect, the
//! checker holds that) reached the receiver, which processed each id
//! exactly once however often it came; the subscriber saw positions 1..n
//! once each, in order, across its reconnects.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use engine_proto::campaign::v1::{
    self as pb, event_service_client::EventServiceClient,
    webhook_admin_service_client::WebhookAdminServiceClient,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use test_kit::{
    harness::{TestDb, key, with},
    webhook_receiver::Receiver,
};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// What the subscriber saw: positions in arrival order, reconnects.
#[derive(Default)]
struct Seen {
    positions: Mutex<Vec<u64>>,
    reconnects: AtomicU64,
}

pub(crate) struct EventWatch {
    rx: Receiver,
    stop: Arc<AtomicBool>,
    nemesis: JoinHandle<()>,
    seen: Arc<Seen>,
    subscriber: JoinHandle<()>,
    pub(crate) receiver_faults: Arc<AtomicU64>,
}

/// Registers an endpoint for every event at a fresh receiver (directly,
/// not through the proxy), starts the receiver's nemesis and the
/// subscriber (through the proxy).
pub(crate) async fn watch(
    db: &TestDb,
    engine: &Channel,
    proxy: SocketAddr,
    admin_key: &str,
    seed: u64,
) -> EventWatch {
    let rx = Receiver::start().await;
    let made = WebhookAdminServiceClient::new(engine.clone())
        .create_webhook_endpoint(with(
            admin_key,
            pb::CreateWebhookEndpointRequest {
                idempotency_key: key(),
                url: rx.url(),
                description: "fault suite".into(),
                event_types: vec!["*".into()],
                secret: String::new(),
            },
        ))
        .await
        .expect("register the fault suite's webhook")
        .into_inner();
    rx.set_secret(&made.secret);
    // The set-up's events were numbered before the endpoint existed: they
    // are queued for it by hand (RedeliverEvent), so it gets every event.
    let endpoint_id = made.endpoint.map(|e| e.endpoint_id).unwrap_or_default();
    db.assert_events_numbered(Duration::from_secs(30)).await;
    let earlier = EventServiceClient::new(engine.clone())
        .list_events(with(
            admin_key,
            pb::ListEventsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .expect("the set-up's events")
        .into_inner();
    assert!(
        earlier.next_page_token.is_empty(),
        "over 1000 set-up events"
    );
    for e in earlier.events {
        WebhookAdminServiceClient::new(engine.clone())
            .redeliver_event(with(
                admin_key,
                pb::RedeliverEventRequest {
                    idempotency_key: key(),
                    endpoint_id: endpoint_id.clone(),
                    event_id: e.event_id,
                },
            ))
            .await
            .expect("queue a set-up event");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let receiver_faults = Arc::new(AtomicU64::new(0));
    let nemesis = {
        let (rx_state, stop, faults) = (rx.handle(), stop.clone(), receiver_faults.clone());
        let mut rng = StdRng::seed_from_u64(seed ^ 0x7e6b);
        tokio::spawn(async move {
            let mut stalled_once = false;
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..2000))).await;
                match rng.random_range(0..10) {
                    0..=2 => rx_state.answer_with(500),
                    3..=4 => rx_state.answer_with(503),
                    5 if !stalled_once => {
                        // Past the engine's 10 s timeout, once a run.
                        stalled_once = true;
                        rx_state.delay(Duration::from_secs(11));
                    }
                    _ => {
                        rx_state.answer_with(200);
                        rx_state.delay(Duration::ZERO);
                        continue;
                    }
                }
                faults.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let seen = Arc::new(Seen::default());
    let subscriber = tokio::spawn(subscribe(proxy, admin_key.to_owned(), seen.clone()));
    EventWatch {
        rx,
        stop,
        nemesis,
        seen,
        subscriber,
        receiver_faults,
    }
}

/// Reads the merchant's events through the proxy for ever, resuming
/// after the last position it got.
async fn subscribe(proxy: SocketAddr, admin_key: String, seen: Arc<Seen>) {
    let mut after = 0u64;
    loop {
        let channel = match Endpoint::from_shared(format!("http://{proxy}")) {
            Ok(e) => e.connect_timeout(Duration::from_secs(2)).connect_lazy(),
            Err(_) => return,
        };
        let stream = EventServiceClient::new(channel)
            .subscribe_events(with(
                &admin_key,
                pb::SubscribeEventsRequest {
                    after_position: after,
                    ..Default::default()
                },
            ))
            .await;
        if let Ok(stream) = stream {
            let mut stream = stream.into_inner();
            while let Ok(Some(e)) = stream.message().await {
                after = e.position;
                seen.positions
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(e.position);
            }
        }
        seen.reconnects.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl EventWatch {
    /// Calms the receiver, waits for every event to be numbered and
    /// delivered and streamed, then checks exactly once and order.
    pub(crate) async fn check(self, db: &TestDb, ctx: &str) -> String {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.nemesis.await;
        self.rx.answer_with(200);
        self.rx.delay(Duration::ZERO);
        db.assert_events_numbered(Duration::from_secs(60)).await;
        let n = u64::try_from(
            db.scalar("SELECT COUNT(*) FROM event WHERE $1 = $1", "")
                .await,
        )
        .unwrap_or(0);
        // Orphaned leases (a worker killed mid-batch) hold 30 s; the
        // backoff is capped at 2 s in this suite.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let processed = self.rx.processed().len() as u64;
            let streamed = self.seen.positions.lock().map(|p| p.len()).unwrap_or(0) as u64;
            if processed >= n && streamed >= n {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{ctx}: events not all out after 120 s: {processed} of {n} delivered, \
                 {streamed} streamed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.subscriber.abort();
        // The receiver: each id processed once (its dedupe), every position
        // 1..=n among them, every signature good.
        let got = self.rx.got();
        let processed = self.rx.processed();
        assert_eq!(processed.len() as u64, n, "{ctx}: receiver ids != events");
        let positions: HashSet<i64> = got
            .iter()
            .filter(|g| (200..300).contains(&g.answered))
            .map(|g| g.position)
            .collect();
        assert_eq!(
            positions,
            (1..=i64::try_from(n).unwrap_or(0)).collect::<HashSet<_>>(),
            "{ctx}: a position missing at the receiver"
        );
        assert_eq!(self.rx.bad_signatures(), 0, "{ctx}: a bad signature");
        let answered_ok = got
            .iter()
            .filter(|g| (200..300).contains(&g.answered))
            .count();
        let duplicates = answered_ok - processed.len();
        let refused = got.len() - answered_ok;
        // The subscriber: 1..=n, once each, in order, across reconnects.
        let streamed = self
            .seen
            .positions
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default();
        assert_eq!(
            streamed,
            (1..=n).collect::<Vec<_>>(),
            "{ctx}: the stream skipped, repeated or reordered an event"
        );
        format!(
            "events: {n} numbered, all delivered and streamed once in order \
             ({} receiver faults, {refused} attempts answered 5xx then retried, \
             {duplicates} duplicate deliveries deduped by id, {} stream reconnects)",
            self.receiver_faults.load(Ordering::SeqCst),
            self.seen.reconnects.load(Ordering::SeqCst)
        )
    }
}
