//! Winners by store (issue 24): a draw made in a store (its in-store QR
//! code) names the store, its prize carries it, and ListWinners and
//! ExportWinners filter on it; a store that is not an OPEN store of the
//! merchant is refused and draws nothing.

use engine_proto::campaign::v1 as pb;
use tonic::{Code, Status};

use crate::helpers::*;

both_backends!(winners_are_listed_by_the_store_they_drew_in);

async fn draw_in(
    app: &TestApp,
    openid: &str,
    campaign: &str,
    store: &str,
) -> Result<pb::DrawResponse, Status> {
    app.player()
        .draw(with(
            &app.token(openid),
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                channel: String::new(),
                store_id: store.into(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn winners(
    app: &TestApp,
    campaign: &str,
    store: &str,
    page_size: i32,
    page_token: &str,
) -> Result<pb::ListWinnersResponse, Status> {
    app.admin()
        .list_winners(with(
            &app.admin_key,
            pb::ListWinnersRequest {
                campaign_id: campaign.into(),
                page_size,
                page_token: page_token.into(),
                store_id: store.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner())
}

async fn winners_are_listed_by_the_store_they_drew_in(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.player_rate_per_sec = 0).await;
    app.ensure_store("SH-001").await;
    app.ensure_store("SH-002").await;
    app.ensure_store("BJ-009").await;
    // Every draw wins (the fallback has no weight).
    let c = app
        .wheel(
            rules(10, 10),
            vec![slot("积分", pb::PrizeKind::Points, 1, 100), thanks(0)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id;
    for p in 0..3 {
        let d = draw_in(&app, &format!("a{p}"), &id, "SH-001")
            .await
            .expect("draw");
        assert_eq!(d.award.expect("award").store_id, "SH-001");
    }
    for p in 0..2 {
        draw_in(&app, &format!("b{p}"), &id, " SH-002 ")
            .await
            .expect("draw");
    }
    draw_in(&app, "c0", &id, "")
        .await
        .expect("draw with no store");

    // By store, and all.
    let at = |r: &pb::ListWinnersResponse| {
        r.awards
            .iter()
            .map(|a| a.store_id.clone())
            .collect::<Vec<_>>()
    };
    let one = winners(&app, &id, "SH-001", 0, "").await.expect("SH-001");
    assert_eq!(at(&one), vec!["SH-001"; 3]);
    let two = winners(&app, &id, "SH-002", 0, "").await.expect("SH-002");
    assert_eq!(at(&two), vec!["SH-002"; 2]);
    let none = winners(&app, &id, "BJ-009", 0, "").await.expect("BJ-009");
    assert!(none.awards.is_empty());
    let all = winners(&app, &id, "", 0, "").await.expect("all");
    assert_eq!(all.awards.len(), 6);
    assert_eq!(
        all.awards.iter().filter(|a| a.store_id.is_empty()).count(),
        1
    );
    // Pages keep to their store; a token is bound to its filter.
    let first = winners(&app, &id, "SH-001", 2, "").await.expect("page 1");
    assert_eq!(first.awards.len(), 2);
    let rest = winners(&app, &id, "SH-001", 2, &first.next_page_token)
        .await
        .expect("page 2");
    assert_eq!(at(&rest), vec!["SH-001"]);
    assert_code(
        winners(&app, &id, "SH-002", 2, &first.next_page_token).await,
        Code::InvalidArgument,
        Some("page_token"),
    );
    assert_code(
        winners(&app, &id, "SH 001", 0, "").await,
        Code::InvalidArgument,
        Some("store_id"),
    );
    // The shipping list filters the same way.
    let mut csv = app
        .admin()
        .export_winners(with(
            &app.admin_key,
            pb::ExportWinnersRequest {
                campaign_id: id.clone(),
                store_id: "SH-002".into(),
                ..Default::default()
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = csv.message().await.expect("chunk") {
        bytes.extend(chunk.data);
    }
    let text = String::from_utf8(bytes).expect("utf-8");
    assert_eq!(
        text.lines().count(),
        1 + 2,
        "header and SH-002's two:\n{text}"
    );

    // A store the merchant did not register, or closed, draws nothing.
    let before = app.get_campaign(&id).await.slots[0].won;
    assert_code(
        draw_in(&app, "d0", &id, "XX-404").await,
        Code::FailedPrecondition,
        Some("store_id"),
    );
    let s = app
        .stores()
        .get_store(with(
            &app.admin_key,
            pb::GetStoreRequest {
                store_id: "BJ-009".into(),
            },
        ))
        .await
        .expect("store")
        .into_inner();
    app.stores()
        .update_store(with(
            &app.admin_key,
            pb::UpdateStoreRequest {
                idempotency_key: key(),
                store_id: s.store_id.clone(),
                name: s.name.clone(),
                city: s.city.clone(),
                address: s.address.clone(),
                location: s.location,
                status: pb::StoreStatus::Closed as i32,
            },
        ))
        .await
        .expect("close");
    assert_code(
        draw_in(&app, "d0", &id, "BJ-009").await,
        Code::FailedPrecondition,
        Some("store_id"),
    );
    assert_code(
        draw_in(&app, "d0", &id, "a b").await,
        Code::InvalidArgument,
        Some("store_id"),
    );
    assert_eq!(
        app.get_campaign(&id).await.slots[0].won,
        before,
        "nothing drawn"
    );
}
