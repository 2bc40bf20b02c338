//! Exactly once: retries return the same answer with no second effect; a
//! reused key with other parameters is refused and changes nothing; copies
//! racing at once give one effect.

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use prost::Message;
use tokio::task::JoinSet;
use tonic::Code;

use crate::helpers::*;

/// One piece: the idempotency cases one after another on the same app,
/// wheel and players (later cases reuse the keys of earlier ones), with the
/// stock checked at the end.
async fn retries_replay_and_conflicting_reuse_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(10, 10),
            vec![slot("Cup", PrizeKind::Physical, 1, 100), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    let token = app.token("gina");
    let req = pb::DrawRequest {
        idempotency_key: "draw-1".into(),
        campaign_id: id.clone(),
        channel: "poster".into(),
        store_id: String::new(),
    };

    // Same key, same request: the same answer, byte for byte, one draw.
    let first = app
        .player()
        .draw(with(&token, req.clone()))
        .await
        .expect("draw")
        .into_inner();
    let again = app
        .player()
        .draw(with(&token, req.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first.encode_to_vec(), again.encode_to_vec());
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        1
    );
    // A won draw's answer is stored without the award's copies of the
    // draw's fields; its replay has them back, byte for byte. (A wheel of
    // its own, 1000:1 for the prize: one of a few draws wins.)
    let wins = app
        .wheel(
            rules(40, 40),
            vec![slot("Cup", PrizeKind::Physical, 1000, 100), thanks(1)],
            1,
            true,
        )
        .await;
    let hana = app.token("hana");
    let mut won = None;
    for i in 0..40 {
        let r = pb::DrawRequest {
            idempotency_key: format!("win-{i}"),
            campaign_id: wins.campaign_id.clone(),
            channel: String::new(),
            store_id: String::new(),
        };
        let got = app
            .player()
            .draw(with(&hana, r.clone()))
            .await
            .expect("draw")
            .into_inner();
        if got.award.is_some() {
            won = Some((r, got));
            break;
        }
    }
    let (r, got) = won.expect("a win in 40 draws");
    let award = got.award.clone().expect("award");
    assert_eq!(
        (
            award.draw_id.as_str(),
            award.campaign_id.as_str(),
            award.prize_name.as_str()
        ),
        (got.draw_id.as_str(), wins.campaign_id.as_str(), "Cup")
    );
    let replayed = app
        .player()
        .draw(with(&hana, r))
        .await
        .expect("retry of the win")
        .into_inner();
    assert_eq!(replayed.encode_to_vec(), got.encode_to_vec());

    // Same key, other parameters: FAILED_PRECONDITION, nothing changes.
    let before = state_digest(&app.db).await;
    let other = pb::DrawRequest {
        channel: "qr".into(),
        ..req.clone()
    };
    assert_code(
        app.player().draw(with(&token, other)).await,
        Code::FailedPrecondition,
        None,
    );
    assert_eq!(state_digest(&app.db).await, before);

    // The key is scoped to the caller: another player's "draw-1" is his own.
    let hers = app
        .player()
        .draw(with(&app.token("hank"), req.clone()))
        .await
        .expect("hank")
        .into_inner();
    assert_ne!(hers.draw_id, first.draw_id);

    // An admin retry of CreateWheel makes one campaign.
    let r = rules(1, 1);
    let a1 = app
        .admin()
        .create_wheel(with(&app.admin_key, r.clone()))
        .await
        .expect("create")
        .into_inner();
    let a2 = app
        .admin()
        .create_wheel(with(&app.admin_key, r.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(a1, a2);
    let changed = pb::CreateWheelRequest {
        name: "Other".into(),
        ..r
    };
    assert_code(
        app.admin()
            .create_wheel(with(&app.admin_key, changed))
            .await,
        Code::FailedPrecondition,
        None,
    );

    // A retried CreateApiKey returns the same key (not a second one), and
    // its secret is stored nowhere: the replay leaves it out.
    let kreq = pb::CreateApiKeyRequest {
        idempotency_key: key(),
        role: pb::Role::Auditor as i32,
        store_id: String::new(),
        label: "x".into(),
    };
    let k1 = app
        .admin()
        .create_api_key(with(&app.admin_key, kreq.clone()))
        .await
        .expect("key")
        .into_inner();
    let k2 = app
        .admin()
        .create_api_key(with(&app.admin_key, kreq))
        .await
        .expect("key")
        .into_inner();
    assert_eq!(k1.key, k2.key);
    assert!(k1.api_key.starts_with("cek_"));
    assert!(k2.api_key.is_empty());
    let secret = api_key_secret(&k1.api_key);
    assert_eq!(
        app.db.stored_answers_containing(secret.as_bytes()).await,
        0,
        "the API key secret is stored in an idempotency answer"
    );

    // A refused request stores nothing under its key: after a rejection the
    // same key can succeed once the cause is gone.
    let t = app.token("ivy");
    let paused = pb::CampaignTransitionRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
    };
    app.admin()
        .pause_campaign(with(&app.admin_key, paused))
        .await
        .expect("pause");
    let dreq = pb::DrawRequest {
        idempotency_key: "ivy-1".into(),
        campaign_id: id.clone(),
        channel: String::new(),
        store_id: String::new(),
    };
    assert_code(
        app.player().draw(with(&t, dreq.clone())).await,
        Code::FailedPrecondition,
        None,
    );
    let resume = pb::CampaignTransitionRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
    };
    app.admin()
        .resume_campaign(with(&app.admin_key, resume))
        .await
        .expect("resume");
    app.player()
        .draw(with(&t, dreq))
        .await
        .expect("draw after resume");
    app.db.assert_stock_balances(&id).await;
    app.stop().await;
}

async fn racing_copies_of_one_request_apply_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(50, 50),
            vec![slot("Cup", PrizeKind::Physical, 1, 1000), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    let token = app.token("jack");
    let req = pb::DrawRequest {
        idempotency_key: "same-key".into(),
        campaign_id: id.clone(),
        channel: String::new(),
        store_id: String::new(),
    };
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let (mut p, r) = (app.player(), with(&token, req.clone()));
        set.spawn(async move { p.draw(r).await.map(|r| r.into_inner().encode_to_vec()) });
    }
    let mut answers = Vec::new();
    while let Some(r) = set.join_next().await {
        answers.push(r.expect("task").expect("every copy gets the answer"));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "copies got different answers"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        1
    );
    assert_eq!(
        app.db
            .scalar("SELECT draws FROM player_draws WHERE campaign_id = $1", &id)
            .await,
        1
    );
    app.db.assert_stock_balances(&id).await;
    app.stop().await;
}

/// Copies of a player's last draw: those that wait for the first copy find
/// the player's chances spent. They must still get the first copy's answer,
/// not "no chances left" for a draw that did happen.
async fn racing_copies_of_a_last_draw_all_get_its_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("Cup", PrizeKind::Physical, 1, 1000), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    for round in 0..3 {
        let token = app.token(&format!("kate-{round}"));
        let req = pb::DrawRequest {
            idempotency_key: format!("last-{round}"),
            campaign_id: id.clone(),
            channel: String::new(),
            store_id: String::new(),
        };
        let mut set = JoinSet::new();
        for _ in 0..20 {
            let (mut p, r) = (app.player(), with(&token, req.clone()));
            set.spawn(async move {
                p.draw(r)
                    .await
                    .map(|r| r.into_inner().encode_to_vec())
                    .map_err(|s| (s.code(), s.message().to_owned()))
            });
        }
        let mut answers = Vec::new();
        while let Some(r) = set.join_next().await {
            answers.push(r.expect("task").expect("every copy gets the answer"));
        }
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "round {round}: copies got different answers"
        );
    }
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
            .await,
        3
    );
    app.db.assert_stock_balances(&id).await;
    app.stop().await;
}

both_backends!(
    retries_replay_and_conflicting_reuse_is_refused,
    racing_copies_of_one_request_apply_once,
    racing_copies_of_a_last_draw_all_get_its_answer,
    stored_answers_are_kept_for_the_window_then_forgotten,
);

/// Issue 22: stored answers do not pile up for ever. Within the retention
/// window a retry replays; after it the key is forgotten (the sweep runs
/// every minute; here it is run directly) and the same request acts anew.
async fn stored_answers_are_kept_for_the_window_then_forgotten(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(5, 10), vec![thanks(1)], 0, true).await;
    let req = pb::DrawRequest {
        idempotency_key: "old-spin".into(),
        campaign_id: c.campaign_id.clone(),
        channel: String::new(),
        store_id: String::new(),
    };
    let spin = |r: pb::DrawRequest| {
        let mut p = app.player();
        let t = app.token("fan");
        async move { p.draw(with(&t, r)).await.expect("draw").into_inner() }
    };
    let first = spin(req.clone()).await;
    app.clock.advance(6 * DAY);
    let recent = spin(pb::DrawRequest {
        idempotency_key: "recent-spin".into(),
        ..req.clone()
    })
    .await;
    app.clock.advance(2 * DAY);
    let rows = "SELECT COUNT(*) FROM idempotency WHERE idem_key = $1";
    assert_eq!(app.db.scalar(rows, "old-spin").await, 1);
    // Eight days after the first draw, seven-day retention: only it goes.
    let purged = purge(&app.db, app.clock_now() - 7 * DAY).await;
    assert!(purged >= 1, "{purged}");
    assert_eq!(app.db.scalar(rows, "old-spin").await, 0);
    assert_eq!(app.db.scalar(rows, "recent-spin").await, 1);
    // The recent key still replays; the forgotten one acts again.
    let again = spin(pb::DrawRequest {
        idempotency_key: "recent-spin".into(),
        ..req.clone()
    })
    .await;
    assert_eq!(again.draw_id, recent.draw_id);
    let anew = spin(req).await;
    assert_ne!(
        anew.draw_id, first.draw_id,
        "a forgotten key is a new request"
    );
    app.db.assert_stock_balances(&c.campaign_id).await;
}

async fn purge(db: &TestDb, before: i64) -> u64 {
    on_store!(db, |store| store.purge_idempotency(before).await).expect("purge")
}
