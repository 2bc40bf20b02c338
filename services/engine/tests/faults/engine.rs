//! The engine binary under test: how it is started (its clock file and
//! the coupon road it is given), and who kills it.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
};

use test_kit::coupon_kit as kit;
use test_kit::harness::{TestDb, free_port, wait_service, wait_serving};
use tokio::{
    net::TcpListener,
    sync::{Mutex, watch},
    task::JoinHandle,
};
use tonic::transport::Channel;

use crate::{clock::EngineClock, proxy::coupon_road};

const DELIVERY_SECRET: &str = "fault-suite-delivery-secret";

/// The running engine and what was started with it.
pub(crate) struct Engine {
    pub(crate) run: EngineRun,
    pub(crate) clock: EngineClock,
    pub(crate) addr: SocketAddr,
    /// The coupon road in front of the engine's coupon service.
    pub(crate) road_task: JoinHandle<()>,
    pub(crate) child: Arc<Mutex<Child>>,
    /// Straight to the engine, not through the fault proxy.
    pub(crate) channel: Channel,
    _reaper: Reaper,
}

impl Engine {
    /// Starts the engine over `db`, its coupon road and its clock, and
    /// waits until it serves. The sender cuts the road (`true`) and mends
    /// it (`false`).
    pub(crate) async fn launch(db: &TestDb) -> (Self, watch::Sender<bool>) {
        let road_listener = TcpListener::bind("127.0.0.1:0").await.expect("road");
        let run = EngineRun {
            url: db.url.clone(),
            dir: db.dir.clone(),
            port: free_port(),
            coupon_road_port: road_listener.local_addr().expect("addr").port(),
            clock_file: db.dir.join("clock-offset"),
        };
        let clock = EngineClock::new(run.clock_file.clone());
        let engine_addr: SocketAddr = format!("127.0.0.1:{}", run.port).parse().expect("addr");
        let (road_down_tx, road_down) = watch::channel(false);
        let road_task = tokio::spawn(coupon_road(road_listener, engine_addr, road_down));
        let child = Arc::new(Mutex::new(run.start()));
        let _reaper = Reaper(child.clone());
        let channel = wait_serving(engine_addr).await;
        wait_service(engine_addr, kit::POS_HEALTH).await;
        let engine = Self {
            run,
            clock,
            addr: engine_addr,
            road_task,
            child,
            channel,
            _reaper,
        };
        (engine, road_down_tx)
    }
}

/// Kills the engine when the test ends, also when it panics.
struct Reaper(Arc<Mutex<Child>>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(mut c) = self.0.try_lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Where and how the engine binary runs in this test.
#[derive(Clone)]
pub(crate) struct EngineRun {
    pub(crate) url: String,
    dir: PathBuf,
    port: u16,
    coupon_road_port: u16,
    clock_file: PathBuf,
}

impl EngineRun {
    pub(crate) fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_campaign-engine"))
            .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("CAMPAIGN_DATABASE_URL", &self.url)
            .env("CAMPAIGN_BOOTSTRAP_KEY_FILE", self.dir.join("admin.key"))
            .env("CAMPAIGN_PG_MAX_CONNECTIONS", "8")
            // These clients hammer on purpose; the limits have their tests.
            .env("CAMPAIGN_PLAYER_RATE_PER_SEC", "0")
            .env("CAMPAIGN_TILL_FAILURE_LIMIT", "0")
            .env("CAMPAIGN_TILL_RATE_PER_SEC", "0")
            // Won prizes reach this engine's own coupon service through a
            // road the nemesis cuts.
            .env(
                "CAMPAIGN_COUPON_ENDPOINT",
                format!("http://127.0.0.1:{}", self.coupon_road_port),
            )
            .env("CAMPAIGN_DELIVERY_SECRET", DELIVERY_SECRET)
            .env("CAMPAIGN_FAULT_CLOCK_FILE", &self.clock_file)
            // The webhook receiver listens on 127.0.0.1; its retries come
            // within 2 s, so the final phase drains in seconds; the clock's
            // jump to the next midnight never runs a delivery out of time.
            .env("CAMPAIGN_WEBHOOK_ALLOW_PRIVATE", "1")
            .env("CAMPAIGN_WEBHOOK_BACKOFF_CAP_SECS", "2")
            .env("CAMPAIGN_WEBHOOK_RETRY_HOURS", "72")
            .env("RUST_LOG", "error")
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start campaign-engine")
    }
}
