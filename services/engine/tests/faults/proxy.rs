//! The network nemeses: the TCP fault proxy in front of the engine (answers
//! lost after the server committed, refused connections) and the road from
//! the engine's prize outbox to its coupon service, cut on and off.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy does to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Pass,
    /// Forward the request; drop the answer once the server starts
    /// answering a stream, then cut the connection.
    AckLost,
    /// Cut the connection before anything reaches the server.
    Refuse,
}

/// Forwards client -> server untouched; forwards server -> client frame by
/// frame, and for `AckLost` stops at the first HEADERS or DATA frame of a
/// stream (the answer), so the server has done the work but the client
/// never learns it.
async fn serve_connection(client: TcpStream, backend: SocketAddr, fault: Fault) {
    if fault == Fault::Refuse {
        return;
    }
    let Ok(server) = TcpStream::connect(backend).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut cr, &mut sw).await;
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    'pump: loop {
        let n = match sr.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if fault == Fault::Pass {
            if cw.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            continue;
        }
        buf.extend_from_slice(&chunk[..n]);
        // The server preface is 9-byte-headed frames: forward whole frames
        // until a response frame (HEADERS=1 or DATA=0 on a stream) appears.
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let kind = buf[3];
            let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            if stream != 0 && (kind == 0 || kind == 1) {
                // The answer: lose it, then drop the connection.
                tokio::time::sleep(Duration::from_millis(50)).await;
                break 'pump;
            }
            let frame: Vec<u8> = buf.drain(..9 + len).collect();
            if cw.write_all(&frame).await.is_err() {
                break 'pump;
            }
        }
    }
    up.abort();
}

pub(crate) async fn proxy(
    listener: TcpListener,
    backend: SocketAddr,
    faulty: Arc<AtomicBool>,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x9e37_79b9);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let roll: f64 = rng.random();
        let fault = if !faulty.load(Ordering::SeqCst) {
            Fault::Pass
        } else if roll < 0.10 {
            Fault::AckLost
        } else if roll < 0.13 {
            Fault::Refuse
        } else {
            Fault::Pass
        };
        tokio::spawn(serve_connection(client, backend, fault));
    }
}

/// The road from the engine's prize outbox to its coupon service: while
/// `down` is true, new connections are refused and open ones are cut, so
/// the coupon service is unreachable exactly as if it had stopped.
pub(crate) async fn coupon_road(
    listener: TcpListener,
    backend: SocketAddr,
    down: watch::Receiver<bool>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        if *down.borrow() {
            continue; // dropped: refused
        }
        let mut down = down.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(backend).await else {
                return;
            };
            let mut client = client;
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                _ = down.wait_for(|d| *d) => {}
            }
        });
    }
}
