//! Test harness: a real engine on a port-0 listener over a fresh database
//! (a temp SQLite file, or a new database on the PostgreSQL cluster named by
//! `CAMPAIGN_TEST_PG_URL`), typed gRPC clients, and direct SQL for the
//! invariant checks. The coupon suite runs the whole engine through
//! [`spawn_app_running`].

pub use crate::coupon_peer;

use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    time::Duration,
};

use campaign::{
    ServerError,
    clock::{Clock, ManualClock},
    config::Settings,
    domain::credential::{PlayerClaims, sign_player_token},
};
use engine_proto::campaign::v1::{
    self as pb, admin_service_client::AdminServiceClient,
    player_service_client::PlayerServiceClient,
    store_admin_service_client::StoreAdminServiceClient,
};
use sqlx::{Connection, Row};
use std::process::{Child, Command, Stdio};

use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, transport::Channel};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// 2026-11-26 12:00 Asia/Shanghai.
pub const T0: i64 = 1_795_665_600_000;
pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;

/// A fresh database and a scratch directory, removed on drop (PostgreSQL
/// databases live and die with the throwaway cluster).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub dir: PathBuf,
}

fn pg_base_url() -> String {
    std::env::var("CAMPAIGN_TEST_PG_URL").unwrap_or_else(|_| {
        panic!(
            "CAMPAIGN_TEST_PG_URL is not set: the PostgreSQL suite needs a server. \
             Run `bash scripts/test.sh`, which starts a throwaway cluster."
        )
    })
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("campaign-test-{id}"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite:{}", dir.join("engine.db").display()),
            Backend::Postgres => {
                let base = pg_base_url();
                let mut conn = sqlx::PgConnection::connect(&base)
                    .await
                    .expect("connect to the test PostgreSQL cluster");
                let name = format!("t_{id}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let cut = base.rfind('/').expect("database URL has a path");
                format!("{}/{name}", &base[..cut])
            }
        };
        Self { backend, url, dir }
    }

    /// Runs a query binding `$1` whose columns are all integers.
    pub async fn int_rows(&self, sql: &'static str, arg: &str) -> Vec<Vec<i64>> {
        fn ints<R: Row>(rows: Vec<R>) -> Vec<Vec<i64>>
        where
            usize: sqlx::ColumnIndex<R>,
            i64: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        {
            rows.iter()
                .map(|r| (0..r.len()).map(|i| r.get::<i64, _>(i)).collect())
                .collect()
        }
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("open sqlite");
                ints(
                    sqlx::query(sql)
                        .bind(arg)
                        .fetch_all(&mut c)
                        .await
                        .expect("query"),
                )
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("open pg");
                ints(
                    sqlx::query(sql)
                        .bind(arg)
                        .fetch_all(&mut c)
                        .await
                        .expect("query"),
                )
            }
        }
    }

    /// How many stored idempotency answers contain `needle` (raw bytes).
    pub async fn stored_answers_containing(&self, needle: &[u8]) -> usize {
        let answers: Vec<Vec<u8>> = match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("open sqlite");
                sqlx::query_scalar("SELECT response FROM idempotency WHERE response IS NOT NULL")
                    .fetch_all(&mut c)
                    .await
                    .expect("query")
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("open pg");
                sqlx::query_scalar("SELECT response FROM idempotency WHERE response IS NOT NULL")
                    .fetch_all(&mut c)
                    .await
                    .expect("query")
            }
        };
        answers
            .iter()
            .filter(|a| a.windows(needle.len()).any(|w| w == needle))
            .count()
    }

    /// Runs one statement directly (bypassing the engine); the error text
    /// if the database refuses it.
    pub async fn execute(&self, sql: &'static str) -> Result<u64, String> {
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("open sqlite");
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("open pg");
                sqlx::query(sql)
                    .execute(&mut c)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
        .map_err(|e| e.to_string())
    }

    /// Rows of two integer columns.
    pub async fn pairs(&self, sql: &'static str, arg: &str) -> Vec<(i64, i64)> {
        self.int_rows(sql, arg)
            .await
            .iter()
            .map(|r| (r[0], r[1]))
            .collect()
    }

    /// One integer.
    pub async fn scalar(&self, sql: &'static str, arg: &str) -> i64 {
        self.int_rows(sql, arg).await[0][0]
    }

    /// Invariant 1 for every slot of a campaign: won + remaining == initial,
    /// remaining >= 0, and "won" counted from the draw ledger.
    pub async fn assert_stock_balances(&self, campaign_id: &str) {
        let initial: Vec<(i64, i64)> = self
            .pairs(
                "SELECT slot_index, initial_stock FROM prize_slot WHERE campaign_id = $1 ORDER BY slot_index",
                campaign_id,
            )
            .await;
        let remaining = self
            .pairs(
                "SELECT slot_index, remaining FROM prize_slot WHERE campaign_id = $1 ORDER BY slot_index",
                campaign_id,
            )
            .await;
        let won = self
            .pairs(
                "SELECT d.awarded_slot, COUNT(*) FROM draw d JOIN prize_slot s \
                 ON s.campaign_id = d.campaign_id AND s.slot_index = d.awarded_slot \
                 WHERE d.campaign_id = $1 AND s.kind <> 'thanks' GROUP BY d.awarded_slot",
                campaign_id,
            )
            .await;
        let awards = self
            .pairs(
                "SELECT slot_index, COUNT(*) FROM prize_award WHERE campaign_id = $1 \
                 AND draw_id IS NOT NULL GROUP BY slot_index",
                campaign_id,
            )
            .await;
        assert_eq!(won, awards, "every won unit has exactly one award");
        for ((slot, init), (_, rem)) in initial.iter().zip(&remaining) {
            let w = won.iter().find(|(s, _)| s == slot).map_or(0, |(_, n)| *n);
            assert!(*rem >= 0, "slot {slot}: remaining {rem} < 0");
            assert_eq!(
                w + rem,
                *init,
                "slot {slot}: won {w} + remaining {rem} != initial {init}"
            );
        }
        self.assert_events_match_effects().await;
    }

    /// Waits until the engine has numbered every event (issue 25): none
    /// is lost or stuck unnumbered, whatever happened before.
    pub async fn assert_events_numbered(&self, within: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let waiting = self
                .scalar(
                    "SELECT COUNT(*) FROM event WHERE position IS NULL AND $1 = $1",
                    "",
                )
                .await;
            if waiting == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{waiting} events still unnumbered after {within:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub struct TestApp {
    pub db: TestDb,
    pub clock: ManualClock,
    pub channel: Channel,
    /// Where the server listens (HTTP/2 gRPC and HTTP/1.1 for browsers).
    pub addr: SocketAddr,
    /// The bootstrap admin key of the default merchant.
    pub admin_key: String,
    pub issuer: String,
    pub token_secret: Vec<u8>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<Result<(), ServerError>>>,
    /// How it was started, for `crash_and_restart`.
    pub settings: Settings,
    run: RunFn,
    service: String,
}

/// Another engine on a `TestApp`'s database (`TestApp::replica`).
pub struct Replica {
    pub channel: Channel,
    shutdown: oneshot::Sender<()>,
    server: Server,
}

impl Replica {
    /// Stops the replica gracefully and waits for it.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// An engine whose settings `tweak` adjusts first.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_running(backend, tweak, run_campaign, "campaign.v1.AdminService").await
}

/// Sets where the campaign service delivers won coupon prizes
/// (`coupon_endpoint`, in its `[campaign]` section).
pub fn set_coupon_endpoint(settings: &mut Settings, endpoint: impl Into<String>) {
    campaign::config::CampaignSettings {
        coupon_endpoint: endpoint.into(),
        ..Default::default()
    }
    .write_into(settings);
}

/// Lets webhooks call this machine (the test receivers listen on
/// 127.0.0.1), the rest of the `[campaign]` section kept; with
/// `retry_hours` as the retry window.
pub fn allow_local_webhooks(settings: &mut Settings, retry_hours: u32) {
    let section = settings
        .sections
        .entry(campaign::config::SECTION.to_owned())
        .or_default();
    section.insert("webhook_allow_private".to_owned(), true.into());
    section.insert(
        "webhook_retry_hours".to_owned(),
        i64::from(retry_hours).into(),
    );
}

/// A server entry point: `campaign::run`, or the whole engine.
pub type RunFn = fn(
    Settings,
    tokio::net::TcpListener,
    Pin<Box<dyn Future<Output = ()> + Send>>,
    Arc<dyn Clock>,
) -> Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>>;

fn run_campaign(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    clock: Arc<dyn Clock>,
) -> Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>> {
    Box::pin(campaign::run(settings, listener, shutdown, clock))
}

/// A server started with `run` on a fresh database, healthy once
/// `service` reports SERVING.
pub async fn spawn_app_running(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
    run: RunFn,
    service: &str,
) -> TestApp {
    let db = TestDb::new(backend).await;
    spawn_on(db, tweak, run, service).await
}

/// Waits until the health service reports the campaign admin service
/// SERVING on `addr`.
pub async fn wait_serving(addr: SocketAddr) -> Channel {
    wait_service(addr, "campaign.v1.AdminService").await
}

/// Waits until the health service reports `service` SERVING on `addr`.
pub async fn wait_service(addr: SocketAddr, service: &str) -> Channel {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    for _ in 0..300 {
        if let Ok(ch) = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
        {
            let ok = HealthClient::new(ch.clone())
                .check(HealthCheckRequest {
                    service: service.into(),
                })
                .await
                .is_ok_and(|r| r.get_ref().status == 1);
            if ok {
                return ch;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("engine on {addr} did not become healthy in 30 s");
}

pub async fn read_key(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("bootstrap key file")
        .trim()
        .to_owned()
}

type Server = JoinHandle<Result<(), ServerError>>;

/// Starts `run` on a port-0 listener and waits until `service` is SERVING.
async fn start_server(
    settings: &Settings,
    clock: &ManualClock,
    run: RunFn,
    service: &str,
) -> (Channel, SocketAddr, oneshot::Sender<()>, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let mut server = tokio::spawn(run(
        settings.clone(),
        listener,
        Box::pin(async {
            let _ = rx.await;
        }),
        Arc::new(clock.clone()),
    ));
    let channel = tokio::select! {
        ch = wait_service(addr, service) => ch,
        res = &mut server => panic!("engine stopped during start-up: {res:?}"),
    };
    (channel, addr, tx, server)
}

async fn spawn_on(
    db: TestDb,
    tweak: impl FnOnce(&mut Settings),
    run: RunFn,
    service: &str,
) -> TestApp {
    let clock = ManualClock::new(T0);
    let key_file = db.dir.join("admin.key");
    let mut settings = Settings {
        database_url: db.url.clone(),
        bootstrap_key_file: key_file.clone(),
        // Tests run in parallel against one cluster: keep pools small.
        pg_max_connections: 8,
        ..Settings::default()
    };
    // The campaign service alone: coupon prizes are checked by a stand-in
    // peer and wait in the outbox (delivery is the coupon suite's business,
    // against the real coupon service).
    set_coupon_endpoint(&mut settings, coupon_peer::start().await);
    tweak(&mut settings);
    let (channel, addr, tx, server) = start_server(&settings, &clock, run, service).await;
    let admin_key = read_key(&key_file).await;
    let app = TestApp {
        db,
        clock,
        channel,
        addr,
        admin_key,
        issuer: format!("gw-{}", uuid::Uuid::new_v4()),
        token_secret: uuid::Uuid::new_v4().as_bytes().repeat(2),
        shutdown: Some(tx),
        server: Some(server),
        settings,
        run,
        service: service.to_owned(),
    };
    app.admin()
        .set_player_token_key(with(
            &app.admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: app.issuer.clone(),
                secret: app.token_secret.clone(),
                key_id: String::new(),
            },
        ))
        .await
        .expect("register the gateway's token key");
    app
}

impl TestApp {
    pub fn admin(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.channel.clone())
    }

    pub fn player(&self) -> PlayerServiceClient<Channel> {
        PlayerServiceClient::new(self.channel.clone())
    }

    /// A player token for `openid`, valid for 10 minutes from the engine's
    /// clock.
    pub fn token(&self, openid: &str) -> String {
        let now = self.clock_now() / 1000;
        sign_player_token(
            &self.token_secret,
            &PlayerClaims {
                iss: self.issuer.clone(),
                aud: "campaign-engine".into(),
                sub: openid.into(),
                iat: now,
                exp: now + 600,
            },
        )
    }

    pub fn clock_now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn stores(&self) -> StoreAdminServiceClient<Channel> {
        StoreAdminServiceClient::new(self.channel.clone())
    }

    /// Registers the store `store_id` (named by its code) if this merchant
    /// has not yet.
    pub async fn ensure_store(&self, store_id: &str) {
        let made = self
            .stores()
            .create_store(with(
                &self.admin_key,
                pb::CreateStoreRequest {
                    idempotency_key: key(),
                    store_id: store_id.into(),
                    name: store_id.into(),
                    ..Default::default()
                },
            ))
            .await;
        match made {
            Ok(_) => {}
            Err(e) if e.code() == Code::AlreadyExists => {}
            Err(e) => panic!("register store {store_id}: {e:?}"),
        }
    }

    /// A key of another role for this merchant; a POS key's store is
    /// registered first when it is not yet.
    pub async fn api_key(&self, role: pb::Role, store_id: &str) -> String {
        if role == pb::Role::Pos && !store_id.trim().is_empty() {
            self.ensure_store(store_id.trim()).await;
        }
        self.admin()
            .create_api_key(with(
                &self.admin_key,
                pb::CreateApiKeyRequest {
                    idempotency_key: key(),
                    role: role as i32,
                    store_id: store_id.into(),
                    label: "test".into(),
                },
            ))
            .await
            .expect("create key")
            .into_inner()
            .api_key
    }

    /// Creates a wheel with these slots; `fallback` names a THANKS slot;
    /// publishes it when `publish`.
    pub async fn wheel(
        &self,
        rules: pb::CreateWheelRequest,
        slots: Vec<pb::PrizeSlotSpec>,
        fallback: u32,
        publish: bool,
    ) -> pb::Campaign {
        build_wheel(
            &mut self.admin(),
            &self.admin_key,
            rules,
            slots,
            fallback,
            publish,
        )
        .await
    }

    pub async fn draw(&self, openid: &str, campaign_id: &str) -> Result<pb::DrawResponse, Status> {
        self.player()
            .draw(with(
                &self.token(openid),
                pb::DrawRequest {
                    idempotency_key: key(),
                    campaign_id: campaign_id.into(),
                    channel: String::new(),
                    store_id: String::new(),
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn get_campaign(&self, campaign_id: &str) -> pb::Campaign {
        self.admin()
            .get_campaign(with(
                &self.admin_key,
                pb::GetCampaignRequest {
                    campaign_id: campaign_id.into(),
                },
            ))
            .await
            .expect("get campaign")
            .into_inner()
    }

    /// Ends the campaign as its admin (which reveals the seed).
    pub async fn end_campaign(&self, campaign_id: &str) {
        self.admin()
            .end_campaign(with(
                &self.admin_key,
                pb::CampaignTransitionRequest {
                    idempotency_key: key(),
                    campaign_id: campaign_id.into(),
                },
            ))
            .await
            .expect("end");
    }

    /// Kills the server where it stands (calls and transactions in flight
    /// are dropped, as in a crash) and starts it again on the same
    /// database, clock and settings, on a new port.
    pub async fn crash_and_restart(&mut self) {
        self.crash().await;
        self.restart().await;
    }

    /// Kills the server where it stands, as in a crash; `restart` starts
    /// it again.
    pub async fn crash(&mut self) {
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
        self.shutdown = None;
    }

    /// Starts the server again on the same database, clock and settings,
    /// on a new port (after `crash`).
    pub async fn restart(&mut self) {
        let (channel, addr, tx, server) =
            start_server(&self.settings, &self.clock, self.run, &self.service).await;
        self.channel = channel;
        self.addr = addr;
        self.shutdown = Some(tx);
        self.server = Some(server);
    }

    /// A second server on the same database, clock and settings: another
    /// replica of the engine, with its own caches, pools and queues.
    pub async fn replica(&self) -> Replica {
        let (channel, _, tx, server) =
            start_server(&self.settings, &self.clock, self.run, &self.service).await;
        Replica {
            channel,
            shutdown: tx,
            server,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

/// Evaluates `$body` with `$store` a `campaign::store::Store` opened on the
/// test database `$db` (either backend) beside the running engine, as a
/// second process would, and closes it after.
#[macro_export]
macro_rules! on_store {
    ($db:expr, |$store:ident| $body:expr) => {{
        use $crate::harness::__campaign::store::{Store, postgres::PgDb, sqlite::SqliteDb};
        let db: &$crate::harness::TestDb = $db;
        match db.backend {
            $crate::harness::Backend::Sqlite => {
                let conn = SqliteDb::connect(&db.url).await.expect("open");
                let $store = Store::new(conn.clone());
                let r = $body;
                conn.close().await;
                r
            }
            $crate::harness::Backend::Postgres => {
                let conn = PgDb::connect(&db.url, 2).await.expect("open");
                let $store = Store::new(conn.clone());
                let r = $body;
                conn.close().await;
                r
            }
        }
    }};
}
pub use crate::on_store;
#[doc(hidden)]
pub use campaign as __campaign;

mod calls;
mod checks;

pub use self::{calls::*, checks::*};
