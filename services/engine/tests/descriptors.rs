//! Issue 22, against the real `campaign-engine` binary: a client that
//! opens more connections than the process has file descriptors neither
//! spins the accept loop nor outlives the attack. The engine runs under
//! `ulimit -n 256`; 320 silent connections are opened to it.
//!
//! - With the connection cap off (`CAMPAIGN_MAX_CONNECTIONS=0`) accepts
//!   fail with EMFILE: the loop backs off instead of retrying at once
//!   (tonic's own loop spun 55-97 % of a core here).
//! - With the default cap (lowered to what the limit leaves: 128) the
//!   listener stops accepting at the cap, before EMFILE.
//!
//! Both times the engine's CPU while the connections are held stays far
//! below a spinning loop's, and once they close a new connection is
//! served.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tokio::net::TcpStream;
use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The engine's descriptor limit in these tests.
const LIMIT: u32 = 256;
/// Connections the attacker opens: more than the limit.
const ATTACKERS: usize = 320;

struct Engine {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts the engine under `ulimit -n LIMIT` with `envs`, on a fresh
/// directory and a free port, and waits until health answers.
async fn start(name: &str, envs: &[(&str, &str)]) -> Engine {
    let dir = std::env::temp_dir().join(format!("engine-fds-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {LIMIT} && exec \"$0\""))
        .arg(env!("CARGO_BIN_EXE_campaign-engine"))
        .env_clear()
        .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .envs(envs.iter().copied())
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start campaign-engine");
    let engine = Engine { child, port, dir };
    assert!(
        health_within(port, Duration::from_secs(30)).await,
        "the engine did not become healthy in 30 s"
    );
    engine
}

/// Whether health answers SERVING on a new connection within `limit`.
async fn health_within(port: u16, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let attempt = async {
            let ch = Channel::from_shared(format!("http://127.0.0.1:{port}"))
                .expect("uri")
                .connect()
                .await
                .ok()?;
            HealthClient::new(ch)
                .check(HealthCheckRequest {
                    service: "campaign.v1.AdminService".into(),
                })
                .await
                .ok()
        };
        if let Ok(Some(answer)) = tokio::time::timeout(Duration::from_secs(2), attempt).await
            && answer.get_ref().status == 1
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// CPU seconds (user + system) the process has used, from /proc.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command's closing parenthesis: state is the 1st,
    // utime the 12th, stime the 13th (clock ticks of 1/100 s on Linux).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

/// Opens `ATTACKERS` silent connections, measures the engine's CPU share
/// of one core over 3 s while they are held, closes them and checks that
/// a new connection is served within 10 s.
async fn hold_and_measure(engine: &Engine) -> f64 {
    let mut held = Vec::with_capacity(ATTACKERS);
    for _ in 0..ATTACKERS {
        match tokio::time::timeout(
            Duration::from_secs(2),
            TcpStream::connect(("127.0.0.1", engine.port)),
        )
        .await
        {
            Ok(Ok(s)) => held.push(s),
            // The backlog is full: enough connections are held.
            _ => break,
        }
    }
    assert!(
        held.len() > LIMIT as usize,
        "only {} connections opened",
        held.len()
    );
    // Let the engine reach its limit, then measure.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_secs(engine.child.id());
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let share = (cpu_secs(engine.child.id()) - before) / t.elapsed().as_secs_f64();
    drop(held);
    assert!(
        health_within(engine.port, Duration::from_secs(10)).await,
        "after the connections closed, a new one is not served within 10 s"
    );
    share
}

#[tokio::test]
async fn out_of_descriptors_the_accept_loop_backs_off() {
    let engine = start("emfile", &[("CAMPAIGN_MAX_CONNECTIONS", "0")]).await;
    let share = hold_and_measure(&engine).await;
    // A loop retrying EMFILE at once uses most of a core; backing off
    // (10 ms doubling to 1 s) uses next to none.
    assert!(
        share < 0.25,
        "the engine used {:.0} % of a core while out of descriptors",
        share * 100.0
    );
}

#[tokio::test]
async fn the_connection_cap_stops_accepting_before_the_descriptors_run_out() {
    let engine = start("cap", &[]).await;
    let share = hold_and_measure(&engine).await;
    assert!(
        share < 0.25,
        "the engine used {:.0} % of a core at its connection cap",
        share * 100.0
    );
}
