//! The nemeses of the run: engine kills (F1), on PostgreSQL killed
//! backends (F3) and immediate cluster restarts (F2); the engine's clock
//! moved across the campaign's midnight and backwards (F6); the coupon
//! road cut on and off; and the hostile neighbour (`hostile.rs`).

use std::{
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use test_kit::harness::Backend;
use tokio::{sync::watch, task::JoinHandle};

use crate::{clock::next_local_midnight, engine::Engine, hostile};

/// How often each nemesis struck.
#[derive(Default)]
pub(crate) struct Strikes {
    pub(crate) kills: AtomicU64,
    pub(crate) pg_faults: AtomicU64,
    pub(crate) pg_restarts: AtomicU64,
    pub(crate) clock_jumps: AtomicU64,
    pub(crate) road_cuts: AtomicU64,
}

/// The nemeses at work, until `calm`.
pub(crate) struct Nemeses {
    stop: Arc<AtomicBool>,
    engine: JoinHandle<()>,
    clock: JoinHandle<()>,
    road: JoinHandle<watch::Sender<bool>>,
    neighbour: JoinHandle<()>,
    pub(crate) strikes: Arc<Strikes>,
    pub(crate) neighbour_struck: Arc<hostile::Struck>,
}

/// Sets every nemesis on `engine`: the engine nemesis strikes every
/// 0.5-1.5 s (engine kill; on PostgreSQL also killed backends and an
/// immediate cluster restart); the clock and the coupon road (cut through
/// `road_down_tx`) have nemeses of their own, and the hostile neighbour
/// attacks the engine's own listener.
pub(crate) fn unleash(
    backend: Backend,
    seed: u64,
    run_for: Duration,
    engine: &Engine,
    road_down_tx: watch::Sender<bool>,
    admin_key: &str,
    campaign: &str,
) -> Nemeses {
    let strikes = Arc::new(Strikes::default());
    let stop = Arc::new(AtomicBool::new(false));
    let engine_nemesis = engine_nemesis(backend, seed, engine, &stop, &strikes);
    let clock = clock_nemesis(seed, run_for, engine, &stop, &strikes);
    let road = road_nemesis(seed, road_down_tx, &stop, &strikes);
    // The hostile neighbour on the engine's own listener (`hostile`).
    let neighbour_struck = Arc::new(hostile::Struck::default());
    let neighbour = hostile::spawn(
        engine.addr,
        admin_key.to_owned(),
        campaign.to_owned(),
        stop.clone(),
        seed,
        neighbour_struck.clone(),
    );
    Nemeses {
        stop,
        engine: engine_nemesis,
        clock,
        road,
        neighbour,
        strikes,
        neighbour_struck,
    }
}

/// What the nemeses leave once calm.
pub(crate) struct Calm {
    pub(crate) strikes: Arc<Strikes>,
    pub(crate) neighbour_struck: Arc<hostile::Struck>,
    /// Holds the coupon road up to the end of the run: dropping the sender
    /// would close the road's watch, which cuts every connection on it.
    _road_down_tx: watch::Sender<bool>,
}

impl Nemeses {
    /// Stops every nemesis and waits for it to finish; the coupon road is
    /// left up.
    pub(crate) async fn calm(self) -> Calm {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.engine.await;
        let _ = self.clock.await;
        let _ = self.neighbour.await;
        let road_down_tx = self.road.await.expect("road nemesis");
        let _ = road_down_tx.send(false);
        Calm {
            strikes: self.strikes,
            neighbour_struck: self.neighbour_struck,
            _road_down_tx: road_down_tx,
        }
    }
}

/// Every 0.5-1.5 s: kills the engine and restarts it 50-400 ms later; on
/// PostgreSQL the second of every three strikes kills the database's
/// backends instead, and the third restarts the cluster.
fn engine_nemesis(
    backend: Backend,
    seed: u64,
    engine: &Engine,
    stop: &Arc<AtomicBool>,
    strikes: &Arc<Strikes>,
) -> JoinHandle<()> {
    let (child, stop, strikes, run) = (
        engine.child.clone(),
        stop.clone(),
        strikes.clone(),
        engine.run.clone(),
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let mut round = 0u64;
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(500..1500))).await;
            if stop.load(Ordering::SeqCst) {
                break;
            }
            // On PostgreSQL the nemesis cycles: engine kill, backends
            // killed, cluster restarted at once.
            round += 1;
            if backend == Backend::Postgres && round % 3 == 2 {
                terminate_backends(&run.url).await;
                strikes.pg_faults.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            if backend == Backend::Postgres && round.is_multiple_of(3) {
                assert!(
                    restart_postgres(),
                    "could not restart PostgreSQL (CAMPAIGN_TEST_PG_DATA unset?)"
                );
                strikes.pg_restarts.fetch_add(1, Ordering::SeqCst);
                continue;
            }
            let mut c = child.lock().await;
            let _ = c.kill();
            let _ = c.wait();
            strikes.kills.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
            *c = run.start();
        }
    })
}

/// The clock: at a third of the run, to 3 s before the campaign's next
/// midnight; 6 s later 5 s back (across that midnight again); then a
/// 5 s backwards jump every 5-15 s.
fn clock_nemesis(
    seed: u64,
    run_for: Duration,
    engine: &Engine,
    stop: &Arc<AtomicBool>,
    strikes: &Arc<Strikes>,
) -> JoinHandle<()> {
    let (clock, stop, strikes) = (engine.clock.clone(), stop.clone(), strikes.clone());
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc10c);
    tokio::spawn(async move {
        tokio::time::sleep(run_for / 3).await;
        let now = clock.now();
        clock.shift(next_local_midnight(now) - 3000 - now);
        strikes.clock_jumps.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(6)).await;
        clock.shift(-5000);
        strikes.clock_jumps.fetch_add(1, Ordering::SeqCst);
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(5000..15000))).await;
            if stop.load(Ordering::SeqCst) {
                break;
            }
            clock.shift(-5000);
            strikes.clock_jumps.fetch_add(1, Ordering::SeqCst);
        }
    })
}

/// The coupon service unreachable for 1-4 s, then back for 1-4 s; hands
/// the road's sender back when stopped.
fn road_nemesis(
    seed: u64,
    road_down_tx: watch::Sender<bool>,
    stop: &Arc<AtomicBool>,
    strikes: &Arc<Strikes>,
) -> JoinHandle<watch::Sender<bool>> {
    let (stop, strikes) = (stop.clone(), strikes.clone());
    let mut rng = StdRng::seed_from_u64(seed ^ 0xc0de);
    tokio::spawn(async move {
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(1000..4000))).await;
            let _ = road_down_tx.send(true);
            strikes.road_cuts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(rng.random_range(1000..4000))).await;
            let _ = road_down_tx.send(false);
        }
        road_down_tx
    })
}

/// Kills every server process of this test's database (RELIABILITY F3).
async fn terminate_backends(url: &str) {
    use sqlx::Connection;
    if let Ok(mut c) = sqlx::PgConnection::connect(url).await {
        let _ = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut c)
        .await;
    }
}

/// `pg_ctl restart -m immediate` of the throwaway cluster (RELIABILITY
/// F2), when scripts/test.sh told us where it lives.
fn restart_postgres() -> bool {
    let Ok(data) = std::env::var("CAMPAIGN_TEST_PG_DATA") else {
        return false;
    };
    let Some(bin) = std::fs::read_dir("/usr/lib/postgresql").ok().and_then(|d| {
        d.filter_map(Result::ok)
            .map(|e| e.path().join("bin/pg_ctl"))
            .find(|p| p.exists())
    }) else {
        return false;
    };
    let as_root = std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let mut cmd = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&bin);
        c
    } else {
        Command::new(&bin)
    };
    // Up to 3 minutes for the restart: crash recovery on a loaded machine.
    cmd.args(["-D", &data, "-m", "immediate", "-w", "-t", "180", "restart"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
