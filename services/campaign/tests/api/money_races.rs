//! Money under a crowd (invariant 3): 500 concurrent grabs racing for one
//! packet, and for one budget, never hand out a cent more than there is.

use std::collections::HashSet;

use engine_proto::campaign::v1 as pb;
use tonic::Code;

use crate::{
    helpers::*,
    money::{budget, create_group, funded_campaign, group, money, packets},
};

both_backends!(
    five_hundred_grabs_race_for_one_packet,
    five_hundred_grabs_race_for_one_budget,
);

async fn five_hundred_grabs_race_for_one_packet(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let campaign = funded_campaign(&app, 1_000_000).await;
    let packet = create_group(&app, group(&campaign, 123_457, 300, pb::SplitMode::Lucky)).await;
    let mut tasks = Vec::new();
    for i in 0..500 {
        let (ch, token, id) = (
            app.channel.clone(),
            app.token(&format!("g{i}")),
            packet.packet_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let r = packets(&ch)
                    .grab_red_packet(with(
                        &token,
                        pb::GrabRedPacketRequest {
                            channel: String::new(),
                            idempotency_key: format!("k{i}"),
                            packet_id: id.clone(),
                        },
                    ))
                    .await;
                match r {
                    Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                    other => return other.map(|r| r.into_inner()).map_err(|s| s.code()),
                }
            }
        }));
    }
    let (mut ok, mut empty, mut seqs) = (Vec::new(), 0, HashSet::new());
    for t in tasks {
        match t.await.expect("task") {
            Ok(g) => {
                assert!(
                    seqs.insert(g.grab_seq),
                    "part {} handed out twice",
                    g.grab_seq
                );
                ok.push(g.amount_cents);
            }
            Err(Code::ResourceExhausted) => empty += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok.len(), empty), (300, 200));
    assert_eq!(ok.iter().sum::<i64>(), 123_457);
    assert!(ok.iter().all(|&c| c >= 1));
    app.db.assert_money_balances().await;
    app.stop().await;
}

async fn five_hundred_grabs_race_for_one_budget(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let campaign = funded_campaign(&app, 10_000).await;
    let packet = money(&app.channel)
        .create_campaign_packet(with(
            &app.admin_key,
            pb::CreateCampaignPacketRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
                min_cents: 30,
                max_cents: 60,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("campaign packet")
        .into_inner();
    let mut tasks = Vec::new();
    for i in 0..500 {
        let (ch, token, id) = (
            app.channel.clone(),
            app.token(&format!("b{i}")),
            packet.packet_id.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let r = packets(&ch)
                    .grab_red_packet(with(
                        &token,
                        pb::GrabRedPacketRequest {
                            channel: String::new(),
                            idempotency_key: format!("k{i}"),
                            packet_id: id.clone(),
                        },
                    ))
                    .await;
                match r {
                    Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                    other => return other.map(|r| r.into_inner()).map_err(|s| s.code()),
                }
            }
        }));
    }
    let (mut granted, mut spent, mut capped) = (0i64, 0, 0);
    for t in tasks {
        match t.await.expect("task") {
            Ok(g) => {
                assert!((1..=60).contains(&g.amount_cents), "{g:?}");
                if g.amount_cents < 30 {
                    capped += 1;
                }
                granted += g.amount_cents;
            }
            Err(Code::ResourceExhausted) => spent += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        granted, 10_000,
        "the budget is spent to the cent, never a cent over"
    );
    assert!(spent > 0 && capped <= 1, "spent {spent}, capped {capped}");
    let b = budget(&app, &campaign).await;
    assert_eq!((b.available_cents, b.granted_cents), (0, 10_000));
    app.db.assert_money_balances().await;
    app.stop().await;
}
