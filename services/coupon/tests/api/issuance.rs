//! Templates, claims, the player's list, bulk issue for print and supplier
//! code pools.

use std::collections::HashSet;

use engine_proto::coupon::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{Backend, assert_code, key, state_digest, with},
    kit::{
        admin, amount_off, assert_coupon_invariants, claim, create_template, player, pos_key,
        spawn_engine, validate,
    },
};

both_backends!(
    every_template_kind_discounts_in_cents,
    bad_templates_are_refused_naming_the_field,
    claims_respect_supply_and_per_user_limit_under_a_race,
    players_list_only_their_own_coupons,
    bulk_issue_of_50000_codes_with_progress_and_csv,
    pool_codes_are_handed_out_once,
);

async fn every_template_kind_discounts_in_cents(backend: Backend) {
    let app = spawn_engine(backend).await;
    let till = pos_key(&app, "S1").await;
    let lines = |item: &str| {
        vec![pb::OrderLine {
            item: item.into(),
            quantity: 1,
        }]
    };
    // (template, order amount, order items, expected discount or refusal)
    let percent = pb::CreateTemplateRequest {
        kind: pb::DiscountKind::PercentOff as i32,
        amount_off_cents: 0,
        percent_off: 15,
        max_discount_cents: 2000,
        ..amount_off(0)
    };
    let threshold = pb::CreateTemplateRequest {
        kind: pb::DiscountKind::SpendThreshold as i32,
        amount_off_cents: 3000,
        min_spend_cents: 20_000,
        ..amount_off(0)
    };
    let gift = pb::CreateTemplateRequest {
        kind: pb::DiscountKind::GiftItem as i32,
        amount_off_cents: 0,
        gift_item: "TOTE-BAG".into(),
        ..amount_off(0)
    };
    type Orders = Vec<(i64, &'static str, Result<i64, pb::Refusal>)>;
    let cases: Vec<(pb::CreateTemplateRequest, Orders)> = vec![
        (
            amount_off(500),
            vec![(10_000, "", Ok(500)), (499, "", Ok(499)), (0, "", Ok(0))],
        ),
        (
            percent,
            vec![
                (999, "", Ok(149)), // 149.85 rounds down
                (13_333, "", Ok(1999)),
                (13_334, "", Ok(2000)), // the cap
                (1_000_000, "", Ok(2000)),
            ],
        ),
        (
            threshold,
            vec![
                (19_999, "", Err(pb::Refusal::MinSpendNotMet)),
                (20_000, "", Ok(3000)),
            ],
        ),
        (
            gift,
            vec![
                (100, "", Err(pb::Refusal::GiftItemMissing)),
                (100, "TOTE-BAG", Ok(0)),
            ],
        ),
    ];
    for (template, orders) in cases {
        let t = create_template(&app, template).await;
        let c = claim(&app, "alice", &t.template_id).await;
        assert_eq!(c.code.len(), 16, "XXXX-XXXX-XXXX-C");
        for (amount, item, want) in orders {
            let items = if item.is_empty() { vec![] } else { lines(item) };
            let v = validate(&app, &till, &c.code, (amount, items)).await;
            match want {
                Ok(d) => {
                    assert!(v.valid, "{} for {amount}: {v:?}", t.name);
                    assert_eq!(v.discount_cents, d, "{} for {amount}", t.name);
                    assert_eq!(v.template_id, t.template_id);
                }
                Err(r) => {
                    assert!(!v.valid);
                    assert_eq!(v.refusal, r as i32, "{} for {amount}: {v:?}", t.name);
                    assert!(!v.message.is_empty());
                }
            }
        }
        // The code is accepted however the cashier types it.
        let typed = c.code.to_lowercase().replace('-', " ");
        assert!(
            validate(&app, &till, &typed, (100_000, lines("TOTE-BAG")))
                .await
                .valid
        );
    }
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// One piece: tables of bad templates and bulk issues, each refused naming
/// its field, between one state digest taken before and compared after.
async fn bad_templates_are_refused_naming_the_field(backend: Backend) {
    let app = spawn_engine(backend).await;
    let template = create_template(&app, amount_off(500)).await;
    let before = state_digest(&app.db).await;
    let cases: Vec<(pb::CreateTemplateRequest, &str)> = vec![
        (
            pb::CreateTemplateRequest {
                name: String::new(),
                ..amount_off(500)
            },
            "name",
        ),
        (
            pb::CreateTemplateRequest {
                kind: 0,
                ..amount_off(500)
            },
            "kind",
        ),
        (amount_off(0), "amount_off_cents"),
        (amount_off(-5), "amount_off_cents"),
        (
            pb::CreateTemplateRequest {
                percent_off: 10,
                ..amount_off(500)
            },
            "percent_off",
        ),
        (
            pb::CreateTemplateRequest {
                kind: pb::DiscountKind::PercentOff as i32,
                amount_off_cents: 0,
                percent_off: 101,
                ..amount_off(0)
            },
            "percent_off",
        ),
        (
            pb::CreateTemplateRequest {
                kind: pb::DiscountKind::SpendThreshold as i32,
                min_spend_cents: 100,
                ..amount_off(500)
            },
            "amount_off_cents",
        ),
        (
            pb::CreateTemplateRequest {
                kind: pb::DiscountKind::GiftItem as i32,
                amount_off_cents: 0,
                ..amount_off(0)
            },
            "gift_item",
        ),
        (
            pb::CreateTemplateRequest {
                valid_days: 0,
                ..amount_off(500)
            },
            "valid_days",
        ),
        (
            pb::CreateTemplateRequest {
                valid_days: 0,
                valid_from_ms: 2000,
                valid_until_ms: 1000,
                ..amount_off(500)
            },
            "valid_until_ms",
        ),
        (
            pb::CreateTemplateRequest {
                total_supply: 0,
                ..amount_off(500)
            },
            "total_supply",
        ),
        (
            pb::CreateTemplateRequest {
                store_ids: vec!["S1".into(), "S1".into()],
                ..amount_off(500)
            },
            "store_ids",
        ),
        (
            pb::CreateTemplateRequest {
                idempotency_key: String::new(),
                ..amount_off(500)
            },
            "idempotency_key",
        ),
    ];
    for (t, field) in cases {
        assert_code(
            admin(&app.channel)
                .create_template(with(&app.admin_key, t))
                .await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    for (req, field) in [
        (
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: template.template_id.clone(),
                count: 0,
            },
            "count",
        ),
        (
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: template.template_id.clone(),
                count: 100_001,
            },
            "count",
        ),
        (
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: "nope".into(),
                count: 5,
            },
            "template_id",
        ),
    ] {
        assert_code(
            admin(&app.channel)
                .start_bulk_issue(with(&app.admin_key, req))
                .await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    assert_code(
        admin(&app.channel)
            .get_template(with(
                &app.admin_key,
                pb::GetTemplateRequest {
                    template_id: uuid::Uuid::now_v7().to_string(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    let after = state_digest(&app.db).await;
    assert_eq!(before, after, "refused requests changed state");
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_template WHERE $1 = $1", "")
            .await,
        1
    );
    app.stop().await;
}

async fn claims_respect_supply_and_per_user_limit_under_a_race(backend: Backend) {
    let app = spawn_engine(backend).await;
    let limited = create_template(
        &app,
        pb::CreateTemplateRequest {
            per_user_limit: 2,
            ..amount_off(300)
        },
    )
    .await;
    claim(&app, "bob", &limited.template_id).await;
    claim(&app, "bob", &limited.template_id).await;
    let third = player(&app.channel)
        .claim_coupon(with(
            &app.token("bob"),
            pb::ClaimCouponRequest {
                idempotency_key: key(),
                template_id: limited.template_id.clone(),
            },
        ))
        .await;
    assert_code(third, Code::ResourceExhausted, None);

    // 40 players race for the last 10 of a template's supply.
    let scarce = create_template(
        &app,
        pb::CreateTemplateRequest {
            total_supply: 10,
            ..amount_off(300)
        },
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let ch = app.channel.clone();
        let token = app.token(&format!("racer-{i}"));
        let id = scarce.template_id.clone();
        tasks.push(tokio::spawn(async move {
            player(&ch)
                .claim_coupon(with(
                    &token,
                    pb::ClaimCouponRequest {
                        idempotency_key: key(),
                        template_id: id,
                    },
                ))
                .await
                .map(|r| r.into_inner().code)
                .map_err(|s| s.code())
        }));
    }
    let mut won = HashSet::new();
    let mut exhausted = 0;
    for t in tasks {
        match t.await.expect("task") {
            Ok(code) => assert!(won.insert(code), "one code handed out twice"),
            Err(Code::ResourceExhausted) => exhausted += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((won.len(), exhausted), (10, 30));
    let t = admin(&app.channel)
        .get_template(with(
            &app.admin_key,
            pb::GetTemplateRequest {
                template_id: scarce.template_id.clone(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!((t.issued, t.total_supply), (10, 10));
    assert_coupon_invariants(&app.db).await;

    // A retry of a claim returns the same coupon and takes no more supply.
    let t3 = create_template(&app, amount_off(100)).await;
    let req = pb::ClaimCouponRequest {
        idempotency_key: key(),
        template_id: t3.template_id.clone(),
    };
    let first = player(&app.channel)
        .claim_coupon(with(&app.token("carol"), req.clone()))
        .await
        .expect("claim")
        .into_inner();
    let again = player(&app.channel)
        .claim_coupon(with(&app.token("carol"), req))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(
        app.db
            .scalar(
                "SELECT issued FROM coupon_template WHERE template_id = $1",
                &t3.template_id
            )
            .await,
        1
    );
    app.stop().await;
}

async fn players_list_only_their_own_coupons(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(250)).await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(claim(&app, "dave", &t.template_id).await.coupon_id);
        app.clock.advance(1);
    }
    claim(&app, "erin", &t.template_id).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = player(&app.channel)
            .list_my_coupons(with(
                &app.token("dave"),
                pb::ListMyCouponsRequest {
                    page_size: 2,
                    page_token: token.clone(),
                },
            ))
            .await
            .expect("list")
            .into_inner();
        assert!(page.coupons.len() <= 2);
        seen.extend(page.coupons.iter().map(|c| c.coupon_id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    mine.reverse(); // newest first
    assert_eq!(seen, mine);
    let erin = player(&app.channel)
        .list_my_coupons(with(
            &app.token("erin"),
            pb::ListMyCouponsRequest::default(),
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(erin.coupons.len(), 1);
    assert!(!mine.contains(&erin.coupons[0].coupon_id));
    // One's own coupon by id; another player's is NOT_FOUND.
    let get = |id: &str| pb::GetMyCouponRequest {
        coupon_id: id.into(),
    };
    let own = player(&app.channel)
        .get_my_coupon(with(&app.token("dave"), get(&mine[0])))
        .await
        .expect("own coupon")
        .into_inner();
    assert_eq!(own.coupon_id, mine[0]);
    assert_eq!(own.code.len(), 16, "the owner sees the full code");
    assert_code(
        player(&app.channel)
            .get_my_coupon(with(&app.token("erin"), get(&mine[0])))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        player(&app.channel)
            .list_my_coupons(with(
                &app.token("erin"),
                pb::ListMyCouponsRequest {
                    page_size: 5,
                    page_token: "garbage".into(),
                },
            ))
            .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    app.stop().await;
}

async fn bulk_issue_of_50000_codes_with_progress_and_csv(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            total_supply: 60_000,
            ..amount_off(1000)
        },
    )
    .await;
    let mut a = admin(&app.channel);
    let job = a
        .start_bulk_issue(with(
            &app.admin_key,
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: t.template_id.clone(),
                count: 50_000,
            },
        ))
        .await
        .expect("start")
        .into_inner();
    assert_eq!(job.requested, 50_000);
    // Not exportable before it is done.
    let mut progress = Vec::new();
    let done = loop {
        let j = a
            .get_bulk_issue_job(with(
                &app.admin_key,
                pb::GetBulkIssueJobRequest {
                    job_id: job.job_id.clone(),
                },
            ))
            .await
            .expect("poll")
            .into_inner();
        progress.push(j.issued);
        if j.state == pb::JobState::Done as i32 {
            break j;
        }
        assert_eq!(j.state, pb::JobState::Running as i32, "{j:?}");
        if progress.len() == 1 {
            // While running, the export is refused.
            let early = a
                .export_bulk_issue_codes(with(
                    &app.admin_key,
                    pb::ExportBulkIssueCodesRequest {
                        job_id: job.job_id.clone(),
                    },
                ))
                .await;
            assert_code(early.map(|_| ()), Code::FailedPrecondition, None);
        }
        assert!(
            progress.len() < 3000,
            "bulk job did not finish: {progress:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(done.issued, 50_000);
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went back"
    );
    let csv = crate::kit::export_csv(&app, &job.job_id).await;
    let lines = csv.lines().skip(1);
    let mut codes = HashSet::new();
    for line in lines {
        let code = line.split(',').next().expect("code column");
        assert!(
            coupon::domain::code::CouponCode::parse(code).is_ok(),
            "bad code in export: {code}"
        );
        assert!(codes.insert(code.to_owned()), "duplicate code {code}");
    }
    assert_eq!(codes.len(), 50_000);
    // A bulk-issued code works at a till.
    let till = pos_key(&app, "S1").await;
    let any = codes.iter().next().expect("a code");
    assert!(validate(&app, &till, any, (5000, vec![])).await.valid);
    // The supply left is 10,000: a larger job is refused and reserves nothing.
    assert_code(
        a.start_bulk_issue(with(
            &app.admin_key,
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: t.template_id.clone(),
                count: 10_001,
            },
        ))
        .await,
        Code::ResourceExhausted,
        None,
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT issued FROM coupon_template WHERE template_id = $1",
                &t.template_id
            )
            .await,
        50_000
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

async fn pool_codes_are_handed_out_once(backend: Backend) {
    let app = spawn_engine(backend).await;
    let mut a = admin(&app.channel);
    let codes: Vec<String> = (0..30).map(|i| format!("TOPUP-{i:04}")).collect();
    let mut with_dupes = codes[..20].to_vec();
    with_dupes.push("TOPUP-0003".into());
    let pool = a
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: String::new(),
                name: "Mobile top-up 10".into(),
                codes: with_dupes,
            },
        ))
        .await
        .expect("import")
        .into_inner();
    assert_eq!((pool.total, pool.duplicates), (20, 1));
    let pool = a
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: pool.pool_id.clone(),
                name: String::new(),
                codes: codes[15..].to_vec(),
            },
        ))
        .await
        .expect("append")
        .into_inner();
    assert_eq!((pool.total, pool.duplicates, pool.handed_out), (30, 5, 0));
    crate::outbox::hand_out_pool_concurrently(&app, &pool.pool_id, 30, 36).await;
    let after = a
        .get_code_pool(with(
            &app.admin_key,
            pb::GetCodePoolRequest {
                pool_id: pool.pool_id.clone(),
            },
        ))
        .await
        .expect("pool")
        .into_inner();
    assert_eq!((after.total, after.handed_out), (30, 30));
    app.stop().await;
}
