//! Fault injection (RELIABILITY.md §4): the real `campaign-engine` binary
//! (campaign and coupon services) behind a TCP fault proxy, with many
//! client tasks drawing, voting, grabbing red packets, sharing, claiming
//! coupons and redeeming / reversing them at store tills. The nemesis:
//! - kill -9 of the engine and a restart (F1); on PostgreSQL also killed
//!   backends (F3) and an immediate cluster restart (F2);
//! - answers dropped after the server committed (ack lost, F4) and refused
//!   connections;
//! - duplicated requests, racing at once or re-sent 0-2 s later while the
//!   client moves on (reordered, F5);
//! - the engine's clock moved through `CAMPAIGN_FAULT_CLOCK_FILE`: to just
//!   before the campaign's local midnight (a day boundary mid-run), then
//!   backwards across it, then 5 s backwards jumps (F6);
//! - the coupon service unreachable for the prize outbox, on and off, while
//!   coupon prizes are won;
//! - a hostile neighbour on the engine's own listener: idle connections,
//!   stalled exports and floods of unknown paths (`hostile.rs`).
//!
//! Every operation goes into a history as ok / fail / unknown (a timeout, a
//! reset or UNAVAILABLE is unknown, never assumed failed). Then the faults
//! stop, every unknown operation is re-sent with its original key until it
//! resolves, and a checker reads the database: no oversell, no acknowledged
//! effect lost, one effect and one identical answer per key, daily and
//! total limits held on every campaign day, money balanced to the cent,
//! leaderboard equal to the accepted votes, one coupon per won coupon prize
//! (the outbox drained within 60 s), at most one live redemption per
//! coupon, the audit chain valid, SQLite integrity, progress after the last
//! fault; every event delivered to a webhook receiver whose answers a
//! nemesis fails and stalls, processed once per id, and streamed once in
//! order to a subscriber that resumes across the faults (`events.rs`).
//!
//! Seeded: `FAULT_SEED=<u64>` reproduces a schedule (printed at start and on
//! failure). `FAULT_PROFILE=quick` (the default of a bare `cargo test`,
//! ~40 s), `ci` (scripts/test.sh: 5 minutes a database, both at once) or `long`
//! (30 minutes a database).

mod checks;
mod clock;
mod engine;
mod events;
mod history;
mod hostile;
mod nemesis;
mod profile;
mod proxy;
mod setup;
mod workload;

use std::sync::atomic::Ordering;

use rand::Rng;
use test_kit::harness::{Backend, TestDb};

use crate::{checks::report, profile::profile};

/// One fault run against `backend`: arrange, the workload under the
/// nemeses, the final phase, the checker.
async fn engine_survives_faults(backend: Backend) {
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let prof = profile();
    let ctx = format!(
        "FAULT_SEED={seed} FAULT_PROFILE={} backend={backend:?} ({} s, {} draws a day, {} in total, coupon stock {})",
        prof.name,
        prof.run_for.as_secs(),
        prof.draws_per_day,
        prof.draws_total,
        prof.coupon_stock
    );
    eprintln!("fault run: {ctx}");

    // Arrange: the engine, a proxy in front of it, the coupon road, a wheel
    // open now whose stock runs out mid-run, and the players' tokens.
    let db = TestDb::new(backend).await;
    let (rig, road_down_tx) = setup::arrange(&db, prof, seed).await;
    let id = &rig.targets.campaign;
    // Events: a webhook receiver under its own nemesis, a stream
    // subscriber through the proxy.
    let event_watch = events::watch(
        &db,
        &rig.engine.channel,
        rig.proxy_addr,
        &rig.admin_key,
        seed,
    )
    .await;

    // Act: the nemesis strikes every 0.5-1.5 s (engine kill; on PostgreSQL
    // also killed backends and an immediate cluster restart); the clock and
    // the coupon road have nemeses of their own.
    let nemeses = nemesis::unleash(
        backend,
        seed,
        prof.run_for,
        &rig.engine,
        road_down_tx,
        &rig.admin_key,
        id,
    );
    workload::play(&rig.world, &rig.targets, seed, prof.run_for, prof.think).await;

    // Final phase: faults off, the engine up, every unknown re-sent with
    // its key until it resolves.
    let calm = nemeses.calm().await;
    rig.faulty.store(false, Ordering::SeqCst);
    // Liveness: a new player's first draw succeeds soon after the faults.
    let progress_after =
        history::progress_after(rig.proxy_addr, &rig.secret, &rig.engine.clock, id).await;
    let resolved = history::resolve_unknowns(&rig.world, &ctx).await;
    history::write_history(&resolved.history, backend, seed, &ctx);

    // Assert: the checker.
    let evidence = checks::Evidence {
        ctx: &ctx,
        backend,
        prof,
        resolved: &resolved,
        progress_after,
        strikes: &calm.strikes,
        neighbour_struck: &calm.neighbour_struck,
    };
    checks::check(
        &db,
        &evidence,
        &rig.targets,
        rig.engine.addr,
        &rig.admin_key,
    )
    .await;
    report(&format!("{ctx}: {}", event_watch.check(&db, &ctx).await));
    report(&format!("{ctx}: every check passed"));
    rig.proxy_task.abort();
    rig.engine.road_task.abort();
    let mut c = rig.engine.child.lock().await;
    let _ = c.kill();
    let _ = c.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_engine_survives_faults() {
    engine_survives_faults(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_engine_survives_faults() {
    engine_survives_faults(Backend::Postgres).await
}
