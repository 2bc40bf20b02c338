//! Nothing acknowledged is lost: draws answered before the engine process
//! is killed with SIGKILL are all there after a restart, and their
//! retries replay the same answers.

use std::{process::Command, sync::Arc, time::Duration};

use engine_proto::campaign::v1::{self as pb, PrizeKind};
use prost::Message;
use tokio::{sync::Mutex, task::JoinSet};

use crate::helpers::*;

/// (player token, request, answer bytes) of an acknowledged draw.
type Acked = (String, pb::DrawRequest, Vec<u8>);

async fn acknowledged_draws_survive_kill_9_and_sigterm_drains(backend: Backend) {
    // Arrange: the real binary on a fresh database, with a wheel open now.
    let db = TestDb::new(backend).await;
    let port = free_port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut child = start_engine(env!("CARGO_BIN_EXE_campaign-service"), &db, port);
    let channel = wait_serving(addr).await;
    let admin_key = read_key(&db.dir.join("admin.key")).await;
    let secret = vec![5u8; 32];
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel.clone());
    let now = register_gateway(&mut admin, &admin_key, &secret).await;
    let mut r = rules(10_000, 10_000);
    r.starts_at_ms = now - DAY;
    r.ends_at_ms = now + DAY;
    let c = build_wheel(
        &mut admin,
        &admin_key,
        r,
        vec![slot("Cup", PrizeKind::Physical, 1, 100_000), thanks(1)],
        1,
        true,
    )
    .await;
    let id = c.campaign_id.clone();
    let token = |who: &str| gateway_token(&secret, who, now);

    // Act: 16 players draw in a loop; the process is killed mid-stream.
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let mut set = JoinSet::new();
    for p in 0..16 {
        let (channel, acked, id, tok) = (
            channel.clone(),
            acked.clone(),
            id.clone(),
            token(&format!("k{p}")),
        );
        set.spawn(async move {
            let mut client = pb::player_service_client::PlayerServiceClient::new(channel);
            for _ in 0..10_000 {
                let req = pb::DrawRequest {
                    idempotency_key: key(),
                    campaign_id: id.clone(),
                    channel: String::new(),
                    store_id: String::new(),
                };
                match client.draw(with(&tok, req.clone())).await {
                    Ok(resp) => acked.lock().await.push((
                        tok.clone(),
                        req,
                        resp.into_inner().encode_to_vec(),
                    )),
                    Err(_) => break,
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    while set.join_next().await.is_some() {}
    let acked = acked.lock().await.clone();
    assert!(
        acked.len() > 20,
        "only {} draws acknowledged before the kill",
        acked.len()
    );

    // Assert: after a restart, every acknowledged draw is in the ledger,
    // and a retry of each replays the exact same answer.
    let child = start_engine(env!("CARGO_BIN_EXE_campaign-service"), &db, port);
    let channel = wait_serving(addr).await;
    let mut client = pb::player_service_client::PlayerServiceClient::new(channel);
    for (_, _, bytes) in &acked {
        let d = pb::DrawResponse::decode(bytes.as_slice()).expect("decode");
        let n = db
            .scalar("SELECT COUNT(*) FROM draw WHERE draw_id = $1", &d.draw_id)
            .await;
        assert_eq!(n, 1, "acknowledged draw {} lost", d.draw_id);
    }
    for (tok, req, bytes) in acked.iter().step_by(acked.len() / 20) {
        let again = client
            .draw(with(tok, req.clone()))
            .await
            .expect("retry")
            .into_inner();
        assert_eq!(
            &again.encode_to_vec(),
            bytes,
            "a retry after restart must replay the same answer"
        );
    }
    db.assert_stock_balances(&id).await;

    // SIGTERM drains and exits cleanly (status 0) within a few seconds.
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let status = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::task::spawn_blocking(move || {
            let mut child = child;
            child.wait()
        }),
    )
    .await
    .expect("engine exits after SIGTERM")
    .expect("join")
    .expect("wait");
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

both_backends!(acknowledged_draws_survive_kill_9_and_sigterm_drains);
