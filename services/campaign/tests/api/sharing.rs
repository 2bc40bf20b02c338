//! Forward-to-Moments: share chains, views and forwards counted once, tiers
//! granted once per fan out of their stock under concurrent views
//! (invariant 1 for tiers), rewards off by default.

use std::collections::HashSet;

use engine_proto::campaign::v1::{
    self as pb, PrizeKind, share_admin_service_client::ShareAdminServiceClient,
    share_service_client::ShareServiceClient,
};
use tonic::{Code, transport::Channel};

use crate::helpers::*;

both_backends!(
    share_chains_count_views_and_forwards_once,
    tiers_are_granted_once_out_of_stock_under_concurrent_views,
    rewards_are_off_by_default_and_bad_rules_are_refused,
    extra_chances_are_earned_once_capped_and_spent_on_their_day,
);

fn admin(ch: &Channel) -> ShareAdminServiceClient<Channel> {
    ShareAdminServiceClient::new(ch.clone())
}
fn sharer(ch: &Channel) -> ShareServiceClient<Channel> {
    ShareServiceClient::new(ch.clone())
}

pub(crate) async fn share(app: &TestApp, who: &str, campaign: &str, parent: &str) -> pb::Share {
    sharer(&app.channel)
        .create_share(with(
            &app.token(who),
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                parent_token: parent.into(),
                channel: "moments".into(),
            },
        ))
        .await
        .expect("share")
        .into_inner()
}

pub(crate) async fn open(app: &TestApp, who: &str, token: &str) -> bool {
    sharer(&app.channel)
        .open_share(with(
            &app.token(who),
            pb::OpenShareRequest {
                idempotency_key: key(),
                token: token.into(),
                channel: String::new(),
            },
        ))
        .await
        .expect("open")
        .into_inner()
        .counted
}

async fn stats(app: &TestApp, who: &str, campaign: &str) -> pb::FanStats {
    sharer(&app.channel)
        .get_my_share_stats(with(
            &app.token(who),
            pb::GetMyShareStatsRequest {
                campaign_id: campaign.into(),
            },
        ))
        .await
        .expect("stats")
        .into_inner()
}

pub(crate) fn tier(
    metric: pb::ShareMetric,
    threshold: i64,
    name: &str,
    kind: PrizeKind,
    stock: i64,
) -> pb::ShareTier {
    let mut prize = slot(name, kind, 0, stock);
    prize.weight = 0;
    pb::ShareTier {
        metric: metric as i32,
        threshold,
        prize: Some(prize),
        remaining: 0,
    }
}

pub(crate) async fn set_rules(
    app: &TestApp,
    campaign: &str,
    enabled: bool,
    tiers: Vec<pb::ShareTier>,
) -> Result<pb::ShareRules, tonic::Status> {
    admin(&app.channel)
        .set_share_rules(with(
            &app.admin_key,
            pb::SetShareRulesRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                enabled,
                tiers,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn share_chains_count_views_and_forwards_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(5, 5), vec![thanks(1)], 0, true).await;
    let id = c.campaign_id.clone();
    // p0 -> p1 -> ... -> p5: each opens the previous token, then shares on.
    let root = share(&app, "p0", &id, "").await;
    assert_eq!(root.depth, 1);
    let mut tokens = vec![root.token.clone()];
    for d in 1..6 {
        let prev = tokens[d - 1].clone();
        assert!(
            !open(&app, &format!("p{}", d - 1), &prev).await,
            "own view never counts"
        );
        assert!(
            open(&app, &format!("p{d}"), &prev).await,
            "first view counts"
        );
        assert!(
            !open(&app, &format!("p{d}"), &prev).await,
            "a second view does not"
        );
        let child = share(&app, &format!("p{d}"), &id, &prev).await;
        assert_eq!(
            (child.depth, child.parent_token.as_str()),
            (d as u32 + 1, prev.as_str())
        );
        tokens.push(child.token);
    }
    // p0 also re-shares from its own token: not a forward.
    share(&app, "p0", &id, &tokens[0]).await;
    let chain = admin(&app.channel)
        .get_share_chain(with(
            &app.admin_key,
            pb::GetShareChainRequest {
                token: tokens[0].clone(),
            },
        ))
        .await
        .expect("chain")
        .into_inner()
        .links;
    assert_eq!(chain.len(), 7);
    assert!(chain.iter().all(|l| l.root_sharer_id == "p0"));
    let depths: Vec<u32> = chain.iter().map(|l| l.depth).collect();
    assert_eq!(depths, vec![1, 2, 2, 3, 4, 5, 6]);
    let p0 = stats(&app, "p0", &id).await;
    assert_eq!((p0.shares, p0.viewers, p0.forwards), (2, 1, 1));
    let p3 = stats(&app, "p3", &id).await;
    assert_eq!((p3.shares, p3.viewers, p3.forwards), (1, 1, 1));
    // p1 forwarding p0's token twice counts once.
    share(&app, "p1", &id, &tokens[0]).await;
    assert_eq!(stats(&app, "p0", &id).await.forwards, 1);
    // A view retried with the same key is the same answer.
    let req = pb::OpenShareRequest {
        idempotency_key: key(),
        token: tokens[5].clone(),
        channel: String::new(),
    };
    let a = sharer(&app.channel)
        .open_share(with(&app.token("q"), req.clone()))
        .await
        .expect("open")
        .into_inner();
    let b = sharer(&app.channel)
        .open_share(with(&app.token("q"), req))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(a, b);
    assert!(a.counted);
    app.db.assert_sharing_balances().await;
    app.stop().await;
}

/// One piece: one campaign's tiers raced by concurrent viewers, then each
/// fan's grants, their fulfilment and the frozen tiers checked against what
/// that race left.
async fn tiers_are_granted_once_out_of_stock_under_concurrent_views(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    let c = app.wheel(rules(5, 5), vec![thanks(1)], 0, true).await;
    let id = c.campaign_id.clone();
    let mut points = tier(
        pb::ShareMetric::Shares,
        1,
        "10 points",
        PrizeKind::Points,
        100,
    );
    points.prize.as_mut().expect("prize").amount = 10;
    let mut cash = tier(pb::ShareMetric::Shares, 1, "1.00 cash", PrizeKind::Cash, 3);
    cash.prize.as_mut().expect("prize").amount = 100;
    let rules = set_rules(
        &app,
        &id,
        true,
        vec![
            points,
            tier(
                pb::ShareMetric::Viewers,
                10,
                "Tote bag",
                PrizeKind::Physical,
                3,
            ),
            tier(pb::ShareMetric::Viewers, 5, "5 off", PrizeKind::Coupon, 4),
            cash,
        ],
    )
    .await
    .expect("rules");
    assert!(rules.enabled);
    // The cash tier (1.00 for sharing) is paid from a budget of 2.50: two
    // fans are paid, the third finds it short and gets nothing.
    engine_proto::campaign::v1::money_service_client::MoneyServiceClient::new(app.channel.clone())
        .fund_budget(with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                amount_cents: 250,
            },
        ))
        .await
        .expect("fund");
    let mut fans = Vec::new();
    for f in 0..5 {
        fans.push(share(&app, &format!("fan{f}"), &id, "").await.token);
    }
    // 12 viewers open every fan's share at once.
    let mut tasks = Vec::new();
    for (f, token) in fans.iter().enumerate() {
        for v in 0..12 {
            let (ch, t, token) = (
                app.channel.clone(),
                app.token(&format!("viewer{v}")),
                token.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let req = pb::OpenShareRequest {
                    idempotency_key: format!("open-{f}"),
                    token,
                    channel: String::new(),
                };
                loop {
                    match sharer(&ch).open_share(with(&t, req.clone())).await {
                        Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                        other => {
                            return other.map(|r| r.into_inner().counted).map_err(|s| s.code());
                        }
                    }
                }
            }));
        }
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), Ok(true));
    }
    let mut bags = 0;
    let mut coupons = 0;
    for f in 0..5 {
        let s = stats(&app, &format!("fan{f}"), &id).await;
        assert_eq!((s.shares, s.viewers), (1, 12));
        let granted: HashSet<u32> = s.tiers_granted.iter().copied().collect();
        assert!(granted.contains(&0), "the share tier");
        bags += usize::from(granted.contains(&1));
        coupons += usize::from(granted.contains(&2));
    }
    assert_eq!(
        (bags, coupons),
        (3, 4),
        "granted exactly the stock, never more"
    );
    let after = admin(&app.channel)
        .get_share_rules(with(
            &app.admin_key,
            pb::GetShareRulesRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("rules")
        .into_inner();
    let left: Vec<i64> = after.tiers.iter().map(|t| t.remaining).collect();
    assert_eq!(left, vec![95, 0, 0, 1]);
    let paid = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE tier_index = 3 AND campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!(paid, 2, "cash tiers paid while the budget lasted");
    assert_eq!(
        app.db
            .scalar("SELECT granted FROM budget WHERE campaign_id = $1", &id)
            .await,
        200
    );
    app.db.assert_money_balances().await;
    // Tier prizes use the wheel's fulfilment: the bag is a WON physical
    // prize the fan claims; the coupon waits in the prize outbox.
    let winner_awards = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE tier_index = 1 AND status = 'won' AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(winner_awards, 3);
    let queued = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM prize_outbox o JOIN prize_award a ON a.award_id = o.source_id \
             WHERE a.tier_index = 2 AND o.kind = 'COUPON' AND $1 = $1",
            "",
        )
        .await;
    assert_eq!(queued, 4);
    // Tiers cannot change once granted; `enabled` still can.
    assert_code(
        set_rules(&app, &id, true, vec![]).await,
        Code::FailedPrecondition,
        None,
    );
    let off = set_rules(
        &app,
        &id,
        false,
        after
            .tiers
            .iter()
            .map(|t| pb::ShareTier {
                remaining: 0,
                ..t.clone()
            })
            .collect(),
    )
    .await
    .expect("disable");
    assert!(!off.enabled);
    app.db.assert_sharing_balances().await;
    app.stop().await;
}

/// One piece: a table of bad share rules, wrong roles and foreign objects,
/// each refused the same way, between one state digest taken before and
/// compared after; then a draft campaign refused to players.
async fn rewards_are_off_by_default_and_bad_rules_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(5, 5), vec![thanks(1)], 0, true).await;
    let id = c.campaign_id.clone();
    // No rules: shares and views recorded, nothing granted.
    let t = share(&app, "ann", &id, "").await;
    assert!(open(&app, "bob", &t.token).await);
    let s = stats(&app, "ann", &id).await;
    assert_eq!((s.shares, s.viewers, s.tiers_granted.len()), (1, 1, 0));
    let before = state_digest(&app.db).await;
    let ok = tier(pb::ShareMetric::Shares, 1, "Pts", PrizeKind::Points, 5);
    let mut weighted = ok.clone();
    weighted.prize.as_mut().expect("prize").weight = 3;
    let mut no_stock = ok.clone();
    no_stock.prize.as_mut().expect("prize").stock = 0;
    for (tiers, field) in [
        (
            vec![tier(
                pb::ShareMetric::Unspecified,
                1,
                "X",
                PrizeKind::Points,
                5,
            )],
            "tiers.metric",
        ),
        (
            vec![tier(pb::ShareMetric::Shares, 0, "X", PrizeKind::Points, 5)],
            "tiers.threshold",
        ),
        (
            vec![tier(pb::ShareMetric::Shares, 1, "X", PrizeKind::Thanks, 0)],
            "tiers.prize.kind",
        ),
        (vec![weighted], "tiers.prize.weight"),
        (vec![no_stock], "tiers.prize.stock"),
        (vec![ok.clone(); 11], "tiers"),
    ] {
        assert_code(
            set_rules(&app, &id, true, tiers).await,
            Code::InvalidArgument,
            Some(field),
        );
    }
    // Roles and foreign objects.
    let other = other_merchant(&app.db).await;
    let rules_req = |cred: &str| {
        with(
            cred,
            pb::SetShareRulesRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                enabled: true,
                tiers: vec![],
            },
        )
    };
    assert_code(
        admin(&app.channel)
            .set_share_rules(rules_req(&app.token("ann")))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        admin(&app.channel).set_share_rules(rules_req(&other)).await,
        Code::NotFound,
        None,
    );
    assert_code(
        admin(&app.channel).set_share_rules(rules_req("")).await,
        Code::Unauthenticated,
        None,
    );
    let share_req = |cred: &str, parent: &str| {
        with(
            cred,
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                parent_token: parent.into(),
                channel: String::new(),
            },
        )
    };
    assert_code(
        sharer(&app.channel)
            .create_share(share_req(&app.admin_key, ""))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        sharer(&app.channel)
            .create_share(share_req(&app.token("ann"), "junk"))
            .await,
        Code::InvalidArgument,
        Some("parent_token"),
    );
    assert_code(
        sharer(&app.channel)
            .create_share(share_req(
                &app.token("ann"),
                &uuid::Uuid::new_v4().to_string(),
            ))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        sharer(&app.channel)
            .open_share(with(
                &app.token("ann"),
                pb::OpenShareRequest {
                    idempotency_key: key(),
                    token: uuid::Uuid::new_v4().to_string(),
                    channel: String::new(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    assert_code(
        admin(&app.channel)
            .get_share_chain(with(
                &other,
                pb::GetShareChainRequest {
                    token: t.token.clone(),
                },
            ))
            .await,
        Code::NotFound,
        None,
    );
    let digest_after = state_digest(&app.db).await;
    // other_merchant added a merchant key; nothing else changed.
    assert_eq!(
        before[..5],
        digest_after[..5],
        "refused requests changed state"
    );
    // A draft campaign: there, but not open to players.
    let draft = app.wheel(rules(5, 5), vec![thanks(1)], 0, false).await;
    assert_code(
        sharer(&app.channel)
            .create_share(with(
                &app.token("ann"),
                pb::CreateShareRequest {
                    idempotency_key: key(),
                    campaign_id: draft.campaign_id,
                    parent_token: String::new(),
                    channel: String::new(),
                },
            ))
            .await,
        Code::FailedPrecondition,
        None,
    );
    app.db.assert_sharing_balances().await;
    app.stop().await;
}

async fn extra_chances_are_earned_once_capped_and_spent_on_their_day(backend: Backend) {
    use engine_proto::campaign::v1::{
        vote_admin_service_client::VoteAdminServiceClient, vote_service_client::VoteServiceClient,
    };
    let app = spawn_app(backend).await;
    // One draw a day, two in total; then earn more.
    let c = app.wheel(rules(1, 2), vec![thanks(1)], 0, true).await;
    let id = c.campaign_id.clone();
    admin(&app.channel)
        .set_chance_rules(with(
            &app.admin_key,
            pb::SetChanceRulesRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                per_share: 1,
                per_tier: 0,
                per_vote: 2,
                daily_cap: 2,
            },
        ))
        .await
        .expect("chance rules");
    let mut va = VoteAdminServiceClient::new(app.channel.clone());
    va.set_vote_rules(with(
        &app.admin_key,
        pb::SetVoteRulesRequest {
            idempotency_key: key(),
            campaign_id: id.clone(),
            votes_per_day: 5,
            votes_per_candidate_per_day: 5,
            votes_total: 10,
            player_registration: false,
        },
    ))
    .await
    .expect("vote rules");
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
        .into_inner()
        .candidate_id;
    app.draw("zoe", &id).await.expect("the day's draw");
    assert_code(app.draw("zoe", &id).await, Code::ResourceExhausted, None);
    // A share earns one; retried with the same key, still one.
    let req = pb::CreateShareRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
        parent_token: String::new(),
        channel: String::new(),
    };
    for _ in 0..2 {
        sharer(&app.channel)
            .create_share(with(&app.token("zoe"), req.clone()))
            .await
            .expect("share");
    }
    let d = app.draw("zoe", &id).await.expect("an earned draw");
    assert_eq!(d.remaining_today, 0);
    assert_code(app.draw("zoe", &id).await, Code::ResourceExhausted, None);
    // A vote earns two, but the day's cap is two: one more today.
    VoteServiceClient::new(app.channel.clone())
        .cast_vote(with(
            &app.token("zoe"),
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: cand.clone(),
                channel: String::new(),
            },
        ))
        .await
        .expect("vote");
    app.draw("zoe", &id).await.expect("the capped extra draw");
    assert_code(app.draw("zoe", &id).await, Code::ResourceExhausted, None);
    // The next campaign day: today's extras are gone, the total kept them
    // (2 + 2 extra = 4, 3 used): one draw, then nothing.
    app.clock.set(T0 + 12 * HOUR + 60_000);
    let d = app.draw("zoe", &id).await.expect("the new day's draw");
    assert_eq!((d.remaining_today, d.remaining_total), (0, 0));
    assert_code(app.draw("zoe", &id).await, Code::ResourceExhausted, None);
    let granted = app
        .db
        .pairs(
            "SELECT granted, CAST(LENGTH(day) AS BIGINT) FROM extra_chance WHERE campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!(granted, vec![(2, 10)]);
    // The auditor's export accounts for the extra draws and verifies.
    app.end_campaign(&id).await;
    let lines = crate::fairness::export(&app, &app.admin_key, &id).await;
    let (ok, out) = crate::fairness::verify(&app.db.dir, "chances.jsonl", &lines, &[]);
    assert!(ok, "verifier: {out}");
    let no_chances: Vec<String> = lines
        .iter()
        .filter(|l| !l.contains("\"type\":\"chance\""))
        .cloned()
        .collect();
    let (ok, out) = crate::fairness::verify(&app.db.dir, "forged.jsonl", &no_chances, &[]);
    assert!(
        !ok && out.contains("over the player's"),
        "without the grants: {out}"
    );
    app.stop().await;
}
