//! Every RPC refuses every caller that may not call it, and a refused call
//! changes nothing.

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use tonic::{Code, Status};

use crate::helpers::*;

/// Rotation of the gateways' player-token keys.
mod token_keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateApiKey,
    RevokeApiKey,
    ListApiKeys,
    SetPlayerTokenKey,
    RetirePlayerTokenKey,
    CreateWheel,
    AddPrizeSlot,
    UpdatePrizeSlot,
    SetFallbackSlot,
    PublishCampaign,
    PauseCampaign,
    ResumeCampaign,
    EndCampaign,
    GetCampaign,
    ListCampaigns,
    ListWinners,
    ExportWinners,
    ShipPrize,
    GetWheel,
    Draw,
    ListMyPrizes,
    ClaimPrize,
    ExportCampaign,
    ExportAuditLog,
    ReviseWheel,
    SimulateWheel,
}

const ALL: [Rpc; 26] = [
    Rpc::CreateApiKey,
    Rpc::RevokeApiKey,
    Rpc::ListApiKeys,
    Rpc::SetPlayerTokenKey,
    Rpc::RetirePlayerTokenKey,
    Rpc::CreateWheel,
    Rpc::AddPrizeSlot,
    Rpc::UpdatePrizeSlot,
    Rpc::SetFallbackSlot,
    Rpc::PublishCampaign,
    Rpc::PauseCampaign,
    Rpc::ResumeCampaign,
    Rpc::EndCampaign,
    Rpc::GetCampaign,
    Rpc::ListCampaigns,
    Rpc::ListWinners,
    Rpc::ExportWinners,
    Rpc::ShipPrize,
    Rpc::GetWheel,
    Rpc::Draw,
    Rpc::ListMyPrizes,
    Rpc::ClaimPrize,
    Rpc::ExportCampaign,
    Rpc::ExportAuditLog,
    Rpc::ReviseWheel,
    Rpc::SimulateWheel,
];

/// Ids the calls point at: merchant A's things.
struct Targets {
    draft: String,
    published: String,
    award: String,
    victim_key_id: String,
}

/// Makes one call of `rpc` as `cred` at `t`'s ids. One piece: one match arm
/// per RPC of [`ALL`], each building its request and calling the same way.
async fn call(app: &TestApp, rpc: Rpc, cred: &str, t: &Targets) -> Result<(), Status> {
    let mut a = app.admin();
    let mut p = app.player();
    let k = key();
    let tr = |id: &str| {
        with(
            cred,
            pb::CampaignTransitionRequest {
                idempotency_key: k.clone(),
                campaign_id: id.into(),
            },
        )
    };
    match rpc {
        Rpc::CreateApiKey => a
            .create_api_key(with(
                cred,
                pb::CreateApiKeyRequest {
                    idempotency_key: k.clone(),
                    role: pb::Role::Auditor as i32,
                    store_id: String::new(),
                    label: "x".into(),
                },
            ))
            .await
            .map(drop),
        Rpc::RevokeApiKey => a
            .revoke_api_key(with(
                cred,
                pb::RevokeApiKeyRequest {
                    idempotency_key: k.clone(),
                    key_id: t.victim_key_id.clone(),
                },
            ))
            .await
            .map(drop),
        Rpc::ListApiKeys => a
            .list_api_keys(with(cred, pb::ListApiKeysRequest::default()))
            .await
            .map(drop),
        Rpc::SetPlayerTokenKey => a
            .set_player_token_key(with(
                cred,
                pb::SetPlayerTokenKeyRequest {
                    idempotency_key: k.clone(),
                    issuer: format!("i-{k}"),
                    secret: vec![7; 32],
                    key_id: String::new(),
                },
            ))
            .await
            .map(drop),
        Rpc::RetirePlayerTokenKey => a
            .retire_player_token_key(with(
                cred,
                pb::RetirePlayerTokenKeyRequest {
                    idempotency_key: k.clone(),
                    key_id: String::new(),
                },
            ))
            .await
            .map(drop),
        Rpc::CreateWheel => a.create_wheel(with(cred, rules(1, 1))).await.map(drop),
        Rpc::AddPrizeSlot => a
            .add_prize_slot(with(
                cred,
                pb::AddPrizeSlotRequest {
                    idempotency_key: k.clone(),
                    campaign_id: t.draft.clone(),
                    slot: Some(thanks(1)),
                },
            ))
            .await
            .map(drop),
        Rpc::UpdatePrizeSlot => a
            .update_prize_slot(with(
                cred,
                pb::UpdatePrizeSlotRequest {
                    idempotency_key: k.clone(),
                    campaign_id: t.draft.clone(),
                    index: 0,
                    slot: Some(slot("Mug", PrizeKind::Physical, 9, 9)),
                },
            ))
            .await
            .map(drop),
        Rpc::SetFallbackSlot => a
            .set_fallback_slot(with(
                cred,
                pb::SetFallbackSlotRequest {
                    idempotency_key: k.clone(),
                    campaign_id: t.draft.clone(),
                    index: 1,
                },
            ))
            .await
            .map(drop),
        Rpc::PublishCampaign => a.publish_campaign(tr(&t.draft)).await.map(drop),
        Rpc::PauseCampaign => a.pause_campaign(tr(&t.published)).await.map(drop),
        Rpc::ResumeCampaign => a.resume_campaign(tr(&t.published)).await.map(drop),
        Rpc::EndCampaign => a.end_campaign(tr(&t.published)).await.map(drop),
        Rpc::GetCampaign => a
            .get_campaign(with(
                cred,
                pb::GetCampaignRequest {
                    campaign_id: t.published.clone(),
                },
            ))
            .await
            .map(drop),
        Rpc::ListCampaigns => a
            .list_campaigns(with(cred, pb::ListCampaignsRequest::default()))
            .await
            .map(drop),
        Rpc::ListWinners => a
            .list_winners(with(
                cred,
                pb::ListWinnersRequest {
                    campaign_id: t.published.clone(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::ShipPrize => a
            .ship_prize(with(
                cred,
                pb::ShipPrizeRequest {
                    idempotency_key: k.clone(),
                    award_id: t.award.clone(),
                    tracking_number: "T".into(),
                },
            ))
            .await
            .map(drop),
        Rpc::GetWheel => p
            .get_wheel(with(
                cred,
                pb::GetWheelRequest {
                    campaign_id: t.published.clone(),
                },
            ))
            .await
            .map(drop),
        Rpc::Draw => p
            .draw(with(
                cred,
                pb::DrawRequest {
                    idempotency_key: k.clone(),
                    campaign_id: t.published.clone(),
                    channel: String::new(),
                    store_id: String::new(),
                },
            ))
            .await
            .map(drop),
        Rpc::ListMyPrizes => p
            .list_my_prizes(with(cred, pb::ListMyPrizesRequest::default()))
            .await
            .map(drop),
        Rpc::SimulateWheel => a
            .simulate_wheel(with(
                cred,
                pb::SimulateWheelRequest {
                    campaign_id: t.draft.clone(),
                    players_per_day: 1,
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::ReviseWheel => a
            .revise_wheel(with(
                cred,
                pb::ReviseWheelRequest {
                    idempotency_key: k.clone(),
                    campaign_id: t.published.clone(),
                    slots: vec![slot("Cup", PrizeKind::Physical, 1, 9), thanks(0)],
                },
            ))
            .await
            .map(drop),
        Rpc::ExportAuditLog => {
            engine_proto::campaign::v1::audit_service_client::AuditServiceClient::new(
                app.channel.clone(),
            )
            .export_audit_log(with(cred, pb::ExportAuditLogRequest {}))
            .await
            .map(drop)
        }
        Rpc::ExportWinners => a
            .export_winners(with(
                cred,
                pb::ExportWinnersRequest {
                    campaign_id: t.published.clone(),
                    ..Default::default()
                },
            ))
            .await
            .map(drop),
        Rpc::ExportCampaign => {
            engine_proto::campaign::v1::audit_service_client::AuditServiceClient::new(
                app.channel.clone(),
            )
            .export_campaign(with(
                cred,
                pb::ExportCampaignRequest {
                    campaign_id: t.published.clone(),
                },
            ))
            .await
            .map(drop)
        }
        Rpc::ClaimPrize => p
            .claim_prize(with(
                cred,
                pb::ClaimPrizeRequest {
                    idempotency_key: k.clone(),
                    award_id: t.award.clone(),
                    shipping: Some(pb::ShippingDetails {
                        recipient: "R".into(),
                        phone: "1".into(),
                        address: "A".into(),
                    }),
                },
            ))
            .await
            .map(drop),
    }
}

fn is_admin_rpc(r: Rpc) -> bool {
    !matches!(
        r,
        Rpc::GetWheel | Rpc::Draw | Rpc::ListMyPrizes | Rpc::ClaimPrize
    )
}

/// RPCs that act on one of merchant A's things (not on the caller's own
/// merchant as a whole).
fn targets_a_thing(r: Rpc) -> bool {
    !matches!(
        r,
        Rpc::CreateApiKey
            | Rpc::ListApiKeys
            | Rpc::ListCampaigns
            | Rpc::SetPlayerTokenKey
            | Rpc::RetirePlayerTokenKey
            | Rpc::CreateWheel
            | Rpc::ListMyPrizes
            | Rpc::ExportAuditLog
    )
}

/// One piece: a matrix of every RPC by every wrong caller, each refused the
/// same way, between one state digest taken before and compared after; then
/// the allowed callers shown to get through on the same state.
async fn every_rpc_refuses_the_wrong_caller(backend: Backend) {
    // Arrange: merchant A with a draft, a published wheel and a won physical
    // prize of alice; merchant B with its own admin and player.
    let app = spawn_app(backend).await;
    let draft = app
        .wheel(
            rules(5, 5),
            vec![slot("Cup", PrizeKind::Physical, 1, 3), thanks(1)],
            1,
            false,
        )
        .await
        .campaign_id;
    let published = app
        .wheel(
            rules(5, 5),
            vec![slot("Cup", PrizeKind::Physical, 1, 3), thanks(0)],
            1,
            true,
        )
        .await
        .campaign_id;
    let award = app
        .draw("alice", &published)
        .await
        .expect("draw")
        .award
        .expect("cup")
        .award_id;
    let pos = app.api_key(pb::Role::Pos, "store-1").await;
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let victim = app.api_key(pb::Role::Auditor, "").await;
    let victim_key_id = victim.split('_').nth(1).expect("key id").to_owned();
    let revoked = app.api_key(pb::Role::Admin, "").await;
    app.admin()
        .revoke_api_key(with(
            &app.admin_key,
            pb::RevokeApiKeyRequest {
                idempotency_key: key(),
                key_id: revoked.split('_').nth(1).expect("id").into(),
            },
        ))
        .await
        .expect("revoke");
    let admin_b = other_merchant(&app.db).await;
    let secret_b = vec![9u8; 32];
    app.admin()
        .set_player_token_key(with(
            &admin_b,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: "gw-b".into(),
                secret: secret_b.clone(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("B's token key");
    let now = app.clock_now() / 1000;
    let claims =
        |iss: &str, sub: &str, iat: i64, exp: i64| campaign::domain::credential::PlayerClaims {
            iss: iss.into(),
            aud: "campaign-engine".into(),
            sub: sub.into(),
            iat,
            exp,
        };
    let sign = campaign::domain::credential::sign_player_token;
    let player_b = sign(&secret_b, &claims("gw-b", "alice", now, now + 600));
    let expired = sign(
        &app.token_secret,
        &claims(&app.issuer, "alice", now - 900, now - 300),
    );
    let forged = sign(&[1u8; 32], &claims(&app.issuer, "alice", now, now + 600));
    let wrong_aud = {
        let mut c = claims(&app.issuer, "alice", now, now + 600);
        c.aud = "someone-else".into();
        sign(&app.token_secret, &c)
    };
    let mallory = app.token("mallory");
    let t = Targets {
        draft,
        published,
        award,
        victim_key_id,
    };
    let before = state_digest(&app.db).await;

    // Act + Assert: every refused caller of every RPC.
    let unauthenticated = [
        ("no credential", String::new()),
        ("garbage", "xyz".to_owned()),
        (
            "bad api key",
            "cek_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        ),
        ("revoked admin key", revoked.clone()),
        ("expired token", expired),
        ("forged token", forged),
        ("wrong audience", wrong_aud),
    ];
    let mut checked = 0;
    for rpc in ALL {
        for (what, cred) in &unauthenticated {
            let r = call(&app, rpc, cred, &t).await;
            assert_eq!(
                r.map_err(|s| s.code()),
                Err(Code::Unauthenticated),
                "{rpc:?} with {what}"
            );
            checked += 1;
        }
        let mut denied: Vec<(&str, &str)> = Vec::new();
        if is_admin_rpc(rpc) {
            denied.push(("pos", &pos));
            denied.push(("player", &mallory));
            if !matches!(
                rpc,
                Rpc::GetCampaign
                    | Rpc::ListCampaigns
                    | Rpc::ExportWinners
                    | Rpc::ExportCampaign
                    | Rpc::ExportAuditLog
            ) {
                denied.push(("auditor", &auditor));
            }
            if targets_a_thing(rpc) {
                // Another merchant's things do not exist for this admin.
                let r = call(&app, rpc, &admin_b, &t).await;
                assert_eq!(
                    r.map_err(|s| s.code()),
                    Err(Code::NotFound),
                    "{rpc:?} by other merchant's admin"
                );
                checked += 1;
            }
        } else {
            denied.push(("admin", &app.admin_key));
            denied.push(("pos", &pos));
            denied.push(("auditor", &auditor));
            if matches!(rpc, Rpc::Draw | Rpc::GetWheel) {
                // Another merchant's campaign does not exist for a player.
                let r = call(&app, rpc, &player_b, &t).await;
                assert_eq!(
                    r.map_err(|s| s.code()),
                    Err(Code::NotFound),
                    "{rpc:?} by other merchant's player"
                );
                checked += 1;
            }
        }
        for (what, cred) in denied {
            let r = call(&app, rpc, cred, &t).await;
            assert_eq!(
                r.map_err(|s| s.code()),
                Err(Code::PermissionDenied),
                "{rpc:?} by {what}"
            );
            checked += 1;
        }
        if rpc == Rpc::ClaimPrize {
            // Another player asking for alice's prize learns nothing.
            for cred in [&mallory, &player_b] {
                let r = call(&app, rpc, cred, &t).await;
                assert_eq!(
                    r.map_err(|s| s.code()),
                    Err(Code::NotFound),
                    "ClaimPrize of another player's prize"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 150, "checked {checked}");
    assert_eq!(
        state_digest(&app.db).await,
        before,
        "a refused call changed something"
    );

    // The allowed callers do get through (the matrix is not vacuous).
    call(&app, Rpc::GetCampaign, &auditor, &t)
        .await
        .expect("auditor reads");
    call(&app, Rpc::ListMyPrizes, &mallory, &t)
        .await
        .expect("player lists");
    call(&app, Rpc::ClaimPrize, &app.token("alice"), &t)
        .await
        .expect("alice claims");
    call(&app, Rpc::ShipPrize, &app.admin_key, &t)
        .await
        .expect("admin ships");
    app.stop().await;
}

/// One piece: a story of one merchant's keys (created, stored as hashes,
/// listed, revoked, guarded from another merchant), each step relying on the
/// keys the earlier ones made.
async fn api_keys_are_hashed_listed_and_revocable(backend: Backend) {
    let app = spawn_app(backend).await;
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let (prefix, rest) = auditor.split_at(4);
    assert_eq!(prefix, "cek_");
    let key_id = rest.split('_').next().expect("id");
    // The secret is never stored: only its 32-byte hash.
    let stored = app
        .db
        .scalar(
            "SELECT CAST(LENGTH(secret_hash) AS BIGINT) FROM api_key WHERE key_id = $1",
            key_id,
        )
        .await;
    assert_eq!(stored, 32);
    let listed = app
        .admin()
        .list_api_keys(with(&app.admin_key, pb::ListApiKeysRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .keys;
    assert!(
        listed
            .iter()
            .any(|k| k.key_id == key_id && k.role == pb::Role::Auditor as i32)
    );
    // POS keys need a store, others refuse one.
    let mut a = app.admin();
    assert_code(
        a.create_api_key(with(
            &app.admin_key,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: pb::Role::Pos as i32,
                store_id: String::new(),
                label: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("store_id"),
    );
    assert_code(
        a.create_api_key(with(
            &app.admin_key,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: pb::Role::Admin as i32,
                store_id: "s".into(),
                label: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("store_id"),
    );
    assert_code(
        a.create_api_key(with(
            &app.admin_key,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: 0,
                store_id: String::new(),
                label: String::new(),
            },
        ))
        .await,
        Code::InvalidArgument,
        Some("role"),
    );
    // Revoking works once; the key stops working at once.
    let revoke = |k: String| pb::RevokeApiKeyRequest {
        idempotency_key: k,
        key_id: key_id.into(),
    };
    a.revoke_api_key(with(&app.admin_key, revoke(key())))
        .await
        .expect("revoke");
    assert_code(
        a.revoke_api_key(with(&app.admin_key, revoke(key()))).await,
        Code::FailedPrecondition,
        None,
    );
    assert_code(
        a.get_campaign(with(
            &auditor,
            pb::GetCampaignRequest {
                campaign_id: uuid::Uuid::new_v4().to_string(),
            },
        ))
        .await,
        Code::Unauthenticated,
        None,
    );
    // Another merchant cannot revoke our keys (nor learn they exist: the
    // answer is the one for a key that does not exist), nor take our token
    // issuer.
    let admin_b = other_merchant(&app.db).await;
    let victim = app.api_key(pb::Role::Auditor, "").await;
    let victim_id = victim.split('_').nth(1).expect("id").to_owned();
    let revoke = |key_id: String| pb::RevokeApiKeyRequest {
        idempotency_key: key(),
        key_id,
    };
    let theirs = a
        .revoke_api_key(with(&admin_b, revoke(victim_id)))
        .await
        .expect_err("refused");
    let missing = a
        .revoke_api_key(with(&admin_b, revoke("00000000deadbeef".into())))
        .await
        .expect_err("refused");
    assert_eq!(theirs.code(), Code::NotFound);
    assert_eq!(
        (theirs.code(), theirs.message()),
        (missing.code(), missing.message())
    );
    assert_code(
        a.set_player_token_key(with(
            &admin_b,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: app.issuer.clone(),
                secret: vec![1; 32],
                key_id: String::new(),
            },
        ))
        .await,
        Code::AlreadyExists,
        None,
    );
    app.stop().await;
}

async fn health_and_reflection_are_served(backend: Backend) {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let app = spawn_app(backend).await;
    let mut client = ServerReflectionClient::new(app.channel.clone());
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .expect("reflection")
        .into_inner();
    let resp = stream
        .message()
        .await
        .expect("message")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        panic!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for s in [
        "campaign.v1.AdminService",
        "campaign.v1.PlayerService",
        "grpc.health.v1.Health",
    ] {
        assert!(names.iter().any(|n| n == s), "{s} missing from {names:?}");
    }
    app.stop().await;
}

async fn bootstrap_hands_over_the_key_before_committing(backend: Backend) {
    use std::sync::Arc;
    // Arrange: the first admin key cannot be written (its directory is a
    // file). A stale key file is no obstacle: `bootstrap.rs`.
    let db = TestDb::new(backend).await;
    let blocker = db.dir.join("keys");
    std::fs::write(&blocker, "a file, not a directory").expect("blocker");
    let key_file = blocker.join("admin.key");
    let settings = campaign::config::Settings {
        database_url: db.url.clone(),
        bootstrap_key_file: key_file.clone(),
        // Elsewhere, so only the admin key's path is blocked.
        seal_key_file: db.dir.join("seal.key"),
        pg_max_connections: 2,
        ..Default::default()
    };
    let start = |settings| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        // Shut down as soon as it serves: only the start-up matters here.
        campaign::run(
            settings,
            listener,
            async {},
            Arc::new(campaign::clock::ManualClock::new(T0)),
        )
        .await
    };

    // Act + Assert: the start fails clearly and creates nothing ...
    let e = start(settings.clone())
        .await
        .expect_err("cannot hand over the key");
    assert!(e.to_string().contains("first admin key"), "{e}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM merchant WHERE $1 = $1", "x")
            .await,
        0
    );
    // ... so once the path can be written, the next start bootstraps.
    std::fs::remove_file(&blocker).expect("remove");
    start(settings.clone()).await.expect("bootstrap");
    let key = std::fs::read_to_string(&key_file).expect("key file");
    assert!(key.starts_with("cek_"));
    // A later start leaves the key and the merchant alone.
    start(settings).await.expect("restart");
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file"), key);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM merchant WHERE $1 = $1", "x")
            .await,
        1
    );
}

both_backends!(
    every_rpc_refuses_the_wrong_caller,
    api_keys_are_hashed_listed_and_revocable,
    health_and_reflection_are_served,
    bootstrap_hands_over_the_key_before_committing
);
