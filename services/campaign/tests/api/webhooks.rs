//! Webhooks (issue 25) against a real HTTP receiver on 127.0.0.1: every
//! event reaches the endpoint signed, through 500s and retries, and the
//! receiver that dedupes by event id processes each exactly once; a 410
//! disables the endpoint; a delivery out of retries marks it FAILING; bad
//! input is refused precisely, and the secret is shown once.

use std::collections::HashSet;
use std::time::Duration;

use engine_proto::campaign::v1::{
    self as pb, event_service_client::EventServiceClient,
    webhook_admin_service_client::WebhookAdminServiceClient,
};
use test_kit::webhook_receiver::Receiver;
use tonic::{Code, transport::Channel};

use crate::helpers::*;

both_backends!(
    every_event_reaches_the_receiver_signed_once_per_id,
    a_gone_receiver_disables_and_a_dead_one_fails_its_endpoint,
    webhook_admin_refuses_bad_input_and_shows_the_secret_once,
);

fn hooks(ch: &Channel) -> WebhookAdminServiceClient<Channel> {
    WebhookAdminServiceClient::new(ch.clone())
}

async fn create(
    app: &TestApp,
    credential: &str,
    req: pb::CreateWebhookEndpointRequest,
) -> Result<pb::CreateWebhookEndpointResponse, tonic::Status> {
    hooks(&app.channel)
        .create_webhook_endpoint(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

fn endpoint_for(url: &str, types: &[&str]) -> pb::CreateWebhookEndpointRequest {
    pb::CreateWebhookEndpointRequest {
        idempotency_key: key(),
        url: url.into(),
        description: "CRM 积分".into(),
        event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        secret: String::new(),
    }
}

async fn endpoint(app: &TestApp, id: &str) -> pb::WebhookEndpoint {
    hooks(&app.channel)
        .list_webhook_endpoints(with(&app.admin_key, pb::ListWebhookEndpointsRequest {}))
        .await
        .expect("list endpoints")
        .into_inner()
        .endpoints
        .into_iter()
        .find(|e| e.endpoint_id == id)
        .expect("the endpoint")
}

/// Every event id of the merchant after the endpoint was made.
async fn event_ids(app: &TestApp) -> Vec<String> {
    EventServiceClient::new(app.channel.clone())
        .list_events(with(
            &app.admin_key,
            pb::ListEventsRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .expect("events")
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

/// Advances the engine's clock in steps until `done`, or fails.
async fn until(app: &TestApp, step_ms: i64, what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if done().await {
            return;
        }
        app.clock.advance(step_ms);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn wins(app: &TestApp, campaign: &str, players: std::ops::Range<usize>) {
    for p in players {
        app.draw(&format!("fan-{p}"), campaign).await.expect("draw");
    }
}

async fn every_event_reaches_the_receiver_signed_once_per_id(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.player_rate_per_sec = 0;
        allow_local_webhooks(s, 24);
    })
    .await;
    let rx = Receiver::start().await;
    let made = create(&app, &app.admin_key, endpoint_for(&rx.url(), &["*"]))
        .await
        .expect("create");
    assert!(made.secret.starts_with("whsec_"), "{}", made.secret);
    rx.set_secret(&made.secret);
    let id = made.endpoint.expect("endpoint").endpoint_id;
    // The receiver is failing at first: every event is retried.
    rx.answer_with(500);
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("积分", pb::PrizeKind::Points, 1, 100), thanks(0)],
            1,
            true,
        )
        .await;
    wins(&app, &c.campaign_id, 0..20).await;
    until(&app, 0, "first attempts", async || rx.got().len() >= 21).await;
    rx.answer_with(200);
    // Retries come after 5-10 s of the engine's clock.
    until(&app, 2_000, "every event delivered", async || {
        rx.processed().len() >= 21
    })
    .await;
    let all: HashSet<String> = event_ids(&app).await.into_iter().collect();
    let processed = rx.processed();
    assert_eq!(processed.keys().cloned().collect::<HashSet<_>>(), all);
    assert_eq!(rx.bad_signatures(), 0);
    let got = rx.got();
    assert!(got.iter().any(|g| g.attempt >= 2), "retried deliveries");
    for g in &got {
        assert!(g.position >= 1 && g.seq >= 1, "{g:?}");
        assert_eq!(
            g.body["merchant_id"].as_str().map(str::is_empty),
            Some(false)
        );
    }
    let draw_won = got
        .iter()
        .find(|g| g.event_type == "draw.won.v1")
        .expect("a win");
    assert_eq!(draw_won.body["data"]["prize"]["kind"], "POINTS");
    assert!(
        draw_won.body["player"]["openid"]
            .as_str()
            .unwrap_or("")
            .starts_with("fan-")
    );
    // The health shows it; a new effect goes out without a retry.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let health = endpoint(&app, &id).await;
    assert_eq!(
        (health.delivered, health.pending, health.failed),
        (21, 0, 0)
    );
    assert_eq!(health.status, pb::WebhookStatus::Enabled as i32);
    assert!(health.last_success_at_ms > 0 && health.last_status == 200);
    wins(&app, &c.campaign_id, 20..21).await;
    until(&app, 0, "a live event", async || rx.processed().len() >= 22).await;
    // A redelivery comes again; the receiver has it already.
    let again = got[0].id.clone();
    hooks(&app.channel)
        .redeliver_event(with(
            &app.admin_key,
            pb::RedeliverEventRequest {
                idempotency_key: key(),
                endpoint_id: id.clone(),
                event_id: again.clone(),
            },
        ))
        .await
        .expect("redeliver");
    until(&app, 0, "the redelivery", async || {
        rx.processed().get(&again).copied() == Some(2)
    })
    .await;
    // The test ping reaches it, signed.
    let ping = hooks(&app.channel)
        .test_webhook_endpoint(with(
            &app.admin_key,
            pb::TestWebhookEndpointRequest {
                endpoint_id: id.clone(),
            },
        ))
        .await
        .expect("ping")
        .into_inner();
    assert!(ping.delivered && ping.status == 200, "{ping:?}");
    assert!(rx.got().iter().any(|g| g.event_type == "webhook.ping.v1"));
    app.db.assert_events_match_effects().await;
    // Past retention the delivered rows are forgotten; the events stay.
    let before = app.clock_now() + 1;
    let purged = on_store!(&app.db, |store| store.purge_deliveries(before).await).expect("purge");
    assert_eq!(purged, 22, "every delivered row, no other");
    let health = endpoint(&app, &id).await;
    assert_eq!((health.delivered, health.pending), (0, 0));
    assert_eq!(event_ids(&app).await.len(), 22);
}

async fn a_gone_receiver_disables_and_a_dead_one_fails_its_endpoint(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.player_rate_per_sec = 0;
        allow_local_webhooks(s, 1);
    })
    .await;
    let gone = Receiver::start().await;
    let dead = Receiver::start().await;
    let g = create(
        &app,
        &app.admin_key,
        endpoint_for(&gone.url(), &["draw.won.v1"]),
    )
    .await
    .expect("gone endpoint");
    let d = create(&app, &app.admin_key, endpoint_for(&dead.url(), &[]))
        .await
        .expect("dead endpoint");
    gone.set_secret(&g.secret);
    dead.set_secret(&d.secret);
    let (gid, did) = (
        g.endpoint.expect("g").endpoint_id,
        d.endpoint.expect("d").endpoint_id,
    );
    gone.answer_with(410);
    dead.answer_with(503);
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("积分", pb::PrizeKind::Points, 1, 100), thanks(0)],
            1,
            true,
        )
        .await;
    wins(&app, &c.campaign_id, 0..3).await;
    until(&app, 0, "the 410", async || {
        endpoint(&app, &gid).await.status == pb::WebhookStatus::Disabled as i32
    })
    .await;
    let e = endpoint(&app, &gid).await;
    assert_eq!(e.disabled_reason, "gone");
    // Only the types it asked for: three wins, no publication.
    assert!(gone.got().iter().all(|x| x.event_type == "draw.won.v1"));
    // The dead one is retried for an hour of the engine's clock, then
    // FAILED, its endpoint FAILING; the events stay listed.
    until(&app, 240_000, "retries running out", async || {
        endpoint(&app, &did).await.failed == 4
    })
    .await;
    let e = endpoint(&app, &did).await;
    assert_eq!(e.status, pb::WebhookStatus::Failing as i32);
    assert_eq!((e.pending, e.last_status), (0, 503));
    assert!(dead.got().len() >= 8, "retried: {}", dead.got().len());
    // Back up: a new event goes out and the endpoint is ENABLED again.
    dead.answer_with(200);
    wins(&app, &c.campaign_id, 3..4).await;
    until(&app, 0, "recovery", async || {
        endpoint(&app, &did).await.status == pb::WebhookStatus::Enabled as i32
    })
    .await;
    // The disabled one, enabled again, gets what waited.
    let before = gone.processed().len();
    gone.answer_with(200);
    hooks(&app.channel)
        .update_webhook_endpoint(with(
            &app.admin_key,
            pb::UpdateWebhookEndpointRequest {
                idempotency_key: key(),
                endpoint_id: gid.clone(),
                status: pb::WebhookStatus::Enabled as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("enable");
    until(&app, 10_000, "the waiting wins", async || {
        gone.processed().len() >= before + 3
    })
    .await;
}

async fn webhook_admin_refuses_bad_input_and_shows_the_secret_once(backend: Backend) {
    // Default settings: private addresses are refused.
    let app = spawn_app(backend).await;
    let rx = Receiver::start().await;
    let bad = |url: &str, types: &[&str], secret: &str| {
        let mut r = endpoint_for(url, types);
        r.secret = secret.into();
        r
    };
    let digest = state_digest(&app.db).await;
    for (req, field) in [
        (bad("ftp://crm.example.com/", &[], ""), "url"),
        (bad("https://user:pw@crm.example.com/", &[], ""), "url"),
        (bad("https://192.0.2.10/", &["draw.won"], ""), "event_types"),
        (bad("https://192.0.2.10/", &[], "too-short"), "secret"),
    ] {
        assert_code(
            create(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    assert_eq!(
        state_digest(&app.db).await,
        digest,
        "refusals change nothing"
    );
    // An own secret; the answer shows it, a retry with the same key and
    // the list do not.
    let mut own = endpoint_for(&rx.url(), &[]);
    own.secret = "my-own-secret-of-30-chars-long".into();
    let made = create(&app, &app.admin_key, own.clone())
        .await
        .expect("create");
    assert_eq!(made.secret, own.secret);
    let replay = create(&app, &app.admin_key, own).await.expect("replay");
    assert!(replay.secret.is_empty(), "a replay never shows the secret");
    let id = made.endpoint.expect("e").endpoint_id;
    assert_eq!(
        app.db
            .stored_answers_containing(b"my-own-secret-of-30-chars-long")
            .await,
        0
    );
    // Loopback is refused by default: the test says why.
    let ping = hooks(&app.channel)
        .test_webhook_endpoint(with(
            &app.admin_key,
            pb::TestWebhookEndpointRequest {
                endpoint_id: id.clone(),
            },
        ))
        .await
        .expect("ping")
        .into_inner();
    assert!(!ping.delivered && ping.status == 0, "{ping:?}");
    assert!(ping.error.contains("private"), "{}", ping.error);
    assert!(rx.got().is_empty());
    // Another merchant: not found; an auditor may list but not change.
    let other = other_merchant(&app.db).await;
    assert_code(
        hooks(&app.channel)
            .delete_webhook_endpoint(with(
                &other,
                pb::DeleteWebhookEndpointRequest {
                    idempotency_key: key(),
                    endpoint_id: id.clone(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let listed = hooks(&app.channel)
        .list_webhook_endpoints(with(&auditor, pb::ListWebhookEndpointsRequest {}))
        .await
        .expect("auditor lists")
        .into_inner();
    assert_eq!(listed.endpoints.len(), 1);
    assert_code(
        create(&app, &auditor, endpoint_for("https://192.0.2.10/", &[])).await,
        Code::PermissionDenied,
        None,
    );
    // Sixteen endpoints a merchant.
    for _ in 0..15 {
        create(
            &app,
            &app.admin_key,
            endpoint_for("https://192.0.2.10/", &[]),
        )
        .await
        .expect("up to 16");
    }
    assert_code(
        create(
            &app,
            &app.admin_key,
            endpoint_for("https://192.0.2.10/", &[]),
        )
        .await,
        Code::ResourceExhausted,
        None,
    );
    let gone = hooks(&app.channel)
        .delete_webhook_endpoint(with(
            &app.admin_key,
            pb::DeleteWebhookEndpointRequest {
                idempotency_key: key(),
                endpoint_id: id,
            },
        ))
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(gone.url, rx.url());
}
