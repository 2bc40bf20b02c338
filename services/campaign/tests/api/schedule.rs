//! Scheduled publish (issue 24): a draft marked to publish at its start
//! publishes itself once, as PublishCampaign would, also when the engine
//! was down at that moment and when replicas race; a refusal is recorded
//! and not retried until the campaign is scheduled again.

use std::time::Duration;

use campaign::{clock::ManualClock, prize_refs::PrizeReferences, sweepers::publish_due};
use engine_proto::campaign::v1 as pb;
use tonic::{Code, Status};

use crate::helpers::*;

both_backends!(
    a_scheduled_draft_publishes_itself_at_its_start,
    a_draft_due_while_the_engine_was_down_publishes_when_it_starts,
    refusals_are_kept_and_not_retried_until_scheduled_again,
    racing_publishers_publish_once,
    a_refusal_of_a_replaced_schedule_is_dropped,
    schedule_requests_check_roles_and_state
);

const START: i64 = T0 + HOUR;

async fn draft(app: &TestApp, starts_at: i64, ends_at: i64) -> pb::Campaign {
    let mut r = rules(3, 10);
    r.starts_at_ms = starts_at;
    r.ends_at_ms = ends_at;
    app.wheel(
        r,
        vec![slot("保温杯", pb::PrizeKind::Physical, 1, 5), thanks(9)],
        1,
        false,
    )
    .await
}

async fn schedule(app: &TestApp, cred: &str, id: &str, on: bool) -> Result<pb::Campaign, Status> {
    app.admin()
        .schedule_publish(with(
            cred,
            pb::SchedulePublishRequest {
                idempotency_key: key(),
                campaign_id: id.into(),
                publish_at_start: on,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// Polls the campaign until `done` holds (the publisher runs every 5 s).
async fn wait_for(app: &TestApp, id: &str, done: impl Fn(&pb::Campaign) -> bool) -> pb::Campaign {
    for _ in 0..150 {
        let c = app.get_campaign(id).await;
        if done(&c) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "campaign {id} did not get there in 15 s: {:?}",
        app.get_campaign(id).await
    );
}

fn published(c: &pb::Campaign) -> bool {
    c.status == pb::CampaignStatus::Published as i32
}

async fn publish_entries(app: &TestApp, id: &str) -> i64 {
    app.db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.publish' \
             AND campaign_id = $1",
            id,
        )
        .await
}

async fn a_scheduled_draft_publishes_itself_at_its_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = draft(&app, START, T0 + 10 * DAY).await;
    let marked = schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule");
    assert!(marked.publish_at_start && marked.scheduled_publish_error.is_empty());
    assert_eq!(marked.status, pb::CampaignStatus::Draft as i32);
    // Before its start (two publisher passes): still a draft.
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert_eq!(
        app.get_campaign(&c.campaign_id).await.status,
        pb::CampaignStatus::Draft as i32
    );
    // At its start: published, with a commitment of its own.
    app.clock.set(START);
    let p = wait_for(&app, &c.campaign_id, published).await;
    let fairness = p.fairness.expect("committed at publish");
    assert!(!fairness.seed_commitment.is_empty());
    assert_eq!(publish_entries(&app, &c.campaign_id).await, 1);
    let by_engine = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.publish' \
             AND actor = 'engine:schedule' AND campaign_id = $1",
            &c.campaign_id,
        )
        .await;
    assert_eq!(by_engine, 1);
    app.draw("fan-1", &c.campaign_id)
        .await
        .expect("draws once published");
}

async fn a_draft_due_while_the_engine_was_down_publishes_when_it_starts(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let c = draft(&app, START, T0 + 10 * DAY).await;
    schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule");
    app.crash().await;
    app.clock.set(START + 30 * 60_000);
    app.restart().await;
    wait_for(&app, &c.campaign_id, published).await;
    assert_eq!(publish_entries(&app, &c.campaign_id).await, 1);
}

async fn refusals_are_kept_and_not_retried_until_scheduled_again(backend: Backend) {
    let app = spawn_app(backend).await;
    // No fallback slot yet: the publish is refused, the reason kept.
    let mut r = rules(3, 10);
    r.starts_at_ms = START;
    r.ends_at_ms = T0 + 10 * DAY;
    let c = app
        .admin()
        .create_wheel(with(&app.admin_key, r))
        .await
        .expect("create")
        .into_inner();
    for s in [slot("保温杯", pb::PrizeKind::Physical, 1, 5), thanks(9)] {
        app.admin()
            .add_prize_slot(with(
                &app.admin_key,
                pb::AddPrizeSlotRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                    slot: Some(s),
                },
            ))
            .await
            .expect("slot");
    }
    schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule");
    app.clock.set(START);
    let refused = wait_for(&app, &c.campaign_id, |c| {
        !c.scheduled_publish_error.is_empty()
    })
    .await;
    assert_eq!(refused.status, pb::CampaignStatus::Draft as i32);
    assert!(
        refused.scheduled_publish_error.contains("fallback"),
        "{}",
        refused.scheduled_publish_error
    );
    // Not retried: fixed but not scheduled again, it stays a draft.
    app.admin()
        .set_fallback_slot(with(
            &app.admin_key,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                index: 1,
            },
        ))
        .await
        .expect("fallback");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let still = app.get_campaign(&c.campaign_id).await;
    assert_eq!(still.status, pb::CampaignStatus::Draft as i32);
    // Scheduled again: the error is cleared and it publishes.
    let again = schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule again");
    assert!(again.scheduled_publish_error.is_empty());
    wait_for(&app, &c.campaign_id, published).await;

    // A window that ended before the engine got to it: refused, not
    // published and then ended.
    let late = draft(&app, START + HOUR, START + 2 * HOUR).await;
    schedule(&app, &app.admin_key, &late.campaign_id, true)
        .await
        .expect("schedule late");
    app.clock.set(START + 3 * HOUR);
    let missed = wait_for(&app, &late.campaign_id, |c| {
        !c.scheduled_publish_error.is_empty()
    })
    .await;
    assert!(
        missed.scheduled_publish_error.contains("window"),
        "{}",
        missed.scheduled_publish_error
    );
    assert!(missed.fairness.is_none());
    assert_eq!(publish_entries(&app, &late.campaign_id).await, 0);
}

/// Publisher passes racing on one due draft (two here, the engine's own
/// a third): it is published once, with one commitment.
async fn racing_publishers_publish_once(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..4 {
        let start = START + round * HOUR;
        let c = draft(&app, start, T0 + 10 * DAY).await;
        schedule(&app, &app.admin_key, &c.campaign_id, true)
            .await
            .expect("schedule");
        app.clock.set(start);
        let clock = ManualClock::new(start);
        let refs = PrizeReferences::new(None, b"unused");
        let (a, b) = on_store!(&app.db, |store| tokio::join!(
            publish_due(&store, &clock, &refs),
            publish_due(&store, &clock, &refs)
        ));
        let n = a.expect("pass a") + b.expect("pass b");
        assert!(n <= 1, "round {round}: published {n} times");
        wait_for(&app, &c.campaign_id, published).await;
        assert_eq!(
            publish_entries(&app, &c.campaign_id).await,
            1,
            "round {round}"
        );
        let versions = app
            .db
            .scalar(
                "SELECT COUNT(*) FROM prize_table_version WHERE campaign_id = $1",
                &c.campaign_id,
            )
            .await;
        assert_eq!(versions, 1, "round {round}: one commitment");
    }
}

/// A publisher pass reads a due draft, an admin schedules it again (which
/// clears any refusal), then the pass records its refusal: it is about a
/// schedule that no longer stands, so it is dropped; one recorded against
/// the schedule it read sticks.
async fn a_refusal_of_a_replaced_schedule_is_dropped(backend: Backend) {
    let app = spawn_app(backend).await;
    // Far in the future: the engine's own publisher leaves it alone.
    let start = T0 + 5 * DAY;
    let c = draft(&app, start, T0 + 10 * DAY).await;
    schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule");
    let due = on_store!(&app.db, |store| store.due_publications(start, 100).await).expect("due");
    let due = due
        .into_iter()
        .find(|d| d.id.to_string() == c.campaign_id)
        .expect("due at its start");
    schedule(&app, &app.admin_key, &c.campaign_id, true)
        .await
        .expect("schedule again meanwhile");
    let stale = on_store!(&app.db, |store| store
        .record_publish_refusal(&due, "stale refusal")
        .await)
    .expect("record");
    assert!(!stale, "a refusal of the replaced schedule is dropped");
    assert!(
        app.get_campaign(&c.campaign_id)
            .await
            .scheduled_publish_error
            .is_empty()
    );
    // Read again, the refusal is about the schedule that stands: kept.
    let due = on_store!(&app.db, |store| store.due_publications(start, 100).await)
        .expect("due")
        .into_iter()
        .find(|d| d.id.to_string() == c.campaign_id)
        .expect("due");
    let kept = on_store!(&app.db, |store| store
        .record_publish_refusal(&due, "kept refusal")
        .await)
    .expect("record");
    assert!(kept);
    assert_eq!(
        app.get_campaign(&c.campaign_id)
            .await
            .scheduled_publish_error,
        "kept refusal"
    );
}

async fn schedule_requests_check_roles_and_state(backend: Backend) {
    let app = spawn_app(backend).await;
    let c = draft(&app, START, T0 + 10 * DAY).await;
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_code(
        schedule(&app, &auditor, &c.campaign_id, true).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        schedule(&app, &app.token("fan"), &c.campaign_id, true).await,
        Code::PermissionDenied,
        None,
    );
    assert_code(
        schedule(&app, &app.admin_key, "nope", true).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        schedule(&app, &other, &c.campaign_id, true).await,
        Code::NotFound,
        None,
    );
    // Replayed: the same answer; unmarked: it stays a draft at its start.
    let req = pb::SchedulePublishRequest {
        idempotency_key: key(),
        campaign_id: c.campaign_id.clone(),
        publish_at_start: true,
    };
    let first = app
        .admin()
        .schedule_publish(with(&app.admin_key, req.clone()))
        .await
        .expect("first")
        .into_inner();
    let again = app
        .admin()
        .schedule_publish(with(&app.admin_key, req))
        .await
        .expect("replay")
        .into_inner();
    assert_eq!(first, again);
    let off = schedule(&app, &app.admin_key, &c.campaign_id, false)
        .await
        .expect("unmark");
    assert!(!off.publish_at_start);
    app.clock.set(START);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert_eq!(
        app.get_campaign(&c.campaign_id).await.status,
        pb::CampaignStatus::Draft as i32
    );
    // Published by hand: no longer a draft to schedule.
    app.admin()
        .publish_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await
        .expect("publish");
    assert_code(
        schedule(&app, &app.admin_key, &c.campaign_id, true).await,
        Code::FailedPrecondition,
        None,
    );
}
