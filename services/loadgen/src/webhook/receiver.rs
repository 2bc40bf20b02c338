//! The webhook bench's receiver: a real HTTP/1 server (hyper) on
//! 127.0.0.1, port 0, inside the load generator, so the engine's own
//! sender posts to it over TCP as it would to a merchant. It does what a
//! fast receiver must and no more: reads the body, checks the signature
//! (docs/events.md; cheap next to the engine's work, and a bench that
//! skipped it would flatter nothing but the receiver), answers 200 at
//! once, and counts per URL path (one path per endpoint the bench makes,
//! so a deleted endpoint's late requests never count for the next one):
//! requests, distinct `webhook-id`s, and the lag from the event's
//! `occurred_at_ms` to its arrival.
//!
//! A path can be *held*: its requests wait (at most [`HOLD_MAX`], under
//! the engine's 10 s request timeout, so nothing is retried) until
//! [`Receiver::release`]. That is how the bench queues a backlog: an
//! endpoint receives only the events numbered while it is enabled, so it
//! must be enabled while the backlog is made, and holding its first
//! requests keeps its worker from draining the queue meanwhile.

use std::{
    collections::{HashMap, HashSet},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::{
    Request, Response, StatusCode, body::Incoming, server::conn::http1, service::service_fn,
};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{harness::new_hist, setup::now_ms};

/// The longest a held request waits: under the engine's whole-request
/// timeout (10 s), so a held delivery is answered, not retried.
pub const HOLD_MAX: Duration = Duration::from_secs(8);

/// What one path received.
pub struct Tally {
    /// Requests answered (held ones once answered).
    pub requests: u64,
    /// Distinct `webhook-id`s answered 200.
    pub ids: HashSet<String>,
    /// Arrival minus `occurred_at_ms`, ms.
    pub lag_ms: Histogram<u64>,
    /// When the last request was answered.
    pub last: Option<Instant>,
}

impl Tally {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            ids: HashSet::new(),
            lag_ms: new_hist()?,
            last: None,
        })
    }
}

struct State {
    secret: String,
    paths: Mutex<HashMap<String, Tally>>,
    /// The held path, if any.
    held: watch::Sender<Option<String>>,
    bad_signatures: std::sync::atomic::AtomicU64,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Listens on 127.0.0.1 (a free port); signatures are checked with
    /// `secret`, the one the bench gives its endpoints.
    pub async fn start(secret: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            secret: secret.to_owned(),
            paths: Mutex::new(HashMap::new()),
            held: watch::Sender::new(None),
            bad_signatures: Default::default(),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let tcp = match listener.accept().await {
                    Ok((tcp, _)) => tcp,
                    Err(e) => {
                        // Out of file descriptors and the like: try again
                        // shortly rather than spin.
                        eprintln!("  webhook receiver: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let state = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The URL of `path` (a leading `/` included).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Holds `path`'s requests until [`Self::release`] (or [`HOLD_MAX`]).
    pub fn hold(&self, path: &str) {
        self.state.held.send_replace(Some(path.to_owned()));
    }

    /// Answers the held requests now, and every later one at once.
    pub fn release(&self) {
        self.state.held.send_replace(None);
    }

    /// (requests, distinct ids) answered on `path` so far.
    pub fn seen(&self, path: &str) -> (u64, u64) {
        let paths = self.lock();
        paths
            .get(path)
            .map_or((0, 0), |t| (t.requests, t.ids.len() as u64))
    }

    /// `path`'s lag histogram and when its last request was answered.
    pub fn lag(&self, path: &str) -> Option<(Histogram<u64>, Option<Instant>)> {
        let paths = self.lock();
        paths.get(path).map(|t| (t.lag_ms.clone(), t.last))
    }

    pub fn bad_signatures(&self) -> u64 {
        self.state
            .bad_signatures
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tally>> {
        self.state
            .paths
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `"occurred_at_ms":123` out of the raw body, without parsing the JSON
/// (the receiver shares the machine with the engine: keep it cheap).
fn occurred_at(body: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"occurred_at_ms\":";
    let at = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (signature, id) = (header("campaign-signature"), header("webhook-id"));
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(answer(StatusCode::BAD_REQUEST)),
    };
    if !campaign::domain::webhook::verify(&state.secret, &signature, &body, now_ms() / 1000, 300) {
        state
            .bad_signatures
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Ok(answer(StatusCode::BAD_REQUEST));
    }
    let mut held = state.held.subscribe();
    if held.borrow_and_update().as_deref() == Some(path.as_str()) {
        let released = held.wait_for(|h| h.as_deref() != Some(path.as_str()));
        let _ = tokio::time::timeout(HOLD_MAX, released).await;
    }
    let lag = occurred_at(&body).map(|t| (now_ms() - t).max(1) as u64);
    {
        let mut paths = state.paths.lock().unwrap_or_else(PoisonError::into_inner);
        let tally = match paths.get_mut(&path) {
            Some(t) => t,
            None => match Tally::new() {
                Ok(t) => paths.entry(path).or_insert(t),
                Err(_) => return Ok(answer(StatusCode::INTERNAL_SERVER_ERROR)),
            },
        };
        tally.requests += 1;
        tally.ids.insert(id);
        if let Some(l) = lag {
            tally.lag_ms.saturating_record(l);
        }
        tally.last = Some(Instant::now());
    }
    Ok(answer(StatusCode::OK))
}

fn answer(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}
