//! The `campaignctl` binary against the real engine, started in-process on
//! a port-0 listener over a fresh database: a temp SQLite file, or a new
//! database on the PostgreSQL cluster named by `CAMPAIGN_TEST_PG_URL`
//! (unset or unreachable: the `postgres` test fails, it never skips).
//! What the tool did is checked through the engine's own API
//! (`GetCampaign`, the audit trail), not only through its output.
//! `tls` runs it against https:// endpoints, `usage` its help, `winners_csv`
//! the shipping-list export.

// The campaign suite's harness: databases, health waits, credentials.
use test_kit::harness as helpers;

use std::{
    path::{Path, PathBuf},
    process::Output,
    sync::Arc,
};

use campaign::{
    ServerError,
    clock::ManualClock,
    config::Settings,
    domain::credential::{PlayerClaims, sign_player_token},
};
use engine_proto::campaign::v1::{
    self as pb, admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    player_service_client::PlayerServiceClient,
};
use helpers::{Backend, DAY, T0, TestDb, key, with};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Channel;

mod tls;
mod usage;
mod winners_csv;

struct Engine {
    db: TestDb,
    endpoint: String,
    channel: Channel,
    admin_key: String,
    clock: ManualClock,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServerError>>>,
}

impl Engine {
    async fn start(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let key_file = db.dir.join("admin.key");
        let mut settings = Settings {
            database_url: db.url.clone(),
            bootstrap_key_file: key_file.clone(),
            pg_max_connections: 4,
            ..Settings::default()
        };
        helpers::set_coupon_endpoint(&mut settings, "none");
        helpers::allow_local_webhooks(&mut settings, 24);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let clock = ManualClock::new(T0);
        let server = tokio::spawn(campaign::run(
            settings,
            listener,
            async {
                let _ = rx.await;
            },
            Arc::new(clock.clone()),
        ));
        let channel = helpers::wait_serving(addr).await;
        let admin_key = helpers::read_key(&key_file).await;
        Self {
            db,
            endpoint: format!("http://{addr}"),
            channel,
            admin_key,
            clock,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Runs the binary with this engine and the admin key (from the
    /// environment), in the scratch directory.
    async fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_campaignctl"));
        cmd.args(args)
            .arg("--endpoint")
            .arg(&self.endpoint)
            .env("CAMPAIGN_API_KEY", &self.admin_key)
            .current_dir(&self.db.dir);
        tokio::task::spawn_blocking(move || cmd.output().expect("run campaignctl"))
            .await
            .expect("join")
    }

    /// Runs the binary with `args` only (the test picks the endpoint) and
    /// the admin key in the environment.
    async fn ctl_at(&self, args: &[&str]) -> Output {
        run_ctl(args, Some(&self.admin_key)).await
    }

    async fn campaign(&self, id: &str) -> pb::Campaign {
        AdminServiceClient::new(self.channel.clone())
            .get_campaign(with(
                &self.admin_key,
                pb::GetCampaignRequest {
                    campaign_id: id.into(),
                },
            ))
            .await
            .expect("get campaign")
            .into_inner()
    }

    /// Entries in the merchant's audit trail: every admin change adds one.
    async fn audit_entries(&self) -> usize {
        let mut s = AuditServiceClient::new(self.channel.clone())
            .export_audit_log(with(&self.admin_key, pb::ExportAuditLogRequest {}))
            .await
            .expect("audit log")
            .into_inner();
        let mut n = 0;
        while let Some(line) = s.message().await.expect("line") {
            if line.json.contains("\"type\":\"audit\"") {
                n += 1;
            }
        }
        n
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

/// Runs the binary with `args` and `key` as CAMPAIGN_API_KEY (none: unset).
async fn run_ctl(args: &[&str], key: Option<&str>) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_campaignctl"));
    cmd.args(args).env_remove("CAMPAIGN_API_KEY");
    if let Some(k) = key {
        cmd.env("CAMPAIGN_API_KEY", k);
    }
    tokio::task::spawn_blocking(move || cmd.output().expect("run campaignctl"))
        .await
        .expect("join")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        text(&o.stdout),
        text(&o.stderr)
    );
}

const WHEEL: &str = r#"
key = "cli-story"
name = "CLI wheel"
starts_at = "2026-11-25T12:00:00+08:00"
ends_at = "2026-12-26T12:00:00+08:00"
draws_per_day = 5
draws_total = 20
fallback = "Thanks"

[[prizes]]
name = "Tea set"
kind = "physical"
weight = 10
stock = 5
daily_cap = 2

[[prizes]]
name = "10 points"
kind = "points"
weight = 30
stock = 100
points = 10

[[prizes]]
name = "Thanks"
kind = "thanks"
weight = 60

[share]
enabled = true
[[share.tiers]]
metric = "shares"
threshold = 3
prize = { name = "Mug", kind = "physical", stock = 4 }

[votes]
votes_per_day = 3
votes_per_candidate_per_day = 1
votes_total = 10

[chances]
per_share = 1
daily_cap = 2
"#;

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write toml");
    p
}

/// Draws as `openid` with a channel tag, with a token the engine accepts.
async fn draw(e: &Engine, issuer: &str, secret: &[u8], openid: &str, campaign: &str, ch: &str) {
    let token = sign_player_token(
        secret,
        &PlayerClaims {
            iss: issuer.into(),
            aud: "campaign-engine".into(),
            sub: openid.into(),
            iat: T0 / 1000,
            exp: T0 / 1000 + 600,
        },
    );
    PlayerServiceClient::new(e.channel.clone())
        .draw(with(
            &token,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                channel: ch.into(),
                store_id: String::new(),
            },
        ))
        .await
        .expect("draw");
}

/// One piece: a story whose steps each build on the state the previous ones
/// left: the campaign files, their state files, and the engine's campaigns
/// and audit trail, run after run.
async fn cli_story(backend: Backend) {
    // Arrange
    let e = Engine::start(backend).await;
    let dir = e.db.dir.clone();
    let file = write(&dir, "wheel.toml", WHEEL);
    let file_arg = file.to_str().expect("utf-8 path");

    // Act / Assert: a dry run on a new file says what it would create,
    // exits 2 (changes pending) and creates nothing.
    let planned = e.ctl(&["apply", file_arg, "--dry-run"]).await;
    assert_exit(&planned, 2);
    assert!(
        text(&planned.stdout).contains("would create campaign"),
        "{}",
        text(&planned.stdout)
    );
    assert!(
        !dir.join("wheel.state.toml").exists(),
        "a dry run created it"
    );

    // The first apply creates the whole campaign.
    let first = e.ctl(&["apply", file_arg]).await;
    assert_exit(&first, 0);
    let out = text(&first.stdout);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("created campaign "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no campaign id in:\n{out}"))
        .to_owned();
    let state = std::fs::read_to_string(dir.join("wheel.state.toml")).expect("state file");
    assert!(
        state.contains(&id) && state.contains(&e.endpoint),
        "{state}"
    );
    let created = e.campaign(&id).await;
    assert_eq!(created.status, pb::CampaignStatus::Draft as i32);
    assert_eq!(created.name, "CLI wheel");
    assert_eq!(created.starts_at_ms, T0 - DAY);
    assert_eq!(created.fallback_slot, Some(2));
    let names: Vec<_> = created
        .slots
        .iter()
        .map(|s| s.spec.as_ref().expect("spec").name.as_str())
        .collect();
    assert_eq!(names, ["Tea set", "10 points", "Thanks"]);
    assert_eq!(created.slots[0].spec.as_ref().expect("spec").daily_cap, 2);

    // The same file again changes nothing: same campaign, no audit entry.
    let audit_before = e.audit_entries().await;
    let again = e.ctl(&["apply", file_arg]).await;
    assert_exit(&again, 0);
    assert!(
        text(&again.stdout).contains("no changes"),
        "{}",
        text(&again.stdout)
    );
    assert_eq!(
        e.audit_entries().await,
        audit_before,
        "a second apply changed something"
    );
    assert_eq!(e.campaign(&id).await, created);
    // Nothing pending: a dry run exits 0.
    assert_exit(&e.ctl(&["apply", file_arg, "--dry-run"]).await, 0);

    // The state file lost (as if the first run died right after
    // CreateWheel): the same creation key gets the same campaign back.
    std::fs::remove_file(dir.join("wheel.state.toml")).expect("remove state");
    let recovered = e.ctl(&["apply", file_arg]).await;
    assert_exit(&recovered, 0);
    let out = text(&recovered.stdout);
    assert!(out.contains(&format!("recovered campaign {id}")), "{out}");
    assert!(out.contains("no changes"), "{out}");
    assert_eq!(e.audit_entries().await, audit_before, "no second campaign");
    assert!(std::fs::read_to_string(dir.join("wheel.state.toml")).is_ok_and(|s| s.contains(&id)));

    // Two runs racing on a new file make one campaign with its slots once.
    let race = write(
        &dir,
        "race.toml",
        &WHEEL.replace("key = \"cli-story\"", "key = \"race\""),
    );
    let race_arg = race.to_str().expect("utf-8");
    let argv = ["apply", race_arg];
    let (a, b) = tokio::join!(e.ctl(&argv), e.ctl(&argv));
    assert_exit(&a, 0);
    assert_exit(&b, 0);
    let state = std::fs::read_to_string(dir.join("race.state.toml")).expect("state");
    let race_id = state
        .lines()
        .find_map(|l| l.strip_prefix("campaign_id = "))
        .expect("an entry")
        .trim_matches('"')
        .to_owned();
    let raced = e.campaign(&race_id).await;
    assert_eq!(raced.slots.len(), 3, "{raced:?}");
    assert_eq!(raced.fallback_slot, Some(2));
    let audit_before = e.audit_entries().await;

    // An invalid file is refused before any call, naming the field.
    let bad = write(
        &dir,
        "bad.toml",
        &WHEEL
            .replace("key = \"cli-story\"", "key = \"bad\"")
            .replace("weight = 30", "weight = 0"),
    );
    let refused = e.ctl(&["apply", bad.to_str().expect("utf-8")]).await;
    assert_exit(&refused, 1);
    assert!(
        text(&refused.stderr).contains("prizes[1].weight: must be > 0"),
        "{}",
        text(&refused.stderr)
    );
    let typo = write(
        &dir,
        "typo.toml",
        &WHEEL.replace("stock = 100", "stok = 100"),
    );
    let refused = e.ctl(&["apply", typo.to_str().expect("utf-8")]).await;
    assert_exit(&refused, 1);
    assert!(text(&refused.stderr).contains("unknown field `stok`"));
    assert_eq!(
        e.audit_entries().await,
        audit_before,
        "an invalid file changed something"
    );
    assert!(!dir.join("bad.state.toml").exists(), "nothing was created");

    // A DRAFT follows its file; a dry run first shows the change, exits 2
    // and leaves the campaign as it was.
    std::fs::write(&file, WHEEL.replace("stock = 5", "stock = 6")).expect("edit");
    let pending = e.ctl(&["apply", file_arg, "--dry-run"]).await;
    assert_exit(&pending, 2);
    assert!(text(&pending.stdout).contains("prizes[0].stock: 5 -> 6"));
    assert_eq!(e.campaign(&id).await, created, "a dry run changed it");
    let updated = e.ctl(&["apply", file_arg]).await;
    assert_exit(&updated, 0);
    assert!(text(&updated.stdout).contains("prizes[0].stock: 5 -> 6"));
    assert_eq!(
        e.campaign(&id).await.slots[0]
            .spec
            .as_ref()
            .expect("spec")
            .stock,
        6
    );

    // Publish by file; a player draws through two channels.
    let published = e.ctl(&["publish", file_arg]).await;
    assert_exit(&published, 0);
    assert!(text(&published.stdout).contains("DRAFT -> PUBLISHED"));
    assert_eq!(
        e.campaign(&id).await.status,
        pb::CampaignStatus::Published as i32
    );
    let (issuer, secret) = ("cli-gw", b"0123456789abcdef0123456789abcdef".to_vec());
    AdminServiceClient::new(e.channel.clone())
        .set_player_token_key(with(
            &e.admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: issuer.into(),
                secret: secret.clone(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("token key");
    draw(&e, issuer, &secret, "alice", &id, "poster-a").await;
    draw(&e, issuer, &secret, "alice", &id, "poster-a").await;
    draw(&e, issuer, &secret, "bob", &id, "qr-b").await;

    // A changed file on a live campaign: the diff, refused without --yes.
    let revised = WHEEL
        .replace("stock = 5", "stock = 6")
        .replace("weight = 10", "weight = 20")
        .replace("weight = 60", "weight = 50");
    std::fs::write(&file, &revised).expect("edit");
    let audit_before = e.audit_entries().await;
    let unconfirmed = e.ctl(&["apply", file_arg]).await;
    assert_exit(&unconfirmed, 1);
    let out = text(&unconfirmed.stdout);
    assert!(out.contains("prizes[0].weight: 10 -> 20"), "{out}");
    assert!(out.contains("prizes[2].weight: 60 -> 50"), "{out}");
    assert!(text(&unconfirmed.stderr).contains("--yes"));
    let live = e.campaign(&id).await;
    assert_eq!(live.slots[0].spec.as_ref().expect("spec").weight, 10);
    assert_eq!(live.fairness.as_ref().expect("fairness").version, 1);
    assert_eq!(e.audit_entries().await, audit_before);
    // With --yes it is a new version of the prize table.
    let confirmed = e.ctl(&["apply", file_arg, "--yes"]).await;
    assert_exit(&confirmed, 0);
    let live = e.campaign(&id).await;
    assert_eq!(live.slots[0].spec.as_ref().expect("spec").weight, 20);
    assert_eq!(live.slots[2].spec.as_ref().expect("spec").weight, 50);
    assert_eq!(live.fairness.as_ref().expect("fairness").version, 2);
    assert_eq!(e.audit_entries().await, audit_before + 1, "one ReviseWheel");
    let settled = e.ctl(&["apply", file_arg]).await;
    assert_exit(&settled, 0);
    assert!(text(&settled.stdout).contains("no changes"));

    // Statistics as CSV: a header, one row per day and channel.
    let csv = e.ctl(&["stats", &id, "--csv"]).await;
    assert_exit(&csv, 0);
    let csv = text(&csv.stdout);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("day,channel,participants,new_players,draws")),
        "{csv}"
    );
    let row = |channel: &str| {
        csv.lines()
            .find(|l| l.split(',').nth(1) == Some(channel))
            .unwrap_or_else(|| panic!("no {channel} row in:\n{csv}"))
            .split(',')
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(row("poster-a")[4], "2", "alice's two draws");
    assert_eq!(row("qr-b")[4], "1", "bob's draw");
    let table = e.ctl(&["stats", file_arg]).await;
    assert_exit(&table, 0);
    assert!(text(&table.stdout).contains("poster-a"));

    // The auditor's export and the campaign view.
    let export = e.ctl(&["export", &id]).await;
    assert_exit(&export, 0);
    let export = text(&export.stdout);
    assert!(
        export
            .lines()
            .next()
            .is_some_and(|l| l.contains("\"type\":\"campaign\"")),
        "{export}"
    );
    assert_eq!(
        export
            .lines()
            .filter(|l| l.contains("\"type\":\"draw\""))
            .count(),
        3
    );
    let show = e.ctl(&["show", &id]).await;
    assert_exit(&show, 0);
    assert!(text(&show.stdout).contains("PUBLISHED") && text(&show.stdout).contains("Tea set"));

    // Lists: the campaign among the merchant's, its winners (3 draws).
    let listed = e.ctl(&["get", "campaigns", "--status", "published"]).await;
    assert_exit(&listed, 0);
    assert!(
        text(&listed.stdout).contains(&id) && text(&listed.stdout).contains("CLI wheel"),
        "{}",
        text(&listed.stdout)
    );
    let none = e.ctl(&["get", "campaigns", "--status", "ended"]).await;
    assert_exit(&none, 0);
    assert_eq!(text(&none.stdout).trim(), "no campaigns");
    // The merchant's stores, by city and status.
    let no_stores = e.ctl(&["get", "stores"]).await;
    assert_exit(&no_stores, 0);
    assert_eq!(text(&no_stores.stdout).trim(), "no stores");
    pb::store_admin_service_client::StoreAdminServiceClient::new(e.channel.clone())
        .create_store(with(
            &e.admin_key,
            pb::CreateStoreRequest {
                idempotency_key: key(),
                store_id: "SH-001".into(),
                name: "徐汇店".into(),
                city: "上海".into(),
                address: "漕溪北路 1 号".into(),
                location: None,
            },
        ))
        .await
        .expect("register a store");
    let stores = e
        .ctl(&["get", "stores", "--city", "上海", "--status", "open"])
        .await;
    assert_exit(&stores, 0);
    let stores = text(&stores.stdout);
    assert!(
        stores.starts_with("store") && stores.contains("SH-001") && stores.contains("徐汇店"),
        "{stores}"
    );
    let closed = e.ctl(&["get", "stores", "--status", "closed"]).await;
    assert_eq!(text(&closed.stdout).trim(), "no stores");
    let won = e.ctl(&["winners", file_arg]).await;
    assert_exit(&won, 0);
    let won = text(&won.stdout);
    let winners = e
        .campaign(&id)
        .await
        .slots
        .iter()
        .map(|s| s.won)
        .sum::<i64>();
    if winners == 0 {
        assert_eq!(won.trim(), "no winners");
    } else {
        assert!(won.starts_with("award"), "{won}");
        assert_eq!(
            won.lines().count() as i64,
            1 + winners,
            "one line a winner:\n{won}"
        );
    }
    let ship_file = write(
        &dir,
        "ship.csv",
        "award_id,tracking_number\n0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b,SF1001\n",
    );
    let shipped = e
        .ctl(&["ship", &id, ship_file.to_str().expect("utf-8")])
        .await;
    assert_exit(&shipped, 0);
    let out = text(&shipped.stdout);
    assert!(
        out.contains("refused 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b (not_found)")
            && out.contains("shipped 0, already shipped 0, refused 1"),
        "{out}"
    );
    let bad_day = e.ctl(&["winners", &id, "--day", "someday"]).await;
    assert_exit(&bad_day, 1);
    assert!(
        text(&bad_day.stderr).contains("day"),
        "{}",
        text(&bad_day.stderr)
    );

    // An auditor's key (from --key-file) reads but does not change.
    let auditor = AdminServiceClient::new(e.channel.clone())
        .create_api_key(with(
            &e.admin_key,
            pb::CreateApiKeyRequest {
                idempotency_key: key(),
                role: pb::Role::Auditor.into(),
                store_id: String::new(),
                label: "cli auditor".into(),
            },
        ))
        .await
        .expect("auditor key")
        .into_inner()
        .api_key;
    let key_file = write(&dir, "auditor.key", &format!("{auditor}\n"));
    let as_auditor = |args: Vec<String>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_campaignctl"));
        cmd.args(args)
            .arg("--endpoint")
            .arg(&e.endpoint)
            .arg("--key-file")
            .arg(&key_file)
            .env_remove("CAMPAIGN_API_KEY")
            .current_dir(&dir);
        tokio::task::spawn_blocking(move || cmd.output().expect("run campaignctl"))
    };
    let audited = as_auditor(vec!["export".into(), id.clone()])
        .await
        .expect("join");
    assert_exit(&audited, 0);
    assert_eq!(
        text(&audited.stdout),
        export,
        "the same export for the auditor"
    );
    let audit_before = e.audit_entries().await;
    let other = write(
        &dir,
        "other.toml",
        &WHEEL.replace("key = \"cli-story\"", "key = \"other\""),
    );
    let denied = as_auditor(vec!["apply".into(), other.display().to_string()])
        .await
        .expect("join");
    assert_exit(&denied, 1);
    assert!(
        text(&denied.stderr).contains("PermissionDenied"),
        "{}",
        text(&denied.stderr)
    );
    assert!(!text(&denied.stderr).contains(&auditor));
    assert_eq!(e.audit_entries().await, audit_before, "nothing created");

    // A raffle among the players who drew: listed open, drawn by
    // `run-raffle` after its cut-off, listed drawn.
    let raffle = pb::raffle_admin_service_client::RaffleAdminServiceClient::new(e.channel.clone())
        .create_raffle(with(
            &e.admin_key,
            pb::CreateRaffleRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                name: "幸运转盘玩家".into(),
                source: pb::RaffleSource::Draw as i32,
                until_ms: T0 + 3_600_000,
                winners: 1,
                prize: Some(pb::PrizeSlotSpec {
                    name: "积分".into(),
                    kind: pb::PrizeKind::Points as i32,
                    amount: 500,
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .expect("create a raffle")
        .into_inner();
    let open = e.ctl(&["get", "raffles", &id]).await;
    assert_exit(&open, 0);
    let open = text(&open.stdout);
    assert!(
        open.contains("幸运转盘玩家") && open.contains("open"),
        "{open}"
    );
    let early = e.ctl(&["run-raffle", &raffle.raffle_id]).await;
    assert!(!early.status.success(), "drawn before its cut-off");
    e.clock.set(T0 + 3_600_000);
    let ran = e.ctl(&["run-raffle", &raffle.raffle_id]).await;
    assert_exit(&ran, 0);
    assert!(
        text(&ran.stdout).contains("1 winners among"),
        "{}",
        text(&ran.stdout)
    );
    let listed = e.ctl(&["get", "raffles", &id]).await;
    assert!(
        text(&listed.stdout).contains("drawn: 1 of"),
        "{}",
        text(&listed.stdout)
    );

    // Webhooks: add (the secret shown once), list, test against a real
    // receiver on 127.0.0.1; a receiver that fails makes `test` fail.
    let rx = test_kit::webhook_receiver::Receiver::start().await;
    let added = e
        .ctl(&[
            "webhooks",
            "add",
            &rx.url(),
            "--type",
            "draw.won.v1",
            "--description",
            "CRM",
        ])
        .await;
    assert_exit(&added, 0);
    let out = text(&added.stdout);
    let secret = out
        .lines()
        .find_map(|l| l.strip_prefix("secret:  "))
        .expect("the secret line")
        .trim()
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{out}");
    let endpoint = out
        .lines()
        .find_map(|l| l.strip_prefix("endpoint "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the endpoint line")
        .to_owned();
    rx.set_secret(&secret);
    let listed = e.ctl(&["webhooks", "list"]).await;
    assert_exit(&listed, 0);
    assert!(
        text(&listed.stdout).contains(&rx.url()),
        "{}",
        text(&listed.stdout)
    );
    assert!(
        !text(&listed.stdout).contains(&secret),
        "the secret is shown once"
    );
    assert_exit(&e.ctl(&["webhooks", "test", &endpoint]).await, 0);
    assert!(rx.got().iter().any(|g| g.event_type == "webhook.ping.v1"));
    rx.answer_with(500);
    let failed = e.ctl(&["webhooks", "test", &endpoint]).await;
    assert!(!failed.status.success());
    assert!(
        text(&failed.stderr).contains("HTTP 500"),
        "{}",
        text(&failed.stderr)
    );
    assert_exit(&e.ctl(&["webhooks", "remove", &endpoint]).await, 0);

    // Usage errors exit 1; a missing key is an error, and no key is printed.
    assert_exit(&e.ctl(&["frobnicate"]).await, 1);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_campaignctl"));
    cmd.args(["show", &id, "--endpoint", &e.endpoint])
        .env_remove("CAMPAIGN_API_KEY");
    let nokey = tokio::task::spawn_blocking(move || cmd.output().expect("run"))
        .await
        .expect("join");
    assert_exit(&nokey, 1);
    assert!(text(&nokey.stderr).contains("CAMPAIGN_API_KEY"));
    for o in [&first, &again, &confirmed] {
        assert!(!text(&o.stdout).contains(&e.admin_key) && !text(&o.stderr).contains(&e.admin_key));
    }
    e.stop().await;
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cli_story() {
        super::cli_story(crate::helpers::Backend::Sqlite).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cli_story() {
        super::cli_story(crate::helpers::Backend::Postgres).await
    }
}
