//! What players and marketers see of a campaign's life cycle: a draft is
//! there but not open (FAILED_PRECONDITION, not NOT_FOUND), and a campaign
//! whose window is over shows ENDED everywhere before anyone ends it.

use engine_proto::campaign::v1::{
    self as pb, CampaignStatus, PrizeKind, audit_service_client::AuditServiceClient,
};
use tonic::Code;

use crate::helpers::*;

both_backends!(
    a_draft_is_there_but_not_open_to_players,
    a_campaign_past_its_window_shows_ended,
);

async fn a_draft_is_there_but_not_open_to_players(backend: Backend) {
    let app = spawn_app(backend).await;
    let draft = app
        .wheel(
            rules(5, 5),
            vec![slot("Mug", PrizeKind::Physical, 1, 10), thanks(1)],
            1,
            false,
        )
        .await;
    let r = app.draw("fan", &draft.campaign_id).await;
    assert_refused(r, "not published");
    let wheel = app
        .player()
        .get_wheel(with(
            &app.token("fan"),
            pb::GetWheelRequest {
                campaign_id: draft.campaign_id.clone(),
            },
        ))
        .await;
    assert_refused(wheel, "not published");
    // Nothing was counted.
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM draw WHERE campaign_id = $1",
                &draft.campaign_id
            )
            .await,
        0
    );
    // A campaign that does not exist, or is another merchant's, is NOT_FOUND.
    let missing = app.draw("fan", &uuid::Uuid::now_v7().to_string()).await;
    assert_code(missing, Code::NotFound, None);
    let other = other_merchant(&app.db).await;
    let theirs = build_wheel(
        &mut app.admin(),
        &other,
        rules(5, 5),
        vec![thanks(1)],
        0,
        true,
    )
    .await;
    let r = app.draw("fan", &theirs.campaign_id).await;
    assert_code(r, Code::NotFound, None);
}

async fn a_campaign_past_its_window_shows_ended(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut r = rules(5, 5);
    r.ends_at_ms = T0 + DAY;
    let c = app
        .wheel(
            r,
            vec![slot("Mug", PrizeKind::Physical, 1, 10), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id.clone();
    assert_eq!(c.status, CampaignStatus::Published as i32);
    app.draw("fan", &id).await.expect("draw inside the window");
    app.clock.set(T0 + DAY);

    let shown = app.get_campaign(&id).await;
    assert_eq!(shown.status, CampaignStatus::Ended as i32, "{shown:?}");
    let seed = &shown.fairness.as_ref().expect("fairness").revealed_seed;
    assert_eq!(seed.len(), 32, "the seed is revealed with the window over");
    let wheel = app
        .player()
        .get_wheel(with(
            &app.token("fan"),
            pb::GetWheelRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("wheel")
        .into_inner();
    assert_eq!(wheel.status, CampaignStatus::Ended as i32);
    assert_code(app.draw("fan", &id).await, Code::FailedPrecondition, None);
    // The export's campaign line says the same.
    let mut export = AuditServiceClient::new(app.channel.clone())
        .export_campaign(with(
            &app.admin_key,
            pb::ExportCampaignRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let first = export.message().await.expect("line").expect("a line");
    let line: serde_json::Value = serde_json::from_str(&first.json).expect("json");
    assert_eq!(line["status"], "ended", "{line}");
    // Pausing an ended campaign is refused.
    let paused = app
        .admin()
        .pause_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        ))
        .await;
    assert_refused(paused, "ended");
    // The engine's sweep (every minute) writes the end itself, as
    // EndCampaign would, exactly once; then an admin's End is refused.
    let stored = "SELECT COUNT(*) FROM campaign WHERE status = 'ended' AND campaign_id = $1";
    assert_eq!(app.db.scalar(stored, &id).await, 0);
    let ended = end_due(&app.db, T0 + DAY).await + end_due(&app.db, T0 + DAY).await;
    assert!(ended <= 1, "ended twice");
    assert_eq!(app.db.scalar(stored, &id).await, 1);
    let audited = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'campaign.end' AND campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!(audited, 1, "the end is in the audit trail once");
    let end = app
        .admin()
        .end_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        ))
        .await;
    assert_refused(end, "ended");
    assert_eq!(
        app.get_campaign(&id).await.status,
        CampaignStatus::Ended as i32
    );
    app.db.assert_money_balances().await;
}

/// Runs the engine's window-end sweep on the test's database.
async fn end_due(db: &TestDb, now: i64) -> u64 {
    on_store!(db, |store| store.end_due_campaigns(now, 100).await).expect("sweep")
}

/// FAILED_PRECONDITION with `words` in its message.
#[track_caller]
fn assert_refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, words: &str) {
    let s = r.expect_err("refused");
    assert_eq!(s.code(), Code::FailedPrecondition, "{s:?}");
    assert!(
        s.message().contains(words),
        "{:?} should say {words}",
        s.message()
    );
}
