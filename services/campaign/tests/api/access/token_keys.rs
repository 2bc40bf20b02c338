//! Player-token keys: a gateway rotates its HS256 secret with two keys
//! active (SetPlayerTokenKey with a `key_id`, RetirePlayerTokenKey), and the
//! key registered before key ids existed lives on as kid "".

use engine_proto::campaign::v1 as pb;
use sqlx::Connection;
use tonic::Code;

use crate::helpers::*;

/// A gateway rotates its signing key: registering a new `kid` keeps the
/// previous key, a third retires the oldest, and a key can be retired early.
async fn gateway_keys_rotate_with_two_active(backend: Backend) {
    // Arrange: the merchant's gateway has its legacy key (kid "") from
    // spawn_app; `token(kid, secret)` signs for alice as that gateway would.
    let owned = spawn_app(backend).await;
    let app = &owned;
    let now = app.clock_now() / 1000;
    let token = |kid: Option<&str>, secret: &[u8]| {
        let claims = campaign::domain::credential::PlayerClaims {
            iss: app.issuer.clone(),
            aud: "campaign-engine".into(),
            sub: "alice".into(),
            iat: now,
            exp: now + 600,
        };
        campaign::domain::credential::sign_gateway_token(secret, kid, &claims)
    };
    let works = |t: String| async move {
        app.player()
            .list_my_prizes(with(&t, pb::ListMyPrizesRequest::default()))
            .await
            .map(drop)
            .map_err(|s| s.code())
    };
    let set = |kid: &'static str, secret: [u8; 32]| async move {
        let req = pb::SetPlayerTokenKeyRequest {
            idempotency_key: key(),
            issuer: app.issuer.clone(),
            secret: secret.to_vec(),
            key_id: kid.into(),
        };
        let mut admin = app.admin();
        let r = admin.set_player_token_key(with(&app.admin_key, req)).await;
        let r = r.expect("set key").into_inner();
        (r.active_key_ids, r.retired_key_ids)
    };
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (k1, k2, k3) = ([1u8; 32], [2u8; 32], [3u8; 32]);
    let legacy = app.token_secret.clone();

    // Act + Assert: k1 joins the legacy key; both verify.
    assert_eq!(set("k1", k1).await, (ids(&["k1", ""]), ids(&[])));
    assert_eq!(works(token(Some("k1"), &k1)).await, Ok(()));
    assert_eq!(works(token(None, &legacy)).await, Ok(()));
    // k2 retires the legacy key; k1 and k2 verify, with or without kid.
    assert_eq!(set("k2", k2).await, (ids(&["k2", "k1"]), ids(&[""])));
    for t in [
        token(Some("k1"), &k1),
        token(Some("k2"), &k2),
        token(None, &k1),
    ] {
        assert_eq!(works(t).await, Ok(()));
    }
    assert_eq!(
        works(token(None, &legacy)).await,
        Err(Code::Unauthenticated)
    );
    // k3 retires k1; a token naming k2 but signed with k3 is refused.
    assert_eq!(set("k3", k3).await, (ids(&["k3", "k2"]), ids(&["k1"])));
    for t in [
        token(Some("k1"), &k1),
        token(None, &k1),
        token(Some("k2"), &k3),
    ] {
        assert_eq!(works(t).await, Err(Code::Unauthenticated));
    }
    assert_eq!(works(token(Some("k2"), &k2)).await, Ok(()));
    assert_eq!(works(token(Some("k3"), &k3)).await, Ok(()));
    // Retiring k2 early: k2 refused at once, k3 still verifies; a retry
    // with the same key replays, another retirement of k2 is NOT_FOUND.
    let retire = |kid: &'static str, idem: String| async move {
        let req = pb::RetirePlayerTokenKeyRequest {
            idempotency_key: idem,
            key_id: kid.into(),
        };
        let mut admin = app.admin();
        admin
            .retire_player_token_key(with(&app.admin_key, req))
            .await
            .map(|r| r.into_inner())
    };
    let idem = key();
    let r = retire("k2", idem.clone()).await.expect("retire");
    assert_eq!(
        (r.issuer.as_str(), r.active_key_ids),
        (app.issuer.as_str(), ids(&["k3"]))
    );
    assert_eq!(
        works(token(Some("k2"), &k2)).await,
        Err(Code::Unauthenticated)
    );
    assert_eq!(works(token(Some("k3"), &k3)).await, Ok(()));
    let again = retire("k2", idem).await.expect("replay");
    assert_eq!(again.active_key_ids, ids(&["k3"]));
    assert_code(retire("k2", key()).await, Code::NotFound, None);
    // Each change is in the trail; retired secrets are kept nowhere.
    let count = |sql| app.db.scalar(sql, "x");
    let sets = "SELECT COUNT(*) FROM audit_log WHERE action = 'player_token_key.set' AND $1 = $1";
    let retires =
        "SELECT COUNT(*) FROM audit_log WHERE action = 'player_token_key.retire' AND $1 = $1";
    assert_eq!((count(sets).await, count(retires).await), (4, 1));
    let keys = count("SELECT COUNT(*) FROM player_token_key WHERE $1 = $1").await;
    assert_eq!(keys, 1);
    owned.stop().await;
}

/// Migration 0015 turns the one secret a merchant had into its legacy key
/// (kid ""), so tokens of a gateway that sends no `kid` go on verifying.
async fn the_key_registered_before_key_ids_lives_on_as_kid_empty(backend: Backend) {
    use campaign::{
        domain::credential::{PlayerClaims, sign_player_token, verify_player_token},
        store::{Store, postgres::PgDb, sqlite::SqliteDb},
    };
    // Arrange: a database at migration 0014 with a merchant whose gateway
    // key was set the old way.
    let db = TestDb::new(backend).await;
    let secret = [5u8; 32];
    let mut migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("../../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../../migrations/postgres"),
    };
    let before: Vec<_> = migrator
        .iter()
        .filter(|m| m.version < 15)
        .cloned()
        .collect();
    assert_eq!(before.len(), 14);
    migrator.migrations = before.into();
    let insert = "INSERT INTO merchant (merchant_id, name, token_issuer, token_secret, created_at) \
                  VALUES ($1, 'old', 'gw-old', $2, 7)";
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.dir.join("engine.db"))
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0014");
            let q = sqlx::query(insert).bind("m-old").bind(secret.to_vec());
            q.execute(&pool).await.expect("merchant");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0014");
            let q = sqlx::query(insert).bind("m-old").bind(secret.to_vec());
            q.execute(&pool).await.expect("merchant");
            pool.close().await;
        }
    }

    // Act: the engine opens it (and applies 0015).
    let found = match backend {
        Backend::Sqlite => {
            let s = SqliteDb::connect(&db.url).await.expect("migrate");
            let r = Store::new(s.clone()).find_token_keys("gw-old").await;
            s.close().await;
            r
        }
        Backend::Postgres => {
            let s = PgDb::connect(&db.url, 2).await.expect("migrate");
            let r = Store::new(s.clone()).find_token_keys("gw-old").await;
            s.close().await;
            r
        }
    };

    // Assert: one key, kid "", the old secret; a token without kid
    // verifies with it; the merchant row holds no secret any more.
    let found = found.expect("read").expect("the legacy key");
    assert_eq!(found.merchant_id, "m-old");
    assert_eq!(found.keys.len(), 1);
    assert_eq!(
        (found.keys[0].kid.as_str(), &found.keys[0].secret[..]),
        ("", &secret[..])
    );
    let now = T0 / 1000;
    let claims = PlayerClaims {
        iss: "gw-old".into(),
        aud: "campaign-engine".into(),
        sub: "alice".into(),
        iat: now,
        exp: now + 600,
    };
    let token = sign_player_token(&secret, &claims);
    let verified = verify_player_token(&token, &found.keys, "gw-old", "campaign-engine", T0);
    assert_eq!(verified.map(|v| v.key_id), Ok(String::new()));
    let old_column = "SELECT token_secret FROM merchant";
    let gone = match backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("open");
            sqlx::query(old_column).fetch_all(&mut c).await.is_err()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("open");
            sqlx::query(old_column).fetch_all(&mut c).await.is_err()
        }
    };
    assert!(gone, "merchant.token_secret is still there");
}

both_backends!(
    gateway_keys_rotate_with_two_active,
    the_key_registered_before_key_ids_lives_on_as_kid_empty
);
