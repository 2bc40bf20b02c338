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

/// Who drew in `a_crowd_of_mixed_draws_gets_exact_answers`.
enum Crowd {
    Fresh,
    Thrice(usize),
    Copy,
    Spent(usize),
}

/// One piece: the earlier draws set the state (chances spent, extra draws
/// earned) the crowd then draws against at once, and every answer and count
/// is checked against that state.
async fn a_crowd_of_mixed_draws_gets_exact_answers(backend: Backend) {
    // Arrange: 2 draws a day and 3 in all; a plain prize of 15 (likely to
    // run out in the crowd), a prize capped at one per player, a coupon
    // prize, THANKS as fallback.
    // (On PostgreSQL the draws waiting at once are drawn as one
    // transaction: this crowd mixes every kind of draw into those.)
    let port = free_port();
    let app = Arc::new(
        spawn_app_with(backend, |s| {
            s.metrics_listen = format!("127.0.0.1:{port}");
        })
        .await,
    );
    let mut capped = slot("Mug", PrizeKind::Points, 1, 100);
    capped.per_user_cap = 1;
    let c = app
        .wheel(
            rules(2, 3),
            vec![
                slot("Gift", PrizeKind::Points, 1, 15),
                capped,
                slot("Voucher", PrizeKind::Coupon, 1, 100),
                thanks(1),
            ],
            3,
            true,
        )
        .await;
    let id = c.campaign_id;
    // Ten players spend their 3 chances over two days, so on the third
    // day their daily count has room and their total has none.
    for p in 0..10 {
        for _ in 0..2 {
            app.draw(&format!("spent{p}"), &id).await.expect("day 1");
        }
    }
    app.clock.advance(DAY);
    for p in 0..10 {
        app.draw(&format!("spent{p}"), &id).await.expect("day 2");
    }
    app.clock.advance(DAY);
    // Players 0..5 of those drawing three times have earned one extra draw
    // today (and so in total): 3 today for them, 2 for the others. The
    // day is the campaign's, as a first draw of the day records it.
    app.draw("early-bird", &id).await.expect("day 3");
    let granted = app
        .db
        .int_rows(
            "INSERT INTO extra_chance (campaign_id, player_id, day, granted) \
             SELECT $1, 'thrice' || CAST(v AS TEXT), \
               (SELECT MAX(day) FROM draw WHERE campaign_id = $1), 1 \
             FROM (SELECT 0 AS v UNION ALL SELECT 1 UNION ALL SELECT 2 \
               UNION ALL SELECT 3 UNION ALL SELECT 4) n RETURNING granted",
            &id,
        )
        .await;
    assert_eq!(granted.len(), 5);

    // Act: at once, 40 new players, 10 players drawing three times each,
    // 20 copies of one request, and the 10 spent players.
    let copy = engine_proto::campaign::v1::DrawRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
        channel: "qr".into(),
        store_id: String::new(),
    };
    let mut set = JoinSet::new();
    let mut spawn = |who: Crowd| {
        let (app, id, copy) = (app.clone(), id.clone(), copy.clone());
        set.spawn(async move {
            let got = match &who {
                Crowd::Fresh => app.draw(&format!("fresh-{}", key()), &id).await,
                Crowd::Thrice(p) => app.draw(&format!("thrice{p}"), &id).await,
                Crowd::Spent(p) => app.draw(&format!("spent{p}"), &id).await,
                Crowd::Copy => app
                    .player()
                    .draw(with(&app.token("copier"), copy))
                    .await
                    .map(|r| r.into_inner()),
            };
            (who, got)
        });
    };
    for p in 0..40 {
        spawn(Crowd::Fresh);
        if p < 10 {
            for _ in 0..3 {
                spawn(Crowd::Thrice(p));
            }
        }
        if p < 20 {
            spawn(Crowd::Copy);
        }
    }
    for p in 0..10 {
        spawn(Crowd::Spent(p));
    }

    // Assert: each got what it would alone.
    let mut thrice_ok = [0; 10];
    let mut thrice_left: [Vec<i64>; 10] = Default::default();
    let mut copies = Vec::new();
    while let Some(r) = set.join_next().await {
        match r.expect("task") {
            (Crowd::Fresh, got) => {
                got.expect("a new player's draw is answered");
            }
            (Crowd::Thrice(p), Ok(d)) => {
                thrice_ok[p] += 1;
                thrice_left[p].push(d.remaining_today);
            }
            (Crowd::Thrice(_), got) => assert_code(got, tonic::Code::ResourceExhausted, None),
            (Crowd::Copy, got) => copies.push(got.expect("every copy is answered")),
            (Crowd::Spent(_), got) => assert_code(got, tonic::Code::ResourceExhausted, None),
        }
    }
    assert_eq!(
        thrice_ok,
        [3, 3, 3, 3, 3, 2, 2, 2, 2, 2],
        "2 draws a day and the extra ones, whatever the crowd"
    );
    for (p, left) in thrice_left.iter_mut().enumerate() {
        left.sort_unstable();
        let want: &[i64] = if p < 5 { &[0, 1, 2] } else { &[0, 1] };
        assert_eq!(left, want, "thrice{p}: chances left today after each draw");
    }
    assert_eq!(copies.len(), 20);
    assert!(
        copies.iter().all(|d| *d == copies[0]),
        "every copy of one request gets its one answer"
    );

    // ... and the books agree with the draw rows.
    let db = &app.db;
    db.assert_stock_balances(&id).await;
    let q = |sql: &'static str| db.scalar(sql, &id);
    let draws = q("SELECT COUNT(*) FROM draw WHERE campaign_id = $1").await;
    assert_eq!(
        draws,
        30 + 1 + 40 + 25 + 1,
        "day 1, day 2, the early bird, then the crowd's"
    );
    assert_eq!(
        db.int_rows(
            "SELECT COUNT(DISTINCT ledger_seq), MIN(ledger_seq), MAX(ledger_seq) FROM draw \
             WHERE campaign_id = $1",
            &id
        )
        .await,
        vec![vec![draws, 1, draws]],
        "the ledger is 1..n without gaps"
    );
    assert_eq!(
        q("SELECT draw_count FROM campaign WHERE campaign_id = $1").await,
        draws
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM player_daily_draws c WHERE c.campaign_id = $1 AND c.draws <> \
           (SELECT COUNT(*) FROM draw d WHERE d.campaign_id = c.campaign_id \
            AND d.player_id = c.player_id AND d.day = c.day)"
        )
        .await,
        0,
        "every daily count equals the player's draws that day"
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM player_draws c WHERE c.campaign_id = $1 AND c.draws <> \
           (SELECT COUNT(*) FROM draw d WHERE d.campaign_id = c.campaign_id \
            AND d.player_id = c.player_id)"
        )
        .await,
        0,
        "every total equals the player's draws"
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM (SELECT player_id FROM prize_award WHERE campaign_id = $1 \
           AND slot_index = 1 GROUP BY player_id HAVING COUNT(*) > 1) t"
        )
        .await,
        0,
        "one mug per player"
    );
    let vouchers =
        q("SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1 AND kind = 'coupon'").await;
    assert!(
        q(
            "SELECT COUNT(*) FROM prize_award a JOIN draw d ON d.draw_id = a.draw_id \
           WHERE a.campaign_id = $1 AND a.kind = 'coupon' \
           AND d.day = (SELECT MAX(day) FROM draw WHERE campaign_id = $1)"
        )
        .await
            >= 1,
        "the crowd won vouchers"
    );
    assert_eq!(
        q(
            "SELECT COUNT(*) FROM prize_outbox o JOIN prize_award a ON a.draw_id = o.source_id \
           WHERE o.campaign_id = $1 AND a.kind = 'coupon'"
        )
        .await,
        vouchers,
        "every voucher won, and only those, waits in the outbox"
    );
    assert_eq!(
        q("SELECT COUNT(*) FROM prize_outbox WHERE campaign_id = $1").await,
        vouchers
    );
    assert_eq!(
        q(
            "SELECT COUNT(DISTINCT player_id) FROM participant_day WHERE campaign_id = $1 \
           AND day = (SELECT MAX(day) FROM draw WHERE campaign_id = $1)"
        )
        .await,
        1 + 40 + 10 + 1,
        "a refused draw does not take part"
    );
    // The answers above came through the grouped paths, not only the
    // single draw: the crowd made batches.
    let page = http_get(port, "/metrics").await;
    match backend {
        Backend::Sqlite => {
            let commits = metric(&page, "campaign_db_group_commits_total");
            let carried = metric(&page, "campaign_db_group_committed_transactions_total");
            assert!(
                carried > commits,
                "some commit carried several draws: {carried} in {commits}"
            );
        }
        Backend::Postgres => {
            assert!(metric(&page, "campaign_draw_batches_total") >= 1);
            assert!(metric(&page, "campaign_draw_batched_draws_total") >= 2);
        }
    }
}

async fn two_replicas_race_for_the_last_units(backend: Backend) {
    // Arrange: two engines on one database (two replicas, each with its
    // own queues); one prize of 10 that every roll lands on.
    let app = Arc::new(spawn_app(backend).await);
    let replica = app.replica().await;
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("Phone", PrizeKind::Physical, 1, 10), thanks(0)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;

    // Act: 200 players at once, half through each replica.
    let mut set = JoinSet::new();
    for p in 0..200 {
        let (app, id) = (app.clone(), id.clone());
        let ch = if p % 2 == 0 {
            app.channel.clone()
        } else {
            replica.channel.clone()
        };
        set.spawn(async move {
            let req = engine_proto::campaign::v1::DrawRequest {
                idempotency_key: key(),
                campaign_id: id,
                channel: String::new(),
                store_id: String::new(),
            };
            let token = app.token(&format!("replica-racer-{p}"));
            loop {
                match engine_proto::campaign::v1::player_service_client::PlayerServiceClient::new(
                    ch.clone(),
                )
                .draw(with(&token, req.clone()))
                .await
                {
                    // A deadlock victim or a lost race may be told to retry.
                    Err(s)
                        if matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Aborted) =>
                    {
                        continue;
                    }
                    other => return other.map(|r| r.into_inner()),
                }
            }
        });
    }
    let mut winners = 0;
    while let Some(r) = set.join_next().await {
        let d = r.expect("task").expect("every draw is answered");
        if d.kind == PrizeKind::Physical as i32 {
            winners += 1;
        } else {
            assert_eq!(d.fallback_reason, FallbackReason::OutOfStock as i32);
        }
    }

    // Assert: ten winners, the books balance, one gap-free ledger.
    assert_eq!(winners, 10);
    app.db.assert_stock_balances(&id).await;
    assert_eq!(
        app.db
            .int_rows(
                "SELECT COUNT(*), COUNT(DISTINCT ledger_seq), MIN(ledger_seq), MAX(ledger_seq) \
                 FROM draw WHERE campaign_id = $1",
                &id
            )
            .await,
        vec![vec![200, 200, 1, 200]]
    );
    replica.stop().await;
}

both_backends!(
    two_hundred_draws_race_for_the_last_unit,
    per_user_cap_and_stock_hold_when_the_lock_is_taken_last,
    daily_and_per_user_caps_hold_under_concurrency,
    a_refused_guard_does_not_count_against_the_player,
    a_crowd_of_mixed_draws_gets_exact_answers,
    two_replicas_race_for_the_last_units
);
