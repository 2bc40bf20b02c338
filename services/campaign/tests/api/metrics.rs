//! The Prometheus endpoint: a scrape after a few draws and a refusal shows
//! the calls by method and status, their latency histogram, the draws, the
//! prizes won and left, the outbox, the database pool and how writes were
//! grouped.

use engine_proto::campaign::v1::PrizeKind;

use crate::helpers::*;

async fn a_scrape_after_draws_shows_calls_stock_and_pool(backend: Backend) {
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = format!("127.0.0.1:{port}");
    })
    .await;
    let c = app
        .wheel(
            rules(10, 10),
            vec![slot("Cup", PrizeKind::Physical, 1, 5), thanks(0)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    for _ in 0..3 {
        app.draw("scraped", &id).await.expect("draw");
    }
    let refused = app.draw("scraped", "not-a-uuid").await;
    assert_code(refused, tonic::Code::InvalidArgument, Some("campaign_id"));

    let page = http_get(port, "/metrics").await;
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    let draw = "method=\"/campaign.v1.PlayerService/Draw\"";
    for line in [
        format!("campaign_rpc_requests_total{{{draw},code=\"OK\"}} 3"),
        format!("campaign_rpc_requests_total{{{draw},code=\"INVALID_ARGUMENT\"}} 1"),
        format!("campaign_rpc_duration_seconds_count{{{draw}}} 4"),
        format!("campaign_rpc_duration_seconds_bucket{{{draw},le=\"+Inf\"}} 4"),
        format!("campaign_draws_total{{campaign=\"{id}\"}} 3"),
        format!("campaign_prize_won_total{{campaign=\"{id}\",slot=\"0\"}} 3"),
        format!("campaign_prize_remaining{{campaign=\"{id}\",slot=\"0\"}} 2"),
        "campaign_outbox_waiting 0".to_owned(),
    ] {
        assert!(
            page.lines().any(|l| l == line),
            "missing `{line}` in:\n{page}"
        );
    }
    assert!(page.contains("\ncampaign_db_pool_connections "), "{page}");
    // How the writes were grouped: each draw above was alone, so on SQLite
    // each commit carried at least one transaction, and on PostgreSQL the
    // three draws went the single-draw way.
    let counter = |name: &str| metric(&page, name);
    match backend {
        Backend::Sqlite => {
            let commits = counter("campaign_db_group_commits_total");
            let carried = counter("campaign_db_group_committed_transactions_total");
            assert!(
                commits >= 3,
                "three draws, three commits at least: {commits}"
            );
            assert!(
                carried >= commits,
                "{carried} transactions in {commits} commits"
            );
        }
        Backend::Postgres => {
            assert_eq!(counter("campaign_draws_alone_total"), 3);
            assert_eq!(counter("campaign_draw_batches_total"), 0);
            assert_eq!(counter("campaign_draw_batched_draws_total"), 0);
            assert_eq!(counter("campaign_draw_batches_undone_total"), 0);
        }
    }
    assert!(http_get(port, "/").await.starts_with("HTTP/1.1 404"));
}

both_backends!(
    a_scrape_after_draws_shows_calls_stock_and_pool,
    a_flood_of_unknown_paths_is_one_label,
);

/// Anyone can send gRPC to any path: 300 unique 2 KB paths are counted as
/// one `unknown` method, and the page stays small.
async fn a_flood_of_unknown_paths_is_one_label(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = free_port();
    let app = spawn_app_with(backend, |s| {
        s.metrics_listen = format!("127.0.0.1:{port}");
    })
    .await;
    let before = http_get(port, "/metrics").await.len();
    for i in 0..300 {
        let path = format!("/flood{i}.{}/M", "p".repeat(2048));
        let mut s = tokio::net::TcpStream::connect(app.addr)
            .await
            .expect("connect");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/grpc-web+proto\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("send");
        s.write_all(&[0u8; 5]).await.expect("body");
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.expect("answer");
        let head = String::from_utf8_lossy(&answer);
        assert!(
            head.contains("grpc-status: 12"),
            "UNIMPLEMENTED expected: {head}"
        );
    }
    let page = http_get(port, "/metrics").await;
    assert!(
        page.contains(r#"campaign_rpc_requests_total{method="unknown",code="UNIMPLEMENTED"} 300"#),
        "{page}"
    );
    assert!(!page.contains("flood"), "a raw path became a label");
    assert!(
        page.len() < before + 4_000,
        "{} -> {} bytes",
        before,
        page.len()
    );
}
