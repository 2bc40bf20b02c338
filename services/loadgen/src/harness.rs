//! The closed loop: N tasks, each with one call outstanding, a warm-up,
//! then a measured window; latency in an HdrHistogram (microseconds).

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::anyhow;
use hdrhistogram::Histogram;
use tonic::{Code, Status};

use crate::engine::cpu_ticks;

/// What one call came to.
pub enum Step {
    Ok,
    /// Succeeded, and this task has nothing more to do (a race is over).
    OkThenStop,
    /// Failed: a label (the gRPC code, or the store error's kind) and
    /// whether the outcome is unknown to the caller (it may have applied).
    Err {
        label: String,
        ambiguous: bool,
    },
    /// Nothing was called; this task has nothing more to do.
    Stop,
}

impl Step {
    pub fn status(s: &Status) -> Self {
        Step::Err {
            label: format!("{:?}", s.code()),
            ambiguous: matches!(
                s.code(),
                Code::Unknown | Code::Cancelled | Code::DeadlineExceeded | Code::Unavailable
            ),
        }
    }

    pub fn failed(label: impl Into<String>) -> Self {
        Step::Err {
            label: label.into(),
            ambiguous: false,
        }
    }
}

/// One task's calls: the state it keeps (counters the invariant checks
/// read afterwards) travels with it and comes back after the run.
pub trait Worker: Send + 'static {
    fn call(&mut self, seq: u64) -> impl Future<Output = Step> + Send;
}

#[derive(Clone, Copy)]
pub struct Spec {
    pub warmup: Duration,
    /// The measured window; with `until_done`, the longest it may take.
    pub window: Duration,
    /// Measure from the first call until every task has stopped.
    pub until_done: bool,
}

pub struct LoopResult {
    /// Latencies of the calls that succeeded inside the window.
    pub hist: Histogram<u64>,
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    /// The measured window's length.
    pub secs: f64,
    /// Whole run, warm-up and tail included: what the invariants count.
    pub all_ok: u64,
    pub all_errors: BTreeMap<String, u64>,
    pub ambiguous: u64,
    /// CPU ticks over the window: the engine's and this process's.
    pub server_ticks: Option<u64>,
    pub client_ticks: Option<u64>,
    /// Every task stopped before the window was over.
    pub ended_early: bool,
    /// `until_done` and the window ran out first.
    pub timed_out: bool,
}

impl LoopResult {
    /// Nothing measured yet.
    pub fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            hist: new_hist()?,
            ok: 0,
            errors: BTreeMap::new(),
            secs: 0.0,
            all_ok: 0,
            all_errors: BTreeMap::new(),
            ambiguous: 0,
            server_ticks: None,
            client_ticks: None,
            ended_early: false,
            timed_out: false,
        })
    }

    pub fn calls(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }
    pub fn ok_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ok as f64 / self.secs
        } else {
            0.0
        }
    }
    pub fn q(&self, q: f64) -> u64 {
        if self.hist.is_empty() {
            0
        } else {
            self.hist.value_at_quantile(q)
        }
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

pub fn new_hist() -> anyhow::Result<Histogram<u64>> {
    Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).map_err(|e| anyhow!("histogram: {e:?}"))
}

struct TaskStats {
    hist: Histogram<u64>,
    ok: u64,
    errors: BTreeMap<String, u64>,
    all_ok: u64,
    all_errors: BTreeMap<String, u64>,
    ambiguous: u64,
}

/// Runs `workers` (one task each) through `spec`; returns the merged
/// result and the workers with their counters.
pub async fn closed_loop<W: Worker>(
    workers: Vec<W>,
    spec: Spec,
    server_pid: Option<u32>,
) -> anyhow::Result<(LoopResult, Vec<W>)> {
    let server = move || server_pid.and_then(|p| cpu_ticks(&p.to_string()));
    let client = || cpu_ticks("self");
    let measuring_from_start = spec.warmup.is_zero() || spec.until_done;
    let phase = Arc::new(AtomicU8::new(if measuring_from_start {
        MEASURE
    } else {
        WARMUP
    }));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut start = (server(), client(), Instant::now());
    let mut handles = Vec::with_capacity(workers.len());
    for mut w in workers {
        let mut st = TaskStats {
            hist: new_hist()?,
            ok: 0,
            errors: BTreeMap::new(),
            all_ok: 0,
            all_errors: BTreeMap::new(),
            ambiguous: 0,
        };
        let (phase, done) = (phase.clone(), done_tx.clone());
        handles.push(tokio::spawn(async move {
            let mut seq = 0u64;
            while phase.load(Ordering::Relaxed) != STOP {
                let t0 = Instant::now();
                let step = w.call(seq).await;
                let us = t0.elapsed().as_micros() as u64;
                seq += 1;
                let measured = phase.load(Ordering::Relaxed) == MEASURE;
                match step {
                    Step::Ok | Step::OkThenStop => {
                        st.all_ok += 1;
                        if measured {
                            st.ok += 1;
                            st.hist.saturating_record(us.max(1));
                        }
                        if matches!(step, Step::OkThenStop) {
                            break;
                        }
                    }
                    Step::Err { label, ambiguous } => {
                        st.ambiguous += u64::from(ambiguous);
                        if measured {
                            *st.errors.entry(label.clone()).or_default() += 1;
                        }
                        *st.all_errors.entry(label).or_default() += 1;
                    }
                    Step::Stop => break,
                }
            }
            drop(done);
            (w, st)
        }));
    }
    drop(done_tx);
    let mut all_done_early = false;
    if !measuring_from_start {
        tokio::select! {
            _ = tokio::time::sleep(spec.warmup) => {}
            _ = done_rx.recv() => all_done_early = true,
        }
        start = (server(), client(), Instant::now());
        phase.store(MEASURE, Ordering::Relaxed);
    }
    let mut ended_early = all_done_early;
    let mut timed_out = false;
    if !all_done_early {
        tokio::select! {
            _ = tokio::time::sleep(spec.window) => timed_out = spec.until_done,
            _ = done_rx.recv() => ended_early = true,
        }
    }
    phase.store(STOP, Ordering::Relaxed);
    let secs = start.2.elapsed().as_secs_f64();
    let end = (server(), client());
    let mut r = LoopResult {
        hist: new_hist()?,
        ok: 0,
        errors: BTreeMap::new(),
        secs,
        all_ok: 0,
        all_errors: BTreeMap::new(),
        ambiguous: 0,
        server_ticks: end.0.zip(start.0).map(|(e, s)| e.saturating_sub(s)),
        client_ticks: end.1.zip(start.1).map(|(e, s)| e.saturating_sub(s)),
        ended_early: ended_early && !spec.until_done,
        timed_out,
    };
    let mut back = Vec::with_capacity(handles.len());
    for h in handles {
        let (w, st) = h.await.map_err(|e| anyhow!("a load task failed: {e}"))?;
        r.hist
            .add(&st.hist)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
        r.ok += st.ok;
        r.all_ok += st.all_ok;
        r.ambiguous += st.ambiguous;
        for (k, v) in st.errors {
            *r.errors.entry(k).or_default() += v;
        }
        for (k, v) in st.all_errors {
            *r.all_errors.entry(k).or_default() += v;
        }
        back.push(w);
    }
    if all_done_early && !spec.until_done {
        r.secs = 0.0;
    }
    Ok((r, back))
}

/// "Aborted:3 Unavailable:1", or "0".
pub fn error_summary(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return "0".into();
    }
    errors
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
