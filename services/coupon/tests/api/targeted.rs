//! Targeted issue (issue 24): a template's coupons issued to a list of
//! openids as one idempotent job, its report, and what fans see.

use std::collections::HashSet;

use engine_proto::{campaign::v1 as cpb, coupon::v1 as pb};
use tonic::Code;

use crate::{
    helpers::{Backend, DAY, assert_code, key, other_merchant, with},
    kit::{
        admin, amount_off, assert_coupon_invariants, claim, create_template, fixed_window, player,
        pos_key, spawn_engine, start_targeted, target_results, validate, wait_targeted,
    },
};

both_backends!(
    a_list_with_duplicates_and_fans_at_their_limit,
    supply_smaller_than_the_list_is_never_exceeded,
    the_same_request_twice_is_one_job_and_a_second_job_adds_nothing,
    an_expired_template_refuses_every_target,
    a_list_in_parts_up_to_the_limit,
    a_crash_and_a_second_replica_never_issue_twice,
    roles_and_bad_input_are_refused,
);

fn code<T>(r: Result<T, tonic::Status>) -> Code {
    r.err().map_or(Code::Ok, |s| s.code())
}

fn openids(v: &[&str]) -> Vec<String> {
    v.iter().map(|o| (*o).to_owned()).collect()
}

fn create_req(template_id: &str, list: Vec<String>, start: bool) -> pb::CreateTargetedIssueRequest {
    pb::CreateTargetedIssueRequest {
        idempotency_key: key(),
        template_id: template_id.into(),
        openids: list,
        start,
    }
}

/// A per-user limit of 1: a fan who claimed one is refused, duplicates
/// count once, the others get one each, see it in ListMyCoupons as a
/// claimed one and can use it at a till.
async fn a_list_with_duplicates_and_fans_at_their_limit(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            per_user_limit: 1,
            ..amount_off(500)
        },
    )
    .await;
    let claimed = claim(&app, "o-alice", &t.template_id).await;
    let list = [
        "o-bob", "o-alice", "o-carol", "o-bob", "o-dave", "o-carol", "o-bob",
    ];
    let job = start_targeted(&app, &t.template_id, &list).await;
    assert_eq!((job.received, job.targets), (7, 4), "{job:?}");
    let done = wait_targeted(&app, &job.job_id).await;
    assert_eq!(
        (done.issued, done.refused, done.pending),
        (3, 1, 0),
        "{done:?}"
    );
    assert_eq!(
        (
            done.refused_per_user_limit,
            done.refused_supply_exhausted,
            done.refused_template_expired
        ),
        (1, 0, 0)
    );
    assert!(done.finished_at_ms >= done.started_at_ms && done.started_at_ms > 0);

    // The report: one line per distinct openid, in upload order.
    let report = target_results(
        &app,
        &app.admin_key,
        &job.job_id,
        pb::TargetOutcome::Unspecified,
        2,
    )
    .await;
    let order: Vec<&str> = report.iter().map(|r| r.openid.as_str()).collect();
    assert_eq!(order, vec!["o-bob", "o-alice", "o-carol", "o-dave"]);
    for r in &report {
        if r.openid == "o-alice" {
            assert_eq!(r.outcome, pb::TargetOutcome::Refused as i32);
            assert_eq!(r.refusal, pb::TargetRefusal::PerUserLimit as i32);
            assert!(r.coupon_id.is_empty());
        } else {
            assert_eq!(r.outcome, pb::TargetOutcome::Issued as i32, "{r:?}");
            assert_eq!(r.refusal, pb::TargetRefusal::Unspecified as i32);
            assert!(!r.coupon_id.is_empty());
        }
        assert!(r.decided_at_ms > 0);
    }
    let refused = target_results(
        &app,
        &app.admin_key,
        &job.job_id,
        pb::TargetOutcome::Refused,
        0,
    )
    .await;
    assert_eq!(refused.len(), 1);
    // Auditors read the report without the openids.
    let auditor = app.api_key(cpb::Role::Auditor, "").await;
    let seen = target_results(&app, &auditor, &job.job_id, pb::TargetOutcome::Issued, 0).await;
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|r| r.openid.is_empty() && !r.coupon_id.is_empty())
    );

    // Fans see their coupon as a claimed one: full code, their own list.
    let till = pos_key(&app, "S1").await;
    for fan in ["o-bob", "o-carol", "o-dave"] {
        let mine = player(&app.channel)
            .list_my_coupons(with(
                &app.token(fan),
                pb::ListMyCouponsRequest {
                    page_size: 10,
                    page_token: String::new(),
                },
            ))
            .await
            .expect("list mine")
            .into_inner()
            .coupons;
        assert_eq!(mine.len(), 1, "{fan}: {mine:?}");
        let c = &mine[0];
        assert_eq!(c.source, "targeted");
        assert_eq!(c.template_id, t.template_id);
        assert_eq!(c.code.len(), 16, "the full code, XXXX-XXXX-XXXX-C");
        let line = report.iter().find(|r| r.openid == fan).expect("in report");
        assert_eq!(line.coupon_id, c.coupon_id);
        let one = player(&app.channel)
            .get_my_coupon(with(
                &app.token(fan),
                pb::GetMyCouponRequest {
                    coupon_id: c.coupon_id.clone(),
                },
            ))
            .await
            .expect("get mine")
            .into_inner();
        assert_eq!(one.code, c.code);
        assert!(validate(&app, &till, &c.code, (5000, vec![])).await.valid);
    }
    // Alice keeps her claimed one, and only it.
    let alice = player(&app.channel)
        .list_my_coupons(with(
            &app.token("o-alice"),
            pb::ListMyCouponsRequest::default(),
        ))
        .await
        .expect("alice's list")
        .into_inner()
        .coupons;
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].coupon_id, claimed.coupon_id);
    // The staff list filters them by source.
    let listed = admin(&app.channel)
        .list_coupons(with(
            &app.admin_key,
            pb::ListCouponsRequest {
                template_id: t.template_id.clone(),
                source: "targeted".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("list coupons")
        .into_inner()
        .coupons;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|c| c.source == "targeted"));
    let after = admin(&app.channel)
        .get_template(with(
            &app.admin_key,
            pb::GetTemplateRequest {
                template_id: t.template_id.clone(),
            },
        ))
        .await
        .expect("template")
        .into_inner();
    assert_eq!(after.issued, 4, "one claim and three targeted");
    // The fans are at their limit now: a claim is refused.
    assert_code(
        player(&app.channel)
            .claim_coupon(with(
                &app.token("o-dave"),
                pb::ClaimCouponRequest {
                    idempotency_key: key(),
                    template_id: t.template_id.clone(),
                },
            ))
            .await,
        Code::ResourceExhausted,
        None,
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// Supply 5 for 12 fans: the first five in the list get one, the rest
/// are refused `supply_exhausted`, and the supply is never exceeded.
async fn supply_smaller_than_the_list_is_never_exceeded(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            total_supply: 5,
            ..amount_off(300)
        },
    )
    .await;
    let fans: Vec<String> = (0..12).map(|i| format!("oFan{i:02}")).collect();
    let list: Vec<&str> = fans.iter().map(String::as_str).collect();
    let job = start_targeted(&app, &t.template_id, &list).await;
    let done = wait_targeted(&app, &job.job_id).await;
    assert_eq!((done.issued, done.refused), (5, 7), "{done:?}");
    assert_eq!(done.refused_supply_exhausted, 7);
    let report = target_results(
        &app,
        &app.admin_key,
        &job.job_id,
        pb::TargetOutcome::Unspecified,
        0,
    )
    .await;
    let issued: Vec<&str> = report
        .iter()
        .filter(|r| r.outcome == pb::TargetOutcome::Issued as i32)
        .map(|r| r.openid.as_str())
        .collect();
    assert_eq!(issued, list[..5].to_vec(), "the first five of the list");
    assert!(
        report[5..]
            .iter()
            .all(|r| r.refusal == pb::TargetRefusal::SupplyExhausted as i32)
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT issued FROM coupon_template WHERE template_id = $1",
                &t.template_id
            )
            .await,
        5
    );
    // A refused fan holds no count: were supply added, they could claim.
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM coupon_player_count WHERE template_id = $1 AND held > 0",
                &t.template_id
            )
            .await,
        5
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// The same request twice (same key) is one job; the same key with
/// another body is refused; a second job (another key) over the same list
/// with a per-user limit of 1 issues nothing new.
async fn the_same_request_twice_is_one_job_and_a_second_job_adds_nothing(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            per_user_limit: 1,
            ..amount_off(200)
        },
    )
    .await;
    let mut a = admin(&app.channel);
    let list = openids(&["o-1", "o-2", "o-3"]);
    let req = create_req(&t.template_id, list.clone(), true);
    let first = a
        .create_targeted_issue(with(&app.admin_key, req.clone()))
        .await
        .expect("first")
        .into_inner();
    let again = a
        .create_targeted_issue(with(&app.admin_key, req.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again, "the same answer, the same job");
    assert_code(
        a.create_targeted_issue(with(
            &app.admin_key,
            pb::CreateTargetedIssueRequest {
                openids: openids(&["o-1", "o-2", "o-3", "o-4"]),
                ..req.clone()
            },
        ))
        .await,
        Code::FailedPrecondition,
        None,
    );
    wait_targeted(&app, &first.job_id).await;
    // A retry after it finished still answers the first answer.
    let late = a
        .create_targeted_issue(with(&app.admin_key, req))
        .await
        .expect("late retry")
        .into_inner();
    assert_eq!(late.job_id, first.job_id);
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM coupon_target_job WHERE template_id = $1",
                &t.template_id
            )
            .await,
        1
    );
    // A second job over the same list: everyone is at the limit.
    let second = start_targeted(&app, &t.template_id, &["o-3", "o-2", "o-1"]).await;
    assert_ne!(second.job_id, first.job_id);
    let done = wait_targeted(&app, &second.job_id).await;
    assert_eq!((done.issued, done.refused_per_user_limit), (0, 3));
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM coupon WHERE template_id = $1",
                &t.template_id
            )
            .await,
        3
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// A job started after its template's fixed window ended refuses every
/// target `template_expired`.
async fn an_expired_template_refuses_every_target(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, fixed_window(amount_off(100), 0, 1)).await;
    let mut a = admin(&app.channel);
    let job = a
        .create_targeted_issue(with(
            &app.admin_key,
            create_req(&t.template_id, openids(&["o-x", "o-y"]), false),
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(job.state, pb::TargetedIssueState::Open as i32);
    app.clock.advance(2 * DAY);
    a.start_targeted_issue(with(
        &app.admin_key,
        pb::StartTargetedIssueRequest {
            idempotency_key: key(),
            job_id: job.job_id.clone(),
        },
    ))
    .await
    .expect("start");
    let done = wait_targeted(&app, &job.job_id).await;
    assert_eq!(
        (done.issued, done.refused_template_expired),
        (0, 2),
        "{done:?}"
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// A list too large for one request goes in parts while the job is OPEN:
/// up to 100,000 distinct openids; one more is refused naming `openids`
/// and keeps nothing of that call; a started job takes no more.
async fn a_list_in_parts_up_to_the_limit(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(100)).await;
    let mut a = admin(&app.channel);
    // WeChat-like openids: 28 characters.
    let fan = |i: usize| format!("oWx{i:025}");
    let part = |r: std::ops::Range<usize>| r.map(fan).collect::<Vec<_>>();
    let job = a
        .create_targeted_issue(with(
            &app.admin_key,
            create_req(&t.template_id, part(0..60_000), false),
        ))
        .await
        .expect("first part")
        .into_inner();
    assert_eq!(job.targets, 60_000);
    let append = |list: Vec<String>| pb::AppendTargetedIssueRequest {
        idempotency_key: key(),
        job_id: job.job_id.clone(),
        openids: list,
    };
    // 50,000 more with 10,000 the job has: 100,000 distinct, exactly.
    let grown = a
        .append_targeted_issue(with(&app.admin_key, append(part(50_000..100_000))))
        .await
        .expect("second part")
        .into_inner();
    assert_eq!((grown.received, grown.targets), (110_000, 100_000));
    assert_code(
        a.append_targeted_issue(with(&app.admin_key, append(part(100_000..100_002))))
            .await,
        Code::InvalidArgument,
        Some("openids"),
    );
    // Openids it has already are welcome (they count once).
    let same = a
        .append_targeted_issue(with(&app.admin_key, append(part(0..3))))
        .await
        .expect("known openids")
        .into_inner();
    assert_eq!((same.received, same.targets), (110_003, 100_000));
    a.start_targeted_issue(with(
        &app.admin_key,
        pb::StartTargetedIssueRequest {
            idempotency_key: key(),
            job_id: job.job_id.clone(),
        },
    ))
    .await
    .expect("start");
    assert_code(
        a.append_targeted_issue(with(&app.admin_key, append(part(0..1))))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.start_targeted_issue(with(
            &app.admin_key,
            pb::StartTargetedIssueRequest {
                idempotency_key: key(),
                job_id: job.job_id.clone(),
            },
        ))
        .await,
        Code::FailedPrecondition,
        None,
    );
    app.stop().await;
}

/// A job runs on two replicas at once and the first is killed mid-job
/// and restarted: every target gets exactly one coupon.
async fn a_crash_and_a_second_replica_never_issue_twice(backend: Backend) {
    let mut app = spawn_engine(backend).await;
    let t = create_template(
        &app,
        pb::CreateTemplateRequest {
            total_supply: 10_000,
            per_user_limit: 1,
            ..amount_off(100)
        },
    )
    .await;
    let fans: Vec<String> = (0..4000).map(|i| format!("oCrash{i:05}")).collect();
    let list: Vec<&str> = fans.iter().map(String::as_str).collect();
    let job = start_targeted(&app, &t.template_id, &list).await;
    let mut progress = 0;
    for _ in 0..3000 {
        progress = app
            .db
            .scalar(
                "SELECT issued FROM coupon_target_job WHERE job_id = $1",
                &job.job_id,
            )
            .await;
        if progress > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(progress > 0, "the job never started");
    // Killed mid-job; then a second replica and the restarted engine both
    // resume it at once.
    app.crash().await;
    let replica = app.replica().await;
    app.restart().await;
    let done = wait_targeted(&app, &job.job_id).await;
    replica.stop().await;
    assert_eq!((done.issued, done.refused), (4000, 0), "{done:?}");
    let coupons = app
        .db
        .scalar(
            "SELECT COUNT(DISTINCT player_id) * 100000 + COUNT(*) FROM coupon \
             WHERE template_id = $1",
            &t.template_id,
        )
        .await;
    assert_eq!(coupons, 4000 * 100_000 + 4000, "one coupon per fan");
    let report = target_results(
        &app,
        &app.admin_key,
        &job.job_id,
        pb::TargetOutcome::Issued,
        1000,
    )
    .await;
    let ids: HashSet<&str> = report.iter().map(|r| r.coupon_id.as_str()).collect();
    assert_eq!(ids.len(), 4000);
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// Roles: only admins start or change a job; admins and auditors read it;
/// another merchant's template or job is NOT_FOUND. Bad fields are
/// INVALID_ARGUMENT naming the field; nothing is created by a refusal.
async fn roles_and_bad_input_are_refused(backend: Backend) {
    let app = spawn_engine(backend).await;
    let t = create_template(&app, amount_off(100)).await;
    let till = pos_key(&app, "S1").await;
    let auditor = app.api_key(cpb::Role::Auditor, "").await;
    let fan = app.token("o-fan");
    let other = other_merchant(&app.db).await;
    let mut a = admin(&app.channel);
    let job = a
        .create_targeted_issue(with(
            &app.admin_key,
            create_req(&t.template_id, openids(&["o-1"]), false),
        ))
        .await
        .expect("create")
        .into_inner();
    let get = |job_id: &str| pb::GetTargetedIssueRequest {
        job_id: job_id.into(),
    };
    let list = |job_id: &str| pb::ListTargetedIssueResultsRequest {
        job_id: job_id.into(),
        ..Default::default()
    };
    let start = |job_id: &str| pb::StartTargetedIssueRequest {
        idempotency_key: key(),
        job_id: job_id.into(),
    };
    let append = |job_id: &str, list: &[&str]| pb::AppendTargetedIssueRequest {
        idempotency_key: key(),
        job_id: job_id.into(),
        openids: openids(list),
    };
    let create = || create_req(&t.template_id, openids(&["o-2"]), true);
    for (who, changes, reads) in [
        (&auditor, Code::PermissionDenied, Code::Ok),
        (&till, Code::PermissionDenied, Code::PermissionDenied),
        (&fan, Code::PermissionDenied, Code::PermissionDenied),
        (&other, Code::NotFound, Code::NotFound),
    ] {
        assert_eq!(
            code(a.create_targeted_issue(with(who, create())).await),
            changes
        );
        assert_eq!(
            code(
                a.append_targeted_issue(with(who, append(&job.job_id, &["o-3"])))
                    .await
            ),
            changes
        );
        assert_eq!(
            code(a.start_targeted_issue(with(who, start(&job.job_id))).await),
            changes
        );
        assert_eq!(
            code(a.get_targeted_issue(with(who, get(&job.job_id))).await),
            reads
        );
        assert_eq!(
            code(
                a.list_targeted_issue_results(with(who, list(&job.job_id)))
                    .await
            ),
            reads
        );
    }
    // Bad input, each naming its field.
    let long = "o".repeat(129);
    let bad_lists: [&[&str]; 4] = [&[], &["o-1", "has space"], &["o-1", ""], &[&long]];
    for bad in bad_lists {
        assert_code(
            a.create_targeted_issue(with(
                &app.admin_key,
                create_req(&t.template_id, openids(bad), true),
            ))
            .await,
            Code::InvalidArgument,
            Some("openids"),
        );
        assert_code(
            a.append_targeted_issue(with(&app.admin_key, append(&job.job_id, bad)))
                .await,
            Code::InvalidArgument,
            Some("openids"),
        );
    }
    let too_many: Vec<String> = (0..100_001).map(|i| format!("o{i}")).collect();
    assert_code(
        a.create_targeted_issue(with(
            &app.admin_key,
            create_req(&t.template_id, too_many, true),
        ))
        .await,
        Code::InvalidArgument,
        Some("openids"),
    );
    assert_code(
        a.create_targeted_issue(with(
            &app.admin_key,
            create_req("not-a-uuid", openids(&["o-1"]), true),
        ))
        .await,
        Code::InvalidArgument,
        Some("template_id"),
    );
    assert_code(
        a.create_targeted_issue(with(
            &app.admin_key,
            create_req(&uuid::Uuid::new_v4().to_string(), openids(&["o-1"]), true),
        ))
        .await,
        Code::NotFound,
        None,
    );
    assert_code(
        a.create_targeted_issue(with(
            &app.admin_key,
            pb::CreateTargetedIssueRequest {
                idempotency_key: String::new(),
                ..create()
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("idempotency_key"),
    );
    assert_code(
        a.start_targeted_issue(with(&app.admin_key, start("nope")))
            .await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    assert_code(
        a.get_targeted_issue(with(&app.admin_key, get(""))).await,
        Code::InvalidArgument,
        Some("job_id"),
    );
    for (req, field) in [
        (
            pb::ListTargetedIssueResultsRequest {
                page_size: -1,
                ..list(&job.job_id)
            },
            "page_size",
        ),
        (
            pb::ListTargetedIssueResultsRequest {
                outcome: 9,
                ..list(&job.job_id)
            },
            "outcome",
        ),
        (
            pb::ListTargetedIssueResultsRequest {
                page_token: "made-up".into(),
                ..list(&job.job_id)
            },
            "page_token",
        ),
    ] {
        assert_code(
            a.list_targeted_issue_results(with(&app.admin_key, req))
                .await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    // Nothing came of the refusals: one job, one target, still OPEN.
    let still = a
        .get_targeted_issue(with(&app.admin_key, get(&job.job_id)))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (still.state, still.received, still.targets),
        (pb::TargetedIssueState::Open as i32, 1, 1)
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_target_job WHERE $1 = $1", "")
            .await,
        1
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}
