//! A webhook receiver for the suites (issue 25): a real HTTP/1 server on
//! 127.0.0.1, port 0, that checks every request's signature as docs/
//! events.md tells receivers to, records what it got, and answers as the
//! test says (200, 500, 410, after a delay). Not a mock of the sender: the
//! engine's real client posts to it over TCP.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU16, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, task::JoinHandle};

/// One request the receiver accepted (its signature held).
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub event_type: String,
    pub position: i64,
    pub seq: i64,
    pub attempt: u32,
    /// What the receiver answered.
    pub answered: u16,
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    secret: Mutex<String>,
    answer: AtomicU16,
    delay_ms: AtomicU64,
    got: Mutex<Vec<Got>>,
    bad_signatures: AtomicU64,
}

pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

/// A handle that changes how a receiver answers, for a nemesis task.
#[derive(Clone)]
pub struct Control {
    state: Arc<State>,
}

impl Control {
    pub fn answer_with(&self, status: u16) {
        self.state.answer.store(status, Ordering::SeqCst);
    }

    pub fn delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Receiver {
    /// Listens on 127.0.0.1 (port 0), answering 200 until told otherwise.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State::default());
        state.answer.store(200, Ordering::SeqCst);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    /// A handle to change its answers from another task.
    pub fn handle(&self) -> Control {
        Control {
            state: self.state.clone(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/campaign", self.addr)
    }

    /// The secret signatures are checked with.
    pub fn set_secret(&self, secret: &str) {
        *self
            .state
            .secret
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = secret.to_owned();
    }

    /// Answer every request with `status` from now on.
    pub fn answer_with(&self, status: u16) {
        self.state.answer.store(status, Ordering::SeqCst);
    }

    /// Wait this long before answering.
    pub fn delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request with a good signature, in arrival order.
    pub fn got(&self) -> Vec<Got> {
        self.state
            .got
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The events it processed (answered 2xx), once each however often
    /// they came: the receiver's side of exactly once. Id -> times
    /// answered 2xx.
    pub fn processed(&self) -> HashMap<String, usize> {
        let mut seen = HashMap::new();
        for g in self.got() {
            if (200..300).contains(&g.answered) {
                *seen.entry(g.id).or_insert(0) += 1;
            }
        }
        seen
    }

    pub fn bad_signatures(&self) -> u64 {
        self.state.bad_signatures.load(Ordering::SeqCst)
    }

    pub fn stop(self) {
        self.task.abort();
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = req
        .headers()
        .get("campaign-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let attempt = req
        .headers()
        .get("webhook-attempt")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(answer(400)),
    };
    let secret = state
        .secret
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if !campaign::domain::webhook::verify(&secret, &header, &body, now, 300) {
        state.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return Ok(answer(400));
    }
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let answered = state.answer.load(Ordering::SeqCst);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let got = Got {
        id: v["id"].as_str().unwrap_or_default().to_owned(),
        event_type: v["type"].as_str().unwrap_or_default().to_owned(),
        position: v["position"].as_i64().unwrap_or(-1),
        seq: v["seq"].as_i64().unwrap_or(-1),
        attempt,
        answered,
        body: v,
    };
    state
        .got
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(got);
    Ok(answer(answered))
}

fn answer(status: u16) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}
