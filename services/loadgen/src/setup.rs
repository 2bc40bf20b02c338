//! Setting the scene over the engine's own admin APIs: the merchant, player
//! tokens, wheels, coupons, budgets, candidates; and the in-process store
//! the baseline calls.

use std::{str::FromStr, time::Duration};

use anyhow::{Context, bail};
use campaign::{
    clock::{Clock, SystemClock},
    domain::credential::{PlayerClaims, sign_player_token},
    store::{Store, postgres::PgDb, sqlite::SqliteDb},
};
use engine_proto::{
    campaign::v1::{
        self as pb, admin_service_client::AdminServiceClient,
        money_service_client::MoneyServiceClient,
        vote_admin_service_client::VoteAdminServiceClient,
    },
    coupon::v1::{self as cpb, coupon_admin_service_client::CouponAdminServiceClient},
};
use tonic::{Request, transport::Channel};

/// `msg` with `authorization: Bearer <cred>`.
pub fn with<T>(cred: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Ok(v) = format!("Bearer {cred}").parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn now_ms() -> i64 {
    SystemClock.now_ms()
}

/// The bench merchant's player-token issuer: signs tokens for any openid.
#[derive(Clone)]
pub struct Players {
    issuer: String,
    secret: Vec<u8>,
}

impl Players {
    pub fn new() -> Self {
        Self {
            issuer: format!("loadgen-{}", uuid::Uuid::new_v4().simple()),
            secret: uuid::Uuid::new_v4()
                .as_bytes()
                .iter()
                .chain(uuid::Uuid::new_v4().as_bytes())
                .copied()
                .collect(),
        }
    }

    /// A token for `openid`, valid 50 minutes (runs are shorter; every run
    /// signs its own).
    pub fn token(&self, openid: &str) -> String {
        let s = now_ms() / 1000;
        sign_player_token(
            &self.secret,
            &PlayerClaims {
                iss: self.issuer.clone(),
                aud: "campaign-engine".into(),
                sub: openid.into(),
                iat: s,
                exp: s + 3000,
            },
        )
    }

    /// `per_task` tokens for each of `tasks` tasks: openids
    /// `{prefix}-{task}-{j}`; no two tasks share a player.
    pub fn pools(&self, prefix: &str, tasks: usize, per_task: usize) -> Vec<Vec<(String, String)>> {
        (0..tasks)
            .map(|t| {
                (0..per_task)
                    .map(|j| {
                        let id = format!("{prefix}-{t}-{j}");
                        (self.token(&id), id)
                    })
                    .collect()
            })
            .collect()
    }
}

/// The database as the library opens it, for the baseline.
#[derive(Clone)]
pub enum DirectDb {
    Sqlite(SqliteDb),
    Pg(PgDb),
}

impl DirectDb {
    pub async fn open(url: &str, pg_pool: u32) -> anyhow::Result<Self> {
        Ok(if url.starts_with("sqlite:") {
            Self::Sqlite(SqliteDb::connect(url).await.context("opening SQLite")?)
        } else {
            Self::Pg(
                PgDb::connect(url, pg_pool)
                    .await
                    .context("connecting to PostgreSQL")?,
            )
        })
    }

    /// A merchant of the bench's own (so any database will do, fresh or
    /// not): its id and admin key.
    pub async fn create_merchant(&self) -> anyhow::Result<(String, String)> {
        let name = format!("loadgen {}", now_ms());
        let (id, key) = match self {
            Self::Sqlite(db) => {
                Store::new(db.clone())
                    .create_merchant(&name, now_ms())
                    .await
            }
            Self::Pg(db) => {
                Store::new(db.clone())
                    .create_merchant(&name, now_ms())
                    .await
            }
        }
        .context("creating the bench merchant")?;
        Ok((id, key.full))
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(db) => db.close().await,
            Self::Pg(db) => db.close().await,
        }
    }
}

/// Read-only SQL for the checks no RPC answers (coupon redemptions).
pub enum CheckDb {
    Sqlite(sqlx::SqlitePool),
    Pg(sqlx::PgPool),
}

impl CheckDb {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Ok(if url.starts_with("sqlite:") {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .read_only(true)
                .busy_timeout(Duration::from_secs(10));
            Self::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await?,
            )
        } else {
            Self::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(url)
                    .await?,
            )
        })
    }

    /// One row of integers.
    pub async fn ints(&self, sql: &'static str, arg: &str) -> anyhow::Result<(i64, i64)> {
        Ok(match self {
            Self::Sqlite(p) => {
                sqlx::query_as::<_, (i64, i64)>(sql)
                    .bind(arg)
                    .fetch_one(p)
                    .await?
            }
            Self::Pg(p) => {
                sqlx::query_as::<_, (i64, i64)>(sql)
                    .bind(arg)
                    .fetch_one(p)
                    .await?
            }
        })
    }

    /// On PostgreSQL, `VACUUM (ANALYZE)` and `CHECKPOINT` before a
    /// measured window, as the shared bench's run.sh does before each
    /// pgbench run: otherwise the window measures autovacuum and a
    /// checkpoint catching up with the set-up (200,000 coupons issued just
    /// before a redeem run). SQLite has neither in the background (its
    /// checkpoints run inside commits, part of what is measured).
    /// Either refused (a role without the rights) is said and skipped.
    pub async fn settle(&self) {
        if let Self::Pg(p) = self {
            for sql in ["VACUUM (ANALYZE)", "CHECKPOINT"] {
                if let Err(e) = sqlx::raw_sql(sql).execute(p).await {
                    eprintln!("  {sql} before the window failed ({e}); measuring without it");
                }
            }
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(p) => p.close().await,
            Self::Pg(p) => p.close().await,
        }
    }
}

/// The merchant's admin, over one connection of its own.
#[derive(Clone)]
pub struct Admin {
    pub ch: Channel,
    pub key: String,
}

pub struct WheelShape {
    /// (weight, stock) of each POINTS slot; a THANKS fallback of weight 0
    /// is appended.
    pub prizes: Vec<(i64, i64)>,
}

impl WheelShape {
    pub fn hot() -> Self {
        Self {
            prizes: vec![(1, 100_000_000)],
        }
    }
    pub fn spread() -> Self {
        Self {
            prizes: vec![(1, 10_000_000); 16],
        }
    }
    pub fn race(stock: i64) -> Self {
        Self {
            prizes: vec![(1, stock)],
        }
    }
    /// No prize at all: a published campaign to hang votes or money on.
    pub fn bare() -> Self {
        Self { prizes: Vec::new() }
    }
}

impl Admin {
    fn campaigns(&self) -> AdminServiceClient<Channel> {
        AdminServiceClient::new(self.ch.clone())
    }
    fn money(&self) -> MoneyServiceClient<Channel> {
        MoneyServiceClient::new(self.ch.clone())
    }

    pub async fn set_player_token_key(&self, p: &Players) -> anyhow::Result<()> {
        self.campaigns()
            .set_player_token_key(with(
                &self.key,
                pb::SetPlayerTokenKeyRequest {
                    idempotency_key: key(),
                    issuer: p.issuer.clone(),
                    secret: p.secret.clone(),
                    key_id: String::new(),
                },
            ))
            .await
            .context("SetPlayerTokenKey")?;
        Ok(())
    }

    /// A published wheel of this shape, every player allowed the most the
    /// engine accepts: 10,000 draws a day, 1,000,000 in all (with
    /// `--players-per-task` players per task, limits never bite).
    pub async fn wheel(&self, name: &str, shape: &WheelShape) -> anyhow::Result<String> {
        let now = now_ms();
        let mut admin = self.campaigns();
        let mut c = admin
            .create_wheel(with(
                &self.key,
                pb::CreateWheelRequest {
                    idempotency_key: key(),
                    name: name.into(),
                    starts_at_ms: now - 3_600_000,
                    ends_at_ms: now + 86_400_000,
                    time_zone: String::new(),
                    draws_per_day: 10_000,
                    draws_total: 1_000_000,
                },
            ))
            .await
            .context("CreateWheel")?
            .into_inner();
        let mut slots: Vec<pb::PrizeSlotSpec> = shape
            .prizes
            .iter()
            .enumerate()
            .map(|(i, &(weight, stock))| pb::PrizeSlotSpec {
                name: format!("Prize {i}"),
                kind: pb::PrizeKind::Points as i32,
                weight,
                stock,
                amount: 10,
                ..Default::default()
            })
            .collect();
        slots.push(pb::PrizeSlotSpec {
            name: "Thanks".into(),
            kind: pb::PrizeKind::Thanks as i32,
            // A bare campaign needs one slot with weight > 0.
            weight: i64::from(shape.prizes.is_empty()),
            ..Default::default()
        });
        let fallback = (slots.len() - 1) as u32;
        for s in slots {
            c = admin
                .add_prize_slot(with(
                    &self.key,
                    pb::AddPrizeSlotRequest {
                        idempotency_key: key(),
                        campaign_id: c.campaign_id.clone(),
                        slot: Some(s),
                    },
                ))
                .await
                .context("AddPrizeSlot")?
                .into_inner();
        }
        admin
            .set_fallback_slot(with(
                &self.key,
                pb::SetFallbackSlotRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                    index: fallback,
                },
            ))
            .await
            .context("SetFallbackSlot")?;
        admin
            .publish_campaign(with(
                &self.key,
                pb::CampaignTransitionRequest {
                    idempotency_key: key(),
                    campaign_id: c.campaign_id.clone(),
                },
            ))
            .await
            .context("PublishCampaign")?;
        Ok(c.campaign_id)
    }

    pub async fn campaign(&self, id: &str) -> anyhow::Result<pb::Campaign> {
        Ok(self
            .campaigns()
            .get_campaign(with(
                &self.key,
                pb::GetCampaignRequest {
                    campaign_id: id.into(),
                },
            ))
            .await
            .context("GetCampaign")?
            .into_inner())
    }

    /// A POS key for `store`: (credential, key id).
    pub async fn pos_key(&self, store: &str) -> anyhow::Result<(String, String)> {
        let made = pb::store_admin_service_client::StoreAdminServiceClient::new(self.ch.clone())
            .create_store(with(
                &self.key,
                pb::CreateStoreRequest {
                    idempotency_key: key(),
                    store_id: store.into(),
                    name: store.into(),
                    ..Default::default()
                },
            ))
            .await;
        match made {
            Ok(_) => {}
            Err(e) if e.code() == tonic::Code::AlreadyExists => {}
            Err(e) => return Err(e).context("CreateStore"),
        }
        let r = self
            .campaigns()
            .create_api_key(with(
                &self.key,
                pb::CreateApiKeyRequest {
                    idempotency_key: key(),
                    role: pb::Role::Pos as i32,
                    store_id: store.into(),
                    label: "loadgen till".into(),
                },
            ))
            .await
            .context("CreateApiKey")?
            .into_inner();
        let id = r.key.map(|k| k.key_id).unwrap_or_default();
        Ok((r.api_key, id))
    }

    /// An amount-off template with room for `supply` coupons.
    pub async fn coupon_template(&self, supply: i64) -> anyhow::Result<String> {
        Ok(CouponAdminServiceClient::new(self.ch.clone())
            .create_template(with(
                &self.key,
                cpb::CreateTemplateRequest {
                    idempotency_key: key(),
                    name: "loadgen 1.00 off".into(),
                    kind: cpb::DiscountKind::AmountOff as i32,
                    amount_off_cents: 100,
                    valid_days: 30,
                    total_supply: supply,
                    ..Default::default()
                },
            ))
            .await
            .context("CreateTemplate")?
            .into_inner()
            .template_id)
    }

    /// Issues `count` coupons of `template` with bulk jobs (at most
    /// 100,000 each) and returns their codes.
    pub async fn bulk_issue(&self, template: &str, count: usize) -> anyhow::Result<Vec<String>> {
        let mut client = CouponAdminServiceClient::new(self.ch.clone());
        let mut codes = Vec::with_capacity(count);
        let mut left = count;
        while left > 0 {
            let n = left.min(100_000);
            left -= n;
            let job = client
                .start_bulk_issue(with(
                    &self.key,
                    cpb::StartBulkIssueRequest {
                        idempotency_key: key(),
                        template_id: template.into(),
                        count: n as i64,
                    },
                ))
                .await
                .context("StartBulkIssue")?
                .into_inner();
            let mut waited = 0;
            loop {
                let j = client
                    .get_bulk_issue_job(with(
                        &self.key,
                        cpb::GetBulkIssueJobRequest {
                            job_id: job.job_id.clone(),
                        },
                    ))
                    .await
                    .context("GetBulkIssueJob")?
                    .into_inner();
                if j.state == cpb::JobState::Done as i32 {
                    break;
                }
                if j.state == cpb::JobState::Failed as i32 {
                    bail!("bulk issue job {} failed: {}", j.job_id, j.error);
                }
                waited += 1;
                if waited > 6000 {
                    bail!(
                        "bulk issue job {} not done after 10 minutes ({} of {})",
                        j.job_id,
                        j.issued,
                        j.requested
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let mut stream = client
                .export_bulk_issue_codes(with(
                    &self.key,
                    cpb::ExportBulkIssueCodesRequest {
                        job_id: job.job_id.clone(),
                    },
                ))
                .await
                .context("ExportBulkIssueCodes")?
                .into_inner();
            let mut text = Vec::new();
            while let Some(chunk) = stream.message().await.context("reading the CSV")? {
                text.extend_from_slice(&chunk.data);
            }
            let text = String::from_utf8(text).context("CSV is not UTF-8")?;
            let before = codes.len();
            for line in text.lines().skip(1) {
                if let Some(code) = line.split(',').next().filter(|c| !c.is_empty()) {
                    codes.push(code.to_owned());
                }
            }
            if codes.len() - before != n {
                bail!(
                    "bulk job {} exported {} codes, expected {n}",
                    job.job_id,
                    codes.len() - before
                );
            }
        }
        Ok(codes)
    }

    pub async fn fund(&self, campaign: &str, cents: i64) -> anyhow::Result<()> {
        self.money()
            .fund_budget(with(
                &self.key,
                pb::FundBudgetRequest {
                    idempotency_key: key(),
                    campaign_id: campaign.into(),
                    amount_cents: cents,
                },
            ))
            .await
            .context("FundBudget")?;
        Ok(())
    }

    /// A campaign packet paying [min, max] cents per grab from the budget.
    pub async fn campaign_packet(
        &self,
        campaign: &str,
        min: i64,
        max: i64,
    ) -> anyhow::Result<String> {
        Ok(self
            .money()
            .create_campaign_packet(with(
                &self.key,
                pb::CreateCampaignPacketRequest {
                    idempotency_key: key(),
                    campaign_id: campaign.into(),
                    min_cents: min,
                    max_cents: max,
                    expires_in_seconds: 0,
                },
            ))
            .await
            .context("CreateCampaignPacket")?
            .into_inner()
            .packet_id)
    }

    pub async fn budget(&self, campaign: &str) -> anyhow::Result<pb::Budget> {
        Ok(self
            .money()
            .get_budget(with(
                &self.key,
                pb::GetBudgetRequest {
                    campaign_id: campaign.into(),
                },
            ))
            .await
            .context("GetBudget")?
            .into_inner())
    }

    pub async fn packet(&self, packet: &str) -> anyhow::Result<pb::RedPacket> {
        self.money()
            .get_red_packet(with(
                &self.key,
                pb::GetRedPacketRequest {
                    packet_id: packet.into(),
                },
            ))
            .await
            .context("GetRedPacket")?
            .into_inner()
            .packet
            .context("GetRedPacket answered no packet")
    }

    /// Voting on `campaign` with caps that never bite, and `n` candidates.
    pub async fn voting(&self, campaign: &str, n: usize) -> anyhow::Result<Vec<String>> {
        let mut admin = VoteAdminServiceClient::new(self.ch.clone());
        admin
            .set_vote_rules(with(
                &self.key,
                pb::SetVoteRulesRequest {
                    idempotency_key: key(),
                    campaign_id: campaign.into(),
                    votes_per_day: 1_000_000,
                    votes_per_candidate_per_day: 1_000_000,
                    votes_total: 1_000_000,
                    player_registration: false,
                },
            ))
            .await
            .context("SetVoteRules")?;
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            ids.push(
                admin
                    .add_candidate(with(
                        &self.key,
                        pb::AddCandidateRequest {
                            idempotency_key: key(),
                            campaign_id: campaign.into(),
                            name: format!("Candidate {i}"),
                            description: String::new(),
                        },
                    ))
                    .await
                    .context("AddCandidate")?
                    .into_inner()
                    .candidate_id,
            );
        }
        Ok(ids)
    }

    pub async fn leaderboard(&self, campaign: &str) -> anyhow::Result<Vec<pb::Candidate>> {
        Ok(
            engine_proto::campaign::v1::vote_service_client::VoteServiceClient::new(
                self.ch.clone(),
            )
            .get_leaderboard(with(
                &self.key,
                pb::GetLeaderboardRequest {
                    campaign_id: campaign.into(),
                },
            ))
            .await
            .context("GetLeaderboard")?
            .into_inner()
            .candidates,
        )
    }
}
