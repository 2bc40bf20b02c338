//! The fuzz targets' harness: the whole engine (campaign and coupon
//! services) started once per fuzzing process on a scratch SQLite file,
//! and every RPC reachable by a selector byte. An input is a selector byte
//! and the bytes of that RPC's request message: decoded (bytes that are not
//! the message are skipped), sent with the credential of the role that may
//! call it (admin, player, till, delivery worker) through the engine's real
//! decode -> authenticate -> validate -> convert -> store path.
//!
//! A crash is a panic anywhere in the process (libFuzzer's panic hook
//! aborts, also for a panic inside a server task) or an answer that bad
//! input must never get: INTERNAL, UNKNOWN or DATA_LOSS. Memory is bounded
//! by libFuzzer's `-rss_limit_mb` / `-malloc_limit_mb` (scripts/fuzz.sh).

use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use campaign::{
    clock::{Clock, SystemClock},
    config::Settings,
    domain::credential::{PlayerClaims, sign_player_token},
};
use engine_proto::{campaign::v1 as pb, coupon::v1 as cpb};
use prost::Message;
use tonic::{Code, Request, Status, transport::Channel};

const DELIVERY_SECRET: &str = "fuzz-delivery-secret";
const ISSUER: &str = "fuzz";

/// Who calls an RPC.
#[derive(Debug, Clone, Copy)]
enum Caller {
    Admin,
    Player,
    Till,
    Delivery,
}

/// The engine of this process and its runtime.
pub struct Engine {
    rt: tokio::runtime::Runtime,
    callers: Callers,
}

/// A channel to the engine and every role's credential.
struct Callers {
    channel: Channel,
    admin_key: String,
    till_key: String,
    token_secret: Vec<u8>,
}

impl Callers {
    fn credential(&self, caller: Caller) -> String {
        match caller {
            Caller::Admin => self.admin_key.clone(),
            Caller::Till => self.till_key.clone(),
            Caller::Delivery => DELIVERY_SECRET.to_owned(),
            Caller::Player => {
                let now = SystemClock.now_ms() / 1000;
                sign_player_token(
                    &self.token_secret,
                    &PlayerClaims {
                        iss: ISSUER.into(),
                        aud: "campaign-engine".into(),
                        sub: "fuzz-player".into(),
                        iat: now,
                        exp: now + 600,
                    },
                )
            }
        }
    }

    fn request<T>(&self, caller: Caller, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Ok(v) = format!("Bearer {}", self.credential(caller)).parse() {
            r.metadata_mut().insert("authorization", v);
        }
        r
    }
}

/// The engine of this process, started on first use.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(start)
}

fn scratch_dir() -> PathBuf {
    // tmpfs where there is one: the engine commits with fsync.
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("engine-fuzz-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn start() -> Engine {
    // libFuzzer's C main does not set up the Rust runtime, which ignores
    // SIGPIPE: without this, a write to a socket the peer closed kills the
    // fuzzer instead of returning EPIPE to the engine.
    // SAFETY: setting a signal's disposition to SIG_IGN at start-up, before
    // any thread of ours exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = scratch_dir();
    let mut settings = Settings {
        database_url: format!("sqlite:{}", dir.join("fuzz.db").display()),
        bootstrap_key_file: dir.join("admin.key"),
        player_rate_per_sec: 0,
        delivery_secret: DELIVERY_SECRET.into(),
        ..Settings::default()
    };
    campaign::config::CampaignSettings {
        coupon_endpoint: "none".into(),
        ..Default::default()
    }
    .write_into(&mut settings);
    coupon::config::CouponSettings {
        till_failure_limit: 0,
        ..Default::default()
    }
    .write_into(&mut settings);
    let key_file = settings.bootstrap_key_file.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listener");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(async move {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if let Err(e) =
            engine::run_engine(settings, listener, std::future::pending::<()>(), clock).await
        {
            panic!("the engine stopped: {e}");
        }
    });
    let callers = rt.block_on(async {
        let mut connected = None;
        for _ in 0..600 {
            if let (Ok(k), Ok(ch)) = (
                std::fs::read_to_string(&key_file),
                Channel::from_shared(format!("http://{addr}"))
                    .expect("uri")
                    .connect()
                    .await,
            ) {
                connected = Some((k.trim().to_owned(), ch));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (admin_key, channel) = connected.expect("the engine did not start in 30 s");
        let mut callers = Callers {
            channel: channel.clone(),
            admin_key,
            till_key: String::new(),
            token_secret: vec![7u8; 32],
        };
        pb::store_admin_service_client::StoreAdminServiceClient::new(channel.clone())
            .create_store(callers.request(
                Caller::Admin,
                pb::CreateStoreRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    store_id: "store-1".into(),
                    name: "fuzz store".into(),
                    ..Default::default()
                },
            ))
            .await
            .expect("register the till's store");
        let mut admin = pb::admin_service_client::AdminServiceClient::new(channel);
        callers.till_key = admin
            .create_api_key(callers.request(
                Caller::Admin,
                pb::CreateApiKeyRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    role: pb::Role::Pos as i32,
                    store_id: "store-1".into(),
                    label: "fuzz till".into(),
                },
            ))
            .await
            .expect("till key")
            .into_inner()
            .api_key;
        admin
            .set_player_token_key(callers.request(
                Caller::Admin,
                pb::SetPlayerTokenKeyRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    issuer: ISSUER.into(),
                    secret: callers.token_secret.clone(),
                    key_id: String::new(),
                },
            ))
            .await
            .expect("player token key");
        callers
    });
    Engine { rt, callers }
}

/// Answers bad input must never get.
fn judge(method: &str, result: Result<(), Status>) {
    if let Err(s) = result
        && matches!(s.code(), Code::Internal | Code::Unknown | Code::DataLoss)
    {
        panic!("{method} answered {:?}: {}", s.code(), s.message());
    }
}

/// Reads a streamed answer to its end (at most 1,000 messages).
async fn drain<T>(r: Result<tonic::Response<tonic::Streaming<T>>, Status>) -> Result<(), Status> {
    let mut stream = r?.into_inner();
    for _ in 0..1000 {
        if stream.message().await?.is_none() {
            break;
        }
    }
    Ok(())
}

macro_rules! rpc_table {
    ($fn_name:ident, $count:ident: $( [$($client:ident)::+] $method:ident ($req:ty) $caller:ident $kind:ident; )*) => {
        /// How many RPCs the selector byte chooses from.
        pub const $count: usize = [$(stringify!($method)),*].len();

        async fn $fn_name(e: &Callers, selector: usize, body: &[u8]) {
            let mut i = 0usize;
            $(
                if selector == i {
                    let Ok(req) = <$req>::decode(body) else { return };
                    let call = $($client)::+::new(e.channel.clone())
                        .$method(e.request(Caller::$caller, req))
                        .await;
                    judge(stringify!($method), rpc_table!(@finish $kind call));
                    return;
                }
                i += 1;
            )*
            let _ = i;
        }
    };
    (@finish unary $call:ident) => { $call.map(|_| ()) };
    (@finish stream $call:ident) => { drain($call).await };
}

rpc_table! { campaign_rpc, CAMPAIGN_RPCS:
    [pb::admin_service_client::AdminServiceClient] create_api_key(pb::CreateApiKeyRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] revoke_api_key(pb::RevokeApiKeyRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] list_api_keys(pb::ListApiKeysRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] set_player_token_key(pb::SetPlayerTokenKeyRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] retire_player_token_key(pb::RetirePlayerTokenKeyRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] create_wheel(pb::CreateWheelRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] add_prize_slot(pb::AddPrizeSlotRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] update_prize_slot(pb::UpdatePrizeSlotRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] revise_wheel(pb::ReviseWheelRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] set_fallback_slot(pb::SetFallbackSlotRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] publish_campaign(pb::CampaignTransitionRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] pause_campaign(pb::CampaignTransitionRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] resume_campaign(pb::CampaignTransitionRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] end_campaign(pb::CampaignTransitionRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] schedule_publish(pb::SchedulePublishRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] get_campaign(pb::GetCampaignRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] list_winners(pb::ListWinnersRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] ship_prize(pb::ShipPrizeRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] simulate_wheel(pb::SimulateWheelRequest) Admin unary;
    [pb::audit_service_client::AuditServiceClient] export_campaign(pb::ExportCampaignRequest) Admin stream;
    [pb::audit_service_client::AuditServiceClient] export_audit_log(pb::ExportAuditLogRequest) Admin stream;
    [pb::player_service_client::PlayerServiceClient] get_wheel(pb::GetWheelRequest) Player unary;
    [pb::player_service_client::PlayerServiceClient] draw(pb::DrawRequest) Player unary;
    [pb::player_service_client::PlayerServiceClient] list_my_prizes(pb::ListMyPrizesRequest) Player unary;
    [pb::player_service_client::PlayerServiceClient] claim_prize(pb::ClaimPrizeRequest) Player unary;
    [pb::money_service_client::MoneyServiceClient] fund_budget(pb::FundBudgetRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] refund_budget(pb::RefundBudgetRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] get_budget(pb::GetBudgetRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] create_group_packet(pb::CreateGroupPacketRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] create_campaign_packet(pb::CreateCampaignPacketRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] get_red_packet(pb::GetRedPacketRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] expire_red_packets(pb::ExpireRedPacketsRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] export_ledger(pb::ExportLedgerRequest) Admin stream;
    [pb::red_packet_service_client::RedPacketServiceClient] grab_red_packet(pb::GrabRedPacketRequest) Player unary;
    [pb::red_packet_service_client::RedPacketServiceClient] list_my_grabs(pb::ListMyGrabsRequest) Player unary;
    [pb::share_admin_service_client::ShareAdminServiceClient] set_share_rules(pb::SetShareRulesRequest) Admin unary;
    [pb::share_admin_service_client::ShareAdminServiceClient] get_share_rules(pb::GetShareRulesRequest) Admin unary;
    [pb::share_admin_service_client::ShareAdminServiceClient] get_share_chain(pb::GetShareChainRequest) Admin unary;
    [pb::share_admin_service_client::ShareAdminServiceClient] set_chance_rules(pb::SetChanceRulesRequest) Admin unary;
    [pb::share_service_client::ShareServiceClient] create_share(pb::CreateShareRequest) Player unary;
    [pb::share_service_client::ShareServiceClient] open_share(pb::OpenShareRequest) Player unary;
    [pb::share_service_client::ShareServiceClient] get_my_share_stats(pb::GetMyShareStatsRequest) Player unary;
    [pb::stats_service_client::StatsServiceClient] get_campaign_stats(pb::GetCampaignStatsRequest) Admin unary;
    [pb::stats_service_client::StatsServiceClient] export_campaign_stats(pb::GetCampaignStatsRequest) Admin stream;
    [pb::vote_admin_service_client::VoteAdminServiceClient] set_vote_rules(pb::SetVoteRulesRequest) Admin unary;
    [pb::vote_admin_service_client::VoteAdminServiceClient] add_candidate(pb::AddCandidateRequest) Admin unary;
    [pb::vote_admin_service_client::VoteAdminServiceClient] review_candidate(pb::ReviewCandidateRequest) Admin unary;
    [pb::vote_admin_service_client::VoteAdminServiceClient] invalidate_vote(pb::InvalidateVoteRequest) Admin unary;
    [pb::vote_admin_service_client::VoteAdminServiceClient] list_votes(pb::ListVotesRequest) Admin unary;
    [pb::vote_service_client::VoteServiceClient] register_candidate(pb::RegisterCandidateRequest) Player unary;
    [pb::vote_service_client::VoteServiceClient] cast_vote(pb::CastVoteRequest) Player unary;
    [pb::vote_service_client::VoteServiceClient] get_leaderboard(pb::GetLeaderboardRequest) Player unary;
    // The lists and season operations (issue 24).
    [pb::admin_service_client::AdminServiceClient] list_campaigns(pb::ListCampaignsRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] clone_campaign(pb::CloneCampaignRequest) Admin unary;
    [pb::admin_service_client::AdminServiceClient] export_winners(pb::ExportWinnersRequest) Admin stream;
    [pb::admin_service_client::AdminServiceClient] bulk_ship_prizes(pb::BulkShipPrizesRequest) Admin unary;
    [pb::money_service_client::MoneyServiceClient] list_red_packets(pb::ListRedPacketsRequest) Admin unary;
    [pb::share_admin_service_client::ShareAdminServiceClient] list_share_chains(pb::ListShareChainsRequest) Admin unary;
    [pb::vote_admin_service_client::VoteAdminServiceClient] list_candidates(pb::ListCandidatesRequest) Admin unary;
    // Not UpdateStore: closing store-1 would revoke the till key every
    // coupon target's POS calls use.
    [pb::store_admin_service_client::StoreAdminServiceClient] create_store(pb::CreateStoreRequest) Admin unary;
    [pb::store_admin_service_client::StoreAdminServiceClient] get_store(pb::GetStoreRequest) Admin unary;
    [pb::store_admin_service_client::StoreAdminServiceClient] list_stores(pb::ListStoresRequest) Admin unary;
    // Raffles (issue 24).
    [pb::raffle_admin_service_client::RaffleAdminServiceClient] create_raffle(pb::CreateRaffleRequest) Admin unary;
    [pb::raffle_admin_service_client::RaffleAdminServiceClient] get_raffle(pb::GetRaffleRequest) Admin unary;
    [pb::raffle_admin_service_client::RaffleAdminServiceClient] list_raffles(pb::ListRafflesRequest) Admin unary;
    [pb::raffle_admin_service_client::RaffleAdminServiceClient] run_raffle(pb::RunRaffleRequest) Admin unary;
    // Events and webhooks (issue 25). Not SubscribeEvents (it never ends),
    // CreateWebhookEndpoint nor TestWebhookEndpoint (they would make the
    // engine call addresses off this machine).
    [pb::event_service_client::EventServiceClient] list_events(pb::ListEventsRequest) Admin unary;
    [pb::webhook_admin_service_client::WebhookAdminServiceClient] list_webhook_endpoints(pb::ListWebhookEndpointsRequest) Admin unary;
    [pb::webhook_admin_service_client::WebhookAdminServiceClient] update_webhook_endpoint(pb::UpdateWebhookEndpointRequest) Admin unary;
    [pb::webhook_admin_service_client::WebhookAdminServiceClient] delete_webhook_endpoint(pb::DeleteWebhookEndpointRequest) Admin unary;
    [pb::webhook_admin_service_client::WebhookAdminServiceClient] list_webhook_deliveries(pb::ListWebhookDeliveriesRequest) Admin unary;
    [pb::webhook_admin_service_client::WebhookAdminServiceClient] redeliver_event(pb::RedeliverEventRequest) Admin unary;
}

rpc_table! { coupon_rpc, COUPON_RPCS:
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] create_template(cpb::CreateTemplateRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] get_template(cpb::GetTemplateRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] import_pool_codes(cpb::ImportPoolCodesRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] get_code_pool(cpb::GetCodePoolRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] start_bulk_issue(cpb::StartBulkIssueRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] get_bulk_issue_job(cpb::GetBulkIssueJobRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] export_bulk_issue_codes(cpb::ExportBulkIssueCodesRequest) Admin stream;
    [cpb::coupon_player_service_client::CouponPlayerServiceClient] claim_coupon(cpb::ClaimCouponRequest) Player unary;
    [cpb::coupon_player_service_client::CouponPlayerServiceClient] list_my_coupons(cpb::ListMyCouponsRequest) Player unary;
    [cpb::coupon_player_service_client::CouponPlayerServiceClient] get_my_coupon(cpb::GetMyCouponRequest) Player unary;
    [cpb::coupon_pos_service_client::CouponPosServiceClient] validate_coupon(cpb::ValidateCouponRequest) Till unary;
    [cpb::coupon_pos_service_client::CouponPosServiceClient] redeem_coupon(cpb::RedeemCouponRequest) Till unary;
    [cpb::coupon_pos_service_client::CouponPosServiceClient] reverse_redemption(cpb::ReverseRedemptionRequest) Till unary;
    [cpb::coupon_pos_service_client::CouponPosServiceClient] get_redemption_by_key(cpb::GetRedemptionByKeyRequest) Till unary;
    [cpb::coupon_delivery_service_client::CouponDeliveryServiceClient] deliver_prize(cpb::DeliverPrizeRequest) Delivery unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] get_store_figures(cpb::GetStoreFiguresRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_templates(cpb::ListTemplatesRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_code_pools(cpb::ListCodePoolsRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_bulk_issue_jobs(cpb::ListBulkIssueJobsRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_coupons(cpb::ListCouponsRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_redemptions(cpb::ListRedemptionsRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] create_targeted_issue(cpb::CreateTargetedIssueRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] append_targeted_issue(cpb::AppendTargetedIssueRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] start_targeted_issue(cpb::StartTargetedIssueRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] get_targeted_issue(cpb::GetTargetedIssueRequest) Admin unary;
    [cpb::coupon_admin_service_client::CouponAdminServiceClient] list_targeted_issue_results(cpb::ListTargetedIssueResultsRequest) Admin unary;
}

/// One campaign-service input: a selector byte, then the request bytes.
pub fn fuzz_campaign(data: &[u8]) {
    if let Some((&sel, body)) = data.split_first() {
        let e = engine();
        e.rt.block_on(campaign_rpc(
            &e.callers,
            usize::from(sel) % CAMPAIGN_RPCS,
            body,
        ));
    }
}

/// One coupon-service input: a selector byte, then the request bytes.
pub fn fuzz_coupon(data: &[u8]) {
    if let Some((&sel, body)) = data.split_first() {
        let e = engine();
        e.rt.block_on(coupon_rpc(&e.callers, usize::from(sel) % COUPON_RPCS, body));
    }
}

/// The parsers of what callers present before any RPC runs: API keys,
/// player tokens (with and without a plausible three-part shape) and
/// coupon codes typed at a till.
pub fn fuzz_credentials(data: &[u8]) {
    use campaign::domain::credential::{
        GatewayKey, parse_api_key, token_issuer, verify_player_token,
    };
    let s = String::from_utf8_lossy(data);
    let _ = parse_api_key(&s);
    let _ = token_issuer(&s);
    let secret = &data[..data.len().min(40)];
    // Two active keys, as during a rotation: a named one and the legacy one.
    let keys = [
        GatewayKey {
            kid: "k2".into(),
            secret: secret.to_vec(),
        },
        GatewayKey {
            kid: String::new(),
            secret: secret.iter().rev().copied().collect(),
        },
    ];
    let _ = verify_player_token(&s, &keys, ISSUER, "campaign-engine", 1_795_665_600_000);
    let _ = verify_player_token(&format!("{s}.{s}.{s}"), &keys, ISSUER, "campaign-engine", 0);
    let _ = coupon::domain::code::CouponCode::parse(&s);
}
