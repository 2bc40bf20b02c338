//! Stores as entities (issue 24): register, describe, close, list; POS
//! keys only for OPEN stores of their merchant; closing a store revokes
//! its POS keys, also when a key is being made at that moment.

use engine_proto::campaign::v1::{self as pb, store_admin_service_client::StoreAdminServiceClient};
use tonic::{Code, Status, transport::Channel};

use crate::helpers::*;

both_backends!(
    stores_are_registered_described_and_listed,
    pos_keys_need_an_open_store_of_their_merchant,
    closing_a_store_revokes_its_pos_keys,
    closing_races_key_creation_and_leaves_no_live_key,
    store_calls_check_roles_and_fields,
    stores_page_through_while_more_are_registered,
    databases_from_before_stores_register_the_codes_in_use
);

fn client(app: &TestApp) -> StoreAdminServiceClient<Channel> {
    app.stores()
}

fn new_store(code: &str, name: &str, city: &str) -> pb::CreateStoreRequest {
    pb::CreateStoreRequest {
        idempotency_key: key(),
        store_id: code.into(),
        name: name.into(),
        city: city.into(),
        address: String::new(),
        location: None,
    }
}

async fn create(
    app: &TestApp,
    cred: &str,
    req: pb::CreateStoreRequest,
) -> Result<pb::Store, Status> {
    client(app)
        .create_store(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

fn update_of(s: &pb::Store, status: pb::StoreStatus) -> pb::UpdateStoreRequest {
    pb::UpdateStoreRequest {
        idempotency_key: key(),
        store_id: s.store_id.clone(),
        name: s.name.clone(),
        city: s.city.clone(),
        address: s.address.clone(),
        location: s.location,
        status: status as i32,
    }
}

async fn update(
    app: &TestApp,
    cred: &str,
    req: pb::UpdateStoreRequest,
) -> Result<pb::UpdateStoreResponse, Status> {
    client(app)
        .update_store(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

async fn list(
    app: &TestApp,
    cred: &str,
    req: pb::ListStoresRequest,
) -> Result<pb::ListStoresResponse, Status> {
    client(app)
        .list_stores(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

async fn pos_key(
    app: &TestApp,
    cred: &str,
    store: &str,
) -> Result<pb::CreateApiKeyResponse, Status> {
    app.admin()
        .create_api_key(with(
            cred,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: pb::Role::Pos as i32,
                store_id: store.into(),
                label: "till".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn stores_are_registered_described_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_key;
    let mut req = new_store("SH-001", "徐汇店", "上海");
    req.address = "漕溪北路 1 号".into();
    req.location = Some(pb::GeoPoint {
        latitude: 31.188_6,
        longitude: 121.436_5,
    });
    let made = create(&app, admin, req.clone()).await.expect("create");
    assert_eq!(
        (
            made.store_id.as_str(),
            made.name.as_str(),
            made.city.as_str()
        ),
        ("SH-001", "徐汇店", "上海")
    );
    assert_eq!(made.status, pb::StoreStatus::Open as i32);
    let at = made.location.expect("location");
    assert!((at.latitude - 31.188_6).abs() < 1e-9 && (at.longitude - 121.436_5).abs() < 1e-9);
    // A replay answers the same; the same code under a new key is taken.
    assert_eq!(
        create(&app, admin, req.clone()).await.expect("replay"),
        made
    );
    assert_code(
        create(&app, admin, new_store("SH-001", "另一家", "")).await,
        Code::AlreadyExists,
        Some("store_id"),
    );
    create(&app, admin, new_store("BJ-001", "朝阳店", "北京"))
        .await
        .expect("second");
    create(&app, admin, new_store("SH-002", "静安店", "上海"))
        .await
        .expect("third");

    let got = client(&app)
        .get_store(with(
            admin,
            pb::GetStoreRequest {
                store_id: " SH-001 ".into(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, made);

    // Edit: a full replacement; UNSPECIFIED keeps the status; no location
    // clears it.
    let mut edit = update_of(&made, pb::StoreStatus::Unspecified);
    edit.name = "徐汇旗舰店".into();
    edit.location = None;
    let edited = update(&app, admin, edit.clone()).await.expect("edit");
    let s = edited.store.clone().expect("store");
    assert_eq!(
        (s.name.as_str(), s.status),
        ("徐汇旗舰店", pb::StoreStatus::Open as i32)
    );
    assert!(s.location.is_none() && edited.revoked_key_ids.is_empty());
    assert_eq!(update(&app, admin, edit).await.expect("replay"), edited);

    let all = list(&app, admin, pb::ListStoresRequest::default())
        .await
        .expect("list");
    let codes: Vec<_> = all.stores.iter().map(|s| s.store_id.as_str()).collect();
    assert_eq!(codes, ["BJ-001", "SH-001", "SH-002"]);
    assert!(all.next_page_token.is_empty());
    let shanghai = list(
        &app,
        admin,
        pb::ListStoresRequest {
            city: "上海".into(),
            ..Default::default()
        },
    )
    .await
    .expect("by city");
    assert_eq!(shanghai.stores.len(), 2);
    update(&app, admin, update_of(&s, pb::StoreStatus::Closed))
        .await
        .expect("close");
    let open = list(
        &app,
        admin,
        pb::ListStoresRequest {
            status: pb::StoreStatus::Open as i32,
            ..Default::default()
        },
    )
    .await
    .expect("open ones");
    let codes: Vec<_> = open.stores.iter().map(|s| s.store_id.as_str()).collect();
    assert_eq!(codes, ["BJ-001", "SH-002"]);

    // Every change is in the merchant's audit chain.
    let entries = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'store.%' AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(entries, 5, "3 registered, 1 edited, 1 closed");
}

async fn pos_keys_need_an_open_store_of_their_merchant(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_key;
    // Not registered.
    assert_code(
        pos_key(&app, admin, "S9").await,
        Code::FailedPrecondition,
        Some("store_id"),
    );
    // Another merchant's store reads as not registered.
    let other = other_merchant(&app.db).await;
    create(&app, &other, new_store("THEIRS", "别家", ""))
        .await
        .expect("other merchant's store");
    assert_code(
        pos_key(&app, admin, "THEIRS").await,
        Code::FailedPrecondition,
        Some("store_id"),
    );
    // Registered and open: made; closed: refused.
    let s = create(&app, admin, new_store("S1", "一号店", ""))
        .await
        .expect("store");
    pos_key(&app, admin, "S1").await.expect("key for S1");
    update(&app, admin, update_of(&s, pb::StoreStatus::Closed))
        .await
        .expect("close");
    let refused = pos_key(&app, admin, "S1").await.expect_err("closed");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused.message().contains("closed"),
        "{}",
        refused.message()
    );
    // Reopened: keys again.
    update(&app, admin, update_of(&s, pb::StoreStatus::Open))
        .await
        .expect("reopen");
    pos_key(&app, admin, "S1")
        .await
        .expect("key after reopening");
    // No key was made by a refused call.
    let keys = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM api_key WHERE role = 'pos' AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(keys, 2);
}

async fn closing_a_store_revokes_its_pos_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_key;
    let s1 = create(&app, admin, new_store("S1", "一号店", ""))
        .await
        .expect("S1");
    create(&app, admin, new_store("S2", "二号店", ""))
        .await
        .expect("S2");
    let a = pos_key(&app, admin, "S1").await.expect("a");
    let b = pos_key(&app, admin, "S1").await.expect("b");
    let other = pos_key(&app, admin, "S2").await.expect("S2 key");
    // A POS key may not read campaigns: PERMISSION_DENIED while it lives.
    let probe = |k: String| {
        let app = &app;
        async move {
            app.admin()
                .list_campaigns(with(&k, pb::ListCampaignsRequest::default()))
                .await
                .map(|_| ())
        }
    };
    assert_code(probe(a.api_key.clone()).await, Code::PermissionDenied, None);

    let close = update_of(&s1, pb::StoreStatus::Closed);
    let closed = update(&app, admin, close.clone()).await.expect("close");
    let mut want = vec![
        a.key.clone().expect("a").key_id,
        b.key.clone().expect("b").key_id,
    ];
    want.sort();
    assert_eq!(closed.revoked_key_ids, want);
    // Refused from the next call on; the other store's key lives.
    assert_code(probe(a.api_key.clone()).await, Code::Unauthenticated, None);
    assert_code(probe(b.api_key.clone()).await, Code::Unauthenticated, None);
    assert_code(
        probe(other.api_key.clone()).await,
        Code::PermissionDenied,
        None,
    );
    // A replay answers the same and revokes nothing more; closing again
    // (a new key) revokes nothing.
    assert_eq!(update(&app, admin, close).await.expect("replay"), closed);
    let again = update(&app, admin, update_of(&s1, pb::StoreStatus::Closed))
        .await
        .expect("close again");
    assert!(again.revoked_key_ids.is_empty());
    let listed = app
        .admin()
        .list_api_keys(with(
            admin,
            pb::ListApiKeysRequest {
                store_id: "S1".into(),
                active_only: true,
                ..Default::default()
            },
        ))
        .await
        .expect("list keys")
        .into_inner();
    assert!(listed.keys.is_empty());
}

/// Closing a store while its keys are being made, 12 rounds: every key
/// that was made is revoked when the closing commits (or was refused); no
/// live POS key of a closed store is ever left.
async fn closing_races_key_creation_and_leaves_no_live_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_key;
    for round in 0..12 {
        let code = format!("R{round}");
        let s = create(&app, admin, new_store(&code, "门店", ""))
            .await
            .expect("store");
        let (k1, closed, k2) = tokio::join!(
            pos_key(&app, admin, &code),
            update(&app, admin, update_of(&s, pb::StoreStatus::Closed)),
            pos_key(&app, admin, &code),
        );
        let closed = closed.expect("close");
        for k in [k1, k2] {
            match k {
                Ok(k) => {
                    let id = k.key.expect("key").key_id;
                    assert!(
                        closed.revoked_key_ids.contains(&id),
                        "round {round}: key {id} was made but not revoked"
                    );
                }
                Err(e) => assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}"),
            }
        }
    }
    let live = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM api_key k JOIN merchant_store s \
             ON s.merchant_id = k.merchant_id AND s.store_id = k.store_id \
             WHERE s.status = 'CLOSED' AND k.revoked_at IS NULL AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(live, 0);
}

async fn store_calls_check_roles_and_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = &app.admin_key;
    let s = create(&app, admin, new_store("S1", "一号店", ""))
        .await
        .expect("S1");
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let pos = app.api_key(pb::Role::Pos, "S1").await;
    let player = app.token("fan-1");
    // Auditors read; only admins change; POS keys and players neither.
    list(&app, &auditor, pb::ListStoresRequest::default())
        .await
        .expect("auditor lists");
    client(&app)
        .get_store(with(
            &auditor,
            pb::GetStoreRequest {
                store_id: "S1".into(),
            },
        ))
        .await
        .expect("auditor reads");
    for cred in [&auditor, &pos] {
        assert_code(
            create(&app, cred, new_store("S2", "二号店", "")).await,
            Code::PermissionDenied,
            None,
        );
        assert_code(
            update(&app, cred, update_of(&s, pb::StoreStatus::Closed)).await,
            Code::PermissionDenied,
            None,
        );
    }
    assert_code(
        list(&app, &pos, pb::ListStoresRequest::default()).await,
        Code::PermissionDenied,
        None,
    );
    let by_player = list(&app, &player, pb::ListStoresRequest::default())
        .await
        .expect_err("player");
    assert!(matches!(
        by_player.code(),
        Code::PermissionDenied | Code::Unauthenticated
    ));
    assert_code(
        list(&app, "cek_forged", pb::ListStoresRequest::default()).await,
        Code::Unauthenticated,
        None,
    );

    // Each bad field is named, and nothing is made.
    let bad = |f: &dyn Fn(&mut pb::CreateStoreRequest)| {
        let mut r = new_store("S3", "三号店", "");
        f(&mut r);
        r
    };
    let cases: Vec<(pb::CreateStoreRequest, &str)> = vec![
        (bad(&|r| r.idempotency_key.clear()), "idempotency_key"),
        (bad(&|r| r.store_id.clear()), "store_id"),
        (bad(&|r| r.store_id = "S 3".into()), "store_id"),
        (bad(&|r| r.store_id = "门店3".into()), "store_id"),
        (bad(&|r| r.store_id = "x".repeat(65)), "store_id"),
        (bad(&|r| r.name.clear()), "name"),
        (bad(&|r| r.name = "店".repeat(101)), "name"),
        (bad(&|r| r.city = "c".repeat(51)), "city"),
        (bad(&|r| r.address = "a\u{7}".into()), "address"),
        (
            bad(&|r| {
                r.location = Some(pb::GeoPoint {
                    latitude: 91.0,
                    longitude: 0.0,
                })
            }),
            "location.latitude",
        ),
        (
            bad(&|r| {
                r.location = Some(pb::GeoPoint {
                    latitude: 0.0,
                    longitude: f64::INFINITY,
                })
            }),
            "location.longitude",
        ),
    ];
    for (req, field) in cases {
        assert_code(
            create(&app, admin, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let mut wrong = update_of(&s, pb::StoreStatus::Closed);
    wrong.status = 9;
    assert_code(
        update(&app, admin, wrong).await,
        Code::InvalidArgument,
        Some("status"),
    );
    assert_code(
        list(
            &app,
            admin,
            pb::ListStoresRequest {
                page_size: -1,
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    assert_code(
        list(
            &app,
            admin,
            pb::ListStoresRequest {
                page_token: "forged".into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let stores = app
        .db
        .scalar("SELECT COUNT(*) FROM merchant_store WHERE $1 = $1", "")
        .await;
    assert_eq!(stores, 1);

    // Another merchant's store (or none) is NOT_FOUND to read or change.
    let other = other_merchant(&app.db).await;
    assert_code(
        client(&app)
            .get_store(with(
                &other,
                pb::GetStoreRequest {
                    store_id: "S1".into(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        update(&app, &other, update_of(&s, pb::StoreStatus::Closed)).await,
        Code::NotFound,
        None,
    );
    assert!(
        list(&app, &other, pb::ListStoresRequest::default())
            .await
            .expect("other's list")
            .stores
            .is_empty()
    );
    // A page token of one merchant's list is refused to another.
    for i in 0..3 {
        create(&app, admin, new_store(&format!("T{i}"), "店", ""))
            .await
            .expect("more");
    }
    let first = list(
        &app,
        admin,
        pb::ListStoresRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .expect("page 1");
    assert!(!first.next_page_token.is_empty());
    assert_code(
        list(
            &app,
            &other,
            pb::ListStoresRequest {
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    // ... and with other filters.
    assert_code(
        list(
            &app,
            admin,
            pb::ListStoresRequest {
                page_size: 2,
                page_token: first.next_page_token,
                city: "上海".into(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
}

/// 600 stores listed 70 a page while 200 more are registered on both
/// sides of the cursor: every store there before is seen exactly once.
async fn stores_page_through_while_more_are_registered(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_key.clone();
    let mut before = Vec::new();
    for i in 0..600 {
        let code = format!("B{i:04}");
        create(&app, &admin, new_store(&code, "店", ""))
            .await
            .expect("store");
        before.push(code);
    }
    let adding = {
        let app_stores = app.stores();
        let admin = admin.clone();
        tokio::spawn(async move {
            let mut c = app_stores;
            for i in 0..200 {
                // "A…" sorts before every old code, "C…" after.
                let code = if i % 2 == 0 {
                    format!("A{i:04}")
                } else {
                    format!("C{i:04}")
                };
                c.create_store(with(&admin, new_store(&code, "新店", "")))
                    .await
                    .expect("added");
            }
        })
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            &app,
            &admin,
            pb::ListStoresRequest {
                page_size: 70,
                page_token: token,
                ..Default::default()
            },
        )
        .await
        .expect("page");
        seen.extend(page.stores.into_iter().map(|s| s.store_id));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    adding.await.expect("adder");
    for code in &before {
        assert_eq!(
            seen.iter().filter(|s| *s == code).count(),
            1,
            "{code} seen once"
        );
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in code order, no repeats"
    );
}

/// A database at migration 0023 whose POS keys, template store lists and
/// redemptions carry store codes: after the upgrade each code is a
/// registered OPEN store of its merchant, named by its code, first seen at
/// its earliest use.
async fn databases_from_before_stores_register_the_codes_in_use(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("../../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../../migrations/postgres"),
    };
    let before: Vec<_> = migrator
        .iter()
        .filter(|m| m.version < 24)
        .cloned()
        .collect();
    assert_eq!(before.len(), 23);
    migrator.migrations = before.into();
    let rows = [
        "INSERT INTO merchant (merchant_id, name, created_at) VALUES ('m-old', 'old', 7)",
        "INSERT INTO api_key (key_id, merchant_id, role, store_id, label, secret_hash, created_at) \
         VALUES ('k1', 'm-old', 'pos', 'TILL-STORE', '', X'00', 9)",
        "INSERT INTO coupon_template (template_id, merchant_id, name, kind, amount_off_cents, \
         percent_off, max_discount_cents, min_spend_cents, gift_item, valid_days, total_supply, \
         issued, per_user_limit, store_ids, created_at) VALUES ('t1', 'm-old', 't', 'AMOUNT_OFF', \
         100, 0, 0, 0, '', 30, 10, 1, 0, 'A-1' || char(10) || 'TILL-STORE', 8)",
        "INSERT INTO coupon (coupon_id, merchant_id, template_id, code_digest, source, \
         valid_from, valid_until, issued_at) VALUES ('c1', 'm-old', 't1', 'd1', 'claim', 0, 99, 8)",
        "INSERT INTO coupon_redemption (redemption_id, coupon_id, merchant_id, store_id, \
         pos_key_id, idem_key, order_amount_cents, discount_cents, order_ref, redeemed_at) \
         VALUES ('r1', 'c1', 'm-old', 'GONE-STORE', 'k0', 'i', 500, 100, '', 5)",
    ];
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.dir.join("engine.db"))
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0023");
            for r in rows {
                sqlx::query(r).execute(&pool).await.expect(r);
            }
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0023");
            for r in rows {
                let r = r
                    .replace("X'00'", "'\\x00'::bytea")
                    .replace("'A-1' || char(10) || 'TILL-STORE'", "E'A-1\\nTILL-STORE'");
                sqlx::query(sqlx::AssertSqlSafe(r))
                    .execute(&pool)
                    .await
                    .expect("row");
            }
            pool.close().await;
        }
    }
    // The engine opens it (and applies 0024 on).
    {
        use campaign::store::{postgres::PgDb, sqlite::SqliteDb};
        match backend {
            Backend::Sqlite => {
                SqliteDb::connect(&db.url)
                    .await
                    .expect("migrate")
                    .close()
                    .await
            }
            Backend::Postgres => {
                PgDb::connect(&db.url, 2)
                    .await
                    .expect("migrate")
                    .close()
                    .await
            }
        }
    }
    let stores = db
        .int_rows(
            "SELECT COUNT(*), MIN(created_at), \
             SUM(CASE WHEN status = 'OPEN' AND name = store_id THEN 1 ELSE 0 END) \
             FROM merchant_store WHERE merchant_id = $1",
            "m-old",
        )
        .await;
    assert_eq!(stores[0], vec![3, 5, 3], "A-1, GONE-STORE, TILL-STORE");
    let codes = db
        .int_rows(
            "SELECT COUNT(*) FROM merchant_store WHERE merchant_id = 'm-old' \
             AND store_id IN ('A-1', 'GONE-STORE', 'TILL-STORE') AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(codes[0][0], 3);
}
