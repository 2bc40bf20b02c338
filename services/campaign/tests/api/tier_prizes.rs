//! Prizes a forward-to-Moments tier awards (issue 21's bug): they have no
//! draw, and are listed beside wheel prizes with what earned them, claimed
//! with shipping details, shipped and expired like any physical prize.
//! Every prize kind a tier can award, on both databases.

use engine_proto::campaign::v1::{
    self as pb, AwardSource, AwardStatus, PrizeKind,
    share_admin_service_client::ShareAdminServiceClient, share_service_client::ShareServiceClient,
};
use tonic::Code;

use crate::helpers::*;

both_backends!(
    tier_prizes_of_every_kind_are_listed_claimed_and_shipped,
    an_unclaimed_tier_prize_expires,
);

/// A tier "share once" giving `kind`.
fn tier(index_name: &str, kind: PrizeKind) -> pb::ShareTier {
    let mut prize = slot(index_name, kind, 0, 5);
    prize.weight = 0;
    if kind == PrizeKind::Physical {
        prize.claim_days = 7;
    }
    pb::ShareTier {
        metric: pb::ShareMetric::Shares as i32,
        threshold: 1,
        prize: Some(prize),
        remaining: 0,
    }
}

/// A published wheel that won nothing yet, with share tiers of `kinds`,
/// funded for cash; returns its id.
async fn campaign_with_tiers(app: &TestApp, kinds: &[PrizeKind]) -> String {
    let c = app
        .wheel(
            rules(5, 5),
            vec![slot("Mug", PrizeKind::Physical, 1, 100), thanks(0)],
            1,
            true,
        )
        .await;
    let tiers = kinds
        .iter()
        .map(|k| tier(&format!("tier {}", k.as_str_name()), *k))
        .collect();
    ShareAdminServiceClient::new(app.channel.clone())
        .set_share_rules(with(
            &app.admin_key,
            pb::SetShareRulesRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                enabled: true,
                tiers,
            },
        ))
        .await
        .expect("share rules");
    pb::money_service_client::MoneyServiceClient::new(app.channel.clone())
        .fund_budget(with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                amount_cents: 1_000,
            },
        ))
        .await
        .expect("fund");
    c.campaign_id
}

async fn share_once(app: &TestApp, fan: &str, campaign: &str) {
    ShareServiceClient::new(app.channel.clone())
        .create_share(with(
            &app.token(fan),
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                parent_token: String::new(),
                channel: "moments".into(),
            },
        ))
        .await
        .expect("share");
}

async fn my_prizes(app: &TestApp, fan: &str, campaign: &str) -> Vec<pb::PrizeAward> {
    app.player()
        .list_my_prizes(with(
            &app.token(fan),
            pb::ListMyPrizesRequest {
                campaign_id: campaign.into(),
            },
        ))
        .await
        .expect("my prizes")
        .into_inner()
        .awards
}

fn shipping() -> pb::ShippingDetails {
    pb::ShippingDetails {
        recipient: "张三".into(),
        phone: "13800000000".into(),
        address: "上海市黄浦区南京东路 1 号".into(),
    }
}

async fn claim(app: &TestApp, fan: &str, award: &str) -> Result<pb::PrizeAward, tonic::Status> {
    app.player()
        .claim_prize(with(
            &app.token(fan),
            pb::ClaimPrizeRequest {
                idempotency_key: key(),
                award_id: award.into(),
                shipping: Some(shipping()),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn tier_prizes_of_every_kind_are_listed_claimed_and_shipped(backend: Backend) {
    let app = spawn_app(backend).await;
    let kinds = [
        PrizeKind::Physical,
        PrizeKind::Coupon,
        PrizeKind::TopupCode,
        PrizeKind::Points,
        PrizeKind::Cash,
    ];
    let id = campaign_with_tiers(&app, &kinds).await;
    // A wheel prize first, so the lists mix both sources.
    let drawn = app.draw("fan", &id).await.expect("draw");
    assert_eq!(drawn.kind, PrizeKind::Physical as i32);
    share_once(&app, "fan", &id).await;

    // The fan's lists, for this campaign and for all of them.
    for campaign in [id.as_str(), ""] {
        let awards = my_prizes(&app, "fan", campaign).await;
        assert_eq!(awards.len(), 1 + kinds.len(), "{awards:?}");
        let wheel: Vec<_> = awards
            .iter()
            .filter(|a| a.source == AwardSource::Draw as i32)
            .collect();
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel[0].draw_id, drawn.draw_id);
        for (i, k) in kinds.iter().enumerate() {
            let a = awards
                .iter()
                .find(|a| a.source == AwardSource::ShareTier as i32 && a.tier_index == i as u32)
                .unwrap_or_else(|| panic!("tier {i} missing: {awards:?}"));
            assert_eq!(a.kind, *k as i32);
            assert_eq!(a.draw_id, "");
            let want = if *k == PrizeKind::Physical {
                AwardStatus::Won
            } else {
                AwardStatus::Granted
            };
            assert_eq!(a.status, want as i32, "{a:?}");
        }
    }
    // The marketer's winners list.
    let winners = app
        .admin()
        .list_winners(with(
            &app.admin_key,
            pb::ListWinnersRequest {
                campaign_id: id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("winners")
        .into_inner()
        .awards;
    assert_eq!(winners.len(), 1 + kinds.len());
    assert!(winners.iter().all(|a| a.player_id == "fan"));

    let awards = my_prizes(&app, "fan", &id).await;
    for a in &awards {
        let claimed = claim(&app, "fan", &a.award_id).await;
        if a.kind != PrizeKind::Physical as i32 {
            assert_code(claimed, Code::FailedPrecondition, None);
            continue;
        }
        let claimed = claimed.expect("claim");
        assert_eq!(claimed.status, AwardStatus::Claimed as i32);
        assert_eq!(claimed.shipping, Some(shipping()));
        assert_eq!(claimed.source, a.source);
        // Someone else cannot claim it.
        assert_code(
            claim(&app, "other", &a.award_id).await,
            Code::NotFound,
            None,
        );
        let shipped = app
            .admin()
            .ship_prize(with(
                &app.admin_key,
                pb::ShipPrizeRequest {
                    idempotency_key: key(),
                    award_id: a.award_id.clone(),
                    tracking_number: "SF1234567890".into(),
                },
            ))
            .await
            .expect("ship")
            .into_inner();
        assert_eq!(shipped.status, AwardStatus::Shipped as i32);
        assert_eq!(shipped.tier_index, a.tier_index);
    }
    let after = my_prizes(&app, "fan", &id).await;
    let shipped = after
        .iter()
        .filter(|a| a.status == AwardStatus::Shipped as i32)
        .count();
    assert_eq!(shipped, 2, "the wheel's mug and the tier's physical prize");
    app.db.assert_sharing_balances().await;
    app.db.assert_money_balances().await;
}

async fn an_unclaimed_tier_prize_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = campaign_with_tiers(&app, &[PrizeKind::Physical]).await;
    share_once(&app, "fan", &id).await;
    let award = my_prizes(&app, "fan", &id)
        .await
        .into_iter()
        .find(|a| a.source == AwardSource::ShareTier as i32)
        .expect("tier award");
    assert_eq!(award.status, AwardStatus::Won as i32);
    assert!(award.claim_deadline_ms > 0);
    app.clock.set(award.claim_deadline_ms + 1);
    let listed = my_prizes(&app, "fan", &id).await;
    assert!(
        listed
            .iter()
            .any(|a| a.award_id == award.award_id && a.status == AwardStatus::Expired as i32),
        "{listed:?}"
    );
    assert_code(
        claim(&app, "fan", &award.award_id).await,
        Code::FailedPrecondition,
        None,
    );
}
