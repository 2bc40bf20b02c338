//! A coupon or top-up prize must name a template or pool the coupon service
//! has for this merchant: refused when added, updated, put in a share tier
//! or published otherwise (FAILED_PRECONDITION naming the field), refused
//! as UNAVAILABLE when the coupon service cannot be asked, and refused when
//! the engine has no coupon service. The real coupon service's answers
//! (another merchant's template, a pool) are in the coupon suite.

use engine_proto::campaign::v1::{
    self as pb, PrizeKind, share_admin_service_client::ShareAdminServiceClient,
};
use tonic::Code;

use crate::helpers::*;

both_backends!(
    unknown_coupon_prizes_are_refused_where_they_enter,
    publishing_rechecks_every_coupon_prize,
    no_coupon_service_or_an_unreachable_one_refuses,
);

const UNKNOWN: &str = "0190a1b2-0000-7000-8000-000000000000";

fn coupon_slot(reference: &str) -> pb::PrizeSlotSpec {
    pb::PrizeSlotSpec {
        reference: reference.into(),
        ..slot("5 off", PrizeKind::Coupon, 1, 10)
    }
}

async fn add(app: &TestApp, id: &str, s: pb::PrizeSlotSpec) -> Result<pb::Campaign, tonic::Status> {
    app.admin()
        .add_prize_slot(with(
            &app.admin_key,
            pb::AddPrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                slot: Some(s),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn unknown_coupon_prizes_are_refused_where_they_enter(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(5, 5), vec![thanks(1)], 0, false).await;
    let id = c.campaign_id.clone();
    let before = state_digest(&app.db).await;
    assert_code(
        add(&app, &id, coupon_slot(UNKNOWN)).await,
        Code::FailedPrecondition,
        Some("slot.reference"),
    );
    let mut topup = coupon_slot(UNKNOWN);
    topup.kind = PrizeKind::TopupCode as i32;
    assert_code(
        add(&app, &id, topup).await,
        Code::FailedPrecondition,
        Some("slot.reference"),
    );
    let updated = app
        .admin()
        .update_prize_slot(with(
            &app.admin_key,
            pb::UpdatePrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                index: 0,
                slot: Some(coupon_slot(UNKNOWN)),
            },
        ))
        .await;
    assert_code(updated, Code::FailedPrecondition, Some("slot.reference"));
    let mut prize = coupon_slot(UNKNOWN);
    prize.weight = 0;
    let tiers = ShareAdminServiceClient::new(app.channel.clone())
        .set_share_rules(with(
            &app.admin_key,
            pb::SetShareRulesRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                enabled: true,
                tiers: vec![pb::ShareTier {
                    metric: pb::ShareMetric::Shares as i32,
                    threshold: 1,
                    prize: Some(prize),
                    remaining: 0,
                }],
            },
        ))
        .await;
    assert_code(
        tiers,
        Code::FailedPrecondition,
        Some("tiers[0].prize.reference"),
    );
    assert_eq!(
        state_digest(&app.db).await,
        before,
        "refusals changed state"
    );
    // A known template is accepted.
    let c = add(&app, &id, coupon_slot(coupon_peer::KNOWN_REFERENCE))
        .await
        .expect("a known template");
    assert_eq!(c.slots.len(), 2);
}

async fn publishing_rechecks_every_coupon_prize(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(5, 5),
            vec![coupon_slot(coupon_peer::KNOWN_REFERENCE), thanks(1)],
            1,
            false,
        )
        .await;
    // A slot whose template is gone (or written before the check existed).
    app.db
        .execute(
            "UPDATE prize_slot SET reference = '0190a1b2-0000-7000-8000-000000000000' \
             WHERE kind = 'coupon'",
        )
        .await
        .expect("edit the slot");
    let published = app
        .admin()
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await;
    assert_code(
        published,
        Code::FailedPrecondition,
        Some("slots[0].reference"),
    );
    assert_eq!(
        app.get_campaign(&c.campaign_id).await.status,
        pb::CampaignStatus::Draft as i32
    );
}

async fn no_coupon_service_or_an_unreachable_one_refuses(backend: Backend) {
    let none = spawn_app_with(backend, |s| set_coupon_endpoint(s, "none")).await;
    let c = none.wheel(rules(5, 5), vec![thanks(1)], 0, false).await;
    let r = add(
        &none,
        &c.campaign_id,
        coupon_slot(coupon_peer::KNOWN_REFERENCE),
    )
    .await;
    assert_code(r, Code::FailedPrecondition, Some("slot.reference"));
    let message = add(
        &none,
        &c.campaign_id,
        coupon_slot(coupon_peer::KNOWN_REFERENCE),
    )
    .await
    .expect_err("refused")
    .message()
    .to_owned();
    assert!(message.contains("coupon_endpoint"), "{message}");
    // Other kinds need no coupon service.
    add(
        &none,
        &c.campaign_id,
        slot("Mug", PrizeKind::Physical, 1, 1),
    )
    .await
    .expect("a physical prize");

    // A coupon service that does not answer: UNAVAILABLE, nothing changed.
    let port = free_port();
    let down = spawn_app_with(backend, |s| {
        set_coupon_endpoint(s, format!("http://127.0.0.1:{port}"));
    })
    .await;
    let c = down.wheel(rules(5, 5), vec![thanks(1)], 0, false).await;
    let before = state_digest(&down.db).await;
    let r = add(
        &down,
        &c.campaign_id,
        coupon_slot(coupon_peer::KNOWN_REFERENCE),
    )
    .await;
    assert_code(r, Code::Unavailable, Some("slot.reference"));
    assert_eq!(state_digest(&down.db).await, before);
}
