//! The coupon service's list RPCs (issue 24), under the engine's paging
//! convention: keyset pages that see every row present when paging began
//! exactly once while coupons are claimed before and after the cursor,
//! filters that narrow, page tokens bound to their list, filters and
//! merchant, the roles, and never a full code in a listing.

use std::collections::{HashMap, HashSet};

use engine_proto::{campaign::v1::Role, coupon::v1 as pb};
use tonic::{Code, Status};

use crate::{
    helpers::{Backend, DAY, T0, TestApp, assert_code, other_merchant, with},
    kit::{
        admin, amount_off, bulk_issue, claim, create_template, export_csv, pos, pos_key,
        redeem_req, spawn_engine,
    },
};

both_backends!(
    coupons_page_through_a_thousand_while_more_are_claimed,
    coupon_filters_roles_and_tokens,
);

/// A code as stored: no dashes or spaces, upper case.
pub(crate) fn normalised(code: &str) -> String {
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
