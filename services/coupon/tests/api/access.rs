//! Every role that must be refused (RELIABILITY.md 5.2): RPC × role ×
//! object of another owner.

use engine_proto::{campaign::v1 as cpb, coupon::v1 as pb};
use tonic::{Code, Status};

use crate::{
    helpers::{Backend, assert_code, key, other_merchant, state_digest, with},
    kit::{
        admin, amount_off, claim, create_template, order, player, pos, pos_key, redeem_req,
        spawn_engine,
    },
};

both_backends!(roles_outside_their_rights_are_refused);

fn code_of<T>(r: Result<T, Status>) -> Code {
    r.err().map_or(Code::Ok, |s| s.code())
}

/// One piece: a table of (call, credential, expected status) over every role,
/// each checked the same way, between one state digest taken before and
/// compared after.
async fn roles_outside_their_rights_are_refused(backend: Backend) {
    let app = spawn_engine(backend).await;
    let till = pos_key(&app, "S1").await;
    let auditor = app.api_key(cpb::Role::Auditor, "").await;
    let player_token = app.token("frank");
    let t = create_template(&app, amount_off(300)).await;
    let c = claim(&app, "frank", &t.template_id).await;
    let other_admin = other_merchant(&app.db).await;
    let digest = state_digest(&app.db).await;
    let coupons_before = app
        .db
        .scalar("SELECT COUNT(*) FROM coupon WHERE $1 = $1", "")
        .await;

    let create = |cred: &str| with(cred, amount_off(100));
    let bulk = |cred: &str| {
        with(
            cred,
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: t.template_id.clone(),
                count: 5,
            },
        )
    };
    let import = |cred: &str| {
        with(
            cred,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: String::new(),
                name: "p".into(),
                codes: vec!["X1".into()],
            },
        )
    };
    let validate = |cred: &str| {
        with(
            cred,
            pb::ValidateCouponRequest {
                code: c.code.clone(),
                order_amount_cents: order(100).0,
                items: vec![],
            },
        )
    };
    let claim_req = |cred: &str| {
        with(
            cred,
            pb::ClaimCouponRequest {
                idempotency_key: key(),
                template_id: t.template_id.clone(),
            },
        )
    };
    let get = |cred: &str| {
        with(
            cred,
            pb::GetTemplateRequest {
                template_id: t.template_id.clone(),
            },
        )
    };

    // (what, credential, expected)
    let ch = &app.channel;
    let checks: Vec<(&str, Code, Code)> = vec![
        // Admin-only writes.
        (
            "create by player",
            code_of(admin(ch).create_template(create(&player_token)).await),
            Code::PermissionDenied,
        ),
        (
            "create by pos",
            code_of(admin(ch).create_template(create(&till)).await),
            Code::PermissionDenied,
        ),
        (
            "create by auditor",
            code_of(admin(ch).create_template(create(&auditor)).await),
            Code::PermissionDenied,
        ),
        (
            "create unauthenticated",
            code_of(admin(ch).create_template(create("")).await),
            Code::Unauthenticated,
        ),
        (
            "create with a bad key",
            code_of(
                admin(ch)
                    .create_template(create("cek_0000000000000000_bogus"))
                    .await,
            ),
            Code::Unauthenticated,
        ),
        (
            "bulk by pos",
            code_of(admin(ch).start_bulk_issue(bulk(&till)).await),
            Code::PermissionDenied,
        ),
        (
            "bulk by player",
            code_of(admin(ch).start_bulk_issue(bulk(&player_token)).await),
            Code::PermissionDenied,
        ),
        (
            "bulk on another merchant's template",
            code_of(admin(ch).start_bulk_issue(bulk(&other_admin)).await),
            Code::NotFound,
        ),
        (
            "import by auditor",
            code_of(admin(ch).import_pool_codes(import(&auditor)).await),
            Code::PermissionDenied,
        ),
        (
            "import by pos",
            code_of(admin(ch).import_pool_codes(import(&till)).await),
            Code::PermissionDenied,
        ),
        // Reads: admin and auditor of the merchant only.
        (
            "template read by auditor",
            code_of(admin(ch).get_template(get(&auditor)).await),
            Code::Ok,
        ),
        (
            "template read by another merchant",
            code_of(admin(ch).get_template(get(&other_admin)).await),
            Code::NotFound,
        ),
        (
            "template read by player",
            code_of(admin(ch).get_template(get(&player_token)).await),
            Code::PermissionDenied,
        ),
        // The till's RPCs: POS keys only (store from the key).
        (
            "validate by player",
            code_of(pos(ch).validate_coupon(validate(&player_token)).await),
            Code::PermissionDenied,
        ),
        (
            "validate by admin",
            code_of(pos(ch).validate_coupon(validate(&app.admin_key)).await),
            Code::PermissionDenied,
        ),
        (
            "validate by auditor",
            code_of(pos(ch).validate_coupon(validate(&auditor)).await),
            Code::PermissionDenied,
        ),
        (
            "validate unauthenticated",
            code_of(pos(ch).validate_coupon(validate("")).await),
            Code::Unauthenticated,
        ),
        (
            "redeem by player",
            code_of(
                pos(ch)
                    .redeem_coupon(with(&player_token, redeem_req(&c.code, 100)))
                    .await,
            ),
            Code::PermissionDenied,
        ),
        (
            "redeem by admin",
            code_of(
                pos(ch)
                    .redeem_coupon(with(&app.admin_key, redeem_req(&c.code, 100)))
                    .await,
            ),
            Code::PermissionDenied,
        ),
        // Players: their own merchant's templates and their own coupons.
        (
            "claim by pos",
            code_of(player(ch).claim_coupon(claim_req(&till)).await),
            Code::PermissionDenied,
        ),
        (
            "claim by admin",
            code_of(player(ch).claim_coupon(claim_req(&app.admin_key)).await),
            Code::PermissionDenied,
        ),
        (
            "list by pos",
            code_of(
                player(ch)
                    .list_my_coupons(with(&till, pb::ListMyCouponsRequest::default()))
                    .await,
            ),
            Code::PermissionDenied,
        ),
    ];
    let wrong: Vec<_> = checks.iter().filter(|(_, got, want)| got != want).collect();
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    // Another merchant's template is answered exactly as one that does not
    // exist: nothing tells them apart.
    let theirs = admin(ch)
        .get_template(get(&other_admin))
        .await
        .expect_err("refused");
    let missing = admin(ch)
        .get_template(with(
            &app.admin_key,
            pb::GetTemplateRequest {
                template_id: "0190a1b2-0000-7000-8000-00000000beef".into(),
            },
        ))
        .await
        .expect_err("refused");
    assert_eq!(
        (theirs.code(), theirs.message()),
        (missing.code(), missing.message())
    );
    assert_eq!(
        state_digest(&app.db).await,
        digest,
        "refused calls changed campaign state"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon WHERE $1 = $1", "")
            .await,
        coupons_before,
        "refused calls issued coupons"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1", "")
            .await,
        0
    );

    // A code from another merchant is simply not found at this merchant's
    // till: codes are looked up within the till's merchant.
    let foreign_template = admin(ch)
        .create_template(with(&other_admin, amount_off(100)))
        .await
        .expect("other merchant's template")
        .into_inner();
    assert_code(
        player(ch)
            .claim_coupon(with(
                &player_token,
                pb::ClaimCouponRequest {
                    idempotency_key: key(),
                    template_id: foreign_template.template_id.clone(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    // Another player never sees frank's coupon.
    let theirs = player(ch)
        .list_my_coupons(with(
            &app.token("grace"),
            pb::ListMyCouponsRequest::default(),
        ))
        .await
        .expect("list")
        .into_inner();
    assert!(theirs.coupons.is_empty());

    app.stop().await;
}
