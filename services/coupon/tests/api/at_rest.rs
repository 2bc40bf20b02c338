//! Codes at rest (issue 22): no coupon code and no supplier code is stored
//! in the clear: not in its table, not in a stored idempotent answer, not
//! anywhere in the database's files. Each is kept as a keyed digest (a
//! till finds it by that) and a sealed copy (its owner sees it in full,
//! also on a replayed claim). A database from before sealing has its codes
//! sealed at the next start, and they keep working.

use engine_proto::coupon::v1 as pb;
use sqlx::Connection;

use crate::{
    helpers::{Backend, TestApp, TestDb, key, with},
    kit::{
        admin, amount_off, claim, create_template, player, pos, pos_key, redeem_req, spawn_engine,
        validate,
    },
    outbox::{deliver, delivery},
};

both_backends!(
    codes_are_never_stored_in_the_clear,
    codes_kept_in_the_clear_are_sealed_at_the_next_start,
);

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every byte the database holds where a secret could hide: on SQLite its
/// files (main, WAL); on PostgreSQL every row of every table as text (a
/// `bytea` shows as hex, so the hex form of each secret is searched too).
async fn everything_stored(app: &TestApp) -> Vec<u8> {
    match app.db.backend {
        Backend::Sqlite => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(&app.db.dir).expect("dir") {
                let path = entry.expect("entry").path();
                let name = path.to_string_lossy().to_string();
                if name.ends_with(".db") || name.ends_with("-wal") {
                    all.extend(std::fs::read(&path).expect("read"));
                }
            }
            assert!(!all.is_empty(), "no database file found");
            all
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.db.url)
                .await
                .expect("open");
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(&mut c)
            .await
            .expect("tables");
            assert!(tables.len() > 10, "{tables:?}");
            let mut all = String::new();
            for (t,) in tables {
                let sql =
                    format!("SELECT COALESCE(string_agg(x::text, E'\\n'), '') FROM \"{t}\" x");
                let (text,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_one(&mut c)
                    .await
                    .expect("dump");
                all.push_str(&text);
            }
            all.into_bytes()
        }
    }
}

/// Fails if any of `secrets` (or, on PostgreSQL, its hex form) is stored.
async fn assert_not_stored(app: &TestApp, secrets: &[String]) {
    let stored = everything_stored(app).await;
    for s in secrets {
        assert!(
            !contains(&stored, s.as_bytes()),
            "{s} is stored in the clear"
        );
        let hex = hex::encode(s.as_bytes());
        assert!(!contains(&stored, hex.as_bytes()), "{s} is stored (as hex)");
    }
}

fn normalised(display: &str) -> String {
    display.replace('-', "")
}

/// The codes of a finished bulk issue job of `count` coupons, from its CSV.
async fn bulk_codes(app: &TestApp, template_id: &str, count: i64) -> Vec<String> {
    let job = crate::kit::bulk_issue(app, template_id, count).await;
    let csv = crate::kit::export_csv(app, &job.job_id).await;
    let codes: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().expect("code").to_owned())
        .collect();
    assert_eq!(codes.len(), count as usize, "{csv}");
    codes
}

async fn import_pool(app: &TestApp, codes: &[String]) -> String {
    admin(&app.channel)
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: String::new(),
                name: "话费充值 10 元".into(),
                codes: codes.to_vec(),
            },
        ))
        .await
        .expect("import")
        .into_inner()
        .pool_id
}

/// Imports `codes` again into `pool_id`: (total, duplicates) after.
async fn reimport(app: &TestApp, pool_id: &str, codes: &[String]) -> (i64, i64) {
    let pool = admin(&app.channel)
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: pool_id.into(),
                name: String::new(),
                codes: codes.to_vec(),
            },
        ))
        .await
        .expect("re-import")
        .into_inner();
    (pool.total, pool.duplicates)
}

/// The supplier code of `pool_id` delivered as the prize of `draw`.
async fn deliver_topup(app: &TestApp, draw: &str, pool_id: &str) -> String {
    delivery(&app.channel)
        .deliver_prize(with(
            crate::kit::SECRET,
            deliver(draw, "winner", "TOPUP_CODE", pool_id),
        ))
        .await
        .expect("deliver")
        .into_inner()
        .coupon
        .expect("coupon")
        .pool_code
}

async fn codes_are_never_stored_in_the_clear(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(500)).await;
    let fan = app.token("fan");
    let mut fans = player(&app.channel);

    // A claim shows the owner the full code, also when it is replayed.
    let req = pb::ClaimCouponRequest {
        idempotency_key: key(),
        template_id: t.template_id.clone(),
    };
    let first = fans
        .claim_coupon(with(&fan, req.clone()))
        .await
        .expect("claim")
        .into_inner();
    assert_eq!(first.code.len(), 16, "XXXX-XXXX-XXXX-C: {first:?}");
    let again = fans
        .claim_coupon(with(&fan, req))
        .await
        .expect("replayed claim")
        .into_inner();
    assert_eq!(again, first, "a replay answers as the first call did");
    let mine = fans
        .get_my_coupon(with(
            &fan,
            pb::GetMyCouponRequest {
                coupon_id: first.coupon_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(mine.code, first.code);

    // A till finds it (typed any way), redeems it and reverses it; the
    // redemption shows only the code's tail.
    let till = pos_key(&app, "S1").await;
    let typed = first.code.to_lowercase().replace('-', " ");
    assert!(validate(&app, &till, &typed, (5000, vec![])).await.valid);
    let mut tills = pos(&app.channel);
    let r = tills
        .redeem_coupon(with(&till, redeem_req(&first.code, 5000)))
        .await
        .expect("redeem")
        .into_inner();
    assert_eq!(r.code_tail, &normalised(&first.code)[9..]);
    tills
        .reverse_redemption(with(
            &till,
            pb::ReverseRedemptionRequest {
                idempotency_key: key(),
                redemption_id: r.redemption_id.clone(),
                reason: "退货".into(),
            },
        ))
        .await
        .expect("reverse");
    let other = claim(&app, "fan2", &t.template_id).await;

    // Bulk-issued codes print in full and work at a till.
    let printed = bulk_codes(&app, &t.template_id, 5).await;
    assert!(
        validate(&app, &till, &printed[0], (5000, vec![]))
            .await
            .valid
    );

    // Supplier codes: imported (a repeat is still found a duplicate), then
    // handed out in full to a winner.
    let supplier: Vec<String> = (1..=3).map(|i| format!("SUPPLIER-7731-{i:04}")).collect();
    let pool_id = import_pool(&app, &supplier).await;
    assert_eq!(
        reimport(&app, &pool_id, &[supplier[0].clone()]).await,
        (3, 1)
    );
    let draw = uuid::Uuid::now_v7().to_string();
    let won = deliver_topup(&app, &draw, &pool_id).await;
    assert_eq!(won, supplier[0], "handed out in order, in full");
    let repeat = deliver_topup(&app, &draw, &pool_id).await;
    assert_eq!(repeat, won);

    // None of them anywhere in the database, in either form.
    let mut secrets = Vec::new();
    for c in [&first.code, &other.code].into_iter().chain(&printed) {
        secrets.push(c.clone());
        secrets.push(normalised(c));
    }
    secrets.extend(supplier);
    assert_not_stored(&app, &secrets).await;
    app.stop().await;
}

/// A connection of the test's own, to write what an old engine wrote.
async fn sql(db: &TestDb, statements: &[String]) {
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open");
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                    .execute(&mut c)
                    .await
                    .expect("statement");
            }
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("open");
            for s in statements {
                sqlx::raw_sql(sqlx::AssertSqlSafe(s.clone()))
                    .execute(&mut c)
                    .await
                    .expect("statement");
            }
        }
    }
}

async fn codes_kept_in_the_clear_are_sealed_at_the_next_start(backend: Backend) {
    let mut app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(500)).await;
    let c = claim(&app, "fan", &t.template_id).await;
    let supplier = vec![
        "OLD-SUPPLIER-0001".to_owned(),
        "OLD-SUPPLIER-0002".to_owned(),
    ];
    let pool_id = import_pool(&app, &supplier).await;

    // As a database from before sealing holds them: the code itself in the
    // (then `code`) column, no sealed copy.
    sql(
        &app.db,
        &[
            format!(
                "UPDATE coupon SET code_digest = '{}', code_sealed = NULL WHERE coupon_id = '{}'",
                normalised(&c.code),
                c.coupon_id
            ),
            format!(
                "UPDATE pool_code SET code_digest = 'OLD-SUPPLIER-000' || CAST(seq AS TEXT), \
                 code_sealed = NULL WHERE pool_id = '{pool_id}'"
            ),
        ],
    )
    .await;
    let clear = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM coupon WHERE code_sealed IS NULL AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(clear, 1, "the old form is in place");

    app.crash_and_restart().await;
    for table in [
        "SELECT COUNT(*) FROM coupon WHERE code_sealed IS NULL AND $1 = $1",
        "SELECT COUNT(*) FROM pool_code WHERE code_sealed IS NULL AND $1 = $1",
    ] {
        assert_eq!(app.db.scalar(table, "").await, 0, "{table}");
    }
    let in_clear = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM coupon WHERE code_digest = $1",
            &normalised(&c.code),
        )
        .await;
    assert_eq!(in_clear, 0, "the code is no longer in its row");

    // The code still works at a till and shows in full to its owner; the
    // supplier codes still go out in full.
    let till = pos_key(&app, "S1").await;
    assert!(validate(&app, &till, &c.code, (5000, vec![])).await.valid);
    let mine = player(&app.channel)
        .get_my_coupon(with(
            &app.token("fan"),
            pb::GetMyCouponRequest {
                coupon_id: c.coupon_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(mine.code, c.code);
    let won = deliver_topup(&app, &uuid::Uuid::now_v7().to_string(), &pool_id).await;
    assert_eq!(won, supplier[0]);
    // A later import of an old code is still found a duplicate.
    assert_eq!(
        reimport(&app, &pool_id, &[supplier[1].clone()]).await,
        (2, 1)
    );
    app.stop().await;
}
