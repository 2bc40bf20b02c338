//! The workloads: for each, the gRPC worker, the baseline worker (the same
//! store transaction called in-process, no gRPC) and the invariants
//! checked after every run.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use campaign::{
    clock::SystemClock,
    domain::{
        idempotency::{Idempotency, IdempotencyKey},
        wheel::FallbackReason,
    },
    store::{Outcome, Store, db::Db, wheel::DrawCommand},
};
use coupon::{
    domain::{CouponRejection, Refusal, code::CouponCode, template::Order, vault::CodeVault},
    store::{CouponError, CouponStore, RedeemCommand},
};
use engine_proto::{
    campaign::v1::{
        self as pb, player_service_client::PlayerServiceClient,
        red_packet_service_client::RedPacketServiceClient, vote_service_client::VoteServiceClient,
    },
    coupon::v1::{self as cpb, coupon_pos_service_client::CouponPosServiceClient},
};
use tonic::{Code, transport::Channel};
use uuid::Uuid;

use crate::{
    args::{Opts, Workload},
    engine::{memory_kb, reset_peak},
    harness::{LoopResult, Spec, Step, Worker, closed_loop},
    setup::{Admin, CheckDb, DirectDb, Players, WheelShape, key, now_ms, with},
};

/// Dispatches generic code over the backend the baseline opened.
macro_rules! on_db {
    ($db:expr, $d:ident => $e:expr) => {
        match $db {
            DirectDb::Sqlite($d) => $e,
            DirectDb::Pg($d) => $e,
        }
    };
}

/// "Rejected(NoChancesToday)" -> "Rejected:NoChancesToday": a short,
/// stable label from an error's Debug form.
fn label(e: &impl std::fmt::Debug) -> String {
    let d = format!("{e:?}");
    let head: String = d
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '(' || *c == '_')
        .collect();
    head.trim_end_matches('(').replace('(', ":")
}

fn idem(scope: String, method: &'static str) -> Result<Idempotency, Step> {
    let k = IdempotencyKey::parse(&key()).map_err(|_| Step::failed("bad key"))?;
    Ok(Idempotency {
        scope,
        method,
        key: k,
        fingerprint: vec![0; 32],
    })
}

/// One run of one workload: the gRPC measurement, the baseline, what the
/// checks found.
pub struct RunReport {
    pub workload: Workload,
    pub in_flight: usize,
    pub conns: usize,
    pub grpc: LoopResult,
    /// Server (VmHWM, VmRSS) kB after the gRPC run; the peak was reset
    /// before it when `peak_reset`.
    pub mem: Option<(u64, u64)>,
    pub peak_reset: bool,
    pub baseline: Option<LoopResult>,
    pub notes: Vec<String>,
    pub failures: Vec<String>,
}

struct Coupons {
    template: String,
    /// (credential, key id, store id) of each till.
    tills: Vec<(String, String, String)>,
    unused: Vec<String>,
    issued: usize,
    /// Redemptions answered OK so far (gRPC and baseline), and calls whose
    /// outcome the caller could not know.
    ok: u64,
    ambiguous: u64,
}

/// Codes handed out once each, across all tasks of a run.
pub struct CodePool {
    codes: Vec<String>,
    next: AtomicUsize,
}

impl CodePool {
    fn next(&self) -> Option<String> {
        self.codes
            .get(self.next.fetch_add(1, Ordering::Relaxed))
            .cloned()
    }
    fn rest(self) -> Vec<String> {
        let n = self.next.into_inner().min(self.codes.len());
        let mut codes = self.codes;
        codes.drain(..n);
        codes
    }
}

pub struct Bench {
    pub opts: Opts,
    pub admin: Admin,
    pub merchant: String,
    pub players: Players,
    pub channels: Vec<Channel>,
    pub pid: u32,
    pub direct: Option<DirectDb>,
    pub check: CheckDb,
    /// The engine's code vault, for the baseline's coupon store.
    vault: Arc<CodeVault>,
    coupons: Option<Coupons>,
    run_no: u64,
}

fn fail(failures: &mut Vec<String>, ok: bool, msg: impl FnOnce() -> String) {
    if !ok {
        failures.push(msg());
    }
}

impl Bench {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        opts: Opts,
        admin: Admin,
        merchant: String,
        players: Players,
        channels: Vec<Channel>,
        pid: u32,
        direct: Option<DirectDb>,
        check: CheckDb,
        seal_key: campaign::domain::seal::SealKey,
    ) -> Self {
        Self {
            vault: Arc::new(CodeVault::new(Arc::new(seal_key))),
            opts,
            admin,
            merchant,
            players,
            channels,
            pid,
            direct,
            check,
            coupons: None,
            run_no: 0,
        }
    }

    /// Points the bench at a restarted engine.
    pub fn attach(&mut self, admin: Admin, channels: Vec<Channel>, pid: u32) {
        self.admin = admin;
        self.channels = channels;
        self.pid = pid;
    }

    fn spec(&self) -> Spec {
        Spec {
            warmup: self.opts.warmup,
            window: self.opts.seconds,
            until_done: false,
        }
    }

    fn channel(&self, task: usize, conns: usize) -> Channel {
        self.channels[task % conns.clamp(1, self.channels.len())].clone()
    }

    /// One run: gRPC over `conns` connections, then (when `baseline`) the
    /// same transactions in-process on the same database, the engine idle.
    pub async fn run(
        &mut self,
        w: Workload,
        in_flight: usize,
        conns: usize,
        baseline: bool,
    ) -> anyhow::Result<RunReport> {
        self.run_no += 1;
        let baseline = baseline && self.direct.is_some();
        let peak_reset = reset_peak(self.pid);
        let mut rep = RunReport {
            workload: w,
            in_flight,
            conns,
            grpc: LoopResult::empty()?,
            mem: None,
            peak_reset,
            baseline: None,
            notes: Vec::new(),
            failures: Vec::new(),
        };
        match w {
            Workload::DrawHot | Workload::DrawSpread | Workload::DrawRace => {
                self.draws(&mut rep, baseline).await?
            }
            Workload::Redeem => self.redeem(&mut rep, baseline).await?,
            Workload::Grab => self.grab(&mut rep, baseline).await?,
            Workload::Vote => self.vote(&mut rep, baseline).await?,
        }
        let early = |what: &str, r: &LoopResult| {
            r.ended_early.then(|| {
                format!(
                    "{} {what}: every task stopped before the window was over \
                     (measured {:.2} s); for redeem, raise --coupons",
                    w.name(),
                    r.secs
                )
            })
        };
        let notes: Vec<String> = early("gRPC", &rep.grpc)
            .into_iter()
            .chain(rep.baseline.as_ref().and_then(|b| early("baseline", b)))
            .collect();
        rep.notes.extend(notes);
        Ok(rep)
    }

    /// Records the server's memory right after the gRPC measurement.
    fn sample_memory(&self, rep: &mut RunReport) {
        rep.mem = memory_kb(self.pid);
    }

    // ---------------------------------------------------------------- draws

    async fn draws(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let w = rep.workload;
        let race = w == Workload::DrawRace;
        let shape = match w {
            Workload::DrawHot => WheelShape::hot(),
            Workload::DrawSpread => WheelShape::spread(),
            _ => WheelShape::race(self.opts.race_stock),
        };
        let spec = if race {
            Spec {
                warmup: Duration::ZERO,
                window: self.opts.seconds.max(Duration::from_secs(120)),
                until_done: true,
            }
        } else {
            self.spec()
        };
        let per_task = self.opts.players_per_task;
        let (in_flight, conns) = (rep.in_flight, rep.conns);

        let id = self
            .admin
            .wheel(&format!("{} grpc", w.name()), &shape)
            .await?;
        let pools = self
            .players
            .pools(&format!("r{}g", self.run_no), in_flight, per_task);
        let workers: Vec<GrpcDraw> = pools
            .into_iter()
            .enumerate()
            .map(|(t, pool)| GrpcDraw {
                client: PlayerServiceClient::new(self.channel(t, conns)),
                tokens: pool.into_iter().map(|(tok, _)| tok).collect(),
                campaign: id.clone(),
                race,
                wins: 0,
                fallbacks: 0,
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, spec, Some(self.pid)).await?;
        self.sample_memory(rep);
        let wins = ws.iter().map(|w| w.wins).sum::<u64>();
        let falls = ws.iter().map(|w| w.fallbacks).sum::<u64>();
        self.check_wheel("gRPC", &id, &shape, wins, &r, race, rep)
            .await?;
        if race {
            rep.notes.push(format!(
                "draw-race gRPC: {} draws ({wins} won, {falls} fallbacks) for a stock of {} in {:.3} s",
                r.all_ok,
                self.opts.race_stock,
                r.secs
            ));
        }
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let id = self
                .admin
                .wheel(&format!("{} baseline", w.name()), &shape)
                .await?;
            let campaign = Uuid::parse_str(&id).context("campaign id")?;
            let players: Vec<Vec<String>> = (0..in_flight)
                .map(|t| {
                    (0..per_task)
                        .map(|j| format!("r{}d-{t}-{j}", self.run_no))
                        .collect()
                })
                .collect();
            let merchant = self.merchant.clone();
            self.check.settle().await;
            let (r, wins, falls) = on_db!(&direct, db => {
                direct_draws(db.clone(), &merchant, campaign, players, race, spec).await?
            });
            self.check_wheel("baseline", &id, &shape, wins, &r, race, rep)
                .await?;
            if race {
                rep.notes.push(format!(
                    "draw-race baseline: {} draws ({wins} won, {falls} fallbacks) in {:.3} s",
                    r.all_ok, r.secs
                ));
            }
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// won + remaining == stock on every slot; prizes won == draws that
    /// answered a prize; a race gives away exactly its stock.
    #[allow(clippy::too_many_arguments)]
    async fn check_wheel(
        &self,
        what: &str,
        id: &str,
        shape: &WheelShape,
        wins: u64,
        r: &LoopResult,
        race: bool,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let c = self.admin.campaign(id).await?;
        let f = &mut rep.failures;
        let mut won_total = 0i64;
        for s in &c.slots {
            let stock = s.spec.as_ref().map_or(0, |x| x.stock);
            fail(f, s.won + s.remaining == stock, || {
                format!(
                    "{what}: slot {} of {id}: won {} + remaining {} != stock {stock}",
                    s.index, s.won, s.remaining
                )
            });
            if let Some(&(_, initial)) = shape.prizes.get(s.index as usize) {
                fail(f, stock == initial, || {
                    format!(
                        "{what}: slot {} stock {stock} != initial {initial}",
                        s.index
                    )
                });
                won_total += s.won;
            }
        }
        let (wins, amb) = (wins as i64, r.ambiguous as i64);
        fail(f, (wins..=wins + amb).contains(&won_total), || {
            format!(
                "{what}: the wheel counts {won_total} prizes won, the answers {wins} \
                 (+{amb} calls of unknown outcome)"
            )
        });
        if race {
            let stock = self.opts.race_stock;
            fail(f, !r.timed_out, || {
                format!(
                    "{what}: the race for {stock} units was not over after {:.0} s",
                    r.secs
                )
            });
            fail(f, won_total == stock && wins == stock, || {
                format!(
                    "{what}: race for {stock} units: the wheel says {won_total} won, the answers {wins}"
                )
            });
        }
        Ok(())
    }

    // --------------------------------------------------------------- redeem

    /// The template, tills and at least `--coupons` unused codes.
    async fn coupons_ready(&mut self) -> anyhow::Result<()> {
        if self.coupons.is_none() {
            let template = self
                .admin
                .coupon_template(coupon::domain::template::MAX_SUPPLY)
                .await?;
            let mut tills = Vec::new();
            for s in 0..8 {
                let store = format!("S{s}");
                let (cred, key_id) = self.admin.pos_key(&store).await?;
                tills.push((cred, key_id, store));
            }
            self.coupons = Some(Coupons {
                template,
                tills,
                unused: Vec::new(),
                issued: 0,
                ok: 0,
                ambiguous: 0,
            });
        }
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        let want = self.opts.coupons;
        if c.unused.len() < want {
            let n = want - c.unused.len();
            if c.issued + n > coupon::domain::template::MAX_SUPPLY as usize {
                anyhow::bail!("the bench template's supply is used up");
            }
            let t0 = std::time::Instant::now();
            let codes = self.admin.bulk_issue(&c.template, n).await?;
            eprintln!(
                "  issued {n} coupons in {:.1} s (bulk issue jobs)",
                t0.elapsed().as_secs_f64()
            );
            c.issued += n;
            c.unused.extend(codes);
        }
        Ok(())
    }

    async fn redeem(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let dup_every = self.opts.redeem_dup_every;
        self.coupons_ready().await?;
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        let pool = Arc::new(CodePool {
            codes: std::mem::take(&mut c.unused),
            next: AtomicUsize::new(0),
        });
        let tills = c.tills.clone();
        let template = c.template.clone();
        let workers: Vec<GrpcRedeem> = (0..in_flight)
            .map(|t| GrpcRedeem {
                client: CouponPosServiceClient::new(self.channel(t, conns)),
                till: tills[t % tills.len()].0.clone(),
                common: RedeemCommon::new(pool.clone(), dup_every),
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let counts = RedeemCommon::sum(ws.iter().map(|w| &w.common));
        drop(ws);
        self.settle_codes(pool, &r)?;
        self.check_redeem("gRPC", &template, counts, &r, rep)
            .await?;
        if dup_every > 0 {
            rep.notes.push(format!(
                "redeem gRPC: {} redeemed; every {dup_every}th call re-presented a code its \
                 task had redeemed and was refused as expected ({} times, counted as ops)",
                counts.0, counts.1
            ));
        }
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            self.coupons_ready().await?;
            let Some(c) = self.coupons.as_mut() else {
                anyhow::bail!("coupon state missing");
            };
            let pool = Arc::new(CodePool {
                codes: std::mem::take(&mut c.unused),
                next: AtomicUsize::new(0),
            });
            let merchant = self.merchant.clone();
            let spec = self.spec();
            self.check.settle().await;
            let vault = self.vault.clone();
            let (r, counts) = on_db!(&direct, db => {
                direct_redeems(
                    CouponStore::new(db.clone(), vault.clone()),
                    &merchant,
                    &tills,
                    pool.clone(),
                    dup_every,
                    in_flight,
                    spec,
                )
                .await?
            });
            self.settle_codes(pool, &r)?;
            self.check_redeem("baseline", &template, counts, &r, rep)
                .await?;
            rep.notes.push(format!(
                "redeem baseline: {} redeemed, {} re-presented codes refused",
                counts.0, counts.1
            ));
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// Unused codes go back for the next run; ran-out runs are noted.
    fn settle_codes(&mut self, pool: Arc<CodePool>, r: &LoopResult) -> anyhow::Result<()> {
        let rest = match Arc::try_unwrap(pool) {
            Ok(p) => p.rest(),
            Err(_) => Vec::new(),
        };
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        if rest.is_empty() && r.ended_early {
            eprintln!("  the coupons ran out during the run; raise --coupons");
        }
        c.unused = rest;
        Ok(())
    }

    async fn check_redeem(
        &mut self,
        what: &str,
        template: &str,
        (redeemed, _refused, accepted_twice): (u64, u64, u64),
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let Some(c) = self.coupons.as_mut() else {
            anyhow::bail!("coupon state missing");
        };
        c.ok += redeemed;
        c.ambiguous += r.ambiguous;
        let (ok, amb) = (c.ok as i64, c.ambiguous as i64);
        let (rows, distinct) = self
            .check
            .ints(
                "SELECT COUNT(*), COUNT(DISTINCT r.coupon_id) FROM coupon_redemption r \
                 JOIN coupon c ON c.coupon_id = r.coupon_id \
                 WHERE c.template_id = $1 AND r.reversed_at IS NULL",
                template,
            )
            .await
            .context("counting redemptions")?;
        let (marked, _) = self
            .check
            .ints(
                "SELECT COUNT(*), CAST(0 AS BIGINT) FROM coupon WHERE template_id = $1 AND redemption_id IS NOT NULL",
                template,
            )
            .await
            .context("counting redeemed coupons")?;
        let f = &mut rep.failures;
        fail(f, accepted_twice == 0, || {
            format!("{what}: {accepted_twice} already-redeemed coupons were redeemed AGAIN")
        });
        fail(f, rows == distinct && distinct == marked, || {
            format!(
                "{what}: {rows} live redemptions, {distinct} distinct coupons redeemed, \
                 {marked} coupons marked redeemed: a coupon redeemed twice"
            )
        });
        fail(f, (ok..=ok + amb).contains(&rows), || {
            format!(
                "{what}: {rows} redemptions in the database, {ok} answered OK \
                 (+{amb} calls of unknown outcome)"
            )
        });
        Ok(())
    }

    // ----------------------------------------------------------------- grab

    async fn grab(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let funded = self.opts.grab_budget;
        let (min, max) = (1, 100);

        let campaign = self.admin.wheel("grab grpc", &WheelShape::bare()).await?;
        self.admin.fund(&campaign, funded).await?;
        let packet = self.admin.campaign_packet(&campaign, min, max).await?;
        let players = Arc::new(self.players.clone());
        let workers: Vec<GrpcGrab> = (0..in_flight)
            .map(|t| GrpcGrab {
                client: RedPacketServiceClient::new(self.channel(t, conns)),
                players: players.clone(),
                prefix: format!("r{}g-{t}", self.run_no),
                packet: packet.clone(),
                granted: 0,
                grabs: 0,
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let granted = ws.iter().map(|w| w.granted).sum::<i64>();
        let grabs = ws.iter().map(|w| w.grabs).sum::<u64>();
        self.check_grab("gRPC", &campaign, &packet, (granted, grabs), max, &r, rep)
            .await?;
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let campaign = self
                .admin
                .wheel("grab baseline", &WheelShape::bare())
                .await?;
            self.admin.fund(&campaign, funded).await?;
            let packet = self.admin.campaign_packet(&campaign, min, max).await?;
            let packet_id = Uuid::parse_str(&packet).context("packet id")?;
            let merchant = self.merchant.clone();
            let prefix = format!("r{}d", self.run_no);
            let spec = self.spec();
            self.check.settle().await;
            let (r, granted, grabs) = on_db!(&direct, db => {
                direct_grabs(db.clone(), &merchant, packet_id, &prefix, in_flight, spec).await?
            });
            self.check_grab(
                "baseline",
                &campaign,
                &packet,
                (granted, grabs),
                max,
                &r,
                rep,
            )
            .await?;
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// The budget balances to the cent, never grants more than was funded,
    /// and granted what the grabs were answered.
    #[allow(clippy::too_many_arguments)]
    async fn check_grab(
        &self,
        what: &str,
        campaign: &str,
        packet: &str,
        (granted, grabs): (i64, u64),
        max: i64,
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let b = self.admin.budget(campaign).await?;
        let p = self.admin.packet(packet).await?;
        let funded = self.opts.grab_budget;
        let amb = r.ambiguous as i64;
        let f = &mut rep.failures;
        fail(f, b.funded_cents == funded, || {
            format!("{what}: funded {} != {funded}", b.funded_cents)
        });
        fail(
            f,
            b.funded_cents
                == b.available_cents + b.reserved_cents + b.granted_cents + b.refunded_cents,
            || format!("{what}: the budget does not balance: {b:?}"),
        );
        fail(f, b.granted_cents <= b.funded_cents, || {
            format!(
                "{what}: granted {} cents of a budget of {}",
                b.granted_cents, b.funded_cents
            )
        });
        fail(f, p.granted_cents == b.granted_cents, || {
            format!(
                "{what}: the packet granted {} cents, the budget {}",
                p.granted_cents, b.granted_cents
            )
        });
        fail(
            f,
            (granted..=granted + amb * max).contains(&b.granted_cents),
            || {
                format!(
                    "{what}: the budget granted {} cents, the grabs were answered {granted} \
                     (+{amb} calls of unknown outcome)",
                    b.granted_cents
                )
            },
        );
        let g = i64::from(p.grabbed);
        fail(f, (grabs as i64..=grabs as i64 + amb).contains(&g), || {
            format!("{what}: the packet counts {g} grabs, {grabs} were answered OK")
        });
        let spent = r
            .all_errors
            .keys()
            .any(|k| k.contains("Exhausted") || k.contains("BudgetSpent"));
        if spent {
            fail(f, b.available_cents == 0, || {
                format!(
                    "{what}: grabs were refused for an empty budget with {} cents available",
                    b.available_cents
                )
            });
            rep.notes.push(format!(
                "grab {what}: the budget of {funded} cents was spent to the cent \
                 ({} granted in {grabs} grabs)",
                b.granted_cents
            ));
        }
        Ok(())
    }

    // ----------------------------------------------------------------- vote

    async fn vote(&mut self, rep: &mut RunReport, baseline: bool) -> anyhow::Result<()> {
        let (in_flight, conns) = (rep.in_flight, rep.conns);
        let per_task = self.opts.players_per_task;
        const CANDIDATES: usize = 4;

        let campaign = self.admin.wheel("vote grpc", &WheelShape::bare()).await?;
        let candidates = Arc::new(self.admin.voting(&campaign, CANDIDATES).await?);
        let pools = self
            .players
            .pools(&format!("r{}g", self.run_no), in_flight, per_task);
        let workers: Vec<GrpcVote> = pools
            .into_iter()
            .enumerate()
            .map(|(t, pool)| GrpcVote {
                client: VoteServiceClient::new(self.channel(t, conns)),
                tokens: pool.into_iter().map(|(tok, _)| tok).collect(),
                candidates: candidates.clone(),
                task: t,
                counts: vec![0; CANDIDATES],
            })
            .collect();
        self.check.settle().await;
        let (r, ws) = closed_loop(workers, self.spec(), Some(self.pid)).await?;
        self.sample_memory(rep);
        let counts = sum_counts(ws.iter().map(|w| &w.counts), CANDIDATES);
        self.check_votes("gRPC", &campaign, &candidates, &counts, &r, rep)
            .await?;
        rep.grpc = r;

        if baseline && let Some(direct) = self.direct.clone() {
            let campaign = self
                .admin
                .wheel("vote baseline", &WheelShape::bare())
                .await?;
            let candidates = self.admin.voting(&campaign, CANDIDATES).await?;
            let ids = candidates
                .iter()
                .map(|c| Uuid::parse_str(c).context("candidate id"))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let players: Vec<Vec<String>> = (0..in_flight)
                .map(|t| {
                    (0..per_task)
                        .map(|j| format!("r{}d-{t}-{j}", self.run_no))
                        .collect()
                })
                .collect();
            let merchant = self.merchant.clone();
            let spec = self.spec();
            self.check.settle().await;
            let (r, counts) = on_db!(&direct, db => {
                direct_votes(db.clone(), &merchant, Arc::new(ids), players, spec).await?
            });
            self.check_votes("baseline", &campaign, &candidates, &counts, &r, rep)
                .await?;
            rep.baseline = Some(r);
        }
        Ok(())
    }

    /// Every candidate's count on the leaderboard == its accepted votes.
    async fn check_votes(
        &self,
        what: &str,
        campaign: &str,
        candidates: &[String],
        counts: &[u64],
        r: &LoopResult,
        rep: &mut RunReport,
    ) -> anyhow::Result<()> {
        let board = self.admin.leaderboard(campaign).await?;
        let amb = r.ambiguous as i64;
        let f = &mut rep.failures;
        let mut total = 0i64;
        for (i, id) in candidates.iter().enumerate() {
            let votes = board
                .iter()
                .find(|c| &c.candidate_id == id)
                .map_or(0, |c| c.votes);
            total += votes;
            let ok = counts.get(i).copied().unwrap_or(0) as i64;
            fail(f, (ok..=ok + amb).contains(&votes), || {
                format!(
                    "{what}: candidate {i} has {votes} votes on the leaderboard, \
                     {ok} were answered OK (+{amb} of unknown outcome)"
                )
            });
        }
        let ok = counts.iter().sum::<u64>() as i64;
        fail(f, (ok..=ok + amb).contains(&total), || {
            format!("{what}: the leaderboard totals {total} votes, {ok} were answered OK")
        });
        Ok(())
    }
}

fn sum_counts<'a>(it: impl Iterator<Item = &'a Vec<u64>>, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    for c in it {
        for (o, v) in out.iter_mut().zip(c) {
            *o += v;
        }
    }
    out
}

// ---------------------------------------------------------------- workers

struct GrpcDraw {
    client: PlayerServiceClient<Channel>,
    tokens: Vec<String>,
    campaign: String,
    race: bool,
    wins: u64,
    fallbacks: u64,
}

impl Worker for GrpcDraw {
    async fn call(&mut self, seq: u64) -> Step {
        let tok = &self.tokens[seq as usize % self.tokens.len()];
        let req = with(
            tok,
            pb::DrawRequest {
                idempotency_key: key(),
                campaign_id: self.campaign.clone(),
                channel: String::new(),
            },
        );
        match self.client.draw(req).await {
            Ok(r) => {
                let r = r.into_inner();
                if r.award.is_some() {
                    self.wins += 1;
                    Step::Ok
                } else {
                    self.fallbacks += 1;
                    if self.race && r.fallback_reason == pb::FallbackReason::OutOfStock as i32 {
                        Step::OkThenStop
                    } else {
                        Step::Ok
                    }
                }
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectDraw<D: Db> {
    store: Store<D>,
    merchant: String,
    campaign: Uuid,
    players: Vec<String>,
    race: bool,
    wins: u64,
    fallbacks: u64,
}

impl<D: Db> Worker for DirectDraw<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let player = &self.players[seq as usize % self.players.len()];
        let cmd = DrawCommand {
            merchant_id: self.merchant.clone(),
            player_id: player.clone(),
            campaign_id: self.campaign,
            channel: None,
        };
        let idem = match idem(format!("player:{}:{player}", self.merchant), "Draw") {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .draw(&cmd, &SystemClock, &idem, |_| Vec::new())
            .await
        {
            Ok(Outcome::Fresh(o)) => {
                if o.award.is_some() {
                    self.wins += 1;
                    Step::Ok
                } else {
                    self.fallbacks += 1;
                    if self.race && o.fallback == FallbackReason::OutOfStock {
                        Step::OkThenStop
                    } else {
                        Step::Ok
                    }
                }
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_draws<D: Db>(
    db: D,
    merchant: &str,
    campaign: Uuid,
    players: Vec<Vec<String>>,
    race: bool,
    spec: Spec,
) -> anyhow::Result<(LoopResult, u64, u64)> {
    let store = Store::new(db);
    let workers: Vec<DirectDraw<D>> = players
        .into_iter()
        .map(|players| DirectDraw {
            store: store.clone(),
            merchant: merchant.to_owned(),
            campaign,
            players,
            race,
            wins: 0,
            fallbacks: 0,
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let wins = ws.iter().map(|w| w.wins).sum();
    let falls = ws.iter().map(|w| w.fallbacks).sum();
    Ok((r, wins, falls))
}

/// A redeem task's code choice and counters, the same for both paths.
struct RedeemCommon {
    pool: Arc<CodePool>,
    dup_every: u64,
    last: Option<String>,
    redeemed: u64,
    dup_refused: u64,
    dup_accepted: u64,
}

impl RedeemCommon {
    fn new(pool: Arc<CodePool>, dup_every: u64) -> Self {
        Self {
            pool,
            dup_every,
            last: None,
            redeemed: 0,
            dup_refused: 0,
            dup_accepted: 0,
        }
    }

    /// The next code, and whether it is a re-presented (already redeemed)
    /// one; `None` when the pool is empty.
    fn pick(&mut self, seq: u64) -> Option<(String, bool)> {
        if self.dup_every > 0
            && seq % self.dup_every == self.dup_every - 1
            && let Some(c) = self.last.take()
        {
            return Some((c, true));
        }
        self.pool.next().map(|c| (c, false))
    }

    /// Books an answer: `Ok(())` redeemed, `Err(true)` refused as already
    /// redeemed, `Err(false)` another failure (the caller's step).
    fn book(&mut self, code: String, dup: bool, answer: Result<(), bool>, fail: Step) -> Step {
        match (dup, answer) {
            (false, Ok(())) => {
                self.redeemed += 1;
                self.last = Some(code);
                Step::Ok
            }
            (true, Ok(())) => {
                self.dup_accepted += 1;
                Step::failed("DOUBLE-REDEMPTION")
            }
            (true, Err(true)) => {
                self.dup_refused += 1;
                Step::Ok
            }
            _ => fail,
        }
    }

    /// (redeemed, re-presented and refused, re-presented and accepted).
    fn sum<'a>(it: impl Iterator<Item = &'a RedeemCommon>) -> (u64, u64, u64) {
        it.fold((0, 0, 0), |a, c| {
            (a.0 + c.redeemed, a.1 + c.dup_refused, a.2 + c.dup_accepted)
        })
    }
}

struct GrpcRedeem {
    client: CouponPosServiceClient<Channel>,
    till: String,
    common: RedeemCommon,
}

impl Worker for GrpcRedeem {
    async fn call(&mut self, seq: u64) -> Step {
        let Some((code, dup)) = self.common.pick(seq) else {
            return Step::Stop;
        };
        let req = with(
            &self.till,
            cpb::RedeemCouponRequest {
                idempotency_key: key(),
                code: code.clone(),
                order_amount_cents: 10_000,
                items: Vec::new(),
                order_ref: "loadgen".into(),
            },
        );
        match self.client.redeem_coupon(req).await {
            Ok(_) => self.common.book(code, dup, Ok(()), Step::Ok),
            Err(s) => {
                let already = s.code() == Code::FailedPrecondition;
                self.common.book(code, dup, Err(already), Step::status(&s))
            }
        }
    }
}

struct DirectRedeem<D: Db> {
    store: CouponStore<D>,
    merchant: String,
    key_id: String,
    store_id: String,
    common: RedeemCommon,
}

impl<D: Db> Worker for DirectRedeem<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let Some((code, dup)) = self.common.pick(seq) else {
            return Step::Stop;
        };
        let Ok(parsed) = CouponCode::parse(&code) else {
            return Step::failed("BadCode");
        };
        let idem = match idem(format!("key:{}", self.key_id), "RedeemCoupon") {
            Ok(i) => i,
            Err(s) => return s,
        };
        let cmd = RedeemCommand {
            merchant_id: self.merchant.clone(),
            store_id: self.store_id.clone(),
            key_id: self.key_id.clone(),
            code: parsed,
            order: Order {
                amount_cents: 10_000,
                items: Vec::new(),
            },
            order_ref: "loadgen".to_owned(),
        };
        let out = self
            .store
            .redeem(&cmd, &idem, now_ms(), |_| Vec::new())
            .await;
        match out {
            Ok(Outcome::Fresh(_)) => self.common.book(code, dup, Ok(()), Step::Ok),
            Ok(Outcome::Replay(_)) => {
                self.common
                    .book(code, dup, Err(false), Step::failed("Replay"))
            }
            Err(e) => {
                let already = matches!(
                    e,
                    CouponError::Rejected(CouponRejection::Unusable(Refusal::AlreadyRedeemed))
                );
                let step = Step::failed(label(&e));
                self.common.book(code, dup, Err(already), step)
            }
        }
    }
}

async fn direct_redeems<D: Db>(
    store: CouponStore<D>,
    merchant: &str,
    tills: &[(String, String, String)],
    pool: Arc<CodePool>,
    dup_every: u64,
    in_flight: usize,
    spec: Spec,
) -> anyhow::Result<(LoopResult, (u64, u64, u64))> {
    let workers: Vec<DirectRedeem<D>> = (0..in_flight)
        .map(|t| {
            let (_, key_id, store_id) = &tills[t % tills.len()];
            DirectRedeem {
                store: store.clone(),
                merchant: merchant.to_owned(),
                key_id: key_id.clone(),
                store_id: store_id.clone(),
                common: RedeemCommon::new(pool.clone(), dup_every),
            }
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let counts = RedeemCommon::sum(ws.iter().map(|w| &w.common));
    Ok((r, counts))
}

/// Each grab by a new player (a player grabs a packet once).
struct GrpcGrab {
    client: RedPacketServiceClient<Channel>,
    players: Arc<Players>,
    prefix: String,
    packet: String,
    granted: i64,
    grabs: u64,
}

impl Worker for GrpcGrab {
    async fn call(&mut self, seq: u64) -> Step {
        let token = self.players.token(&format!("{}-{seq}", self.prefix));
        let req = with(
            &token,
            pb::GrabRedPacketRequest {
                idempotency_key: key(),
                packet_id: self.packet.clone(),
                channel: String::new(),
            },
        );
        match self.client.grab_red_packet(req).await {
            Ok(g) => {
                self.granted += g.into_inner().amount_cents;
                self.grabs += 1;
                Step::Ok
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectGrab<D: Db> {
    store: Store<D>,
    merchant: String,
    packet: Uuid,
    prefix: String,
    granted: i64,
    grabs: u64,
}

impl<D: Db> Worker for DirectGrab<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let player = format!("{}-{seq}", self.prefix);
        let idem = match idem(
            format!("player:{}:{player}", self.merchant),
            "GrabRedPacket",
        ) {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .grab_packet(
                &self.merchant,
                &player,
                self.packet,
                None,
                &idem,
                now_ms(),
                |_| Vec::new(),
            )
            .await
        {
            Ok(Outcome::Fresh(g)) => {
                self.granted += g.amount;
                self.grabs += 1;
                Step::Ok
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_grabs<D: Db>(
    db: D,
    merchant: &str,
    packet: Uuid,
    prefix: &str,
    in_flight: usize,
    spec: Spec,
) -> anyhow::Result<(LoopResult, i64, u64)> {
    let store = Store::new(db);
    let workers: Vec<DirectGrab<D>> = (0..in_flight)
        .map(|t| DirectGrab {
            store: store.clone(),
            merchant: merchant.to_owned(),
            packet,
            prefix: format!("{prefix}-{t}"),
            granted: 0,
            grabs: 0,
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let granted = ws.iter().map(|w| w.granted).sum();
    let grabs = ws.iter().map(|w| w.grabs).sum();
    Ok((r, granted, grabs))
}

struct GrpcVote {
    client: VoteServiceClient<Channel>,
    tokens: Vec<String>,
    candidates: Arc<Vec<String>>,
    task: usize,
    counts: Vec<u64>,
}

impl Worker for GrpcVote {
    async fn call(&mut self, seq: u64) -> Step {
        let s = seq as usize;
        let c = (self.task + s) % self.candidates.len();
        let req = with(
            &self.tokens[s % self.tokens.len()],
            pb::CastVoteRequest {
                idempotency_key: key(),
                candidate_id: self.candidates[c].clone(),
                channel: String::new(),
            },
        );
        match self.client.cast_vote(req).await {
            Ok(_) => {
                self.counts[c] += 1;
                Step::Ok
            }
            Err(s) => Step::status(&s),
        }
    }
}

struct DirectVote<D: Db> {
    store: Store<D>,
    merchant: String,
    players: Vec<String>,
    candidates: Arc<Vec<Uuid>>,
    task: usize,
    counts: Vec<u64>,
}

impl<D: Db> Worker for DirectVote<D> {
    async fn call(&mut self, seq: u64) -> Step {
        let s = seq as usize;
        let c = (self.task + s) % self.candidates.len();
        let player = &self.players[s % self.players.len()];
        let idem = match idem(format!("player:{}:{player}", self.merchant), "CastVote") {
            Ok(i) => i,
            Err(s) => return s,
        };
        match self
            .store
            .cast_vote(
                &self.merchant,
                player,
                self.candidates[c],
                None,
                &idem,
                now_ms(),
                |_| Vec::new(),
            )
            .await
        {
            Ok(Outcome::Fresh(_)) => {
                self.counts[c] += 1;
                Step::Ok
            }
            Ok(Outcome::Replay(_)) => Step::failed("Replay"),
            Err(e) => Step::failed(label(&e)),
        }
    }
}

async fn direct_votes<D: Db>(
    db: D,
    merchant: &str,
    candidates: Arc<Vec<Uuid>>,
    players: Vec<Vec<String>>,
    spec: Spec,
) -> anyhow::Result<(LoopResult, Vec<u64>)> {
    let store = Store::new(db);
    let n = candidates.len();
    let workers: Vec<DirectVote<D>> = players
        .into_iter()
        .enumerate()
        .map(|(t, players)| DirectVote {
            store: store.clone(),
            merchant: merchant.to_owned(),
            players,
            candidates: candidates.clone(),
            task: t,
            counts: vec![0; n],
        })
        .collect();
    let (r, ws) = closed_loop(workers, spec, None).await?;
    let counts = sum_counts(ws.iter().map(|w| &w.counts), n);
    Ok((r, counts))
}
