//! Issue 22: health tells the truth about the database. While the database
//! cannot be used (SQLite: another process holds its write lock;
//! PostgreSQL: the database refuses connections and its sessions are
//! ended) every service is NOT_SERVING on a new connection; once it can,
//! SERVING again and draws work.

use std::time::{Duration, Instant};

use engine_proto::campaign::v1 as pb;
use sqlx::Connection;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use tonic::transport::Channel;

use crate::helpers::{Backend, TestApp, rules, slot, spawn_app, thanks};

/// A new connection (not the app's shared channel), within 3 s.
async fn connect_fresh(addr: std::net::SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// Waits up to 15 s for `service` to report `status` (1 SERVING, 2
/// NOT_SERVING) on a new connection each time.
async fn wait_status(app: &TestApp, service: &str, status: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = None;
    while Instant::now() < deadline {
        let answer = tokio::time::timeout(Duration::from_secs(3), async {
            HealthClient::new(connect_fresh(app.addr).await)
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
        })
        .await;
        if let Ok(Ok(a)) = &answer {
            if a.get_ref().status == status {
                return;
            }
            last = Some(a.get_ref().status);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{service:?} did not report {status} within 15 s (last: {last:?})");
}

/// What makes the database unusable, undone by `restore`.
enum Outage {
    Sqlite(sqlx::SqliteConnection),
    Postgres { base: String, name: String },
}

async fn cut(app: &TestApp) -> Outage {
    match app.db.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.db.url)
                .await
                .expect("second connection");
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut conn)
                .await
                .expect("write lock");
            Outage::Sqlite(conn)
        }
        Backend::Postgres => {
            let cut = app.db.url.rfind('/').expect("path");
            let name = app.db.url[cut + 1..].to_owned();
            let base = std::env::var("CAMPAIGN_TEST_PG_URL").expect("pg url");
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect");
            for sql in [
                format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ),
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("cut the database off");
            }
            Outage::Postgres { base, name }
        }
    }
}

async fn restore(outage: Outage) {
    match outage {
        Outage::Sqlite(mut conn) => {
            sqlx::raw_sql("ROLLBACK")
                .execute(&mut conn)
                .await
                .expect("release");
        }
        Outage::Postgres { base, name } => {
            let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
            )))
            .execute(&mut conn)
            .await
            .expect("let connections in");
        }
    }
}

async fn health_follows_the_database(backend: Backend) {
    // Arrange: a running engine, SERVING.
    let app = spawn_app(backend).await;
    wait_status(&app, "campaign.v1.PlayerService", 1).await;
    wait_status(&app, "", 1).await;

    // Act: the database becomes unusable.
    let outage = cut(&app).await;

    // Assert: NOT_SERVING, for each service and the server.
    wait_status(&app, "campaign.v1.PlayerService", 2).await;
    wait_status(&app, "campaign.v1.AdminService", 2).await;
    wait_status(&app, "", 2).await;

    // Act: the database is back.
    restore(outage).await;

    // Assert: SERVING again, and the engine works.
    wait_status(&app, "campaign.v1.PlayerService", 1).await;
    wait_status(&app, "", 1).await;
    let wheel = app
        .wheel(
            rules(5, 5),
            vec![slot("cup", pb::PrizeKind::Physical, 1, 3), thanks(1)],
            1,
            true,
        )
        .await;
    app.draw("fan", &wheel.campaign_id)
        .await
        .expect("a draw after the outage");
    app.stop().await;
}

both_backends!(health_follows_the_database);
