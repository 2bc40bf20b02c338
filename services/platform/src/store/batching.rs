//! The queue behind the PostgreSQL batches (draws: campaign's `wheel/draw_batch_postgres.rs`; POS
//! redemptions: the coupon crate's `redeem_batch_postgres.rs`): requests that wait
//! at the same time are taken together by the first of them to get a turn.

use std::{
    ops::Deref,
    sync::{
        Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{Semaphore, oneshot};

/// A request waiting in a [`BatchQueue`], and where its answer goes.
pub struct Waiting<R, A> {
    request: R,
    answer: oneshot::Sender<A>,
}

impl<R, A> Waiting<R, A> {
    /// Answers the request. Its caller may have gone; nothing to do then.
    pub fn reply(self, answer: A) {
        let _ = self.answer.send(answer);
    }
}

impl<R, A> Deref for Waiting<R, A> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.request
    }
}

/// Requests waiting for a batch, and the turns to run one.
pub struct BatchQueue<R, A> {
    waiting: Mutex<Vec<Waiting<R, A>>>,
    /// One permit per batch running.
    turn: Semaphore,
    /// The most requests one batch takes.
    max: usize,
}

impl<R: Clone, A> BatchQueue<R, A> {
    pub fn new(turns: usize, max: usize) -> Self {
        Self {
            waiting: Mutex::default(),
            turn: Semaphore::new(turns),
            max,
        }
    }

    fn push(&self, request: R) -> oneshot::Receiver<A> {
        let (answer, receiver) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Waiting { request, answer });
        receiver
    }

    fn take(&self) -> Vec<Waiting<R, A>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        let n = waiting.len().min(self.max);
        waiting.drain(..n).collect()
    }

    /// Queues `request` and waits for its answer. While it waits, whenever
    /// it gets a turn it takes every request waiting (its own, if no other
    /// batch took it yet) and runs `run` on them, which must reply to each.
    pub async fn submit<F, Fut>(&self, request: R, run: F) -> A
    where
        F: Fn(Vec<Waiting<R, A>>) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut answer = self.push(request.clone());
        loop {
            tokio::select! {
                biased;
                got = &mut answer => match got {
                    Ok(got) => return got,
                    // The request that took this one into its batch was
                    // cancelled before replying. Whether this one was
                    // applied, its idempotency key tells: submit it again.
                    Err(_) => answer = self.push(request.clone()),
                },
                turn = self.turn.acquire() => {
                    run(self.take()).await;
                    drop(turn);
                }
            }
        }
    }
}

/// What a queue's batches did, for the metrics endpoint: batches applied
/// as one set, the requests those answered, batches whose set failed (their
/// requests then went alone), and requests made alone by the single path.
#[derive(Default)]
pub struct BatchCounters {
    sets: AtomicU64,
    set_answered: AtomicU64,
    undone: AtomicU64,
    alone: AtomicU64,
}

impl BatchCounters {
    /// A set applied, answering `answered` of its requests.
    pub fn set_applied(&self, answered: usize) {
        self.sets.fetch_add(1, Ordering::Relaxed);
        self.set_answered.fetch_add(
            u64::try_from(answered).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A set whose transaction failed.
    pub fn set_undone(&self) {
        self.undone.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` requests going the single path.
    pub fn alone(&self, n: usize) {
        self.alone
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// (name, value) under `names`: sets, set-answered, undone, alone.
    pub fn named(&self, names: [&'static str; 4]) -> Vec<(&'static str, u64)> {
        let [sets, answered, undone, alone] = names;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            (sets, get(&self.sets)),
            (answered, get(&self.set_answered)),
            (undone, get(&self.undone)),
            (alone, get(&self.alone)),
        ]
    }
}
