//! Stores seen from the coupon service (issue 24): templates restrict to
//! OPEN stores of their merchant, and per-store figures (redemptions,
//! discount given, order amounts) for a template and for a campaign's
//! prize coupons.

use engine_proto::{campaign::v1 as cpb, coupon::v1 as pb};
use tonic::{Code, Status};

use crate::{
    helpers::{Backend, T0, TestApp, assert_code, key, other_merchant, with},
    kit::{
        SECRET, admin, amount_off, claim, create_template, pos, pos_key, redeem_req, spawn_engine,
    },
};

both_backends!(
    templates_restrict_to_open_stores_of_their_merchant,
    figures_count_each_store_exactly,
    figure_requests_check_roles_and_fields,
);

async fn register(app: &TestApp, code: &str, city: &str) -> cpb::Store {
    app.stores()
        .create_store(with(
            &app.admin_key,
            cpb::CreateStoreRequest {
                idempotency_key: key(),
                store_id: code.into(),
                name: format!("{code} 店"),
                city: city.into(),
                ..Default::default()
            },
        ))
        .await
        .expect("register store")
        .into_inner()
}

async fn close(app: &TestApp, s: &cpb::Store) {
    app.stores()
        .update_store(with(
            &app.admin_key,
            cpb::UpdateStoreRequest {
                idempotency_key: key(),
                store_id: s.store_id.clone(),
                name: s.name.clone(),
                status: cpb::StoreStatus::Closed as i32,
                ..Default::default()
            },
        ))
        .await
        .expect("close store");
}

fn only_at(stores: &[&str]) -> pb::CreateTemplateRequest {
    pb::CreateTemplateRequest {
        store_ids: stores.iter().map(|s| (*s).to_owned()).collect(),
        ..amount_off(700)
    }
}

async fn try_template(
    app: &TestApp,
    cred: &str,
    t: pb::CreateTemplateRequest,
) -> Result<pb::CouponTemplate, Status> {
    admin(&app.channel)
        .create_template(with(cred, t))
        .await
        .map(|r| r.into_inner())
}

async fn templates_restrict_to_open_stores_of_their_merchant(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = register(&app, "S1", "上海").await;
    register(&app, "S2", "上海").await;
    let other = other_merchant(&app.db).await;
    app.stores()
        .create_store(with(
            &other,
            cpb::CreateStoreRequest {
                idempotency_key: key(),
                store_id: "THEIRS".into(),
                name: "别家".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("other merchant's store");
    // Unknown, another merchant's, then closed: refused naming store_ids.
    assert_code(
        try_template(&app, &app.admin_key, only_at(&["S1", "S9"])).await,
        Code::FailedPrecondition,
        Some("store_ids"),
    );
    assert_code(
        try_template(&app, &app.admin_key, only_at(&["THEIRS"])).await,
        Code::FailedPrecondition,
        Some("store_ids"),
    );
    let t = try_template(&app, &app.admin_key, only_at(&["S1", "S2"]))
        .await
        .expect("open stores");
    assert_eq!(t.store_ids, ["S1", "S2"]);
    close(&app, &s1).await;
    let closed = try_template(&app, &app.admin_key, only_at(&["S1"]))
        .await
        .expect_err("closed store");
    assert_eq!(closed.code(), Code::FailedPrecondition);
    assert!(closed.message().starts_with("store_ids:") && closed.message().contains("closed"));
    // Unrestricted templates need no store; refused ones made nothing.
    try_template(&app, &app.admin_key, amount_off(100))
        .await
        .expect("every store");
    let templates = app
        .db
        .scalar("SELECT COUNT(*) FROM coupon_template WHERE $1 = $1", "")
        .await;
    assert_eq!(templates, 2);
}

async fn figures(
    app: &TestApp,
    cred: &str,
    req: pb::GetStoreFiguresRequest,
) -> Result<pb::StoreFigures, Status> {
    admin(&app.channel)
        .get_store_figures(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

fn of_template(id: &str, from_ms: i64, until_ms: i64) -> pb::GetStoreFiguresRequest {
    pb::GetStoreFiguresRequest {
        scope: Some(pb::get_store_figures_request::Scope::TemplateId(id.into())),
        from_ms,
        until_ms,
    }
}

/// (store, redemptions, reversed, discount, order amount) of each row.
fn rows(f: &pb::StoreFigures) -> Vec<(String, i64, i64, i64, i64)> {
    f.stores
        .iter()
        .map(|r| {
            (
                r.store_id.clone(),
                r.redemptions,
                r.reversed,
                r.discount_cents,
                r.order_amount_cents,
            )
        })
        .collect()
}

fn row(s: &str, n: i64, rev: i64, d: i64, o: i64) -> (String, i64, i64, i64, i64) {
    (s.to_owned(), n, rev, d, o)
}

async fn figures_count_each_store_exactly(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = pos_key(&app, "S1").await;
    let s2 = pos_key(&app, "S2").await;
    register(&app, "S3", "北京").await;
    let t = create_template(&app, only_at(&["S1", "S2"])).await;
    let redeem = |cred: &str, code: &str, amount: i64| {
        let cred = cred.to_owned();
        let req = redeem_req(code, amount);
        let mut till = pos(&app.channel);
        async move {
            till.redeem_coupon(with(&cred, req))
                .await
                .expect("redeem")
                .into_inner()
        }
    };
    let c1 = claim(&app, "fan-1", &t.template_id).await;
    let c2 = claim(&app, "fan-2", &t.template_id).await;
    let c3 = claim(&app, "fan-3", &t.template_id).await;
    claim(&app, "fan-4", &t.template_id).await;
    redeem(&s1, &c1.code, 3000).await;
    let r2 = redeem(&s1, &c2.code, 2000).await;
    redeem(&s2, &c3.code, 5000).await;
    pos(&app.channel)
        .reverse_redemption(with(
            &s1,
            pb::ReverseRedemptionRequest {
                idempotency_key: key(),
                redemption_id: r2.redemption_id.clone(),
                reason: "退货".into(),
            },
        ))
        .await
        .expect("reverse");

    let f = figures(&app, &app.admin_key, of_template(&t.template_id, 0, 0))
        .await
        .expect("figures");
    // S3 is not a store of this template: no row.
    assert_eq!(
        rows(&f),
        vec![row("S1", 1, 1, 700, 3000), row("S2", 1, 0, 700, 5000)]
    );
    assert_eq!(f.stores[0].name, "S1");
    assert_eq!(
        (
            f.redemptions,
            f.reversed,
            f.discount_cents,
            f.order_amount_cents
        ),
        (2, 1, 1400, 8000)
    );
    // A window after the redemptions: the template's stores, zeros.
    let later = figures(&app, &app.admin_key, of_template(&t.template_id, T0 + 1, 0))
        .await
        .expect("later");
    assert_eq!(
        rows(&later),
        vec![row("S1", 0, 0, 0, 0), row("S2", 0, 0, 0, 0)]
    );
    // The figures agree with the redemption ledger.
    let ledger = app
        .db
        .int_rows(
            "SELECT COUNT(*), CAST(SUM(r.discount_cents) AS BIGINT), \
             CAST(SUM(r.order_amount_cents) AS BIGINT) \
             FROM coupon_redemption r JOIN coupon c ON c.coupon_id = r.coupon_id \
             WHERE c.template_id = $1 AND r.reversed_at IS NULL",
            &t.template_id,
        )
        .await;
    assert_eq!(ledger[0], vec![2, 1400, 8000]);

    // An unrestricted template: every OPEN store has a row.
    let everywhere = create_template(&app, amount_off(300)).await;
    let c = claim(&app, "fan-5", &everywhere.template_id).await;
    redeem(&s2, &c.code, 900).await;
    let f = figures(
        &app,
        &app.admin_key,
        of_template(&everywhere.template_id, 0, 0),
    )
    .await
    .expect("unrestricted");
    assert_eq!(
        rows(&f),
        vec![
            row("S1", 0, 0, 0, 0),
            row("S2", 1, 0, 300, 900),
            row("S3", 0, 0, 0, 0)
        ]
    );
    assert_eq!(f.stores[2].city, "北京");

    // A campaign's prize coupons, delivered as the outbox does.
    let campaign = uuid::Uuid::now_v7().to_string();
    let delivered =
        pb::coupon_delivery_service_client::CouponDeliveryServiceClient::new(app.channel.clone())
            .deliver_prize(with(
                SECRET,
                pb::DeliverPrizeRequest {
                    source_id: uuid::Uuid::now_v7().to_string(),
                    merchant_id: "00000000-0000-7000-8000-000000000001".into(),
                    player_id: "winner".into(),
                    prize_kind: "COUPON".into(),
                    reference: everywhere.template_id.clone(),
                    campaign_id: campaign.clone(),
                },
            ))
            .await
            .expect("deliver")
            .into_inner()
            .coupon
            .expect("coupon");
    let won = player_code(&app, "winner", &delivered.coupon_id).await;
    redeem(&s1, &won, 4000).await;
    let by_campaign = figures(
        &app,
        &app.admin_key,
        pb::GetStoreFiguresRequest {
            scope: Some(pb::get_store_figures_request::Scope::CampaignId(
                campaign.clone(),
            )),
            ..Default::default()
        },
    )
    .await
    .expect("campaign figures");
    assert_eq!(
        rows(&by_campaign),
        vec![
            row("S1", 1, 0, 300, 4000),
            row("S2", 0, 0, 0, 0),
            row("S3", 0, 0, 0, 0)
        ]
    );
    // Another merchant sees nothing of it.
    let other = other_merchant(&app.db).await;
    let theirs = figures(
        &app,
        &other,
        pb::GetStoreFiguresRequest {
            scope: Some(pb::get_store_figures_request::Scope::CampaignId(campaign)),
            ..Default::default()
        },
    )
    .await
    .expect("other merchant");
    assert!(theirs.stores.is_empty() && theirs.redemptions == 0);
}

/// The full code of a player's coupon, as the player's own list shows it.
async fn player_code(app: &TestApp, openid: &str, coupon_id: &str) -> String {
    crate::kit::player(&app.channel)
        .get_my_coupon(with(
            &app.token(openid),
            pb::GetMyCouponRequest {
                coupon_id: coupon_id.into(),
            },
        ))
        .await
        .expect("my coupon")
        .into_inner()
        .code
}

async fn figure_requests_check_roles_and_fields(backend: Backend) {
    let app = spawn_engine(backend).await;
    let till = pos_key(&app, "S1").await;
    let auditor = app.api_key(cpb::Role::Auditor, "").await;
    let t = create_template(&app, amount_off(500)).await;
    figures(&app, &auditor, of_template(&t.template_id, 0, 0))
        .await
        .expect("auditors read figures");
    assert_code(
        figures(&app, &till, of_template(&t.template_id, 0, 0)).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        figures(&app, &app.token("fan"), of_template(&t.template_id, 0, 0)).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        figures(&app, &app.admin_key, pb::GetStoreFiguresRequest::default()).await,
        Code::InvalidArgument,
        Some("scope"),
    );
    assert_code(
        figures(&app, &app.admin_key, of_template("not-a-uuid", 0, 0)).await,
        Code::InvalidArgument,
        Some("template_id"),
    );
    assert_code(
        figures(&app, &app.admin_key, of_template(&t.template_id, T0, T0)).await,
        Code::InvalidArgument,
        Some("until_ms"),
    );
    assert_code(
        figures(&app, &app.admin_key, of_template(&t.template_id, -1, 0)).await,
        Code::InvalidArgument,
        Some("from_ms"),
    );
    // Another merchant's template, or none: NOT_FOUND.
    let other = other_merchant(&app.db).await;
    assert_code(
        figures(&app, &other, of_template(&t.template_id, 0, 0)).await,
        Code::NotFound,
        None,
    );
    assert_code(
        figures(
            &app,
            &app.admin_key,
            of_template(&uuid::Uuid::now_v7().to_string(), 0, 0),
        )
        .await,
        Code::NotFound,
        None,
    );
}
