//! RaffleAdminService: raffles among entrants and vote prizes over
//! `store::raffle` (rules in `domain::raffle`). No SQL here.

use std::sync::Arc;

use engine_proto::campaign::v1::{self as pb, raffle_admin_service_server::RaffleAdminService};
use platform::{
    access::auth::Principal,
    domain::paging::{PageLimits, split_page},
    grpc::{respond, traced},
};
use prost::Message;
use serde::{Deserialize, Serialize};
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{idempotency, slot_from_proto, slot_spec_to_proto, uuid_field},
    error::invalid,
};
use crate::domain::{
    InvalidField,
    raffle::{RaffleSource, RawRaffle},
};
use crate::store::{db::Db, raffle::RaffleRecord};

/// The list name page tokens are bound to.
const RAFFLES: &str = "raffles";
const RAFFLE_PAGES: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

#[derive(Serialize, Deserialize)]
struct RaffleCursor {
    seq: i64,
}

pub struct RaffleApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> RaffleApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn source_from_proto(v: i32) -> Result<Option<RaffleSource>, Status> {
    match pb::RaffleSource::try_from(v) {
        Ok(pb::RaffleSource::Unspecified) => Ok(None),
        Ok(pb::RaffleSource::Vote) => Ok(Some(RaffleSource::Vote)),
        Ok(pb::RaffleSource::Share) => Ok(Some(RaffleSource::Share)),
        Ok(pb::RaffleSource::Draw) => Ok(Some(RaffleSource::Draw)),
        Ok(pb::RaffleSource::Grab) => Ok(Some(RaffleSource::Grab)),
        Ok(pb::RaffleSource::TopCandidates) => Ok(Some(RaffleSource::TopCandidates)),
        Err(_) => Err(invalid(InvalidField::new(
            "source",
            format!("{v} is not a raffle source (VOTE, SHARE, DRAW, GRAB, TOP_CANDIDATES)"),
        ))),
    }
}

fn source_to_proto(s: RaffleSource) -> pb::RaffleSource {
    match s {
        RaffleSource::Vote => pb::RaffleSource::Vote,
        RaffleSource::Share => pb::RaffleSource::Share,
        RaffleSource::Draw => pb::RaffleSource::Draw,
        RaffleSource::Grab => pb::RaffleSource::Grab,
        RaffleSource::TopCandidates => pb::RaffleSource::TopCandidates,
    }
}

/// A raffle as callers see it; the winners' openids for admins only.
pub fn raffle_to_proto(r: &RaffleRecord, admin: bool) -> pb::Raffle {
    let s = &r.spec;
    let d = r.drawn.as_ref();
    let top = s.source == RaffleSource::TopCandidates;
    pb::Raffle {
        raffle_id: r.raffle_id.clone(),
        campaign_id: r.campaign_id.clone(),
        raffle_seq: u64::try_from(r.raffle_seq).unwrap_or(0),
        name: s.name.clone(),
        source: source_to_proto(s.source) as i32,
        candidate_id: s.candidate_id.clone().unwrap_or_default(),
        tickets: s.tickets,
        from_ms: s.from,
        until_ms: s.until,
        winners: u32::try_from(s.winners).unwrap_or(0),
        prize: Some(slot_spec_to_proto(&s.prize)),
        status: if d.is_some() {
            pb::RaffleStatus::Drawn
        } else {
            pb::RaffleStatus::Open
        } as i32,
        entrant_count: d.map_or(0, |d| u64::try_from(d.entrant_count).unwrap_or(0)),
        ticket_count: d.map_or(0, |d| u64::try_from(d.ticket_count).unwrap_or(0)),
        entrants_hash: d.map(|d| hex::encode(&d.entrants_hash)).unwrap_or_default(),
        drawn_at_ms: d.map_or(0, |d| d.drawn_at),
        drawn: d.map_or_else(Vec::new, |d| {
            d.winners
                .iter()
                .map(|w| pb::RaffleWinner {
                    rank: u32::try_from(w.rank).unwrap_or(0),
                    player_pseudonym: if top {
                        w.owner.clone()
                    } else {
                        w.entrant.clone()
                    },
                    candidate_id: if top {
                        w.entrant.clone()
                    } else {
                        String::new()
                    },
                    player_id: if admin {
                        w.player_id.clone()
                    } else {
                        String::new()
                    },
                    award_id: w.award_id.clone(),
                })
                .collect()
        }),
        run_error: r.run_error.clone(),
        created_at_ms: r.created_at,
    }
}

fn is_admin(who: &Principal) -> bool {
    matches!(who, Principal::Admin { .. })
}

#[tonic::async_trait]
impl<D: Db> RaffleAdminService for RaffleApi<D> {
    #[tracing::instrument(name = "CreateRaffle", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn create_raffle(
        &self,
        request: Request<pb::CreateRaffleRequest>,
    ) -> Result<Response<pb::Raffle>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let source = source_from_proto(req.source)?;
                let winners = i64::from(req.winners);
                let mut prize = req
                    .prize
                    .clone()
                    .ok_or_else(|| invalid(InvalidField::new("prize", "is required")))?;
                if prize.kind == pb::PrizeKind::Thanks as i32 {
                    return Err(invalid(InvalidField::new(
                        "prize.kind",
                        "a raffle prize cannot be THANKS",
                    )));
                }
                if prize.stock == 0 {
                    prize.stock = winners.max(1);
                }
                let prize = slot_from_proto(Some(prize)).map_err(|st| {
                    Status::invalid_argument(format!(
                        "prize.{}",
                        st.message().trim_start_matches("slot.")
                    ))
                })?;
                s.prize_refs.check_slot(merchant, &prize, "prize").await?;
                let idem = idempotency(&who, "CreateRaffle", req)?;
                let raw = RawRaffle {
                    name: req.name.clone(),
                    source,
                    candidate_id: Some(req.candidate_id.clone()),
                    tickets: req.tickets,
                    from: req.from_ms,
                    until: req.until_ms,
                    winners,
                    prize,
                };
                let out = s
                    .store
                    .create_raffle(merchant, id, raw, &idem, s.clock.now_ms(), |r| {
                        raffle_to_proto(r, true).encode_to_vec()
                    })
                    .await?;
                respond(out, |r| raffle_to_proto(r, true))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetRaffle", skip_all, fields(outcome, raffle.id = %request.get_ref().raffle_id))]
    async fn get_raffle(
        &self,
        request: Request<pb::GetRaffleRequest>,
    ) -> Result<Response<pb::Raffle>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("raffle_id", &request.get_ref().raffle_id)?;
                let r = s.store.get_raffle(merchant, id).await?;
                Ok(Response::new(raffle_to_proto(&r, is_admin(&who))))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListRaffles", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn list_raffles(
        &self,
        request: Request<pb::ListRafflesRequest>,
    ) -> Result<Response<pb::ListRafflesResponse>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let req = request.get_ref();
                let id = uuid_field("campaign_id", &req.campaign_id)?;
                let size = RAFFLE_PAGES.size(req.page_size).map_err(invalid)?;
                let tokens = s.store.page_tokens();
                let scope = format!("{merchant}/{id}");
                let after: Option<RaffleCursor> = tokens
                    .open(RAFFLES, &scope, &req.page_token)
                    .map_err(invalid)?;
                let rows = s
                    .store
                    .list_raffles(
                        merchant,
                        id,
                        after.map_or(0, |c| c.seq),
                        size,
                        s.clock.now_ms(),
                    )
                    .await?;
                let (rows, more) = split_page(rows, size);
                let next_page_token = match rows.last() {
                    Some(last) if more => tokens.seal(
                        RAFFLES,
                        &scope,
                        &RaffleCursor {
                            seq: last.raffle_seq,
                        },
                    ),
                    _ => String::new(),
                };
                let admin = is_admin(&who);
                Ok(Response::new(pb::ListRafflesResponse {
                    raffles: rows.iter().map(|r| raffle_to_proto(r, admin)).collect(),
                    next_page_token,
                }))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "RunRaffle", skip_all, fields(outcome, raffle.id = %request.get_ref().raffle_id))]
    async fn run_raffle(
        &self,
        request: Request<pb::RunRaffleRequest>,
    ) -> Result<Response<pb::Raffle>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let id = uuid_field("raffle_id", &req.raffle_id)?;
                let idem = idempotency(&who, "RunRaffle", req)?;
                let out = s
                    .store
                    .run_raffle(merchant, id, &idem, s.clock.now_ms(), |r| {
                        raffle_to_proto(r, true).encode_to_vec()
                    })
                    .await?;
                respond(out, |r| raffle_to_proto(r, true))
            }
            .await,
        )
    }
}
