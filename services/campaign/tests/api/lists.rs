//! List RPCs and their paging convention (issue 24): keyset pages that
//! see every row present when paging began exactly once while rows are
//! added before and after the cursor, filters that narrow, and page tokens
//! bound to their list, request and merchant.

use std::collections::{HashMap, HashSet};

use campaign::store::db::{Db, DbTx, args};
use engine_proto::campaign::v1::{self as pb, ActivityKind, CampaignStatus};
use tonic::{Code, Status};

use crate::helpers::*;

both_backends!(
    campaigns_page_through_ten_thousand_while_more_are_added,
    campaign_filters_narrow_and_tokens_bind,
    winners_page_and_filter_while_draws_go_on,
    api_keys_page_and_filter,
);

/// Rows seeded straight into the database: created 2 ms apart, all before
/// T0, so the engine's own campaigns (made at the clock's time) can be
/// placed among them.
const SEEDED: i64 = 10_000;
const SEED_START: i64 = T0 - 3 * SEEDED;

/// Inserts `SEEDED` draft campaigns of `merchant` in one transaction; returns
/// their ids.
async fn seed_campaigns<D: Db>(db: &D, merchant: &str) -> Vec<String> {
    let mut tx = db.begin_write().await.expect("begin");
    let mut ids = Vec::new();
    for i in 0..SEEDED {
        let id = format!("00000000-0000-4000-8000-{i:012}");
        tx.execute(
            "INSERT INTO campaign (campaign_id, merchant_id, name, status, starts_at, ends_at, \
             time_zone, draws_per_day, draws_total, roll_secret, created_at, updated_at) \
             VALUES ($1, $2, $3, 'draft', $4, $5, 'Asia/Shanghai', 1, 1, $6, $7, $7)",
            args![
                id.as_str(),
                merchant,
                format!("批量活动 {i}"),
                T0 - DAY,
                T0 + 30 * DAY,
                vec![0u8; 32],
                SEED_START + 2 * i
            ],
        )
        .await
        .expect("seed campaign");
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

async fn merchant_of<D: Db>(db: &D) -> String {
    let mut tx = db.begin_read().await.expect("begin");
    let rows = tx
        .fetch_all("SELECT merchant_id FROM merchant", args![])
        .await
        .expect("merchants");
    assert_eq!(rows.len(), 1, "one merchant");
    campaign::store::db::DbRow::text(&rows[0], 0).expect("id")
}

fn list_req(page_size: i32, page_token: &str) -> pb::ListCampaignsRequest {
    pb::ListCampaignsRequest {
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    }
}

async fn list(
    app: &TestApp,
    credential: &str,
    req: pb::ListCampaignsRequest,
) -> Result<pb::ListCampaignsResponse, Status> {
    app.admin()
        .list_campaigns(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

/// Every page of a filtered list, following the tokens.
async fn all_pages(app: &TestApp, req: pb::ListCampaignsRequest) -> Vec<pb::Campaign> {
    let mut out = Vec::new();
    let mut req = req;
    loop {
        let page = list(app, &app.admin_key, req.clone()).await.expect("page");
        out.extend(page.campaigns);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

fn names(cs: &[pb::Campaign]) -> Vec<&str> {
    cs.iter().map(|c| c.name.as_str()).collect()
}

fn campaign(
    name: &str,
    activities: &[ActivityKind],
    window: (i64, i64),
) -> pb::CreateCampaignRequest {
    let wheel = activities.contains(&ActivityKind::Wheel);
    pb::CreateCampaignRequest {
        idempotency_key: key(),
        name: name.into(),
        starts_at_ms: window.0,
        ends_at_ms: window.1,
        time_zone: String::new(),
        activities: activities.iter().map(|a| *a as i32).collect(),
        draws_per_day: if wheel { 10 } else { 0 },
        draws_total: if wheel { 100 } else { 0 },
    }
}

async fn create(app: &TestApp, req: pb::CreateCampaignRequest) -> pb::Campaign {
    app.admin()
        .create_campaign(with(&app.admin_key, req))
        .await
        .expect("create campaign")
        .into_inner()
}

async fn campaigns_page_through_ten_thousand_while_more_are_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let seeded = on_store!(&app.db, |store| {
        let merchant = merchant_of(store.db()).await;
        seed_campaigns(store.db(), &merchant).await
    });
    let before: HashSet<String> = seeded.iter().cloned().collect();

    // Page 200 at a time; between pages, make campaigns dated in the part
    // already read (they must not appear), in the part not read yet (they
    // must appear, once) and at the cursor's own instant (either, once).
    let mut seen: Vec<pb::Campaign> = Vec::new();
    let mut behind = HashSet::new();
    let mut ahead = HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(&app, &app.admin_key, list_req(200, &token))
            .await
            .expect("page");
        assert!(page.campaigns.len() <= 200);
        pages += 1;
        seen.extend(page.campaigns);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        let cursor = seen.last().expect("a full page").created_at_ms;
        for (at, into) in [
            (cursor + 1, &mut behind),
            (cursor - 1, &mut ahead),
            (cursor, &mut HashSet::new()),
        ] {
            app.clock.set(at);
            let c = create(
                &app,
                campaign("新品", &[ActivityKind::Vote], (T0 - DAY, T0 + DAY)),
            )
            .await;
            into.insert(c.campaign_id);
        }
        assert!(pages < 200, "paging does not end");
    }
    app.clock.set(T0);

    // Newest first, strictly, so no row twice.
    for w in seen.windows(2) {
        let key = |c: &pb::Campaign| (c.created_at_ms, c.campaign_id.clone());
        assert!(
            key(&w[0]) > key(&w[1]),
            "order: {:?} then {:?}",
            key(&w[0]),
            key(&w[1])
        );
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in &seen {
        *count.entry(c.campaign_id.as_str()).or_default() += 1;
    }
    for id in &before {
        assert_eq!(count.get(id.as_str()), Some(&1), "seeded {id} seen once");
    }
    for id in &ahead {
        assert_eq!(
            count.get(id.as_str()),
            Some(&1),
            "added ahead {id} seen once"
        );
    }
    for id in &behind {
        assert_eq!(count.get(id.as_str()), None, "added behind {id} not seen");
    }
    assert!(pages >= 50, "{pages} pages");
    assert!(
        seen.iter()
            .all(|c| c.status == CampaignStatus::Draft as i32)
    );
    assert_eq!(seen.len(), count.len(), "no campaign twice");
    app.stop().await;
}

async fn campaign_filters_narrow_and_tokens_bind(backend: Backend) {
    let app = spawn_app(backend).await;
    let vote = create(
        &app,
        campaign("春节投票", &[ActivityKind::Vote], (T0 - DAY, T0 + 2 * DAY)),
    )
    .await;
    let wheel = app
        .wheel(
            pb::CreateWheelRequest {
                name: "春节转盘".into(),
                ..rules(5, 10)
            },
            vec![slot("积分", pb::PrizeKind::Points, 1, 10), thanks(1)],
            1,
            true,
        )
        .await;
    let packet = create(
        &app,
        campaign(
            "中秋红包",
            &[ActivityKind::RedPacket],
            (T0 + 40 * DAY, T0 + 50 * DAY),
        ),
    )
    .await;
    // The vote campaign published, then its window ends: shown ENDED.
    app.admin()
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: vote.campaign_id.clone(),
            },
        ))
        .await
        .expect("publish vote");
    app.clock.set(T0 + 3 * DAY);

    let filtered = |f: fn(&mut pb::ListCampaignsRequest)| {
        let mut req = list_req(1, "");
        f(&mut req);
        req
    };
    let all = all_pages(&app, list_req(1, "")).await;
    assert_eq!(names(&all), ["中秋红包", "春节转盘", "春节投票"]);
    let ended = all_pages(
        &app,
        filtered(|r| r.statuses = vec![CampaignStatus::Ended as i32]),
    )
    .await;
    assert_eq!(names(&ended), ["春节投票"]);
    let live = all_pages(
        &app,
        filtered(|r| {
            r.statuses = vec![
                CampaignStatus::Published as i32,
                CampaignStatus::Draft as i32,
            ]
        }),
    )
    .await;
    assert_eq!(names(&live), ["中秋红包", "春节转盘"]);
    let voting = all_pages(&app, filtered(|r| r.activity = ActivityKind::Vote as i32)).await;
    assert_eq!(
        names(&voting),
        ["春节转盘", "春节投票"],
        "CreateWheel holds every activity"
    );
    let spring = all_pages(&app, filtered(|r| r.name_prefix = "春节".into())).await;
    assert_eq!(names(&spring), ["春节转盘", "春节投票"]);
    assert!(
        all_pages(&app, filtered(|r| r.name_prefix = "节".into()))
            .await
            .is_empty()
    );
    let later = all_pages(&app, filtered(|r| r.active_from_ms = T0 + 31 * DAY)).await;
    assert_eq!(names(&later), ["中秋红包"]);
    let early = all_pages(&app, filtered(|r| r.active_until_ms = T0)).await;
    assert_eq!(names(&early), ["春节转盘", "春节投票"]);
    assert_eq!(all[0].campaign_id, packet.campaign_id);
    assert_eq!(all[1].campaign_id, wheel.campaign_id);
    assert_eq!(all[1].slots.len(), 2, "each campaign comes whole");

    // A token continues only its own request.
    let first = list(&app, &app.admin_key, list_req(1, ""))
        .await
        .expect("first");
    let token = first.next_page_token.clone();
    assert!(!token.is_empty());
    let mut other_filter = list_req(1, &token);
    other_filter.name_prefix = "春".into();
    assert_code(
        list(&app, &app.admin_key, other_filter).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let mut edited = token.clone().into_bytes();
    let mid = edited.len() / 2;
    edited[mid] = if edited[mid] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(edited).expect("ascii");
    assert_code(
        list(&app, &app.admin_key, list_req(1, &edited)).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert_code(
        list(&app, &app.admin_key, list_req(1, "not-a-token")).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        list(&app, &other, list_req(1, &token)).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let theirs = list(&app, &other, list_req(0, ""))
        .await
        .expect("other merchant");
    assert!(
        theirs.campaigns.is_empty(),
        "another merchant sees none of these"
    );
    // The same token twice gives the same page.
    let a = list(&app, &app.admin_key, list_req(1, &token))
        .await
        .expect("again");
    let b = list(&app, &app.admin_key, list_req(1, &token))
        .await
        .expect("again");
    assert_eq!(a, b);

    // Bad requests name their field; roles.
    for (req, field) in [
        (list_req(-1, ""), "page_size"),
        (filtered(|r| r.statuses = vec![99]), "statuses"),
        (filtered(|r| r.activity = 99), "activity"),
        (filtered(|r| r.active_from_ms = -5), "active_from_ms"),
        (
            filtered(|r| {
                r.active_from_ms = T0;
                r.active_until_ms = T0;
            }),
            "active_until_ms",
        ),
        (
            filtered(|r| r.name_prefix = "长".repeat(101)),
            "name_prefix",
        ),
    ] {
        assert_code(
            list(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_eq!(
        list(&app, &auditor, list_req(0, ""))
            .await
            .expect("auditor")
            .campaigns
            .len(),
        3
    );
    let pos = app.api_key(pb::Role::Pos, "store-1").await;
    assert_code(
        list(&app, &pos, list_req(0, "")).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        list(&app, &app.token("fan"), list_req(0, "")).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        list(&app, "", list_req(0, "")).await,
        Code::Unauthenticated,
        None,
    );
    app.stop().await;
}

async fn winners(
    app: &TestApp,
    req: pb::ListWinnersRequest,
) -> Result<pb::ListWinnersResponse, Status> {
    app.admin()
        .list_winners(with(&app.admin_key, req))
        .await
        .map(|r| r.into_inner())
}

async fn winners_page_and_filter_while_draws_go_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let wheel = app
        .wheel(
            rules(100, 100),
            vec![
                slot("积分", pb::PrizeKind::Points, 1, 1000),
                slot("保温杯", pb::PrizeKind::Physical, 1, 1000),
                thanks(0),
            ],
            2,
            true,
        )
        .await;
    let id = wheel.campaign_id.clone();
    for i in 0..40 {
        app.draw(&format!("fan-{}", i % 4), &id)
            .await
            .expect("draw");
    }
    let req = |page_size: i32, page_token: &str| pb::ListWinnersRequest {
        campaign_id: id.clone(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    };
    let before: HashSet<String> = winners(&app, req(1000, ""))
        .await
        .expect("all")
        .awards
        .into_iter()
        .map(|a| a.award_id)
        .collect();
    assert_eq!(before.len(), 40, "every draw wins a prize");

    // Pages of 7 while fans keep drawing (at the same instant: the award
    // id breaks the tie).
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = winners(&app, req(7, &token)).await.expect("page");
        assert!(page.awards.len() <= 7);
        seen.extend(page.awards);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        app.draw("fan-late", &id).await.expect("draw while paging");
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for a in &seen {
        *count.entry(a.award_id.as_str()).or_default() += 1;
    }
    assert!(count.values().all(|n| *n == 1), "no award twice");
    assert!(
        before.iter().all(|a| count.contains_key(a.as_str())),
        "every award present at the start"
    );
    for w in seen.windows(2) {
        assert!((w[0].won_at_ms, &w[0].award_id) > (w[1].won_at_ms, &w[1].award_id));
    }

    // Filters.
    let mut by_slot = req(1000, "");
    by_slot.slot = Some(1);
    let physical = winners(&app, by_slot).await.expect("slot 1").awards;
    assert!(!physical.is_empty() && physical.iter().all(|a| a.slot_index == 1));
    let mut won = req(1000, "");
    won.statuses = vec![pb::AwardStatus::Won as i32];
    let unclaimed = winners(&app, won).await.expect("won").awards;
    assert_eq!(
        unclaimed.len(),
        physical.len(),
        "physical prizes wait for their claim"
    );
    let mut granted = req(1000, "");
    granted.statuses = vec![pb::AwardStatus::Granted as i32];
    let points = winners(&app, granted).await.expect("granted").awards;
    let total = winners(&app, req(1000, ""))
        .await
        .expect("all")
        .awards
        .len();
    assert!(
        total > before.len(),
        "the draws made while paging are winners too"
    );
    assert_eq!(points.len() + unclaimed.len(), total);
    // T0 is 2026-11-26T04:00Z: the 26th in Shanghai.
    let mut today = req(1000, "");
    today.day = "2026-11-26".into();
    assert_eq!(
        winners(&app, today).await.expect("today").awards.len(),
        total
    );
    let mut other_day = req(1000, "");
    other_day.day = "2026-11-25".into();
    assert!(
        winners(&app, other_day)
            .await
            .expect("other day")
            .awards
            .is_empty()
    );

    // Bad input.
    let mut bad_day = req(10, "");
    bad_day.day = "16/11/2026".into();
    assert_code(
        winners(&app, bad_day).await,
        Code::InvalidArgument,
        Some("day"),
    );
    let mut bad_status = req(10, "");
    bad_status.statuses = vec![0];
    assert_code(
        winners(&app, bad_status).await,
        Code::InvalidArgument,
        Some("statuses"),
    );
    assert_code(
        winners(&app, req(-3, "")).await,
        Code::InvalidArgument,
        Some("page_size"),
    );
    let first = winners(&app, req(5, "")).await.expect("first");
    let mut moved = req(5, &first.next_page_token);
    moved.slot = Some(0);
    assert_code(
        winners(&app, moved).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    app.stop().await;
}

async fn keys(
    app: &TestApp,
    req: pb::ListApiKeysRequest,
) -> Result<pb::ListApiKeysResponse, Status> {
    app.admin()
        .list_api_keys(with(&app.admin_key, req))
        .await
        .map(|r| r.into_inner())
}

async fn api_keys_page_and_filter(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut made = Vec::new();
    for i in 0..12 {
        made.push(
            app.api_key(pb::Role::Pos, &format!("store-{}", i % 3))
                .await,
        );
        made.push(app.api_key(pb::Role::Auditor, "").await);
    }
    // Revoke the first three POS keys of store-0 (keys 0, 6, 12 of `made`
    // at even positions).
    let id_of = |k: &str| k.split('_').nth(1).expect("key id").to_owned();
    let revoked: Vec<String> = [0, 6, 12].iter().map(|i| id_of(&made[*i])).collect();
    for id in &revoked {
        app.admin()
            .revoke_api_key(with(
                &app.admin_key,
                pb::RevokeApiKeyRequest {
                    idempotency_key: key(),
                    key_id: id.clone(),
                },
            ))
            .await
            .expect("revoke");
    }
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let page = keys(
            &app,
            pb::ListApiKeysRequest {
                page_size: 5,
                page_token: token,
                ..Default::default()
            },
        )
        .await
        .expect("page");
        assert!(page.keys.len() <= 5);
        all.extend(page.keys);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(all.len(), 25, "24 made and the first admin key");
    let ids: HashSet<&str> = all.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(ids.len(), 25);
    assert!(made.iter().all(|k| ids.contains(id_of(k).as_str())));
    assert!(
        all.windows(2)
            .all(|w| (w[0].created_at_ms, &w[0].key_id) < (w[1].created_at_ms, &w[1].key_id))
    );

    let store0 = keys(
        &app,
        pb::ListApiKeysRequest {
            store_id: "store-0".into(),
            ..Default::default()
        },
    )
    .await
    .expect("store-0")
    .keys;
    assert_eq!(store0.len(), 4);
    let active0 = keys(
        &app,
        pb::ListApiKeysRequest {
            store_id: "store-0".into(),
            active_only: true,
            ..Default::default()
        },
    )
    .await
    .expect("active store-0")
    .keys;
    assert_eq!(active0.len(), 1);
    assert!(!revoked.contains(&active0[0].key_id));
    let auditors = keys(
        &app,
        pb::ListApiKeysRequest {
            role: pb::Role::Auditor as i32,
            ..Default::default()
        },
    )
    .await
    .expect("auditors")
    .keys;
    assert_eq!(auditors.len(), 12);
    assert!(auditors.iter().all(|k| k.role == pb::Role::Auditor as i32));
    assert_code(
        keys(
            &app,
            pb::ListApiKeysRequest {
                role: 42,
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("role"),
    );
    let first = keys(
        &app,
        pb::ListApiKeysRequest {
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .expect("first");
    assert_code(
        keys(
            &app,
            pb::ListApiKeysRequest {
                page_size: 2,
                page_token: first.next_page_token,
                active_only: true,
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    app.stop().await;
}
