//! Campaign statistics by channel and day equal the records they count.

use std::collections::BTreeMap;

use engine_proto::campaign::v1::{
    self as pb, PrizeKind, money_service_client::MoneyServiceClient,
    red_packet_service_client::RedPacketServiceClient, share_service_client::ShareServiceClient,
    stats_service_client::StatsServiceClient, vote_admin_service_client::VoteAdminServiceClient,
    vote_service_client::VoteServiceClient,
};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::*;

both_backends!(statistics_by_channel_and_day_equal_the_records);

async fn draw_via(app: &TestApp, who: &str, campaign: &str, channel: &str) {
    app.player()
        .draw(with(
            &app.token(who),
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                channel: channel.into(),
                store_id: String::new(),
            },
        ))
        .await
        .expect("draw");
}

/// One piece: a story over two campaign days (draws, votes, shares, views,
/// forwards, a red packet, through several channels), then every statistic
/// checked against exactly the records those steps made.
async fn statistics_by_channel_and_day_equal_the_records(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(5, 10),
            vec![
                slot("Cup", PrizeKind::Physical, 1, 100),
                slot("Points", PrizeKind::Points, 1, 100),
                thanks(1),
            ],
            2,
            true,
        )
        .await;
    let id = c.campaign_id.clone();
    // Day 1 (2026-11-26): draws by a (qr x2), b (qr), c (no tag).
    draw_via(&app, "a", &id, "qr").await;
    draw_via(&app, "a", &id, "qr").await;
    draw_via(&app, "b", &id, "qr").await;
    draw_via(&app, "c", &id, "").await;
    // (A player's first activity is the earliest; ties at one instant are
    // broken by day, then channel: keep the steps apart.)
    app.clock.advance(1000);
    // a votes (qr); b shares (poster); d views it; e views and forwards.
    let mut va = VoteAdminServiceClient::new(app.channel.clone());
    va.set_vote_rules(with(
        &app.admin_key,
        pb::SetVoteRulesRequest {
            idempotency_key: key(),
            campaign_id: id.clone(),
            votes_per_day: 3,
            votes_per_candidate_per_day: 3,
            votes_total: 9,
            player_registration: false,
        },
    ))
    .await
    .expect("rules");
    let cand = va
        .add_candidate(with(
            &app.admin_key,
            pb::AddCandidateRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                name: "Kim".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("candidate")
        .into_inner();
    VoteServiceClient::new(app.channel.clone())
        .cast_vote(with(
            &app.token("a"),
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: cand.candidate_id.clone(),
                channel: "qr".into(),
            },
        ))
        .await
        .expect("vote");
    let mut sh = ShareServiceClient::new(app.channel.clone());
    let share = |who: &str, parent: &str| {
        with(
            &app.token(who),
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                parent_token: parent.into(),
                channel: "poster".into(),
            },
        )
    };
    let open = |who: &str, token: &str| {
        with(
            &app.token(who),
            pb::OpenShareRequest {
                idempotency_key: key(),
                token: token.into(),
                channel: "poster".into(),
            },
        )
    };
    let root = sh
        .create_share(share("b", ""))
        .await
        .expect("share")
        .into_inner();
    sh.open_share(open("d", &root.token)).await.expect("view");
    sh.open_share(open("e", &root.token)).await.expect("view");
    sh.create_share(share("e", &root.token))
        .await
        .expect("forward");
    // Day 2: a draws again (not new), f is new through a partner.
    app.clock.set(T0 + DAY);
    draw_via(&app, "a", &id, "qr").await;
    draw_via(&app, "f", &id, "partner").await;
    // A red packet grabbed on day 2 by g (qr).
    let mut m = MoneyServiceClient::new(app.channel.clone());
    m.fund_budget(with(
        &app.admin_key,
        pb::FundBudgetRequest {
            idempotency_key: key(),
            campaign_id: id.clone(),
            amount_cents: 1000,
        },
    ))
    .await
    .expect("fund");
    let packet = m
        .create_group_packet(with(
            &app.admin_key,
            pb::CreateGroupPacketRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                total_cents: 300,
                parts: 1,
                split_mode: pb::SplitMode::Equal as i32,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("packet")
        .into_inner();
    RedPacketServiceClient::new(app.channel.clone())
        .grab_red_packet(with(
            &app.token("g"),
            pb::GrabRedPacketRequest {
                idempotency_key: key(),
                packet_id: packet.packet_id.clone(),
                channel: "qr".into(),
            },
        ))
        .await
        .expect("grab");

    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let mut stats_client = StatsServiceClient::new(app.channel.clone());
    let stats = stats_client
        .get_campaign_stats(with(
            &auditor,
            pb::GetCampaignStatsRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("stats")
        .into_inner();
    let by: BTreeMap<(String, String), pb::StatsRow> = stats
        .rows
        .iter()
        .map(|r| ((r.day.clone(), r.channel.clone()), r.clone()))
        .collect();
    let row = |d: &str, ch: &str| {
        by.get(&(d.to_owned(), ch.to_owned()))
            .cloned()
            .unwrap_or_default()
    };
    let d1 = "2026-11-26";
    let d2 = "2026-11-27";
    // (participants, new, draws, shares, views, forwards, votes, grabs, money)
    let shape = |r: &pb::StatsRow| {
        (
            r.participants,
            r.new_players,
            r.draws,
            r.shares,
            r.views,
            r.forwards,
            r.votes,
            r.packet_grabs,
            r.money_paid_cents,
        )
    };
    assert_eq!(shape(&row(d1, "qr")), (2, 2, 3, 0, 0, 0, 1, 0, 0));
    assert_eq!(shape(&row(d1, "")), (1, 1, 1, 0, 0, 0, 0, 0, 0));
    assert_eq!(shape(&row(d1, "poster")), (3, 2, 0, 2, 2, 1, 0, 0, 0));
    assert_eq!(shape(&row(d2, "qr")), (2, 1, 1, 0, 0, 0, 0, 1, 300));
    assert_eq!(shape(&row(d2, "partner")), (1, 1, 1, 0, 0, 0, 0, 0, 0));
    assert_eq!(by.len(), 5, "{:?}", by.keys().collect::<Vec<_>>());
    let t = stats.totals.expect("totals");
    assert_eq!(
        (
            t.participants,
            t.new_players,
            t.draws,
            t.votes,
            t.packet_grabs
        ),
        (7, 7, 6, 1, 1)
    );
    // Every number equals its records: draws and wins against the tables.
    let draws = app
        .db
        .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
        .await;
    let wins = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!((t.draws, t.wins), (draws, wins));
    let by_prize: i64 = t.wins_by_prize.iter().map(|p| p.count).sum();
    assert_eq!(by_prize, wins);
    // CSV: the header, one line per row, the totals.
    let mut csv = String::new();
    let mut s = stats_client
        .export_campaign_stats(with(
            &app.admin_key,
            pb::GetCampaignStatsRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("csv")
        .into_inner();
    while let Some(chunk) = s.next().await {
        csv.push_str(&String::from_utf8(chunk.expect("chunk").data).expect("utf-8"));
    }
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("day,channel,participants,new_players,draws"));
    assert_eq!(lines.len(), 1 + 5 + 1);
    assert!(lines[6].starts_with("total,*,7,7,6,"));
    // Roles: players are refused; another merchant finds nothing.
    let other = other_merchant(&app.db).await;
    for (cred, code) in [
        (app.token("a"), Code::PermissionDenied),
        (other, Code::NotFound),
    ] {
        let r = stats_client
            .get_campaign_stats(with(
                &cred,
                pb::GetCampaignStatsRequest {
                    campaign_id: id.clone(),
                },
            ))
            .await;
        assert_code(r, code, None);
    }
    assert_code(
        stats_client
            .get_campaign_stats(with(
                &app.admin_key,
                pb::GetCampaignStatsRequest {
                    campaign_id: "x".into(),
                },
            ))
            .await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    app.stop().await;
}
