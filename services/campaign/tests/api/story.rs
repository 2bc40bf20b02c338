//! The whole wheel story: configure, publish, spin, claim, ship, end.

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use tonic::Code;

use crate::helpers::*;

/// One piece: a story whose steps each build on the state the previous ones
/// left (a draft published, daily limits spent over two days, a prize won,
/// claimed and shipped, pause, resume and end), stock checked at the end.
async fn wheel_story(backend: Backend) {
    // Arrange: a wheel with a physical prize, a coupon and a THANKS fallback.
    let app = spawn_app(backend).await;
    let mut tea = slot("Tea set", PrizeKind::Physical, 50, 20);
    tea.claim_days = 3;
    let c = app
        .wheel(
            rules(3, 5),
            vec![tea, slot("10 off", PrizeKind::Coupon, 30, 100), thanks(20)],
            2,
            false,
        )
        .await;
    assert_eq!(c.status, pb::CampaignStatus::Draft as i32);
    assert_eq!(c.time_zone, "Asia/Shanghai");
    assert_eq!(c.slots.len(), 3);
    assert_eq!(c.fallback_slot, Some(2));
    let id = c.campaign_id.clone();

    // A draft is there, but not open to players.
    assert_code(app.draw("alice", &id).await, Code::FailedPrecondition, None);

    let mut admin = app.admin();
    let published = admin
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("publish")
        .into_inner();
    assert_eq!(published.status, pb::CampaignStatus::Published as i32);

    // The player sees slots, weights and the fallback rule, but no stock.
    let wheel = app
        .player()
        .get_wheel(with(
            &app.token("alice"),
            pb::GetWheelRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("get wheel")
        .into_inner();
    assert_eq!(
        wheel.slots.iter().map(|s| s.weight).collect::<Vec<_>>(),
        vec![50, 30, 20]
    );
    assert_eq!(wheel.fallback_slot, 2);
    assert!(wheel.fallback_rule.contains("out of stock"));

    // Act: alice spins three times (her daily limit), then is refused.
    let mut won = Vec::new();
    for n in 1..=3 {
        let d = app.draw("alice", &id).await.expect("draw");
        assert_eq!(d.draw_sequence, n);
        assert_eq!(d.remaining_today, 3 - n);
        assert_eq!(d.remaining_total, 5 - n);
        assert!(
            wheel
                .slots
                .iter()
                .any(|s| s.index == d.slot_index && s.name == d.prize_name)
        );
        if d.kind != PrizeKind::Thanks as i32 {
            let award = d.award.clone().expect("a prize carries its award");
            assert_eq!(award.draw_id, d.draw_id);
            won.push(award);
        } else {
            assert!(d.award.is_none());
        }
    }
    assert_code(app.draw("alice", &id).await, Code::ResourceExhausted, None);

    // The next campaign day gives her 2 more (5 in total), then no more.
    app.clock.advance(DAY);
    for _ in 0..2 {
        let d = app.draw("alice", &id).await.expect("draw next day");
        if let Some(a) = d.award {
            won.push(a);
        }
    }
    let e = app.draw("alice", &id).await.expect_err("total exhausted");
    assert_eq!(e.code(), Code::ResourceExhausted);
    assert!(e.message().contains("campaign"), "{}", e.message());

    // Her prizes are listed, hers only.
    let mine = app
        .player()
        .list_my_prizes(with(
            &app.token("alice"),
            pb::ListMyPrizesRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("list")
        .into_inner()
        .awards;
    assert_eq!(mine.len(), won.len());
    let bobs = app
        .player()
        .list_my_prizes(with(&app.token("bob"), pb::ListMyPrizesRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .awards;
    assert!(bobs.is_empty());

    // Fulfilment: bob draws until he wins a tea set, claims it, admin ships it.
    let mut tea_award = None;
    'outer: for p in 0..40 {
        let player = format!("bob-{p}");
        for _ in 0..3 {
            let d = app.draw(&player, &id).await.expect("draw");
            if d.kind == PrizeKind::Physical as i32 {
                tea_award = Some((player.clone(), d.award.expect("award")));
                break 'outer;
            }
        }
    }
    if let Some((player, award)) = tea_award {
        assert_eq!(award.status, pb::AwardStatus::Won as i32);
        assert_eq!(award.claim_deadline_ms, award.won_at_ms + 3 * DAY);
        // Not shippable before it is claimed.
        assert_code(
            admin
                .ship_prize(with(
                    &app.admin_key,
                    pb::ShipPrizeRequest {
                        idempotency_key: key(),
                        award_id: award.award_id.clone(),
                        tracking_number: "SF1".into(),
                    },
                ))
                .await,
            Code::FailedPrecondition,
            None,
        );
        let claimed = app
            .player()
            .claim_prize(with(
                &app.token(&player),
                pb::ClaimPrizeRequest {
                    idempotency_key: key(),
                    award_id: award.award_id.clone(),
                    shipping: Some(pb::ShippingDetails {
                        recipient: "Bob".into(),
                        phone: "13800000000".into(),
                        address: "1 Nanjing Road".into(),
                    }),
                },
            ))
            .await
            .expect("claim")
            .into_inner();
        assert_eq!(claimed.status, pb::AwardStatus::Claimed as i32);
        let shipped = admin
            .ship_prize(with(
                &app.admin_key,
                pb::ShipPrizeRequest {
                    idempotency_key: key(),
                    award_id: award.award_id.clone(),
                    tracking_number: "SF1234".into(),
                },
            ))
            .await
            .expect("ship")
            .into_inner();
        assert_eq!(shipped.status, pb::AwardStatus::Shipped as i32);
        assert_eq!(shipped.tracking_number, "SF1234");
        let winners = admin
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
        let w = winners
            .iter()
            .find(|a| a.award_id == award.award_id)
            .expect("listed");
        assert_eq!(w.player_id, player);
        assert_eq!(w.status, pb::AwardStatus::Shipped as i32);
    } else {
        panic!("120 draws at 50% odds never won one of 20 tea sets");
    }

    // Pause refuses draws, resume allows them, end is final.
    for (rpc, expect) in [
        ("pause", Code::FailedPrecondition),
        ("resume", Code::Ok),
        ("end", Code::FailedPrecondition),
    ] {
        let req = with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        );
        match rpc {
            "pause" => admin.pause_campaign(req).await.expect("pause"),
            "resume" => admin.resume_campaign(req).await.expect("resume"),
            _ => admin.end_campaign(req).await.expect("end"),
        };
        let r = app.draw("carol", &id).await;
        if expect == Code::Ok {
            r.expect("draw after resume");
        } else {
            assert_code(r, expect, None);
        }
    }
    assert_code(
        admin
            .resume_campaign(with(
                &app.admin_key,
                pb::CampaignTransitionRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                },
            ))
            .await,
        Code::FailedPrecondition,
        None,
    );

    // Assert: stock balances against the ledger.
    app.db.assert_stock_balances(&id).await;
    let c = app.get_campaign(&id).await;
    for s in &c.slots {
        let spec = s.spec.as_ref().expect("spec");
        assert_eq!(s.won + s.remaining, spec.stock);
    }
    app.stop().await;
}

async fn time_window_and_day_boundary(backend: Backend) {
    let app = spawn_app(backend).await;
    // T0 is 12:00 in Shanghai; 23:59 there is 11 h 59 min later.
    let late = T0 + 11 * HOUR + 59 * 60_000;
    let mut r = rules(1, 10);
    r.starts_at_ms = T0 + HOUR;
    r.ends_at_ms = T0 + 3 * DAY;
    let c = app
        .wheel(
            r,
            vec![slot("Cup", PrizeKind::Physical, 1, 100), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;

    // Before the window: FAILED_PRECONDITION.
    assert_code(app.draw("dan", &id).await, Code::FailedPrecondition, None);

    // 23:59 local: one draw, then the day is used up.
    app.clock.set(late);
    app.draw("dan", &id).await.expect("23:59 draw");
    assert_code(app.draw("dan", &id).await, Code::ResourceExhausted, None);
    // 00:01 local, two minutes later: a new campaign day.
    app.clock.set(late + 2 * 60_000);
    app.draw("dan", &id).await.expect("00:01 draw is a new day");
    assert_code(app.draw("dan", &id).await, Code::ResourceExhausted, None);

    // After the window: FAILED_PRECONDITION.
    app.clock.set(T0 + 3 * DAY);
    assert_code(app.draw("erin", &id).await, Code::FailedPrecondition, None);
    app.stop().await;
}

async fn a_backwards_clock_jump_reopens_no_day(backend: Backend) {
    // RELIABILITY F6: the clock jumps back across the campaign's midnight.
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(2, 5),
            vec![slot("Cup", PrizeKind::Points, 1, 100), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    let midnight = T0 + 12 * HOUR; // 00:00 Asia/Shanghai after T0 (12:00)
    app.clock.set(midnight - 2_000);
    for _ in 0..2 {
        app.draw("gus", &id).await.expect("day N");
    }
    assert_code(app.draw("gus", &id).await, Code::ResourceExhausted, None);
    app.clock.set(midnight + 1_000);
    for _ in 0..2 {
        app.draw("gus", &id).await.expect("day N+1");
    }
    // Back to 23:59:59 of day N: that day is still full, and so is the total
    // once day N+2 comes.
    app.clock.set(midnight - 1_000);
    assert_code(app.draw("gus", &id).await, Code::ResourceExhausted, None);
    app.clock.set(midnight + DAY + 1_000);
    app.draw("gus", &id).await.expect("day N+2");
    assert_code(app.draw("gus", &id).await, Code::ResourceExhausted, None);
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        5
    );
    app.stop().await;
}

async fn unclaimed_prize_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cup = slot("Cup", PrizeKind::Physical, 1, 5);
    cup.claim_days = 1;
    let c = app.wheel(rules(1, 1), vec![cup, thanks(0)], 1, true).await;
    let d = app.draw("fay", &c.campaign_id).await.expect("draw");
    let award = d.award.expect("always wins the cup");
    app.clock.advance(DAY + 1);
    let claim = app
        .player()
        .claim_prize(with(
            &app.token("fay"),
            pb::ClaimPrizeRequest {
                idempotency_key: key(),
                award_id: award.award_id.clone(),
                shipping: Some(pb::ShippingDetails {
                    recipient: "F".into(),
                    phone: "1".into(),
                    address: "A".into(),
                }),
            },
        ))
        .await;
    let e = claim.expect_err("expired");
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("expired"));
    let mine = app
        .player()
        .list_my_prizes(with(&app.token("fay"), pb::ListMyPrizesRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .awards;
    assert_eq!(mine[0].status, pb::AwardStatus::Expired as i32);
    app.stop().await;
}

async fn simulation_forecasts_before_launch_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cup = slot("Cup", PrizeKind::Cash, 1, 10);
    cup.daily_cap = 2;
    let c = app
        .wheel(rules(5, 50), vec![cup, thanks(0)], 1, false)
        .await;
    let before = state_digest(&app.db).await;
    let sim = |players: u32, runs: u32| {
        with(
            &app.admin_key,
            pb::SimulateWheelRequest {
                campaign_id: c.campaign_id.clone(),
                days: 5,
                players_per_day: players,
                draws_per_player_per_day: 0,
                runs,
                rng_seed: 7,
            },
        )
    };
    let mut admin = app.admin();
    let r = admin
        .simulate_wheel(sim(1, 10))
        .await
        .expect("simulate")
        .into_inner();
    // 2 a day out of 10: gone on day 5; 3 of every 5 draws fall back.
    assert_eq!(r.slots[0].mean_sold_out_day, 5.0);
    assert_eq!(r.slots[0].mean_payout, 1000.0);
    assert!((r.fallback_share - 0.6).abs() < 1e-9, "{r:?}");
    assert_eq!((r.days, r.runs), (5, 10));
    assert_code(
        admin.simulate_wheel(sim(0, 10)).await,
        Code::InvalidArgument,
        Some("players_per_day"),
    );
    assert_code(
        admin.simulate_wheel(sim(1_000_000, 1000)).await,
        Code::InvalidArgument,
        Some("runs"),
    );
    assert_eq!(
        state_digest(&app.db).await,
        before,
        "a simulation changed something"
    );
    let no_fallback = admin
        .create_wheel(with(&app.admin_key, rules(1, 1)))
        .await
        .expect("create")
        .into_inner();
    let req = pb::SimulateWheelRequest {
        campaign_id: no_fallback.campaign_id,
        players_per_day: 1,
        ..Default::default()
    };
    assert_code(
        admin.simulate_wheel(with(&app.admin_key, req)).await,
        Code::FailedPrecondition,
        None,
    );
    app.stop().await;
}

both_backends!(
    wheel_story,
    time_window_and_day_boundary,
    unclaimed_prize_expires,
    simulation_forecasts_before_launch_and_changes_nothing,
    a_backwards_clock_jump_reopens_no_day
);
