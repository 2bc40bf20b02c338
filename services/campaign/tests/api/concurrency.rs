//! Many tasks racing for the last unit: never oversold, caps never
//! exceeded, the books balance afterwards.

use std::sync::Arc;

use engine_proto::campaign::v1::{FallbackReason, PrizeKind};
use tokio::task::JoinSet;

use crate::helpers::*;

async fn two_hundred_draws_race_for_the_last_unit(backend: Backend) {
    // Arrange: one prize with stock 1 that every roll lands on.
    let app = Arc::new(spawn_app(backend).await);
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("Phone", PrizeKind::Physical, 1, 1), thanks(0)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;

    // Act: 200 players draw at once.
    let mut set = JoinSet::new();
    for p in 0..200 {
        let (app, id) = (app.clone(), id.clone());
        set.spawn(async move { app.draw(&format!("racer-{p}"), &id).await });
    }
    let (mut winners, mut fallbacks) = (0, 0);
    while let Some(r) = set.join_next().await {
        let d = r.expect("task").expect("every draw is answered");
        if d.kind == PrizeKind::Physical as i32 {
            winners += 1;
        } else {
            assert_eq!(d.fallback_reason, FallbackReason::OutOfStock as i32);
            assert_eq!(d.rolled_slot_index, 0);
            assert_eq!(d.slot_index, 1);
            fallbacks += 1;
        }
    }

    // Assert: exactly one winner, and the books balance.
    assert_eq!((winners, fallbacks), (1, 199));
    let c = app.get_campaign(&id).await;
    assert_eq!((c.slots[0].won, c.slots[0].remaining), (1, 0));
    app.db.assert_stock_balances(&id).await;
}

async fn daily_and_per_user_caps_hold_under_concurrency(backend: Backend) {
    // Arrange: stock 100, at most 5 released per day, 1 per player; every
    // roll lands on it; 40 players each draw 3 times at once.
    let app = Arc::new(spawn_app(backend).await);
    let mut prize = slot("Voucher", PrizeKind::Points, 1, 100);
    prize.daily_cap = 5;
    prize.per_user_cap = 1;
    let c = app
        .wheel(rules(3, 6), vec![prize, thanks(0)], 1, true)
        .await;
    let id = c.campaign_id;
    let race = |day: i64| {
        let (app, id) = (app.clone(), id.clone());
        async move {
            let mut set = JoinSet::new();
            for p in 0..40 {
                for _ in 0..3 {
                    let (app, id) = (app.clone(), id.clone());
                    set.spawn(async move { (p, app.draw(&format!("p{p}"), &id).await) });
                }
            }
            let mut per_player = [0; 40];
            let mut won = 0;
            while let Some(r) = set.join_next().await {
                let (p, d) = r.expect("task");
                let d = d.unwrap_or_else(|e| panic!("day {day}: {e:?}"));
                if d.kind == PrizeKind::Points as i32 {
                    won += 1;
                    per_player[p] += 1;
                } else {
                    assert!(
                        [
                            FallbackReason::DailyCap as i32,
                            FallbackReason::UserCap as i32
                        ]
                        .contains(&d.fallback_reason),
                        "unexpected fallback {d:?}"
                    );
                }
            }
            (won, per_player)
        }
    };

    // Act + Assert: day 1 releases exactly 5, to 5 different players.
    let (won, per_player) = race(1).await;
    assert_eq!(won, 5);
    assert!(per_player.iter().all(|n| *n <= 1));
    // Day 2 releases 5 more, never to a player who already has one.
    app.clock.advance(DAY);
    let (won2, per_player2) = race(2).await;
    assert_eq!(won2, 5);
    for p in 0..40 {
        assert!(
            per_player[p] + per_player2[p] <= 1,
            "player {p} exceeded the per-user cap"
        );
    }
    // Daily draw limit held: 3 per player per day, recorded once each.
    assert_eq!(
        app.db
            .scalar(
                "SELECT MAX(draws) FROM player_daily_draws WHERE campaign_id = $1",
                &id
            )
            .await,
        3
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        240
    );
    let released = app
        .db
        .pairs("SELECT CAST(0 AS BIGINT), MAX(released) FROM prize_daily_release WHERE campaign_id = $1", &id)
        .await;
    assert_eq!(released, vec![(0, 5)]);
    app.db.assert_stock_balances(&id).await;
}

async fn a_refused_guard_does_not_count_against_the_player(backend: Backend) {
    // Arrange: 1 per day, 1 per player; every roll lands on the prize.
    let app = spawn_app(backend).await;
    let mut prize = slot("Kettle", PrizeKind::Physical, 1, 10);
    prize.daily_cap = 1;
    prize.per_user_cap = 1;
    let c = app
        .wheel(rules(1, 5), vec![prize, thanks(0)], 1, true)
        .await;
    let id = c.campaign_id;

    // Act: ann takes today's unit; ben passes his per-user guard but is
    // refused by the daily cap.
    let ann = app.draw("ann", &id).await.expect("ann");
    assert_eq!(ann.kind, PrizeKind::Physical as i32);
    let ben = app.draw("ben", &id).await.expect("ben");
    assert_eq!(ben.fallback_reason, FallbackReason::DailyCap as i32);

    // Assert: tomorrow ben still has his one allowed unit; ann does not.
    app.clock.advance(DAY);
    let ben2 = app.draw("ben", &id).await.expect("ben tomorrow");
    assert_eq!(ben2.kind, PrizeKind::Physical as i32, "{ben2:?}");
    app.clock.advance(DAY);
    let ann2 = app.draw("ann", &id).await.expect("ann later");
    assert_eq!(ann2.fallback_reason, FallbackReason::UserCap as i32);
    app.db.assert_stock_balances(&id).await;
}

async fn per_user_cap_and_stock_hold_when_the_lock_is_taken_last(backend: Backend) {
    // Arrange: no daily cap, so every draw takes the campaign lock last and
    // writes its win before it (store/wheel.rs `draw_lock_last`): a stock of
    // 25, at most 2 per player, every roll lands on it; 20 players draw 3
    // times each at once, 60 draws for 25 units.
    let app = Arc::new(spawn_app(backend).await);
    let mut prize = slot("Voucher", PrizeKind::Points, 1, 25);
    prize.per_user_cap = 2;
    let c = app
        .wheel(rules(3, 3), vec![prize, thanks(0)], 1, true)
        .await;
    let id = c.campaign_id;

    // Act
    let mut set = JoinSet::new();
    for p in 0..20 {
        for _ in 0..3 {
            let (app, id) = (app.clone(), id.clone());
            set.spawn(async move { (p, app.draw(&format!("p{p}"), &id).await) });
        }
    }
    let mut per_player = [0; 20];
    let (mut won, mut user_cap, mut out_of_stock) = (0, 0, 0);
    while let Some(r) = set.join_next().await {
        let (p, d) = r.expect("task");
        let d = d.expect("every draw is answered");
        match FallbackReason::try_from(d.fallback_reason) {
            Ok(FallbackReason::None) => {
                assert_eq!(d.kind, PrizeKind::Points as i32);
                won += 1;
                per_player[p] += 1;
            }
            Ok(FallbackReason::UserCap) => user_cap += 1,
            Ok(FallbackReason::OutOfStock) => out_of_stock += 1,
            other => panic!("unexpected fallback {other:?}"),
        }
    }

    // Assert: the stock went exactly, nobody above the cap, and the ledger
    // (which a refused optimistic draw must leave without a trace) has one
    // gapless entry per answered draw that replays to the same outcome.
    assert_eq!(won, 25);
    assert_eq!(won + user_cap + out_of_stock, 60);
    assert!(per_player.iter().all(|n| *n <= 2), "{per_player:?}");
    let c = app.get_campaign(&id).await;
    assert_eq!((c.slots[0].won, c.slots[0].remaining), (25, 0));
    app.db.assert_stock_balances(&id).await;
    let ledger = app
        .db
        .pairs(
            "SELECT MIN(ledger_seq), MAX(ledger_seq) FROM draw WHERE campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!(ledger, vec![(1, 60)]);
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(DISTINCT ledger_seq) FROM draw WHERE campaign_id = $1",
                &id
            )
            .await,
        60
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1",
                &id
            )
            .await,
        25
    );
    app.end_campaign(&id).await;
    let lines = crate::fairness::export(&app, &app.admin_key, &id).await;
    let (ok, out) = crate::fairness::verify(&app.db.dir, "lock-last.jsonl", &lines, &[]);
    assert!(ok, "{out}");
}

both_backends!(
    two_hundred_draws_race_for_the_last_unit,
    per_user_cap_and_stock_hold_when_the_lock_is_taken_last,
    daily_and_per_user_caps_hold_under_concurrency,
    a_refused_guard_does_not_count_against_the_player
);
