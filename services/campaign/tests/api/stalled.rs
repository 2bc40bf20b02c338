//! Long exports (issue 22). A client that opens campaign exports and never
//! reads them cannot hold database connections or snapshots: exports have
//! their own budget (4 at once, 2 per merchant; one more is
//! RESOURCE_EXHAUSTED saying which, and another merchant's export still
//! runs), a stream not read for `stream_stall_secs` is cut and ends with
//! DEADLINE_EXCEEDED (never OK on a truncated export), and draws and reads
//! go on meanwhile. The audit log and the money ledger are exported page
//! by page, whole, up to where they stood when the export began.

use std::time::Duration;

use engine_proto::campaign::v1::{self as pb, audit_service_client::AuditServiceClient};
use tokio::task::JoinSet;
use tonic::Code;

use test_kit::exports::{drain, stalled_campaign_export};

use crate::helpers::*;

both_backends!(
    stalled_exports_are_cut_and_never_starve_draws,
    audit_log_and_ledger_exports_page_to_the_bound_they_began_with,
);

async fn stalled_exports_are_cut_and_never_starve_draws(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.stream_stall_secs = 1;
        s.player_rate_per_sec = 0;
    })
    .await;
    let c = app.wheel(rules(40, 40), vec![thanks(1)], 0, true).await;
    let id = c.campaign_id.clone();
    // 1,200 draws: far more lines than the stream's buffers and window.
    let mut draws = JoinSet::new();
    for p in 0..30 {
        let (ch, t, id) = (app.channel.clone(), app.token(&format!("p{p}")), id.clone());
        draws.spawn(async move {
            let mut player =
                engine_proto::campaign::v1::player_service_client::PlayerServiceClient::new(ch);
            for _ in 0..40 {
                player
                    .draw(with(
                        &t,
                        pb::DrawRequest {
                            idempotency_key: key(),
                            campaign_id: id.clone(),
                            channel: String::new(),
                            store_id: String::new(),
                        },
                    ))
                    .await
                    .expect("draw");
            }
        });
    }
    draws.join_all().await;

    let export_req = || {
        with(
            &app.admin_key,
            pb::ExportCampaignRequest {
                campaign_id: id.clone(),
            },
        )
    };
    // Two clients that never read, on connections with the smallest window.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(stalled_campaign_export(app.addr, &app.admin_key, &id).await);
    }
    // A third export of this merchant is over its budget; another
    // merchant's export runs; draws and reads go on.
    let third = AuditServiceClient::new(app.channel.clone())
        .export_campaign(export_req())
        .await;
    let refused = third.map(|_| ()).expect_err("over the merchant's budget");
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("reason: merchant"),
        "{refused:?}"
    );
    let other = other_merchant(&app.db).await;
    let mut theirs = AuditServiceClient::new(app.channel.clone())
        .export_audit_log(with(&other, pb::ExportAuditLogRequest {}))
        .await
        .expect("another merchant's export")
        .into_inner();
    while theirs.message().await.expect("line").is_some() {}
    app.draw("during", &id)
        .await
        .expect("a draw while exports stall");
    app.get_campaign(&id).await;

    // After the stall timeout the stalled exports are cut: reading them now
    // gives what was queued, then DEADLINE_EXCEEDED, never a clean end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in stalled {
        let (lines, end) = drain(s).await;
        assert_eq!(end, Some(Code::DeadlineExceeded), "after {lines} lines");
        assert!(lines < 1_200, "{lines} lines: the export was not cut");
    }
    // The budget is back: a client that reads gets the whole export.
    let mut full = AuditServiceClient::new(app.channel.clone())
        .export_campaign(export_req())
        .await
        .expect("export")
        .into_inner();
    let mut draw_lines = 0;
    while let Some(line) = full.message().await.expect("line") {
        if line.json.contains(r#""type":"draw""#) {
            draw_lines += 1;
        }
    }
    assert_eq!(draw_lines, 1_201);
}

async fn audit_log_and_ledger_exports_page_to_the_bound_they_began_with(backend: Backend) {
    use engine_proto::campaign::v1::money_service_client::MoneyServiceClient;
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(1, 1), vec![thanks(1)], 0, true).await;
    let mut money = MoneyServiceClient::new(app.channel.clone());
    let fund = |cents: i64| {
        with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                amount_cents: cents,
            },
        )
    };
    // 1,100 fundings and 1,100 keys made: more than two pages of the
    // ledger (500 movements) and of the audit log (500 entries).
    for i in 1..=1_100 {
        money.fund_budget(fund(i)).await.expect("fund");
        app.api_key(pb::Role::Auditor, "").await;
    }
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let mut audit = AuditServiceClient::new(app.channel.clone())
        .export_audit_log(with(&auditor, pb::ExportAuditLogRequest {}))
        .await
        .expect("audit export")
        .into_inner();
    let mut ledger = MoneyServiceClient::new(app.channel.clone())
        .export_ledger(with(
            &auditor,
            pb::ExportLedgerRequest {
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await
        .expect("ledger export")
        .into_inner();
    // Written after both began: in neither.
    app.api_key(pb::Role::Auditor, "").await;
    money
        .fund_budget(fund(1_000_000))
        .await
        .expect("fund later");

    let mut seqs = Vec::new();
    let mut head = None;
    while let Some(line) = audit.message().await.expect("audit line") {
        let v: serde_json::Value = serde_json::from_str(&line.json).expect("json");
        match v["type"].as_str() {
            Some("audit_head") => head = Some(v),
            _ => {
                assert!(head.is_none(), "the head comes last");
                seqs.push(v["seq"].as_i64().expect("seq"));
            }
        }
    }
    let head = head.expect("a head line");
    let n = seqs.len() as i64;
    assert!(n > 1_100, "{n} entries");
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "every entry once, in order"
    );
    assert_eq!(
        head["seq"].as_i64(),
        Some(n),
        "the head the export began with"
    );

    let mut amounts = Vec::new();
    let mut last = String::new();
    while let Some(m) = ledger.message().await.expect("movement") {
        assert!(m.movement_id > last, "in order, once");
        last = m.movement_id.clone();
        amounts.push(m.amount_cents);
    }
    assert_eq!(amounts, (1..=1_100).collect::<Vec<i64>>());
    app.stop().await;
}
