//! Won prizes reach the coupon service exactly once: through the outbox
//! of the draw's transaction, also when the coupon service is down at the
//! moment of the win.

use std::{collections::HashSet, sync::Arc, time::Duration};

use engine_proto::{campaign::v1 as cpb, coupon::v1 as pb};
use platform::settings::Settings;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Code, transport::Channel};

use crate::{
    helpers::{
        Backend, TestApp, free_port, key, rules, set_coupon_endpoint, slot, spawn_app_with, thanks,
        wait_service, with,
    },
    kit::{
        POS_HEALTH, SECRET, admin, amount_off, assert_coupon_invariants, create_template, player,
        pos, pos_key, redeem_req, spawn_engine,
    },
};

both_backends!(
    won_prizes_reach_the_player_in_one_engine,
    won_prizes_arrive_once_despite_a_coupon_service_outage,
    deliveries_are_idempotent_and_authenticated,
    only_the_merchants_own_templates_and_pools_can_be_prizes,
);

const MERCHANT: &str = "00000000-0000-7000-8000-000000000001";

pub(crate) fn deliver(
    source: &str,
    player: &str,
    kind: &str,
    reference: &str,
) -> pb::DeliverPrizeRequest {
    pb::DeliverPrizeRequest {
        source_id: source.into(),
        merchant_id: MERCHANT.into(),
        player_id: player.into(),
        prize_kind: kind.into(),
        reference: reference.into(),
        campaign_id: String::new(),
    }
}

pub(crate) fn delivery(
    ch: &Channel,
) -> pb::coupon_delivery_service_client::CouponDeliveryServiceClient<Channel> {
    pb::coupon_delivery_service_client::CouponDeliveryServiceClient::new(ch.clone())
}

/// `attempts` concurrent deliveries (distinct draws) from a pool holding
/// `available` codes: exactly `available` succeed, each with its own code.
pub async fn hand_out_pool_concurrently(
    app: &TestApp,
    pool_id: &str,
    available: usize,
    attempts: usize,
) {
    let mut tasks = Vec::new();
    for i in 0..attempts {
        let ch = app.channel.clone();
        let req = deliver(
            &uuid::Uuid::now_v7().to_string(),
            &format!("p{i}"),
            "TOPUP_CODE",
            pool_id,
        );
        tasks.push(tokio::spawn(async move {
            delivery(&ch)
                .deliver_prize(with(SECRET, req))
                .await
                .map(|r| r.into_inner().coupon.expect("coupon").pool_code)
                .map_err(|s| s.code())
        }));
    }
    let mut codes = HashSet::new();
    let mut empty = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(code) => assert!(
                codes.insert(code.clone()),
                "pool code {code} handed out twice"
            ),
            Err(Code::ResourceExhausted) => empty += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((codes.len(), empty), (available, attempts - available));
    let rows = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM pool_code WHERE pool_id = $1 AND source_id IS NOT NULL",
            pool_id,
        )
        .await;
    assert_eq!(rows, available as i64);
}

/// A wheel whose prizes are a coupon (weight 80) and a top-up code from a
/// pool (weight 19), with THANKS as fallback.
async fn coupon_wheel(app: &TestApp, coupons: &Channel, stock: i64) -> (String, String, String) {
    let template = admin(coupons)
        .create_template(with(&app.admin_key, amount_off(800)))
        .await
        .expect("template")
        .into_inner();
    let pool = admin(coupons)
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: String::new(),
                name: "top-up".into(),
                codes: (0..stock).map(|i| format!("CARD-{i:05}")).collect(),
            },
        ))
        .await
        .expect("pool")
        .into_inner();
    let mut coupon_slot = slot("8.00 off", cpb::PrizeKind::Coupon, 80, stock);
    coupon_slot.reference = template.template_id.clone();
    let mut topup_slot = slot("Top-up card", cpb::PrizeKind::TopupCode, 19, stock);
    topup_slot.reference = pool.pool_id.clone();
    let wheel = app
        .wheel(
            rules(50, 50),
            vec![coupon_slot, topup_slot, thanks(1)],
            2,
            true,
        )
        .await;
    (wheel.campaign_id, template.template_id, pool.pool_id)
}

/// Waits until the outbox has no undelivered prize (at most 30 s).
async fn wait_delivered(app: &TestApp) {
    for _ in 0..300 {
        let waiting = app
            .db
            .scalar(
                "SELECT COUNT(*) FROM prize_outbox WHERE delivered_at IS NULL AND $1 = $1",
                "",
            )
            .await;
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("prizes still undelivered after 30 s");
}

/// Every won coupon or top-up prize has exactly one coupon or pool code
/// for its draw, owned by its winner; returns how many there are.
async fn assert_each_win_delivered_once(app: &TestApp) -> i64 {
    let wins = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE kind IN ('coupon', 'topup_code') AND $1 = $1",
            "",
        )
        .await;
    let bad = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_award a WHERE a.kind IN ('coupon', 'topup_code') \
             AND $1 = $1 AND \
             (SELECT COUNT(*) FROM coupon c WHERE c.source_id = a.draw_id \
                AND c.player_id = a.player_id) + \
             (SELECT COUNT(*) FROM pool_code p WHERE p.source_id = a.draw_id \
                AND p.player_id = a.player_id) <> 1",
            "",
        )
        .await;
    assert_eq!(
        bad, 0,
        "a won prize without exactly one delivery to its winner"
    );
    let delivered = app
        .db
        .scalar(
            "SELECT (SELECT COUNT(*) FROM coupon WHERE source = 'prize' AND $1 = $1) + \
             (SELECT COUNT(*) FROM pool_code WHERE source_id IS NOT NULL)",
            "",
        )
        .await;
    assert_eq!(delivered, wins, "deliveries without a win");
    wins
}

/// The campaign's statistics totals, asked of the campaign service (which
/// asks the coupon service for its prize coupons).
async fn stats_totals(app: &TestApp, campaign: &str) -> Result<cpb::StatsRow, tonic::Status> {
    cpb::stats_service_client::StatsServiceClient::new(app.channel.clone())
        .get_campaign_stats(with(
            &app.admin_key,
            cpb::GetCampaignStatsRequest {
                campaign_id: campaign.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().totals.unwrap_or_default())
}

/// Won coupons (not top-up codes) of the campaign, from the awards.
async fn coupon_wins(app: &TestApp, campaign: &str) -> i64 {
    app.db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE kind = 'coupon' AND campaign_id = $1",
            campaign,
        )
        .await
}

async fn won_prizes_reach_the_player_in_one_engine(backend: Backend) {
    let app = spawn_engine(backend).await;
    let (campaign, template, _) = coupon_wheel(&app, &app.channel, 20).await;
    for i in 0..10 {
        app.draw(&format!("fan-{}", i % 3), &campaign)
            .await
            .expect("draw");
    }
    wait_delivered(&app).await;
    let wins = assert_each_win_delivered_once(&app).await;
    assert!(wins >= 8, "nearly every draw wins here: {wins}");
    // fan-0's coupons are in fan-0's list and redeemable at a till.
    let mine = player(&app.channel)
        .list_my_coupons(with(
            &app.token("fan-0"),
            pb::ListMyCouponsRequest::default(),
        ))
        .await
        .expect("list")
        .into_inner()
        .coupons;
    let coupon = mine
        .iter()
        .find(|c| c.template_id == template)
        .or_else(|| mine.first())
        .expect("fan-0 won something");
    let redeemed = if coupon.template_id == template {
        let till = pos_key(&app, "S1").await;
        let r = pos(&app.channel)
            .redeem_coupon(with(&till, redeem_req(&coupon.code, 5000)))
            .await
            .expect("redeem a won coupon")
            .into_inner();
        assert_eq!(r.discount_cents, 800);
        1
    } else {
        assert!(coupon.pool_code.starts_with("CARD-"));
        0
    };
    assert_coupon_invariants(&app.db).await;
    // Each prize coupon remembers its campaign, and the campaign's
    // statistics count them and the redemption through the coupon API.
    let won = coupon_wins(&app, &campaign).await;
    let remembered = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM coupon WHERE source = 'prize' AND campaign_id = $1",
            &campaign,
        )
        .await;
    assert_eq!(remembered, won);
    let totals = stats_totals(&app, &campaign).await.expect("stats");
    assert_eq!(
        (totals.coupon_prizes, totals.coupon_redemptions),
        (won, redeemed)
    );
    app.stop().await;
}

/// The coupon service alone on `port`, sharing the campaign's database.
fn start_coupon_service(app: &TestApp, port: u16) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let mut settings = Settings {
        database_url: app.db.url.clone(),
        bootstrap_key_file: app.db.dir.join("coupon-bootstrap.key"),
        pg_max_connections: 4,
        delivery_secret: SECRET.into(),
        player_rate_per_sec: 0,
        ..Settings::default()
    };
    coupon::config::CouponSettings {
        till_failure_limit: 0,
        till_rate_per_sec: 0,
        ..Default::default()
    }
    .write_into(&mut settings);
    let clock = Arc::new(app.clock.clone());
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the coupon port");
        coupon::run_alone(
            settings,
            listener,
            async {
                let _ = rx.await;
            },
            clock,
        )
        .await
        .expect("coupon service");
    });
    (tx, handle)
}

async fn won_prizes_arrive_once_despite_a_coupon_service_outage(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        set_coupon_endpoint(s, format!("http://127.0.0.1:{port}"));
        s.delivery_secret = SECRET.into();
        s.player_rate_per_sec = 0;
    })
    .await;
    let (stop, running) = start_coupon_service(&app, port);
    let coupons = wait_service(([127, 0, 0, 1], port).into(), POS_HEALTH).await;
    let (campaign, _, _) = coupon_wheel(&app, &coupons, 40).await;
    for _ in 0..4 {
        app.draw("early", &campaign).await.expect("draw");
    }
    // At least one coupon (not only top-up codes) before the outage.
    for _ in 0..30 {
        if coupon_wins(&app, &campaign).await > 0 {
            break;
        }
        app.draw("early", &campaign).await.expect("draw");
    }
    wait_delivered(&app).await;
    let before = assert_each_win_delivered_once(&app).await;

    // The coupon service goes down; players keep winning. The campaign's
    // statistics cannot count its prize coupons then: UNAVAILABLE, never
    // a short count.
    let _ = stop.send(());
    running.await.expect("coupon service stopped");
    let refused = stats_totals(&app, &campaign).await;
    assert_eq!(
        refused.map(|t| t.coupon_prizes).map_err(|s| s.code()),
        Err(Code::Unavailable)
    );
    for i in 0..20 {
        app.draw(&format!("late-{}", i % 5), &campaign)
            .await
            .expect("draws go on while the coupon service is down");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_outbox WHERE delivered_at IS NULL AND $1 = $1",
            "",
        )
        .await;
    assert!(
        waiting >= 15,
        "wins made during the outage wait in the outbox: {waiting}"
    );
    let tried = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_outbox WHERE delivered_at IS NULL AND attempts > 0 \
             AND last_error <> '' AND $1 = $1",
            "",
        )
        .await;
    assert!(tried > 0, "the worker retried during the outage");

    // Back up: every waiting prize arrives, once.
    let (stop, running) = start_coupon_service(&app, port);
    wait_service(([127, 0, 0, 1], port).into(), POS_HEALTH).await;
    wait_delivered(&app).await;
    let after = assert_each_win_delivered_once(&app).await;
    assert_eq!(
        after,
        before + waiting,
        "every prize won in the outage arrived"
    );
    assert_coupon_invariants(&app.db).await;
    // Apart, the statistics ask the coupon service over gRPC as well.
    let totals = stats_totals(&app, &campaign).await.expect("stats");
    assert_eq!(totals.coupon_prizes, coupon_wins(&app, &campaign).await);
    let _ = stop.send(());
    running.await.expect("coupon service stopped");
    app.stop().await;
}

async fn deliveries_are_idempotent_and_authenticated(backend: Backend) {
    let app = spawn_engine(backend).await;
    let template = create_template(&app, amount_off(100)).await;
    let source = uuid::Uuid::now_v7().to_string();
    let req = deliver(&source, "winner", "COUPON", &template.template_id);
    let mut d = delivery(&app.channel);
    let first = d
        .deliver_prize(with(SECRET, req.clone()))
        .await
        .expect("deliver")
        .into_inner();
    let again = d
        .deliver_prize(with(SECRET, req.clone()))
        .await
        .expect("redeliver")
        .into_inner();
    assert_eq!(first, again, "a retry returns the same coupon");
    // 20 racing copies of one delivery still make one coupon.
    let source2 = uuid::Uuid::now_v7().to_string();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let ch = app.channel.clone();
        let r = deliver(&source2, "winner", "COUPON", &template.template_id);
        tasks.push(tokio::spawn(async move {
            // A racing copy may be told to retry (ABORTED); the worker does.
            for _ in 0..20 {
                match delivery(&ch).deliver_prize(with(SECRET, r.clone())).await {
                    Ok(resp) => return resp.into_inner().coupon.expect("coupon").coupon_id,
                    Err(s) if s.code() == Code::Aborted => continue,
                    Err(s) => panic!("delivery failed: {s:?}"),
                }
            }
            panic!("delivery never settled")
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        ids.insert(t.await.expect("task"));
    }
    assert_eq!(ids.len(), 1, "one coupon per source");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon WHERE source_id = $1", &source2)
            .await,
        1
    );
    // Same source, other parameters: refused.
    let mut other = req.clone();
    other.player_id = "someone-else".into();
    assert_code_is(
        d.deliver_prize(with(SECRET, other)).await,
        Code::AlreadyExists,
    );
    // Wrong or missing secret, and a player or admin credential: refused.
    assert_code_is(
        d.deliver_prize(with("wrong", req.clone())).await,
        Code::Unauthenticated,
    );
    assert_code_is(
        d.deliver_prize(with("", req.clone())).await,
        Code::Unauthenticated,
    );
    assert_code_is(
        d.deliver_prize(with(&app.admin_key, req.clone())).await,
        Code::Unauthenticated,
    );
    assert_code_is(
        d.deliver_prize(with(&app.token("winner"), req)).await,
        Code::Unauthenticated,
    );
    app.stop().await;
}

#[track_caller]
fn assert_code_is<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code) {
    crate::helpers::assert_code(r, code, None);
}

/// The real coupon service answers the campaign service's prize checks:
/// the merchant's own template and pool are accepted; another merchant's
/// template, or one that does not exist, is refused naming the field.
async fn only_the_merchants_own_templates_and_pools_can_be_prizes(backend: Backend) {
    let app = spawn_engine(backend).await;
    let (_, template, pool) = coupon_wheel(&app, &app.channel, 5).await;
    let other = crate::helpers::other_merchant(&app.db).await;
    let theirs = admin(&app.channel)
        .create_template(with(&other, amount_off(100)))
        .await
        .expect("their template")
        .into_inner();
    let draft = app.wheel(rules(5, 5), vec![thanks(1)], 0, false).await;
    let add = |kind: cpb::PrizeKind, reference: &str| {
        let mut s = slot("prize", kind, 1, 5);
        s.reference = reference.into();
        cpb::AddPrizeSlotRequest {
            idempotency_key: key(),
            campaign_id: draft.campaign_id.clone(),
            slot: Some(s),
        }
    };
    let mut campaigns = app.admin();
    for (kind, reference) in [
        (cpb::PrizeKind::Coupon, theirs.template_id.as_str()),
        (
            cpb::PrizeKind::Coupon,
            "0190a1b2-0000-7000-8000-00000000dead",
        ),
        (cpb::PrizeKind::TopupCode, template.as_str()),
        (cpb::PrizeKind::Coupon, pool.as_str()),
    ] {
        let r = campaigns
            .add_prize_slot(with(&app.admin_key, add(kind, reference)))
            .await;
        let s = r.expect_err("refused");
        assert_eq!(
            s.code(),
            Code::FailedPrecondition,
            "{kind:?} {reference}: {s:?}"
        );
        assert!(
            s.message().starts_with("slot.reference:"),
            "{}",
            s.message()
        );
    }
    for (kind, reference) in [
        (cpb::PrizeKind::Coupon, template.as_str()),
        (cpb::PrizeKind::TopupCode, pool.as_str()),
    ] {
        campaigns
            .add_prize_slot(with(&app.admin_key, add(kind, reference)))
            .await
            .expect("the merchant's own");
    }
    app.stop().await;
}
