//! Shipping a courier's file of prizes at once (issue 24): each row
//! applied once even when the file is applied twice or by two admins at
//! the same time, refused rows reported with a reason and changing nothing.

use std::collections::{HashMap, HashSet};

use engine_proto::campaign::v1 as pb;
use tonic::{Code, Status};

use crate::helpers::*;

both_backends!(
    a_file_ships_each_prize_once_and_says_why_not,
    two_admins_shipping_at_once_ship_each_prize_once,
    two_admins_applying_one_file_at_once_apply_each_row_once,
    personal_data_is_erased_after_the_campaign_and_history_stays,
    shipping_list_is_excel_safe_and_masked_for_auditors,
);

/// A published wheel whose every draw wins a physical prize; `n` fans
/// draw once each and the first `claimed` of them claim. Returns the
/// campaign and the award ids in draw order.
async fn cups(app: &TestApp, n: usize, claimed: usize) -> (String, Vec<String>) {
    let c = app
        .wheel(
            rules(5, 5),
            vec![slot("保温杯", pb::PrizeKind::Physical, 1, 1000), thanks(0)],
            1,
            true,
        )
        .await;
    let mut awards = Vec::new();
    for i in 0..n {
        let who = format!("fan-{i}");
        let award = app
            .draw(&who, &c.campaign_id)
            .await
            .expect("draw")
            .award
            .expect("a cup")
            .award_id;
        if i < claimed {
            app.player()
                .claim_prize(with(
                    &app.token(&who),
                    pb::ClaimPrizeRequest {
                        idempotency_key: key(),
                        award_id: award.clone(),
                        shipping: Some(pb::ShippingDetails {
                            recipient: "王五".into(),
                            phone: "13900000000".into(),
                            address: "上海市浦东新区".into(),
                        }),
                    },
                ))
                .await
                .expect("claim");
        }
        awards.push(award);
    }
    (c.campaign_id, awards)
}

fn row(award: &str, tracking: &str) -> pb::ShipRow {
    pb::ShipRow {
        award_id: award.into(),
        tracking_number: tracking.into(),
    }
}

async fn ship(
    app: &TestApp,
    key: &str,
    campaign: &str,
    rows: Vec<pb::ShipRow>,
) -> Result<pb::BulkShipReport, Status> {
    app.admin()
        .bulk_ship_prizes(with(
            &app.admin_key,
            pb::BulkShipPrizesRequest {
                idempotency_key: key.into(),
                campaign_id: campaign.into(),
                rows,
            },
        ))
        .await
        .map(|r| r.into_inner())
}

fn outcomes(r: &pb::BulkShipReport) -> Vec<(i32, &str)> {
    r.results
        .iter()
        .map(|x| (x.outcome, x.reason.as_str()))
        .collect()
}

const SHIPPED: i32 = pb::ShipRowOutcome::Shipped as i32;
const ALREADY: i32 = pb::ShipRowOutcome::AlreadyShipped as i32;
const REFUSED: i32 = pb::ShipRowOutcome::Refused as i32;

async fn shipped_count(app: &TestApp, campaign: &str) -> i64 {
    app.db
        .scalar(
            "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1 AND status = 'shipped'",
            campaign,
        )
        .await
}

async fn a_file_ships_each_prize_once_and_says_why_not(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, a) = cups(&app, 5, 3).await;
    let (other, b) = cups(&app, 1, 1).await;
    let points = app
        .wheel(
            rules(5, 5),
            vec![slot("积分", pb::PrizeKind::Points, 1, 100), thanks(0)],
            1,
            true,
        )
        .await;
    let granted = app
        .draw("fan-9", &points.campaign_id)
        .await
        .expect("draw")
        .award
        .expect("points")
        .award_id;
    let file = vec![
        row(&a[0], "SF0001"),
        row(&a[1], "SF0002"),
        row(&a[3], "SF0004"),           // won, never claimed
        row(&a[0], "SF0001"),           // repeated
        row(&b[0], "SF0005"),           // another campaign's
        row(&granted, "SF0006"),        // another campaign's, not physical
        row("no-such-award", "SF0007"), // unknown
    ];
    let first = ship(&app, &key(), &id, file.clone()).await.expect("first");
    assert_eq!(
        outcomes(&first),
        [
            (SHIPPED, ""),
            (SHIPPED, ""),
            (REFUSED, "not_claimed"),
            (REFUSED, "repeated_row"),
            (REFUSED, "not_found"),
            (REFUSED, "not_found"),
            (REFUSED, "not_found"),
        ]
    );
    assert_eq!(
        (first.shipped, first.already_shipped, first.refused),
        (2, 0, 5)
    );
    assert_eq!(shipped_count(&app, &id).await, 2);
    assert_eq!(
        shipped_count(&app, &other).await,
        0,
        "another campaign's prize is untouched"
    );

    // The same file again, as a new request: nothing ships twice.
    let again = ship(&app, &key(), &id, file.clone()).await.expect("again");
    assert_eq!(&outcomes(&again)[..2], [(ALREADY, ""), (ALREADY, "")]);
    assert_eq!((again.shipped, again.already_shipped), (0, 2));
    // Another tracking number for a shipped prize is refused; the third
    // claimed prize ships.
    let fix = ship(
        &app,
        &key(),
        &id,
        vec![row(&a[0], "YT9999"), row(&a[2], "SF0003")],
    )
    .await
    .expect("fix");
    assert_eq!(
        outcomes(&fix),
        [(REFUSED, "other_tracking_number"), (SHIPPED, "")]
    );
    let winners = app
        .admin()
        .list_winners(with(
            &app.admin_key,
            pb::ListWinnersRequest {
                campaign_id: id.clone(),
                statuses: vec![pb::AwardStatus::Shipped as i32],
                ..Default::default()
            },
        ))
        .await
        .expect("winners")
        .into_inner()
        .awards;
    let tracking: HashMap<&str, &str> = winners
        .iter()
        .map(|w| (w.award_id.as_str(), w.tracking_number.as_str()))
        .collect();
    assert_eq!(
        tracking[a[0].as_str()],
        "SF0001",
        "the first tracking number stays"
    );
    assert_eq!(tracking.len(), 3);

    // A retry with the same key is the same answer, and changes nothing.
    let k = key();
    let once = ship(&app, &k, &id, vec![row(&a[4], "SF0008")])
        .await
        .expect("once");
    let replay = ship(&app, &k, &id, vec![row(&a[4], "SF0008")])
        .await
        .expect("replay");
    assert_eq!(once, replay);
    assert_code(
        ship(&app, &k, &id, vec![row(&a[4], "SF0009")]).await,
        Code::FailedPrecondition,
        None,
    );

    // Bad input names the field; roles; another merchant.
    assert_code(
        ship(&app, &key(), &id, vec![]).await,
        Code::InvalidArgument,
        Some("rows"),
    );
    assert_code(
        ship(&app, &key(), &id, vec![row(&a[2], "")]).await,
        Code::InvalidArgument,
        Some("rows.tracking_number"),
    );
    assert_code(
        ship(&app, &key(), "not-a-uuid", vec![row(&a[2], "x")]).await,
        Code::InvalidArgument,
        Some("campaign_id"),
    );
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let other_admin = other_merchant(&app.db).await;
    for (cred, code) in [
        (auditor.as_str(), Code::PermissionDenied),
        (other_admin.as_str(), Code::NotFound),
    ] {
        let r = app
            .admin()
            .bulk_ship_prizes(with(
                cred,
                pb::BulkShipPrizesRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    rows: vec![row(&a[2], "x")],
                },
            ))
            .await;
        assert_code(r, code, None);
    }
    assert_eq!(shipped_count(&app, &id).await, 3);
    app.stop().await;
}

async fn two_admins_shipping_at_once_ship_each_prize_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, a) = cups(&app, 12, 12).await;
    let second_admin = app.api_key(pb::Role::Admin, "").await;
    // Two overlapping files: rows 0..8 and 4..12, the shared ones with the
    // same tracking numbers.
    let file = |range: std::ops::Range<usize>| -> Vec<pb::ShipRow> {
        range.map(|i| row(&a[i], &format!("SF{i:04}"))).collect()
    };
    let send = |cred: String, rows: Vec<pb::ShipRow>| {
        let (mut client, id) = (app.admin(), id.clone());
        async move {
            client
                .bulk_ship_prizes(with(
                    &cred,
                    pb::BulkShipPrizesRequest {
                        idempotency_key: key(),
                        campaign_id: id,
                        rows,
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };
    let (x, y) = tokio::join!(
        send(app.admin_key.clone(), file(0..8)),
        send(second_admin, file(4..12))
    );
    let (x, y) = (x.expect("first admin"), y.expect("second admin"));
    assert_eq!(x.refused + y.refused, 0);
    assert_eq!(
        x.shipped + y.shipped,
        12,
        "each prize shipped by exactly one file"
    );
    assert_eq!(
        x.already_shipped + y.already_shipped,
        4,
        "the overlap, once each"
    );
    assert_eq!(shipped_count(&app, &id).await, 12);
    let audited = app
        .db
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'prize.ship_bulk' AND campaign_id = $1",
            &id,
        )
        .await;
    assert!((1..=2).contains(&audited), "{audited} audit entries");
    app.stop().await;
}

/// The same courier's file applied by two admins at the same moment (each
/// with its own idempotency key, as two consoles would): every row ships
/// once, and for every row the other report says ALREADY_SHIPPED.
async fn two_admins_applying_one_file_at_once_apply_each_row_once(backend: Backend) {
    // Arrange
    let app = spawn_app(backend).await;
    let (id, a) = cups(&app, 10, 10).await;
    let second_admin = app.api_key(pb::Role::Admin, "").await;
    let file: Vec<pb::ShipRow> = a
        .iter()
        .enumerate()
        .map(|(i, award)| row(award, &format!("YT{i:04}")))
        .collect();
    let send = |cred: String| {
        let (mut client, id, rows) = (app.admin(), id.clone(), file.clone());
        async move {
            client
                .bulk_ship_prizes(with(
                    &cred,
                    pb::BulkShipPrizesRequest {
                        idempotency_key: key(),
                        campaign_id: id,
                        rows,
                    },
                ))
                .await
                .map(|r| r.into_inner())
        }
    };

    // Act
    let (x, y) = tokio::join!(send(app.admin_key.clone()), send(second_admin));

    // Assert
    let (x, y) = (x.expect("first admin"), y.expect("second admin"));
    assert_eq!((x.refused, y.refused), (0, 0));
    assert_eq!(x.shipped + y.shipped, 10, "each row shipped once");
    assert_eq!(x.already_shipped + y.already_shipped, 10);
    assert_eq!((x.results.len(), y.results.len()), (10, 10));
    for (i, (rx, ry)) in x.results.iter().zip(&y.results).enumerate() {
        assert_eq!(
            (rx.award_id.as_str(), ry.award_id.as_str()),
            (a[i].as_str(), a[i].as_str())
        );
        let mut pair = [rx.outcome, ry.outcome];
        pair.sort_unstable();
        let mut want = [SHIPPED, ALREADY];
        want.sort_unstable();
        assert_eq!(
            pair, want,
            "row {i}: one report ships it, the other says so"
        );
        assert!(rx.reason.is_empty() && ry.reason.is_empty());
    }
    assert_eq!(shipped_count(&app, &id).await, 10);
    let shipped = app
        .admin()
        .list_winners(with(
            &app.admin_key,
            pb::ListWinnersRequest {
                campaign_id: id.clone(),
                statuses: vec![pb::AwardStatus::Shipped as i32],
                page_size: 100,
                ..Default::default()
            },
        ))
        .await
        .expect("winners")
        .into_inner()
        .awards;
    let tracking: HashMap<&str, &str> = shipped
        .iter()
        .map(|w| (w.award_id.as_str(), w.tracking_number.as_str()))
        .collect();
    for (i, award) in a.iter().enumerate() {
        assert_eq!(
            tracking.get(award.as_str()).copied(),
            Some(format!("YT{i:04}").as_str()),
            "the file's tracking number"
        );
    }
    app.stop().await;
}

async fn personal_data_is_erased_after_the_campaign_and_history_stays(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, a) = cups(&app, 3, 3).await;
    ship(&app, &key(), &id, vec![row(&a[0], "SF0001")])
        .await
        .expect("ship");
    let erase = |player: &str| pb::ErasePersonalDataRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
        player_id: player.into(),
    };
    // Not while the campaign runs: a prize may still be waiting to ship.
    assert_code(
        app.admin()
            .erase_personal_data(with(&app.admin_key, erase("fan-1")))
            .await,
        Code::FailedPrecondition,
        None,
    );
    app.end_campaign(&id).await;
    let one = app
        .admin()
        .erase_personal_data(with(&app.admin_key, erase("fan-1")))
        .await
        .expect("erase one")
        .into_inner();
    assert_eq!(one.erased, 1);
    let details = "SELECT COUNT(*) FROM prize_award WHERE campaign_id = $1 AND phone IS NOT NULL";
    assert_eq!(app.db.scalar(details, &id).await, 2);
    let rest = app
        .admin()
        .erase_personal_data(with(&app.admin_key, erase("")))
        .await
        .expect("erase all")
        .into_inner();
    assert_eq!(rest.erased, 2);
    assert_eq!(app.db.scalar(details, &id).await, 0);
    // The history stays: the awards, their states and tracking numbers.
    assert_eq!(shipped_count(&app, &id).await, 1);
    let csv = app
        .admin()
        .export_winners(with(
            &app.admin_key,
            pb::ExportWinnersRequest {
                campaign_id: id.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("export");
    let mut stream = csv.into_inner();
    let mut text = Vec::new();
    while let Some(c) = stream.message().await.expect("chunk") {
        text.extend(c.data);
    }
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        !text.contains("13900000000") && !text.contains("王五"),
        "{text}"
    );
    assert!(
        text.contains("SF0001") && text.lines().count() == 4,
        "{text}"
    );
    // Nothing of the data reached the audit trail.
    assert_eq!(
        app.db
            .scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'prize.erase_personal_data' AND campaign_id = $1",
                &id
            )
            .await,
        2
    );
    assert_eq!(
        app.db
            .stored_answers_containing("13900000000".as_bytes())
            .await,
        0
    );
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    assert_code(
        app.admin()
            .erase_personal_data(with(&auditor, erase("")))
            .await,
        Code::PermissionDenied,
        None,
    );
    app.stop().await;
}

/// The whole shipping list as text, as `cred` gets it.
async fn export_winners(
    app: &TestApp,
    cred: &str,
    req: pb::ExportWinnersRequest,
) -> Result<String, Status> {
    let mut stream = app
        .admin()
        .export_winners(with(cred, req))
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.data);
    }
    Ok(String::from_utf8(bytes).expect("UTF-8"))
}

async fn shipping_list_is_excel_safe_and_masked_for_auditors(backend: Backend) {
    let app = spawn_app(backend).await;
    let wheel = app
        .wheel(
            rules(100, 100),
            vec![
                slot("保温杯", pb::PrizeKind::Physical, 1, 1000),
                slot("积分", pb::PrizeKind::Points, 1, 1000),
                thanks(0),
            ],
            2,
            true,
        )
        .await;
    let id = wheel.campaign_id.clone();
    // 520 prizes: more than one page of the export (500).
    let mut cup = None;
    for i in 0..520 {
        let who = format!("fan-{}", i % 26);
        let d = app.draw(&who, &id).await.expect("draw");
        if cup.is_none() && d.slot_index == 0 {
            cup = Some((who, d.award.expect("award").award_id));
        }
    }
    let (winner, award) = cup.expect("a cup among 520 draws");
    app.player()
        .claim_prize(with(
            &app.token(&winner),
            pb::ClaimPrizeRequest {
                idempotency_key: key(),
                award_id: award.clone(),
                shipping: Some(pb::ShippingDetails {
                    recipient: "=HYPERLINK(\"http://x\")".into(),
                    phone: "13812345678".into(),
                    address: "浙江省杭州市西湖区文三路1号, 3楼".into(),
                }),
            },
        ))
        .await
        .expect("claim");
    let req = || pb::ExportWinnersRequest {
        campaign_id: id.clone(),
        ..Default::default()
    };

    let full = export_winners(&app, &app.admin_key, req())
        .await
        .expect("admin export");
    assert!(
        full.starts_with("\u{feff}中奖编号,中奖时间,用户,奖品,"),
        "{}",
        &full[..80]
    );
    let lines: Vec<&str> = full.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 1 + 520, "a header and one line a prize");
    let ids: HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().expect("id"))
        .collect();
    assert_eq!(ids.len(), 520, "each prize once across the pages");
    let claimed = lines
        .iter()
        .find(|l| l.starts_with(&award))
        .expect("the claimed cup");
    assert!(
        claimed.contains("\"'=HYPERLINK(\"\"http://x\"\")\"")
            && claimed.contains("13812345678")
            && claimed.contains("\"浙江省杭州市西湖区文三路1号, 3楼\"")
            && claimed.contains("待发货"),
        "{claimed}"
    );

    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let masked = export_winners(&app, &auditor, req())
        .await
        .expect("auditor export");
    assert_eq!(masked.lines().count(), lines.len());
    assert!(
        !masked.contains("13812345678")
            && !masked.contains("文三路")
            && !masked.contains("HYPERLINK")
    );
    assert!(
        masked.contains("138****5678") && masked.contains("浙江省杭州市***"),
        "masked"
    );

    // Filters as ListWinners: only the claimed one.
    let only_claimed = export_winners(
        &app,
        &app.admin_key,
        pb::ExportWinnersRequest {
            statuses: vec![pb::AwardStatus::Claimed as i32],
            ..req()
        },
    )
    .await
    .expect("claimed only");
    assert_eq!(only_claimed.trim_end().split("\r\n").count(), 2);

    // Refusals: a player, another merchant, a bad filter.
    assert_code(
        export_winners(&app, &app.token("fan-0"), req()).await,
        Code::PermissionDenied,
        None,
    );
    let other = other_merchant(&app.db).await;
    assert_code(
        export_winners(&app, &other, req()).await,
        Code::NotFound,
        None,
    );
    assert_code(
        export_winners(
            &app,
            &app.admin_key,
            pb::ExportWinnersRequest {
                day: "明天".into(),
                ..req()
            },
        )
        .await,
        Code::InvalidArgument,
        Some("day"),
    );
    app.stop().await;
}
