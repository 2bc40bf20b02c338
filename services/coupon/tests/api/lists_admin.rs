//! The coupon service's other lists (issue 24): templates, code pools,
//! bulk issue jobs and redemptions, under the paging convention of
//! `lists.rs` (docs/api.md "Paging"): filters, token binding, roles.

use engine_proto::{campaign::v1::Role, coupon::v1 as pb};
use tonic::{Code, Status};

use crate::{
    helpers::{Backend, DAY, T0, TestApp, assert_code, key, other_merchant, with},
    kit::{
        admin, amount_off, bulk_issue, claim, create_template, pos, pos_key, redeem_req,
        spawn_engine,
    },
    lists::normalised,
};

both_backends!(
    templates_pools_and_jobs_list_and_filter,
    redemptions_list_by_store_template_time_and_reversal,
);

async fn templates(
    app: &TestApp,
    credential: &str,
    req: pb::ListTemplatesRequest,
) -> Result<pb::ListTemplatesResponse, Status> {
    admin(&app.channel)
        .list_templates(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

/// The names of every page of a template list.
async fn template_names(app: &TestApp, mut req: pb::ListTemplatesRequest) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let page = templates(app, &app.admin_key, req.clone())
            .await
            .expect("page");
        out.extend(page.templates.into_iter().map(|t| t.name));
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

async fn pools(
    app: &TestApp,
    credential: &str,
    req: pb::ListCodePoolsRequest,
) -> Result<pb::ListCodePoolsResponse, Status> {
    admin(&app.channel)
        .list_code_pools(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

async fn jobs(
    app: &TestApp,
    credential: &str,
    req: pb::ListBulkIssueJobsRequest,
) -> Result<pb::ListBulkIssueJobsResponse, Status> {
    admin(&app.channel)
        .list_bulk_issue_jobs(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

async fn templates_pools_and_jobs_list_and_filter(backend: Backend) {
    let app = spawn_engine(backend).await;
    // Templates a minute apart, the newest last; `%` and `_` are plain
    // characters to name_prefix (no LIKE).
    let mut made = Vec::new();
    for (i, (name, percent)) in [
        ("春节满减", false),
        ("春节折扣", true),
        ("中秋", false),
        ("50% off", true),
        ("500 off", false),
        ("5_0 off", false),
    ]
    .into_iter()
    .enumerate()
    {
        app.clock.set(T0 + i as i64 * 60_000);
        let mut req = amount_off(100);
        req.name = name.into();
        if percent {
            req.kind = pb::DiscountKind::PercentOff as i32;
            req.amount_off_cents = 0;
            req.percent_off = 10;
        }
        made.push(create_template(&app, req).await);
    }
    let list = |f: &dyn Fn(&mut pb::ListTemplatesRequest)| {
        let mut r = pb::ListTemplatesRequest {
            page_size: 1,
            ..Default::default()
        };
        f(&mut r);
        r
    };
    assert_eq!(
        template_names(&app, list(&|_| {})).await,
        [
            "5_0 off",
            "500 off",
            "50% off",
            "中秋",
            "春节折扣",
            "春节满减"
        ]
    );
    assert_eq!(
        template_names(&app, list(&|r| r.name_prefix = "春节".into())).await,
        ["春节折扣", "春节满减"]
    );
    assert!(
        template_names(&app, list(&|r| r.name_prefix = "节".into()))
            .await
            .is_empty()
    );
    assert_eq!(
        template_names(&app, list(&|r| r.name_prefix = "50%".into())).await,
        ["50% off"]
    );
    assert_eq!(
        template_names(&app, list(&|r| r.name_prefix = "5_".into())).await,
        ["5_0 off"]
    );
    assert_eq!(
        template_names(
            &app,
            list(&|r| r.kind = pb::DiscountKind::PercentOff as i32)
        )
        .await,
        ["50% off", "春节折扣"]
    );
    assert_eq!(
        template_names(
            &app,
            list(&|r| {
                r.kind = pb::DiscountKind::AmountOff as i32;
                r.name_prefix = "春".into();
            })
        )
        .await,
        ["春节满减"]
    );
    let whole = templates(&app, &app.admin_key, list(&|r| r.page_size = 0))
        .await
        .expect("one page");
    assert_eq!(whole.templates.len(), 6);
    assert!(whole.next_page_token.is_empty());
    assert_eq!(whole.templates[5], made[0], "each template whole");

    // Pools, newest first, counted as GetCodePool counts them.
    let mut a = admin(&app.channel);
    let mut pool_ids = Vec::new();
    for (i, n) in [3usize, 5, 2].into_iter().enumerate() {
        app.clock.set(T0 + DAY + i as i64 * 1000);
        let pool = a
            .import_pool_codes(with(
                &app.admin_key,
                pb::ImportPoolCodesRequest {
                    idempotency_key: key(),
                    pool_id: String::new(),
                    name: format!("pool {i}"),
                    codes: (0..n).map(|c| format!("TOPUP-{i}-{c}")).collect(),
                },
            ))
            .await
            .expect("import")
            .into_inner();
        pool_ids.push(pool.pool_id);
    }
    let mut listed = Vec::new();
    let mut req = pb::ListCodePoolsRequest {
        page_size: 2,
        ..Default::default()
    };
    loop {
        let page = pools(&app, &app.admin_key, req.clone())
            .await
            .expect("page");
        listed.extend(page.pools);
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    let ids: Vec<&str> = listed.iter().map(|p| p.pool_id.as_str()).collect();
    assert_eq!(ids, [&pool_ids[2], &pool_ids[1], &pool_ids[0]]);
    for p in &listed {
        let got = a
            .get_code_pool(with(
                &app.admin_key,
                pb::GetCodePoolRequest {
                    pool_id: p.pool_id.clone(),
                },
            ))
            .await
            .expect("get pool")
            .into_inner();
        assert_eq!(p, &got);
    }
    assert_eq!(
        listed.iter().map(|p| p.total).collect::<Vec<_>>(),
        [2, 5, 3]
    );

    // Bulk jobs: by template and by state.
    app.clock.set(T0 + 2 * DAY);
    let j1 = bulk_issue(&app, &made[0].template_id, 2).await;
    let j2 = bulk_issue(&app, &made[1].template_id, 2).await;
    let j3 = bulk_issue(&app, &made[0].template_id, 1).await;
    let job_ids =
        |r: pb::ListBulkIssueJobsResponse| r.jobs.into_iter().map(|j| j.job_id).collect::<Vec<_>>();
    let all_jobs = jobs(&app, &app.admin_key, Default::default())
        .await
        .expect("jobs");
    let ids = job_ids(all_jobs.clone());
    let expected = {
        let mut v = vec![j1.clone(), j2.clone(), j3.clone()];
        v.sort_by(|a, b| (b.created_at_ms, &b.job_id).cmp(&(a.created_at_ms, &a.job_id)));
        v.into_iter().map(|j| j.job_id).collect::<Vec<_>>()
    };
    assert_eq!(ids, expected);
    let of_first = jobs(
        &app,
        &app.admin_key,
        pb::ListBulkIssueJobsRequest {
            template_id: made[0].template_id.clone(),
            page_size: 1,
            ..Default::default()
        },
    )
    .await
    .expect("first page");
    assert_eq!(of_first.jobs.len(), 1);
    let rest = jobs(
        &app,
        &app.admin_key,
        pb::ListBulkIssueJobsRequest {
            template_id: made[0].template_id.clone(),
            page_size: 1,
            page_token: of_first.next_page_token.clone(),
            ..Default::default()
        },
    )
    .await
    .expect("second page");
    let mut of_first_ids = job_ids(of_first.clone());
    of_first_ids.extend(job_ids(rest.clone()));
    of_first_ids.sort();
    let mut want = vec![j1.job_id.clone(), j3.job_id.clone()];
    want.sort();
    assert_eq!(of_first_ids, want);
    assert!(rest.next_page_token.is_empty());
    let by_state = |s: pb::JobState| pb::ListBulkIssueJobsRequest {
        state: s as i32,
        ..Default::default()
    };
    assert_eq!(
        jobs(&app, &app.admin_key, by_state(pb::JobState::Done))
            .await
            .expect("done")
            .jobs
            .len(),
        3
    );
    assert!(
        jobs(&app, &app.admin_key, by_state(pb::JobState::Failed))
            .await
            .expect("failed")
            .jobs
            .is_empty()
    );
    assert_code(
        jobs(
            &app,
            &app.admin_key,
            pb::ListBulkIssueJobsRequest {
                template_id: made[1].template_id.clone(),
                page_token: of_first.next_page_token.clone(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );

    // Tokens bind filters and merchant.
    let first = templates(&app, &app.admin_key, list(&|_| {}))
        .await
        .expect("first");
    let token = first.next_page_token.clone();
    assert_code(
        templates(
            &app,
            &app.admin_key,
            list(&|r| {
                r.page_token = token.clone();
                r.name_prefix = "春".into();
            }),
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert_code(
        templates(
            &app,
            &app.admin_key,
            list(&|r| {
                r.page_token = token.clone();
                r.kind = pb::DiscountKind::GiftItem as i32;
            }),
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        templates(&app, &other, list(&|r| r.page_token = token.clone())).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    // A template list's token is no pool list's.
    assert_code(
        pools(
            &app,
            &app.admin_key,
            pb::ListCodePoolsRequest {
                page_token: token.clone(),
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert!(
        templates(&app, &other, list(&|r| r.page_size = 0))
            .await
            .expect("theirs")
            .templates
            .is_empty()
    );
    assert!(
        pools(&app, &other, Default::default())
            .await
            .expect("theirs")
            .pools
            .is_empty()
    );
    assert!(
        jobs(&app, &other, Default::default())
            .await
            .expect("theirs")
            .jobs
            .is_empty()
    );

    // Bad requests name their field.
    for (r, field) in [
        (list(&|r| r.page_size = -1), "page_size"),
        (list(&|r| r.kind = 99), "kind"),
        (list(&|r| r.name_prefix = "长".repeat(101)), "name_prefix"),
    ] {
        assert_code(
            templates(&app, &app.admin_key, r).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    for (r, field) in [
        (
            pb::ListBulkIssueJobsRequest {
                state: 9,
                ..Default::default()
            },
            "state",
        ),
        (
            pb::ListBulkIssueJobsRequest {
                template_id: "x".into(),
                ..Default::default()
            },
            "template_id",
        ),
        (
            pb::ListBulkIssueJobsRequest {
                page_size: -3,
                ..Default::default()
            },
            "page_size",
        ),
    ] {
        assert_code(
            jobs(&app, &app.admin_key, r).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    assert_code(
        pools(
            &app,
            &app.admin_key,
            pb::ListCodePoolsRequest {
                page_size: -1,
                ..Default::default()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("page_size"),
    );

    // Roles: the auditor reads all three; a till, a player or nobody not.
    let auditor = app.api_key(Role::Auditor, "").await;
    assert_eq!(
        templates(&app, &auditor, list(&|r| r.page_size = 0))
            .await
            .expect("auditor")
            .templates
            .len(),
        6
    );
    assert_eq!(
        pools(&app, &auditor, Default::default())
            .await
            .expect("auditor")
            .pools
            .len(),
        3
    );
    assert_eq!(
        jobs(&app, &auditor, Default::default())
            .await
            .expect("auditor")
            .jobs,
        all_jobs.jobs
    );
    let till = pos_key(&app, "S1").await;
    for credential in [till.as_str(), &app.token("fan")] {
        assert_code(
            templates(&app, credential, list(&|_| {})).await,
            Code::PermissionDenied,
            None,
        );
        assert_code(
            pools(&app, credential, Default::default()).await,
            Code::PermissionDenied,
            None,
        );
        assert_code(
            jobs(&app, credential, Default::default()).await,
            Code::PermissionDenied,
            None,
        );
    }
    assert_code(
        templates(&app, "", list(&|_| {})).await,
        Code::Unauthenticated,
        None,
    );
    assert_code(
        pools(&app, "", Default::default()).await,
        Code::Unauthenticated,
        None,
    );
    assert_code(
        jobs(&app, "", Default::default()).await,
        Code::Unauthenticated,
        None,
    );
    app.stop().await;
}

async fn redemptions(
    app: &TestApp,
    credential: &str,
    req: pb::ListRedemptionsRequest,
) -> Result<pb::ListRedemptionsResponse, Status> {
    admin(&app.channel)
        .list_redemptions(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

/// The redemption ids of every page, following the tokens.
async fn all_redemptions(
    app: &TestApp,
    credential: &str,
    mut req: pb::ListRedemptionsRequest,
) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let page = redemptions(app, credential, req.clone())
            .await
            .expect("page");
        out.extend(page.redemptions.into_iter().map(|r| r.redemption_id));
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

async fn redemptions_list_by_store_template_time_and_reversal(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t1 = create_template(&app, amount_off(300)).await;
    let t2 = create_template(&app, amount_off(500)).await;
    let s1 = pos_key(&app, "S1").await;
    let s2 = pos_key(&app, "S2").await;
    // Six redemptions an hour apart: t1 at S1, S2, S1; t2 at S2, S1, S2.
    let mut made = Vec::new();
    let mut codes = Vec::new();
    for (i, (t, till)) in [
        (&t1, &s1),
        (&t2, &s2),
        (&t1, &s2),
        (&t2, &s1),
        (&t1, &s1),
        (&t2, &s2),
    ]
    .into_iter()
    .enumerate()
    {
        app.clock.set(T0 + i as i64 * 3_600_000);
        let c = claim(&app, &format!("fan-{i}"), &t.template_id).await;
        let r = pos(&app.channel)
            .redeem_coupon(with(till, redeem_req(&c.code, 10_000)))
            .await
            .expect("redeem")
            .into_inner();
        codes.push(normalised(&c.code));
        made.push(r);
    }
    // The first S1 redemption is refunded.
    pos(&app.channel)
        .reverse_redemption(with(
            &s1,
            pb::ReverseRedemptionRequest {
                idempotency_key: key(),
                redemption_id: made[0].redemption_id.clone(),
                reason: "refund".into(),
            },
        ))
        .await
        .expect("reverse");
    let ids = |is: &[usize]| {
        is.iter()
            .map(|i| made[*i].redemption_id.clone())
            .collect::<Vec<_>>()
    };
    let req = |f: &dyn Fn(&mut pb::ListRedemptionsRequest)| {
        let mut r = pb::ListRedemptionsRequest {
            page_size: 2,
            ..Default::default()
        };
        f(&mut r);
        r
    };
    let key_ = &app.admin_key;
    assert_eq!(
        all_redemptions(&app, key_, req(&|_| {})).await,
        ids(&[5, 4, 3, 2, 1, 0]),
        "newest first, reversed ones included"
    );
    assert_eq!(
        all_redemptions(&app, key_, req(&|r| r.include_reversed = Some(false))).await,
        ids(&[5, 4, 3, 2, 1])
    );
    assert_eq!(
        all_redemptions(&app, key_, req(&|r| r.store_id = "S1".into())).await,
        ids(&[4, 3, 0])
    );
    assert_eq!(
        all_redemptions(&app, key_, req(&|r| r.template_id = t2.template_id.clone())).await,
        ids(&[5, 3, 1])
    );
    assert_eq!(
        all_redemptions(
            &app,
            key_,
            req(&|r| {
                r.from_ms = T0 + 3_600_000;
                r.until_ms = T0 + 4 * 3_600_000;
            })
        )
        .await,
        ids(&[3, 2, 1]),
        "[from, until)"
    );
    assert_eq!(
        all_redemptions(
            &app,
            key_,
            req(&|r| {
                r.store_id = "S1".into();
                r.template_id = t1.template_id.clone();
                r.include_reversed = Some(false);
            })
        )
        .await,
        ids(&[4])
    );
    let page = redemptions(&app, key_, req(&|r| r.page_size = 0))
        .await
        .expect("one page");
    assert!(!page.redemptions[5].reversal_id.is_empty(), "reversed");
    for (r, code) in page.redemptions.iter().rev().zip(&codes) {
        assert_eq!(r.code_tail, code[9..], "the receipt's tail");
    }
    let shown = normalised(&format!("{page:?}"));
    assert!(codes.iter().all(|c| !shown.contains(c.as_str())));

    // A till lists its own store's only.
    assert_eq!(
        all_redemptions(&app, &s1, req(&|_| {})).await,
        ids(&[4, 3, 0])
    );
    assert_eq!(
        all_redemptions(&app, &s2, req(&|r| r.store_id = "S2".into())).await,
        ids(&[5, 2, 1])
    );
    assert_code(
        redemptions(&app, &s1, req(&|r| r.store_id = "S2".into())).await,
        Code::PermissionDenied,
        None,
    );
    // Its token does not continue another store's list.
    let till_first = redemptions(&app, &s1, req(&|_| {})).await.expect("till");
    assert_code(
        redemptions(
            &app,
            &s2,
            req(&|r| r.page_token = till_first.next_page_token.clone()),
        )
        .await,
        Code::InvalidArgument,
        Some("page_token"),
    );

    // Tokens bind filters and merchant.
    let first = redemptions(&app, key_, req(&|_| {})).await.expect("first");
    let token = first.next_page_token.clone();
    for r in [
        req(&|r| {
            r.page_token = token.clone();
            r.include_reversed = Some(false);
        }),
        req(&|r| {
            r.page_token = token.clone();
            r.from_ms = T0;
        }),
        req(&|r| {
            r.page_token = token.clone();
            r.template_id = t1.template_id.clone();
        }),
    ] {
        assert_code(
            redemptions(&app, key_, r).await,
            Code::InvalidArgument,
            Some("page_token"),
        );
    }
    // Unset include_reversed is true: the same request as the first page.
    assert_eq!(
        redemptions(
            &app,
            key_,
            req(&|r| {
                r.page_token = token.clone();
                r.include_reversed = Some(true);
            })
        )
        .await
        .expect("same filters")
        .redemptions
        .len(),
        2
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        redemptions(&app, &other, req(&|r| r.page_token = token.clone())).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert!(
        redemptions(&app, &other, req(&|_| {}))
            .await
            .expect("theirs")
            .redemptions
            .is_empty()
    );

    // Bad requests name their field; roles.
    for (r, field) in [
        (req(&|r| r.page_size = -1), "page_size"),
        (req(&|r| r.from_ms = -1), "from_ms"),
        (req(&|r| r.until_ms = -1), "until_ms"),
        (
            req(&|r| {
                r.from_ms = T0;
                r.until_ms = T0;
            }),
            "until_ms",
        ),
        (req(&|r| r.template_id = "nope".into()), "template_id"),
    ] {
        assert_code(
            redemptions(&app, key_, r).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    let auditor = app.api_key(Role::Auditor, "").await;
    assert_eq!(all_redemptions(&app, &auditor, req(&|_| {})).await.len(), 6);
    assert_code(
        redemptions(&app, &app.token("fan-0"), req(&|_| {})).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        redemptions(&app, "", req(&|_| {})).await,
        Code::Unauthenticated,
        None,
    );
    app.stop().await;
}
