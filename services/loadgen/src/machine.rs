//! Machine baselines measured in the same run as the workloads, so a slow
//! day (a slower disk flush, a noisy neighbour) moves both sides of the
//! ratio: the gRPC floor (the engine's own health check, which touches no
//! database, at the same in-flight counts) and, on PostgreSQL, the shared
//! bench's pgbench scripts (`../shared/bench/pg`) on a database of their
//! own in the same cluster.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::harness::{LoopResult, Spec, Step, Worker, closed_loop};

/// One health check per call: the server's gRPC path without a database.
struct HealthWorker(HealthClient<Channel>);

impl Worker for HealthWorker {
    async fn call(&mut self, _seq: u64) -> Step {
        match self.0.check(HealthCheckRequest::default()).await {
            Ok(_) => Step::Ok,
            Err(s) => Step::status(&s),
        }
    }
}

/// The gRPC floor at `n` in flight over `channels` (round-robin).
pub async fn grpc_floor(
    channels: &[Channel],
    n: usize,
    spec: Spec,
    pid: u32,
) -> anyhow::Result<LoopResult> {
    if channels.is_empty() {
        bail!("no connection to the engine");
    }
    let workers = (0..n)
        .map(|i| HealthWorker(HealthClient::new(channels[i % channels.len()].clone())))
        .collect();
    Ok(closed_loop(workers, spec, Some(pid)).await?.0)
}

/// The shared bench's PostgreSQL scripts and what each is compared with.
pub const PGBENCH_SCRIPTS: [(&str, &str); 3] = [
    ("draw-hot", "draw_hot"),
    ("draw-spread", "draw_spread"),
    ("redeem", "coupon_redeem"),
];

pub struct Pgbench {
    bin: PathBuf,
    psql: PathBuf,
    scripts: PathBuf,
    url: String,
}

pub struct PgbenchRun {
    pub tps: f64,
    pub latency_ms: f64,
}

impl Pgbench {
    /// Finds pgbench and the scripts and makes the `loadgen_pgbench`
    /// database (the shared schema) in the cluster of `url`.
    pub fn prepare(url: &str, scripts: Option<&Path>) -> anyhow::Result<Self> {
        let scripts = scripts.map_or_else(default_scripts, Path::to_path_buf);
        if !scripts.join("schema.sql").exists() {
            bail!("no bench scripts at {} (--pgbench-dir)", scripts.display());
        }
        let bin = find_tool("pgbench")?;
        let psql = bin.with_file_name("psql");
        let bench_url = with_database(url, "loadgen_pgbench")?;
        let p = Self {
            bin,
            psql,
            scripts,
            url: bench_url,
        };
        // A fresh copy each run: drop, create, load (the schema ends with
        // VACUUM ANALYZE, so it goes through psql statement by statement).
        p.psql(url, &["-c", "DROP DATABASE IF EXISTS loadgen_pgbench"])?;
        p.psql(url, &["-c", "CREATE DATABASE loadgen_pgbench"])?;
        let schema = p.scripts.join("schema.sql");
        let schema = schema.to_string_lossy();
        p.psql(&p.url, &["-f", &schema])?;
        Ok(p)
    }

    fn psql(&self, url: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = Command::new(&self.psql)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.psql.display()))?;
        if !out.status.success() {
            bail!(
                "psql {args:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// Runs `script` with `clients` for `seconds`, reset first as the
    /// shared bench's run.sh does.
    pub fn run(&self, script: &str, clients: usize, seconds: u64) -> anyhow::Result<PgbenchRun> {
        let reset: &[&str] = if script == "coupon_redeem" {
            &[
                "-c",
                "UPDATE coupons SET status = 1, redeemed_at = NULL WHERE status = 2",
                "-c",
                "TRUNCATE redemptions",
                "-c",
                "VACUUM coupons",
                "-c",
                "CHECKPOINT",
            ]
        } else {
            &[
                "-c",
                "TRUNCATE draws, user_quota",
                "-c",
                "VACUUM prizes",
                "-c",
                "CHECKPOINT",
            ]
        };
        self.psql(&self.url, reset)?;
        let file = self.scripts.join(format!("{script}.sql"));
        let out = Command::new(&self.bin)
            .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
            .args(["-j", if clients < 2 { "1" } else { "2" }])
            .args(["-T", &seconds.max(1).to_string(), "-f"])
            .arg(&file)
            .arg(&self.url)
            .output()
            .with_context(|| format!("running {}", self.bin.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "pgbench {script}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let field = |prefix: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
        };
        match (field("tps = "), field("latency average = ")) {
            (Some(tps), Some(latency_ms)) => Ok(PgbenchRun { tps, latency_ms }),
            _ => bail!("pgbench {script}: no tps in its output:\n{text}"),
        }
    }

    pub fn drop_database(&self, admin_url: &str) {
        let _ = self.psql(
            admin_url,
            &["-c", "DROP DATABASE IF EXISTS loadgen_pgbench"],
        );
    }
}

/// `../shared/bench/pg` beside the repository.
fn default_scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/pg")
}

/// `name` on PATH, else in PostgreSQL's versioned bin directories.
fn find_tool(name: &str) -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return Ok(p);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .with_context(|| format!("{name} not found on PATH or in /usr/lib/postgresql"))
}

/// The same server and credentials, another database.
fn with_database(url: &str, db: &str) -> anyhow::Result<String> {
    let scheme_end = url.find("://").context("a postgres:// URL")? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    Ok(format!("{}/{db}{query}", &base[..host_end]))
}
