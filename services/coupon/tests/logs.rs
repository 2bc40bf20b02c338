//! Coupon codes never reach the logs in full: the whole coupon flow (claim,
//! validate, redeem, reverse, a bulk job and its export, a supplier pool
//! and a prize delivery) runs with every log line of every crate captured
//! at TRACE level, and no code appears in it in any form a till or a
//! printer uses, nor a supplier code, nor the delivery secret.

use test_kit::coupon_kit as kit;
use test_kit::harness as helpers;
use test_kit::log_capture;

use engine_proto::coupon::v1 as pb;
use helpers::{Backend, key, with};
use kit::*;
use tokio_stream::StreamExt;

/// One piece: the whole coupon flow runs under one log capture, and every
/// code and secret its steps made is then looked for in that capture.
async fn no_coupon_code_is_ever_logged(backend: Backend) {
    log_capture::start();
    let app = spawn_engine(backend).await;
    let till = pos_key(&app, "S1").await;
    let t = create_template(&app, amount_off(500)).await;
    let c = claim(&app, "logger", &t.template_id).await;
    assert!(validate(&app, &till, &c.code, order(1000)).await.valid);
    let r = pos(&app.channel)
        .redeem_coupon(with(&till, redeem_req(&c.code, 1000)))
        .await
        .expect("redeem")
        .into_inner();
    pos(&app.channel)
        .reverse_redemption(with(
            &till,
            pb::ReverseRedemptionRequest {
                idempotency_key: key(),
                redemption_id: r.redemption_id,
                reason: "refund".into(),
            },
        ))
        .await
        .expect("reverse");
    // A failing lookup too: refusals must not echo the code typed.
    let typo = format!("{}Z", &c.code[..c.code.len() - 1]);
    let _ = validate(&app, &till, &typo, order(1000)).await;

    let mut a = admin(&app.channel);
    let job = a
        .start_bulk_issue(with(
            &app.admin_key,
            pb::StartBulkIssueRequest {
                idempotency_key: key(),
                template_id: t.template_id.clone(),
                count: 300,
            },
        ))
        .await
        .expect("bulk")
        .into_inner();
    let mut csv = String::new();
    for _ in 0..300 {
        let mut stream = match a
            .export_bulk_issue_codes(with(
                &app.admin_key,
                pb::ExportBulkIssueCodesRequest {
                    job_id: job.job_id.clone(),
                },
            ))
            .await
        {
            Ok(s) => s.into_inner(),
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        while let Some(chunk) = stream.next().await {
            csv.push_str(&String::from_utf8_lossy(&chunk.expect("chunk").data));
        }
        break;
    }
    let printed: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(printed.len(), 300, "the bulk job was exported");

    let supplier = format!("SUPPLIER-{}", uuid::Uuid::new_v4().simple());
    let pool = a
        .import_pool_codes(with(
            &app.admin_key,
            pb::ImportPoolCodesRequest {
                idempotency_key: key(),
                pool_id: String::new(),
                name: "cards".into(),
                codes: vec![supplier.clone()],
            },
        ))
        .await
        .expect("pool")
        .into_inner();
    let delivered =
        pb::coupon_delivery_service_client::CouponDeliveryServiceClient::new(app.channel.clone())
            .deliver_prize(with(
                SECRET,
                pb::DeliverPrizeRequest {
                    source_id: uuid::Uuid::now_v7().to_string(),
                    merchant_id: "00000000-0000-7000-8000-000000000001".into(),
                    player_id: "logger".into(),
                    prize_kind: "TOPUP_CODE".into(),
                    reference: pool.pool_id,
                    campaign_id: String::new(),
                },
            ))
            .await
            .expect("deliver")
            .into_inner();
    assert_eq!(delivered.coupon.expect("code").pool_code, supplier);

    let logs = log_capture::logs();
    assert!(
        logs.contains("RedeemCoupon") && logs.contains("DeliverPrize"),
        "the capture saw nothing; the test would prove nothing"
    );
    let normalised = |code: &str| code.replace('-', "");
    let mut forbidden = vec![
        ("claimed code", c.code.clone()),
        ("claimed code, normalised", normalised(&c.code)),
        ("mistyped code", typo.clone()),
        ("supplier code", supplier),
        ("delivery secret", SECRET.to_owned()),
    ];
    for code in printed.iter().take(50) {
        forbidden.push(("printed code", (*code).to_owned()));
        forbidden.push(("printed code, normalised", normalised(code)));
    }
    for (what, secret) in forbidden {
        assert!(secret.len() >= 13, "{what}: a short needle proves nothing");
        assert!(!logs.contains(&secret), "{what} appears in the logs");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_coupon_code_is_ever_logged() {
    no_coupon_code_is_ever_logged(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_no_coupon_code_is_ever_logged() {
    no_coupon_code_is_ever_logged(Backend::Postgres).await
}
