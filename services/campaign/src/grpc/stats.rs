//! StatsService: campaign numbers by channel and day, and as CSV (admin or
//! auditor of the merchant).

use std::{pin::Pin, sync::Arc};

use engine_proto::campaign::v1::{self as pb, stats_service_server::StatsService};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{Shared, convert::uuid_field, traced};
use uuid::Uuid;

use crate::store::{
    db::Db,
    stats::{Stats, StatsRow, count_prize_coupons, stats_csv},
};

pub struct StatsApi<D: Db> {
    shared: Arc<Shared<D>>,
}

impl<D: Db> StatsApi<D> {
    pub fn new(shared: Arc<Shared<D>>) -> Self {
        Self { shared }
    }
}

fn row_to_proto(day: &str, channel: &str, r: &StatsRow) -> pb::StatsRow {
    pb::StatsRow {
        day: day.to_owned(),
        channel: channel.to_owned(),
        participants: r.participants,
        new_players: r.new_players,
        draws: r.draws,
        wins: r.wins,
        wins_by_prize: r
            .wins_by_prize
            .iter()
            .map(|(prize, count)| pb::PrizeCount {
                prize: prize.clone(),
                count: *count,
            })
            .collect(),
        shares: r.shares,
        views: r.views,
        forwards: r.forwards,
        votes: r.votes,
        coupon_prizes: r.coupon_prizes,
        coupon_redemptions: r.coupon_redemptions,
        packet_grabs: r.packet_grabs,
        money_paid_cents: r.money_paid,
    }
}

/// The campaign's numbers, its prize coupons counted from what the coupon
/// service tells of them.
async fn stats_of<D: Db>(s: &Shared<D>, merchant: &str, id: Uuid) -> Result<Stats, Status> {
    let (mut stats, sources) = s.store.campaign_stats(merchant, id).await?;
    if !sources.by_source.is_empty() {
        let coupons = s
            .prize_refs
            .campaign_prize_coupons(merchant, &id.to_string())
            .await?;
        count_prize_coupons(&mut stats, &sources, &coupons)?;
    }
    Ok(stats)
}

type CsvStream = Pin<Box<dyn Stream<Item = Result<pb::StatsCsvChunk, Status>> + Send>>;

/// CSV chunk size.
const CHUNK: usize = 64 * 1024;

#[tonic::async_trait]
impl<D: Db> StatsService for StatsApi<D> {
    #[tracing::instrument(name = "GetCampaignStats", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn get_campaign_stats(
        &self,
        request: Request<pb::GetCampaignStatsRequest>,
    ) -> Result<Response<pb::CampaignStats>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let (rows, totals) = stats_of(s, merchant, id).await?;
                Ok(Response::new(pb::CampaignStats {
                    campaign_id: id.to_string(),
                    rows: rows
                        .iter()
                        .map(|((day, channel), r)| row_to_proto(day, channel, r))
                        .collect(),
                    totals: Some(row_to_proto("", "*", &totals)),
                }))
            }
            .await,
        )
    }

    type ExportCampaignStatsStream = CsvStream;

    #[tracing::instrument(name = "ExportCampaignStats", skip_all, fields(outcome, campaign.id = %request.get_ref().campaign_id))]
    async fn export_campaign_stats(
        &self,
        request: Request<pb::GetCampaignStatsRequest>,
    ) -> Result<Response<Self::ExportCampaignStatsStream>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("campaign_id", &request.get_ref().campaign_id)?;
                let stats = stats_of(s, merchant, id).await?;
                let csv = stats_csv(&stats).into_bytes();
                let chunks: Vec<Result<pb::StatsCsvChunk, Status>> = csv
                    .chunks(CHUNK)
                    .map(|c| Ok(pb::StatsCsvChunk { data: c.to_vec() }))
                    .collect();
                let stream: CsvStream = Box::pin(tokio_stream::iter(chunks));
                Ok(Response::new(stream))
            }
            .await,
        )
    }
}
