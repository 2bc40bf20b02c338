//! `loadgen --webhook`: what events and webhooks (issue 25) cost the draw
//! path, and how fast the engine delivers, against the engine binary and a
//! receiver in this process ([`receiver`]). The issue asks two things:
//!
//! 1. **Draw loss.** Subscribing an endpoint must cost under 15% of the
//!    draw rate. On this 2-core machine the rate moves 2-3x within an
//!    hour, so only a same-run ratio means anything: for each in-flight
//!    count, `--webhook-pairs` interleaved pairs of draw-hot windows, one
//!    with no endpoint and one with an endpoint subscribed to every event
//!    (`*`), the order alternating from pair to pair (ABBA) so a drift
//!    does not favour one side. Every draw of draw-hot wins (one POINTS
//!    prize, THANKS at weight 0), so every draw emits a `draw.won.v1`:
//!    the worst case. "With" creates a fresh endpoint before its warm-up,
//!    waits after the window until the receiver has every event of the
//!    window (the drain: how far delivery fell behind) and deletes it,
//!    which also drops anything left, so the next "without" window
//!    carries no delivery work. The receiver runs on the same 2 cores:
//!    its CPU is part of the "with" cost, as a merchant's receiver is not;
//!    that makes the loss an upper bound.
//! 2. **Delivery throughput** (at least 2,000 events/s to one fast local
//!    receiver). An endpoint receives only the events numbered while it
//!    is enabled (docs/events.md), so a backlog cannot be made while it is
//!    disabled: the bench creates it enabled with the receiver holding its
//!    requests (answered after at most 8 s, under the engine's timeout,
//!    so none is retried), makes `--webhook-backlog` won draws, waits
//!    until every one is queued (`ListWebhookEndpoints`: pending +
//!    delivered), then releases the receiver and times until it has seen
//!    every event id: events/s, and the engine's CPU per delivery.

mod receiver;

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use engine_proto::campaign::v1::{
    self as pb, webhook_admin_service_client::WebhookAdminServiceClient,
};
use serde_json::json;
use tonic::transport::Channel;

use crate::{
    args::Opts,
    engine::{TICKS_PER_SEC, cpu_ticks},
    harness::{LoopResult, Spec, Step, Worker, closed_loop, error_summary},
    setup::{Admin, CheckDb, Players, WheelShape, key, with},
    workloads::GrpcDraw,
};
use receiver::Receiver;

/// The endpoints' signing secret (the receiver checks it): a fixed one of
/// the bench's own, 24..256 printable characters.
const SECRET: &str = "whsec_loadgen_webhook_bench_0001";
/// The longest the bench waits for deliveries to arrive.
const DRAIN_MAX: Duration = Duration::from_secs(300);
/// Issue 25's targets.
const MAX_LOSS: f64 = 0.15;
const MIN_EVENTS_PER_SEC: f64 = 2_000.0;

/// What the bench works with, borrowed from the run.
pub struct Bench<'a> {
    pub opts: &'a Opts,
    pub admin: &'a Admin,
    pub players: &'a Players,
    pub channels: &'a [Channel],
    pub pid: u32,
    pub check: &'a CheckDb,
}

/// One measured window of draws.
struct Window {
    pair: usize,
    with: bool,
    ok_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    errors: String,
    /// Share of the draws answered with a prize (each emits an event).
    win_share: f64,
    server_us_per_draw: Option<f64>,
    /// This process's CPU per draw: the load, and with an endpoint the
    /// receiver too.
    client_us_per_draw: Option<f64>,
    /// With an endpoint: events it got, of how many, the lag percentiles
    /// (ms from the event's time to its arrival) and how long after the
    /// window the last one arrived.
    delivery: Option<Delivery>,
}

struct Delivery {
    expected: u64,
    received: u64,
    lag_p50_ms: u64,
    lag_p99_ms: u64,
    drain_s: f64,
}

/// The windows at one in-flight count, and their medians.
struct Pairs {
    in_flight: usize,
    windows: Vec<Window>,
}

struct Backlog {
    events: u64,
    /// Seconds to make them (draws), then until all were queued.
    made_s: f64,
    queued_s: f64,
    /// Delivered before the release (the held first requests).
    before_release: u64,
    deliver_s: f64,
    received: u64,
    requests: u64,
    server_us_per_event: Option<f64>,
}

impl Backlog {
    fn per_sec(&self) -> f64 {
        let n = self.received.saturating_sub(self.before_release) as f64;
        if self.deliver_s > 0.0 {
            n / self.deliver_s
        } else {
            0.0
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

impl Pairs {
    fn side(&self, with: bool) -> impl Iterator<Item = &Window> {
        self.windows.iter().filter(move |w| w.with == with)
    }
    fn median_of(&self, with: bool, f: impl Fn(&Window) -> f64) -> f64 {
        median(self.side(with).map(f).collect())
    }
    /// with / without of each pair.
    fn pair_ratios(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for w in self.side(true) {
            if let Some(o) = self.side(false).find(|o| o.pair == w.pair)
                && o.ok_per_sec > 0.0
            {
                out.push(w.ok_per_sec / o.ok_per_sec);
            }
        }
        out
    }
    fn ratio(&self) -> f64 {
        let without = self.median_of(false, |w| w.ok_per_sec);
        if without > 0.0 {
            self.median_of(true, |w| w.ok_per_sec) / without
        } else {
            0.0
        }
    }
}

/// Draws until a shared number of them is spent (the backlog).
struct Budgeted {
    draw: GrpcDraw,
    left: Arc<AtomicI64>,
}

impl Worker for Budgeted {
    async fn call(&mut self, seq: u64) -> Step {
        if self.left.fetch_sub(1, Ordering::Relaxed) <= 0 {
            return Step::Stop;
        }
        self.draw.call(seq).await
    }
}

/// The webhook admin calls the bench makes.
struct Hooks {
    client: WebhookAdminServiceClient<Channel>,
    key: String,
    /// Calls answered UNAVAILABLE and retried.
    retries: u64,
    /// The endpoints made and not deleted yet.
    live: Vec<String>,
}

impl Hooks {
    /// An endpoint at `url` for every event type: its id.
    async fn create(&mut self, url: String) -> anyhow::Result<String> {
        let r = self
            .client
            .create_webhook_endpoint(with(
                &self.key,
                pb::CreateWebhookEndpointRequest {
                    idempotency_key: key(),
                    url,
                    description: "loadgen --webhook".into(),
                    event_types: vec!["*".into()],
                    secret: SECRET.into(),
                },
            ))
            .await
            .context("CreateWebhookEndpoint")?
            .into_inner();
        let id = r
            .endpoint
            .map(|e| e.endpoint_id)
            .context("CreateWebhookEndpoint answered no endpoint")?;
        self.live.push(id.clone());
        Ok(id)
    }

    /// Deletes `id`. UNAVAILABLE (the engine's answer to a database
    /// deadlock or timeout, e.g. against the worker recording a batch on
    /// PostgreSQL) is retried with the same idempotency key, as it asks.
    async fn delete(&mut self, id: &str) -> anyhow::Result<()> {
        let idempotency_key = key();
        let mut tries = 0;
        loop {
            let r = self
                .client
                .delete_webhook_endpoint(with(
                    &self.key,
                    pb::DeleteWebhookEndpointRequest {
                        idempotency_key: idempotency_key.clone(),
                        endpoint_id: id.into(),
                    },
                ))
                .await;
            match r {
                Ok(_) => {
                    self.live.retain(|l| l != id);
                    return Ok(());
                }
                Err(s) if s.code() == tonic::Code::Unavailable && tries < 10 => {
                    tries += 1;
                    eprintln!("  DeleteWebhookEndpoint: {} (retry {tries})", s.message());
                    self.retries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(s) => return Err(s).context("DeleteWebhookEndpoint"),
            }
        }
    }

    /// Deliveries queued for `id` so far: pending + delivered + failed.
    async fn queued(&mut self, id: &str) -> anyhow::Result<u64> {
        let r = self
            .client
            .list_webhook_endpoints(with(&self.key, pb::ListWebhookEndpointsRequest {}))
            .await
            .context("ListWebhookEndpoints")?
            .into_inner();
        let e = r
            .endpoints
            .iter()
            .find(|e| e.endpoint_id == id)
            .with_context(|| format!("endpoint {id} is not listed"))?;
        Ok(e.pending + e.delivered + e.failed)
    }
}

/// Polls `done` every few ms until it holds or `max` passes: how long it
/// took, `None` if it never held.
async fn wait_until(max: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < max {
        if done() {
            return Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

impl Bench<'_> {
    fn hooks(&self) -> Hooks {
        Hooks {
            client: WebhookAdminServiceClient::new(self.admin.ch.clone()),
            key: self.admin.key.clone(),
            retries: 0,
            live: Vec::new(),
        }
    }

    fn workers(&self, campaign: &str, tokens: &[Vec<String>]) -> Vec<GrpcDraw> {
        let conns = self.opts.connections[0].clamp(1, self.channels.len());
        tokens
            .iter()
            .enumerate()
            .map(|(t, toks)| {
                GrpcDraw::new(
                    self.channels[t % conns].clone(),
                    toks.clone(),
                    campaign.to_owned(),
                )
            })
            .collect()
    }

    /// Runs the benchmark, prints its tables and writes `--json`;
    /// `Ok(false)`: an event went missing or a signature failed.
    pub async fn run(self, backend: &str, url: &str, cpus: usize) -> anyhow::Result<bool> {
        let rx = Receiver::start(SECRET)
            .await
            .context("starting the webhook receiver")?;
        eprintln!("webhook receiver on {}", rx.addr);
        let campaign = self
            .admin
            .wheel("webhook draw-hot", &WheelShape::hot())
            .await?;
        let mut failures = Vec::new();
        let mut hooks = self.hooks();
        let measured = self
            .measure(&rx, &campaign, &mut hooks, &mut failures)
            .await;
        let (sizes, backlog) = match measured {
            Ok(m) => m,
            Err(e) => {
                // A kept database (PostgreSQL) would keep an enabled
                // endpoint pointing at this receiver, and every later
                // engine on it would retry its deliveries: remove it.
                for id in hooks.live.clone() {
                    if let Err(d) = hooks.delete(&id).await {
                        eprintln!("  could not delete webhook endpoint {id}: {d:#}");
                    }
                }
                return Err(e);
            }
        };
        let mut notes = Vec::new();
        if hooks.retries > 0 {
            notes.push(format!(
                "DeleteWebhookEndpoint answered UNAVAILABLE {} times (retried with the \
                 same key; see the engine log for the database's reason)",
                hooks.retries
            ));
        }
        if rx.bad_signatures() > 0 {
            failures.push(format!(
                "{} requests failed the signature check",
                rx.bad_signatures()
            ));
        }
        report(self.opts, backend, &sizes, &backlog, &failures, &notes);
        if let Some(path) = &self.opts.json {
            let doc = json!({
                "date": crate::utc_now(), "commit": crate::commit(), "cpus": cpus,
                "backend": backend, "database": campaign::config::redact_url(url),
                "warmup_s": self.opts.warmup.as_secs_f64(),
                "window_s": self.opts.seconds.as_secs_f64(),
                "client_threads": self.opts.client_threads,
                "webhook": to_json(&sizes, &backlog, &failures, &notes),
            });
            std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(failures.is_empty())
    }

    /// Every in-flight count's pairs, then the backlog.
    async fn measure(
        &self,
        rx: &Receiver,
        campaign: &str,
        hooks: &mut Hooks,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<(Vec<Pairs>, Backlog)> {
        let mut sizes = Vec::new();
        for (i, &n) in self.opts.in_flight.iter().enumerate() {
            sizes.push(self.pairs(rx, campaign, hooks, i, n, failures).await?);
        }
        let backlog = self.backlog(rx, campaign, hooks, failures).await?;
        Ok((sizes, backlog))
    }

    /// The interleaved pairs at `n` in flight.
    async fn pairs(
        &self,
        rx: &Receiver,
        campaign: &str,
        hooks: &mut Hooks,
        size_no: usize,
        n: usize,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<Pairs> {
        let tokens: Vec<Vec<String>> = self
            .players
            .pools(&format!("wh{size_no}"), n, self.opts.players_per_task)
            .into_iter()
            .map(|pool| pool.into_iter().map(|(tok, _)| tok).collect())
            .collect();
        let spec = Spec {
            warmup: self.opts.warmup,
            window: self.opts.seconds,
            until_done: false,
        };
        let mut windows = Vec::new();
        for pair in 0..self.opts.webhook_pairs {
            let order = if pair % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for with in order {
                eprintln!(
                    "draw-hot · {n} in flight · pair {} · {}",
                    pair + 1,
                    if with {
                        "with an endpoint"
                    } else {
                        "no endpoint"
                    }
                );
                // The last window's events are numbered (the sequencer
                // polls every 25 ms) before an endpoint may see them.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let path = format!("/hooks/{n}/{pair}");
                let endpoint = if with {
                    Some(hooks.create(rx.url(&path)).await?)
                } else {
                    None
                };
                self.check.settle().await;
                let (r, ws) =
                    closed_loop(self.workers(campaign, &tokens), spec, Some(self.pid)).await?;
                let ended = Instant::now();
                let (wins, falls) = ws
                    .iter()
                    .map(GrpcDraw::outcomes)
                    .fold((0, 0), |a, o| (a.0 + o.0, a.1 + o.1));
                let delivery = match &endpoint {
                    Some(id) => {
                        let got = wait_until(DRAIN_MAX, || rx.seen(&path).1 >= wins).await;
                        let (hist, last) = rx.lag(&path).unzip();
                        let received = rx.seen(&path).1;
                        if got.is_none() {
                            failures.push(format!(
                                "{n} in flight, pair {}: the receiver got {received} of \
                                 {wins} events within {} s",
                                pair + 1,
                                DRAIN_MAX.as_secs()
                            ));
                        }
                        hooks.delete(id).await?;
                        let q = |q: f64| {
                            hist.as_ref()
                                .filter(|h| !h.is_empty())
                                .map_or(0, |h| h.value_at_quantile(q))
                        };
                        Some(Delivery {
                            expected: wins,
                            received,
                            lag_p50_ms: q(0.50),
                            lag_p99_ms: q(0.99),
                            drain_s: last
                                .flatten()
                                .map_or(0.0, |l| l.saturating_duration_since(ended).as_secs_f64()),
                        })
                    }
                    None => None,
                };
                windows.push(window(pair, with, &r, wins, falls, delivery));
            }
        }
        Ok(Pairs {
            in_flight: n,
            windows,
        })
    }

    /// The backlog's delivery, at the largest in-flight count.
    async fn backlog(
        &self,
        rx: &Receiver,
        campaign: &str,
        hooks: &mut Hooks,
        failures: &mut Vec<String>,
    ) -> anyhow::Result<Backlog> {
        let n = self.opts.in_flight.iter().copied().max().unwrap_or(64);
        let events = self.opts.webhook_backlog;
        eprintln!("backlog · {events} won draws at {n} in flight, receiver holding");
        let tokens: Vec<Vec<String>> = self
            .players
            .pools("whb", n, self.opts.players_per_task)
            .into_iter()
            .map(|pool| pool.into_iter().map(|(tok, _)| tok).collect())
            .collect();
        let path = "/hooks/backlog";
        tokio::time::sleep(Duration::from_millis(300)).await;
        rx.hold(path);
        let id = hooks.create(rx.url(path)).await?;
        self.check.settle().await;
        let left = Arc::new(AtomicI64::new(i64::try_from(events)?));
        let workers: Vec<Budgeted> = self
            .workers(campaign, &tokens)
            .into_iter()
            .map(|draw| Budgeted {
                draw,
                left: left.clone(),
            })
            .collect();
        let spec = Spec {
            warmup: Duration::ZERO,
            window: Duration::from_secs(600),
            until_done: true,
        };
        let (r, ws) = closed_loop(workers, spec, None).await?;
        let wins: u64 = ws.iter().map(|w| w.draw.outcomes().0).sum();
        if r.timed_out {
            bail!("the backlog's {events} draws took over 600 s");
        }
        eprintln!(
            "  {wins} won in {:.1} s ({:.0}/s); waiting until all are queued",
            r.secs,
            r.all_ok as f64 / r.secs.max(1e-9)
        );
        let t0 = Instant::now();
        let mut queued = 0;
        while queued < wins && t0.elapsed() < DRAIN_MAX {
            queued = hooks.queued(&id).await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let queued_s = t0.elapsed().as_secs_f64();
        if queued < wins {
            failures.push(format!(
                "backlog: {queued} of {wins} deliveries queued after {queued_s:.0} s"
            ));
        }
        let before_release = rx.seen(path).1;
        let ticks = cpu_ticks(&self.pid.to_string());
        let start = Instant::now();
        rx.release();
        let done = wait_until(DRAIN_MAX, || rx.seen(path).1 >= wins).await;
        let deliver_s = done.unwrap_or_else(|| start.elapsed()).as_secs_f64();
        let (requests, received) = rx.seen(path);
        let spent = cpu_ticks(&self.pid.to_string())
            .zip(ticks)
            .map(|(e, s)| e.saturating_sub(s));
        if done.is_none() {
            failures.push(format!(
                "backlog: the receiver got {received} of {wins} events within {} s",
                DRAIN_MAX.as_secs()
            ));
        }
        hooks.delete(&id).await?;
        let delivered = received.saturating_sub(before_release);
        Ok(Backlog {
            events: wins,
            made_s: r.secs,
            queued_s,
            before_release,
            deliver_s,
            received,
            requests,
            server_us_per_event: spent
                .filter(|_| delivered > 0 && deliver_s >= 0.5)
                .map(|t| t as f64 / TICKS_PER_SEC * 1e6 / delivered as f64),
        })
    }
}

fn window(
    pair: usize,
    with: bool,
    r: &LoopResult,
    wins: u64,
    falls: u64,
    delivery: Option<Delivery>,
) -> Window {
    let calls = r.calls();
    Window {
        pair,
        with,
        ok_per_sec: r.ok_per_sec(),
        p50_us: r.q(0.50),
        p99_us: r.q(0.99),
        errors: error_summary(&r.errors),
        win_share: if wins + falls > 0 {
            wins as f64 / (wins + falls) as f64
        } else {
            0.0
        },
        server_us_per_draw: r
            .server_ticks
            .filter(|_| calls > 0 && r.secs >= 0.5)
            .map(|t| t as f64 / TICKS_PER_SEC * 1e6 / calls as f64),
        client_us_per_draw: r
            .client_ticks
            .filter(|_| calls > 0 && r.secs >= 0.5)
            .map(|t| t as f64 / TICKS_PER_SEC * 1e6 / calls as f64),
        delivery,
    }
}

fn ms(us: f64) -> String {
    format!("{:.1}", us / 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The windows, the summary per in-flight count, and the backlog.
fn report(
    opts: &Opts,
    backend: &str,
    sizes: &[Pairs],
    b: &Backlog,
    failures: &[String],
    notes: &[String],
) {
    println!(
        "Webhook bench ({backend}): draw-hot (every draw wins: one `draw.won.v1` each), \
         {} pairs of windows per in-flight count, endpoint subscribed to `*`, \
         receiver in-process (HTTP/1, signature checked, answers 200 at once)",
        opts.webhook_pairs
    );
    println!();
    println!(
        "| in flight | pair | endpoint | draws/s | p50 ms | p99 ms | errors | won % | \
         server CPU µs/draw | client CPU µs/draw | events got / sent | lag p50 ms | lag p99 ms | drain after window s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in sizes {
        for w in &s.windows {
            let (got, lag50, lag99, drain) = match &w.delivery {
                Some(d) => (
                    format!("{} / {}", d.received, d.expected),
                    d.lag_p50_ms.to_string(),
                    d.lag_p99_ms.to_string(),
                    format!("{:.2}", d.drain_s),
                ),
                None => ("-".into(), "-".into(), "-".into(), "-".into()),
            };
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} | {} | {} | {got} | {lag50} | {lag99} | {drain} |",
                s.in_flight,
                w.pair + 1,
                if w.with { "with" } else { "none" },
                w.ok_per_sec,
                ms(w.p50_us as f64),
                ms(w.p99_us as f64),
                w.errors,
                w.win_share * 100.0,
                w.server_us_per_draw
                    .map_or("-".into(), |v| format!("{v:.1}")),
                w.client_us_per_draw
                    .map_or("-".into(), |v| format!("{v:.1}")),
            );
        }
    }
    println!();
    println!(
        "| in flight | draws/s none (median) | draws/s with | with / none | loss % | \
         pair ratios | p99 ms none | p99 ms with | lag p99 ms (median) | loss < 15% |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for s in sizes {
        let ratio = s.ratio();
        let pairs: Vec<String> = s.pair_ratios().iter().map(|r| format!("{r:.2}")).collect();
        let lag = median(
            s.side(true)
                .filter_map(|w| w.delivery.as_ref().map(|d| d.lag_p99_ms as f64))
                .collect(),
        );
        println!(
            "| {} | {:.0} | {:.0} | {ratio:.3} | {:.1} | {} | {} | {} | {lag:.0} | {} |",
            s.in_flight,
            s.median_of(false, |w| w.ok_per_sec),
            s.median_of(true, |w| w.ok_per_sec),
            (1.0 - ratio) * 100.0,
            pairs.join(" "),
            ms(s.median_of(false, |w| w.p99_us as f64)),
            ms(s.median_of(true, |w| w.p99_us as f64)),
            verdict(1.0 - ratio < MAX_LOSS),
        );
    }
    println!();
    println!(
        "Backlog: {} events made in {:.1} s, all queued {:.2} s after the last draw; \
         {} delivered while the receiver held; the rest delivered in {:.2} s: \
         **{:.0} events/s** ({} requests for {} ids; engine CPU {} µs/event) · \
         ≥ 2,000 events/s: {}",
        b.events,
        b.made_s,
        b.queued_s,
        b.before_release,
        b.deliver_s,
        b.per_sec(),
        b.requests,
        b.received,
        b.server_us_per_event
            .map_or("-".into(), |v| format!("{v:.0}")),
        verdict(b.per_sec() >= MIN_EVENTS_PER_SEC),
    );
    println!();
    if failures.is_empty() {
        println!("- every event arrived, every signature held");
    }
    for f in failures {
        println!("- FAILED: {f}");
    }
    for n in notes {
        println!("- {n}");
    }
}

fn to_json(
    sizes: &[Pairs],
    b: &Backlog,
    failures: &[String],
    notes: &[String],
) -> serde_json::Value {
    let sizes: Vec<serde_json::Value> = sizes
        .iter()
        .map(|s| {
            let windows: Vec<serde_json::Value> = s
                .windows
                .iter()
                .map(|w| {
                    json!({
                        "pair": w.pair + 1, "endpoint": w.with, "draws_per_sec": w.ok_per_sec,
                        "p50_us": w.p50_us, "p99_us": w.p99_us, "errors": w.errors,
                        "win_share": w.win_share, "server_cpu_us_per_draw": w.server_us_per_draw,
                        "client_cpu_us_per_draw": w.client_us_per_draw,
                        "delivery": w.delivery.as_ref().map(|d| json!({
                            "expected": d.expected, "received": d.received,
                            "lag_p50_ms": d.lag_p50_ms, "lag_p99_ms": d.lag_p99_ms,
                            "drain_s": d.drain_s,
                        })),
                    })
                })
                .collect();
            let ratio = s.ratio();
            json!({
                "in_flight": s.in_flight,
                "median_draws_per_sec_without": s.median_of(false, |w| w.ok_per_sec),
                "median_draws_per_sec_with": s.median_of(true, |w| w.ok_per_sec),
                "median_p99_us_without": s.median_of(false, |w| w.p99_us as f64),
                "median_p99_us_with": s.median_of(true, |w| w.p99_us as f64),
                "ratio_with_without": ratio, "loss": 1.0 - ratio,
                "pair_ratios": s.pair_ratios(), "loss_target_met": 1.0 - ratio < MAX_LOSS,
                "windows": windows,
            })
        })
        .collect();
    json!({
        "draw_loss": sizes,
        "backlog": {
            "events": b.events, "made_s": b.made_s, "queued_s": b.queued_s,
            "delivered_before_release": b.before_release, "deliver_s": b.deliver_s,
            "received": b.received, "requests": b.requests,
            "events_per_sec": b.per_sec(), "server_cpu_us_per_event": b.server_us_per_event,
            "target_met": b.per_sec() >= MIN_EVENTS_PER_SEC,
        },
        "failures": failures, "notes": notes,
    })
}
