//! Coupon helpers over the shared harness: the whole engine, clients of
//! the coupon services, template builders, and the invariant-4 checker.

use std::{future::Future, pin::Pin, sync::Arc};

use campaign::{ServerError, clock::Clock, config::Settings};
use engine_proto::{
    campaign::v1 as cpb,
    coupon::v1::{
        self as pb, coupon_admin_service_client::CouponAdminServiceClient,
        coupon_player_service_client::CouponPlayerServiceClient,
        coupon_pos_service_client::CouponPosServiceClient,
    },
};
use tonic::transport::Channel;

use crate::harness::{Backend, DAY, T0, TestApp, TestDb, key, spawn_app_running, with};

pub const POS_HEALTH: &str = "coupon.v1.CouponPosService";
/// The delivery secret of the engines these suites start.
pub const SECRET: &str = "test-delivery-secret";

fn run_engine(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    clock: Arc<dyn Clock>,
) -> Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>> {
    Box::pin(engine::run_engine(settings, listener, shutdown, clock))
}

/// The whole engine (campaign + coupon on one listener) on a fresh database.
pub async fn spawn_engine(backend: Backend) -> TestApp {
    spawn_engine_with(backend, |_| {}).await
}

pub async fn spawn_engine_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_running(
        backend,
        |s| {
            // Tills in these tests fail on purpose; the lock-out has its
            // own test with its own limit.
            coupon::config::CouponSettings {
                till_failure_limit: 0,
                till_rate_per_sec: 0,
                ..Default::default()
            }
            .write_into(s);
            s.player_rate_per_sec = 0;
            s.delivery_secret = SECRET.into();
            // Won prizes are delivered to this same engine.
            crate::harness::set_coupon_endpoint(s, "self");
            tweak(s);
        },
        run_engine,
        POS_HEALTH,
    )
    .await
}

pub fn admin(ch: &Channel) -> CouponAdminServiceClient<Channel> {
    CouponAdminServiceClient::new(ch.clone())
}
pub fn player(ch: &Channel) -> CouponPlayerServiceClient<Channel> {
    CouponPlayerServiceClient::new(ch.clone())
}
pub fn pos(ch: &Channel) -> CouponPosServiceClient<Channel> {
    CouponPosServiceClient::new(ch.clone())
}

/// 5.00 off, valid 30 days from issue, 1000 in supply.
pub fn amount_off(cents: i64) -> pb::CreateTemplateRequest {
    pb::CreateTemplateRequest {
        idempotency_key: key(),
        name: format!("{cents} off"),
        kind: pb::DiscountKind::AmountOff as i32,
        amount_off_cents: cents,
        valid_days: 30,
        total_supply: 1000,
        ..Default::default()
    }
}

pub async fn create_template(app: &TestApp, t: pb::CreateTemplateRequest) -> pb::CouponTemplate {
    admin(&app.channel)
        .create_template(with(&app.admin_key, t))
        .await
        .expect("create template")
        .into_inner()
}

pub async fn claim(app: &TestApp, openid: &str, template_id: &str) -> pb::Coupon {
    player(&app.channel)
        .claim_coupon(with(
            &app.token(openid),
            pb::ClaimCouponRequest {
                idempotency_key: key(),
                template_id: template_id.into(),
            },
        ))
        .await
        .expect("claim coupon")
        .into_inner()
}

pub async fn pos_key(app: &TestApp, store: &str) -> String {
    app.api_key(cpb::Role::Pos, store).await
}

pub fn order(cents: i64) -> (i64, Vec<pb::OrderLine>) {
    (cents, Vec::new())
}

pub async fn validate(
    app: &TestApp,
    till: &str,
    code: &str,
    (amount, items): (i64, Vec<pb::OrderLine>),
) -> pb::ValidateCouponResponse {
    pos(&app.channel)
        .validate_coupon(with(
            till,
            pb::ValidateCouponRequest {
                code: code.into(),
                order_amount_cents: amount,
                items,
            },
        ))
        .await
        .expect("validate")
        .into_inner()
}

pub fn redeem_req(code: &str, amount: i64) -> pb::RedeemCouponRequest {
    pb::RedeemCouponRequest {
        idempotency_key: key(),
        code: code.into(),
        order_amount_cents: amount,
        items: Vec::new(),
        order_ref: "order-1".into(),
    }
}

/// A fixed window that starts `from_days` and ends `until_days` after T0.
pub fn fixed_window(
    mut t: pb::CreateTemplateRequest,
    from_days: i64,
    until_days: i64,
) -> pb::CreateTemplateRequest {
    t.valid_days = 0;
    t.valid_from_ms = T0 + from_days * DAY;
    t.valid_until_ms = T0 + until_days * DAY;
    t
}

/// Invariant 4 and the supply ledger, checked from the tables:
/// - no coupon has more than one live (unreversed) redemption, and
///   `coupon.redemption_id` points at exactly the live one;
/// - every template's `issued` equals its claimed, bulk-issued and
///   targeted coupons, and never exceeds the supply;
/// - a player's per-user count equals the coupons claimed or targeted to
///   them, never above the template's limit;
/// - every targeted issue job's counts equal its targets', each issued
///   target has exactly its one coupon (its owner the openid), and no
///   targeted coupon exists without an issued target;
/// - every won coupon prize whose delivery is recorded has exactly one
///   coupon, and no prize coupon exists without a win.
pub async fn assert_coupon_invariants(db: &TestDb) {
    let doubles = db
        .int_rows(
            "SELECT COUNT(*) FROM (SELECT coupon_id FROM coupon_redemption \
             WHERE reversed_at IS NULL AND $1 = $1 GROUP BY coupon_id HAVING COUNT(*) > 1) d",
            "",
        )
        .await;
    assert_eq!(doubles, vec![vec![0]], "a coupon with two live redemptions");
    let dangling = db
        .scalar(
            "SELECT COUNT(*) FROM coupon c WHERE $1 = $1 AND ( \
               (c.redemption_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM coupon_redemption r \
                  WHERE r.redemption_id = c.redemption_id AND r.coupon_id = c.coupon_id \
                  AND r.reversed_at IS NULL)) \
               OR (c.redemption_id IS NULL AND EXISTS (SELECT 1 FROM coupon_redemption r \
                  WHERE r.coupon_id = c.coupon_id AND r.reversed_at IS NULL)))",
            "",
        )
        .await;
    assert_eq!(
        dangling, 0,
        "coupon.redemption_id disagrees with the ledger"
    );
    let supply = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_template t WHERE $1 = $1 AND (t.issued > t.total_supply \
             OR t.issued < (SELECT COUNT(*) FROM coupon c WHERE c.template_id = t.template_id \
                AND c.source IN ('claim', 'bulk', 'targeted')))",
            "",
        )
        .await;
    assert_eq!(supply, 0, "issued counter disagrees with the coupons");
    let claimed = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_template t WHERE $1 = $1 AND t.issued <> \
             (SELECT COUNT(*) FROM coupon c WHERE c.template_id = t.template_id \
                AND c.source IN ('claim', 'targeted')) + \
             (SELECT COALESCE(SUM(j.requested), 0) FROM coupon_bulk_job j \
                WHERE j.template_id = t.template_id AND j.state <> 'FAILED') + \
             (SELECT COALESCE(SUM(j.issued), 0) FROM coupon_bulk_job j \
                WHERE j.template_id = t.template_id AND j.state = 'FAILED')",
            "",
        )
        .await;
    assert_eq!(
        claimed, 0,
        "issued != claims + targeted + reserved bulk supply"
    );
    assert_targeted_invariants(db).await;
    let bulk = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_bulk_job j WHERE $1 = $1 AND j.issued <> \
             (SELECT COUNT(*) FROM coupon c WHERE c.bulk_job_id = j.job_id)",
            "",
        )
        .await;
    assert_eq!(bulk, 0, "a bulk job's progress disagrees with its coupons");
    let orphans = db
        .scalar(
            "SELECT COUNT(*) FROM coupon c WHERE c.source = 'prize' AND $1 = $1 AND NOT EXISTS \
             (SELECT 1 FROM prize_award a WHERE (a.draw_id = c.source_id OR a.award_id = c.source_id) \
             AND a.kind = 'coupon')",
            "",
        )
        .await;
    assert_eq!(orphans, 0, "a prize coupon without a won coupon prize");
    let delivered_twice = db
        .scalar(
            "SELECT COUNT(*) FROM prize_outbox o WHERE o.delivered_at IS NOT NULL \
             AND o.kind = 'COUPON' AND $1 = $1 AND \
             (SELECT COUNT(*) FROM coupon c WHERE c.source_id = o.source_id) <> 1",
            "",
        )
        .await;
    assert_eq!(
        delivered_twice, 0,
        "a delivered prize without exactly one coupon"
    );
}

/// The per-user counts and targeted issue jobs (`assert_coupon_invariants`).
async fn assert_targeted_invariants(db: &TestDb) {
    let counts = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_player_count p JOIN coupon_template t \
               ON t.template_id = p.template_id WHERE $1 = $1 AND ( \
               (t.per_user_limit > 0 AND p.held > t.per_user_limit) \
               OR p.held <> (SELECT COUNT(*) FROM coupon c WHERE c.template_id = p.template_id \
                  AND c.player_id = p.player_id AND c.source IN ('claim', 'targeted')))",
            "",
        )
        .await;
    assert_eq!(
        counts, 0,
        "a per-user count disagrees with the coupons held"
    );
    let jobs = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_target_job j WHERE $1 = $1 AND ( \
               j.targets <> (SELECT COUNT(*) FROM coupon_target t WHERE t.job_id = j.job_id) \
               OR j.issued <> (SELECT COUNT(*) FROM coupon_target t WHERE t.job_id = j.job_id \
                  AND t.state = 'ISSUED') \
               OR j.refused <> (SELECT COUNT(*) FROM coupon_target t WHERE t.job_id = j.job_id \
                  AND t.state = 'REFUSED') \
               OR (j.state = 'DONE' AND j.issued + j.refused <> j.targets))",
            "",
        )
        .await;
    assert_eq!(jobs, 0, "a targeted job's counts disagree with its targets");
    let issued = db
        .scalar(
            "SELECT COUNT(*) FROM coupon_target t JOIN coupon_target_job j \
               ON j.job_id = t.job_id WHERE t.state = 'ISSUED' AND $1 = $1 AND 1 <> \
               (SELECT COUNT(*) FROM coupon c WHERE c.source_id = t.target_id \
                  AND c.coupon_id = t.coupon_id AND c.source = 'targeted' \
                  AND c.player_id = t.openid AND c.template_id = j.template_id \
                  AND c.merchant_id = j.merchant_id)",
            "",
        )
        .await;
    assert_eq!(issued, 0, "an issued target without exactly its coupon");
    let orphans = db
        .scalar(
            "SELECT COUNT(*) FROM coupon c WHERE c.source = 'targeted' AND $1 = $1 \
             AND NOT EXISTS (SELECT 1 FROM coupon_target t WHERE t.target_id = c.source_id \
                AND t.coupon_id = c.coupon_id AND t.state = 'ISSUED')",
            "",
        )
        .await;
    assert_eq!(orphans, 0, "a targeted coupon without an issued target");
}

/// Creates a targeted issue job over `openids` and starts it.
pub async fn start_targeted(
    app: &TestApp,
    template_id: &str,
    openids: &[&str],
) -> pb::TargetedIssueJob {
    admin(&app.channel)
        .create_targeted_issue(with(
            &app.admin_key,
            pb::CreateTargetedIssueRequest {
                idempotency_key: key(),
                template_id: template_id.into(),
                openids: openids.iter().map(|o| (*o).to_owned()).collect(),
                start: true,
            },
        ))
        .await
        .expect("create targeted issue")
        .into_inner()
}

/// Waits until the targeted issue job is DONE.
pub async fn wait_targeted(app: &TestApp, job_id: &str) -> pb::TargetedIssueJob {
    let mut a = admin(&app.channel);
    for _ in 0..1200 {
        let j = a
            .get_targeted_issue(with(
                &app.admin_key,
                pb::GetTargetedIssueRequest {
                    job_id: job_id.into(),
                },
            ))
            .await
            .expect("poll targeted issue")
            .into_inner();
        if j.state == pb::TargetedIssueState::Done as i32 {
            return j;
        }
        assert_ne!(j.state, pb::TargetedIssueState::Failed as i32, "{j:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("targeted issue job {job_id} did not finish");
}

/// Every line of a job's report (as `credential` reads it), page by page.
pub async fn target_results(
    app: &TestApp,
    credential: &str,
    job_id: &str,
    outcome: pb::TargetOutcome,
    page_size: i32,
) -> Vec<pb::TargetResult> {
    let mut a = admin(&app.channel);
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = a
            .list_targeted_issue_results(with(
                credential,
                pb::ListTargetedIssueResultsRequest {
                    page_size,
                    page_token: token,
                    job_id: job_id.into(),
                    outcome: outcome as i32,
                },
            ))
            .await
            .expect("report page")
            .into_inner();
        out.extend(page.results);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// The CSV of a finished bulk issue job (`ExportBulkIssueCodes`), its
/// header checked, as text.
pub async fn export_csv(app: &TestApp, job_id: &str) -> String {
    let mut stream = admin(&app.channel)
        .export_bulk_issue_codes(crate::harness::with(
            &app.admin_key,
            pb::ExportBulkIssueCodesRequest {
                job_id: job_id.into(),
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.expect("chunk") {
        csv.extend(chunk.data);
    }
    let csv = String::from_utf8(csv).expect("utf-8");
    assert_eq!(
        csv.lines().next(),
        Some("code,coupon_id,valid_from_ms,valid_until_ms"),
        "the CSV header"
    );
    csv
}

/// Starts a bulk issue job and waits until it is DONE.
pub async fn bulk_issue(app: &TestApp, template_id: &str, count: i64) -> pb::BulkIssueJob {
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
