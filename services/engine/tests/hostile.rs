//! Issue 22 against the real `campaign-engine` binary: each attack of a
//! hostile client (raw HTTP/2 frames, silent connections, unanswered pings,
//! a path flood, stalled exports, forged tokens, kill -9 in the first
//! start, credentials in the database URL) run on a process started as an
//! operator starts it (environment settings only), with health answering
//! during the attack and the engine serving after it. Bounded in count and
//! time; traffic to 127.0.0.1 only. (`campaign/tests/api/limits.rs` runs
//! the same attacks in-process on both databases, closer to the code.)

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::Duration,
};

use campaign::domain::credential::{PlayerClaims, sign_player_token};
use engine_proto::campaign::v1::{
    self as pb, admin_service_client::AdminServiceClient, audit_service_client::AuditServiceClient,
    player_service_client::PlayerServiceClient,
};
use test_kit::exports::{drain, stalled_campaign_export};
use test_kit::h2raw::{
    ACK, PREFACE, SETTINGS, closed_within, frame, open_streams, refused_streams,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const GATEWAY_SECRET: &[u8] = b"the gateway's secret, 32+ bytes long";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "engine-hostile-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The binary started in `dir` with `CAMPAIGN_*` settings from `env`;
/// killed when dropped.
struct Engine {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Engine {
    fn spawn(dir: &Path, env: &[(&str, String)]) -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign-engine"));
        cmd.env_clear()
            .env("CAMPAIGN_LISTEN", addr.to_string())
            .env("RUST_LOG", "info")
            .current_dir(dir)
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, v) in env {
            cmd.env(format!("CAMPAIGN_{k}"), v);
        }
        let child = cmd.spawn().expect("start campaign-engine");
        Self {
            child,
            addr,
            dir: dir.to_path_buf(),
        }
    }

    /// Started and SERVING within 30 s.
    async fn start(dir: &Path, env: &[(&str, String)]) -> Self {
        let mut e = Self::spawn(dir, env);
        for _ in 0..300 {
            if health(e.addr).await == Some(1) {
                return e;
            }
            if let Ok(Some(status)) = e.child.try_wait() {
                panic!("the engine exited ({status}):\n{}", e.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the engine did not become healthy in 30 s:\n{}", e.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("engine.log")).unwrap_or_default()
    }

    fn admin_key(&self) -> String {
        std::fs::read_to_string(self.dir.join(".campaign/bootstrap-admin.key"))
            .expect("the first admin key")
            .trim()
            .to_owned()
    }

    async fn channel(&self) -> Channel {
        connect(self.addr).await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: SocketAddr) -> Channel {
    timeout(
        Duration::from_secs(5),
        Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect(),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// The health status on a new connection within 5 s (1 = SERVING).
async fn health(addr: SocketAddr) -> Option<i32> {
    let answer = timeout(Duration::from_secs(5), async {
        let ch = Channel::from_shared(format!("http://{addr}"))
            .ok()?
            .connect()
            .await
            .ok()?;
        HealthClient::new(ch)
            .check(HealthCheckRequest {
                service: "campaign.v1.AdminService".into(),
            })
            .await
            .ok()
    })
    .await;
    answer.ok().flatten().map(|r| r.get_ref().status)
}

async fn assert_health_answers(addr: SocketAddr) {
    assert_eq!(health(addr).await, Some(1), "health answers SERVING");
}

fn with<T>(credential: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    let v = MetadataValue::try_from(format!("Bearer {credential}")).expect("header");
    r.metadata_mut().insert("authorization", v);
    r
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A published wheel of one THANKS slot, `per_player` draws each.
async fn wheel(e: &Engine, per_player: i64) -> String {
    let admin_key = e.admin_key();
    let mut admin = AdminServiceClient::new(e.channel().await);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let c = admin
        .create_wheel(with(
            &admin_key,
            pb::CreateWheelRequest {
                idempotency_key: key(),
                name: "大转盘".into(),
                starts_at_ms: now - 3_600_000,
                ends_at_ms: now + 86_400_000,
                time_zone: String::new(),
                draws_per_day: per_player,
                draws_total: per_player,
            },
        ))
        .await
        .expect("create wheel")
        .into_inner();
    admin
        .add_prize_slot(with(
            &admin_key,
            pb::AddPrizeSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                slot: Some(pb::PrizeSlotSpec {
                    name: "谢谢参与".into(),
                    kind: pb::PrizeKind::Thanks as i32,
                    weight: 1,
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect("add slot");
    admin
        .set_fallback_slot(with(
            &admin_key,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                index: 0,
            },
        ))
        .await
        .expect("fallback");
    admin
        .publish_campaign(with(
            &admin_key,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await
        .expect("publish");
    admin
        .set_player_token_key(with(
            &admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: "gateway".into(),
                secret: GATEWAY_SECRET.to_vec(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("gateway key");
    c.campaign_id
}

fn token(openid: &str, iat: i64, exp: i64) -> String {
    sign_player_token(
        GATEWAY_SECRET,
        &PlayerClaims {
            iss: "gateway".into(),
            aud: "campaign-engine".into(),
            sub: openid.into(),
            iat,
            exp,
        },
    )
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

async fn draw(ch: Channel, token: &str, campaign: &str) -> Result<pb::DrawResponse, tonic::Status> {
    PlayerServiceClient::new(ch)
        .draw(with(
            token,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: campaign.into(),
                channel: String::new(),
                store_id: String::new(),
            },
        ))
        .await
        .map(|r| r.into_inner())
}

/// The engine serves after an attack: health, and a draw on a new wheel.
async fn assert_serves_normally(e: &Engine) {
    assert_health_answers(e.addr).await;
    let campaign = wheel(e, 1).await;
    let t = token("after-the-attack", now_s(), now_s() + 600);
    draw(e.channel().await, &t, &campaign)
        .await
        .expect("a draw after the attack");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_http2_attacks_leave_the_binary_serving() {
    let dir = fresh_dir("h2");
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let e = Engine::start(
        &dir,
        &[
            ("HTTP2_MAX_CONCURRENT_STREAMS", "32".into()),
            ("CONNECTION_IDLE_TIMEOUT_SECS", "3".into()),
            ("HTTP2_KEEPALIVE_INTERVAL_SECS", "1".into()),
            ("HTTP2_KEEPALIVE_TIMEOUT_SECS", "1".into()),
            ("METRICS_LISTEN", metrics.to_string()),
        ],
    )
    .await;

    // Streams beyond the advertised limit are refused, not the connection.
    let mut streams = TcpStream::connect(e.addr).await.expect("connect");
    streams
        .write_all(&open_streams(32 + 20))
        .await
        .expect("send");
    let (advertised, refused) = refused_streams(&mut streams, 20, Duration::from_secs(10)).await;
    assert_eq!(advertised, Some(32), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert_eq!(refused.len(), 20, "{refused:?}");
    assert!(refused.iter().all(|s| *s >= 65), "{refused:?}");
    assert_health_answers(e.addr).await;
    drop(streams);

    // Silent connections, a preface and silence, and unanswered pings are
    // all closed in time; health answers meanwhile.
    let mut nothing = TcpStream::connect(e.addr).await.expect("connect");
    let mut preface = TcpStream::connect(e.addr).await.expect("connect");
    preface.write_all(PREFACE).await.expect("preface");
    let mut deaf = TcpStream::connect(e.addr).await.expect("connect");
    let mut hello = PREFACE.to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    hello.extend(frame(SETTINGS, ACK, 0, &[]));
    deaf.write_all(&hello).await.expect("settings");
    assert_health_answers(e.addr).await;
    for (name, sock) in [
        ("silent", &mut nothing),
        ("preface only", &mut preface),
        ("never answers pings", &mut deaf),
    ] {
        assert!(
            closed_within(sock, Duration::from_secs(8)).await,
            "a {name} connection is still open after 8 s"
        );
    }

    // 2,000 requests for unique 2 KB paths: the metrics stay small.
    for i in 0..2_000u32 {
        let path = format!("{i:08}{}", "x".repeat(2040));
        let mut s = TcpStream::connect(e.addr).await.expect("connect");
        let req = format!("GET /{path} HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("request");
        let mut answer = Vec::new();
        let _ = timeout(Duration::from_secs(2), s.read_to_end(&mut answer)).await;
    }
    let mut m = TcpStream::connect(metrics).await.expect("metrics port");
    m.write_all(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
        .await
        .expect("scrape");
    let mut body = Vec::new();
    timeout(Duration::from_secs(5), m.read_to_end(&mut body))
        .await
        .expect("scraped in time")
        .expect("scrape");
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(
        body.len() < 256 * 1024,
        "/metrics is {} bytes after a path flood",
        body.len()
    );
    assert!(!text.contains("00001999xxxx"), "a flooded path is a label");

    assert_serves_normally(&e).await;
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_exports_and_forged_tokens_cannot_hurt_the_binary() {
    let dir = fresh_dir("exports");
    let e = Engine::start(
        &dir,
        &[
            ("STREAM_STALL_SECS", "1".into()),
            ("PLAYER_RATE_PER_SEC", "0".into()),
        ],
    )
    .await;
    let campaign = wheel(&e, 40).await;
    // 1,200 draws: far more export lines than a stream's buffers and window.
    let ch = e.channel().await;
    let mut draws = tokio::task::JoinSet::new();
    for p in 0..30 {
        let (ch, campaign) = (ch.clone(), campaign.clone());
        let t = token(&format!("fan-{p}"), now_s(), now_s() + 600);
        draws.spawn(async move {
            for _ in 0..40 {
                draw(ch.clone(), &t, &campaign).await.expect("draw");
            }
        });
    }
    draws.join_all().await;

    // Forged lifetimes that overflow `exp - iat` are refused.
    for (iat, exp) in [
        (i64::MIN, i64::MAX - 30),
        (-(1i64 << 62), (1i64 << 62) + 3000),
        (now_s(), now_s() + 7_200),
        (now_s() + 3_600, now_s() + 3_700),
    ] {
        let forged = draw(ch.clone(), &token("forger", iat, exp), &campaign).await;
        assert_eq!(
            forged.map(|_| ()).map_err(|s| s.code()),
            Err(Code::Unauthenticated),
            "iat {iat}, exp {exp}"
        );
    }

    // Two exports never read, on connections with the smallest window.
    let admin_key = e.admin_key();
    let export = || {
        with(
            &admin_key,
            pb::ExportCampaignRequest {
                campaign_id: campaign.clone(),
            },
        )
    };
    let mut stalled = Vec::new();
    for _ in 0..2 {
        stalled.push(stalled_campaign_export(e.addr, &admin_key, &campaign).await);
    }
    // A third of this merchant is refused; draws and health go on.
    let third = AuditServiceClient::new(ch.clone())
        .export_campaign(export())
        .await
        .map(|_| ())
        .expect_err("over the merchant's export budget");
    assert_eq!(third.code(), Code::ResourceExhausted);
    assert!(third.message().contains("reason: merchant"), "{third:?}");
    assert_health_answers(e.addr).await;
    let t = token("during", now_s(), now_s() + 600);
    timeout(Duration::from_secs(5), draw(ch.clone(), &t, &campaign))
        .await
        .expect("a draw in time while exports stall")
        .expect("draw");

    // Cut after the stall: what was queued, then DEADLINE_EXCEEDED.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for s in stalled {
        let (lines, end) = drain(s).await;
        assert_eq!(end, Some(Code::DeadlineExceeded), "after {lines} lines");
        assert!(lines < 1_200, "{lines} lines: the export was not cut");
    }
    assert_serves_normally(&e).await;
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_killed_at_any_moment_starts_again() {
    for delay_ms in [0u64, 15, 30, 45, 60, 90, 150, 300] {
        let dir = fresh_dir("first-start");
        let mut first = Engine::spawn(&dir, &[]);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = first.child.kill(); // SIGKILL
        let _ = first.child.wait();
        drop(first);
        // The next start serves, and the first admin key works.
        let e = Engine::start(&dir, &[]).await;
        let keys = AdminServiceClient::new(e.channel().await)
            .list_api_keys(with(&e.admin_key(), pb::ListApiKeysRequest::default()))
            .await;
        assert!(
            keys.is_ok(),
            "killed {delay_ms} ms into the first start: {keys:?}\n{}",
            e.log()
        );
        drop(e);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A new database on the test cluster (as the PostgreSQL suites take
/// it): its URL. Each engine start gets its own, sealed with its own key.
async fn pg_database() -> String {
    use sqlx::Connection;
    let base = std::env::var("CAMPAIGN_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "CAMPAIGN_TEST_PG_URL is not set: this test needs a server. Run `bash \
             scripts/test.sh`, which starts a throwaway cluster."
        )
    });
    let name = format!("hostile_{}", uuid::Uuid::new_v4().simple());
    let mut c = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to the test cluster");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .expect("create database");
    let cut = base.rfind('/').expect("a database in the URL");
    format!("{}/{name}", &base[..cut])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_passwords_are_never_printed() {
    // The throwaway cluster trusts local connections, so any password
    // connects; each form sqlx accepts must stay out of the log.
    let join = |url: &str, param: &str| {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{param}")
    };
    let split = |url: &str| -> (String, String, String) {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (user, host) = rest.split_once('@').expect("user@host");
        (scheme.to_owned(), user.to_owned(), host.to_owned())
    };
    let (scheme, user, host) = split(&pg_database().await);
    let forms = [
        (
            "userinfo-Pw1z9",
            format!("{scheme}://{user}:userinfo-Pw1z9@{host}"),
        ),
        (
            "param-Pw2z9",
            join(&pg_database().await, "password=param-Pw2z9"),
        ),
        (
            "ssl-Pw3z9",
            join(&pg_database().await, "sslpassword=ssl-Pw3z9"),
        ),
    ];
    for (secret, url) in &forms {
        let dir = fresh_dir("pg-url");
        let e = Engine::start(&dir, &[("DATABASE_URL", url.clone())]).await;
        drop(e);
        let log = std::fs::read_to_string(dir.join("engine.log")).expect("log");
        assert!(!log.contains(secret), "{secret} printed:\n{log}");
        assert!(log.contains("campaign engine serving"), "{log}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    // And when the server cannot be reached, the error names the URL
    // without its password.
    let dir = fresh_dir("pg-down");
    let dead = format!(
        "postgres://{}:down-Pw4z9@127.0.0.1:{}/nothing",
        user.split(':').next().unwrap_or("postgres"),
        free_port()
    );
    let mut e = Engine::spawn(&dir, &[("DATABASE_URL", dead)]);
    let status = timeout(Duration::from_secs(60), async {
        loop {
            if let Ok(Some(s)) = e.child.try_wait() {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the engine gives up on an unreachable database");
    assert!(!status.success());
    let log = e.log();
    assert!(!log.contains("down-Pw4z9"), "password printed:\n{log}");
    assert!(
        log.contains("127.0.0.1"),
        "the error names the server:\n{log}"
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_binary_keeps_is_its_owners_and_sealed() {
    use engine_proto::coupon::v1::{
        self as cpb, coupon_admin_service_client::CouponAdminServiceClient,
        coupon_player_service_client::CouponPlayerServiceClient,
    };
    let dir = fresh_dir("at-rest");
    let e = Engine::start(&dir, &[]).await;
    let campaign = wheel(&e, 1).await;
    let admin_key = e.admin_key();
    let template = CouponAdminServiceClient::new(e.channel().await)
        .create_template(with(
            &admin_key,
            cpb::CreateTemplateRequest {
                idempotency_key: key(),
                name: "满100减10".into(),
                kind: cpb::DiscountKind::AmountOff as i32,
                amount_off_cents: 1000,
                valid_days: 30,
                total_supply: 10,
                ..Default::default()
            },
        ))
        .await
        .expect("template")
        .into_inner();
    let coupon = CouponPlayerServiceClient::new(e.channel().await)
        .claim_coupon(with(
            &token("fan", now_s(), now_s() + 600),
            cpb::ClaimCouponRequest {
                idempotency_key: key(),
                template_id: template.template_id.clone(),
            },
        ))
        .await
        .expect("claim")
        .into_inner();

    // The owner's alone: the database and its WAL, the key files, their
    // directory.
    for f in ["campaign.db", "campaign.db-wal", ".campaign/seal.key"] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&dir.join(".campaign")), 0o700);
    // Nothing secret in the clear in the database's files.
    let mut stored = Vec::new();
    for f in ["campaign.db", "campaign.db-wal"] {
        stored.extend(std::fs::read(dir.join(f)).expect("read"));
    }
    let found = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(
        !found(GATEWAY_SECRET),
        "the gateway secret is stored in the clear"
    );
    for code in [coupon.code.clone(), coupon.code.replace('-', "")] {
        assert!(
            !found(code.as_bytes()),
            "the coupon code {code} is stored in the clear"
        );
    }

    // Another merchant (made with the binary's own command) finds this
    // merchant's campaign exactly as it finds no campaign at all.
    let made = Command::new(env!("CARGO_BIN_EXE_campaign-engine"))
        .env_clear()
        .args(["create-merchant", "另一家店"])
        .current_dir(&dir)
        .output()
        .expect("create-merchant");
    let out = String::from_utf8_lossy(&made.stdout).to_string();
    let other = out
        .lines()
        .find_map(|l| {
            l.split_once("(shown once): ")
                .map(|(_, k)| k.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no key in {out:?}"));
    let ch = e.channel().await;
    let refusal = |id: String| {
        let (ch, other) = (ch.clone(), other.clone());
        async move {
            AdminServiceClient::new(ch)
                .get_campaign(with(&other, pb::GetCampaignRequest { campaign_id: id }))
                .await
                .map(|_| ())
                .expect_err("not theirs")
        }
    };
    let theirs = refusal(campaign).await;
    let nobodys = refusal(uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(theirs.code(), Code::NotFound, "{theirs:?}");
    assert_eq!(
        (theirs.code(), theirs.message()),
        (nobodys.code(), nobodys.message())
    );
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
}
