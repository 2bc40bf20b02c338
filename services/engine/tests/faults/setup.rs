//! The arrangement of a run: the engine, a proxy in front of it, the
//! coupon road, a wheel open now whose stock runs out mid-run, red
//! packets, vote rules and candidates, root shares, store tills, and the
//! players' tokens.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicBool},
    time::Instant,
};

use engine_proto::campaign::v1::{
    self as pb, PrizeKind, admin_service_client::AdminServiceClient,
    money_service_client::MoneyServiceClient, share_service_client::ShareServiceClient,
    vote_admin_service_client::VoteAdminServiceClient,
};
use test_kit::coupon_kit as kit;
use test_kit::harness::{
    DAY, TestDb, build_wheel, gateway_token, key, read_key, register_gateway, rules, slot, thanks,
    with,
};
use tokio::{
    net::TcpListener,
    sync::{Mutex, watch},
    task::JoinHandle,
};
use tonic::transport::Channel;

use crate::{
    engine::Engine,
    profile::Profile,
    proxy::proxy,
    workload::{Credentials, TILLS, Targets, World},
};

pub(crate) const VOTES_PER_DAY: i64 = 8;
pub(crate) const VOTES_PER_CANDIDATE_DAY: i64 = 4;
pub(crate) const VOTES_TOTAL: i64 = 12;

/// Everything a run plays on.
pub(crate) struct Rig {
    pub(crate) engine: Engine,
    pub(crate) admin_key: String,
    pub(crate) secret: Vec<u8>,
    pub(crate) targets: Arc<Targets>,
    /// The fault proxy's address; it injects faults while `faulty`.
    pub(crate) proxy_addr: SocketAddr,
    pub(crate) faulty: Arc<AtomicBool>,
    pub(crate) proxy_task: JoinHandle<()>,
    pub(crate) world: Arc<World>,
}

/// Starts the engine over `db`, arranges the campaign, and opens the
/// fault proxy (faulty from the start) and the workload's world, whose
/// clock starts now. The sender cuts the coupon road (`true`).
pub(crate) async fn arrange(db: &TestDb, prof: Profile, seed: u64) -> (Rig, watch::Sender<bool>) {
    let (engine, road_down_tx) = Engine::launch(db).await;
    let channel = engine.channel.clone();
    let admin_key = read_key(&db.dir.join("admin.key")).await;
    let secret = vec![4u8; 32];
    let mut admin = AdminServiceClient::new(channel.clone());
    let now = register_gateway(&mut admin, &admin_key, &secret).await;
    let template = coupon_template(&channel, &admin_key).await;
    let id = wheel(&mut admin, &admin_key, prof, now, &template).await;
    let packets = red_packets(&channel, &admin_key, &id).await;
    let candidates = voting(&channel, &admin_key, &id).await;
    let share_tokens = root_shares(&channel, &secret, &id, now).await;
    let tills = tills(&channel, &mut admin, &admin_key).await;
    let targets = Arc::new(Targets {
        campaign: id.clone(),
        packets,
        candidates,
        share_tokens,
        template,
    });
    let proxy_listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
    let proxy_addr = proxy_listener.local_addr().expect("addr");
    let faulty = Arc::new(AtomicBool::new(true));
    let proxy_task = tokio::spawn(proxy(proxy_listener, engine.addr, faulty.clone(), seed));
    let t0 = Instant::now();
    let world = Arc::new(World {
        t0,
        proxy: proxy_addr,
        creds: Credentials {
            secret: secret.clone(),
            tills,
            clock: engine.clock.clone(),
        },
        history: Mutex::default(),
        codes: Mutex::default(),
        redemptions: Mutex::default(),
    });
    let rig = Rig {
        engine,
        admin_key,
        secret,
        targets,
        proxy_addr,
        faulty,
        proxy_task,
        world,
    };
    (rig, road_down_tx)
}

/// The coupon template the wheel's coupon prize and the claims issue.
async fn coupon_template(channel: &Channel, admin_key: &str) -> String {
    kit::admin(channel)
        .create_template(with(admin_key, {
            let mut t = kit::amount_off(500);
            t.total_supply = 1_000_000;
            t.per_user_limit = 5;
            t
        }))
        .await
        .expect("coupon template")
        .into_inner()
        .template_id
}

/// A wheel open now, with the profile's draw limits, a capped physical
/// prize, points and a coupon prize; returns its campaign id.
async fn wheel(
    admin: &mut AdminServiceClient<Channel>,
    admin_key: &str,
    prof: Profile,
    now: i64,
    template: &str,
) -> String {
    let mut r = rules(prof.draws_per_day, prof.draws_total);
    r.starts_at_ms = now - DAY;
    r.ends_at_ms = now + 3 * DAY;
    let mut capped = slot("Phone", PrizeKind::Physical, 2, 40);
    capped.per_user_cap = 3;
    let mut coupon = slot("5.00 off", PrizeKind::Coupon, 2, prof.coupon_stock);
    coupon.reference = template.to_owned();
    let slots = vec![
        capped,
        slot("Points", PrizeKind::Points, 3, 300),
        coupon,
        thanks(5),
    ];
    build_wheel(admin, admin_key, r, slots, 3, true)
        .await
        .campaign_id
}

/// Money: a budget, three lucky group packets and a campaign packet that
/// the players will empty; returns the packets' ids.
async fn red_packets(channel: &Channel, admin_key: &str, id: &str) -> Vec<String> {
    let mut money = MoneyServiceClient::new(channel.clone());
    money
        .fund_budget(with(
            admin_key,
            pb::FundBudgetRequest {
                idempotency_key: key(),
                campaign_id: id.to_owned(),
                amount_cents: 6000,
            },
        ))
        .await
        .expect("fund");
    let mut packets = Vec::new();
    for _ in 0..3 {
        let p = money
            .create_group_packet(with(
                admin_key,
                pb::CreateGroupPacketRequest {
                    idempotency_key: key(),
                    campaign_id: id.to_owned(),
                    total_cents: 1000,
                    parts: 10,
                    split_mode: pb::SplitMode::Lucky as i32,
                    expires_in_seconds: 0,
                },
            ))
            .await
            .expect("group packet");
        packets.push(p.into_inner().packet_id);
    }
    let drip = money
        .create_campaign_packet(with(
            admin_key,
            pb::CreateCampaignPacketRequest {
                idempotency_key: key(),
                campaign_id: id.to_owned(),
                min_cents: 50,
                max_cents: 200,
                expires_in_seconds: 0,
            },
        ))
        .await
        .expect("campaign packet");
    packets.push(drip.into_inner().packet_id);
    packets
}

/// Voting: the limits and three candidates; returns the candidates' ids.
async fn voting(channel: &Channel, admin_key: &str, id: &str) -> Vec<String> {
    let mut votes_admin = VoteAdminServiceClient::new(channel.clone());
    votes_admin
        .set_vote_rules(with(
            admin_key,
            pb::SetVoteRulesRequest {
                idempotency_key: key(),
                campaign_id: id.to_owned(),
                votes_per_day: VOTES_PER_DAY,
                votes_per_candidate_per_day: VOTES_PER_CANDIDATE_DAY,
                votes_total: VOTES_TOTAL,
                player_registration: false,
            },
        ))
        .await
        .expect("vote rules");
    let mut candidates = Vec::new();
    for n in 0..3 {
        let k = votes_admin
            .add_candidate(with(
                admin_key,
                pb::AddCandidateRequest {
                    idempotency_key: key(),
                    campaign_id: id.to_owned(),
                    name: format!("Candidate {n}"),
                    description: String::new(),
                },
            ))
            .await
            .expect("candidate");
        candidates.push(k.into_inner().candidate_id);
    }
    candidates
}

/// Sharing: three root shares to open and forward from; returns their
/// tokens.
async fn root_shares(channel: &Channel, secret: &[u8], id: &str, now: i64) -> Vec<String> {
    let mut share_tokens = Vec::new();
    for p in 0..3 {
        let token = gateway_token(secret, &format!("f{p}"), now);
        let s = ShareServiceClient::new(channel.clone())
            .create_share(with(
                &token,
                pb::CreateShareRequest {
                    idempotency_key: key(),
                    campaign_id: id.to_owned(),
                    parent_token: String::new(),
                    channel: String::new(),
                },
            ))
            .await
            .expect("root share");
        share_tokens.push(s.into_inner().token);
    }
    share_tokens
}

/// Store tills: two stores, registered, two tills each; returns their
/// POS keys.
async fn tills(
    channel: &Channel,
    admin: &mut AdminServiceClient<Channel>,
    admin_key: &str,
) -> Vec<String> {
    let mut tills = Vec::new();
    let mut stores = pb::store_admin_service_client::StoreAdminServiceClient::new(channel.clone());
    for s in 0..2 {
        stores
            .create_store(with(
                admin_key,
                pb::CreateStoreRequest {
                    idempotency_key: key(),
                    store_id: format!("store-{s}"),
                    name: format!("门店 {s}"),
                    city: "上海".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("register store");
    }
    for t in 0..TILLS {
        let k = admin
            .create_api_key(with(
                admin_key,
                pb::CreateApiKeyRequest {
                    idempotency_key: key(),
                    role: pb::Role::Pos as i32,
                    store_id: format!("store-{}", t % 2),
                    label: format!("till {t}"),
                },
            ))
            .await
            .expect("till key");
        tills.push(k.into_inner().api_key);
    }
    tills
}
