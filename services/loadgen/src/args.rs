//! Command-line options (hand-parsed: `--flag value` or `--flag=value`).

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};

/// One benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    DrawHot,
    DrawSpread,
    DrawRace,
    Redeem,
    Grab,
    Vote,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Self::DrawHot,
        Self::DrawSpread,
        Self::DrawRace,
        Self::Redeem,
        Self::Grab,
        Self::Vote,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::DrawHot => "draw-hot",
            Self::DrawSpread => "draw-spread",
            Self::DrawRace => "draw-race",
            Self::Redeem => "redeem",
            Self::Grab => "grab",
            Self::Vote => "vote",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Vec<Self>> {
        if s == "all" {
            return Ok(Self::ALL.to_vec());
        }
        Self::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .map(|w| vec![w])
            .with_context(|| {
                format!(
                    "unknown workload {s:?}; known: all, {}",
                    Self::ALL.map(Self::name).join(", ")
                )
            })
    }
}

#[derive(Debug, Clone)]
pub struct Opts {
    pub engine: PathBuf,
    /// `None`: a fresh SQLite file in the temp dir; otherwise a URL.
    pub db: Option<String>,
    pub workloads: Vec<Workload>,
    pub in_flight: Vec<usize>,
    pub connections: Vec<usize>,
    pub warmup: Duration,
    pub seconds: Duration,
    pub coupons: usize,
    pub race_stock: i64,
    pub grab_budget: i64,
    pub players_per_task: usize,
    pub redeem_dup_every: u64,
    pub pg_pool: u32,
    pub client_threads: usize,
    pub baseline: bool,
    /// The gRPC floor and pgbench, in the same run (off in smoke runs).
    pub machine_baseline: bool,
    /// The shared bench's PostgreSQL scripts (default ../shared/bench/pg).
    pub pgbench_dir: Option<PathBuf>,
    pub smoke: bool,
    pub json: Option<PathBuf>,
    pub keep: bool,
    /// One engine for every workload instead of a fresh one per workload.
    pub one_engine: bool,
    /// The webhook benchmark (issue 25) instead of the workloads:
    /// `crate::webhook`.
    pub webhook: bool,
    /// Pairs of draw windows (without, with an endpoint) per in-flight count.
    pub webhook_pairs: usize,
    /// Events queued before the delivery throughput is timed.
    pub webhook_backlog: u64,
}

pub const USAGE: &str = "\
usage: loadgen [options]
  --engine PATH          campaign-engine binary (default target/release/campaign-engine)
  --db sqlite|URL        fresh SQLite file in a temp dir (default), or a sqlite:/postgres:// URL
  --workload LIST        all (default) or a comma list of
                         draw-hot,draw-spread,draw-race,redeem,grab,vote
  --in-flight LIST       calls in flight, comma list (default 1,16,64,256)
  --connections LIST     HTTP/2 connections, comma list (default 1)
  --warmup SECS          warm-up before each measured window (default 1)
  --seconds SECS         measured window (default 8)
  --coupons N            unused coupons made available before each redeem run (default 200000)
  --race-stock N         stock raced for in draw-race (default 500)
  --grab-budget CENTS    budget funded per grab run (default 1000000000)
  --players-per-task N   players each task rotates through (default 64)
  --redeem-dup-every N   every Nth redeem re-presents an already redeemed code
                         (expects FAILED_PRECONDITION; 0 = never; default 20)
  --pg-pool N            PostgreSQL pool of the engine and of the baseline (default 16)
  --client-threads N     tokio workers of the load generator (default 2)
  --no-baseline          skip the in-process store baseline and the machine baselines
  --no-machine-baseline  skip the machine baselines measured after the workloads:
                         the gRPC floor (the engine's health check, no database)
                         and, on PostgreSQL, pgbench with the shared bench's scripts
  --pgbench-dir PATH     those scripts (default ../shared/bench/pg beside the repo)
  --smoke                every workload at in flight 4 for 1 s, small sizes
  --json PATH            also write the runs as JSON
  --keep                 keep the temp dir (database, engine.log)
  --one-engine           one engine process for all workloads (default: a fresh
                         engine per workload on the same database, so memory
                         figures are the workload's own)
  --webhook              the webhook benchmark instead of the workloads: draw-hot
                         windows without and with an endpoint subscribed to every
                         event, then the delivery of a backlog to a local receiver
                         (default in flight 64,1; no baselines)
  --webhook-pairs N      interleaved pairs of windows per in-flight count (default 3)
  --webhook-backlog N    events queued before delivery is timed (default 20000)
";

fn list<T: std::str::FromStr>(flag: &str, v: &str) -> anyhow::Result<Vec<T>> {
    let out = v
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<T>()
                .map_err(|_| anyhow::anyhow!("{flag}: bad value {s:?}"))
        })
        .collect::<anyhow::Result<Vec<T>>>()?;
    if out.is_empty() {
        bail!("{flag}: empty list");
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> anyhow::Result<T> {
    v.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{flag}: bad value {v:?}"))
}

fn secs(flag: &str, v: &str) -> anyhow::Result<Duration> {
    let s: f64 = num(flag, v)?;
    if !(0.0..=3600.0).contains(&s) {
        bail!("{flag}: {s} is outside 0..=3600 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

fn default_engine() -> PathBuf {
    let here = PathBuf::from("target/release/campaign-engine");
    if here.exists() {
        return here;
    }
    // Run from elsewhere: the workspace's own target dir.
    let ws = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/release/campaign-engine"
    ));
    if ws.exists() { ws } else { here }
}

impl Opts {
    /// `Ok(None)` when `--help` was asked for.
    pub fn parse(args: impl Iterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let mut o = Self::defaults();
        let mut given: Vec<&'static str> = Vec::new();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = || -> anyhow::Result<String> {
                match &inline {
                    Some(v) => Ok(v.clone()),
                    None => args.next().with_context(|| format!("{flag} needs a value")),
                }
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--engine" => o.engine = PathBuf::from(value()?),
                "--db" => {
                    let v = value()?;
                    o.db = if v == "sqlite" { None } else { Some(v) };
                }
                "--workload" | "--workloads" => o.workloads = workloads(&value()?)?,
                "--in-flight" => {
                    o.in_flight = list("--in-flight", &value()?)?;
                    given.push("in-flight");
                }
                "--connections" => {
                    o.connections = list("--connections", &value()?)?;
                    given.push("connections");
                }
                "--warmup" => {
                    o.warmup = secs("--warmup", &value()?)?;
                    given.push("warmup");
                }
                "--seconds" => {
                    o.seconds = secs("--seconds", &value()?)?;
                    given.push("seconds");
                }
                "--coupons" => {
                    o.coupons = num("--coupons", &value()?)?;
                    given.push("coupons");
                }
                "--race-stock" => {
                    o.race_stock = num("--race-stock", &value()?)?;
                    given.push("race-stock");
                }
                "--grab-budget" => {
                    o.grab_budget = num("--grab-budget", &value()?)?;
                    given.push("grab-budget");
                }
                "--players-per-task" => o.players_per_task = num(&flag, &value()?)?,
                "--redeem-dup-every" => o.redeem_dup_every = num(&flag, &value()?)?,
                "--pg-pool" => o.pg_pool = num(&flag, &value()?)?,
                "--client-threads" => o.client_threads = num(&flag, &value()?)?,
                "--no-baseline" => {
                    o.baseline = false;
                    o.machine_baseline = false;
                }
                "--no-machine-baseline" => o.machine_baseline = false,
                "--pgbench-dir" => o.pgbench_dir = Some(PathBuf::from(value()?)),
                "--smoke" => o.smoke = true,
                "--json" => o.json = Some(PathBuf::from(value()?)),
                "--keep" => o.keep = true,
                "--one-engine" => o.one_engine = true,
                "--webhook" => o.webhook = true,
                "--webhook-pairs" => o.webhook_pairs = num(&flag, &value()?)?,
                "--webhook-backlog" => o.webhook_backlog = num(&flag, &value()?)?,
                other => bail!("unknown option {other:?}\n{USAGE}"),
            }
        }
        if o.webhook {
            // Same-run ratios only: no baselines; the draw-hot default
            // in-flight count and one call at a time.
            o.baseline = false;
            o.machine_baseline = false;
            if !given.contains(&"in-flight") {
                o.in_flight = vec![64, 1];
            }
        }
        if o.smoke {
            o.shrink_for_smoke(&given);
        }
        o.check()?;
        Ok(Some(o))
    }

    /// The options when none is given.
    fn defaults() -> Self {
        Opts {
            engine: default_engine(),
            db: None,
            workloads: Workload::ALL.to_vec(),
            in_flight: vec![1, 16, 64, 256],
            connections: vec![1],
            warmup: Duration::from_secs(1),
            seconds: Duration::from_secs(8),
            coupons: 200_000,
            race_stock: 500,
            grab_budget: 1_000_000_000,
            players_per_task: 64,
            redeem_dup_every: 20,
            pg_pool: 16,
            client_threads: 2,
            baseline: true,
            machine_baseline: true,
            pgbench_dir: None,
            smoke: false,
            json: None,
            keep: false,
            one_engine: false,
            webhook: false,
            webhook_pairs: 3,
            webhook_backlog: 20_000,
        }
    }

    /// `--smoke`: no machine baselines, and small and short, unless set
    /// explicitly (`given`).
    fn shrink_for_smoke(&mut self, given: &[&str]) {
        self.machine_baseline = false;
        let set = |k: &str| given.contains(&k);
        if !set("in-flight") {
            self.in_flight = vec![4];
        }
        if !set("connections") {
            self.connections = vec![1];
        }
        if !set("warmup") {
            self.warmup = Duration::ZERO;
        }
        if !set("seconds") {
            self.seconds = Duration::from_secs(1);
        }
        if !set("coupons") {
            self.coupons = 20_000;
        }
        if !set("race-stock") {
            self.race_stock = 50;
        }
        if !set("grab-budget") {
            // Small enough to be spent: the last grant is capped.
            self.grab_budget = 20_000;
        }
    }

    /// Refuses sizes out of range.
    fn check(&self) -> anyhow::Result<()> {
        if self.in_flight.contains(&0) || self.connections.contains(&0) {
            bail!("--in-flight and --connections must be at least 1");
        }
        if self.seconds.is_zero() {
            bail!("--seconds must be more than 0");
        }
        if self.players_per_task == 0 || self.client_threads == 0 || self.pg_pool == 0 {
            bail!("--players-per-task, --client-threads and --pg-pool must be at least 1");
        }
        if !(1..=1_000_000_000).contains(&self.race_stock) {
            bail!("--race-stock must be 1..=1000000000");
        }
        if !(1..=1_000_000_000_000).contains(&self.grab_budget) {
            bail!("--grab-budget must be 1..=1000000000000 cents");
        }
        if self.webhook_pairs == 0 || !(1..=10_000_000).contains(&self.webhook_backlog) {
            bail!("--webhook-pairs must be at least 1 and --webhook-backlog 1..=10000000");
        }
        if self.coupons == 0 || self.coupons > 5_000_000 {
            bail!("--coupons must be 1..=5000000");
        }
        Ok(())
    }
}

/// `--workload`: a comma list of workloads (or `all`), each once.
fn workloads(v: &str) -> anyhow::Result<Vec<Workload>> {
    let mut ws = Vec::new();
    for part in v.split(',').filter(|s| !s.is_empty()) {
        for w in Workload::parse(part.trim())? {
            if !ws.contains(&w) {
                ws.push(w);
            }
        }
    }
    if ws.is_empty() {
        bail!("--workload: empty list");
    }
    Ok(ws)
}
