//! Cloning a campaign (issue 24): a new DRAFT with the source's
//! activities, rules and prize table (stock full again), none of its
//! history, and a fairness commitment of its own at publish.

use engine_proto::campaign::v1::{self as pb, vote_admin_service_client::VoteAdminServiceClient};
use tonic::{Code, Status};

use crate::helpers::*;

both_backends!(
    a_clone_copies_the_rules_not_the_history,
    clone_requests_race_and_refuse,
    copies_of_one_clone_racing_on_two_replicas_make_one_clone,
);

fn clone_req(id: &str, name: &str, window: (i64, i64)) -> pb::CloneCampaignRequest {
    pb::CloneCampaignRequest {
        idempotency_key: key(),
        campaign_id: id.into(),
        name: name.into(),
        starts_at_ms: window.0,
        ends_at_ms: window.1,
    }
}

async fn clone(
    app: &TestApp,
    cred: &str,
    req: pb::CloneCampaignRequest,
) -> Result<pb::Campaign, Status> {
    app.admin()
        .clone_campaign(with(cred, req))
        .await
        .map(|r| r.into_inner())
}

const NEXT: (i64, i64) = (T0 + 40 * DAY, T0 + 70 * DAY);

async fn a_clone_copies_the_rules_not_the_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cup = slot("保温杯", pb::PrizeKind::Physical, 1, 5);
    cup.daily_cap = 2;
    let source = app
        .wheel(
            rules(3, 10),
            vec![cup, slot("券", pb::PrizeKind::Coupon, 2, 50), thanks(7)],
            2,
            true,
        )
        .await;
    let id = source.campaign_id.clone();
    VoteAdminServiceClient::new(app.channel.clone())
        .set_vote_rules(with(
            &app.admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                votes_per_day: 3,
                votes_per_candidate_per_day: 1,
                votes_total: 9,
                player_registration: true,
            },
        ))
        .await
        .expect("vote rules");
    for fan in ["a", "b", "c"] {
        app.draw(fan, &id).await.expect("draw");
    }

    let copy = clone(&app, &app.admin_key, clone_req(&id, "", NEXT))
        .await
        .expect("clone");
    assert_ne!(copy.campaign_id, id);
    assert_eq!(copy.name, "Autumn wheel 副本");
    assert_eq!(copy.status, pb::CampaignStatus::Draft as i32);
    assert_eq!((copy.starts_at_ms, copy.ends_at_ms), NEXT);
    assert_eq!((copy.draws_per_day, copy.draws_total), (3, 10));
    assert_eq!(copy.activities, source.activities);
    assert_eq!(copy.fallback_slot, Some(2));
    assert!(
        copy.fairness.is_none(),
        "no commitment before its own publish"
    );
    let specs = |c: &pb::Campaign| -> Vec<pb::PrizeSlotSpec> {
        c.slots
            .iter()
            .map(|s| s.spec.clone().expect("spec"))
            .collect()
    };
    assert_eq!(
        specs(&copy),
        specs(&source),
        "the same prize table, references included"
    );
    assert!(copy.slots.iter().all(|s| s.won == 0), "stock full again");
    assert_eq!(
        app.db
            .scalar(
                "SELECT votes_total FROM vote_rules WHERE campaign_id = $1",
                &copy.campaign_id
            )
            .await,
        9
    );
    for table in ["draw", "prize_award", "candidate"] {
        let sql: &'static str = match table {
            "draw" => "SELECT COUNT(*) FROM draw WHERE campaign_id = $1",
            "prize_award" => "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1",
            _ => "SELECT COUNT(*) FROM candidate WHERE campaign_id = $1",
        };
        assert_eq!(app.db.scalar(sql, &copy.campaign_id).await, 0, "{table}");
    }
    // Its own commitment once published; the source's is unchanged.
    let published = app
        .admin()
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: copy.campaign_id.clone(),
            },
        ))
        .await
        .expect("publish the clone")
        .into_inner();
    let mine = published.fairness.expect("fairness");
    let theirs = app
        .get_campaign(&id)
        .await
        .fairness
        .expect("source fairness");
    assert_ne!(mine.seed_commitment, theirs.seed_commitment);
    assert_eq!(mine.prize_table_hash.len(), 32);

    let named = clone(&app, &app.admin_key, clone_req(&id, "春季转盘", NEXT))
        .await
        .expect("named");
    assert_eq!(named.name, "春季转盘");
    app.stop().await;
}

async fn clone_requests_race_and_refuse(backend: Backend) {
    let app = spawn_app(backend).await;
    let source = app
        .wheel(
            rules(3, 10),
            vec![slot("积分", pb::PrizeKind::Points, 1, 5), thanks(1)],
            1,
            false,
        )
        .await;
    let id = source.campaign_id.clone();
    let count = || {
        app.db
            .scalar("SELECT COUNT(*) FROM campaign WHERE $1 = $1", "")
    };
    let before = count().await;
    // Two copies of one request at once: one clone, the same answer.
    let req = clone_req(&id, "", NEXT);
    let (a, b) = tokio::join!(
        clone(&app, &app.admin_key, req.clone()),
        clone(&app, &app.admin_key, req.clone())
    );
    assert_eq!(a.expect("first"), b.expect("second"));
    assert_eq!(count().await, before + 1);

    assert_code(
        clone(&app, &app.admin_key, clone_req(&id, "", (NEXT.1, NEXT.0))).await,
        Code::InvalidArgument,
        Some("ends_at_ms"),
    );
    assert_code(
        clone(
            &app,
            &app.admin_key,
            clone_req(&id, &"长".repeat(201), NEXT),
        )
        .await,
        Code::InvalidArgument,
        Some("name"),
    );
    assert_code(
        clone(&app, &app.admin_key, clone_req("nope", "", NEXT)).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        clone(&app, &other, clone_req(&id, "", NEXT)).await,
        Code::NotFound,
        None,
    );
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_code(
        clone(&app, &auditor, clone_req(&id, "", NEXT)).await,
        Code::PermissionDenied,
        None,
    );
    assert_eq!(count().await, before + 1, "refused clones made nothing");
    app.stop().await;
}

/// Copies of one CloneCampaign (one idempotency key) sent at once to two
/// engines on one database, as a retrying client behind a load balancer
/// would: one clone, every copy gets its answer byte for byte, one audit
/// entry.
async fn copies_of_one_clone_racing_on_two_replicas_make_one_clone(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    let source = app
        .wheel(
            rules(3, 10),
            vec![slot("积分", pb::PrizeKind::Points, 1, 5), thanks(1)],
            1,
            false,
        )
        .await;
    let replica = app.replica().await;
    let count = |sql: &'static str| app.db.scalar(sql, &source.campaign_id);
    let campaigns = "SELECT COUNT(*) FROM campaign WHERE $1 = $1";
    let clones = "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.clone' AND $1 = $1";
    let (campaigns_before, clones_before) = (count(campaigns).await, count(clones).await);
    let req = clone_req(&source.campaign_id, "春季转盘", NEXT);

    // Act: three copies on each engine.
    let mut set = tokio::task::JoinSet::new();
    for i in 0..6 {
        let ch = if i % 2 == 0 {
            app.channel.clone()
        } else {
            replica.channel.clone()
        };
        let (cred, req) = (app.admin_key.clone(), req.clone());
        set.spawn(async move {
            loop {
                let r = pb::admin_service_client::AdminServiceClient::new(ch.clone())
                    .clone_campaign(with(&cred, req.clone()))
                    .await;
                match r {
                    // "Retry with the same key": a copy was still in flight.
                    Err(s) if matches!(s.code(), Code::Aborted | Code::Unavailable) => continue,
                    other => return other.map(|r| r.into_inner()),
                }
            }
        });
    }
    let mut answers = Vec::new();
    while let Some(r) = set.join_next().await {
        answers.push(r.expect("task").expect("every copy gets the answer"));
    }

    // Assert
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer");
    assert_eq!(answers[0].status, pb::CampaignStatus::Draft as i32);
    assert_eq!(answers[0].name, "春季转盘");
    assert_ne!(answers[0].campaign_id, source.campaign_id);
    assert_eq!(count(campaigns).await, campaigns_before + 1, "one clone");
    assert_eq!(count(clones).await, clones_before + 1, "one audit entry");
    replica.stop().await;
    app.stop().await;
}
