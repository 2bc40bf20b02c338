//! A whole campaign verified by the independent script, and tampered
//! exports rejected by it.

use std::{path::PathBuf, process::Command, sync::Arc};

use engine_proto::campaign::v1::{self as pb, PrizeKind, audit_service_client::AuditServiceClient};
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;

use crate::helpers::*;

fn verifier() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_fairness.py")
}

/// Runs the verifier on `lines`; (exit success, stdout).
pub(crate) fn verify(
    dir: &std::path::Path,
    name: &str,
    lines: &[String],
    extra: &[&str],
) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write export");
    let out = Command::new("python3")
        .arg(verifier())
        .arg(&path)
        .args(extra)
        .output()
        .expect("python3 runs the verifier");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub(crate) async fn export(app: &TestApp, credential: &str, id: &str) -> Vec<String> {
    let mut stream = AuditServiceClient::new(app.channel.clone())
        .export_campaign(with(
            credential,
            pb::ExportCampaignRequest {
                campaign_id: id.into(),
            },
        ))
        .await
        .expect("export")
        .into_inner();
    let mut lines = Vec::new();
    while let Some(line) = stream.message().await.expect("line") {
        lines.push(line.json);
    }
    lines
}

pub(crate) fn edit(lines: &[String], f: impl Fn(&mut Vec<serde_json::Value>)) -> Vec<String> {
    let mut v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    f(&mut v);
    v.iter().map(|x| x.to_string()).collect()
}

/// One piece: a story: a campaign drawn over two days to its end, then its
/// one export verified and tampered with in every way.
async fn a_whole_campaign_verifies_and_tampering_is_caught(backend: Backend) {
    // Arrange: caps and small stock, so every fallback reason happens. About
    // 54 of the 180 rolls land on Points (sd 6), so a stock of 30 runs out
    // in all but ~1 in 20,000 seeds (at 40 it was ~1 in 100: a flaky test).
    let app = Arc::new(spawn_app(backend).await);
    let mut cup = slot("Cup", PrizeKind::Physical, 3, 6);
    cup.daily_cap = 3;
    cup.per_user_cap = 1;
    let c = app
        .wheel(
            rules(3, 6),
            vec![cup, slot("Points", PrizeKind::Points, 3, 30), thanks(4)],
            2,
            true,
        )
        .await;
    let id = c.campaign_id.clone();
    let f = c.fairness.expect("published wheels carry their commitment");
    assert_eq!(f.seed_commitment.len(), 32);
    assert_eq!(
        Sha256::digest(f.prize_table_json.as_bytes()).to_vec(),
        f.prize_table_hash
    );
    assert!(
        f.revealed_seed.is_empty(),
        "the seed must not be out before the end"
    );
    let wheel = app
        .player()
        .get_wheel(with(
            &app.token("p0"),
            pb::GetWheelRequest {
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("wheel")
        .into_inner();
    assert_eq!(
        wheel.fairness.as_ref().expect("commitment").seed_commitment,
        f.seed_commitment
    );

    // Act: 30 players draw 3 times a day, concurrently, for two days.
    for day in 0..2 {
        let mut set = JoinSet::new();
        for p in 0..30 {
            for _ in 0..3 {
                let (app, id) = (app.clone(), id.clone());
                set.spawn(async move { app.draw(&format!("p{p}"), &id).await });
            }
        }
        while let Some(r) = set.join_next().await {
            r.expect("task")
                .unwrap_or_else(|e| panic!("day {day}: {e:?}"));
        }
        app.clock.advance(DAY);
    }
    let dir = app.db.dir.clone();
    // Before the end the seed is secret: the export cannot be verified.
    let live = export(&app, &app.admin_key, &id).await;
    let (ok, out) = verify(&dir, "live.jsonl", &live, &[]);
    assert!(!ok && out.contains("not revealed"), "{out}");

    app.end_campaign(&id).await;
    let ended = app.get_campaign(&id).await.fairness.expect("fairness");
    assert_eq!(ended.revealed_seed.len(), 32);
    let mut h = Sha256::new();
    h.update(b"wheel-commit/v1");
    h.update(&ended.revealed_seed);
    h.update(&ended.prize_table_hash);
    assert_eq!(h.finalize().to_vec(), f.seed_commitment);

    // Assert: the auditor's export verifies ...
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let lines = export(&app, &auditor, &id).await;
    assert_eq!(lines.len(), 2 + 180, "campaign line, 180 draws, stock line");
    let (ok, out) = verify(&dir, "export.jsonl", &lines, &[]);
    assert!(ok, "verifier: {out}");
    assert!(out.contains("180 draws"), "{out}");
    let reasons: Vec<String> = lines[1..181]
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["fallback_reason"]
                .to_string()
        })
        .collect();
    for r in ["\"none\"", "\"user_cap\"", "\"out_of_stock\""] {
        assert!(
            reasons.iter().any(|x| x == r),
            "no draw with fallback {r}: the test must exercise it"
        );
    }

    // ... and every kind of tampering is caught.
    let won = lines[1..181]
        .iter()
        .position(|l| {
            l.contains("\"fallback_reason\":\"none\"") && l.contains("\"awarded_slot\":0")
        })
        .expect("a cup was won")
        + 1;
    let tampered: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "one prize changed",
            edit(&lines, |v| v[won]["awarded_slot"] = 1.into()),
            vec![],
        ),
        (
            "one draw removed",
            edit(&lines, |v| drop(v.remove(90))),
            vec![],
        ),
        (
            "one weight changed (hash recomputed)",
            edit(&lines, |v| {
                let t = v[0]["versions"][0]["prize_table_json"]
                    .as_str()
                    .expect("table")
                    .replace("\"weight\":3", "\"weight\":30");
                v[0]["versions"][0]["prize_table_hash"] =
                    hex::encode(Sha256::digest(t.as_bytes())).into();
                v[0]["versions"][0]["prize_table_json"] = t.into();
            }),
            vec![],
        ),
        (
            "stock line altered",
            edit(&lines, |v| v[181]["slots"][0]["remaining"] = 5.into()),
            vec![],
        ),
        (
            "a wrong seed",
            lines.clone(),
            vec!["--seed", "11".repeat(32).leak()],
        ),
    ];
    for (what, bad, extra) in tampered {
        let (ok, out) = verify(&dir, "tampered.jsonl", &bad, &extra);
        assert!(!ok, "{what}: the verifier accepted it: {out}");
        assert!(out.starts_with("INVALID"), "{what}: {out}");
    }

    // Players and other roles cannot export.
    let refused = AuditServiceClient::new(app.channel.clone())
        .export_campaign(with(
            &app.token("p0"),
            pb::ExportCampaignRequest {
                campaign_id: id.clone(),
            },
        ))
        .await;
    assert_eq!(
        refused.err().map(|s| s.code()),
        Some(tonic::Code::PermissionDenied)
    );
}

/// One piece: a story: the admin's changes make the trail the auditor then
/// exports, verifies and tampers with.
async fn audit_trail_is_a_verified_hash_chain(backend: Backend) {
    // Arrange: a merchant's admin configures, publishes, pauses, resumes and
    // ends a wheel, and creates and revokes a key.
    let app = spawn_app(backend).await;
    let c = app
        .wheel(
            rules(1, 1),
            vec![slot("Cup", PrizeKind::Physical, 1, 3), thanks(1)],
            1,
            true,
        )
        .await;
    let id = c.campaign_id.clone();
    let mut admin = app.admin();
    let tr = |k: &str| {
        with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: k.into(),
                campaign_id: id.clone(),
            },
        )
    };
    admin.pause_campaign(tr("p")).await.expect("pause");
    admin.resume_campaign(tr("r")).await.expect("resume");
    let auditor = app.api_key(pb::Role::Auditor, "").await;
    let extra = app.api_key(pb::Role::Pos, "store-9").await;
    admin
        .revoke_api_key(with(
            &app.admin_key,
            pb::RevokeApiKeyRequest {
                idempotency_key: key(),
                key_id: extra.split('_').nth(1).expect("id").into(),
            },
        ))
        .await
        .expect("revoke");
    admin.end_campaign(tr("e")).await.expect("end");

    // Act: the auditor exports the trail.
    let mut stream = AuditServiceClient::new(app.channel.clone())
        .export_audit_log(with(&auditor, pb::ExportAuditLogRequest {}))
        .await
        .expect("export")
        .into_inner();
    let mut lines = Vec::new();
    while let Some(l) = stream.message().await.expect("line") {
        lines.push(l.json);
    }

    // Assert: every change is there, in order, and the chain verifies.
    let actions: Vec<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        actions,
        [
            "merchant.create",
            "player_token_key.set",
            "campaign.create",
            "campaign.add_slot",
            "campaign.add_slot",
            "campaign.set_fallback",
            "campaign.publish",
            "campaign.pause",
            "campaign.resume",
            "api_key.create",
            "store.create",
            "api_key.create",
            "api_key.revoke",
            "campaign.end",
        ]
    );
    let publish: serde_json::Value = serde_json::from_str(&lines[6]).expect("json");
    let detail: serde_json::Value =
        serde_json::from_str(publish["detail"].as_str().expect("detail")).expect("json");
    assert_eq!(detail["before"]["status"], "draft");
    assert_eq!(
        detail["after"]["seed_commitment"],
        hex::encode(c.fairness.expect("fairness").seed_commitment)
    );
    let all = lines.join("\n");
    assert!(
        !all.contains(&hex::encode(&app.token_secret)),
        "a token secret entered the trail"
    );
    assert!(
        !all.contains(api_key_secret(&extra)),
        "an API key secret entered the trail"
    );
    let dir = app.db.dir.clone();
    let (ok, out) = verify(&dir, "audit.jsonl", &lines, &[]);
    assert!(ok, "{out}");

    // Tampering of any kind breaks the chain.
    let tampered: Vec<(&str, Vec<String>)> = vec![
        (
            "detail edited",
            edit(&lines, |v| {
                v[7]["detail"] = v[7]["detail"]
                    .as_str()
                    .expect("d")
                    .replace("paused", "ended")
                    .into()
            }),
        ),
        ("entry removed", edit(&lines, |v| drop(v.remove(3)))),
        (
            "last entry removed",
            edit(&lines, |v| drop(v.remove(v.len() - 2))),
        ),
        (
            "actor changed",
            edit(&lines, |v| v[9]["actor"] = "key:someone-else".into()),
        ),
        ("entries swapped", edit(&lines, |v| v.swap(7, 8))),
    ];
    for (what, bad) in tampered {
        let (ok, out) = verify(&dir, "audit-bad.jsonl", &bad, &[]);
        assert!(!ok && out.starts_with("INVALID"), "{what}: {out}");
    }

    // The database itself refuses to edit or delete the trail.
    for sql in ["UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"] {
        let e = app.db.execute(sql).await.expect_err("append-only");
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
}

/// One piece: a story: draws on version 1, refused revisions, version 2 and
/// its draws, then the export of both versions verified and tampered with.
async fn a_revised_wheel_is_a_new_committed_version(backend: Backend) {
    // Arrange: a published wheel with some draws.
    let app = spawn_app(backend).await;
    let spec = |cup_w: i64, cup_stock: i64, pts_w: i64, pts_stock: i64, thanks_w: i64| {
        vec![
            slot("Cup", PrizeKind::Physical, cup_w, cup_stock),
            slot("Points", PrizeKind::Points, pts_w, pts_stock),
            thanks(thanks_w),
        ]
    };
    let c = app.wheel(rules(5, 5), spec(5, 4, 3, 10, 2), 2, true).await;
    let id = c.campaign_id.clone();
    let v1 = c.fairness.expect("v1");
    assert_eq!(v1.version, 1);
    for p in 0..10 {
        for _ in 0..2 {
            assert_eq!(
                app.draw(&format!("r{p}"), &id)
                    .await
                    .expect("draw")
                    .table_version,
                1
            );
        }
    }
    let before = app.get_campaign(&id).await;
    let (cup_won, pts_won) = (before.slots[0].won, before.slots[1].won);
    let revise = |slots: Vec<pb::PrizeSlotSpec>| {
        with(
            &app.admin_key,
            pb::ReviseWheelRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                slots,
            },
        )
    };
    let mut admin = app.admin();

    // Refused revisions change nothing.
    let digest = state_digest(&app.db).await;
    if cup_won > 0 {
        assert_code(
            admin
                .revise_wheel(revise(spec(1, cup_won - 1, 6, 50, 3)))
                .await,
            tonic::Code::FailedPrecondition,
            None,
        );
    }
    assert_code(
        admin
            .revise_wheel(revise(spec(1, 20, 6, 50, 3)[..2].to_vec()))
            .await,
        tonic::Code::FailedPrecondition,
        None,
    );
    let mut no_thanks = spec(1, 20, 6, 50, 3);
    no_thanks[2] = slot("Mug", PrizeKind::Physical, 3, 5);
    assert_code(
        admin.revise_wheel(revise(no_thanks)).await,
        tonic::Code::FailedPrecondition,
        None,
    );
    assert_code(
        admin.revise_wheel(revise(vec![])).await,
        tonic::Code::InvalidArgument,
        Some("slots"),
    );
    assert_eq!(state_digest(&app.db).await, digest);

    // Act: version 2 with new odds and stock.
    let c2 = admin
        .revise_wheel(revise(spec(1, 20, 6, pts_won + 5, 3)))
        .await
        .expect("revise")
        .into_inner();
    let v2 = c2.fairness.expect("v2");
    assert_eq!(v2.version, 2);
    assert_ne!(v2.seed_commitment, v1.seed_commitment);
    assert_eq!(
        c2.slots[0].remaining,
        20 - cup_won,
        "new stock is the new total minus what was won"
    );
    assert_eq!(c2.slots[1].remaining, 5);
    for p in 0..10 {
        for _ in 0..2 {
            assert_eq!(
                app.draw(&format!("r{p}"), &id)
                    .await
                    .expect("draw")
                    .table_version,
                2
            );
        }
    }
    app.db.assert_stock_balances(&id).await;
    app.end_campaign(&id).await;
    assert_code(
        admin.revise_wheel(revise(spec(1, 20, 6, 50, 3))).await,
        tonic::Code::FailedPrecondition,
        None,
    );

    // Assert: both versions verify, and the draws' versions are checked.
    let lines = export(&app, &app.admin_key, &id).await;
    let head: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(head["versions"].as_array().expect("versions").len(), 2);
    assert_eq!(head["versions"][1]["first_ledger_seq"], 21);
    let dir = app.db.dir.clone();
    let (ok, out) = verify(&dir, "revised.jsonl", &lines, &[]);
    assert!(ok, "{out}");
    for (what, bad) in [
        (
            "a v2 draw claims v1",
            edit(&lines, |v| v[25]["table_version"] = 1.into()),
        ),
        (
            "v2 applied earlier",
            edit(&lines, |v| {
                v[0]["versions"][1]["first_ledger_seq"] = 15.into()
            }),
        ),
        (
            "v2 commitment swapped",
            edit(&lines, |v| {
                v[0]["versions"][1]["seed_commitment"] =
                    v[0]["versions"][0]["seed_commitment"].clone()
            }),
        ),
    ] {
        let (ok, out) = verify(&dir, "revised-bad.jsonl", &bad, &[]);
        assert!(!ok && out.starts_with("INVALID"), "{what}: {out}");
    }
}

/// Draws take the campaign's ledger lock late (after reading the prize
/// table without a lock), so a revision and the End racing with draws in a
/// loop must still leave a ledger the verifier accepts: every draw under
/// the table version in force at its ledger position, none after the End,
/// and each draw either answered or refused as "retry" (ABORTED) or "not
/// running" (FAILED_PRECONDITION), never half-applied.
async fn draws_racing_a_revision_and_the_end_stay_verifiable(backend: Backend) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let app = Arc::new(spawn_app(backend).await);
    let spec = |cup_stock: i64| {
        vec![
            slot("Cup", PrizeKind::Physical, 5, cup_stock),
            slot("Points", PrizeKind::Points, 3, 100_000),
            thanks(2),
        ]
    };
    let c = app.wheel(rules(50, 50), spec(30), 2, true).await;
    let id = c.campaign_id.clone();
    let answered = Arc::new(AtomicUsize::new(0));
    let mut set = JoinSet::new();
    for t in 0..8 {
        let (app, id, answered) = (app.clone(), id.clone(), answered.clone());
        set.spawn(async move {
            for n in 0.. {
                match app.draw(&format!("race{t}-{}", n / 40), &id).await {
                    Ok(_) => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(s) if s.code() == tonic::Code::Aborted => {}
                    Err(s) if s.code() == tonic::Code::FailedPrecondition => return,
                    Err(s) => panic!("unexpected refusal {s:?}"),
                }
            }
        });
    }
    let until = |n: usize| {
        let answered = answered.clone();
        async move {
            while answered.load(Ordering::SeqCst) < n {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        }
    };
    let mut admin = app.admin();
    until(40).await;
    admin
        .revise_wheel(with(
            &app.admin_key,
            pb::ReviseWheelRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                slots: spec(60),
            },
        ))
        .await
        .expect("revise");
    let at_revision = answered.load(Ordering::SeqCst);
    until(at_revision + 40).await;
    admin
        .end_campaign(with(
            &app.admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
            },
        ))
        .await
        .expect("end");
    while let Some(r) = set.join_next().await {
        r.expect("drawing task");
    }
    app.db.assert_stock_balances(&id).await;
    let lines = export(&app, &app.admin_key, &id).await;
    let with_version = |v: u32| {
        lines
            .iter()
            .filter(|l| l.contains(&format!("\"table_version\":{v}")))
            .count()
    };
    assert!(
        with_version(1) >= 40 && with_version(2) >= 40,
        "draws under both versions"
    );
    let draws = lines
        .iter()
        .filter(|l| l.contains("\"ledger_seq\""))
        .count();
    assert_eq!(
        draws,
        answered.load(Ordering::SeqCst),
        "every answered draw is in the ledger, and only those"
    );
    let (ok, out) = verify(&app.db.dir, "race.jsonl", &lines, &[]);
    assert!(ok, "{out}");
}

both_backends!(
    a_whole_campaign_verifies_and_tampering_is_caught,
    audit_trail_is_a_verified_hash_chain,
    a_revised_wheel_is_a_new_committed_version,
    draws_racing_a_revision_and_the_end_stay_verifiable
);
