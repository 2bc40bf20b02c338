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

both_backends!(a_scrape_after_draws_shows_calls_stock_and_pool);
