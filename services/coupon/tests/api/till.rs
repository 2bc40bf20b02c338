//! At the store's POS: validate, redeem exactly once, reverse on refund,
//! settle by key, and the lock-out against code guessing.

use std::collections::HashMap;

use coupon::config::CouponSettings;
use engine_proto::coupon::v1 as pb;
use tonic::Code;

use crate::{
    helpers::{Backend, DAY, assert_code, free_port, http_get, key, metric, with},
    kit::{
        amount_off, assert_coupon_invariants, claim, create_template, fixed_window, order, pos,
        pos_key, redeem_req, spawn_engine, spawn_engine_with, validate,
    },
};

both_backends!(
    every_refusal_is_precise_and_changes_nothing,
    redeem_is_exactly_once_and_settles_by_key,
    a_hundred_tills_race_for_one_coupon,
    copies_of_one_redemption_racing_all_get_its_answer,
    redeem_reverse_redeem,
    failed_lookups_lock_a_till_out_for_a_while,
    a_till_over_its_rate_is_refused_and_changes_nothing,
    a_crowd_of_redemptions_gets_exact_answers,
    two_replicas_race_for_the_same_coupons,
);

/// Counts of the redemption ledger and coupon states.
async fn ledger(db: &crate::helpers::TestDb) -> Vec<i64> {
    let mut v = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1",
        "SELECT COUNT(*) FROM coupon WHERE redemption_id IS NOT NULL AND $1 = $1",
        "SELECT COUNT(*) FROM coupon_redemption WHERE reversed_at IS NOT NULL AND $1 = $1",
    ] {
        v.push(db.scalar(sql, "").await);
    }
    v
}

/// A code with its last random character changed and the check character
/// left alone: one mistyped character.
fn mistype(code: &str) -> String {
    let mut chars: Vec<char> = code.chars().collect();
    let i = 13; // XXXX-XXXX-XXX[X]-C
    chars[i] = if chars[i] == '7' { '8' } else { '7' };
    chars.into_iter().collect()
}

/// One piece: a table of refused lookups and redemptions, each checked the
/// same way, the ledger compared before and after; then the same coupons
/// refused once expired.
async fn every_refusal_is_precise_and_changes_nothing(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = pos_key(&app, "S1").await;
    let s2 = pos_key(&app, "S2").await;
    let only_s1 = create_template(
        &app,
        pb::CreateTemplateRequest {
            store_ids: vec!["S1".into()],
            min_spend_cents: 1000,
            ..amount_off(500)
        },
    )
    .await;
    let later = create_template(&app, fixed_window(amount_off(500), 2, 5)).await;
    let c = claim(&app, "alice", &only_s1.template_id).await;
    let future = claim(&app, "alice", &later.template_id).await;
    let before = ledger(&app.db).await;

    let refusal = |v: pb::ValidateCouponResponse| {
        assert!(!v.valid);
        pb::Refusal::try_from(v.refusal).expect("known refusal")
    };
    assert_eq!(
        refusal(validate(&app, &s1, "0000-0000-0000-0", order(5000)).await),
        pb::Refusal::NotFound
    );
    // Not a code at all: INVALID_ARGUMENT naming `code`.
    for not_a_code in ["", "   ", "too-short", "0000-0000-0000-0000"] {
        let v = pos(&app.channel)
            .validate_coupon(with(
                &s1,
                pb::ValidateCouponRequest {
                    code: not_a_code.into(),
                    order_amount_cents: 5000,
                    items: vec![],
                },
            ))
            .await;
        assert_code(v, Code::InvalidArgument, Some("code"));
    }
    assert_eq!(
        refusal(validate(&app, &s1, &mistype(&c.code), order(5000)).await),
        pb::Refusal::Mistyped
    );
    assert_eq!(
        refusal(validate(&app, &s2, &c.code, order(5000)).await),
        pb::Refusal::WrongStore
    );
    assert_eq!(
        refusal(validate(&app, &s1, &c.code, order(999)).await),
        pb::Refusal::MinSpendNotMet
    );
    assert_eq!(
        refusal(validate(&app, &s1, &future.code, order(5000)).await),
        pb::Refusal::NotYetValid
    );
    assert_eq!(
        validate(&app, &s1, &c.code, order(1000))
            .await
            .discount_cents,
        500
    );

    // Redeem refuses the same way, with status codes.
    let mut till = pos(&app.channel);
    assert_code(
        till.redeem_coupon(with(&s2, redeem_req(&c.code, 5000)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&c.code, 999)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&future.code, 5000)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&mistype(&c.code), 5000)))
            .await,
        Code::InvalidArgument,
        Some("code"),
    );
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req("0000-0000-0000-0", 5000)))
            .await,
        Code::NotFound,
        None,
    );
    for not_a_code in ["", "x", "0000-0000"] {
        assert_code(
            till.redeem_coupon(with(&s1, redeem_req(not_a_code, 5000)))
                .await,
            Code::InvalidArgument,
            Some("code"),
        );
    }
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&c.code, -1))).await,
        Code::InvalidArgument,
        Some("order_amount_cents"),
    );
    let mut no_key = redeem_req(&c.code, 5000);
    no_key.idempotency_key.clear();
    assert_code(
        till.redeem_coupon(with(&s1, no_key)).await,
        Code::InvalidArgument,
        Some("idempotency_key"),
    );
    assert_eq!(ledger(&app.db).await, before, "refusals changed the ledger");

    // Expired: 30 days from issue, so day 31 is too late.
    app.clock.advance(31 * DAY);
    assert_eq!(
        refusal(validate(&app, &s1, &c.code, order(5000)).await),
        pb::Refusal::Expired
    );
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&c.code, 5000)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    assert_eq!(ledger(&app.db).await, before);
    // A claim after a fixed window has closed is refused too.
    app.clock.advance(30 * DAY);
    let expired_claim = crate::kit::player(&app.channel)
        .claim_coupon(with(
            &app.token("alice"),
            pb::ClaimCouponRequest {
                idempotency_key: key(),
                template_id: later.template_id.clone(),
            },
        ))
        .await;
    assert_code(expired_claim, Code::FailedPrecondition, None);
    app.stop().await;
}

async fn redeem_is_exactly_once_and_settles_by_key(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(700)).await;
    let c = claim(&app, "bob", &t.template_id).await;
    let mut till = pos(&app.channel);
    let req = redeem_req(&c.code, 3000);
    let first = till
        .redeem_coupon(with(&s1, req.clone()))
        .await
        .expect("redeem")
        .into_inner();
    assert_eq!((first.discount_cents, first.store_id.as_str()), (700, "S1"));
    assert_eq!(first.code_tail.len(), 4);
    let retry = till
        .redeem_coupon(with(&s1, req.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retry, "a retry returns the same redemption");
    // A new key on a redeemed coupon: FAILED_PRECONDITION.
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&c.code, 3000)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    // The same key with another body: FAILED_PRECONDITION.
    let mut changed = req.clone();
    changed.order_amount_cents = 3001;
    assert_code(
        till.redeem_coupon(with(&s1, changed)).await,
        Code::FailedPrecondition,
        None,
    );
    assert_eq!(
        validate(&app, &s1, &c.code, order(3000)).await.refusal,
        pb::Refusal::AlreadyRedeemed as i32
    );
    // The till that never heard the answer settles it by key.
    let settled = till
        .get_redemption_by_key(with(
            &s1,
            pb::GetRedemptionByKeyRequest {
                idempotency_key: req.idempotency_key.clone(),
            },
        ))
        .await
        .expect("by key")
        .into_inner();
    assert_eq!(settled, first);
    assert_code(
        till.get_redemption_by_key(with(
            &s1,
            pb::GetRedemptionByKeyRequest {
                idempotency_key: key(),
            },
        ))
        .await,
        Code::NotFound,
        None,
    );
    // Keys are per till: another till's lookup of the same key finds nothing.
    let s1b = pos_key(&app, "S1").await;
    assert_code(
        till.get_redemption_by_key(with(
            &s1b,
            pb::GetRedemptionByKeyRequest {
                idempotency_key: req.idempotency_key.clone(),
            },
        ))
        .await,
        Code::NotFound,
        None,
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1", "")
            .await,
        1
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

async fn a_hundred_tills_race_for_one_coupon(backend: Backend) {
    let app = spawn_engine(backend).await;
    let mut tills = Vec::new();
    for s in ["S1", "S2", "S3", "S4"] {
        tills.push(pos_key(&app, s).await);
    }
    let t = create_template(&app, amount_off(1200)).await;
    for round in 0..3 {
        let c = claim(&app, "carol", &t.template_id).await;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let ch = app.channel.clone();
            let cred = tills[i % tills.len()].clone();
            let req = redeem_req(&c.code, 5000);
            tasks.push(tokio::spawn(async move {
                loop {
                    match pos(&ch).redeem_coupon(with(&cred, req.clone())).await {
                        // A lost race may be told to retry with the same key.
                        Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                        other => return other.map(|r| r.into_inner()).map_err(|s| s.code()),
                    }
                }
            }));
        }
        let mut outcomes: HashMap<String, usize> = HashMap::new();
        let mut ok = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                Ok(r) => ok.push(r),
                Err(code) => *outcomes.entry(format!("{code:?}")).or_default() += 1,
            }
        }
        assert_eq!(
            ok.len(),
            1,
            "round {round}: {} redemptions, refusals {outcomes:?}",
            ok.len()
        );
        assert_eq!(
            outcomes.get("FailedPrecondition"),
            Some(&99),
            "{outcomes:?}"
        );
        assert_coupon_invariants(&app.db).await;
    }
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1", "")
            .await,
        3
    );
    app.stop().await;
}

/// A till that retries while its first call is still in flight sends the
/// same key concurrently: every copy must get the one redemption's answer
/// (never "already redeemed" for its own redemption), and one row exists.
async fn copies_of_one_redemption_racing_all_get_its_answer(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(500)).await;
    for round in 0..3 {
        let c = claim(&app, "dave", &t.template_id).await;
        let req = redeem_req(&c.code, 4000);
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let ch = app.channel.clone();
            let cred = s1.clone();
            let req = req.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match pos(&ch).redeem_coupon(with(&cred, req.clone())).await {
                        // A copy may be told to retry with the same key.
                        Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                        other => return other.map(|r| r.into_inner()).map_err(|s| s.code()),
                    }
                }
            }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("task"));
        }
        let first = answers[0].clone().expect("redeemed");
        for a in &answers {
            assert_eq!(
                a.as_ref(),
                Ok(&first),
                "round {round}: every copy gets the one answer"
            );
        }
        assert_eq!(
            app.db
                .scalar(
                    "SELECT COUNT(*) FROM coupon_redemption WHERE idem_key = $1",
                    &req.idempotency_key
                )
                .await,
            1
        );
        assert_coupon_invariants(&app.db).await;
    }
    app.stop().await;
}

async fn redeem_reverse_redeem(backend: Backend) {
    let app = spawn_engine(backend).await;
    let s1 = pos_key(&app, "S1").await;
    let s2 = pos_key(&app, "S2").await;
    let t = create_template(&app, amount_off(400)).await;
    let c = claim(&app, "dan", &t.template_id).await;
    let mut till = pos(&app.channel);
    let r1 = till
        .redeem_coupon(with(&s1, redeem_req(&c.code, 2000)))
        .await
        .expect("redeem")
        .into_inner();
    let reverse = |id: &str| pb::ReverseRedemptionRequest {
        idempotency_key: key(),
        redemption_id: id.into(),
        reason: "refund".into(),
    };
    // Only the store that redeemed may reverse.
    assert_code(
        till.reverse_redemption(with(&s2, reverse(&r1.redemption_id)))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        till.reverse_redemption(with(&s1, reverse(&uuid::Uuid::now_v7().to_string())))
            .await,
        Code::NotFound,
        None,
    );
    let req = reverse(&r1.redemption_id);
    let rev = till
        .reverse_redemption(with(&s1, req.clone()))
        .await
        .expect("reverse")
        .into_inner();
    assert_eq!(rev.redemption_id, r1.redemption_id);
    assert!(
        !rev.reversal_id.is_empty() && rev.reversed_at_ms > 0,
        "linked to its redemption"
    );
    assert_eq!(
        till.reverse_redemption(with(&s1, req))
            .await
            .expect("retry")
            .into_inner(),
        rev
    );
    // Once per redemption.
    assert_code(
        till.reverse_redemption(with(&s1, reverse(&r1.redemption_id)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    // Usable again, at any store of the template.
    assert!(validate(&app, &s2, &c.code, order(2000)).await.valid);
    let r2 = till
        .redeem_coupon(with(&s2, redeem_req(&c.code, 2500)))
        .await
        .expect("redeem again")
        .into_inner();
    assert_ne!(r2.redemption_id, r1.redemption_id);
    assert_code(
        till.redeem_coupon(with(&s1, redeem_req(&c.code, 2500)))
            .await,
        Code::FailedPrecondition,
        None,
    );
    let rev2 = till
        .reverse_redemption(with(&s2, reverse(&r2.redemption_id)))
        .await
        .expect("reverse 2")
        .into_inner();
    assert_ne!(rev2.reversal_id, rev.reversal_id);
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM coupon_redemption WHERE reversal_id IS NOT NULL AND $1 = $1",
                ""
            )
            .await,
        2
    );
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

async fn failed_lookups_lock_a_till_out_for_a_while(backend: Backend) {
    let app = spawn_engine_with(backend, |s| {
        CouponSettings {
            till_failure_limit: 5,
            till_failure_window_secs: 60,
            till_rate_per_sec: 0,
            ..Default::default()
        }
        .write_into(s);
    })
    .await;
    let guesser = pos_key(&app, "S1").await;
    let honest = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(100)).await;
    let c = claim(&app, "eve", &t.template_id).await;
    // Scans of nothing, strings that are not codes and typos the check
    // character catches cannot find a coupon: they never count.
    let mut till = pos(&app.channel);
    for i in 0..30 {
        let junk = ["", "12", "not a code", "0000-0000-0000-0000"][i % 4];
        assert_code(
            till.redeem_coupon(with(&guesser, redeem_req(junk, 100)))
                .await,
            Code::InvalidArgument,
            Some("code"),
        );
        let typo = validate(&app, &guesser, &mistype(&c.code), order(100)).await;
        assert_eq!(typo.refusal, pb::Refusal::Mistyped as i32);
    }
    assert!(validate(&app, &guesser, &c.code, order(100)).await.valid);
    // Well-formed codes that are no coupon are guesses: five lock it out.
    for i in 0..5u8 {
        let guess = coupon::domain::code::CouponCode::from_random([i + 1; 12]).display();
        let v = validate(&app, &guesser, &guess, order(100)).await;
        assert_eq!(v.refusal, pb::Refusal::NotFound as i32, "{guess}");
    }
    // Locked out, even for a real code, for validate and redeem alike.
    assert_refused_at_the_till(&app, &guesser, &c.code).await;
    // Other tills are not affected, and refusals of real codes (here: the
    // minimum spend) do not count against a till.
    let t2 = create_template(
        &app,
        pb::CreateTemplateRequest {
            min_spend_cents: 1000,
            ..amount_off(100)
        },
    )
    .await;
    let c2 = claim(&app, "eve", &t2.template_id).await;
    for _ in 0..10 {
        let v = validate(&app, &honest, &c2.code, order(100)).await;
        assert_eq!(v.refusal, pb::Refusal::MinSpendNotMet as i32);
    }
    assert!(validate(&app, &honest, &c.code, order(100)).await.valid);
    // After the window the till works again.
    app.clock.advance(61_000);
    assert!(validate(&app, &guesser, &c.code, order(100)).await.valid);
    app.stop().await;
}

async fn a_till_over_its_rate_is_refused_and_changes_nothing(backend: Backend) {
    // A slow refill (1 a second) and a burst of 3: the fourth call at once
    // is over the rate, whatever the call.
    let app = spawn_engine_with(backend, |s| {
        CouponSettings {
            till_failure_limit: 0,
            till_rate_per_sec: 1,
            till_rate_burst: 3,
            ..Default::default()
        }
        .write_into(s);
    })
    .await;
    let busy = pos_key(&app, "S1").await;
    let other = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(100)).await;
    let c = claim(&app, "eve", &t.template_id).await;
    for _ in 0..3 {
        assert!(validate(&app, &busy, &c.code, order(100)).await.valid);
    }
    let before = ledger(&app.db).await;
    assert_refused_at_the_till(&app, &busy, &c.code).await;
    assert_eq!(
        ledger(&app.db).await,
        before,
        "a refused call changed nothing"
    );
    // Another till has its own bucket and redeems at once.
    pos(&app.channel)
        .redeem_coupon(with(&other, redeem_req(&c.code, 100)))
        .await
        .expect("another till is not limited");
    // The bucket refills: a second later the busy till is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(!validate(&app, &busy, &c.code, order(100)).await.valid);
    assert_coupon_invariants(&app.db).await;
    app.stop().await;
}

/// Validate and redeem of a real code at `till` both answer
/// RESOURCE_EXHAUSTED.
async fn assert_refused_at_the_till(app: &crate::helpers::TestApp, till: &str, code: &str) {
    let mut pos = pos(&app.channel);
    assert_code(
        pos.validate_coupon(with(
            till,
            pb::ValidateCouponRequest {
                code: code.into(),
                order_amount_cents: 100,
                items: vec![],
            },
        ))
        .await,
        Code::ResourceExhausted,
        None,
    );
    assert_code(
        pos.redeem_coupon(with(till, redeem_req(code, 100))).await,
        Code::ResourceExhausted,
        None,
    );
}

/// Redeems, retrying what the engine says may be retried.
async fn redeem_settled(
    ch: tonic::transport::Channel,
    cred: String,
    req: pb::RedeemCouponRequest,
) -> Result<pb::Redemption, Code> {
    loop {
        match pos(&ch).redeem_coupon(with(&cred, req.clone())).await {
            Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
            other => return other.map(|r| r.into_inner()).map_err(|s| s.code()),
        }
    }
}

/// On PostgreSQL the redemptions waiting at once are applied together:
/// a crowd mixing every kind of redemption gets what each would get alone.
async fn a_crowd_of_redemptions_gets_exact_answers(backend: Backend) {
    let port = free_port();
    let app = spawn_engine_with(backend, |s| {
        s.metrics_listen = format!("127.0.0.1:{port}");
    })
    .await;
    let till = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(500)).await;
    let mut coupons = Vec::new();
    for i in 0..36 {
        coupons.push(claim(&app, &format!("crowd{i}"), &t.template_id).await.code);
    }
    // Five redeemed before the crowd comes.
    for code in &coupons[31..] {
        redeem_settled(app.channel.clone(), till.clone(), redeem_req(code, 4000))
            .await
            .expect("redeemed before");
    }

    // At once: coupons 0..30 once each, coupons 0..5 by three more
    // requests each, ten copies of one request for coupon 30, and the
    // five redeemed ones again.
    let copy = redeem_req(&coupons[30], 4000);
    let mut tasks = Vec::new();
    let mut spawn = |what: &'static str, code: usize, req: pb::RedeemCouponRequest| {
        let (ch, cred) = (app.channel.clone(), till.clone());
        tasks.push((what, code, tokio::spawn(redeem_settled(ch, cred, req))));
    };
    for (i, code) in coupons.iter().enumerate().take(30) {
        spawn("once", i, redeem_req(code, 4000));
        if i < 5 {
            for _ in 0..3 {
                spawn("contested", i, redeem_req(code, 4000));
            }
        }
    }
    for _ in 0..10 {
        spawn("copy", 30, copy.clone());
    }
    for (i, code) in coupons.iter().enumerate().skip(31) {
        spawn("again", i, redeem_req(code, 4000));
    }

    let mut won: HashMap<usize, usize> = HashMap::new();
    let mut copies = Vec::new();
    for (what, code, task) in tasks {
        let got = task.await.expect("task");
        match (what, got) {
            ("copy", got) => copies.push(got.expect("every copy is answered")),
            ("again", got) => assert_eq!(got, Err(Code::FailedPrecondition), "redeemed before"),
            (_, Ok(r)) => {
                assert_eq!(r.discount_cents, 500);
                *won.entry(code).or_default() += 1;
            }
            (_, Err(c)) => {
                assert_eq!(
                    c,
                    Code::FailedPrecondition,
                    "coupon {code}: only a lost race is refused"
                );
                assert!(code < 5, "coupon {code} is redeemed by one request only");
            }
        }
    }
    assert_eq!(won.len(), 30, "every coupon of the crowd is redeemed");
    assert!(won.values().all(|n| *n == 1), "once each: {won:?}");
    assert_eq!(copies.len(), 10);
    assert!(
        copies.iter().all(|c| *c == copies[0]),
        "one answer for every copy"
    );
    assert_eq!(
        app.db
            .scalar("SELECT COUNT(*) FROM coupon_redemption WHERE $1 = $1", "")
            .await,
        30 + 1 + 5
    );
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM coupon_redemption WHERE idem_key = $1",
                &copy.idempotency_key
            )
            .await,
        1
    );
    assert_coupon_invariants(&app.db).await;

    // Every answer above would also be right with each redemption alone:
    // on PostgreSQL the crowd must have gone through the batches.
    let page = http_get(port, "/metrics").await;
    match backend {
        // SQLite groups only at its writer's commit (whether a crowd this
        // small ever waits for the writer is up to timing); it has no
        // redemption batches to count.
        Backend::Sqlite => assert!(!page.contains("coupon_redeem_batches_total"), "{page}"),
        Backend::Postgres => {
            assert!(metric(&page, "coupon_redeem_batches_total") >= 1, "{page}");
            let batched = metric(&page, "coupon_redeem_batched_redemptions_total");
            assert!(batched >= 2, "{page}");
            assert_eq!(metric(&page, "coupon_redeem_batches_undone_total"), 0);
            // Each redemption that reached the store (the crowd's 60, the
            // 5 before it, and any retries) was answered by one path.
            let alone = metric(&page, "coupon_redemptions_alone_total");
            assert!(batched + alone >= 65, "{batched} + {alone}: {page}");
        }
    }
    app.stop().await;
}

/// Two engines on one database (two replicas) redeem the same coupons at
/// once, each with its own queue: each coupon is redeemed once, and the
/// other till is refused, even when both read it unredeemed.
async fn two_replicas_race_for_the_same_coupons(backend: Backend) {
    let app = spawn_engine(backend).await;
    let replica = app.replica().await;
    let till = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(300)).await;
    for round in 0..4 {
        let mut coupons = Vec::new();
        for i in 0..24 {
            coupons.push(
                claim(&app, &format!("r{round}p{i}"), &t.template_id)
                    .await
                    .code,
            );
        }
        let mut tasks = Vec::new();
        for (i, code) in coupons.iter().enumerate() {
            for ch in [&app.channel, &replica.channel] {
                let req = redeem_req(code, 4000);
                tasks.push((
                    i,
                    tokio::spawn(redeem_settled(ch.clone(), till.clone(), req)),
                ));
            }
        }
        let mut won = [0; 24];
        for (i, task) in tasks {
            match task.await.expect("task") {
                Ok(_) => won[i] += 1,
                Err(c) => assert_eq!(c, Code::FailedPrecondition, "round {round}: coupon {i}"),
            }
        }
        assert_eq!(won, [1; 24], "round {round}: each coupon redeemed once");
        assert_coupon_invariants(&app.db).await;
    }
    replica.stop().await;
    app.stop().await;
}
