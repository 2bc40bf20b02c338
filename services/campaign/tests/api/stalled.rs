//! A client that opens campaign exports and never reads them (issue 22)
//! cannot hold database connections or snapshots: exports have their own
//! budget (2 at once; a third is RESOURCE_EXHAUSTED), a stream not read for
//! `stream_stall_secs` is cut and ends with DEADLINE_EXCEEDED (never OK on
//! a truncated export), and draws and reads go on meanwhile.

use std::time::Duration;

use engine_proto::campaign::v1::{self as pb, audit_service_client::AuditServiceClient};
use tokio::task::JoinSet;
use tonic::{Code, transport::Endpoint};

use crate::helpers::*;

both_backends!(stalled_exports_are_cut_and_never_starve_draws);

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
        let ch = Endpoint::from_shared(format!("http://{}", app.addr))
            .expect("endpoint")
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .expect("connect");
        let stream = AuditServiceClient::new(ch)
            .export_campaign(export_req())
            .await
            .expect("export starts")
            .into_inner();
        stalled.push(stream);
    }
    // A third export is over the budget; draws and reads go on.
    let third = AuditServiceClient::new(app.channel.clone())
        .export_campaign(export_req())
        .await;
    assert_code(third, Code::ResourceExhausted, None);
    app.draw("during", &id)
        .await
        .expect("a draw while exports stall");
    app.get_campaign(&id).await;

    // After the stall timeout the stalled exports are cut: reading them now
    // gives what was queued, then DEADLINE_EXCEEDED, never a clean end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for mut s in stalled {
        let mut lines = 0;
        let end = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match s.message().await {
                    Ok(Some(_)) => lines += 1,
                    Ok(None) => return None,
                    Err(e) => return Some(e.code()),
                }
            }
        })
        .await
        .expect("the cut stream ends");
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
