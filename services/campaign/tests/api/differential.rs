//! The grouped draw path and the single one agree (issue 23). The same
//! players make the same number of draws on two wheels: on one, one call
//! at a time (the single path); on the other, all at once (PostgreSQL
//! batches them, `store/wheel/draw_batch_postgres.rs`; SQLite's writer commits them
//! together). On both, every row, answer and counter must be what the
//! reference roll (`domain::wheel::draw_roll`, recomputed here from the
//! stored secret) says: the roll, the slot it lands on, the slot given,
//! the award, the player's counters and the stock. No prize can run out
//! and no cap applies, so each outcome depends on the roll alone, and any
//! difference between the paths shows as a difference from the reference.

use std::collections::HashMap;

use campaign::domain::{
    fairness::player_pseudonym,
    wheel::{RollInput, draw_roll, slot_for_roll, total_weight},
};
use engine_proto::campaign::v1::{self as pb, PrizeKind};
use sqlx::{Connection, Row};
use tokio::task::JoinSet;

use crate::helpers::*;

both_backends!(grouped_and_single_draws_agree_with_the_reference_roll);

const PLAYERS: usize = 24;
const DRAWS_EACH: i64 = 5;
const WEIGHTS: [i64; 3] = [3, 5, 2];

/// Every draw of `campaign` as stored: (player, draw_seq) -> (pseudonym,
/// roll, rolled, awarded, fallback, award slot if any).
type Rows = HashMap<(String, i64), (String, i64, i64, i64, String, Option<i64>)>;

async fn stored(db: &TestDb, campaign: &str) -> (Vec<u8>, Rows) {
    let sql = "SELECT d.player_id, d.draw_seq, d.player_pseudonym, d.roll, d.rolled_slot, \
               d.awarded_slot, d.fallback_reason, a.slot_index \
               FROM draw d LEFT JOIN prize_award a ON a.draw_id = d.draw_id \
               WHERE d.campaign_id = $1";
    let secret_sql = "SELECT roll_secret FROM campaign WHERE campaign_id = $1";
    macro_rules! read {
        ($c:expr) => {{
            let mut c = $c;
            let secret: Vec<u8> = sqlx::query(secret_sql)
                .bind(campaign)
                .fetch_one(&mut c)
                .await
                .expect("secret")
                .get(0);
            let rows = sqlx::query(sql)
                .bind(campaign)
                .fetch_all(&mut c)
                .await
                .expect("draws");
            let rows: Rows = rows
                .iter()
                .map(|r| {
                    (
                        (r.get::<String, _>(0), r.get::<i64, _>(1)),
                        (
                            r.get(2),
                            r.get(3),
                            r.get(4),
                            r.get(5),
                            r.get(6),
                            r.get::<Option<i64>, _>(7),
                        ),
                    )
                })
                .collect();
            (secret, rows)
        }};
    }
    match db.backend {
        Backend::Sqlite => read!(
            sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open")
        ),
        Backend::Postgres => read!(sqlx::PgConnection::connect(&db.url).await.expect("open")),
    }
}

/// Checks every stored draw and answer of `campaign` against the
/// reference roll.
async fn assert_reference(
    app: &TestApp,
    campaign: &str,
    answers: &HashMap<(String, i64), pb::DrawResponse>,
) {
    let (secret, rows) = stored(&app.db, campaign).await;
    assert_eq!(
        rows.len(),
        PLAYERS * DRAWS_EACH as usize,
        "every draw stored"
    );
    let id = uuid::Uuid::parse_str(campaign).expect("uuid");
    let total = total_weight(&WEIGHTS);
    for ((player, seq), (pseudonym, roll, rolled, awarded, fallback, award)) in &rows {
        assert_eq!(pseudonym, &player_pseudonym(id, player));
        let want = draw_roll(
            &secret,
            &RollInput {
                campaign_id: id,
                player_id: pseudonym,
                draw_sequence: *seq,
            },
            total,
        );
        let slot = slot_for_roll(&WEIGHTS, want).expect("a slot") as i64;
        assert_eq!((*roll as u64, *rolled), (want, slot), "{player} #{seq}");
        assert_eq!(
            (*awarded, fallback.as_str()),
            (slot, "none"),
            "{player} #{seq}"
        );
        assert_eq!(
            *award,
            (slot != 2).then_some(slot),
            "the award of {player} #{seq}"
        );
        let answer = &answers[&(player.clone(), *seq)];
        assert_eq!(
            (
                answer.slot_index as i64,
                answer.rolled_slot_index as i64,
                answer.draw_sequence
            ),
            (slot, slot, *seq),
            "the answer of {player} #{seq}"
        );
    }
    // Counters and stock follow the rows.
    let players = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM player_draws WHERE campaign_id = $1 AND draws = 5",
            campaign,
        )
        .await;
    assert_eq!(players, PLAYERS as i64);
    for (index, initial) in [(0i64, 1_000_000i64), (1, 1_000_000)] {
        let won = rows.values().filter(|r| r.3 == index).count() as i64;
        let remaining = app
            .db
            .int_rows(
                Box::leak(
                    format!(
                        "SELECT remaining FROM prize_slot WHERE campaign_id = $1 \
                         AND slot_index = {index}"
                    )
                    .into_boxed_str(),
                ),
                campaign,
            )
            .await;
        assert_eq!(remaining, vec![vec![initial - won]], "slot {index}");
    }
}

fn request(campaign: &str) -> pb::DrawRequest {
    pb::DrawRequest {
        idempotency_key: key(),
        campaign_id: campaign.into(),
        channel: String::new(),
        store_id: String::new(),
    }
}

async fn grouped_and_single_draws_agree_with_the_reference_roll(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.player_rate_per_sec = 0;
        s.metrics_listen = format!("127.0.0.1:{port}");
    })
    .await;
    let slots = || {
        vec![
            slot("电影票", PrizeKind::Physical, WEIGHTS[0], 1_000_000),
            slot("积分", PrizeKind::Points, WEIGHTS[1], 1_000_000),
            thanks(WEIGHTS[2]),
        ]
    };
    let single = app.wheel(rules(10, 10), slots(), 2, true).await;
    let grouped = app.wheel(rules(10, 10), slots(), 2, true).await;
    let players: Vec<String> = (0..PLAYERS).map(|p| format!("fan-{p}")).collect();

    // One call at a time.
    let mut single_answers = HashMap::new();
    for p in &players {
        let t = app.token(p);
        for _ in 0..DRAWS_EACH {
            let a = app
                .player()
                .draw(with(&t, request(&single.campaign_id)))
                .await
                .expect("draw")
                .into_inner();
            single_answers.insert((p.clone(), a.draw_sequence), a);
        }
    }
    // All at once: every player's draws in flight together.
    let mut crowd = JoinSet::new();
    for p in &players {
        for _ in 0..DRAWS_EACH {
            let (mut player, t, c, p) = (
                app.player(),
                app.token(p),
                grouped.campaign_id.clone(),
                p.clone(),
            );
            crowd.spawn(async move {
                let a = player
                    .draw(with(&t, request(&c)))
                    .await
                    .expect("draw")
                    .into_inner();
                ((p, a.draw_sequence), a)
            });
        }
    }
    let grouped_answers: HashMap<_, _> = crowd.join_all().await.into_iter().collect();

    assert_reference(&app, &single.campaign_id, &single_answers).await;
    assert_reference(&app, &grouped.campaign_id, &grouped_answers).await;
    // The crowd went through the grouped path.
    let page = http_get(port, "/metrics").await;
    match backend {
        Backend::Sqlite => assert!(
            metric(&page, "campaign_db_group_committed_transactions_total")
                > metric(&page, "campaign_db_group_commits_total"),
            "no commit carried several draws"
        ),
        Backend::Postgres => assert!(
            metric(&page, "campaign_draw_batched_draws_total") >= 2,
            "no draw batch"
        ),
    }
    app.stop().await;
}
