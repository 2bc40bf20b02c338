//! The activities' list RPCs (issue 24): `ListRedPackets` and
//! `ListShareChains` page through every row present when paging began
//! exactly once while rows are added, show each row as the matching Get
//! shows it, and filter on what the rows show. Who may call them and the
//! bad requests they refuse are in `lists_activities_access.rs`.

use std::collections::{HashMap, HashSet};

use engine_proto::campaign::v1::{
    self as pb, PacketState, PrizeKind, ShareMetric,
    share_admin_service_client::ShareAdminServiceClient,
};
use tonic::Status;

use crate::{
    helpers::*,
    money::{budget, create_group, funded_campaign, grab, group, money},
    sharing::{open, set_rules, share, tier},
};

both_backends!(
    red_packets_page_through_while_more_are_made,
    shares_page_through_while_more_are_shared,
    red_packets_show_what_get_shows_and_filter_on_it,
    shares_show_their_chain_numbers_and_filter,
);

pub(crate) fn packets_req(campaign: &str, size: i32, token: &str) -> pb::ListRedPacketsRequest {
    pb::ListRedPacketsRequest {
        campaign_id: campaign.into(),
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    }
}

pub(crate) async fn list_packets(
    app: &TestApp,
    credential: &str,
    req: pb::ListRedPacketsRequest,
) -> Result<pb::ListRedPacketsResponse, Status> {
    money(&app.channel)
        .list_red_packets(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

pub(crate) fn shares_req(campaign: &str, size: i32, token: &str) -> pb::ListShareChainsRequest {
    pb::ListShareChainsRequest {
        campaign_id: campaign.into(),
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    }
}

pub(crate) async fn list_shares(
    app: &TestApp,
    credential: &str,
    req: pb::ListShareChainsRequest,
) -> Result<pb::ListShareChainsResponse, Status> {
    ShareAdminServiceClient::new(app.channel.clone())
        .list_share_chains(with(credential, req))
        .await
        .map(|r| r.into_inner())
}

/// Every packet the filtered list gives, 2 a page.
async fn all_packets(app: &TestApp, req: pb::ListRedPacketsRequest) -> Vec<pb::RedPacket> {
    let mut req = pb::ListRedPacketsRequest {
        page_size: 2,
        ..req
    };
    let mut out = Vec::new();
    loop {
        let page = list_packets(app, &app.admin_key, req.clone())
            .await
            .expect("page");
        out.extend(page.packets);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

/// Every share the filtered list gives, 2 a page.
async fn all_shares(app: &TestApp, req: pb::ListShareChainsRequest) -> Vec<pb::ShareSummary> {
    let mut req = pb::ListShareChainsRequest {
        page_size: 2,
        ..req
    };
    let mut out = Vec::new();
    loop {
        let page = list_shares(app, &app.admin_key, req.clone())
            .await
            .expect("page");
        out.extend(page.shares);
        if page.next_page_token.is_empty() {
            return out;
        }
        req.page_token = page.next_page_token;
    }
}

async fn campaign_packet(app: &TestApp, campaign: &str) -> pb::RedPacket {
    money(&app.channel)
        .create_campaign_packet(with(
            &app.admin_key,
            pb::CreateCampaignPacketRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                min_cents: 10,
                max_cents: 20,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("create campaign packet")
        .into_inner()
}

async fn red_packets_page_through_while_more_are_made(backend: Backend) {
    // Arrange: 240 packets, a group packet every fourth.
    let app = spawn_app(backend).await;
    let campaign = funded_campaign(&app, 10_000_000).await;
    let mut before = HashSet::new();
    for i in 0..240 {
        let p = if i % 4 == 0 {
            create_group(&app, group(&campaign, 10, 2, pb::SplitMode::Equal)).await
        } else {
            campaign_packet(&app, &campaign).await
        };
        before.insert(p.packet_id);
    }

    // Act: pages of 7; a packet made between pages is newer than every
    // packet read, so it sorts before the cursor and never shows.
    let mut seen: Vec<pb::RedPacket> = Vec::new();
    let mut added = HashSet::new();
    let mut token = String::new();
    loop {
        let page = list_packets(&app, &app.admin_key, packets_req(&campaign, 7, &token))
            .await
            .expect("page");
        let last = page.next_page_token.is_empty();
        assert!(
            page.packets.len() == 7 || (last && page.packets.len() < 7),
            "only the last page is short: {}",
            page.packets.len()
        );
        seen.extend(page.packets);
        if last {
            break;
        }
        token = page.next_page_token;
        added.insert(campaign_packet(&app, &campaign).await.packet_id);
        assert!(added.len() < 100, "paging does not end");
    }

    // Assert: newest first, strictly; every packet there at the start
    // exactly once; none made while paging.
    for w in seen.windows(2) {
        assert!(w[0].packet_seq > w[1].packet_seq, "order");
    }
    let mut count: HashMap<&str, usize> = HashMap::new();
    for p in &seen {
        *count.entry(p.packet_id.as_str()).or_default() += 1;
    }
    for id in &before {
        assert_eq!(count.get(id.as_str()), Some(&1), "packet {id} seen once");
    }
    assert!(added.iter().all(|id| !count.contains_key(id.as_str())));
    assert_eq!(seen.len(), before.len());
    assert!(
        seen.iter()
            .all(|p| p.campaign_id == campaign && p.state == PacketState::Open as i32)
    );
    app.db.assert_money_balances().await;
    app.stop().await;
}

async fn shares_page_through_while_more_are_shared(backend: Backend) {
    // Arrange: 300 shares by 30 fans, three at each instant (the token
    // orders them), every fifth onward from the latest root.
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let id = app
        .wheel(rules(5, 5), vec![thanks(1)], 0, true)
        .await
        .campaign_id;
    let mut before = HashSet::new();
    let mut root = String::new();
    for i in 0..300i64 {
        app.clock.set(T0 + i / 3);
        let parent = if i % 5 == 4 {
            root.clone()
        } else {
            String::new()
        };
        let s = share(&app, &format!("fan-{}", i % 30), &id, &parent).await;
        if parent.is_empty() {
            root = s.token.clone();
        }
        before.insert(s.token);
    }

    // Act: pages of 9; between pages, shares dated in the part already read
    // (they must not show), in the part not read yet (they must, once) and
    // at the cursor's own instant (at most once).
    let mut seen: Vec<pb::ShareSummary> = Vec::new();
    let (mut behind, mut ahead, mut at_cursor) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut token = String::new();
    let mut pages = 0;
    loop {
        app.clock.set(T0 + 1000);
        let page = list_shares(&app, &app.admin_key, shares_req(&id, 9, &token))
            .await
            .expect("page");
        assert!(page.shares.len() <= 9);
        seen.extend(page.shares);
        pages += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        let cursor = seen
            .last()
            .and_then(|s| s.link.as_ref())
            .expect("a full page")
            .created_at_ms;
        for (at, into) in [
            (cursor + 1, &mut behind),
            (cursor - 1, &mut ahead),
            (cursor, &mut at_cursor),
        ] {
            app.clock.set(at);
            into.insert(share(&app, "late-fan", &id, "").await.token);
        }
        assert!(pages < 100, "paging does not end");
    }

    // Assert
    let sort_key = |s: &pb::ShareSummary| {
        let l = s.link.clone().expect("link");
        (l.created_at_ms, l.token)
    };
    for w in seen.windows(2) {
        assert!(sort_key(&w[0]) > sort_key(&w[1]), "order");
    }
    let mut count: HashMap<String, usize> = HashMap::new();
    for s in &seen {
        *count.entry(sort_key(s).1).or_default() += 1;
    }
    for t in before.iter().chain(&ahead) {
        assert_eq!(count.get(t), Some(&1), "share {t} seen once");
    }
    assert!(behind.iter().all(|t| !count.contains_key(t)));
    assert!(count.values().all(|n| *n == 1), "no share twice");
    assert!(pages >= 34, "{pages} pages");
    app.stop().await;
}

async fn get_packet(app: &TestApp, id: &str) -> pb::RedPacket {
    money(&app.channel)
        .get_red_packet(with(
            &app.admin_key,
            pb::GetRedPacketRequest {
                packet_id: id.into(),
            },
        ))
        .await
        .expect("get packet")
        .into_inner()
        .packet
        .expect("packet")
}

fn ids(ps: &[pb::RedPacket]) -> Vec<&str> {
    ps.iter().map(|p| p.packet_id.as_str()).collect()
}

async fn red_packets_show_what_get_shows_and_filter_on_it(backend: Backend) {
    // Arrange: a group packet grabbed empty, one still open, one that
    // expires in a minute, and a campaign packet.
    let app = spawn_app(backend).await;
    let campaign = funded_campaign(&app, 100_000).await;
    let full = create_group(&app, group(&campaign, 300, 2, pb::SplitMode::Lucky)).await;
    for who in ["a", "b"] {
        grab(&app, who, &full.packet_id).await.expect("grab");
    }
    let half = create_group(&app, group(&campaign, 500, 5, pb::SplitMode::Equal)).await;
    grab(&app, "a", &half.packet_id).await.expect("grab");
    let mut brief = group(&campaign, 700, 7, pb::SplitMode::Equal);
    brief.expires_in_seconds = 60;
    let brief = create_group(&app, brief).await;
    let cp = campaign_packet(&app, &campaign).await;
    assert_eq!(cp.state, PacketState::Open as i32, "as created");
    app.clock.set(T0 + 120_000);

    // Act / Assert: newest first, each as GetRedPacket shows it now; the
    // expired one before the sweep has returned its rest.
    let all = all_packets(&app, packets_req(&campaign, 0, "")).await;
    let (f, o, b, c) = (
        full.packet_id.as_str(),
        half.packet_id.as_str(),
        brief.packet_id.as_str(),
        cp.packet_id.as_str(),
    );
    assert_eq!(ids(&all), [c, b, o, f]);
    for p in &all {
        assert_eq!(p, &get_packet(&app, &p.packet_id).await);
    }
    let state = |i: usize| PacketState::try_from(all[i].state).expect("state");
    assert_eq!(
        [state(0), state(1), state(2), state(3)],
        [
            PacketState::Open,
            PacketState::Expired,
            PacketState::Open,
            PacketState::Exhausted
        ]
    );
    assert!(!all[1].expired && all[1].remaining_cents == 700);
    assert_eq!((all[2].grabbed, all[2].granted_cents), (1, 100));
    assert_eq!((all[3].grabbed, all[3].remaining_cents), (2, 0));

    let filtered = |f: fn(&mut pb::ListRedPacketsRequest)| {
        let mut req = packets_req(&campaign, 0, "");
        f(&mut req);
        req
    };
    let groups = all_packets(&app, filtered(|r| r.kind = pb::PacketKind::Group as i32)).await;
    assert_eq!(ids(&groups), [b, o, f]);
    let campaigns = all_packets(&app, filtered(|r| r.kind = pb::PacketKind::Campaign as i32)).await;
    assert_eq!(ids(&campaigns), [c]);
    let expired = all_packets(
        &app,
        filtered(|r| r.states = vec![PacketState::Expired as i32]),
    )
    .await;
    assert_eq!(ids(&expired), [b]);
    let live = all_packets(
        &app,
        filtered(|r| {
            r.states = vec![
                PacketState::Exhausted as i32,
                PacketState::Open as i32,
                PacketState::Open as i32,
            ]
        }),
    )
    .await;
    assert_eq!(ids(&live), [c, o, f]);
    let open_groups = all_packets(
        &app,
        filtered(|r| {
            r.kind = pb::PacketKind::Group as i32;
            r.states = vec![PacketState::Open as i32];
        }),
    )
    .await;
    assert_eq!(ids(&open_groups), [o]);

    // The sweep returns the rest: still EXPIRED, now `expired`. A budget
    // with nothing available exhausts the campaign packet.
    money(&app.channel)
        .expire_red_packets(with(
            &app.admin_key,
            pb::ExpireRedPacketsRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
            },
        ))
        .await
        .expect("expire");
    let swept = get_packet(&app, b).await;
    assert_eq!(swept.state, PacketState::Expired as i32);
    assert!(swept.expired && swept.released_cents == 700 && swept.remaining_cents == 0);
    let available = budget(&app, &campaign).await.available_cents;
    money(&app.channel)
        .refund_budget(with(
            &app.admin_key,
            pb::RefundBudgetRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
                amount_cents: available,
            },
        ))
        .await
        .expect("refund");
    let exhausted = all_packets(
        &app,
        filtered(|r| r.states = vec![PacketState::Exhausted as i32]),
    )
    .await;
    assert_eq!(ids(&exhausted), [c, f]);
    assert_eq!(exhausted[0], get_packet(&app, c).await);
    app.db.assert_money_balances().await;
    app.stop().await;
}

async fn shares_show_their_chain_numbers_and_filter(backend: Backend) {
    // Arrange: tiers for one share and for one forward; a shares a root
    // that c opens and b shares onward; later c shares a root of its own.
    let app = spawn_app(backend).await;
    let id = app
        .wheel(rules(5, 5), vec![thanks(1)], 0, true)
        .await
        .campaign_id;
    set_rules(
        &app,
        &id,
        true,
        vec![
            tier(ShareMetric::Shares, 1, "分享积分", PrizeKind::Points, 10),
            tier(ShareMetric::Forwards, 1, "转发积分", PrizeKind::Points, 10),
        ],
    )
    .await
    .expect("rules");
    let root = share(&app, "fan-a", &id, "").await;
    assert!(open(&app, "fan-c", &root.token).await);
    app.clock.set(T0 + 1);
    let child = share(&app, "fan-b", &id, &root.token).await;
    app.clock.set(T0 + 2);
    let other = share(&app, "fan-c", &id, "").await;

    // Act
    let all = all_shares(&app, shares_req(&id, 0, "")).await;

    // Assert: newest first; each link as GetShareChain gives it; the
    // sharer's tiers.
    let tokens = |xs: &[pb::ShareSummary]| -> Vec<String> {
        xs.iter()
            .map(|x| x.link.as_ref().expect("link").token.clone())
            .collect()
    };
    assert_eq!(
        tokens(&all),
        [&other.token, &child.token, &root.token].map(String::clone)
    );
    let chain = ShareAdminServiceClient::new(app.channel.clone())
        .get_share_chain(with(
            &app.admin_key,
            pb::GetShareChainRequest {
                token: root.token.clone(),
            },
        ))
        .await
        .expect("chain")
        .into_inner()
        .links;
    assert_eq!(all[2].link.as_ref(), chain.first());
    assert_eq!(all[1].link.as_ref(), chain.get(1));
    let link = |i: usize| all[i].link.clone().expect("link");
    assert_eq!(
        (link(2).views, link(2).forwards, link(2).depth),
        (1, 1, 1),
        "c's view and b's forward"
    );
    assert_eq!((link(1).views, link(1).forwards, link(1).depth), (0, 0, 2));
    assert_eq!(link(1).parent_token, root.token);
    assert_eq!(
        (link(1).sharer_id.as_str(), link(1).root_sharer_id.as_str()),
        ("fan-b", "fan-a")
    );
    assert_eq!(
        all[2].sharer_tiers_granted,
        [0, 1],
        "a shared and was forwarded"
    );
    assert_eq!(all[1].sharer_tiers_granted, [0]);
    assert_eq!(all[0].sharer_tiers_granted, [0]);

    // Filters.
    let filtered = |f: fn(&mut pb::ListShareChainsRequest)| {
        let mut req = shares_req(&id, 0, "");
        f(&mut req);
        req
    };
    let roots = all_shares(&app, filtered(|r| r.roots_only = true)).await;
    assert_eq!(
        tokens(&roots),
        [&other.token, &root.token].map(String::clone)
    );
    let by_a = all_shares(&app, filtered(|r| r.sharer_id = " fan-a ".into())).await;
    assert_eq!(tokens(&by_a), std::slice::from_ref(&root.token));
    let none = all_shares(
        &app,
        filtered(|r| {
            r.sharer_id = "fan-b".into();
            r.roots_only = true;
        }),
    )
    .await;
    assert!(none.is_empty());
    let nobody = all_shares(&app, filtered(|r| r.sharer_id = "nobody".into())).await;
    assert!(nobody.is_empty());

    // An auditor reads the same rows.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let seen = list_shares(&app, &auditor, shares_req(&id, 0, ""))
        .await
        .expect("auditor")
        .shares;
    assert_eq!(seen, all);
    app.stop().await;
}
