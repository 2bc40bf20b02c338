//! `loadgen`: a closed-loop load generator that drives the real
//! `campaign-engine` binary over gRPC with the project's own client
//! (`engine-proto`), measures throughput, latency (HdrHistogram, µs),
//! errors by gRPC status, and the server's CPU and memory, then checks the
//! workload's invariants and measures a baseline: the same store
//! transaction called in-process, no gRPC, on the same database.
//!
//! # Usage
//!
//! ```text
//! cargo build --release -p engine -p loadgen
//!
//! # SQLite: a fresh database file in a temp dir (the engine opens it
//! # WAL, synchronous=FULL). Every workload at 1, 16, 64, 256 in flight:
//! target/release/loadgen
//! # one workload, a few sizes, two connection counts, JSON as well:
//! target/release/loadgen --workload draw-hot,redeem --in-flight 16,64 \
//!     --connections 1,4 --seconds 8 --json /tmp/run.json
//!
//! # PostgreSQL: a throwaway cluster (scripts/pg-throwaway.sh prints
//! # "DIR URL"), or any database URL; the bench makes a merchant of its own.
//! read DIR URL < <(bash scripts/pg-throwaway.sh)
//! target/release/loadgen --db "$URL"
//! bash scripts/pg-throwaway.sh stop "$DIR"
//!
//! # CI: a few seconds per workload at 4 in flight, small sizes, invariants
//! # checked (exits non-zero if one fails); not a timed check.
//! target/release/loadgen --smoke
//! ```
//!
//! `loadgen --help` lists every option. `loadgen --webhook` runs the
//! events and webhooks benchmark instead of the workloads (issue 25; the
//! module `webhook` says what it measures).
//!
//! # What a run does
//!
//! 1. Opens the database through the library (applying migrations) and
//!    creates a merchant of its own, so a fresh or a shared database works
//!    alike; starts `target/release/campaign-engine` (`--engine PATH`) in a
//!    fresh temp working dir on a free port with that database,
//!    `CAMPAIGN_PLAYER_RATE_PER_SEC=0`, `CAMPAIGN_TILL_FAILURE_LIMIT=0` and
//!    `CAMPAIGN_TILL_RATE_PER_SEC=0`,
//!    and waits for its health service to report SERVING.
//! 2. For every workload x connection count x in-flight count: sets up over
//!    the admin APIs (a fresh wheel, budget or candidate set per run), then
//!    N tasks, each with one call outstanding, spread round-robin over C
//!    HTTP/2 connections; `--warmup` seconds, then the measured window of
//!    `--seconds`. Calls that complete inside the window count. On
//!    PostgreSQL, `VACUUM (ANALYZE)` and `CHECKPOINT` first (as the shared
//!    bench's run.sh does before each pgbench run), so a window does not
//!    measure autovacuum or a checkpoint catching up with the set-up.
//! 3. Checks the invariants (below) through the engine's read RPCs (and,
//!    for coupons, read-only SQL); a failure makes the exit status 1.
//! 4. Baseline (unless `--no-baseline`): right after the gRPC run, the same
//!    store method the RPC ends in (`Store::draw`, `CouponStore::redeem`,
//!    `Store::grab_packet`, `Store::cast_vote`) called in this process at
//!    the same in-flight count on the same database, through the
//!    library's own connection (for SQLite a second WAL connection to the
//!    same file). The engine stays up but idle meanwhile (sequential, not
//!    concurrent: the two writers never contend). The baseline's answers
//!    are not encoded (empty idempotency response), so it does slightly
//!    less than the RPC does besides gRPC.
//! 5. Machine baselines (unless `--no-baseline` or `--no-machine-baseline`),
//!    after every workload, in the same run: the gRPC floor (the engine's
//!    own health check, no database, at each in-flight and connection
//!    count) and, on PostgreSQL, the shared bench's pgbench scripts
//!    (`../shared/bench/pg`: draw_hot, draw_spread, coupon_redeem) with as
//!    many clients as calls in flight (at most 64), on a database of their
//!    own (`loadgen_pgbench`, made and dropped here) in the same cluster,
//!    each with the workload's ok/s and the ratio.
//! 6. Stops the engine with SIGTERM. Each workload gets a fresh engine
//!    process on the same database (`--one-engine`: one for all), so the
//!    memory figures are the workload's own.
//!
//! Workloads: `draw-hot` (one POINTS prize, weight 1, stock 100,000,000,
//! plus a THANKS fallback of weight 0), `draw-spread` (16 prizes of equal
//! weight, stock 10,000,000 each), `draw-race` (one prize of
//! `--race-stock` units raced by every task until it is gone; measured from
//! the first call to the last task's out-of-stock answer), `redeem` (bulk
//! issued coupons redeemed at 8 POS tills, each code once, every 20th call
//! re-presents a code already redeemed and expects FAILED_PRECONDITION),
//! `grab` (a campaign red packet paying 1..=100 cents per grab from a
//! funded budget, a new player per grab), `vote` (4 candidates, caps that
//! never bite). Players rotate over `--players-per-task` tokens per task so
//! per-player limits never bite and no two tasks share a player.
//!
//! Invariants: wheels: won + remaining == stock on every slot and prizes
//! won == draws answered with a prize (a race: exactly its stock);
//! redemptions: live redemptions == distinct coupons redeemed == coupons
//! marked redeemed == redemptions answered OK, and no re-presented code
//! accepted; grabs: the budget balances (funded == available + reserved +
//! granted + refunded), never grants more than funded, and granted == the
//! amounts answered; votes: every candidate's leaderboard count == its
//! votes answered OK. Calls whose outcome the client cannot know
//! (UNAVAILABLE, UNKNOWN, CANCELLED, DEADLINE_EXCEEDED) widen the expected
//! range by their number.
//!
//! Report: one Markdown row per run on stdout (progress on stderr).
//! Server CPU is utime + stime of the engine process from /proc/PID/stat
//! over the measured window, assuming 100 ticks per second (CLK_TCK on
//! Linux; not queried, since this crate has no `unsafe`); "%" is of one
//! core. Client CPU is this process's own (the load generator, or for the
//! baseline the load generator plus the store). With PostgreSQL neither
//! counts the database server's CPU. Server memory: VmHWM (peak, reset
//! before each run through /proc/PID/clear_refs when allowed) and VmRSS.

mod args;
mod engine;
mod harness;
mod machine;
mod setup;
mod webhook;
mod workloads;

use std::{collections::HashMap, path::Path, process::ExitCode, time::SystemTime};

use anyhow::{Context, bail};
use serde_json::json;
use tonic::transport::Channel;

use crate::{
    args::{Opts, USAGE},
    engine::{Engine, TICKS_PER_SEC, connect},
    harness::{LoopResult, error_summary},
    setup::{Admin, CheckDb, DirectDb, Players},
    workloads::{Bench, RunReport},
};

fn main() -> ExitCode {
    let opts = match Opts::parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.client_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("loadgen: INVARIANTS FAILED (see above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `Ok(false)`: the runs completed but an invariant failed.
async fn run(opts: Opts) -> anyhow::Result<bool> {
    let dir = std::env::temp_dir().join(format!("loadgen-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = run_in(&opts, &dir).await;
    if opts.keep || out.is_err() {
        eprintln!("kept {} (database, engine.log)", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    out
}

async fn run_in(opts: &Opts, dir: &Path) -> anyhow::Result<bool> {
    let url = opts
        .db
        .clone()
        .unwrap_or_else(|| format!("sqlite:{}", dir.join("bench.db").display()));
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        "postgres"
    } else {
        bail!("--db: expected `sqlite`, `sqlite:PATH` or `postgres://...`, got {url:?}");
    };
    if !opts.engine.exists() {
        bail!(
            "engine binary {} not found: build it with `cargo build --release -p engine` \
             or pass --engine PATH",
            opts.engine.display()
        );
    }
    // The bench's own merchant, made through the library before the engine
    // starts (works on a fresh database and on one that has merchants).
    let direct = DirectDb::open(&url, opts.pg_pool).await?;
    let (merchant, admin_key) = direct.create_merchant().await?;
    let direct = if opts.baseline {
        Some(direct)
    } else {
        direct.close().await;
        None
    };
    let mut engine = None;
    let out = drive(
        opts,
        dir,
        &url,
        backend,
        &mut engine,
        merchant,
        admin_key,
        direct.clone(),
    )
    .await;
    if let Some(mut e) = engine.take() {
        if out.is_err() && !e.alive() {
            eprintln!("the engine is gone; its log:\n{}", e.log_tail(40));
        }
        stop(e).await;
    }
    if let Some(d) = direct {
        d.close().await;
    }
    out
}

async fn stop(e: Engine) {
    match e.stop().await {
        Ok(s) if s.success() => {}
        Ok(s) => eprintln!("note: the engine exited with {s}"),
        Err(e) => eprintln!("note: {e:#}"),
    }
}

/// Starts the engine (stopping the one before, if any) and connects: the
/// admin's connection and `conns` load connections.
async fn start_engine(
    opts: &Opts,
    dir: &Path,
    url: &str,
    slot: &mut Option<Engine>,
    conns: usize,
) -> anyhow::Result<(Channel, Vec<Channel>, u32)> {
    if let Some(old) = slot.take() {
        stop(old).await;
    }
    eprintln!("starting {} ...", opts.engine.display());
    // The webhook bench's receiver listens on 127.0.0.1, which the engine
    // refuses to post to unless told (SSRF guard, docs/events.md).
    let extra: &[(&str, &str)] = if opts.webhook {
        &[("CAMPAIGN_WEBHOOK_ALLOW_PRIVATE", "1")]
    } else {
        &[]
    };
    let e = slot.insert(Engine::start(&opts.engine, dir, url, opts.pg_pool, extra).await?);
    let admin = connect(e.addr).await?;
    let mut channels = Vec::with_capacity(conns);
    for _ in 0..conns {
        channels.push(connect(e.addr).await?);
    }
    Ok((admin, channels, e.pid))
}

/// What a row shows of one measured loop.
struct Summary {
    ops: f64,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    ok: u64,
    calls: u64,
    secs: f64,
    errors: String,
    server_pct: Option<f64>,
    server_us: Option<f64>,
    client_pct: Option<f64>,
    client_us: Option<f64>,
}

fn summarize(r: &LoopResult) -> Summary {
    let calls = r.calls();
    // 10 ms ticks: too coarse for a window under half a second (a race).
    let pct = |t: Option<u64>| {
        t.filter(|_| r.secs >= 0.5)
            .map(|t| t as f64 / TICKS_PER_SEC / r.secs * 100.0)
    };
    let per_op = |t: Option<u64>| {
        t.filter(|_| calls > 0 && r.secs >= 0.5)
            .map(|t| t as f64 / TICKS_PER_SEC * 1e6 / calls as f64)
    };
    Summary {
        ops: r.ok_per_sec(),
        p50: r.q(0.50),
        p99: r.q(0.99),
        p999: r.q(0.999),
        max: if r.hist.is_empty() { 0 } else { r.hist.max() },
        ok: r.ok,
        calls,
        secs: r.secs,
        errors: error_summary(&r.errors),
        server_pct: pct(r.server_ticks),
        server_us: per_op(r.server_ticks),
        client_pct: pct(r.client_ticks),
        client_us: per_op(r.client_ticks),
    }
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.decimals$}"))
}

const HEADER: &str = "| workload | db | in flight | conns | ok/s | p50 µs | p99 µs | p99.9 µs | max µs | errors | server CPU % | server CPU µs/op | client CPU % | server peak RSS MB | server RSS MB | baseline ok/s | baseline p50 µs | baseline p99 µs | baseline CPU µs/op | gRPC / baseline |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

fn row(rep: &RunReport, backend: &str, s: &Summary, base: Option<&Summary>) -> String {
    let mem = |i: usize| {
        rep.mem.map_or("-".to_string(), |m| {
            format!("{:.1}", if i == 0 { m.0 } else { m.1 } as f64 / 1024.0)
        })
    };
    let peak = if rep.peak_reset {
        mem(0)
    } else {
        format!("{} (since start)", mem(0))
    };
    let (b_ops, b_p50, b_p99, b_cpu, ratio) = match base {
        Some(b) => (
            format!("{:.0}", b.ops),
            b.p50.to_string(),
            b.p99.to_string(),
            opt(b.client_us, 1),
            if b.ops > 0.0 {
                format!("{:.2}", s.ops / b.ops)
            } else {
                "-".into()
            },
        ),
        None => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
    };
    format!(
        "| {} | {backend} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {peak} | {} | {b_ops} | {b_p50} | {b_p99} | {b_cpu} | {ratio} |",
        rep.workload.name(),
        rep.in_flight,
        rep.conns,
        s.ops,
        s.p50,
        s.p99,
        s.p999,
        s.max,
        s.errors,
        opt(s.server_pct, 0),
        opt(s.server_us, 1),
        opt(s.client_pct, 0),
        mem(1),
    )
}

fn summary_json(s: &Summary) -> serde_json::Value {
    json!({
        "ok_per_sec": s.ops, "p50_us": s.p50, "p99_us": s.p99, "p999_us": s.p999,
        "max_us": s.max, "ok": s.ok, "calls": s.calls, "seconds": s.secs,
        "errors": s.errors, "server_cpu_pct": s.server_pct, "server_cpu_us_per_op": s.server_us,
        "client_cpu_pct": s.client_pct, "client_cpu_us_per_op": s.client_us,
    })
}

/// `YYYY-MM-DD HH:MM UTC` from the system clock.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into())
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    opts: &Opts,
    dir: &Path,
    url: &str,
    backend: &'static str,
    engine: &mut Option<Engine>,
    merchant: String,
    admin_key: String,
    direct: Option<DirectDb>,
) -> anyhow::Result<bool> {
    let max_conns = opts.connections.iter().copied().max().unwrap_or(1);
    let (admin_ch, channels, pid) = start_engine(opts, dir, url, engine, max_conns).await?;
    // The key the engine made at start (it runs in `dir`): the baseline's
    // store digests codes with it as the engine does.
    let seal_key = campaign::seal_key::load_or_create(&engine::seal_key_file(dir, url))
        .context("reading the engine's seal key")?
        .0;
    let admin = Admin {
        ch: admin_ch,
        key: admin_key.clone(),
    };
    let players = Players::new();
    admin.set_player_token_key(&players).await?;
    let check = CheckDb::open(url)
        .await
        .context("opening the database read-only for the checks")?;
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    print_header(opts, url, backend, cpus);
    if opts.webhook {
        let ok = webhook::Bench {
            opts,
            admin: &admin,
            players: &players,
            channels: &channels,
            pid,
            check: &check,
        }
        .run(backend, url, cpus)
        .await;
        check.close().await;
        return ok;
    }

    let mut bench = Bench::new(
        opts.clone(),
        admin,
        merchant,
        players,
        channels,
        pid,
        direct,
        check,
        seal_key,
    );
    let mut tally = Tally::default();
    for (i, &w) in opts.workloads.iter().enumerate() {
        if i > 0 && !opts.one_engine {
            let (admin_ch, channels, pid) = start_engine(opts, dir, url, engine, max_conns).await?;
            bench.attach(
                Admin {
                    ch: admin_ch,
                    key: admin_key.clone(),
                },
                channels,
                pid,
            );
        }
        for &conns in &opts.connections {
            for &n in &opts.in_flight {
                let cached = tally.baselines.contains_key(&(w.name(), n));
                eprintln!(
                    "{} · {n} in flight · {conns} conns{}",
                    w.name(),
                    if opts.baseline && !cached {
                        " · then baseline"
                    } else {
                        ""
                    }
                );
                let rep = bench.run(w, n, conns, opts.baseline && !cached).await?;
                if !engine.as_mut().is_some_and(Engine::alive) {
                    bail!("the engine died during {} at {n} in flight", w.name());
                }
                tally.record(&rep, backend, conns == opts.connections[0]);
            }
        }
    }
    bench.check.close().await;
    if opts.machine_baseline {
        machine_baselines(opts, url, backend, engine, &tally.ours).await?;
    }
    tally.report(opts, url, backend, cpus)
}

/// The run's first lines: when, what and how, then the table's header.
fn print_header(opts: &Opts, url: &str, backend: &str, cpus: usize) {
    println!(
        "loadgen {} · commit {} · {cpus} CPUs · engine {} ({}) · database {} ({backend}) · \
         warm-up {:.1} s, window {:.1} s · client {} tokio workers{}",
        utc_now(),
        commit(),
        opts.engine.display(),
        if opts.one_engine {
            "one process for all workloads"
        } else {
            "a fresh process per workload"
        },
        campaign::config::redact_url(url),
        opts.warmup.as_secs_f64(),
        opts.seconds.as_secs_f64(),
        opts.client_threads,
        if opts.smoke { " · SMOKE" } else { "" },
    );
    println!();
    if !opts.webhook {
        println!("{HEADER}");
    }
}

/// What the runs add up to: their notes, invariant failures and JSON, and
/// the figures later runs compare with.
#[derive(Default)]
struct Tally {
    notes: Vec<String>,
    failures: Vec<String>,
    json_runs: Vec<serde_json::Value>,
    /// The baseline of each workload at each in-flight count, measured
    /// once.
    baselines: HashMap<(&'static str, usize), Summary>,
    /// ok/s of each workload at each in-flight count (first connection
    /// count), for the pgbench comparison.
    ours: HashMap<(&'static str, usize), f64>,
}

impl Tally {
    /// Prints the row of one run and keeps what it adds; `first_conns`:
    /// the run is at the first connection count.
    fn record(&mut self, rep: &RunReport, backend: &'static str, first_conns: bool) {
        let (w, n, conns) = (rep.workload, rep.in_flight, rep.conns);
        let s = summarize(&rep.grpc);
        if first_conns {
            self.ours.insert((w.name(), n), s.ops);
        }
        if let Some(b) = &rep.baseline {
            self.baselines.insert((w.name(), n), summarize(b));
        }
        let base = self.baselines.get(&(w.name(), n));
        println!("{}", row(rep, backend, &s, base));
        for m in &rep.notes {
            eprintln!("  {m}");
            self.notes.push(format!("{} @{n}/{conns}: {m}", w.name()));
        }
        for m in &rep.failures {
            eprintln!("  INVARIANT FAILED: {m}");
            self.failures
                .push(format!("{} @{n}/{conns}: {m}", w.name()));
        }
        if rep.failures.is_empty() {
            eprintln!("  invariants hold");
        }
        self.json_runs.push(json!({
            "workload": w.name(), "backend": backend, "in_flight": n, "connections": conns,
            "grpc": summary_json(&s),
            "server_vm_hwm_kb": rep.mem.map(|m| m.0), "server_vm_rss_kb": rep.mem.map(|m| m.1),
            "peak_reset_before_run": rep.peak_reset,
            "baseline": base.map(summary_json),
            "ratio": base.filter(|b| b.ops > 0.0).map(|b| s.ops / b.ops),
            "notes": rep.notes, "invariant_failures": rep.failures,
        }));
    }

    /// Prints the notes and invariant failures and writes the JSON
    /// (`--json`); `Ok(false)`: an invariant failed.
    fn report(self, opts: &Opts, url: &str, backend: &str, cpus: usize) -> anyhow::Result<bool> {
        println!();
        for n in &self.notes {
            println!("- {n}");
        }
        if self.failures.is_empty() {
            println!("- invariants held after every run");
        } else {
            for f in &self.failures {
                println!("- INVARIANT FAILED: {f}");
            }
        }
        if let Some(path) = &opts.json {
            let doc = json!({
                "date": utc_now(), "commit": commit(), "cpus": cpus, "backend": backend,
                "database": campaign::config::redact_url(url),
                "warmup_s": opts.warmup.as_secs_f64(), "window_s": opts.seconds.as_secs_f64(),
                "client_threads": opts.client_threads, "smoke": opts.smoke,
                "runs": self.json_runs,
            });
            std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(self.failures.is_empty())
    }
}

/// The gRPC floor and, on PostgreSQL, pgbench, measured now on this
/// machine, with the ratios of the workloads to them.
async fn machine_baselines(
    opts: &Opts,
    url: &str,
    backend: &str,
    engine: &mut Option<Engine>,
    ours: &HashMap<(&'static str, usize), f64>,
) -> anyhow::Result<()> {
    let Some(e) = engine.as_ref() else {
        bail!("no engine for the machine baselines");
    };
    let (addr, pid) = (e.addr, e.pid);
    println!();
    println!("Machine baselines, same run:");
    println!();
    println!(
        "| baseline | in flight | conns | ok/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/op |\n|---|---|---|---|---|---|---|---|"
    );
    let spec = harness::Spec {
        warmup: opts.warmup,
        window: opts.seconds,
        until_done: false,
    };
    for &conns in &opts.connections {
        let mut channels = Vec::with_capacity(conns);
        for _ in 0..conns {
            channels.push(connect(addr).await?);
        }
        for &n in &opts.in_flight {
            eprintln!("grpc floor · {n} in flight · {conns} conns");
            let s = summarize(&machine::grpc_floor(&channels, n, spec, pid).await?);
            println!(
                "| gRPC health check (engine, no database) | {n} | {conns} | {:.0} | {} | {} | {} | {} |",
                s.ops,
                s.p50,
                s.p99,
                s.p999,
                opt(s.server_us, 1)
            );
        }
    }
    if backend != "postgres" {
        return Ok(());
    }
    let pgbench = match machine::Pgbench::prepare(url, opts.pgbench_dir.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            println!();
            println!("- pgbench baseline not measured: {e:#}");
            return Ok(());
        }
    };
    println!();
    println!(
        "| pgbench script (../shared/bench/pg, -M prepared) | clients | tps | latency avg ms | compared with | its ok/s | ours / pgbench |\n|---|---|---|---|---|---|---|"
    );
    let secs = opts.seconds.as_secs().max(1);
    for (workload, script) in machine::PGBENCH_SCRIPTS {
        if !opts.workloads.iter().any(|w| w.name() == workload) {
            continue;
        }
        for &n in &opts.in_flight {
            // pgbench opens one connection per client; the cluster's
            // max_connections (100 by default) bounds it.
            let clients = n.min(64);
            eprintln!("pgbench {script} · {clients} clients");
            let r = pgbench.run(script, clients, secs)?;
            let (theirs, ratio) = match ours.get(&(workload, n)) {
                Some(&o) if clients == n => (format!("{o:.0}"), format!("{:.2}", o / r.tps)),
                _ => ("-".into(), "-".into()),
            };
            println!(
                "| {script} | {clients} | {:.0} | {:.2} | {workload} at {n} in flight | {theirs} | {ratio} |",
                r.tps, r.latency_ms
            );
        }
    }
    pgbench.drop_database(url);
    Ok(())
}
