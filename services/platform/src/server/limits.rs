//! Bounds on what one client can hold open (issue 22, denial of service):
//! HTTP/2 streams per connection, time for a request's body, keep-alive
//! pings, an idle timeout for connections that send nothing, a cap on the
//! connections open at once, and an accept loop that backs off when the
//! process is out of file descriptors.
//!
//! Everything is a tonic / hyper / h2 setting except the last three,
//! written here because tonic has none of them: hyper has no timeout for
//! a connection that has not yet sent its first bytes (the HTTP/1-or-2
//! detection waits forever), so [`IdleTimeout`] fails the socket's reads
//! once the client has been silent too long; tonic's `TcpIncoming` has no
//! connection cap; and tonic's serve loop retries a failed `accept` at
//! once, which spins a core at EMFILE (measured: 55-97 % of a core with
//! 1,100 idle connections at a 1,024 descriptor limit).

use std::{
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures_util::Stream;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::settings::Settings;

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

/// File descriptors kept back from the connection cap for everything else
/// the process opens: database connections, the SQLite files, the metrics
/// listener, log files.
const RESERVED_FDS: u64 = 128;

/// The connections that may be open at once: `setting` (0 = no cap), but
/// never more than the process's open-file limit leaves after
/// [`RESERVED_FDS`] (half of a limit below 256), so the cap is reached
/// before EMFILE is.
pub fn connection_cap(setting: u32, open_files_limit: Option<u64>) -> Option<usize> {
    if setting == 0 {
        return None;
    }
    let by_fds = open_files_limit.map(|n| n.saturating_sub(RESERVED_FDS.min(n / 2)).max(1));
    let cap = match by_fds {
        Some(fds) => u64::from(setting).min(fds),
        None => u64::from(setting),
    };
    Some(usize::try_from(cap).unwrap_or(usize::MAX))
}

/// The soft open-file limit of this process (`ulimit -n`), read from
/// `/proc/self/limits` (Linux); `None` when unlimited or unknown.
pub fn open_files_limit() -> Option<u64> {
    soft_open_files(&std::fs::read_to_string("/proc/self/limits").ok()?)
}

/// The soft limit on the "Max open files" line of a `/proc/*/limits` text.
fn soft_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Waits between failed `accept`s: none after a failure of one
/// connection (reset or aborted before it was accepted), otherwise 10 ms
/// doubling up to 1 s, reset by the next accepted connection.
#[derive(Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// How long to wait after `e` (`None`: try again at once).
    fn after(&mut self, e: &io::Error) -> Option<Duration> {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
        if matches!(
            e.kind(),
            ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
        ) {
            return None;
        }
        let wait = self.next.unwrap_or(Self::FIRST);
        if self.next.is_none() {
            tracing::warn!(error = %e, "accepting connections failed; backing off (is the open-file limit too low? see docs/operations.md)");
        }
        self.next = Some((wait * 2).min(Self::MAX));
        Some(wait)
    }

    fn reset(&mut self) {
        self.next = None;
    }
}

/// The listener's connections, with no Nagle delay (a small answer waiting
/// for the client's delayed ACK added ~40 ms tails to draws), each closed
/// once it has sent nothing for `connection_idle_timeout_secs`, at most
/// `max_connections` at once (see [`connection_cap`]): at the cap the
/// listener stops accepting, so new connections wait in the kernel's
/// backlog until one closes. A failed `accept` backs off ([`Backoff`]).
/// Never yields an error (tonic would only log it and ask again).
pub fn incoming(
    listener: TcpListener,
    settings: &Settings,
) -> impl Stream<Item = io::Result<IdleTimeout>> {
    let idle = secs(settings.connection_idle_timeout_secs);
    let cap = connection_cap(settings.max_connections, open_files_limit());
    if let Some(cap) = cap {
        tracing::info!(max_connections = cap, "connection cap");
    }
    let slots = cap.map(|n| Arc::new(Semaphore::new(n)));
    let state = (listener, slots, Backoff::default());
    futures_util::stream::unfold(state, move |(listener, slots, mut backoff)| async move {
        loop {
            let slot = match &slots {
                Some(s) => Some(s.clone().acquire_owned().await.ok()?),
                None => None,
            };
            match listener.accept().await {
                Ok((io, _)) => {
                    backoff.reset();
                    // A socket that refuses TCP_NODELAY still works.
                    let _ = io.set_nodelay(true);
                    let conn = IdleTimeout::new(io, idle).holding(slot);
                    return Some((Ok(conn), (listener, slots, backoff)));
                }
                Err(e) => {
                    drop(slot);
                    if let Some(wait) = backoff.after(&e) {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    })
}

/// A TCP stream whose reads fail with `TimedOut` once no byte has arrived
/// for `idle` (never, with `None`). Writes pass through. Holds its slot
/// under the connection cap until dropped.
pub struct IdleTimeout {
    io: TcpStream,
    idle: Option<Duration>,
    deadline: Pin<Box<Sleep>>,
    _slot: Option<OwnedSemaphorePermit>,
}

impl IdleTimeout {
    pub fn new(io: TcpStream, idle: Option<Duration>) -> Self {
        let deadline = Box::pin(tokio::time::sleep(idle.unwrap_or(Duration::ZERO)));
        Self {
            io,
            idle,
            deadline,
            _slot: None,
        }
    }

    /// The same connection, holding `slot` until it is dropped.
    fn holding(self, slot: Option<OwnedSemaphorePermit>) -> Self {
        Self {
            _slot: slot,
            ..self
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_under_the_open_file_limit() {
        assert_eq!(connection_cap(0, Some(1024)), None);
        assert_eq!(connection_cap(10_000, None), Some(10_000));
        assert_eq!(connection_cap(10_000, Some(1024)), Some(896));
        assert_eq!(connection_cap(500, Some(1024)), Some(500));
        assert_eq!(connection_cap(10_000, Some(200)), Some(100));
        assert_eq!(connection_cap(10_000, Some(1)), Some(1));
        assert_eq!(connection_cap(10_000, Some(0)), Some(1));
    }

    #[test]
    fn accept_failures_back_off_but_lost_connections_do_not() {
        let mut b = Backoff::default();
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(b.after(&reset), None);
        let emfile = io::Error::from_raw_os_error(24);
        let waits: Vec<_> = (0..10).filter_map(|_| b.after(&emfile)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(waits[9], Duration::from_secs(1));
        b.reset();
        assert_eq!(b.after(&emfile), Some(Duration::from_millis(10)));
    }

    #[test]
    fn the_soft_open_file_limit_is_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95543                95543                processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(soft_open_files(limits), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(soft_open_files(unlimited), None);
        assert_eq!(soft_open_files(""), None);
    }
}
