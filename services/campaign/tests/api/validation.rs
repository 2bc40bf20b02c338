//! Bad input gets its precise status, naming the field, and changes
//! nothing; a published wheel's odds, prizes and stock are frozen.

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use tonic::Code;

use crate::helpers::*;

/// One piece: a table of bad requests to the admin and player RPCs, each
/// checked the same way (status and field), between one state digest taken
/// before the first and compared after the last.
async fn bad_input_is_refused_precisely_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let draft = app
        .wheel(
            rules(1, 1),
            vec![
                slot("Cup", PrizeKind::Physical, 1, 3),
                thanks(1),
                slot("Bag", PrizeKind::Cash, 1, 3),
            ],
            1,
            false,
        )
        .await
        .campaign_id;
    let live = app
        .wheel(
            rules(5, 5),
            vec![slot("Cup", PrizeKind::Coupon, 1, 5), thanks(0)],
            1,
            true,
        )
        .await
        .campaign_id;
    let coupon_award = app
        .draw("kim", &live)
        .await
        .expect("draw")
        .award
        .expect("coupon")
        .award_id;
    let mut a = app.admin();
    let mut p = app.player();
    let k = &app.admin_key;
    let t = app.token("kim");
    let before = state_digest(&app.db).await;

    // CreateWheel
    let cw = |f: fn(&mut pb::CreateWheelRequest)| {
        let mut r = rules(1, 1);
        f(&mut r);
        with(k, r)
    };
    assert_code(
        a.create_wheel(cw(|r| r.name = " ".into())).await,
        Code::InvalidArgument,
        Some("name"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.starts_at_ms = 0)).await,
        Code::InvalidArgument,
        Some("starts_at_ms"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.ends_at_ms = r.starts_at_ms)).await,
        Code::InvalidArgument,
        Some("ends_at_ms"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.time_zone = "Mars/Olympus".into()))
            .await,
        Code::InvalidArgument,
        Some("time_zone"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.draws_per_day = 0)).await,
        Code::InvalidArgument,
        Some("draws_per_day"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.draws_total = -1)).await,
        Code::InvalidArgument,
        Some("draws_total"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.idempotency_key.clear())).await,
        Code::InvalidArgument,
        Some("idempotency_key"),
    );
    assert_code(
        a.create_wheel(cw(|r| r.idempotency_key = "x".repeat(129)))
            .await,
        Code::InvalidArgument,
        Some("idempotency_key"),
    );

    // AddPrizeSlot
    let add = |id: &str, s: Option<pb::PrizeSlotSpec>| {
        with(
            k,
            pb::AddPrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                slot: s,
            },
        )
    };
    let bad = |f: fn(&mut pb::PrizeSlotSpec)| {
        let mut s = slot("Mug", PrizeKind::Physical, 1, 1);
        f(&mut s);
        Some(s)
    };
    assert_code(
        a.add_prize_slot(add("nope", Some(thanks(1)))).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        a.add_prize_slot(add(&uuid::Uuid::new_v4().to_string(), Some(thanks(1))))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        a.add_prize_slot(add(&draft, None)).await,
        Code::InvalidArgument,
        Some("slot"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.kind = 0))).await,
        Code::InvalidArgument,
        Some("slot.kind"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.kind = 42))).await,
        Code::InvalidArgument,
        Some("slot.kind"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.weight = -1))).await,
        Code::InvalidArgument,
        Some("slot.weight"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.stock = 0))).await,
        Code::InvalidArgument,
        Some("slot.stock"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.stock = -5))).await,
        Code::InvalidArgument,
        Some("slot.stock"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.daily_cap = -1)))
            .await,
        Code::InvalidArgument,
        Some("slot.daily_cap"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.per_user_cap = -1)))
            .await,
        Code::InvalidArgument,
        Some("slot.per_user_cap"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.name.clear()))).await,
        Code::InvalidArgument,
        Some("slot.name"),
    );
    assert_code(
        a.add_prize_slot(add(&draft, bad(|s| s.amount = 5))).await,
        Code::InvalidArgument,
        Some("slot.amount"),
    );
    let mut thanks_with_stock = thanks(1);
    thanks_with_stock.stock = 3;
    assert_code(
        a.add_prize_slot(add(&draft, Some(thanks_with_stock))).await,
        Code::InvalidArgument,
        Some("slot.stock"),
    );
    let mut coupon_no_template = slot("C", PrizeKind::Coupon, 1, 1);
    coupon_no_template.reference.clear();
    assert_code(
        a.add_prize_slot(add(&draft, Some(coupon_no_template)))
            .await,
        Code::InvalidArgument,
        Some("slot.reference"),
    );

    // UpdatePrizeSlot / SetFallbackSlot / Publish
    let upd = |id: &str, index: u32, s: pb::PrizeSlotSpec| {
        with(
            k,
            pb::UpdatePrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                index,
                slot: Some(s),
            },
        )
    };
    assert_code(
        a.update_prize_slot(upd(&draft, 9, thanks(1))).await,
        Code::NotFound,
        None,
    );
    assert_code(
        a.update_prize_slot(upd(&draft, 1, slot("X", PrizeKind::Physical, 1, 1)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    let fb = |id: &str, index: u32| {
        with(
            k,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                index,
            },
        )
    };
    assert_code(
        a.set_fallback_slot(fb(&draft, 0)).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.set_fallback_slot(fb(&draft, 7)).await,
        Code::NotFound,
        None,
    );

    // A published wheel is frozen.
    assert_code(
        a.update_prize_slot(upd(&live, 0, slot("Cup", PrizeKind::Coupon, 100, 500)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.add_prize_slot(add(&live, Some(thanks(1)))).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.set_fallback_slot(fb(&live, 1)).await,
        Code::FailedPrecondition,
        None,
    );
    let tr = |id: &str| {
        with(
            k,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
            },
        )
    };
    assert_code(
        a.publish_campaign(tr(&live)).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.resume_campaign(tr(&live)).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.end_campaign(tr(&draft)).await,
        Code::FailedPrecondition,
        None,
    );

    // Other admin calls
    assert_code(
        a.list_winners(with(
            k,
            #[allow(deprecated)]
            pb::ListWinnersRequest {
                campaign_id: live.clone(),
                limit: 501,
                ..Default::default()
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("limit"),
    );
    assert_code(
        a.get_campaign(with(
            k,
            pb::GetCampaignRequest {
                campaign_id: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        a.set_player_token_key(with(
            k,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: "i".into(),
                secret: vec![1; 31],
                key_id: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("secret"),
    );
    assert_code(
        a.set_player_token_key(with(
            k,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: String::new(),
                secret: vec![1; 32],
                key_id: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("issuer"),
    );
    for bad in ["k/1", " k1", &"k".repeat(65)] {
        assert_code(
            a.set_player_token_key(with(
                k,
                pb::SetPlayerTokenKeyRequest {
                    idempotency_key: key(),
                    issuer: "i".into(),
                    secret: vec![1; 32],
                    key_id: bad.to_owned(),
                },
            ))
            .await,
            Code::InvalidArgument,
            Some("key_id"),
        );
        assert_code(
            a.retire_player_token_key(with(
                k,
                pb::RetirePlayerTokenKeyRequest {
                    idempotency_key: key(),
                    key_id: bad.to_owned(),
                },
            ))
            .await,
            Code::InvalidArgument,
            Some("key_id"),
        );
    }
    assert_code(
        a.ship_prize(with(
            k,
            pb::ShipPrizeRequest {
                idempotency_key: key(),
                award_id: coupon_award.clone(),
                tracking_number: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("tracking_number"),
    );
    assert_code(
        a.ship_prize(with(
            k,
            pb::ShipPrizeRequest {
                idempotency_key: key(),
                award_id: uuid::Uuid::new_v4().to_string(),
                tracking_number: "T".into(),
            },
        ))
        .await,
        Code::NotFound,
        None,
    );
    assert_code(
        a.revoke_api_key(with(
            k,
            pb::RevokeApiKeyRequest {
                idempotency_key: key(),
                key_id: "0123456789abcdef".into(),
            },
        ))
        .await,
        Code::NotFound,
        None,
    );

    // Player calls
    let draw = |id: &str, channel: &str, ik: &str| {
        with(
            &t,
            pb::DrawRequest {
                idempotency_key: ik.into(),
                campaign_id: id.into(),
                channel: channel.into(),
                store_id: String::new(),
            },
        )
    };
    assert_code(
        p.draw(draw("42", "", "k1")).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        p.draw(draw(&live, &"c".repeat(65), "k2")).await,
        Code::InvalidArgument,
        Some("channel"),
    );
    assert_code(
        p.draw(draw(&live, "", "")).await,
        Code::InvalidArgument,
        Some("idempotency_key"),
    );
    assert_code(
        p.draw(draw(&uuid::Uuid::new_v4().to_string(), "", "k3"))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        p.get_wheel(with(
            &t,
            pb::GetWheelRequest {
                campaign_id: draft.clone(),
            },
        ))
        .await,
        Code::FailedPrecondition,
        None,
    );
    let claim = |award: &str, s: Option<pb::ShippingDetails>| {
        with(
            &t,
            pb::ClaimPrizeRequest {
                idempotency_key: key(),
                award_id: award.into(),
                shipping: s,
            },
        )
    };
    let ship = |r: &str| {
        Some(pb::ShippingDetails {
            recipient: r.into(),
            phone: "1".into(),
            address: "A".into(),
        })
    };
    assert_code(
        p.claim_prize(claim(&coupon_award, None)).await,
        Code::InvalidArgument,
        Some("shipping"),
    );
    assert_code(
        p.claim_prize(claim(&coupon_award, ship(""))).await,
        Code::InvalidArgument,
        Some("shipping.recipient"),
    );
    assert_code(
        p.claim_prize(claim(&coupon_award, ship("Kim"))).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        p.claim_prize(claim("x", ship("Kim"))).await,
        Code::InvalidArgument,
        Some("award_id"),
    );
    assert_code(
        p.claim_prize(claim(&uuid::Uuid::new_v4().to_string(), ship("Kim")))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        p.list_my_prizes(with(
            &t,
            pb::ListMyPrizesRequest {
                campaign_id: "zz".into(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );

    assert_eq!(
        state_digest(&app.db).await,
        before,
        "a refused request changed something"
    );
    app.stop().await;
}

async fn publish_rules_and_slot_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut a = app.admin();
    let k = &app.admin_key;
    let tr = |id: &str| {
        with(
            k,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
            },
        )
    };
    // No fallback chosen: refused.
    let c = a
        .create_wheel(with(k, rules(1, 1)))
        .await
        .expect("create")
        .into_inner();
    let add = |s: pb::PrizeSlotSpec| {
        with(
            k,
            pb::AddPrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                slot: Some(s),
            },
        )
    };
    a.add_prize_slot(add(thanks(0))).await.expect("thanks");
    assert_code(
        a.publish_campaign(tr(&c.campaign_id)).await,
        Code::FailedPrecondition,
        None,
    );
    a.set_fallback_slot(with(
        k,
        pb::SetFallbackSlotRequest {
            idempotency_key: key(),
            campaign_id: c.campaign_id.clone(),
            index: 0,
        },
    ))
    .await
    .expect("fallback");
    // No slot with weight: refused.
    let e = a
        .publish_campaign(tr(&c.campaign_id))
        .await
        .expect_err("no weight");
    assert!(e.message().contains("weight"), "{}", e.message());
    // Up to 17 slots, then RESOURCE_EXHAUSTED.
    for i in 1..17 {
        a.add_prize_slot(add(slot(&format!("P{i}"), PrizeKind::Points, 1, 10)))
            .await
            .expect("slot");
    }
    assert_code(
        a.add_prize_slot(add(thanks(1))).await,
        Code::ResourceExhausted,
        None,
    );
    // A draft edit replaces the slot, stock included.
    let updated = a
        .update_prize_slot(with(
            k,
            pb::UpdatePrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                index: 3,
                slot: Some(slot("Big", PrizeKind::Cash, 7, 70)),
            },
        ))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.slots[3].remaining, 70);
    assert_eq!(updated.slots[3].spec.as_ref().expect("spec").weight, 7);
    // 70 cash prizes of 1.00 need 70.00 reserved from the budget first.
    let unfunded = a.publish_campaign(tr(&c.campaign_id)).await;
    assert_code(unfunded, Code::ResourceExhausted, None);
    engine_proto::campaign::v1::money_service_client::MoneyServiceClient::new(app.channel.clone())
        .fund_budget(with(
            k,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                amount_cents: 7000,
            },
        ))
        .await
        .expect("fund");
    let published = a
        .publish_campaign(tr(&c.campaign_id))
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(published.slots.len(), 17);
    app.stop().await;
}

async fn abusive_players_are_slowed_and_oversized_requests_refused(backend: Backend) {
    // Arrange: 2 requests a second, a burst of 5, 4 KiB messages.
    let app = spawn_app_with(backend, |s| {
        s.player_rate_per_sec = 2;
        s.player_rate_burst = 5;
        s.max_request_bytes = 4096;
    })
    .await;
    let c = app
        .wheel(
            rules(100, 100),
            vec![slot("Cup", PrizeKind::Physical, 1, 50), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;

    // Act: one player fires 12 draws at once; another player is unaffected.
    let mut answers = Vec::new();
    for _ in 0..12 {
        answers.push(app.draw("bot", &id).await);
    }
    let limited = answers
        .iter()
        .filter(|r| matches!(r, Err(s) if s.code() == Code::ResourceExhausted))
        .count();
    let ok = answers.iter().filter(|r| r.is_ok()).count();

    // Assert: the burst passes, the rest is refused and changes nothing.
    assert!(
        ok >= 5 && limited >= 5 && ok + limited == 12,
        "ok {ok}, limited {limited}"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        ok as i64
    );
    app.draw("human", &id)
        .await
        .expect("another player is not slowed");

    // A request over the size cap is refused before it is decoded.
    let before = state_digest(&app.db).await;
    let huge = pb::DrawRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
        channel: "x".repeat(8192),
        store_id: String::new(),
    };
    let e = app
        .player()
        .draw(with(&app.token("human2"), huge))
        .await
        .expect_err("too large");
    assert!(
        matches!(
            e.code(),
            Code::OutOfRange | Code::ResourceExhausted | Code::InvalidArgument
        ),
        "{e:?}"
    );
    assert_eq!(state_digest(&app.db).await, before);
    app.stop().await;
}

both_backends!(
    bad_input_is_refused_precisely_and_changes_nothing,
    publish_rules_and_slot_limit,
    abusive_players_are_slowed_and_oversized_requests_refused
);
