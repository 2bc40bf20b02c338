//! The engine under test as a child process, and what /proc says about a
//! process (CPU ticks, resident memory).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use anyhow::{Context, bail};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// Clock ticks per second of /proc/<pid>/stat's utime and stime. Assumed
/// to be 100 (`getconf CLK_TCK` on Linux, every common architecture); the
/// crate forbids `unsafe`, so `sysconf` is not called.
pub const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of a process (`"self"` or a pid), in ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields count
    // from the last ')'. After it: state (field 3) ... utime (14), stime (15).
    let rest = s.get(s.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// (VmHWM, VmRSS) in kB.
pub fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets the process's peak resident size (VmHWM) to its current one
/// (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0). False if refused.
pub fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// A running `campaign-engine`; killed (SIGKILL) if dropped unstopped.
pub struct Engine {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    log: PathBuf,
    stopped: bool,
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

async fn serving(ch: &Channel, service: &str) -> bool {
    HealthClient::new(ch.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .is_ok_and(|r| r.get_ref().status == 1)
}

/// One HTTP/2 connection (clones of the channel multiplex on it).
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))?
        .tcp_nodelay(true)
        .connect()
        .await?)
}

impl Engine {
    /// Starts `bin` in `dir` on a free port against `database_url`, with
    /// the bench's settings and `extra` ones, and waits until its campaign
    /// and coupon services report SERVING.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        database_url: &str,
        pg_pool: u32,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        if !bin.exists() {
            bail!(
                "engine binary {} not found: build it with `cargo build --release -p engine` \
                 or pass --engine PATH",
                bin.display()
            );
        }
        // Absolute: the child runs in `dir`.
        let bin =
            &std::fs::canonicalize(bin).with_context(|| format!("resolving {}", bin.display()))?;
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = dir.join("engine.log");
        // Appended to: a restarted engine keeps the earlier lines.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(bin);
        // Only these settings: nothing inherited from the caller's CAMPAIGN_*.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("CAMPAIGN_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("CAMPAIGN_LISTEN", addr.to_string())
            .env("CAMPAIGN_DATABASE_URL", database_url)
            .env("CAMPAIGN_PG_MAX_CONNECTIONS", pg_pool.to_string())
            // One client hammering on purpose: no per-player rate limit,
            // no till lock-out.
            .env("CAMPAIGN_PLAYER_RATE_PER_SEC", "0")
            .env("CAMPAIGN_TILL_FAILURE_LIMIT", "0")
            .env("CAMPAIGN_TILL_RATE_PER_SEC", "0")
            .env("CAMPAIGN_COUPON_ENDPOINT", "self")
            .env("CAMPAIGN_SEAL_KEY_FILE", seal_key_file(dir, database_url))
            .envs(extra.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut engine = Engine {
            pid: child.id(),
            child,
            addr,
            log,
            stopped: false,
        };
        for _ in 0..600 {
            if let Some(status) = engine.child.try_wait()? {
                engine.stopped = true;
                bail!(
                    "the engine exited during start-up ({status}); its log:\n{}\n\
                     (loadgen applies the library's migrations before the engine starts: \
                     build both from one tree, `cargo build --release -p engine -p loadgen`)",
                    engine.log_tail(40)
                );
            }
            if let Ok(ch) = connect(addr).await
                && serving(&ch, "campaign.v1.AdminService").await
                && serving(&ch, "coupon.v1.CouponPosService").await
            {
                return Ok(engine);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!(
            "the engine did not report SERVING within 60 s; its log:\n{}",
            engine.log_tail(40)
        )
    }

    /// The last `n` lines of the engine's stdout/stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Is the child still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then up to 30 s for the drain; SIGKILL after that.
    pub async fn stop(mut self) -> anyhow::Result<ExitStatus> {
        self.stopped = true;
        if let Some(s) = self.child.try_wait()? {
            return Ok(s);
        }
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("running kill -TERM")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        for _ in 0..300 {
            if let Some(s) = self.child.try_wait()? {
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("the engine did not stop within 30 s of SIGTERM; killed")
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The engine's seal key file for `database_url`. A fresh SQLite database
/// of this run keeps it in the run's directory. A PostgreSQL database
/// outlives the run (`--db`), and a database sealed with one key refuses
/// an engine started with another: its key is kept in the temp directory
/// under a hash of the URL (never the URL, which may hold a password), so
/// every run on that database uses the same key.
pub fn seal_key_file(dir: &Path, database_url: &str) -> std::path::PathBuf {
    if database_url.starts_with("sqlite:") {
        return dir.join("seal.key");
    }
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    database_url.hash(&mut h);
    std::env::temp_dir().join(format!("loadgen-seal-{:016x}.key", h.finish()))
}
