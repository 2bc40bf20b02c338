//! The workload: players drawing, voting, grabbing red packets, sharing
//! and claiming coupons, store tills redeeming and reversing them, every
//! request over a fresh connection through the fault proxy and recorded
//! in the history as ok / fail / unknown.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use engine_proto::{
    campaign::v1::{
        self as pb, player_service_client::PlayerServiceClient,
        red_packet_service_client::RedPacketServiceClient,
        share_service_client::ShareServiceClient, vote_service_client::VoteServiceClient,
    },
    coupon::v1::{
        self as cpb, coupon_player_service_client::CouponPlayerServiceClient,
        coupon_pos_service_client::CouponPosServiceClient,
    },
};
use prost::Message;
use rand::{Rng, SeedableRng, rngs::StdRng};
use test_kit::harness::{gateway_token, key, with};
use tokio::sync::Mutex;
use tonic::{Code, transport::Endpoint};

use crate::clock::EngineClock;

pub(crate) const PLAYERS: usize = 24;
pub(crate) const TILLS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Fail,
    Unknown,
}

/// One request of the workload, as sent (and re-sent with the same key).
#[derive(Debug, Clone)]
pub(crate) enum Req {
    Draw(pb::DrawRequest),
    Vote(pb::CastVoteRequest),
    Grab(pb::GrabRedPacketRequest),
    Share(pb::CreateShareRequest),
    Open(pb::OpenShareRequest),
    Claim(cpb::ClaimCouponRequest),
    Redeem(cpb::RedeemCouponRequest),
    Reverse(cpb::ReverseRedemptionRequest),
}

impl Req {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Draw(_) => "draw",
            Self::Vote(_) => "vote",
            Self::Grab(_) => "grab",
            Self::Share(_) => "share",
            Self::Open(_) => "open",
            Self::Claim(_) => "claim",
            Self::Redeem(_) => "redeem",
            Self::Reverse(_) => "reverse",
        }
    }

    fn key(&self) -> &str {
        match self {
            Self::Draw(r) => &r.idempotency_key,
            Self::Vote(r) => &r.idempotency_key,
            Self::Grab(r) => &r.idempotency_key,
            Self::Share(r) => &r.idempotency_key,
            Self::Open(r) => &r.idempotency_key,
            Self::Claim(r) => &r.idempotency_key,
            Self::Redeem(r) => &r.idempotency_key,
            Self::Reverse(r) => &r.idempotency_key,
        }
    }
}

/// Who sends a request: a player (a fresh token at the engine's time for
/// every send) or a store till (its POS key).
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    Player(usize),
    Till(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub(crate) key: String,
    pub(crate) req: Req,
    pub(crate) caller: Caller,
    pub(crate) started: Duration,
    pub(crate) ended: Duration,
    pub(crate) outcome: Outcome,
    /// Encoded answer, for ok operations.
    pub(crate) answer: Vec<u8>,
    pub(crate) code: Option<Code>,
}

/// The callers' credentials.
pub(crate) struct Credentials {
    pub(crate) secret: Vec<u8>,
    pub(crate) tills: Vec<String>,
    pub(crate) clock: EngineClock,
}

impl Credentials {
    pub(crate) fn of(&self, caller: &Caller) -> String {
        match caller {
            // Minted at the engine's own time, which the nemesis moves.
            Caller::Player(p) => gateway_token(&self.secret, &format!("f{p}"), self.clock.now()),
            Caller::Till(t) => self.tills[*t].clone(),
        }
    }
}

/// One request over a fresh connection through the proxy.
pub(crate) async fn send_once(
    proxy: SocketAddr,
    credential: &str,
    req: &Req,
) -> (Outcome, Vec<u8>, Option<Code>) {
    let attempt = async {
        let ch = Endpoint::from_shared(format!("http://{proxy}"))
            .map_err(|_| Code::Unknown)?
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .map_err(|_| Code::Unavailable)?;
        let c = credential;
        let bytes = match req {
            Req::Draw(r) => PlayerServiceClient::new(ch)
                .draw(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Vote(r) => VoteServiceClient::new(ch)
                .cast_vote(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Grab(r) => RedPacketServiceClient::new(ch)
                .grab_red_packet(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Share(r) => ShareServiceClient::new(ch)
                .create_share(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Open(r) => ShareServiceClient::new(ch)
                .open_share(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Claim(r) => CouponPlayerServiceClient::new(ch)
                .claim_coupon(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Redeem(r) => CouponPosServiceClient::new(ch)
                .redeem_coupon(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
            Req::Reverse(r) => CouponPosServiceClient::new(ch)
                .reverse_redemption(with(c, r.clone()))
                .await
                .map(|r| r.into_inner().encode_to_vec()),
        };
        bytes.map_err(|s| s.code())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(bytes)) => (Outcome::Ok, bytes, None),
        // Definite refusals: the engine decided and changed nothing.
        Ok(Err(
            c @ (Code::ResourceExhausted
            | Code::FailedPrecondition
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied),
        )) => (Outcome::Fail, Vec::new(), Some(c)),
        // A reset, UNAVAILABLE, ABORTED, an internal error after sending, or
        // a timeout: the request may or may not have taken effect.
        Ok(Err(c)) => (Outcome::Unknown, Vec::new(), Some(c)),
        Err(_) => (Outcome::Unknown, Vec::new(), None),
    }
}

/// What the workload has learnt so far and the history it writes.
pub(crate) struct World {
    pub(crate) t0: Instant,
    pub(crate) proxy: SocketAddr,
    pub(crate) creds: Credentials,
    pub(crate) history: Mutex<Vec<Op>>,
    /// Codes of coupons claimed (answered ok), for the tills.
    pub(crate) codes: Mutex<Vec<String>>,
    /// Redemptions answered ok, for reversals.
    pub(crate) redemptions: Mutex<Vec<String>>,
}

impl World {
    /// Sends `req` as `caller` and records the outcome.
    async fn send(&self, caller: &Caller, req: &Req) -> Op {
        let started = self.t0.elapsed();
        let (outcome, answer, code) = send_once(self.proxy, &self.creds.of(caller), req).await;
        if outcome == Outcome::Ok {
            self.learn(req, &answer).await;
        }
        let op = Op {
            key: req.key().to_owned(),
            req: req.clone(),
            caller: caller.clone(),
            started,
            ended: self.t0.elapsed(),
            outcome,
            answer,
            code,
        };
        self.history.lock().await.push(op.clone());
        op
    }

    async fn learn(&self, req: &Req, answer: &[u8]) {
        match req {
            Req::Claim(_) => {
                if let Ok(c) = cpb::Coupon::decode(answer) {
                    self.codes.lock().await.push(c.code);
                }
            }
            Req::Redeem(_) => {
                if let Ok(r) = cpb::Redemption::decode(answer) {
                    self.redemptions.lock().await.push(r.redemption_id);
                }
            }
            _ => {}
        }
    }
}

/// The identifiers the workload picks from.
pub(crate) struct Targets {
    pub(crate) campaign: String,
    pub(crate) packets: Vec<String>,
    pub(crate) candidates: Vec<String>,
    pub(crate) share_tokens: Vec<String>,
    pub(crate) template: String,
}

fn next_player_req(rng: &mut StdRng, t: &Targets) -> Req {
    let idempotency_key = key();
    let token = t.share_tokens[rng.random_range(0..t.share_tokens.len())].clone();
    match rng.random_range(0..20) {
        0..=3 => Req::Vote(pb::CastVoteRequest {
            idempotency_key,
            candidate_id: t.candidates[rng.random_range(0..t.candidates.len())].clone(),
            channel: String::new(),
        }),
        4..=6 => Req::Grab(pb::GrabRedPacketRequest {
            idempotency_key,
            packet_id: t.packets[rng.random_range(0..t.packets.len())].clone(),
            channel: String::new(),
        }),
        7 | 8 => Req::Share(pb::CreateShareRequest {
            idempotency_key,
            campaign_id: t.campaign.clone(),
            parent_token: token,
            channel: String::new(),
        }),
        9 | 10 => Req::Open(pb::OpenShareRequest {
            idempotency_key,
            token,
            channel: String::new(),
        }),
        11 => Req::Claim(cpb::ClaimCouponRequest {
            idempotency_key,
            template_id: t.template.clone(),
        }),
        _ => Req::Draw(pb::DrawRequest {
            idempotency_key,
            campaign_id: t.campaign.clone(),
            channel: String::new(),
            store_id: String::new(),
        }),
    }
}

async fn next_till_req(rng: &mut StdRng, w: &World) -> Option<Req> {
    let idempotency_key = key();
    if rng.random_bool(0.25) {
        let reds = w.redemptions.lock().await;
        if !reds.is_empty() {
            return Some(Req::Reverse(cpb::ReverseRedemptionRequest {
                idempotency_key,
                redemption_id: reds[rng.random_range(0..reds.len())].clone(),
                reason: "refund".into(),
            }));
        }
    }
    let codes = w.codes.lock().await;
    if codes.is_empty() {
        return None;
    }
    Some(Req::Redeem(cpb::RedeemCouponRequest {
        idempotency_key,
        code: codes[rng.random_range(0..codes.len())].clone(),
        order_amount_cents: 10_000,
        items: Vec::new(),
        order_ref: format!("order-{}", rng.random::<u32>()),
    }))
}

/// Sends `req`; one in ten is sent twice: half of those race at once, the
/// other half re-send a copy 0-2 s later while the client moves on (the
/// copy can arrive after the client's next requests). Late copies are
/// left in `late` for the final phase to await.
async fn send_with_copies(
    w: &Arc<World>,
    rng: &mut StdRng,
    caller: &Caller,
    req: &Req,
    late: &Mutex<Vec<tokio::task::JoinHandle<()>>>,
) -> Vec<Op> {
    let copy = rng.random_bool(0.1);
    if copy && rng.random_bool(0.5) {
        let delay = Duration::from_millis(rng.random_range(0..2000));
        let (w2, caller2, req2) = (w.clone(), caller.clone(), req.clone());
        late.lock().await.push(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            w2.send(&caller2, &req2).await;
        }));
        return vec![w.send(caller, req).await];
    }
    if copy {
        let (a, b) = tokio::join!(w.send(caller, req), w.send(caller, req));
        return vec![a, b];
    }
    vec![w.send(caller, req).await]
}

/// The workload: `PLAYERS` players and `TILLS` store tills, each sending
/// (pausing `think` after each request) until `run_for` has passed since
/// the world's start; returns when they and every late copy are done.
pub(crate) async fn play(
    world: &Arc<World>,
    targets: &Arc<Targets>,
    seed: u64,
    run_for: Duration,
    think: Duration,
) {
    let t0 = world.t0;
    let late: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
    let mut clients = tokio::task::JoinSet::new();
    for p in 0..PLAYERS {
        let (world, targets, late) = (world.clone(), targets.clone(), late.clone());
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(p as u64 + 1));
        clients.spawn(async move {
            let caller = Caller::Player(p);
            while t0.elapsed() < run_for {
                let req = next_player_req(&mut rng, &targets);
                let ops = send_with_copies(&world, &mut rng, &caller, &req, &late).await;
                if ops.iter().any(|o| o.outcome == Outcome::Unknown) {
                    // The engine may be down: back off a little.
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                tokio::time::sleep(think).await;
            }
        });
    }
    for t in 0..TILLS {
        let (world, late) = (world.clone(), late.clone());
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1000 + t as u64));
        clients.spawn(async move {
            let caller = Caller::Till(t);
            while t0.elapsed() < run_for {
                let Some(req) = next_till_req(&mut rng, &world).await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let ops = send_with_copies(&world, &mut rng, &caller, &req, &late).await;
                if ops.iter().any(|o| o.outcome == Outcome::Unknown) {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                tokio::time::sleep(think).await;
            }
        });
    }
    while clients.join_next().await.is_some() {}
    for h in std::mem::take(&mut *late.lock().await) {
        let _ = h.await;
    }
}
