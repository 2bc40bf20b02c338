//! A campaign is a container of activities (issue 23): vote-only,
//! packet-only and share-only campaigns without a dummy wheel, activities
//! attached later in the states that allow it, calls of an activity a
//! campaign does not hold refused without effect, the wheel never attached
//! after its commitment, and exports that verify for any mix.

use engine_proto::campaign::v1::{
    self as pb, ActivityKind, share_admin_service_client::ShareAdminServiceClient,
    share_service_client::ShareServiceClient, stats_service_client::StatsServiceClient,
    vote_admin_service_client::VoteAdminServiceClient, vote_service_client::VoteServiceClient,
};
use tonic::{Code, Status};

use crate::fairness::{edit, export, verify};
use crate::helpers::*;
use crate::money::{create_group, grab, group, money};

both_backends!(
    a_vote_only_campaign_votes_and_refuses_the_wheel,
    a_packet_only_campaign_grabs_and_its_export_verifies,
    a_share_only_campaign_shares_and_refuses_the_rest,
    activities_attach_in_their_states_and_once,
    attaching_the_wheel_races_publish_and_never_both_win,
    create_wheel_still_holds_every_activity,
    bad_activity_requests_are_refused_precisely,
    campaigns_made_before_activities_hold_all_four,
);

fn campaign(activities: &[ActivityKind], limits: (i64, i64)) -> pb::CreateCampaignRequest {
    pb::CreateCampaignRequest {
        idempotency_key: key(),
        name: "秋季活动".into(),
        starts_at_ms: T0 - DAY,
        ends_at_ms: T0 + 30 * DAY,
        time_zone: String::new(),
        activities: activities.iter().map(|a| *a as i32).collect(),
        draws_per_day: limits.0,
        draws_total: limits.1,
    }
}

async fn create(app: &TestApp, req: pb::CreateCampaignRequest) -> Result<pb::Campaign, Status> {
    app.admin()
        .create_campaign(with(&app.admin_key, req))
        .await
        .map(|r| r.into_inner())
}

fn attach_req(id: &str, activity: ActivityKind, limits: (i64, i64)) -> pb::AttachActivityRequest {
    pb::AttachActivityRequest {
        idempotency_key: key(),
        campaign_id: id.into(),
        activity: activity as i32,
        draws_per_day: limits.0,
        draws_total: limits.1,
    }
}

async fn attach(
    app: &TestApp,
    id: &str,
    activity: ActivityKind,
    limits: (i64, i64),
) -> Result<pb::Campaign, Status> {
    app.admin()
        .attach_activity(with(&app.admin_key, attach_req(id, activity, limits)))
        .await
        .map(|r| r.into_inner())
}

async fn publish(app: &TestApp, id: &str) -> Result<pb::Campaign, Status> {
    app.admin()
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn kinds(c: &pb::Campaign) -> Vec<ActivityKind> {
    c.activities
        .iter()
        .map(|a| ActivityKind::try_from(*a).expect("known activity"))
        .collect()
}

/// FAILED_PRECONDITION naming the missing activity.
#[track_caller]
fn assert_no_activity<T: std::fmt::Debug>(r: Result<T, Status>, activity: &str) {
    match r {
        Ok(v) => panic!("expected no {activity} activity, got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), Code::FailedPrecondition, "{}", s.message());
            assert!(
                s.message().contains(&format!("no {activity} activity")),
                "{}",
                s.message()
            );
        }
    }
}

async fn vote_rules(app: &TestApp, id: &str) -> Result<pb::VoteRules, Status> {
    VoteAdminServiceClient::new(app.channel.clone())
        .set_vote_rules(with(
            &app.admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                votes_per_day: 3,
                votes_per_candidate_per_day: 1,
                votes_total: 10,
                player_registration: false,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn fund(app: &TestApp, id: &str, cents: i64) {
    money(&app.channel)
        .fund_budget(with(
            &app.admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                amount_cents: cents,
            },
        ))
        .await
        .expect("fund");
}

async fn add_slot(
    app: &TestApp,
    id: &str,
    spec: pb::PrizeSlotSpec,
) -> Result<pb::Campaign, Status> {
    app.admin()
        .add_prize_slot(with(
            &app.admin_key,
            pb::AddPrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                slot: Some(spec),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn share(app: &TestApp, who: &str, id: &str) -> Result<pb::Share, Status> {
    ShareServiceClient::new(app.channel.clone())
        .create_share(with(
            &app.token(who),
            pb::CreateShareRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                parent_token: String::new(),
                channel: "moments".into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn wheel_of(app: &TestApp, id: &str) -> Result<pb::Wheel, Status> {
    app.player()
        .get_wheel(with(
            &app.token("fan"),
            pb::GetWheelRequest {
                campaign_id: id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Ends the campaign, exports it and runs the project's verifier on it;
/// returns the export and the verifier's verdict line.
async fn export_and_verify(app: &TestApp, id: &str, name: &str) -> (Vec<String>, String) {
    app.end_campaign(id).await;
    let lines = export(app, &app.admin_key, id).await;
    let (ok, out) = verify(&app.db.dir, name, &lines, &[]);
    assert!(ok, "the verifier refused a genuine export: {out}");
    (lines, out)
}

async fn a_vote_only_campaign_votes_and_refuses_the_wheel(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = create(&app, campaign(&[ActivityKind::Vote], (0, 0)))
        .await
        .expect("create");
    assert_eq!(kinds(&c), [ActivityKind::Vote]);
    assert_eq!((c.draws_per_day, c.draws_total), (0, 0));
    assert!(c.slots.is_empty() && c.fallback_slot.is_none());
    let id = c.campaign_id;

    // The wheel's and sharing's calls are refused and change nothing.
    assert_no_activity(add_slot(&app, &id, thanks(1)).await, "wheel");
    assert_no_activity(share(&app, "fan", &id).await, "share");
    let before = app.get_campaign(&id).await;
    assert!(before.slots.is_empty());

    vote_rules(&app, &id).await.expect("vote rules");
    let candidate = VoteAdminServiceClient::new(app.channel.clone())
        .add_candidate(with(
            &app.admin_key,
            pb::AddCandidateRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                name: "一号".into(),
                description: String::new(),
            },
        ))
        .await
        .expect("candidate")
        .into_inner();
    // Published with no slot and no fallback: a campaign table is committed.
    let published = publish(&app, &id).await.expect("publish without a wheel");
    let fairness = published.fairness.expect("fairness at publish");
    assert!(
        fairness
            .prize_table_json
            .contains(r#""format":"campaign-table/v1""#)
    );
    assert!(
        fairness
            .prize_table_json
            .contains(r#""activities":["vote"]"#)
    );

    VoteServiceClient::new(app.channel.clone())
        .cast_vote(with(
            &app.token("fan"),
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: candidate.candidate_id,
                channel: String::new(),
            },
        ))
        .await
        .expect("vote");
    app.db.assert_leaderboard_matches_votes().await;
    // Statistics cover a campaign without a wheel.
    let stats = StatsServiceClient::new(app.channel.clone())
        .get_campaign_stats(with(
            &app.admin_key,
            pb::GetCampaignStatsRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("stats")
        .into_inner()
        .totals
        .expect("totals");
    assert_eq!((stats.votes, stats.draws, stats.participants), (1, 0, 1));

    assert_no_activity(app.draw("fan", &id).await, "wheel");
    assert_no_activity(wheel_of(&app, &id).await, "wheel");
    assert_no_activity(
        money(&app.channel)
            .create_group_packet(with(
                &app.admin_key,
                group(&id, 100, 2, pb::SplitMode::Equal),
            ))
            .await,
        "packet",
    );
    let draws = app
        .db
        .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
        .await;
    assert_eq!(draws, 0);

    // Red packets may join the running campaign; its commitment (to
    // voting alone) still verifies, packets included.
    attach(&app, &id, ActivityKind::RedPacket, (0, 0))
        .await
        .expect("attach red packets while published");
    fund(&app, &id, 1_000).await;
    let packet = create_group(&app, group(&id, 300, 2, pb::SplitMode::Equal)).await;
    grab(&app, "fan", &packet.packet_id).await.expect("grab");

    let (lines, out) = export_and_verify(&app, &id, "vote-only.jsonl").await;
    assert!(out.contains("no wheel") && out.contains("1 grabs"), "{out}");
    // Every activity committed to must still be held: one dropped from the
    // export is caught.
    let forged = edit(&lines, |l| {
        l[0]["activities"] = serde_json::json!(["packet"])
    });
    let (ok, out) = verify(&app.db.dir, "vote-forged.jsonl", &forged, &[]);
    assert!(!ok, "a forged activity list verified: {out}");
    app.stop().await;
}

async fn a_packet_only_campaign_grabs_and_its_export_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, campaign(&[ActivityKind::RedPacket], (0, 0)))
        .await
        .expect("create")
        .campaign_id;
    assert_no_activity(vote_rules(&app, &id).await, "vote");
    publish(&app, &id).await.expect("publish");
    fund(&app, &id, 10_000).await;
    let packet = create_group(&app, group(&id, 900, 3, pb::SplitMode::Lucky)).await;
    let mut got = 0;
    for fan in ["a", "b", "c"] {
        got += grab(&app, fan, &packet.packet_id)
            .await
            .expect("grab")
            .amount_cents;
    }
    assert_eq!(got, 900);
    assert_no_activity(app.draw("a", &id).await, "wheel");
    app.db.assert_money_balances().await;

    let (lines, out) = export_and_verify(&app, &id, "packet-only.jsonl").await;
    assert!(out.contains("1 red packets and 3 grabs"), "{out}");
    // A grab moved from one fan to another is caught without a wheel too.
    let forged = edit(&lines, |l| {
        let last = l.len() - 1;
        l[last]["grabs"][0]["amount_cents"] = serde_json::json!(1);
    });
    let (ok, out) = verify(&app.db.dir, "packet-forged.jsonl", &forged, &[]);
    assert!(!ok, "a forged grab verified: {out}");
    app.stop().await;
}

async fn a_share_only_campaign_shares_and_refuses_the_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, campaign(&[ActivityKind::Share], (0, 0)))
        .await
        .expect("create")
        .campaign_id;
    publish(&app, &id).await.expect("publish");
    let s = share(&app, "sharer", &id).await.expect("share");
    let opened = ShareServiceClient::new(app.channel.clone())
        .open_share(with(
            &app.token("friend"),
            pb::OpenShareRequest {
                idempotency_key: key(),
                token: s.token,
                channel: String::new(),
            },
        ))
        .await
        .expect("open")
        .into_inner();
    assert!(opened.counted);
    app.db.assert_sharing_balances().await;
    assert_no_activity(app.draw("friend", &id).await, "wheel");
    assert_no_activity(vote_rules(&app, &id).await, "vote");
    assert_no_activity(
        ShareAdminServiceClient::new(app.channel.clone())
            .set_chance_rules(with(
                &app.admin_key,
                pb::SetChanceRulesRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    ..Default::default()
                },
            ))
            .await,
        "wheel",
    );
    export_and_verify(&app, &id, "share-only.jsonl").await;
    app.stop().await;
}

async fn activities_attach_in_their_states_and_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = create(&app, campaign(&[ActivityKind::Vote], (0, 0)))
        .await
        .expect("create")
        .campaign_id;
    // The wheel, with its limits, while a draft; retried with the same key
    // it answers the same; again with another key it is already there.
    let req = attach_req(&id, ActivityKind::Wheel, (3, 10));
    let first = app
        .admin()
        .attach_activity(with(&app.admin_key, req.clone()))
        .await
        .expect("attach the wheel")
        .into_inner();
    assert_eq!(kinds(&first), [ActivityKind::Wheel, ActivityKind::Vote]);
    assert_eq!((first.draws_per_day, first.draws_total), (3, 10));
    let again = app
        .admin()
        .attach_activity(with(&app.admin_key, req))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(again, first);
    assert_code(
        attach(&app, &id, ActivityKind::Wheel, (3, 10)).await,
        Code::AlreadyExists,
        None,
    );
    // Now it is a wheel like any other.
    add_slot(&app, &id, slot("杯子", pb::PrizeKind::Physical, 1, 5))
        .await
        .expect("slot");
    add_slot(&app, &id, thanks(1)).await.expect("thanks");
    app.admin()
        .set_fallback_slot(with(
            &app.admin_key,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                index: 1,
            },
        ))
        .await
        .expect("fallback");
    publish(&app, &id).await.expect("publish");
    app.draw("fan", &id).await.expect("draw");
    wheel_of(&app, &id).await.expect("wheel shown");

    // Sharing may join a running campaign; the wheel may not.
    let shared = attach(&app, &id, ActivityKind::Share, (0, 0))
        .await
        .expect("attach sharing while published");
    assert!(kinds(&shared).contains(&ActivityKind::Share));
    share(&app, "fan", &id).await.expect("share once attached");
    let other = create(&app, campaign(&[ActivityKind::Vote], (0, 0)))
        .await
        .expect("create")
        .campaign_id;
    publish(&app, &other).await.expect("publish");
    assert_code(
        attach(&app, &other, ActivityKind::Wheel, (1, 1)).await,
        Code::FailedPrecondition,
        None,
    );
    // Nothing joins an ended campaign, and another merchant's is not there.
    app.end_campaign(&other).await;
    assert_code(
        attach(&app, &other, ActivityKind::RedPacket, (0, 0)).await,
        Code::FailedPrecondition,
        None,
    );
    let stranger = other_merchant(&app.db).await;
    assert_code(
        app.admin()
            .attach_activity(with(
                &stranger,
                attach_req(&id, ActivityKind::RedPacket, (0, 0)),
            ))
            .await,
        // Another merchant's campaign does not exist for this one.
        Code::NotFound,
        None,
    );
    assert_eq!(kinds(&app.get_campaign(&other).await), [ActivityKind::Vote]);
    export_and_verify(&app, &id, "attached.jsonl").await;
    app.stop().await;
}

/// One piece: the race is the point.
async fn attaching_the_wheel_races_publish_and_never_both_win(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..12 {
        let id = create(&app, campaign(&[ActivityKind::Vote], (0, 0)))
            .await
            .expect("create")
            .campaign_id;
        let (attached, published) = tokio::join!(
            attach(&app, &id, ActivityKind::Wheel, (1, 1)),
            publish(&app, &id)
        );
        let c = app.get_campaign(&id).await;
        let table = c.fairness.as_ref().map(|f| f.prize_table_json.clone());
        match (attached.is_ok(), published.is_ok()) {
            // The wheel came first: it has no slots, so publish refused.
            (true, false) => {
                assert!(kinds(&c).contains(&ActivityKind::Wheel));
                assert!(table.is_none(), "round {round}");
            }
            // Publish came first: the committed table has no wheel and the
            // wheel was refused.
            (false, true) => {
                assert_eq!(kinds(&c), [ActivityKind::Vote], "round {round}");
                assert!(table.is_some_and(|t| t.contains(r#""activities":["vote"]"#)));
            }
            both => panic!("round {round}: attach and publish gave {both:?}"),
        }
    }
    app.stop().await;
}

async fn create_wheel_still_holds_every_activity(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = app.wheel(rules(2, 4), vec![thanks(1)], 0, true).await;
    assert_eq!(
        kinds(&c),
        [
            ActivityKind::Wheel,
            ActivityKind::Vote,
            ActivityKind::RedPacket,
            ActivityKind::Share
        ]
    );
    assert_eq!((c.draws_per_day, c.draws_total), (2, 4));
    // Its committed table is the prize table, as before activities.
    let table = c.fairness.expect("fairness").prize_table_json;
    assert!(table.contains(r#""format":"prize-table/v1""#) && !table.contains("activities"));
    vote_rules(&app, &c.campaign_id)
        .await
        .expect("vote on a wheel");
    share(&app, "fan", &c.campaign_id)
        .await
        .expect("share on a wheel");
    assert_code(
        attach(&app, &c.campaign_id, ActivityKind::Vote, (0, 0)).await,
        Code::AlreadyExists,
        None,
    );
    app.stop().await;
}

async fn bad_activity_requests_are_refused_precisely(backend: Backend) {
    let app = spawn_app(backend).await;
    let count = "SELECT COUNT(*) FROM campaign WHERE merchant_id <> $1";
    let before = app.db.scalar(count, "").await;
    let cases: Vec<(pb::CreateCampaignRequest, &str)> = vec![
        (campaign(&[], (0, 0)), "activities"),
        (
            campaign(&[ActivityKind::Vote, ActivityKind::Vote], (0, 0)),
            "activities",
        ),
        (campaign(&[ActivityKind::Unspecified], (0, 0)), "activities"),
        (campaign(&[ActivityKind::Vote], (3, 0)), "draws_per_day"),
        (campaign(&[ActivityKind::Vote], (0, 3)), "draws_total"),
        (campaign(&[ActivityKind::Wheel], (0, 0)), "draws_per_day"),
        (campaign(&[ActivityKind::Wheel], (3, 2)), "draws_total"),
        (
            pb::CreateCampaignRequest {
                activities: vec![99],
                ..campaign(&[], (0, 0))
            },
            "activities",
        ),
        (
            pb::CreateCampaignRequest {
                name: String::new(),
                ..campaign(&[ActivityKind::Vote], (0, 0))
            },
            "name",
        ),
    ];
    for (req, field) in cases {
        assert_code(create(&app, req).await, Code::InvalidArgument, Some(field));
    }
    assert_eq!(
        app.db.scalar(count, "").await,
        before,
        "a refused create made a campaign"
    );

    let id = create(&app, campaign(&[ActivityKind::Vote], (0, 0)))
        .await
        .expect("create")
        .campaign_id;
    assert_code(
        attach(&app, &id, ActivityKind::Unspecified, (0, 0)).await,
        Code::InvalidArgument,
        Some("activity"),
    );
    assert_code(
        attach(&app, &id, ActivityKind::Share, (1, 1)).await,
        Code::InvalidArgument,
        Some("draws_per_day"),
    );
    assert_code(
        attach(&app, &id, ActivityKind::Wheel, (0, 0)).await,
        Code::InvalidArgument,
        Some("draws_per_day"),
    );
    assert_code(
        attach(&app, "not-a-uuid", ActivityKind::Share, (0, 0)).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    assert_code(
        attach(
            &app,
            &uuid::Uuid::now_v7().to_string(),
            ActivityKind::Share,
            (0, 0),
        )
        .await,
        Code::NotFound,
        None,
    );
    // A player or an auditor cannot create or attach.
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_code(
        app.admin()
            .create_campaign(with(&auditor, campaign(&[ActivityKind::Vote], (0, 0))))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        app.admin()
            .attach_activity(with(
                &app.token("fan"),
                attach_req(&id, ActivityKind::Share, (0, 0)),
            ))
            .await,
        Code::PermissionDenied,
        None,
    );
    assert_eq!(kinds(&app.get_campaign(&id).await), [ActivityKind::Vote]);
    app.stop().await;
}

/// Migration 0020 gives every campaign made before it all four
/// activities (all it could be used for then), so nothing a caller ran
/// before is refused after the upgrade.
async fn campaigns_made_before_activities_hold_all_four(backend: Backend) {
    use campaign::{
        domain::activity::Activity,
        store::{Store, postgres::PgDb, sqlite::SqliteDb},
    };
    // Arrange: a database at migration 0019 with one campaign.
    let db = TestDb::new(backend).await;
    let mut migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("../../migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("../../migrations/postgres"),
    };
    let before: Vec<_> = migrator
        .iter()
        .filter(|m| m.version < 20)
        .cloned()
        .collect();
    assert_eq!(before.len(), 19);
    migrator.migrations = before.into();
    let id = uuid::Uuid::now_v7();
    let merchant =
        "INSERT INTO merchant (merchant_id, name, created_at) VALUES ('m-old', 'old', 7)";
    let campaign = "INSERT INTO campaign (campaign_id, merchant_id, name, status, starts_at, \
                    ends_at, time_zone, draws_per_day, draws_total, roll_secret, created_at, \
                    updated_at) VALUES ($1, 'm-old', 'old', 'draft', 1, 2, 'Asia/Shanghai', 1, 1, \
                    $2, 7, 7)";
    match backend {
        Backend::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.dir.join("engine.db"))
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0019");
            sqlx::query(merchant)
                .execute(&pool)
                .await
                .expect("merchant");
            let q = sqlx::query(campaign)
                .bind(id.to_string())
                .bind(vec![1u8; 32]);
            q.execute(&pool).await.expect("campaign");
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open");
            migrator.run(&pool).await.expect("migrate to 0019");
            sqlx::query(merchant)
                .execute(&pool)
                .await
                .expect("merchant");
            let q = sqlx::query(campaign)
                .bind(id.to_string())
                .bind(vec![1u8; 32]);
            q.execute(&pool).await.expect("campaign");
            pool.close().await;
        }
    }
    // Act: the engine opens it (and applies 0020 on).
    let found = match backend {
        Backend::Sqlite => {
            let s = SqliteDb::connect(&db.url).await.expect("migrate");
            let r = Store::new(s.clone()).get_campaign("m-old", id, 8).await;
            s.close().await;
            r
        }
        Backend::Postgres => {
            let s = PgDb::connect(&db.url, 2).await.expect("migrate");
            let r = Store::new(s.clone()).get_campaign("m-old", id, 8).await;
            s.close().await;
            r
        }
    };
    // Assert: the old campaign holds every activity.
    assert_eq!(found.expect("the old campaign").activities, Activity::ALL);
}
