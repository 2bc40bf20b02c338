//! README command 1 on a fresh directory: the `campaign-engine` binary
//! starts with no config and no server, serves the campaign and the coupon
//! services on one listener, hands over the first admin key, and drains
//! and exits 0 on SIGTERM. Its start-up line says whether that key was
//! written just now; its command line answers `--help` and `--version`.

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::Duration,
};

use tonic::transport::Channel;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

async fn serving(ch: &Channel, service: &str) -> bool {
    HealthClient::new(ch.clone())
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .is_ok_and(|r| r.get_ref().status == 1)
}

#[tokio::test]
async fn the_whole_engine_starts_on_its_embedded_default() {
    let dir = std::env::temp_dir().join(format!("engine-start-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaign-engine"))
        .env_clear()
        .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start campaign-engine");
    let mut ready = None;
    for _ in 0..300 {
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
            && serving(&ch, "campaign.v1.AdminService").await
        {
            ready = Some(ch);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(ch) = ready else {
        let _ = child.kill();
        panic!("the engine did not become healthy in 30 s");
    };
    for service in [
        "campaign.v1.PlayerService",
        "campaign.v1.AuditService",
        "coupon.v1.CouponAdminService",
        "coupon.v1.CouponPlayerService",
        "coupon.v1.CouponPosService",
        "coupon.v1.CouponDeliveryService",
    ] {
        assert!(serving(&ch, service).await, "{service} is not SERVING");
    }
    assert!(
        dir.join("campaign.db").exists(),
        "the embedded SQLite database"
    );
    let key = std::fs::read_to_string(dir.join(".campaign/bootstrap-admin.key"))
        .expect("the first admin key was handed over");
    assert!(key.starts_with("cek_"));
    // SIGTERM drains and exits 0.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().expect("wait") {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(status) = status else {
        let _ = child.kill();
        panic!("the engine did not stop within 10 s of SIGTERM");
    };
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn engine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_campaign-engine"))
        .args(args)
        .env_clear()
        .output()
        .expect("run campaign-engine")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_version_and_each_commands_help() {
    let help = engine(&["--help"]);
    assert!(help.status.success(), "{}", text(&help.stderr));
    let out = text(&help.stdout);
    for command in [
        "serve",
        "create-merchant",
        "mint-player-token",
        "print-config",
    ] {
        assert!(out.contains(command), "{command} missing from:\n{out}");
    }
    assert!(out.contains("Usage: campaign-engine"), "{out}");

    let version = engine(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!("campaign-engine {}", env!("CARGO_PKG_VERSION"))
    );

    for argv in [
        &["mint-player-token", "--help"][..],
        &["help", "mint-player-token"],
    ] {
        let o = engine(argv);
        assert!(o.status.success(), "{argv:?}: {}", text(&o.stderr));
        let out = text(&o.stdout);
        assert!(
            out.contains("Usage: campaign-engine mint-player-token <ISSUER> <SECRET> <OPENID>"),
            "{argv:?}:\n{out}"
        );
        assert!(
            !out.contains("print-config"),
            "{argv:?} printed every command"
        );
    }
    let o = engine(&["create-merchant", "--help"]);
    assert!(o.status.success() && text(&o.stdout).contains("<NAME>"));

    // clap's error, exit 2, and no server started.
    let bad = engine(&["frobnicate"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    assert!(text(&bad.stderr).contains("unrecognized subcommand"));
    let missing = engine(&["create-merchant"]);
    assert_eq!(missing.status.code(), Some(2));
}

/// Starts the engine in `dir` on a free port, waits until it serves,
/// stops it with SIGTERM and returns what it logged (stderr).
async fn start_and_stop(dir: &Path) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let log = dir.join("engine.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_campaign-engine"))
        .env_clear()
        .env("CAMPAIGN_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "info")
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start campaign-engine");
    let mut up = false;
    for _ in 0..300 {
        if let Ok(ch) = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("uri")
            .connect()
            .await
            && serving(&ch, "campaign.v1.AdminService").await
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..100 {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(up, "the engine did not become healthy in 30 s:\n{logged}");
    logged
}

#[tokio::test]
async fn the_start_up_line_says_whether_the_key_was_written_now() {
    let dir = std::env::temp_dir().join(format!("engine-key-line-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = ".campaign/bootstrap-admin.key";

    // A new database: the key is written now, and the line says so.
    let first = start_and_stop(&dir).await;
    assert!(
        first.contains(&format!("first admin API key written to {file}")),
        "{first}"
    );
    assert!(dir.join(file).exists());

    // The same database again: the existing file, not "written".
    let second = start_and_stop(&dir).await;
    assert!(
        second.contains(&format!(
            "admin API key file: {file} (written when the database was created)"
        )),
        "{second}"
    );
    assert!(!second.contains("written to"), "{second}");

    // The file gone: it says so and points at create-merchant.
    std::fs::remove_file(dir.join(file)).expect("remove key file");
    let third = start_and_stop(&dir).await;
    assert!(
        third.contains(&format!("admin API key file {file} not found"))
            && third.contains("create-merchant NAME"),
        "{third}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn print_config_shows_each_services_section_with_its_defaults() {
    let out = engine(&["print-config"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let example = text(&out.stdout);
    // The platform's keys at the top, each service's in its own section
    // (`[campaign]`, then `[coupon]`), each with its default.
    let (top, sections) = example
        .split_once("[campaign]")
        .unwrap_or_else(|| panic!("no [campaign] section in:\n{example}"));
    let (campaign, coupon) = sections
        .split_once("[coupon]")
        .unwrap_or_else(|| panic!("no [coupon] section in:\n{example}"));
    assert!(top.contains("listen = \"127.0.0.1:50051\""), "{top}");
    assert!(top.contains("player_rate_per_sec = 20"), "{top}");
    assert!(
        !top.contains("till_") && !top.contains("coupon_endpoint"),
        "{top}"
    );
    assert!(
        campaign.contains("coupon_endpoint = \"self\""),
        "{campaign}"
    );
    for line in ["till_failure_limit = 20", "till_rate_per_sec = 50"] {
        assert!(coupon.contains(line), "{line} missing from:\n{coupon}");
    }
}
