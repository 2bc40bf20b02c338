//! `get campaigns` and `winners`: the engine's list RPCs, every page
//! followed (docs/api.md "Paging"), printed as a table.

use super::*;

/// Rows asked for per page: the lists' maxima, so few round trips.
const CAMPAIGN_PAGE: i32 = 200;
const WINNER_PAGE: i32 = 1000;

/// The filters of `get campaigns`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignQuery {
    pub statuses: Vec<pb::CampaignStatus>,
    pub activity: Option<pb::ActivityKind>,
    pub name_prefix: String,
}

/// The filters of `winners`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WinnerQuery {
    pub statuses: Vec<pb::AwardStatus>,
    pub slot: Option<u32>,
    pub day: String,
}

pub(super) fn activity_name(kind: i32) -> &'static str {
    match pb::ActivityKind::try_from(kind) {
        Ok(pb::ActivityKind::Wheel) => "wheel",
        Ok(pb::ActivityKind::Vote) => "vote",
        Ok(pb::ActivityKind::RedPacket) => "red_packet",
        Ok(pb::ActivityKind::Share) => "share",
        _ => "unknown",
    }
}

pub(super) fn award_status_name(status: i32) -> &'static str {
    match pb::AwardStatus::try_from(status) {
        Ok(pb::AwardStatus::Granted) => "granted",
        Ok(pb::AwardStatus::Won) => "won",
        Ok(pb::AwardStatus::Claimed) => "claimed",
        Ok(pb::AwardStatus::Shipped) => "shipped",
        Ok(pb::AwardStatus::Expired) => "expired",
        _ => "unknown",
    }
}

pub(super) async fn get_campaigns(ctx: &Ctx, q: &CampaignQuery) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let mut req = pb::ListCampaignsRequest {
        page_size: CAMPAIGN_PAGE,
        statuses: q.statuses.iter().map(|s| *s as i32).collect(),
        activity: q.activity.map_or(0, |a| a as i32),
        name_prefix: q.name_prefix.clone(),
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = call("ListCampaigns", || {
            let mut a = engine.admin();
            let r = req.clone();
            async move { a.list_campaigns(r).await }
        })
        .await?;
        rows.extend(page.campaigns.iter().map(|c| {
            vec![
                c.campaign_id.clone(),
                c.name.clone(),
                status_name(c.status).to_owned(),
                c.activities
                    .iter()
                    .map(|a| activity_name(*a))
                    .collect::<Vec<_>>()
                    .join(","),
                local_instant(c.starts_at_ms, &c.time_zone),
                local_instant(c.ends_at_ms, &c.time_zone),
            ]
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    if rows.is_empty() {
        println!("no campaigns");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &["id", "name", "status", "activities", "starts", "ends"],
            &rows
        )
    );
    Ok(())
}

pub(super) async fn winners(ctx: &Ctx, arg: &str, q: &WinnerQuery) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let c = get_campaign(&engine, &id).await?;
    let mut req = pb::ListWinnersRequest {
        campaign_id: id.clone(),
        page_size: WINNER_PAGE,
        statuses: q.statuses.iter().map(|s| *s as i32).collect(),
        slot: q.slot,
        day: q.day.clone(),
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = call(&format!("ListWinners {id}"), || {
            let mut a = engine.admin();
            let r = req.clone();
            async move { a.list_winners(r).await }
        })
        .await?;
        rows.extend(page.awards.iter().map(|a| {
            vec![
                a.award_id.clone(),
                local_instant(a.won_at_ms, &c.time_zone),
                a.player_id.clone(),
                a.prize_name.clone(),
                award_status_name(a.status).to_owned(),
                a.tracking_number.clone(),
            ]
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    if rows.is_empty() {
        println!("no winners");
        return Ok(());
    }
    println!(
        "{}",
        table(
            &["award", "won", "player", "prize", "state", "tracking"],
            &rows
        )
    );
    Ok(())
}
