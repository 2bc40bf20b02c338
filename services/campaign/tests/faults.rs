//! Fault injection (RELIABILITY.md §4): the real engine binary, many client
//! tasks drawing, voting and grabbing red packets through a TCP fault proxy, kill -9 of the engine on a
//! schedule, answers dropped after the server committed (ack lost),
//! duplicated requests racing each other. Every operation goes into a
//! history as ok / fail / unknown (a timeout, a reset or UNAVAILABLE is
//! unknown, never assumed failed). Then the faults stop, every unknown
//! operation is re-sent with its original key until it resolves, and a
//! checker reads the database: no oversell, no acknowledged draw, vote or
//! grab lost, one effect and one identical answer per key, limits held,
//! money balanced to the cent, leaderboard equal to the accepted votes,
//! SQLite integrity, progress after the last fault.
//!
//! Seeded: `FAULT_SEED=<u64>` reproduces a schedule (printed at start and on
//! failure); `FAULT_PROFILE=long` runs ten times the CI size. Players draw
//! until their draws are used up (so every limit is reached), within a cap.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use engine_proto::campaign::v1::{
    self as pb, PrizeKind, admin_service_client::AdminServiceClient,
    money_service_client::MoneyServiceClient, player_service_client::PlayerServiceClient,
    red_packet_service_client::RedPacketServiceClient, share_service_client::ShareServiceClient,
    vote_admin_service_client::VoteAdminServiceClient, vote_service_client::VoteServiceClient,
};
use helpers::*;
use prost::Message;
use rand::{Rng, SeedableRng, rngs::StdRng};
use sha2::Digest;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::Mutex,
};
use tonic::{Code, transport::Endpoint};

const PLAYERS: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Fail,
    Unknown,
}

/// One request of the workload, as sent (and re-sent with the same key).
#[derive(Debug, Clone)]
enum Req {
    Draw(pb::DrawRequest),
    Vote(pb::CastVoteRequest),
    Grab(pb::GrabRedPacketRequest),
    Share(pb::CreateShareRequest),
    Open(pb::OpenShareRequest),
}

impl Req {
    fn name(&self) -> &'static str {
        match self {
            Self::Draw(_) => "draw",
            Self::Vote(_) => "vote",
            Self::Grab(_) => "grab",
            Self::Share(_) => "share",
            Self::Open(_) => "open",
        }
    }
}

#[derive(Debug, Clone)]
struct Op {
    key: String,
    req: Req,
    player: usize,
    started: Duration,
    ended: Duration,
    outcome: Outcome,
    /// Encoded answer, for ok operations.
    answer: Vec<u8>,
    code: Option<Code>,
}

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    /// Forward the request; drop the answer once the server starts
    /// answering a stream, then cut the connection.
    AckLost,
    /// Cut the connection before anything reaches the server.
    Refuse,
}

/// Forwards client -> server untouched; forwards server -> client frame by
/// frame, and for `AckLost` stops at the first HEADERS or DATA frame of a
/// stream (the answer), so the server has done the work but the client
/// never learns it.
async fn serve_connection(client: TcpStream, backend: SocketAddr, fault: Fault) {
    if fault == Fault::Refuse {
        return;
    }
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    'pump: loop {
        let n = match sr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if fault == Fault::Pass {
            if cw.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        // The server preface is 9-byte-headed frames: forward whole frames
        // until a response frame (HEADERS=1 or DATA=0 on a stream) appears.
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let kind = buf[3];
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            if stream != 0 && (kind == 0 || kind == 1) {
                // The answer: lose it, then drop the connection.
                tokio::time::sleep(Duration::from_millis(50)).await;
                break 'pump;
            }
            let frame: Vec<u8> = buf.drain(..9 + len).collect();
            if cw.write_all(&frame).await.is_err() {
                break 'pump;
            }
        }
    }
    up.abort();
}

async fn proxy(listener: TcpListener, backend: SocketAddr, faulty: Arc<AtomicBool>, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let roll: f64 = rng.random();
        let fault = if !faulty.load(Ordering::SeqCst) {
            Fault::Pass
        } else if roll < 0.10 {
            Fault::AckLost
        } else if roll < 0.13 {
            Fault::Refuse
        } else {
            Fault::Pass
        };
        tokio::spawn(serve_connection(client, backend, fault));
    }
}

/// Kills the engine when the test ends, also when it panics.
struct Reaper(Arc<Mutex<std::process::Child>>);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(mut c) = self.0.try_lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
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
    cmd.args(["-D", &data, "-m", "immediate", "-w", "-t", "60", "restart"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One request over a fresh connection through the proxy.
async fn send_once(proxy: SocketAddr, token: &str, req: &Req) -> (Outcome, Vec<u8>, Option<Code>) {
    let attempt = async {
        let ch = Endpoint::from_shared(format!("http://{proxy}"))
            .map_err(|_| Code::Unknown)?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .map_err(|_| Code::Unavailable)?;
        let bytes = match req {
            Req::Draw(r) => PlayerServiceClient::new(ch)
                .draw(with(token, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Vote(r) => VoteServiceClient::new(ch)
                .cast_vote(with(token, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Grab(r) => RedPacketServiceClient::new(ch)
                .grab_red_packet(with(token, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Share(r) => ShareServiceClient::new(ch.clone())
                .create_share(with(token, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Open(r) => ShareServiceClient::new(ch)
                .open_share(with(token, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
        };
        bytes.map_err(|s| s.code())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(bytes)) => (Outcome::Ok, bytes, None),
        // Definite refusals: the engine decided and changed nothing.
        Ok(Err(
            c @ (Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied),
        )) => (Outcome::Fail, Vec::new(), Some(c)),
        // A reset, UNAVAILABLE, ABORTED, an internal error after sending, or
        // a timeout: the request may or may not have taken effect.
        Ok(Err(c)) => (Outcome::Unknown, Vec::new(), Some(c)),
        Err(_) => (Outcome::Unknown, Vec::new(), None),
    }
}

async fn draws_survive_crashes_lost_acks_and_duplicates(backend: Backend) {
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let long = std::env::var("FAULT_PROFILE").is_ok_and(|p| p == "long");
    // Players draw until their draws are used up (the CI size, about 20 s
    // here), within a cap; the long profile gives them ten times more.
    let run_for = Duration::from_secs(if long { 600 } else { 120 });
    let per_player: i64 = if long { 1000 } else { 100 };
    let ctx = format!(
        "FAULT_SEED={seed} profile={} backend={backend:?}",
        if long { "long" } else { "ci" }
    );
    eprintln!("fault run: {ctx}");

    // Arrange: the engine, a proxy in front of it, a wheel open now whose
    // stock runs out mid-run, and the players' tokens.
    let db = TestDb::new(backend).await;
    let port = free_port();
    let engine_addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let child = Arc::new(Mutex::new(start_engine(&db, port)));
    let _reaper = Reaper(child.clone());
    let channel = wait_serving(engine_addr).await;
    let admin_key = read_key(&db.dir.join("admin.key")).await;
    let secret = vec![4u8; 32];
    let mut admin = AdminServiceClient::new(channel.clone());
    let now = register_gateway(&mut admin, &admin_key, &secret).await;
    let mut r = rules(per_player, per_player);
    r.starts_at_ms = now - DAY;
    r.ends_at_ms = now + DAY;
    let mut capped = slot("Phone", PrizeKind::Physical, 2, 40);
    capped.per_user_cap = 3;
    let slots = vec![capped, slot("Points", PrizeKind::Points, 3, 300), thanks(5)];
    let c = build_wheel(&mut admin, &admin_key, r, slots, 2, true).await;
    let id = c.campaign_id.clone();
    // Money: a budget, three lucky group packets and a campaign packet that
    // the players will empty; voting: three candidates.
    let mut money = MoneyServiceClient::new(channel.clone());
    money
        .fund_budget(with(
            &admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                amount_cents: 6000,
            },
        ))
        .await
        .expect("fund");
    let mut packets = Vec::new();
    for _ in 0..3 {
        let p = money
            .create_group_packet(with(
                &admin_key,
                pb::CreateGroupPacketRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    total_cents: 1000,
                    parts: 10,
                    split_mode: pb::SplitMode::Lucky as i32,
                    expires_in_seconds: 0,
                },
            ))
            .await
            .expect("group packet");
        packets.push(p.into_inner().packet_id);
    }
    let drip = money
        .create_campaign_packet(with(
            &admin_key,
            pb::CreateCampaignPacketRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                min_cents: 50,
                max_cents: 200,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("campaign packet");
    packets.push(drip.into_inner().packet_id);
    let mut votes_admin = VoteAdminServiceClient::new(channel.clone());
    votes_admin
        .set_vote_rules(with(
            &admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: id.clone(),
                votes_per_day: 8,
                votes_per_candidate_per_day: 4,
                votes_total: 8,
                player_registration: false,
            },
        ))
        .await
        .expect("vote rules");
    let mut candidates = Vec::new();
    for n in 0..3 {
        let k = votes_admin
            .add_candidate(with(
                &admin_key,
                pb::AddCandidateRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    name: format!("Candidate {n}"),
                    description: String::new(),
                },
            ))
            .await
            .expect("candidate");
        candidates.push(k.into_inner().candidate_id);
    }
    // Sharing: three root shares to open and forward from.
    let mut share_tokens = Vec::new();
    for p in 0..3 {
        let token = gateway_token(&secret, &format!("f{p}"), now);
        let s = ShareServiceClient::new(channel.clone())
            .create_share(with(
                &token,
                pb::CreateShareRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    parent_token: String::new(),
                    channel: String::new(),
                },
            ))
            .await
            .expect("root share");
        share_tokens.push(s.into_inner().token);
    }
    let packets = Arc::new(packets);
    let candidates = Arc::new(candidates);
    let share_tokens = Arc::new(share_tokens);
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..PLAYERS)
            .map(|p| gateway_token(&secret, &format!("f{p}"), now))
            .collect(),
    );
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
    let proxy_addr = proxy_listener.local_addr().expect("addr");
    let faulty = Arc::new(AtomicBool::new(true));
    let proxy_task = tokio::spawn(proxy(proxy_listener, engine_addr, faulty.clone(), seed));

    // Act: the nemesis strikes every 0.5-1.5 s (engine kill; on PostgreSQL
    // also killed backends and an immediate cluster restart).
    let t0 = Instant::now();
    let history: Arc<Mutex<Vec<Op>>> = Arc::default();
    let kills = Arc::new(AtomicU64::new(0));
    let pg_faults = Arc::new(AtomicU64::new(0));
    let pg_restarts = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let nemesis = {
        let (child, stop, kills, pg_faults, db_url, dir) = (
            child.clone(),
            stop.clone(),
            kills.clone(),
            pg_faults.clone(),
            db.url.clone(),
            db.dir.clone(),
        );
        let mut rng = StdRng::seed_from_u64(seed);
        let pg_restarts = pg_restarts.clone();
        let mut round = 0u64;
        tokio::spawn(async move {
            let db = TestDb {
                backend,
                url: db_url,
                dir,
            };
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..1500))).await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // On PostgreSQL the nemesis cycles: engine kill, backends
                // killed, cluster restarted at once.
                round += 1;
                if backend == Backend::Postgres && round % 3 == 2 {
                    terminate_backends(&db.url).await;
                    pg_faults.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                if backend == Backend::Postgres && round.is_multiple_of(3) {
                    assert!(
                        restart_postgres(),
                        "could not restart PostgreSQL (CAMPAIGN_TEST_PG_DATA unset?)"
                    );
                    pg_restarts.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                let mut c = child.lock().await;
                let _ = c.kill();
                let _ = c.wait();
                kills.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(rng.random_range(50..400))).await;
                *c = start_engine(&db, port);
            }
            std::mem::forget(db); // the outer TestDb owns the directory
        })
    };
    let mut clients = tokio::task::JoinSet::new();
    for p in 0..PLAYERS {
        let (history, tokens, id) = (history.clone(), tokens.clone(), id.clone());
        let (packets, candidates, share_tokens) =
            (packets.clone(), candidates.clone(), share_tokens.clone());
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(p as u64 + 1));
        clients.spawn(async move {
            while t0.elapsed() < run_for {
                // Mostly draws; votes, grabs, shares and opens too.
                let idempotency_key = key();
                let token = share_tokens[rng.random_range(0..share_tokens.len())].clone();
                let req = match rng.random_range(0..10) {
                    4 => Req::Share(pb::CreateShareRequest {
                        idempotency_key,
                        campaign_id: id.clone(),
                        parent_token: token,
                        channel: String::new(),
                    }),
                    5 => Req::Open(pb::OpenShareRequest {
                        idempotency_key,
                        token,
                        channel: String::new(),
                    }),
                    0 | 1 => Req::Vote(pb::CastVoteRequest {
                        idempotency_key,
                        candidate_id: candidates[rng.random_range(0..candidates.len())].clone(),
                        channel: String::new(),
                    }),
                    2 | 3 => Req::Grab(pb::GrabRedPacketRequest {
                        idempotency_key,
                        packet_id: packets[rng.random_range(0..packets.len())].clone(),
                        channel: String::new(),
                    }),
                    _ => Req::Draw(pb::DrawRequest {
                        idempotency_key,
                        campaign_id: id.clone(),
                        channel: String::new(),
                    }),
                };
                let key_of = match &req {
                    Req::Draw(r) => r.idempotency_key.clone(),
                    Req::Vote(r) => r.idempotency_key.clone(),
                    Req::Grab(r) => r.idempotency_key.clone(),
                    Req::Share(r) => r.idempotency_key.clone(),
                    Req::Open(r) => r.idempotency_key.clone(),
                };
                // One in ten is sent twice at once: the copies race.
                let copies = if rng.random_bool(0.1) { 2 } else { 1 };
                let mut sends = tokio::task::JoinSet::new();
                for _ in 0..copies {
                    let (tok, req) = (tokens[p].clone(), req.clone());
                    sends.spawn(async move {
                        let started = t0.elapsed();
                        let (outcome, answer, code) = send_once(proxy_addr, &tok, &req).await;
                        (started, outcome, answer, code)
                    });
                }
                let mut spent = false;
                let mut unsure = false;
                while let Some(Ok((started, outcome, answer, code))) = sends.join_next().await {
                    // Out of draws: this player is done.
                    spent |= matches!(req, Req::Draw(_)) && code == Some(Code::ResourceExhausted);
                    unsure |= outcome == Outcome::Unknown;
                    history.lock().await.push(Op {
                        key: key_of.clone(),
                        req: req.clone(),
                        player: p,
                        started,
                        ended: t0.elapsed(),
                        outcome,
                        answer,
                        code,
                    });
                }
                if spent {
                    break; // this player's draws are used up
                }
                if unsure {
                    // The engine may be down: back off a little.
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
            }
        });
    }
    while clients.join_next().await.is_some() {}

    // Final phase: faults off, the engine up, every unknown re-sent with
    // its key until it resolves.
    stop.store(true, Ordering::SeqCst);
    let _ = nemesis.await;
    faulty.store(false, Ordering::SeqCst);
    // Liveness: a new player's first draw succeeds soon after the faults.
    let last_fault = Instant::now();
    let fresh = gateway_token(&secret, "fresh", now);
    let fresh_req = Req::Draw(pb::DrawRequest {
        idempotency_key: key(),
        campaign_id: id.clone(),
        channel: String::new(),
    });
    let progress_after = loop {
        let (outcome, _, _) = send_once(proxy_addr, &fresh, &fresh_req).await;
        if outcome == Outcome::Ok || last_fault.elapsed() > Duration::from_secs(60) {
            break last_fault.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut history = history.lock().await.clone();
    let unknown: Vec<Op> = history
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .cloned()
        .collect();
    let mut resolving = tokio::task::JoinSet::new();
    for chunk in unknown.chunks(unknown.len().div_ceil(8).max(1)) {
        let (chunk, tokens, ctx) = (chunk.to_vec(), tokens.clone(), ctx.clone());
        resolving.spawn(async move {
            let mut out = Vec::new();
            for op in chunk {
                // The original request, key and all.
                let req = op.req.clone();
                let mut last = None;
                for _ in 0..20 {
                    let (outcome, answer, code) =
                        send_once(proxy_addr, &tokens[op.player], &req).await;
                    if outcome != Outcome::Unknown {
                        last = Some((outcome, answer, code));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let (outcome, answer, code) =
                    last.unwrap_or_else(|| panic!("{ctx}: op {} never resolved", op.key));
                out.push(Op {
                    key: op.key,
                    req: op.req,
                    player: op.player,
                    started: t0.elapsed(),
                    ended: t0.elapsed(),
                    outcome,
                    answer,
                    code,
                });
            }
            out
        });
    }
    while let Some(r) = resolving.join_next().await {
        history.extend(r.expect("resolver"));
    }
    let resolved_ok = history[history.len() - unknown.len()..]
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .count();

    // The history, one JSON line per operation, kept for inspection.
    let history_file =
        std::env::temp_dir().join(format!("campaign-faults-{backend:?}-{seed}.jsonl"));
    let lines: Vec<String> = history
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key, "player": o.player, "op": o.req.name(),
                "start_ms": o.started.as_millis() as u64, "end_ms": o.ended.as_millis() as u64,
                "outcome": format!("{:?}", o.outcome).to_lowercase(),
                "code": o.code.map(|c| format!("{c:?}")),
                "answer_sha256": (!o.answer.is_empty()).then(|| hex::encode(sha2::Sha256::digest(&o.answer))),
            })
            .to_string()
        })
        .collect();
    let _ = std::fs::write(&history_file, lines.join("\n") + "\n");
    eprintln!("{ctx}: history in {}", history_file.display());

    // Assert: the checker.
    let ops = history.len();
    let count = |o: Outcome| history.iter().filter(|x| x.outcome == o).count();
    eprintln!(
        "{ctx}: {ops} operations (ok {}, fail {}, unknown {} of which {} applied), {} engine kills, {} PostgreSQL backend kills, {} PostgreSQL restarts, progress {:?} after the last fault",
        count(Outcome::Ok),
        count(Outcome::Fail),
        unknown.len(),
        resolved_ok,
        kills.load(Ordering::SeqCst),
        pg_faults.load(Ordering::SeqCst),
        pg_restarts.load(Ordering::SeqCst),
        progress_after
    );
    if backend == Backend::Postgres {
        assert!(
            pg_faults.load(Ordering::SeqCst) >= 1,
            "{ctx}: PostgreSQL was never faulted"
        );
    }
    let struck = kills.load(Ordering::SeqCst)
        + pg_faults.load(Ordering::SeqCst)
        + pg_restarts.load(Ordering::SeqCst);
    assert!(
        struck >= 3 && kills.load(Ordering::SeqCst) >= 1,
        "{ctx}: the nemesis must have struck"
    );
    assert!(
        !unknown.is_empty(),
        "{ctx}: no operation was left unknown; the faults did not bite"
    );
    // C5: one answer per key, byte-identical for every ok copy.
    let mut by_key: HashMap<&str, Vec<&Op>> = HashMap::new();
    for op in &history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let (mut applied_draws, mut applied_votes, mut applied_grabs) = (0i64, 0i64, 0i64);
    let mut applied_shares = 0i64;
    for (k, ops) in &by_key {
        let oks: Vec<&&Op> = ops.iter().filter(|o| o.outcome == Outcome::Ok).collect();
        assert!(
            oks.windows(2).all(|w| w[0].answer == w[1].answer),
            "{ctx}: key {k} got different answers"
        );
        let Some(ok) = oks.first() else { continue };
        match &ok.req {
            Req::Draw(_) => {
                applied_draws += 1;
                // C3: an acknowledged draw is in the ledger with its outcome.
                let d = pb::DrawResponse::decode(ok.answer.as_slice()).expect("answer");
                let slot = db
                    .int_rows(
                        "SELECT awarded_slot, draw_seq FROM draw WHERE draw_id = $1",
                        &d.draw_id,
                    )
                    .await;
                assert_eq!(
                    slot,
                    vec![vec![i64::from(d.slot_index), d.draw_sequence]],
                    "{ctx}: acknowledged draw {} lost or changed",
                    d.draw_id
                );
            }
            Req::Vote(_) => {
                applied_votes += 1;
                let v = pb::VoteRecord::decode(ok.answer.as_slice()).expect("answer");
                let n = db
                    .scalar(
                        "SELECT COUNT(*) FROM vote WHERE vote_id = $1 AND status = 'accepted'",
                        &v.vote_id,
                    )
                    .await;
                assert_eq!(n, 1, "{ctx}: acknowledged vote {} lost", v.vote_id);
            }
            Req::Share(_) => {
                applied_shares += 1;
                let sh = pb::Share::decode(ok.answer.as_slice()).expect("answer");
                let n = db
                    .scalar("SELECT COUNT(*) FROM share WHERE token = $1", &sh.token)
                    .await;
                assert_eq!(n, 1, "{ctx}: acknowledged share {} lost", sh.token);
            }
            Req::Open(_) => {}
            Req::Grab(r) => {
                applied_grabs += 1;
                let g = pb::Grab::decode(ok.answer.as_slice()).expect("answer");
                let amounts = db
                    .int_rows(
                        "SELECT amount, grab_seq FROM packet_grab WHERE packet_id = $1 \
                         ORDER BY grab_seq",
                        &r.packet_id,
                    )
                    .await;
                assert!(
                    amounts.contains(&vec![g.amount_cents, i64::from(g.grab_seq)]),
                    "{ctx}: acknowledged grab {} of packet {} lost",
                    g.grab_seq,
                    r.packet_id
                );
            }
        }
    }
    // C4: every unknown resolved; nothing applied without an ok answer
    // (plus the liveness probe's one draw).
    let draws = db
        .scalar("SELECT COUNT(*) FROM draw WHERE campaign_id = $1", &id)
        .await;
    assert_eq!(
        draws,
        applied_draws + 1,
        "{ctx}: draws in the ledger vs keys answered ok"
    );
    let votes = db
        .scalar("SELECT COUNT(*) FROM vote WHERE campaign_id = $1", &id)
        .await;
    assert_eq!(votes, applied_votes, "{ctx}: votes vs keys answered ok");
    let grabs = db
        .scalar(
            "SELECT COUNT(*) FROM packet_grab g JOIN red_packet p ON p.packet_id = g.packet_id \
             WHERE p.campaign_id = $1",
            &id,
        )
        .await;
    assert_eq!(grabs, applied_grabs, "{ctx}: grabs vs keys answered ok");
    assert!(
        applied_votes > 0 && applied_grabs > 0,
        "{ctx}: the run did not vote or grab"
    );
    let shares = db
        .scalar("SELECT COUNT(*) FROM share WHERE campaign_id = $1", &id)
        .await;
    assert_eq!(
        shares,
        applied_shares + 3,
        "{ctx}: shares vs keys answered ok"
    );
    // C6 money, C7 votes, share counters.
    db.assert_money_balances().await;
    db.assert_leaderboard_matches_votes().await;
    db.assert_sharing_balances().await;
    assert!(
        count(Outcome::Fail) > 0,
        "{ctx}: no player reached a limit; the run proves less"
    );
    // C1: stock and caps.
    db.assert_stock_balances(&id).await;
    assert!(
        db.scalar(
            "SELECT MAX(draws) FROM player_draws WHERE campaign_id = $1",
            &id
        )
        .await
            <= per_player
    );
    assert!(
        db.scalar(
            "SELECT COALESCE(MAX(won), 0) FROM player_prize_count WHERE campaign_id = $1",
            &id
        )
        .await
            <= 3
    );
    // Ledger order has no gap even across crashes.
    let (lo, hi) = db
        .pairs(
            "SELECT MIN(ledger_seq), MAX(ledger_seq) FROM draw WHERE campaign_id = $1",
            &id,
        )
        .await[0];
    assert_eq!((lo, hi), (1, draws), "{ctx}: ledger sequence has gaps");
    // Liveness: progress within 30 s of the last fault.
    assert!(
        progress_after < Duration::from_secs(30),
        "{ctx}: no progress for {progress_after:?} after the last fault"
    );
    // The audit trail survived the crashes as a valid hash chain, checked
    // by the independent verifier.
    let mut audit = engine_proto::campaign::v1::audit_service_client::AuditServiceClient::new(
        wait_serving(engine_addr).await,
    );
    let mut stream = audit
        .export_audit_log(with(&admin_key, pb::ExportAuditLogRequest {}))
        .await
        .expect("audit export")
        .into_inner();
    let mut audit_lines = Vec::new();
    while let Some(line) = stream.message().await.expect("audit line") {
        audit_lines.push(line.json);
    }
    let audit_file = db.dir.join("audit.jsonl");
    std::fs::write(&audit_file, audit_lines.join("\n") + "\n").expect("write audit");
    let verified = Command::new("python3")
        .arg(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tools/verify_fairness.py"),
        )
        .arg(&audit_file)
        .output()
        .expect("python3 runs the verifier");
    let verdict = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(
        verified.status.success() && verdict.starts_with("VALID") && audit_lines.len() > 5,
        "{ctx}: audit chain: {verdict}"
    );
    if backend == Backend::Sqlite {
        let path = db.url.trim_start_matches("sqlite:").to_owned();
        let out = Command::new("python3")
            .args(["-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])", &path])
            .output()
            .expect("python3");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ok",
            "{ctx}: integrity_check"
        );
    }
    proxy_task.abort();
    let mut c = child.lock().await;
    let _ = c.kill();
    let _ = c.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_draws_survive_crashes_lost_acks_and_duplicates() {
    draws_survive_crashes_lost_acks_and_duplicates(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_draws_survive_crashes_lost_acks_and_duplicates() {
    draws_survive_crashes_lost_acks_and_duplicates(Backend::Postgres).await
}
