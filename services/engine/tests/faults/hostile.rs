//! The hostile neighbour (issue 22): beside the workload and the other
//! nemeses, a client that attacks the engine's listener directly (not
//! through the fault proxy) every 0.5-2 s with one of:
//!
//! - **idle connections**: 32 TCP connections that send nothing, held for
//!   1-3 s;
//! - **stalled exports**: two `ExportCampaign` streams on connections with
//!   the smallest HTTP/2 window, never read, held for 2-4 s (each holds a
//!   read snapshot until the engine cuts it or the client leaves);
//! - **a path flood**: 100 HTTP/1.1 requests for unique 2 KB paths.
//!
//! It changes no check of the suite: the workload's checks must hold with
//! it running, and the engine must serve after it stops. Attacks made
//! while the engine is down simply fail; each kind counts those that
//! reached the engine, and the suite asserts every kind did.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use engine_proto::campaign::v1::{self as pb, audit_service_client::AuditServiceClient};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tonic::transport::Endpoint;

/// Attacks that reached the engine, by kind.
#[derive(Default)]
pub struct Struck {
    pub idle: AtomicU64,
    pub stalled: AtomicU64,
    pub flood: AtomicU64,
}

impl Struck {
    pub fn summary(&self) -> String {
        format!(
            "hostile neighbour: {} idle connections, {} stalled exports, {} flooded paths",
            self.idle.load(Ordering::SeqCst),
            self.stalled.load(Ordering::SeqCst),
            self.flood.load(Ordering::SeqCst)
        )
    }

    /// Whether every kind of attack reached the engine at least once.
    pub fn every_kind(&self) -> bool {
        [&self.idle, &self.stalled, &self.flood]
            .iter()
            .all(|n| n.load(Ordering::SeqCst) > 0)
    }
}

/// Attacks `engine` until `stop`; `admin_key` may export `campaign`.
pub fn spawn(
    engine: SocketAddr,
    admin_key: String,
    campaign: String,
    stop: Arc<AtomicBool>,
    seed: u64,
    struck: Arc<Struck>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0b5e55ed);
        let mut round = 0u64;
        while !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(500..2000))).await;
            // Round-robin, so a short run still sees every kind.
            round += 1;
            match round % 3 {
                0 => idle(engine, &mut rng, &struck).await,
                1 => stalled(engine, &admin_key, &campaign, &mut rng, &struck).await,
                _ => flood(engine, &mut rng, &struck).await,
            }
        }
    })
}

async fn idle(engine: SocketAddr, rng: &mut StdRng, struck: &Struck) {
    let mut held = Vec::new();
    for _ in 0..32 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(engine)).await
        {
            held.push(s);
        }
    }
    struck.idle.fetch_add(held.len() as u64, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(rng.random_range(1000..3000))).await;
}

async fn stalled(
    engine: SocketAddr,
    admin_key: &str,
    campaign: &str,
    rng: &mut StdRng,
    struck: &Struck,
) {
    let mut held = Vec::new();
    for _ in 0..2 {
        let attempt = async {
            let ch = Endpoint::from_shared(format!("http://{engine}"))
                .ok()?
                .initial_stream_window_size(65_535)
                .initial_connection_window_size(65_535)
                .connect()
                .await
                .ok()?;
            let mut req = tonic::Request::new(pb::ExportCampaignRequest {
                campaign_id: campaign.to_owned(),
            });
            req.metadata_mut()
                .insert("authorization", format!("Bearer {admin_key}").parse().ok()?);
            AuditServiceClient::new(ch)
                .export_campaign(req)
                .await
                .ok()
                .map(|r| r.into_inner())
        };
        if let Ok(Some(stream)) = tokio::time::timeout(Duration::from_secs(2), attempt).await {
            held.push(stream);
        }
    }
    struck
        .stalled
        .fetch_add(held.len() as u64, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(rng.random_range(2000..4000))).await;
}

async fn flood(engine: SocketAddr, rng: &mut StdRng, struck: &Struck) {
    for _ in 0..100 {
        let path: String = (0..2048)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect();
        let attempt = async {
            let mut s = TcpStream::connect(engine).await.ok()?;
            s.write_all(
                format!("GET /{path} HTTP/1.1\r\nHost: engine\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await.ok()?;
            answer.starts_with(b"HTTP/1.1 ").then_some(())
        };
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_millis(500), attempt).await {
            struck.flood.fetch_add(1, Ordering::SeqCst);
        }
    }
}
