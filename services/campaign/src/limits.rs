//! Bounds on what one client can hold open (issue 22, denial of service):
//! HTTP/2 streams per connection, time for a request's body, keep-alive
//! pings, and an idle timeout for connections that send nothing.
//!
//! Everything is a tonic / hyper / h2 setting except the idle timeout:
//! hyper has none for a connection that has not yet sent its first bytes
//! (the HTTP/1-or-2 detection waits forever), so [`IdleTimeout`] fails
//! the socket's reads once the client has been silent too long, and hyper
//! then drops the connection.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::{Stream, TryStreamExt};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

use crate::config::Settings;

/// Seconds as a duration, `0` meaning "off".
fn secs(n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(n.into()))
}

/// A server builder with the stream, request and keep-alive limits set.
pub fn server(settings: &Settings) -> tonic::transport::Server {
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(
            (settings.http2_max_concurrent_streams > 0)
                .then_some(settings.http2_max_concurrent_streams),
        )
        .http2_keepalive_interval(secs(settings.http2_keepalive_interval_secs))
        .http2_keepalive_timeout(secs(settings.http2_keepalive_timeout_secs));
    if let Some(t) = secs(settings.request_timeout_secs) {
        builder = builder.timeout(t);
    }
    builder
}

/// The listener's connections, with no Nagle delay (a small answer waiting
/// for the client's delayed ACK added ~40 ms tails to draws), each closed
/// once it has sent nothing for `connection_idle_timeout_secs`.
pub fn incoming(
    listener: TcpListener,
    settings: &Settings,
) -> impl Stream<Item = io::Result<IdleTimeout>> {
    let idle = secs(settings.connection_idle_timeout_secs);
    TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .map_ok(move |io| IdleTimeout::new(io, idle))
}

/// A TCP stream whose reads fail with `TimedOut` once no byte has arrived
/// for `idle` (never, with `None`). Writes pass through.
pub struct IdleTimeout {
    io: TcpStream,
    idle: Option<Duration>,
    deadline: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    pub fn new(io: TcpStream, idle: Option<Duration>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(idle.unwrap_or(Duration::ZERO)));
        Self { io, idle, deadline }
    }
}

impl Connected for IdleTimeout {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if let (Some(idle), true) = (this.idle, buf.filled().len() > before) {
                    this.deadline.as_mut().reset(Instant::now() + idle);
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.idle {
                Some(_) if this.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                    io::Error::new(io::ErrorKind::TimedOut, "connection idle timeout"),
                )),
                _ => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
