//! `campaignctl winners CAMPAIGN --csv [--out FILE]`: the shipping list
//! exactly as `ExportWinners` streams it (the UTF-8 byte order mark and the
//! CRLF line ends kept), with the filters of `winners`, masked for an
//! auditor's key; an export that fails leaves no file.

use super::*;
use engine_proto::campaign::v1::{PrizeKind, ShippingDetails};

const ISSUER: &str = "csv-gw";
const SECRET: &[u8] = b"fedcba9876543210fedcba9876543210";

fn player_token(openid: &str) -> String {
    sign_player_token(
        SECRET,
        &PlayerClaims {
            iss: ISSUER.into(),
            aud: "campaign-engine".into(),
            sub: openid.into(),
            iat: T0 / 1000,
            exp: T0 / 1000 + 600,
        },
    )
}

/// The bytes of `ExportWinners` as `credential` gets them from the engine.
async fn exported(e: &Engine, credential: &str, req: pb::ExportWinnersRequest) -> Vec<u8> {
    let mut s = AdminServiceClient::new(e.channel.clone())
        .export_winners(with(credential, req))
        .await
        .expect("export")
        .into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = s.message().await.expect("chunk") {
        out.extend(chunk.data);
    }
    out
}

async fn winners_csv(backend: Backend) {
    // Arrange: every draw wins a cup; three fans draw (one openid starts
    // with `=`, which the CSV defuses for Excel), one claims with an
    // address holding a comma and quotes.
    let e = Engine::start(backend).await;
    let mut admin = AdminServiceClient::new(e.channel.clone());
    let c = helpers::build_wheel(
        &mut admin,
        &e.admin_key,
        helpers::rules(5, 5),
        vec![
            helpers::slot("保温杯", PrizeKind::Physical, 1, 100),
            helpers::thanks(0),
        ],
        1,
        true,
    )
    .await;
    let id = c.campaign_id;
    admin
        .set_player_token_key(with(
            &e.admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: ISSUER.into(),
                secret: SECRET.to_vec(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("token key");
    let mut claimed = String::new();
    for fan in ["alice", "bob", "=carol"] {
        let award = PlayerServiceClient::new(e.channel.clone())
            .draw(with(
                &player_token(fan),
                pb::DrawRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    channel: String::new(),
                    store_id: String::new(),
                },
            ))
            .await
            .expect("draw")
            .into_inner()
            .award
            .expect("a cup")
            .award_id;
        if fan == "alice" {
            claimed = award;
        }
    }
    PlayerServiceClient::new(e.channel.clone())
        .claim_prize(with(
            &player_token("alice"),
            pb::ClaimPrizeRequest {
                idempotency_key: key(),
                award_id: claimed.clone(),
                shipping: Some(ShippingDetails {
                    recipient: "王五".into(),
                    phone: "13900000000".into(),
                    address: "上海市浦东新区, \"2号楼\"".into(),
                }),
            },
        ))
        .await
        .expect("claim");
    let all = pb::ExportWinnersRequest {
        campaign_id: id.clone(),
        ..Default::default()
    };

    // Act / Assert: to standard output, byte for byte.
    let out = e.ctl(&["winners", &id, "--csv"]).await;
    assert_exit(&out, 0);
    let want = exported(&e, &e.admin_key, all.clone()).await;
    assert_eq!(out.stdout, want, "the engine's bytes, unchanged");
    assert!(out.stdout.starts_with(b"\xEF\xBB\xBF"), "the BOM is kept");
    let csv = text(&out.stdout);
    assert_eq!(csv.matches("\r\n").count(), 4, "a header and 3 winners");
    assert!(csv.contains(&claimed) && csv.contains("王五") && csv.contains("'=carol"));

    // To a file, filtered: the claimed prize only; no `.part` left.
    let to_file = e
        .ctl(&[
            "winners",
            &id,
            "--csv",
            "--state",
            "claimed",
            "--out",
            "claimed.csv",
        ])
        .await;
    assert_exit(&to_file, 0);
    assert!(to_file.stdout.is_empty(), "{}", text(&to_file.stdout));
    assert!(text(&to_file.stderr).contains("claimed.csv"));
    let file = std::fs::read(e.db.dir.join("claimed.csv")).expect("the file");
    let only_claimed = pb::ExportWinnersRequest {
        statuses: vec![pb::AwardStatus::Claimed as i32],
        ..all.clone()
    };
    assert_eq!(file, exported(&e, &e.admin_key, only_claimed).await);
    assert_eq!(text(&file).matches("\r\n").count(), 2);
    assert!(text(&file).contains("王五"));
    assert!(!e.db.dir.join("claimed.part").exists());

    // An auditor's key gets the masked list, as the engine gives it.
    let auditor = admin
        .create_api_key(with(
            &e.admin_key,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: pb::Role::Auditor.into(),
                store_id: String::new(),
                label: "csv auditor".into(),
            },
        ))
        .await
        .expect("auditor key")
        .into_inner()
        .api_key;
    let key_file = write(&e.db.dir, "auditor.key", &auditor);
    let masked = run_ctl(
        &[
            "winners",
            &id,
            "--csv",
            "--endpoint",
            &e.endpoint,
            "--key-file",
            key_file.to_str().expect("utf-8"),
        ],
        None,
    )
    .await;
    assert_exit(&masked, 0);
    assert_eq!(masked.stdout, exported(&e, &auditor, all).await);
    assert!(!text(&masked.stdout).contains("13900000000"));
    assert!(text(&masked.stdout).contains("139****0000"));

    // A refused export is an error and leaves no file.
    let unknown = uuid::Uuid::new_v4().to_string();
    let refused = e
        .ctl(&["winners", &unknown, "--csv", "--out", "none.csv"])
        .await;
    assert_exit(&refused, 1);
    assert!(
        text(&refused.stderr).contains("NotFound"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!e.db.dir.join("none.csv").exists() && !e.db.dir.join("none.part").exists());
    let bad_day = e.ctl(&["winners", &id, "--csv", "--day", "someday"]).await;
    assert_exit(&bad_day, 1);
    assert!(
        text(&bad_day.stderr).contains("day"),
        "{}",
        text(&bad_day.stderr)
    );
    assert!(bad_day.stdout.is_empty());
    e.stop().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn winners_csv() {
        super::winners_csv(crate::helpers::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn winners_csv() {
        super::winners_csv(crate::helpers::Backend::Postgres).await
    }
}
