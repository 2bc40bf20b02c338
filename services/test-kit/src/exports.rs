//! Exports as a hostile client holds them: opened on a connection with the
//! smallest HTTP/2 window and never read, then drained to see how the
//! engine ended them (the in-process and the real-binary stall tests).

use std::{net::SocketAddr, time::Duration};

use engine_proto::campaign::v1::{self as pb, audit_service_client::AuditServiceClient};
use tonic::{Code, Streaming, transport::Endpoint};

use crate::harness::with;

/// An `ExportCampaign` stream on a new connection with the smallest
/// windows (64 KB), started and then left unread.
pub async fn stalled_campaign_export(
    addr: SocketAddr,
    credential: &str,
    campaign_id: &str,
) -> Streaming<pb::ExportLine> {
    let slow = Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .expect("connect");
    AuditServiceClient::new(slow)
        .export_campaign(with(
            credential,
            pb::ExportCampaignRequest {
                campaign_id: campaign_id.into(),
            },
        ))
        .await
        .expect("export starts")
        .into_inner()
}

/// Reads `stream` to its end within 20 s: the lines it gave and how it
/// ended (`None`: OK, else the status code).
pub async fn drain<T>(mut stream: Streaming<T>) -> (usize, Option<Code>) {
    let mut lines = 0;
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => lines += 1,
                Ok(None) => return None,
                Err(e) => return Some(e.code()),
            }
        }
    })
    .await
    .expect("the stream ends within 20 s");
    (lines, end)
}
