//! The webhook sender's HTTP client: hyper's pooled HTTP/1 client over a
//! connector that resolves the host itself and refuses any address
//! `domain::webhook::address_allowed` refuses (checked at every
//! connection, so a name that later resolves to a private address is
//! refused too), then speaks TLS for `https`. Redirects are answers like
//! any other: never followed.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Uri};
use hyper_util::{
    client::legacy::{
        Client,
        connect::{Connected, Connection},
    },
    rt::{TokioExecutor, TokioIo},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{
    TlsConnector,
    client::TlsStream,
    rustls::{ClientConfig, RootCertStore, pki_types::ServerName},
};

use crate::domain::webhook::address_allowed;

/// A connection may take this long to open (TCP and TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole request may take this long, answer included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A plain or TLS connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, b),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, b),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Opens connections to allowed addresses only.
#[derive(Clone)]
pub struct GuardedConnector {
    allow_private: bool,
    tls: TlsConnector,
}

impl GuardedConnector {
    // Newer rustls releases (the fuzz crate's own lock file) deprecate
    // ring's provider in favour of aws-lc-rs, which needs cmake and a C
    // toolchain to build; ring is what the workspace already builds.
    #[allow(deprecated)]
    pub fn new(allow_private: bool) -> Self {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            // A certificate the store cannot parse is skipped, as browsers do.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            tracing::warn!("no system root certificates: https webhooks will fail");
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        // At start-up only: ring supports its own default protocol versions.
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Self {
            allow_private,
            tls: TlsConnector::from(Arc::new(config)),
        }
    }
}

fn refused(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, why)
}

async fn connect(uri: Uri, allow_private: bool, tls: TlsConnector) -> io::Result<Conn> {
    let https = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addrs: Vec<SocketAddr> = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio::net::lookup_host((host.as_str(), port)),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "name lookup timed out"))??
    .collect();
    let allowed: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| address_allowed(a.ip(), allow_private))
        .collect();
    if allowed.is_empty() {
        return Err(refused(format!(
            "{host} resolves to no address webhooks may call (private, loopback, link-local \
             or reserved; see webhook_allow_private)"
        )));
    }
    let mut last = io::Error::new(io::ErrorKind::NotConnected, "no address answered");
    for addr in allowed {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                if !https {
                    return Ok(Conn::Plain(tcp));
                }
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS timed out"))??;
                return Ok(Conn::Tls(Box::new(tls)));
            }
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}

impl tower_service::Service<Uri> for GuardedConnector {
    type Response = TokioIo<Conn>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Conn>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (allow, tls) = (self.allow_private, self.tls.clone());
        Box::pin(async move { connect(uri, allow, tls).await.map(TokioIo::new) })
    }
}

/// The client every webhook worker shares (connections pooled per host).
#[derive(Clone)]
pub struct Sender {
    client: Client<GuardedConnector, Full<Bytes>>,
}

/// What a POST got: the status, or why there was none.
pub type Posted = Result<u16, String>;

impl Sender {
    pub fn new(allow_private: bool) -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(GuardedConnector::new(allow_private));
        Self { client }
    }

    /// POSTs `body` to `url` with `headers`; the answer's status (its body
    /// read, up to 64 KiB, and dropped), within [`REQUEST_TIMEOUT`].
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Posted {
        let uri: Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let mut req = Request::post(uri).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| {
                // The connector's own refusal is the root cause.
                let mut src: Option<&dyn std::error::Error> = Some(&e);
                let mut last = e.to_string();
                while let Some(s) = src {
                    last = s.to_string();
                    src = s.source();
                }
                last
            })?;
            let status = resp.status().as_u16();
            let _ = Limited::new(resp.into_body(), 64 * 1024).collect().await;
            Ok(status)
        };
        tokio::time::timeout(REQUEST_TIMEOUT, call)
            .await
            .map_err(|_| format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
    }
}
