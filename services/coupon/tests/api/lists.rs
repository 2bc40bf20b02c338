//! The coupon service's list RPCs (issue 24), under the engine's paging
//! convention: keyset pages that see every row present when paging began
//! exactly once while coupons are claimed before and after the cursor,
//! filters that narrow, page tokens bound to their list, filters and
//! merchant, the roles, and never a full code in a listing.

use std::collections::{HashMap, HashSet};

use engine_proto::{campaign::v1::Role, coupon::v1 as pb};
use tonic::{Code, Status};

use crate::{
    helpers::{Backend, DAY, T0, TestApp, assert_code, key, other_merchant, with},
    kit::{
        admin, amount_off, claim, create_template, export_csv, pos, pos_key, redeem_req,
        spawn_engine,
    },
};

both_backends!(
    coupons_page_through_a_thousand_while_more_are_claimed,
    coupon_filters_roles_and_tokens,
    templates_pools_and_jobs_list_and_filter,
    redemptions_list_by_store_template_time_and_reversal,
);

/// A code as stored: no dashes or spaces, upper case.
fn normalised(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_uppercase()
}

async fn coupons(
    app: &TestApp,
    credential: &str,
    req: pb::ListCouponsRequest,
) -> Result<pb::ListCouponsResponse, Status> {
    admin(&app.channel)
        .list_coupons(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

fn coupons_req(template_id: &str, page_size: i32, page_token: &str) -> pb::ListCouponsRequest {
    pb::ListCouponsRequest {
        template_id: template_id.into(),
        page_size,
        page_token: page_token.into(),
        ..Default::default()
    }
}

/// Every page of a coupon list, following the tokens.
async fn all_coupons(
    app: &TestApp,
    credential: &str,
    mut req: pb::ListCouponsRequest,
) -> Vec<pb::CouponSummary> {
    let mut out = Vec::new();
    loop {
        let page = coupons(app, credential, req.clone()).await.expect("page");
        out.extend(page.coupons);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

/// Starts a bulk issue job and waits until it is DONE.
async fn bulk_issue(app: &TestApp, template_id: &str, count: i64) -> pb::BulkIssueJob {
    let mut a = admin(&app.channel);
    let job = a
        .start_bulk_issue(with(
            &app.admin_key,
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: template_id.into(),
                count,
            },
        ))
        .await
        .expect("start bulk issue")
        .into_inner();
    for _ in 0..600 {
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
        if j.state == pb::JobState::Done as i32 {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("bulk issue job {} did not finish", job.job_id);
}

async fn coupons_page_through_a_thousand_while_more_are_claimed(backend: Backend) {
    // Arrange: 1,100 coupons of one template issued at T0 (so the coupon
    // id alone orders most of them), and 20 claimed at earlier instants.
    let app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            total_supply: 5_000,
            ..amount_off(500)
        },
    )
    .await;
    let mut codes: HashSet<String> = HashSet::new();
    let mut before: HashSet<String> = HashSet::new();
    for i in 0..20 {
        app.clock.set(T0 - 100 + i * 3);
        let c = claim(&app, &format!("early-{i}"), &t.template_id).await;
        codes.insert(normalised(&c.code));
        before.insert(c.coupon_id);
    }
    app.clock.set(T0);
    let job = bulk_issue(&app, &t.template_id, 1_100).await;
    let csv = export_csv(&app, &job.job_id).await;
    for line in csv.lines().skip(1) {
        let mut cols = line.split(',');
        codes.insert(normalised(cols.next().expect("code")));
        before.insert(cols.next().expect("coupon id").to_owned());
    }
    assert_eq!(before.len(), 1_120);

    // Act: pages of 37; between pages, claim coupons dated in the part
    // already read (they must not appear), in the part not read yet (they
    // must appear, once) and at the cursor's own instant (either, once).
    let mut seen: Vec<pb::CouponSummary> = Vec::new();
    let mut behind = HashSet::new();
    let mut ahead = HashSet::new();
    let mut answers = String::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = coupons(
            &app,
            &app.admin_key,
            coupons_req(&t.template_id, 37, &token),
        )
        .await
        .expect("page");
        assert!(page.coupons.len() <= 37);
        answers.push_str(&format!("{page:?}"));
        pages += 1;
        seen.extend(page.coupons);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        let cursor = seen.last().expect("a full page").issued_at_ms;
        for (at, into) in [
            (cursor + 1, &mut behind),
            (cursor - 1, &mut ahead),
            (cursor, &mut HashSet::new()),
        ] {
            app.clock.set(at);
            let c = claim(&app, &format!("late-{pages}-{at}"), &t.template_id).await;
            codes.insert(normalised(&c.code));
            into.insert(c.coupon_id);
        }
        assert!(pages < 100, "paging does not end");
    }
    app.clock.set(T0);

    // Assert: newest first, strictly, so no coupon twice.
    for w in seen.windows(2) {
        let key = |c: &pb::CouponSummary| (c.issued_at_ms, c.coupon_id.clone());
        assert!(
            key(&w[0]) > key(&w[1]),
            "order: {:?} then {:?}",
            key(&w[0]),
            key(&w[1])
        );
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for c in &seen {
        *count.entry(c.coupon_id.as_str()).or_default() += 1;
    }
    for id in &before {
        assert_eq!(count.get(id.as_str()), Some(&1), "{id} seen once");
    }
    for id in &ahead {
        assert_eq!(count.get(id.as_str()), Some(&1), "added ahead {id} once");
    }
    for id in &behind {
        assert_eq!(count.get(id.as_str()), None, "added behind {id} not seen");
    }
    assert!(pages >= 31, "{pages} pages");
    // No full code anywhere in the answers: only tails of four.
    assert!(seen.iter().all(|c| c.code_tail.len() == 4));
    let answers = normalised(&answers);
    for code in &codes {
        assert!(!answers.contains(code.as_str()), "a full code was listed");
    }
    let by_id: HashMap<&str, &pb::CouponSummary> =
        seen.iter().map(|c| (c.coupon_id.as_str(), c)).collect();
    let sources: HashSet<&str> = by_id.values().map(|c| c.source.as_str()).collect();
    assert_eq!(sources, HashSet::from(["claim", "bulk"]));
    app.stop().await;
}

async fn coupon_filters_roles_and_tokens(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(300)).await;
    let other_t = create_template(&app, amount_off(400)).await;
    // c1 claimed at T0 (valid 30 days), c2 and c3 at T0 + 20 days; c3
    // redeemed; three bulk coupons at T0 + 20 days.
    let c1 = claim(&app, "ann", &t.template_id).await;
    app.clock.set(T0 + 20 * DAY);
    let c2 = claim(&app, "bob", &t.template_id).await;
    let c3 = claim(&app, "cai", &t.template_id).await;
    let till = pos_key(&app, "S1").await;
    pos(&app.channel)
        .redeem_coupon(with(&till, redeem_req(&c3.code, 5_000)))
        .await
        .expect("redeem");
    bulk_issue(&app, &t.template_id, 3).await;
    claim(&app, "ann", &other_t.template_id).await;
    app.clock.set(T0 + 35 * DAY);

    let filtered = |f: &dyn Fn(&mut pb::ListCouponsRequest)| {
        let mut r = coupons_req(&t.template_id, 2, "");
        f(&mut r);
        r
    };
    let all = all_coupons(&app, &app.admin_key, filtered(&|_| {})).await;
    assert_eq!(all.len(), 6, "this template's coupons only");
    let state = |s: pb::CouponState| filtered(&|r| r.state = s as i32);
    let ids =
        |list: Vec<pb::CouponSummary>| list.into_iter().map(|c| c.coupon_id).collect::<Vec<_>>();
    let expired = all_coupons(&app, &app.admin_key, state(pb::CouponState::Expired)).await;
    assert_eq!(ids(expired), [c1.coupon_id.as_str()]);
    let redeemed = all_coupons(&app, &app.admin_key, state(pb::CouponState::Redeemed)).await;
    assert_eq!(ids(redeemed), [c3.coupon_id.as_str()]);
    let issued = ids(all_coupons(&app, &app.admin_key, state(pb::CouponState::Issued)).await);
    assert_eq!(issued.len(), 4, "c2 and the bulk coupons");
    assert!(issued.contains(&c2.coupon_id));
    let claimed = all_coupons(
        &app,
        &app.admin_key,
        filtered(&|r| r.source = "claim".into()),
    )
    .await;
    assert_eq!(claimed.len(), 3);
    let bulk = all_coupons(
        &app,
        &app.admin_key,
        filtered(&|r| r.source = "bulk".into()),
    )
    .await;
    assert_eq!(bulk.len(), 3);
    assert!(
        bulk.iter().all(|c| c.player_id.is_empty()),
        "nobody holds them"
    );
    let prizes = all_coupons(
        &app,
        &app.admin_key,
        filtered(&|r| r.source = "prize".into()),
    )
    .await;
    assert!(prizes.is_empty());

    // Tails, states and owners: the owner to admins only.
    let row = |list: &[pb::CouponSummary], id: &str| {
        list.iter()
            .find(|c| c.coupon_id == id)
            .cloned()
            .expect("listed")
    };
    let r3 = row(&all, &c3.coupon_id);
    assert_eq!(r3.code_tail, normalised(&c3.code)[9..]);
    assert_eq!(r3.state, pb::CouponState::Redeemed as i32);
    assert!(!r3.redemption_id.is_empty());
    assert_eq!(r3.player_id, "cai");
    assert_eq!(
        row(&all, &c1.coupon_id).state,
        pb::CouponState::Expired as i32
    );
    let auditor = app.api_key(Role::Auditor, "").await;
    let seen_by_auditor = all_coupons(&app, &auditor, filtered(&|_| {})).await;
    assert_eq!(seen_by_auditor.len(), 6);
    assert!(seen_by_auditor.iter().all(|c| c.player_id.is_empty()));
    assert_eq!(row(&seen_by_auditor, &c3.coupon_id).code_tail, r3.code_tail);
    let everything = format!("{all:?}{seen_by_auditor:?}");
    for c in [&c1, &c2, &c3] {
        assert!(!normalised(&everything).contains(&normalised(&c.code)));
    }

    // A token continues only its own request.
    let first = coupons(&app, &app.admin_key, filtered(&|_| {}))
        .await
        .expect("first");
    let token = first.next_page_token.clone();
    assert!(!token.is_empty());
    for req in [
        filtered(&|r| {
            r.page_token = token.clone();
            r.state = pb::CouponState::Issued as i32;
        }),
        filtered(&|r| {
            r.page_token = token.clone();
            r.source = "claim".into();
        }),
        pb::ListCouponsRequest {
            template_id: other_t.template_id.clone(),
            ..filtered(&|r| r.page_token = token.clone())
        },
        filtered(&|r| r.page_token = format!("{token}A")),
        filtered(&|r| r.page_token = "not-a-token".into()),
    ] {
        assert_code(
            coupons(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some("page_token"),
        );
    }
    let other = other_merchant(&app.db).await;
    assert_code(
        coupons(&app, &other, filtered(&|r| r.page_token = token.clone())).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    // Another merchant's template is not there for the other.
    assert_code(
        coupons(&app, &other, filtered(&|_| {})).await,
        Code::NotFound,
        None,
    );
    let theirs = admin(&app.channel)
        .create_template(with(&other, amount_off(100)))
        .await
        .expect("their template")
        .into_inner();
    let foreign = coupons(
        &app,
        &app.admin_key,
        coupons_req(&theirs.template_id, 0, ""),
    )
    .await
    .expect_err("another merchant's template");
    let missing = coupons(
        &app,
        &app.admin_key,
        coupons_req("0190a1b2-0000-7000-8000-00000000beef", 0, ""),
    )
    .await
    .expect_err("no such template");
    assert_eq!(foreign.code(), Code::NotFound);
    assert_eq!(
        (foreign.code(), foreign.message()),
        (missing.code(), missing.message()),
        "answered as a template that does not exist"
    );
    assert!(
        coupons(&app, &other, coupons_req(&theirs.template_id, 0, ""))
            .await
            .expect("their own")
            .coupons
            .is_empty()
    );

    // Bad requests name their field; roles.
    for (req, field) in [
        (filtered(&|r| r.page_size = -1), "page_size"),
        (filtered(&|r| r.state = 99), "state"),
        (filtered(&|r| r.source = "gift".into()), "source"),
        (filtered(&|r| r.template_id = String::new()), "template_id"),
        (filtered(&|r| r.template_id = "t-1".into()), "template_id"),
    ] {
        assert_code(
            coupons(&app, &app.admin_key, req).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    assert_code(
        coupons(&app, &till, filtered(&|_| {})).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        coupons(&app, &app.token("ann"), filtered(&|_| {})).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        coupons(&app, "", filtered(&|_| {})).await,
        Code::Unauthenticated,
        None,
    );
    app.stop().await;
}

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
