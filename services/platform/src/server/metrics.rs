//! Prometheus metrics over plain HTTP: `GET /metrics` on `metrics_listen`
//! (off unless set; it is an operator's port, not the public one).
//!
//! RPCs are counted and timed by a tower layer around every gRPC service:
//! `method` is the gRPC path of a method the engine serves (any other path,
//! which anyone can send, is counted as `unknown`, so the label set stays
//! bounded), `code` the status. A refusal carries its
//! status in the response headers; an answer with a body carries it in the
//! trailers, which the layer does not wait for, so those count as `Ok`.
//! The database pool's figures and the backend's counters come from the
//! `Db` seam; each module adds its own ([`Sources`]): counters of its
//! process ([`CounterSource`]) and figures it reads from the database at
//! scrape time ([`ScrapeSource`], the campaign's draws, prizes and outbox).

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use super::ServerError;
use crate::{settings::Settings, store::db::Db};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct MethodStats {
    codes: BTreeMap<&'static str, u64>,
    /// Calls at or under each bound (cumulative, as Prometheus wants).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_secs: f64,
}

/// The label of every path that is not a served method.
pub const UNKNOWN_METHOD: &str = "unknown";

/// Per-method RPC counts and latency histograms of this process.
#[derive(Default)]
pub struct RpcMetrics {
    methods: Mutex<BTreeMap<String, MethodStats>>,
    /// The paths counted under their own name; any other is `unknown`.
    known: std::collections::HashSet<String>,
}

impl RpcMetrics {
    /// Counts the methods of `services` (fully qualified gRPC service
    /// names, as `campaign.v1.AdminService`) found in the encoded file
    /// descriptor sets, by their paths; everything else is `unknown`.
    pub fn for_services(descriptor_sets: &[&[u8]]) -> Self {
        use prost::Message;
        let mut known = std::collections::HashSet::new();
        for set in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*set) else {
                continue;
            };
            for file in set.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let name = service.name.unwrap_or_default();
                    for method in service.method {
                        let m = method.name.unwrap_or_default();
                        known.insert(format!("/{package}.{name}/{m}"));
                    }
                }
            }
        }
        for version in ["v1", "v1alpha"] {
            known.insert(format!(
                "/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
            ));
        }
        Self {
            methods: Mutex::default(),
            known,
        }
    }

    pub fn record(&self, method: &str, code: tonic::Code, took: Duration) {
        let Ok(mut methods) = self.methods.lock() else {
            return;
        };
        let method = if self.known.contains(method) {
            method
        } else {
            UNKNOWN_METHOD
        };
        let m = methods.entry(method.to_owned()).or_default();
        *m.codes.entry(code_name(code)).or_insert(0) += 1;
        let secs = took.as_secs_f64();
        for (bound, n) in BUCKETS.iter().zip(m.buckets.iter_mut()) {
            if secs <= *bound {
                *n += 1;
            }
        }
        m.count += 1;
        m.sum_secs += secs;
    }

    fn render(&self, out: &mut String) {
        let Ok(methods) = self.methods.lock() else {
            return;
        };
        out.push_str(
            "# HELP campaign_rpc_requests_total gRPC calls answered, by method and status.\n\
             # TYPE campaign_rpc_requests_total counter\n",
        );
        for (method, m) in methods.iter() {
            for (code, n) in &m.codes {
                let _ = writeln!(
                    out,
                    "campaign_rpc_requests_total{{method=\"{method}\",code=\"{code}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP campaign_rpc_duration_seconds Time to answer a gRPC call, by method.\n\
             # TYPE campaign_rpc_duration_seconds histogram\n",
        );
        for (method, m) in methods.iter() {
            for (bound, n) in BUCKETS.iter().zip(m.buckets.iter()) {
                let _ = writeln!(
                    out,
                    "campaign_rpc_duration_seconds_bucket{{method=\"{method}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "campaign_rpc_duration_seconds_bucket{{method=\"{method}\",le=\"+Inf\"}} {}\n\
                 campaign_rpc_duration_seconds_sum{{method=\"{method}\"}} {}\n\
                 campaign_rpc_duration_seconds_count{{method=\"{method}\"}} {}",
                m.count, m.sum_secs, m.count
            );
        }
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The tower layer that feeds [`RpcMetrics`].
#[derive(Clone)]
pub struct RpcLayer(pub Arc<RpcMetrics>);

impl<S> tower_layer::Layer<S> for RpcLayer {
    type Service = RpcService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RpcService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    metrics: Arc<RpcMetrics>,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for RpcService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let method = req.uri().path().to_owned();
        let started = Instant::now();
        let metrics = self.metrics.clone();
        let answer = self.inner.call(req);
        Box::pin(async move {
            let res = answer.await;
            let code = match &res {
                Ok(r) => r
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or(tonic::Code::Ok, tonic::Code::from_i32),
                Err(_) => tonic::Code::Unknown,
            };
            metrics.record(&method, code, started.elapsed());
            res
        })
    }
}

/// Counters a module adds, as (name, value), read at each scrape.
pub type CounterSource = Arc<dyn Fn() -> Vec<(&'static str, u64)> + Send + Sync>;

/// Figures a module reads at each scrape (from its tables), written as
/// exposition text with their own `# HELP` and `# TYPE` lines.
pub type ScrapeSource = Arc<dyn Fn() -> BoxFuture<String> + Send + Sync>;

/// What the modules add to the exposition, in module order.
#[derive(Clone, Default)]
pub struct Sources {
    pub counters: Vec<CounterSource>,
    pub scrapes: Vec<ScrapeSource>,
}

/// The whole exposition: RPCs, the database pool, the counters, then each
/// module's figures read now.
pub async fn render<D: Db>(rpc: &RpcMetrics, db: &D, sources: &Sources) -> String {
    let mut out = String::new();
    rpc.render(&mut out);
    for (name, value) in db.pool_gauges() {
        let _ = writeln!(out, "# TYPE {name} gauge\n{name} {value}");
    }
    let more = sources.counters.iter().flat_map(|c| c());
    for (name, value) in db.counters().into_iter().chain(more) {
        let _ = writeln!(out, "# TYPE {name} counter\n{name} {value}");
    }
    for scrape in &sources.scrapes {
        out.push_str(&scrape().await);
    }
    out
}

/// Serves `GET /metrics` on `metrics_listen`, when one is set.
pub async fn spawn<D: Db>(
    settings: &Settings,
    rpc: Arc<RpcMetrics>,
    db: &D,
    sources: Sources,
) -> Result<Option<tokio::task::JoinHandle<()>>, ServerError> {
    if settings.metrics_listen.is_empty() {
        return Ok(None);
    }
    let addr = &settings.metrics_listen;
    let listener = TcpListener::bind(addr.as_str())
        .await
        .map_err(|e| ServerError::Metrics(addr.clone(), e))?;
    tracing::info!(addr = %addr, "metrics at GET /metrics");
    Ok(Some(tokio::spawn(serve(
        listener,
        rpc,
        db.clone(),
        sources,
    ))))
}

/// Serves `GET /metrics` (HTTP/1.1, one request per connection) until the
/// task is aborted.
pub async fn serve<D: Db>(listener: TcpListener, rpc: Arc<RpcMetrics>, db: D, sources: Sources) {
    let sources = Arc::new(sources);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let (rpc, db, sources) = (rpc.clone(), db.clone(), sources.clone());
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // The request head only; a scrape has no body.
            while len < buf.len() {
                match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[len..]))
                    .await
                {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(n)) => len += n,
                }
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let (status, body) = if head.starts_with("GET /metrics ") {
                ("200 OK", render(&rpc, &db, &sources).await)
            } else {
                (
                    "404 Not Found",
                    "only GET /metrics is served here\n".to_owned(),
                )
            };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_get_their_own_label() {
        let m = RpcMetrics::for_services(&[tonic_health::pb::FILE_DESCRIPTOR_SET]);
        let took = Duration::from_millis(1);
        m.record("/grpc.health.v1.Health/Watch", tonic::Code::Ok, took);
        m.record("/grpc.health.v1.Health/Check", tonic::Code::Ok, took);
        for i in 0..1000 {
            m.record(&format!("/x{i}.Y/Z"), tonic::Code::Unimplemented, took);
        }
        let mut page = String::new();
        m.render(&mut page);
        assert!(page.contains(r#"method="/grpc.health.v1.Health/Watch""#));
        assert!(page.contains(r#"method="/grpc.health.v1.Health/Check""#));
        assert!(page.contains(
            r#"campaign_rpc_requests_total{method="unknown",code="UNIMPLEMENTED"} 1000"#
        ));
        assert!(!page.contains("/x1.Y/Z"), "{page}");
        assert!(page.len() < 10_000, "{} bytes", page.len());
    }
}
