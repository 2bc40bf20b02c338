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

mod draw;
mod grab;

pub(crate) use draw::GrpcDraw;
mod redeem;
mod vote;
