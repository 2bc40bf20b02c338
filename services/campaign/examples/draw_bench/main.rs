//! A first, rerunnable draw benchmark (the full load generator is a later
//! issue). It starts the engine in-process on a port-0 listener, publishes a
//! wheel whose every roll lands on one hot prize with a large stock, and
//! drives it with N draws in flight over one HTTP/2 connection for D
//! seconds. In the same run it measures the baseline: the same draw
//! transaction called directly on the store (no gRPC), same concurrency.
//! Afterwards it checks won + remaining == initial.
//!
//!   cargo run --release -p campaign --example draw_bench -- [URL] [IN_FLIGHT] [SECONDS]
//!
//! URL defaults to a fresh SQLite file in a temp dir (synchronous=FULL).
//! Each player draws `BENCH_DRAWS_PER_PLAYER` times (env; default 5,000,
//! within the wheel's daily limit) before the next takes over.
//!
//! Bytes of database per draw: around the gRPC run it measures every
//! table's and index's size (SQLite: `dbstat` after a WAL checkpoint;
//! PostgreSQL: `pg_total_relation_size`) and prints the
//! growth per draw, largest first. Run it with
//! `BENCH_DRAWS_PER_PLAYER=5` for a realistic fan (a few draws each).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use campaign::{
    clock::{Clock, SystemClock},
    config::Settings,
    domain::{
        credential::{PlayerClaims, sign_player_token},
        idempotency::{Idempotency, IdempotencyKey},
    },
    store::{Store, db::Db, postgres::PgDb, sqlite::SqliteDb, wheel::DrawCommand},
};
use engine_proto::campaign::v1::{
    self as pb, admin_service_client::AdminServiceClient,
    player_service_client::PlayerServiceClient,
};
use tokio::task::JoinSet;
use tonic::{Request, transport::Channel};

mod bytes;

fn with<T>(cred: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {cred}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

struct Stats {
    ok: usize,
    errors: std::collections::BTreeMap<String, usize>,
    lat_us: Vec<u64>,
    secs: f64,
}

impl Stats {
    fn print(&self, name: &str) {
        let mut l = self.lat_us.clone();
        l.sort_unstable();
        let p = |q: f64| {
            l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{name:<28} {:>9.0} draws/s  p50 {:>6} us  p99 {:>6} us  p99.9 {:>6} us  ok {}  errors {:?}",
            self.ok as f64 / self.secs,
            p(0.50),
            p(0.99),
            p(0.999),
            self.ok,
            self.errors
        );
    }
}

async fn new_wheel(
    admin: &mut AdminServiceClient<Channel>,
    k: &str,
    now: i64,
) -> anyhow::Result<String> {
    let mut c = admin
        .create_wheel(with(
            k,
            pb::CreateWheelRequest {
                idempotency_key: key(),
                name: "bench".into(),
                starts_at_ms: now - 3_600_000,
                ends_at_ms: now + 86_400_000,
                time_zone: String::new(),
                draws_per_day: 10_000,
                draws_total: 1_000_000,
            },
        ))
        .await?
        .into_inner();
    let hot = pb::PrizeSlotSpec {
        name: "Hot prize".into(),
        kind: pb::PrizeKind::Points as i32,
        weight: 1,
        stock: 100_000_000,
        amount: 10,
        ..Default::default()
    };
    let thanks = pb::PrizeSlotSpec {
        name: "Thanks".into(),
        kind: pb::PrizeKind::Thanks as i32,
        ..Default::default()
    };
    for s in [hot, thanks] {
        c = admin
            .add_prize_slot(with(
                k,
                pb::AddPrizeSlotRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                    slot: Some(s),
                },
            ))
            .await?
            .into_inner();
    }
    admin
        .set_fallback_slot(with(
            k,
            pb::SetFallbackSlotRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
                index: 1,
            },
        ))
        .await?;
    admin
        .publish_campaign(with(
            k,
            pb::CampaignTransitionRequest {
                idempotency_key: key(),
                campaign_id: c.campaign_id.clone(),
            },
        ))
        .await?;
    Ok(c.campaign_id)
}

/// Closed loop: `in_flight` tasks, each with one call outstanding, for
/// `secs`; player `i` of task `t` changes every 5,000 draws (daily limit).
async fn closed_loop<F, Fut>(in_flight: usize, secs: u64, call: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let mut set = JoinSet::new();
    for t in 0..in_flight {
        let call = call.clone();
        set.spawn(async move {
            let (mut ok, mut errors, mut lat) = (0, std::collections::BTreeMap::new(), Vec::new());
            let mut n = 0u64;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match call(t, n).await {
                    Ok(()) => {
                        ok += 1;
                        lat.push(t0.elapsed().as_micros() as u64);
                    }
                    Err(code) => *errors.entry(code).or_insert(0) += 1,
                }
                n += 1;
            }
            (ok, errors, lat)
        });
    }
    let mut s = Stats {
        ok: 0,
        errors: Default::default(),
        lat_us: Vec::new(),
        secs: 0.0,
    };
    while let Some(Ok((ok, errors, lat))) = set.join_next().await {
        s.ok += ok;
        for (code, n) in errors {
            *s.errors.entry(code).or_insert(0) += n;
        }
        s.lat_us.extend(lat);
    }
    s.secs = start.elapsed().as_secs_f64();
    s
}

/// The baseline: the same draw transaction on the store, no gRPC.
async fn direct<D: Db>(
    store: Store<D>,
    campaign: uuid::Uuid,
    in_flight: usize,
    secs: u64,
    per_player: u64,
) -> anyhow::Result<Stats> {
    let merchant = store.campaign_merchant(campaign).await?;
    let stats = closed_loop(in_flight, secs, move |t, n| {
        let (store, merchant) = (store.clone(), merchant.clone());
        async move {
            let cmd = DrawCommand {
                merchant_id: merchant.clone(),
                player_id: format!("direct-{t}-{}", n / per_player),
                campaign_id: campaign,
                channel: None,
                store_id: None,
            };
            let Ok(k) = IdempotencyKey::parse(&key()) else {
                return Err("bad key".into());
            };
            let idem = Idempotency {
                scope: format!("player:{merchant}:{}", cmd.player_id),
                method: "Draw",
                key: k,
                fingerprint: vec![0; 32],
            };
            store
                .draw(&cmd, &SystemClock, &idem, |_| Vec::new())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
    })
    .await;
    Ok(stats)
}

/// A merchant of the bench's own, so any database will do; its admin key.
async fn bench_merchant<D: Db>(db: D) -> anyhow::Result<String> {
    let (_, key) = Store::new(db)
        .create_merchant("bench", SystemClock.now_ms())
        .await?;
    Ok(key.full)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir =
        std::env::temp_dir().join(format!("campaign-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let url = args
        .first()
        .cloned()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("sqlite:{}", dir.join("bench.db").display()));
    let in_flight: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(64);
    let secs: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
    println!(
        "database {}  in flight {in_flight}  {secs} s per run",
        campaign::config::redact_url(&url)
    );

    // A merchant of its own, so the bench runs on any database, new or not.
    let admin_key = if url.starts_with("sqlite:") {
        bench_merchant(SqliteDb::connect(&url).await?).await?
    } else {
        bench_merchant(PgDb::connect(&url, 2).await?).await?
    };
    let (channel, stop, server) = start_engine(&url, &dir).await?;
    let mut admin = AdminServiceClient::new(channel.clone());
    let secret = vec![3u8; 32];
    let issuer = format!("bench-{}", uuid::Uuid::new_v4());
    admin
        .set_player_token_key(with(
            &admin_key,
            pb::SetPlayerTokenKeyRequest {
                idempotency_key: key(),
                issuer: issuer.clone(),
                secret: secret.clone(),
                key_id: String::new(),
            },
        ))
        .await?;
    let now = SystemClock.now_ms();
    let grpc_campaign = new_wheel(&mut admin, &admin_key, now).await?;
    let direct_campaign = new_wheel(&mut admin, &admin_key, now).await?;

    let per_player: u64 = std::env::var("BENCH_DRAWS_PER_PLAYER")
        .ok()
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(5000)
        .max(1);
    let size_before = bytes::measure(&url).await?;
    let run = Run {
        in_flight,
        secs,
        per_player,
    };
    let grpc = over_grpc(&channel, &grpc_campaign, run, signer(secret, issuer, now)).await;

    let size_after = bytes::measure(&url).await?;

    // Baseline: the same transaction straight on the store, no gRPC.
    let campaign_uuid = uuid::Uuid::parse_str(&direct_campaign)?;
    let base = baseline(&url, campaign_uuid, run).await?;

    grpc.print("engine over gRPC");
    base.print("baseline: store, no gRPC");
    println!(
        "ratio gRPC / direct: {:.2}",
        grpc.ok as f64 / grpc.secs / (base.ok as f64 / base.secs)
    );

    // Invariant: won + remaining == initial on both wheels.
    for id in [&grpc_campaign, &direct_campaign] {
        check_stock(&mut admin, &admin_key, id).await?;
    }
    println!("invariant won + remaining == initial: ok");
    bytes::report(&size_before, &size_after, grpc.ok, per_player);
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The shape of a measured run: calls in flight, seconds, and draws per
/// player before the next takes over.
#[derive(Clone, Copy)]
struct Run {
    in_flight: usize,
    secs: u64,
    per_player: u64,
}

/// The engine started in-process on a free port (no player rate limit),
/// a channel to it, the sender that stops it and its task.
async fn start_engine(
    url: &str,
    dir: &std::path::Path,
) -> anyhow::Result<(
    Channel,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), campaign::ServerError>>,
)> {
    let settings = Settings {
        database_url: url.to_owned(),
        bootstrap_key_file: dir.join("admin.key"),
        // The load generator is one client hammering on purpose.
        player_rate_per_sec: 0,
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(campaign::run(
        settings,
        listener,
        async {
            let _ = stopped.await;
        },
        Arc::new(SystemClock),
    ));
    let mut channel = None;
    for _ in 0..100 {
        if let Ok(c) = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await
        {
            channel = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let channel = channel.context("engine did not start")?;
    Ok((channel, stop, server))
}

/// Signs the token of a player (`sub`) with the bench's key. A player per
/// (task, generation of `per_player` draws); its token is signed at its
/// first draw (an HMAC: microseconds against a draw).
fn signer(
    secret: Vec<u8>,
    issuer: String,
    now: i64,
) -> impl Fn(String) -> String + Clone + Send + Sync + 'static {
    move |sub: String| {
        let s = now / 1000;
        sign_player_token(
            &secret,
            &PlayerClaims {
                iss: issuer.clone(),
                aud: "campaign-engine".into(),
                sub,
                iat: s,
                exp: s + 3000,
            },
        )
    }
}

/// Draws on wheel `id` through the engine's gRPC API.
async fn over_grpc(
    channel: &Channel,
    id: &str,
    run: Run,
    sign: impl Fn(String) -> String + Clone + Send + Sync + 'static,
) -> Stats {
    let (channel, id) = (channel.clone(), id.to_owned());
    let per_player = run.per_player;
    closed_loop(run.in_flight, run.secs, move |t, n| {
        let (mut client, id) = (PlayerServiceClient::new(channel.clone()), id.clone());
        let tok = sign(format!("grpc-{t}-{}", n / per_player));
        async move {
            client
                .draw(with(
                    &tok,
                    pb::DrawRequest {
                        idempotency_key: key(),
                        campaign_id: id,
                        channel: String::new(),
                        store_id: String::new(),
                    },
                ))
                .await
                .map(drop)
                .map_err(|s| format!("{:?}: {}", s.code(), s.message()))
        }
    })
    .await
}

/// [`direct`] on a store of its own over `url`.
async fn baseline(url: &str, campaign: uuid::Uuid, run: Run) -> anyhow::Result<Stats> {
    let Run {
        in_flight,
        secs,
        per_player,
    } = run;
    if url.starts_with("sqlite:") {
        direct(
            Store::new(SqliteDb::connect(url).await?),
            campaign,
            in_flight,
            secs,
            per_player,
        )
        .await
    } else {
        direct(
            Store::new(PgDb::connect(url, 16).await?),
            campaign,
            in_flight,
            secs,
            per_player,
        )
        .await
    }
}

/// Checks won + remaining == initial stock on every slot of wheel `id`.
async fn check_stock(
    admin: &mut AdminServiceClient<Channel>,
    admin_key: &str,
    id: &str,
) -> anyhow::Result<()> {
    let c = admin
        .get_campaign(with(
            admin_key,
            pb::GetCampaignRequest {
                campaign_id: id.to_owned(),
            },
        ))
        .await?
        .into_inner();
    for s in &c.slots {
        let stock = s.spec.as_ref().map_or(0, |x| x.stock);
        anyhow::ensure!(
            s.won + s.remaining == stock,
            "slot {} of {id}: won {} + remaining {} != {stock}",
            s.index,
            s.won,
            s.remaining
        );
    }
    Ok(())
}
