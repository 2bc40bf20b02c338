//! Budgets and red packets: the money ledger never loses or invents a cent
//! (invariant 3), under 500 concurrent grabs, across expiry and a crash.

use std::collections::HashSet;

use engine_proto::campaign::v1::{
    self as pb, money_service_client::MoneyServiceClient,
    red_packet_service_client::RedPacketServiceClient,
};
use tokio_stream::StreamExt;
use tonic::{Code, transport::Channel};

use crate::helpers::*;

both_backends!(
    budgets_and_group_packets_balance_to_the_cent,
    expiry_returns_the_rest_once_even_across_a_crash,
    bad_money_requests_move_nothing,
    splits_recompute_from_the_revealed_seed,
    wheel_cash_prizes_are_paid_from_the_budget,
);

pub(crate) fn money(ch: &Channel) -> MoneyServiceClient<Channel> {
    MoneyServiceClient::new(ch.clone())
}
pub(crate) fn packets(ch: &Channel) -> RedPacketServiceClient<Channel> {
    RedPacketServiceClient::new(ch.clone())
}

/// A published campaign (a one-slot wheel) funded with `cents`.
pub(crate) async fn funded_campaign(app: &TestApp, cents: i64) -> String {
    let c = app.wheel(rules(100, 100), vec![thanks(1)], 0, true).await;
    money(&app.channel)
        .fund_budget(with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                amount_cents: cents,
            },
        ))
        .await
        .expect("fund");
    c.campaign_id
}

pub(crate) fn group(
    campaign: &str,
    total: i64,
    parts: i64,
    mode: pb::SplitMode,
) -> pb::CreateGroupPacketRequest {
    pb::CreateGroupPacketRequest {
        idempotency_key: key(),
        campaign_id: campaign.into(),
        total_cents: total,
        parts,
        split_mode: mode as i32,
        expires_in_seconds: 0,
    }
}

pub(crate) async fn create_group(
    app: &TestApp,
    req: pb::CreateGroupPacketRequest,
) -> pb::RedPacket {
    money(&app.channel)
        .create_group_packet(with(&app.admin_key, req))
        .await
        .expect("create group packet")
        .into_inner()
}

pub(crate) async fn grab(
    app: &TestApp,
    who: &str,
    packet: &str,
) -> Result<pb::Grab, tonic::Status> {
    packets(&app.channel)
        .grab_red_packet(with(
            &app.token(who),
            pb::GrabRedPacketRequest {
                channel: String::new(),
                idempotency_key: key(),
                packet_id: packet.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

pub(crate) async fn budget(app: &TestApp, campaign: &str) -> pb::Budget {
    money(&app.channel)
        .get_budget(with(
            &app.admin_key,
            pb::GetBudgetRequest {
                campaign_id: campaign.into(),
            },
        ))
        .await
        .expect("budget")
        .into_inner()
}

/// One piece: a story on one budget (packets created, grabbed, retried,
/// listed, refunded), each step's amounts depending on the earlier ones,
/// balanced to the cent at the end.
async fn budgets_and_group_packets_balance_to_the_cent(backend: Backend) {
    let app = spawn_app(backend).await;
    let campaign = funded_campaign(&app, 100_000).await;
    let lucky = create_group(&app, group(&campaign, 10_000, 7, pb::SplitMode::Lucky)).await;
    let equal = create_group(&app, group(&campaign, 1001, 10, pb::SplitMode::Equal)).await;
    assert_eq!((lucky.packet_seq, equal.packet_seq), (1, 2));
    let b = budget(&app, &campaign).await;
    assert_eq!(
        (b.available_cents, b.reserved_cents),
        (100_000 - 11_001, 11_001)
    );

    let mut got = Vec::new();
    for p in 0..7 {
        let g = grab(&app, &format!("p{p}"), &lucky.packet_id)
            .await
            .expect("grab");
        assert_eq!(g.grab_seq, p + 1);
        assert!(g.amount_cents >= 1);
        got.push(g.amount_cents);
    }
    assert_eq!(
        got.iter().sum::<i64>(),
        10_000,
        "the parts sum exactly to the total"
    );
    assert_code(
        grab(&app, "p7", &lucky.packet_id).await,
        Code::ResourceExhausted,
        None,
    );
    assert_code(
        grab(&app, "p0", &equal.packet_id)
            .await
            .and(grab(&app, "p0", &equal.packet_id).await),
        Code::AlreadyExists,
        None,
    );
    // A retry with the same key is the same grab.
    let req = pb::GrabRedPacketRequest {
        channel: String::new(),
        idempotency_key: key(),
        packet_id: equal.packet_id.clone(),
    };
    let first = packets(&app.channel)
        .grab_red_packet(with(&app.token("q"), req.clone()))
        .await
        .expect("grab")
        .into_inner();
    let again = packets(&app.channel)
        .grab_red_packet(with(&app.token("q"), req))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert!(
        [100, 101].contains(&first.amount_cents),
        "equal parts: {first:?}"
    );

    // The player's own grabs; the admin's view of parts and grabbers.
    let mine = packets(&app.channel)
        .list_my_grabs(with(&app.token("p0"), pb::ListMyGrabsRequest {}))
        .await
        .expect("mine")
        .into_inner()
        .grabs;
    assert_eq!(mine.len(), 2);
    let detail = money(&app.channel)
        .get_red_packet(with(
            &app.admin_key,
            pb::GetRedPacketRequest {
                packet_id: lucky.packet_id.clone(),
            },
        ))
        .await
        .expect("detail")
        .into_inner();
    assert_eq!(
        detail
            .parts
            .iter()
            .map(|p| p.amount_cents)
            .collect::<Vec<_>>(),
        got
    );
    assert!(detail.parts.iter().all(|p| !p.player_id.is_empty()));
    // Refund what is available, not a cent more.
    let refund = |cents| pb::RefundBudgetRequest {
        idempotency_key: key(),
        campaign_id: campaign.clone(),
        amount_cents: cents,
    };
    let available = budget(&app, &campaign).await.available_cents;
    assert_code(
        money(&app.channel)
            .refund_budget(with(&app.admin_key, refund(available + 1)))
            .await,
        Code::ResourceExhausted,
        None,
    );
    let after = money(&app.channel)
        .refund_budget(with(&app.admin_key, refund(available)))
        .await
        .expect("refund")
        .into_inner();
    assert_eq!(
        (after.available_cents, after.refunded_cents),
        (0, available)
    );
    assert_eq!(
        after.funded_cents,
        after.available_cents + after.reserved_cents + after.granted_cents + after.refunded_cents
    );
    // The auditor reads the ledger: every movement balanced.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let mut stream = money(&app.channel)
        .export_ledger(with(
            &auditor,
            pb::ExportLedgerRequest {
                campaign_id: campaign.clone(),
            },
        ))
        .await
        .expect("ledger")
        .into_inner();
    let mut kinds = HashSet::new();
    while let Some(m) = stream.next().await {
        let m = m.expect("movement");
        assert_eq!(m.entries.iter().map(|e| e.amount_cents).sum::<i64>(), 0);
        kinds.insert(m.kind);
    }
    for k in ["fund", "reserve", "grant", "refund"] {
        assert!(kinds.contains(k), "no {k} movement in {kinds:?}");
    }
    app.db.assert_money_balances().await;
    app.stop().await;
}

async fn expiry_returns_the_rest_once_even_across_a_crash(backend: Backend) {
    let mut app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let campaign = funded_campaign(&app, 1_000_000).await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let mut req = group(&campaign, 1000 + i, 5, pb::SplitMode::Lucky);
        req.expires_in_seconds = 60;
        ids.push(create_group(&app, req).await.packet_id);
    }
    for id in ids.iter().step_by(3) {
        grab(&app, "early", id).await.expect("grab");
    }
    let reserved = budget(&app, &campaign).await.reserved_cents;
    app.clock.advance(61_000);
    assert_code(
        grab(&app, "late", &ids[1]).await,
        Code::FailedPrecondition,
        None,
    );

    // Two admins trigger expiry at once while the engine crashes mid-way.
    let expire = |ch: Channel, admin: String, campaign: String| async move {
        money(&ch)
            .expire_red_packets(with(
                &admin,
                pb::ExpireRedPacketsRequest {
                    idempotency_key: key(),
                    campaign_id: campaign,
                },
            ))
            .await
    };
    let a = tokio::spawn(expire(
        app.channel.clone(),
        app.admin_key.clone(),
        campaign.clone(),
    ));
    let b = tokio::spawn(expire(
        app.channel.clone(),
        app.admin_key.clone(),
        campaign.clone(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    app.crash_and_restart().await;
    let _ = (a.await, b.await);
    app.db.assert_money_balances().await;
    // After the restart, expiry finishes (again from the admin, and the
    // background sweep may run too): each packet released exactly once.
    let sweep = pb::ExpireRedPacketsRequest {
        idempotency_key: key(),
        campaign_id: campaign.clone(),
    };
    let first = money(&app.channel)
        .expire_red_packets(with(&app.admin_key, sweep.clone()))
        .await
        .expect("expire")
        .into_inner();
    // A retry with the same key gets the same answer.
    let retried = money(&app.channel)
        .expire_red_packets(with(&app.admin_key, sweep))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, retried);
    let again = money(&app.channel)
        .expire_red_packets(with(
            &app.admin_key,
            pb::ExpireRedPacketsRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
            },
        ))
        .await
        .expect("expire again")
        .into_inner();
    assert_eq!(
        (again.expired, again.released_cents),
        (0, 0),
        "nothing left to expire"
    );
    let b = budget(&app, &campaign).await;
    assert_eq!(b.reserved_cents, 0, "every unclaimed cent is back");
    let released = app
        .db
        .scalar("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM money_movement WHERE kind = 'release' AND $1 = $1", "")
        .await;
    assert_eq!(
        released, reserved,
        "released == what was still reserved at expiry"
    );
    assert_eq!(b.available_cents + b.granted_cents, 1_000_000);
    app.db.assert_money_balances().await;
    app.stop().await;
}

/// One piece: a table of bad money requests, each refused the same way, with
/// the ledger counted before and after (only the one packet created and its
/// one grab move money).
async fn bad_money_requests_move_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let campaign = funded_campaign(&app, 5_000).await;
    let draft = app.wheel(rules(1, 1), vec![thanks(1)], 0, false).await;
    let ledger = || {
        app.db
            .scalar("SELECT COUNT(*) FROM money_movement WHERE $1 = $1", "")
    };
    let before = ledger().await;
    let mut m = money(&app.channel);
    let fund = |c: &str, cents| pb::FundBudgetRequest {
        idempotency_key: key(),
        campaign_id: c.into(),
        amount_cents: cents,
    };
    assert_code(
        m.fund_budget(with(&app.admin_key, fund(&campaign, 0)))
            .await,
        Code::InvalidArgument,
        Some("amount_cents"),
    );
    assert_code(
        m.fund_budget(with(&app.admin_key, fund(&campaign, -5)))
            .await,
        Code::InvalidArgument,
        Some("amount_cents"),
    );
    assert_code(
        m.fund_budget(with(&app.admin_key, fund(&campaign, i64::MAX)))
            .await,
        Code::InvalidArgument,
        Some("amount_cents"),
    );
    assert_code(
        m.fund_budget(with(&app.admin_key, fund("nope", 5))).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        m.fund_budget(with(
            &app.admin_key,
            fund(&uuid::Uuid::now_v7().to_string(), 5),
        ))
        .await,
        Code::NotFound,
        None,
    );
    assert_code(
        m.fund_budget(with(&app.token("p"), fund(&campaign, 5)))
            .await,
        Code::PermissionDenied,
        None,
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        m.fund_budget(with(&other, fund(&campaign, 5))).await,
        Code::NotFound,
        None,
    );
    let g = |total, parts, mode: pb::SplitMode| group(&campaign, total, parts, mode);
    for (req, field) in [
        (g(0, 1, pb::SplitMode::Lucky), "total_cents"),
        (g(-100, 1, pb::SplitMode::Lucky), "total_cents"),
        (g(9, 10, pb::SplitMode::Lucky), "total_cents"),
        (g(100, 0, pb::SplitMode::Lucky), "parts"),
        (g(100_000, 10_001, pb::SplitMode::Lucky), "parts"),
        (g(100, 2, pb::SplitMode::Unspecified), "split_mode"),
        (
            pb::CreateGroupPacketRequest {
                expires_in_seconds: -1,
                ..g(100, 2, pb::SplitMode::Equal)
            },
            "expires_in_seconds",
        ),
    ] {
        assert_code(
            m.create_group_packet(with(&app.admin_key, req)).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    // More than the budget holds: RESOURCE_EXHAUSTED.
    assert_code(
        m.create_group_packet(with(&app.admin_key, g(5_001, 2, pb::SplitMode::Lucky)))
            .await,
        Code::ResourceExhausted,
        None,
    );
    // A draft campaign has no committed seed and no budget.
    let mut on_draft = g(100, 2, pb::SplitMode::Lucky);
    on_draft.campaign_id = draft.campaign_id.clone();
    assert_code(
        m.create_group_packet(with(&app.admin_key, on_draft)).await,
        Code::FailedPrecondition,
        None,
    );
    for (min, max, field) in [
        (0, 5, "min_cents"),
        (10, 5, "max_cents"),
        (1, i64::MAX, "max_cents"),
    ] {
        let req = pb::CreateCampaignPacketRequest {
            idempotency_key: key(),
            campaign_id: campaign.clone(),
            min_cents: min,
            max_cents: max,
            expires_in_seconds: 0,
        };
        assert_code(
            m.create_campaign_packet(with(&app.admin_key, req)).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    // Grabs: unknown packet, admin credential.
    assert_code(
        grab(&app, "p", &uuid::Uuid::now_v7().to_string()).await,
        Code::NotFound,
        None,
    );
    assert_code(
        grab(&app, "p", "nope").await,
        Code::InvalidArgument,
        Some("packet_id"),
    );
    let p = create_group(&app, g(100, 2, pb::SplitMode::Equal)).await;
    let admin_grab = packets(&app.channel)
        .grab_red_packet(with(
            &app.admin_key,
            pb::GrabRedPacketRequest {
                channel: String::new(),
                idempotency_key: key(),
                packet_id: p.packet_id.clone(),
            },
        ))
        .await;
    assert_code(admin_grab, Code::PermissionDenied, None);
    // Only the packet creation moved money (one reserve).
    assert_eq!(ledger().await, before + 1);
    let pos = app.api_key(pb::Role::Pos, "S1").await;
    assert_code(
        m.fund_budget(with(&pos, fund(&campaign, 5))).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        m.fund_budget(with("", fund(&campaign, 5))).await,
        Code::Unauthenticated,
        None,
    );
    grab(&app, "p", &p.packet_id).await.expect("first grab");
    // A second grab by the same player is refused and moves nothing.
    assert_code(
        grab(&app, "p", &p.packet_id).await,
        Code::AlreadyExists,
        None,
    );
    assert_eq!(ledger().await, before + 2);
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_code(
        m.fund_budget(with(&auditor, fund(&campaign, 5))).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        m.get_budget(with(
            &other,
            pb::GetBudgetRequest {
                campaign_id: campaign.clone(),
            },
        ))
        .await,
        Code::NotFound,
        None,
    );
    app.db.assert_money_balances().await;
    app.stop().await;
}

async fn splits_recompute_from_the_revealed_seed(backend: Backend) {
    use campaign::domain::money::{MoneyRng, SplitMode, split, split_message};
    let app = spawn_app(backend).await;
    let campaign = funded_campaign(&app, 100_000).await;
    let mut made = Vec::new();
    for (total, parts, mode) in [
        (5000, 13, pb::SplitMode::Lucky),
        (777, 7, pb::SplitMode::Equal),
        (20_000, 100, pb::SplitMode::Lucky),
    ] {
        made.push(create_group(&app, group(&campaign, total, parts, mode)).await);
    }
    let drip = money(&app.channel)
        .create_campaign_packet(with(
            &app.admin_key,
            pb::CreateCampaignPacketRequest {
                idempotency_key: key(),
                campaign_id: campaign.clone(),
                min_cents: 100,
                max_cents: 900,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("campaign packet")
        .into_inner();
    for p in 0..9 {
        for packet in made.iter().map(|m| &m.packet_id).chain([&drip.packet_id]) {
            let _ = grab(&app, &format!("v{p}"), packet).await;
        }
    }
    app.end_campaign(&campaign).await;
    let seed = app
        .get_campaign(&campaign)
        .await
        .fairness
        .expect("fairness")
        .revealed_seed;
    assert_eq!(seed.len(), 32);
    let id = uuid::Uuid::parse_str(&campaign).expect("uuid");
    for p in made {
        let detail = money(&app.channel)
            .get_red_packet(with(
                &app.admin_key,
                pb::GetRedPacketRequest {
                    packet_id: p.packet_id.clone(),
                },
            ))
            .await
            .expect("detail")
            .into_inner();
        let mode = if p.split_mode == pb::SplitMode::Lucky as i32 {
            SplitMode::Lucky
        } else {
            SplitMode::Equal
        };
        let mut rng = MoneyRng::new(
            &seed,
            &split_message(id.as_bytes(), p.packet_seq, p.total_cents, p.parts, mode),
        );
        let recomputed = split(p.total_cents, p.parts, mode, &mut rng);
        assert_eq!(
            detail
                .parts
                .iter()
                .map(|x| x.amount_cents)
                .collect::<Vec<_>>(),
            recomputed,
            "packet {}",
            p.packet_seq
        );
    }
    // The auditor's export carries every packet; the standalone verifier
    // recomputes the splits and grants, and catches an altered one.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let lines = crate::fairness::export(&app, &auditor, &campaign).await;
    let dir = app.db.dir.clone();
    let (ok, out) = crate::fairness::verify(&dir, "money.jsonl", &lines, &[]);
    assert!(ok && out.contains("4 red packets"), "{out}");
    let n = lines.len();
    for (what, idx, field) in [
        ("a part", n - 4, "parts_cents"),
        ("a grant", n - 1, "grabs"),
    ] {
        let forged = crate::fairness::edit(&lines, |v| {
            let slot = &mut v[idx][field][0];
            if field == "grabs" {
                let a = slot["amount_cents"].as_i64().expect("amount");
                slot["amount_cents"] = serde_json::json!(a + 1);
            } else {
                let a = slot.as_i64().expect("part");
                *slot = serde_json::json!(a + 1);
            }
        });
        let (ok, out) = crate::fairness::verify(&dir, "forged.jsonl", &forged, &[]);
        assert!(
            !ok && out.starts_with("INVALID"),
            "{what} altered, yet: {out}"
        );
    }
    app.stop().await;
}

async fn wheel_cash_prizes_are_paid_from_the_budget(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let mut cash = slot("2.50 red packet", pb::PrizeKind::Cash, 9, 20);
    cash.amount = 250;
    let c = app
        .wheel(rules(100, 100), vec![cash.clone(), thanks(1)], 1, false)
        .await;
    let id = c.campaign_id.clone();
    let fund = |cents| {
        with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                amount_cents: cents,
            },
        )
    };
    let publish = || {
        with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        )
    };
    // 20 prizes of 2.50 need 50.00 reserved: 40.00 is not enough.
    money(&app.channel)
        .fund_budget(fund(4000))
        .await
        .expect("fund");
    assert_code(
        app.admin().publish_campaign(publish()).await,
        Code::ResourceExhausted,
        None,
    );
    money(&app.channel)
        .fund_budget(fund(1000))
        .await
        .expect("fund");
    app.admin()
        .publish_campaign(publish())
        .await
        .expect("publish");
    let b = budget(&app, &id).await;
    assert_eq!((b.available_cents, b.reserved_cents), (0, 5000));

    let mut won = 0;
    for p in 0..15 {
        for _ in 0..2 {
            let d = app.draw(&format!("c{p}"), &id).await.expect("draw");
            if d.slot_index == 0 {
                won += 1;
            }
        }
    }
    assert!(won > 0, "with 90% odds someone won cash");
    let b = budget(&app, &id).await;
    assert_eq!(b.granted_cents, 250 * won);
    assert_eq!(b.reserved_cents, 250 * (20 - won));
    app.db.assert_money_balances().await;

    // A revision to 25 in stock needs 5 x 2.50 more.
    let revise = |stock| {
        let mut s = cash.clone();
        s.stock = stock;
        with(
            &app.admin_key,
            pb::ReviseWheelRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                slots: vec![s, thanks(1)],
            },
        )
    };
    assert_code(
        app.admin().revise_wheel(revise(25)).await,
        Code::ResourceExhausted,
        None,
    );
    money(&app.channel)
        .fund_budget(fund(1250))
        .await
        .expect("fund");
    app.admin().revise_wheel(revise(25)).await.expect("revise");
    let b = budget(&app, &id).await;
    assert_eq!((b.reserved_cents, b.available_cents), (250 * (25 - won), 0));
    // Ending the campaign gives the unpaid reserve back.
    app.end_campaign(&id).await;
    let b = budget(&app, &id).await;
    assert_eq!(
        (b.reserved_cents, b.available_cents, b.granted_cents),
        (0, 6250 - 250 * won, 250 * won)
    );
    app.db.assert_money_balances().await;
    app.stop().await;
}
