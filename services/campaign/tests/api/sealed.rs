//! Secrets at rest (issue 22): a gateway's HS256 secret is stored sealed
//! with a key kept outside the database (`seal_key_file`), never in the
//! clear; tokens signed with it still verify, also after a restart; a
//! secret stored in the clear before sealing existed is sealed at the next
//! start; and a start with another key (or with the key file lost) is
//! refused instead of sealing with two keys.

use std::{sync::Arc, time::Duration};

use campaign::{clock::Clock, config::Settings};
use sqlx::Connection;

use crate::helpers::*;

/// Every (secret, sealed) of `player_token_key`, read around the engine.
async fn stored_keys(db: &TestDb) -> Vec<(Vec<u8>, i64)> {
    let sql = "SELECT secret, sealed FROM player_token_key ORDER BY merchant_id, key_id";
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open");
            sqlx::query_as(sql).fetch_all(&mut c).await.expect("keys")
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("open");
            sqlx::query_as(sql).fetch_all(&mut c).await.expect("keys")
        }
    }
}

/// Puts `secret` back in the clear (`sealed = 0`), as a database from
/// before sealing holds it.
async fn unseal_by_hand(db: &TestDb, secret: &[u8]) {
    let sql = "UPDATE player_token_key SET secret = $1, sealed = 0";
    match db.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open");
            sqlx::query(sql)
                .bind(secret)
                .execute(&mut c)
                .await
                .expect("update");
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("open");
            sqlx::query(sql)
                .bind(secret)
                .execute(&mut c)
                .await
                .expect("update");
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What a start with `settings` answers within 20 s: the server's error,
/// or `None` if it started serving.
async fn start_error(settings: Settings, clock: Arc<dyn Clock>) -> Option<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let run = campaign::run(settings, listener, std::future::pending(), clock);
    match tokio::time::timeout(Duration::from_secs(20), run).await {
        Ok(Err(e)) => Some(e.to_string()),
        Ok(Ok(())) | Err(_) => None,
    }
}

async fn gateway_secrets_are_sealed_at_rest(backend: Backend) {
    // Arrange: the test app registered its gateway's secret at start.
    let mut app = spawn_app(backend).await;
    let secret = app.token_secret.clone();
    let key_file = app.db.dir.join("seal.key");

    // Assert: stored sealed, the secret nowhere in the rows; the key file
    // beside the bootstrap key, the owner's alone.
    let keys = stored_keys(&app.db).await;
    assert_eq!(keys.len(), 1);
    assert!(
        keys.iter()
            .all(|(bytes, sealed)| *sealed == 1 && !contains(bytes, &secret))
    );
    let meta = std::fs::metadata(&key_file).expect("seal key file");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    if backend == Backend::Sqlite {
        // Nor anywhere in the database's files.
        for entry in std::fs::read_dir(&app.db.dir).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.to_string_lossy().to_string();
            if name.ends_with(".db") || name.ends_with("-wal") {
                let bytes = std::fs::read(&path).expect("read");
                assert!(!contains(&bytes, &secret), "the secret is in {name}");
            }
        }
    }
    // Tokens signed with it verify, before and after a restart.
    let c = app.wheel(rules(5, 5), vec![thanks(1)], 0, true).await;
    app.draw("fan", &c.campaign_id).await.expect("draw");
    app.crash_and_restart().await;
    app.draw("fan", &c.campaign_id)
        .await
        .expect("draw after restart");

    // A secret in the clear (a database from before sealing) is sealed at
    // the next start and still verifies.
    unseal_by_hand(&app.db, &secret).await;
    app.crash_and_restart().await;
    let keys = stored_keys(&app.db).await;
    assert!(
        keys.iter()
            .all(|(bytes, sealed)| *sealed == 1 && !contains(bytes, &secret))
    );
    app.draw("fan", &c.campaign_id)
        .await
        .expect("draw after sealing");

    // Another key, or the key file lost (a new key would be made), is
    // refused at start: nothing would open the sealed secrets.
    let other = app.db.dir.join("other.key");
    let mut s = app.settings.clone();
    s.seal_key_file = other;
    let refused = start_error(s, Arc::new(app.clock.clone())).await;
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("seal key")),
        "{refused:?}"
    );
    std::fs::rename(&key_file, app.db.dir.join("seal.key.moved")).expect("move the key");
    let refused = start_error(app.settings.clone(), Arc::new(app.clock.clone())).await;
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("seal key")),
        "{refused:?}"
    );
    // With the right key back, it starts and serves.
    std::fs::rename(app.db.dir.join("seal.key.moved"), &key_file).expect("restore the key");
    app.crash_and_restart().await;
    app.draw("fan", &c.campaign_id)
        .await
        .expect("draw with the key back");
    app.stop().await;
}

both_backends!(gateway_secrets_are_sealed_at_rest);
