//! The final phase's history: the liveness probe after the last fault,
//! every unknown operation re-sent with its original key until it
//! resolves, and the history written out, one JSON line per operation.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use engine_proto::campaign::v1 as pb;
use prost::Message;
use sha2::Digest;
use test_kit::harness::{Backend, gateway_token, key};

use crate::{
    clock::EngineClock,
    workload::{Op, Outcome, Req, World, send_once},
};

/// Liveness: how long until a new player's first draw succeeds after the
/// faults (at most a little over 60 s).
pub(crate) async fn progress_after(
    proxy_addr: SocketAddr,
    secret: &[u8],
    clock: &EngineClock,
    id: &str,
) -> Duration {
    let last_fault = Instant::now();
    let fresh = gateway_token(secret, "fresh", clock.now());
    let fresh_req = Req::Draw(pb::DrawRequest {
        idempotency_key: key(),
        campaign_id: id.to_owned(),
        channel: String::new(),
        store_id: String::new(),
    });
    loop {
        let (outcome, _, _) = send_once(proxy_addr, &fresh, &fresh_req).await;
        if outcome == Outcome::Ok || last_fault.elapsed() > Duration::from_secs(60) {
            break last_fault.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The history once every unknown operation has resolved.
pub(crate) struct Resolved {
    /// Every operation; the unknown ones again at the end, as resolved.
    pub(crate) history: Vec<Op>,
    /// How many operations were unknown.
    pub(crate) unknown: usize,
    /// How many of those were applied (ok when re-sent).
    pub(crate) resolved_ok: usize,
}

/// Re-sends every unknown operation of `world`'s history, its original
/// request, key and all, on 64 tasks until it resolves (20 tries each).
pub(crate) async fn resolve_unknowns(world: &Arc<World>, ctx: &str) -> Resolved {
    let t0 = world.t0;
    let mut history = world.history.lock().await.clone();
    let unknown: Vec<Op> = history
        .iter()
        .filter(|o| o.outcome == Outcome::Unknown)
        .cloned()
        .collect();
    let mut resolving = tokio::task::JoinSet::new();
    for chunk in unknown.chunks(unknown.len().div_ceil(64).max(1)) {
        let (chunk, world, ctx) = (chunk.to_vec(), world.clone(), ctx.to_owned());
        resolving.spawn(async move {
            let mut out = Vec::new();
            for op in chunk {
                // The original request, key and all.
                let mut last = None;
                for _ in 0..20 {
                    let credential = world.creds.of(&op.caller);
                    let (outcome, answer, code) =
                        send_once(world.proxy, &credential, &op.req).await;
                    if outcome != Outcome::Unknown {
                        last = Some((outcome, answer, code));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let (outcome, answer, code) =
                    last.unwrap_or_else(|| panic!("{ctx}: op {} never resolved", op.key));
                out.push(Op {
                    outcome,
                    answer,
                    code,
                    started: t0.elapsed(),
                    ended: t0.elapsed(),
                    ..op
                });
            }
            out
        });
    }
    while let Some(r) = resolving.join_next().await {
        history.extend(r.expect("resolver"));
    }
    let resolved_ok = history[history.len() - unknown.len()..]
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .count();
    Resolved {
        history,
        unknown: unknown.len(),
        resolved_ok,
    }
}

/// The history, one JSON line per operation, kept for inspection.
pub(crate) fn write_history(history: &[Op], backend: Backend, seed: u64, ctx: &str) {
    let history_file =
        std::env::temp_dir().join(format!("campaign-faults-{backend:?}-{seed}.jsonl"));
    let lines: Vec<String> = history
        .iter()
        .map(|o| {
            serde_json::json!({
                "key": o.key, "caller": format!("{:?}", o.caller), "op": o.req.name(),
                "request_sha256": hex::encode(sha2::Sha256::digest(request_bytes(&o.req))),
                "start_ms": o.started.as_millis() as u64, "end_ms": o.ended.as_millis() as u64,
                "outcome": format!("{:?}", o.outcome).to_lowercase(),
                "code": o.code.map(|c| format!("{c:?}")),
                "answer_sha256": (!o.answer.is_empty()).then(|| hex::encode(sha2::Sha256::digest(&o.answer))),
            })
            .to_string()
        })
        .collect();
    let _ = std::fs::write(&history_file, lines.join("\n") + "\n");
    eprintln!("{ctx}: history in {}", history_file.display());
}

/// The request as sent, for the history's fingerprint.
fn request_bytes(req: &Req) -> Vec<u8> {
    match req {
        Req::Draw(r) => r.encode_to_vec(),
        Req::Vote(r) => r.encode_to_vec(),
        Req::Grab(r) => r.encode_to_vec(),
        Req::Share(r) => r.encode_to_vec(),
        Req::Open(r) => r.encode_to_vec(),
        Req::Claim(r) => r.encode_to_vec(),
        Req::Redeem(r) => r.encode_to_vec(),
        Req::Reverse(r) => r.encode_to_vec(),
    }
}
