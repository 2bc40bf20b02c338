//! MoneyService (admin, auditor reads) and RedPacketService (players):
//! budgets, red packets, grabs and the ledger export.

use std::{pin::Pin, sync::Arc};

use engine_proto::campaign::v1::{
    self as pb, money_service_server::MoneyService, red_packet_service_server::RedPacketService,
};
use prost::Message;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{idempotency, uuid_field},
    error::invalid,
    export::{Page, PageFuture, Reads, paged},
    respond, traced,
};
use crate::{
    domain::{
        InvalidField, Millis,
        money::{MAX_FUNDING_CENTS, PacketState, SplitMode, check_group, check_range},
    },
    store::{
        db::Db,
        money::{
            BudgetRecord, DEFAULT_PACKET_TTL_MS, GrabRecord, MAX_PACKET_TTL_MS, MovementRecord,
            PacketKind, PacketRecord, PacketSpec,
        },
    },
};

pub struct MoneyApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> MoneyApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

pub struct RedPacketApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> RedPacketApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn budget_to_proto(b: &BudgetRecord) -> pb::Budget {
    pb::Budget {
        campaign_id: b.campaign_id.clone(),
        funded_cents: b.funded,
        available_cents: b.available,
        reserved_cents: b.reserved,
        granted_cents: b.granted,
        refunded_cents: b.refunded,
        packets: b.packets.max(0) as u64,
    }
}

pub(super) fn packet_to_proto(p: &PacketRecord) -> pb::RedPacket {
    pb::RedPacket {
        packet_id: p.packet_id.clone(),
        campaign_id: p.campaign_id.clone(),
        kind: match p.kind {
            PacketKind::Group => pb::PacketKind::Group,
            PacketKind::Campaign => pb::PacketKind::Campaign,
        }
        .into(),
        packet_seq: p.packet_seq.max(0) as u64,
        split_mode: match p.split_mode {
            Some(SplitMode::Lucky) => pb::SplitMode::Lucky,
            Some(SplitMode::Equal) => pb::SplitMode::Equal,
            None => pb::SplitMode::Unspecified,
        }
        .into(),
        total_cents: p.total,
        parts: p.parts.max(0) as u32,
        min_cents: p.min_cents,
        max_cents: p.max_cents,
        grabbed: p.grabbed.max(0) as u32,
        granted_cents: p.granted,
        released_cents: p.released,
        remaining_cents: p.remaining,
        expired: p.expired,
        expires_at_ms: p.expires_at,
        created_at_ms: p.created_at,
        state: match p.state {
            PacketState::Open => pb::PacketState::Open,
            PacketState::Exhausted => pb::PacketState::Exhausted,
            PacketState::Expired => pb::PacketState::Expired,
        }
        .into(),
    }
}

fn grab_to_proto(g: &GrabRecord) -> pb::Grab {
    pb::Grab {
        packet_id: g.packet_id.clone(),
        campaign_id: g.campaign_id.clone(),
        amount_cents: g.amount,
        grab_seq: g.grab_seq.max(0) as u32,
        grabbed_at_ms: g.grabbed_at,
    }
}

fn movement_to_proto(m: &MovementRecord) -> pb::LedgerMovement {
    pb::LedgerMovement {
        movement_id: m.movement_id.clone(),
        kind: m.kind.clone(),
        amount_cents: m.amount,
        packet_id: m.packet_id.clone().unwrap_or_default(),
        player_id: m.player_id.clone().unwrap_or_default(),
        at_ms: m.at,
        entries: m
            .entries
            .iter()
            .map(|(account, amount)| pb::LedgerEntry {
                account: account.clone(),
                amount_cents: *amount,
            })
            .collect(),
    }
}

fn amount(field: &'static str, v: i64, max: i64) -> Result<i64, Status> {
    if !(1..=max).contains(&v) {
        return Err(invalid(InvalidField::new(
            field,
            format!("must be 1..={max} cents"),
        )));
    }
    Ok(v)
}

fn ttl(seconds: i64) -> Result<Millis, Status> {
    match seconds {
        0 => Ok(DEFAULT_PACKET_TTL_MS),
        s if s > 0 && s <= MAX_PACKET_TTL_MS / 1000 => Ok(s * 1000),
        _ => Err(invalid(InvalidField::new(
            "expires_in_seconds",
            format!("must be 1..={} (0: 24 hours)", MAX_PACKET_TTL_MS / 1000),
        ))),
    }
}

/// Movements per page of `ExportLedger`.
const LEDGER_PAGE: i64 = 500;

type LedgerStream = Pin<Box<dyn Stream<Item = Result<pb::LedgerMovement, Status>> + Send>>;

#[tonic::async_trait]
impl<D: Db> MoneyService for MoneyApi<D> {
    #[tracing::instrument(name = "FundBudget", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn fund_budget(
        &self,
        request: Request<pb::FundBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "FundBudget", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let cents = amount("amount_cents", req.amount_cents, MAX_FUNDING_CENTS)?;
                let out = s
                    .store
                    .fund_budget(merchant, id, cents, &idem, s.clock.now_ms(), |b| {
                        budget_to_proto(b).encode_to_vec()
                    })
                    .await?;
                respond(out, budget_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RefundBudget", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn refund_budget(
        &self,
        request: Request<pb::RefundBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "RefundBudget", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let cents = amount("amount_cents", req.amount_cents, MAX_FUNDING_CENTS)?;
                let out = s
                    .store
                    .refund_budget(merchant, id, cents, &idem, s.clock.now_ms(), |b| {
                        budget_to_proto(b).encode_to_vec()
                    })
                    .await?;
                respond(out, budget_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetBudget", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_budget(
        &self,
        request: Request<pb::GetBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let b = s.store.get_budget(merchant, id).await?;
                Ok(Response::new(budget_to_proto(&b)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "CreateGroupPacket", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn create_group_packet(
        &self,
        request: Request<pb::CreateGroupPacketRequest>,
    ) -> Result<Response<pb::RedPacket>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "CreateGroupPacket", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let (total, parts) = check_group(req.total_cents, req.parts).map_err(invalid)?;
                let mode = match pb::SplitMode::try_from(req.split_mode) {
                    Ok(pb::SplitMode::Lucky) => SplitMode::Lucky,
                    Ok(pb::SplitMode::Equal) => SplitMode::Equal,
                    _ => {
                        return Err(invalid(InvalidField::new(
                            "split_mode",
                            "SPLIT_MODE_LUCKY or SPLIT_MODE_EQUAL",
                        )));
                    }
                };
                let ttl = ttl(req.expires_in_seconds)?;
                let out = s
                    .store
                    .create_packet(
                        merchant,
                        id,
                        PacketSpec::Group { total, parts, mode },
                        ttl,
                        &idem,
                        s.clock.now_ms(),
                        |p| packet_to_proto(p).encode_to_vec(),
                    )
                    .await?;
                respond(out, packet_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "CreateCampaignPacket", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn create_campaign_packet(
        &self,
        request: Request<pb::CreateCampaignPacketRequest>,
    ) -> Result<Response<pb::RedPacket>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "CreateCampaignPacket", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let (min, max) = check_range(req.min_cents, req.max_cents).map_err(invalid)?;
                let ttl = ttl(req.expires_in_seconds)?;
                let out = s
                    .store
                    .create_packet(
                        merchant,
                        id,
                        PacketSpec::Campaign { min, max },
                        ttl,
                        &idem,
                        s.clock.now_ms(),
                        |p| packet_to_proto(p).encode_to_vec(),
                    )
                    .await?;
                respond(out, packet_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetRedPacket", skip_all, fields(outcome, packet.id = %request.get_ref().packet_id))]
    async fn get_red_packet(
        &self,
        request: Request<pb::GetRedPacketRequest>,
    ) -> Result<Response<pb::RedPacketDetail>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("packet_id", &request.get_ref().packet_id)?;
                let (p, parts) = s.store.get_packet(merchant, id, s.clock.now_ms()).await?;
                Ok(Response::new(pb::RedPacketDetail {
                    packet: Some(packet_to_proto(&p)),
                    parts: parts
                        .iter()
                        .map(|x| pb::PacketPart {
                            index: x.index.max(0) as u32,
                            amount_cents: x.amount,
                            player_id: x.player_id.clone().unwrap_or_default(),
                            grabbed_at_ms: x.grabbed_at.unwrap_or(0),
                        })
                        .collect(),
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListRedPackets", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_red_packets(
        &self,
        request: Request<pb::ListRedPacketsRequest>,
    ) -> Result<Response<pb::ListRedPacketsResponse>, Status> {
        traced(super::list::list_red_packets(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ExpireRedPackets", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn expire_red_packets(
        &self,
        request: Request<pb::ExpireRedPacketsRequest>,
    ) -> Result<Response<pb::ExpireRedPacketsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "ExpireRedPackets", req)?;
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let answer = |(expired, released): &(u32, i64)| pb::ExpireRedPacketsResponse {
                    expired: *expired,
                    released_cents: *released,
                };
                let out = s
                    .store
                    .expire_campaign_packets(merchant, id, &idem, s.clock.now_ms(), |a| {
                        answer(a).encode_to_vec()
                    })
                    .await?;
                respond(out, answer)
            }
            .await,
        )
    }

    type ExportLedgerStream = LedgerStream;

    #[tracing::instrument(name = "ExportLedger", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn export_ledger(
        &self,
        request: Request<pb::ExportLedgerRequest>,
    ) -> Result<Response<Self::ExportLedgerStream>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let permit = s.exports.try_acquire(merchant, Reads::Paged)?;
                // The movements up to the last one now, a page at a time.
                let Some(upto) = s.store.ledger_bound(merchant, id).await? else {
                    let none: LedgerStream = Box::pin(tokio_stream::empty());
                    return Ok(Response::new(none));
                };
                let store = s.store.clone();
                let fetch = move |after: Option<String>| -> PageFuture<pb::LedgerMovement, String> {
                    let (store, upto) = (store.clone(), upto.clone());
                    Box::pin(async move {
                        let after = after.unwrap_or_default();
                        let page = store.ledger_page(id, &after, &upto, LEDGER_PAGE).await?;
                        let next = page
                            .last()
                            .filter(|m| page.len() as i64 == LEDGER_PAGE && m.movement_id < upto)
                            .map(|m| m.movement_id.clone());
                        Ok(Page {
                            items: page.iter().map(movement_to_proto).collect(),
                            next,
                        })
                    })
                };
                Ok(Response::new(paged(permit, s.stall, fetch).await?))
            }
            .await,
        )
    }
}

#[tonic::async_trait]
impl<D: Db> RedPacketService for RedPacketApi<D> {
    #[tracing::instrument(name = "GrabRedPacket", skip_all, fields(outcome, packet.id = %request.get_ref().packet_id))]
    async fn grab_red_packet(
        &self,
        request: Request<pb::GrabRedPacketRequest>,
    ) -> Result<Response<pb::Grab>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let req = request.get_ref();
                let idem = idempotency(&who, "GrabRedPacket", req)?;
                let id = uuid_field("packet_id", &req.packet_id)?;
                let channel = super::vote::channel_tag(&req.channel)?;
                let out = s
                    .store
                    .grab_packet(
                        merchant,
                        player,
                        id,
                        channel.as_deref(),
                        &idem,
                        s.clock.now_ms(),
                        |g| grab_to_proto(g).encode_to_vec(),
                    )
                    .await?;
                respond(out, grab_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListMyGrabs", skip_all, fields(outcome))]
    async fn list_my_grabs(
        &self,
        request: Request<pb::ListMyGrabsRequest>,
    ) -> Result<Response<pb::ListMyGrabsResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let (merchant, player) = who.player()?;
                s.player_limit.check(&who.scope())?;
                let grabs = s.store.list_player_grabs(merchant, player).await?;
                Ok(Response::new(pb::ListMyGrabsResponse {
                    grabs: grabs.iter().map(grab_to_proto).collect(),
                }))
            }
            .await,
        )
    }
}
