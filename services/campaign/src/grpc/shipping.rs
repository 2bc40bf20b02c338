//! `BulkShipPrizes` and `ExportWinners` (issue 24): shipping a courier's
//! file of prizes at once, and the shipping list a merchant's fulfilment
//! staff open in Excel, streamed a page of winners at a time under the
//! export budget and stall cut (`export.rs`). Admins see the winners'
//! details as given; auditors see them masked (`domain::csv`). Nothing of
//! them is logged.

use engine_proto::campaign::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{idempotency, uuid_field},
    error::invalid,
    export::{ItemStream, Page, PageFuture, Reads, paged},
    list::{award_statuses, winner_store},
    respond,
};
use crate::{
    domain::{
        Millis,
        csv::{BOM, line, mask_address, mask_name, mask_phone},
        list::{WinnerCursor, WinnerFilter},
        shipping::{RowOutcome, ShipRow, check_rows},
        wheel::PrizeKind,
    },
    store::{
        db::Db,
        wheel::{AwardRecord, AwardStatus},
    },
};

/// Winners read per page (one CSV chunk each).
const PAGE: u32 = 500;

/// The columns, in Chinese for the staff who open the file: award id, time
/// won, player (openid), prize, prize kind, state, recipient, phone,
/// address, tracking number.
pub const HEADER: [&str; 10] = [
    "中奖编号",
    "中奖时间",
    "用户",
    "奖品",
    "奖品类型",
    "状态",
    "收件人",
    "手机号",
    "收货地址",
    "快递单号",
];

fn kind_name(kind: PrizeKind) -> &'static str {
    match kind {
        PrizeKind::Physical => "实物",
        PrizeKind::Coupon => "优惠券",
        PrizeKind::TopupCode => "充值码",
        PrizeKind::Points => "积分",
        PrizeKind::Cash => "现金",
        PrizeKind::Thanks => "谢谢参与",
    }
}

fn state_name(status: AwardStatus) -> &'static str {
    match status {
        AwardStatus::Granted => "已发放",
        AwardStatus::Won => "待填写收货信息",
        AwardStatus::Claimed => "待发货",
        AwardStatus::Shipped => "已发货",
        AwardStatus::Expired => "已过期",
    }
}

/// `2026-11-26 12:00:00` in the campaign's zone (UTC if it is unknown).
fn local_time(at: Millis, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(at)
        .map(|t| {
            t.to_zoned(zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// One winner's line; `masked` hides the personal details (an auditor).
fn row(a: &AwardRecord, now: Millis, zone: &jiff::tz::TimeZone, masked: bool) -> String {
    let (recipient, phone, address) = match &a.shipping {
        Some(s) if masked => (
            mask_name(&s.recipient),
            mask_phone(&s.phone),
            mask_address(&s.address),
        ),
        Some(s) => (s.recipient.clone(), s.phone.clone(), s.address.clone()),
        None => Default::default(),
    };
    line(&[
        a.award_id.clone(),
        local_time(a.won_at, zone),
        a.player_id.clone(),
        a.prize_name.clone(),
        kind_name(a.kind).to_owned(),
        state_name(a.status_at(now)).to_owned(),
        recipient,
        phone,
        address,
        a.tracking_number.clone().unwrap_or_default(),
    ])
}

/// The report of a bulk shipment: one result a row, and the counts.
fn report(rows: &[ShipRow], outcomes: &[RowOutcome]) -> pb::BulkShipReport {
    let mut r = pb::BulkShipReport::default();
    for (row, outcome) in rows.iter().zip(outcomes) {
        let (kind, reason) = match outcome {
            RowOutcome::Shipped => {
                r.shipped += 1;
                (pb::ShipRowOutcome::Shipped, "")
            }
            RowOutcome::AlreadyShipped => {
                r.already_shipped += 1;
                (pb::ShipRowOutcome::AlreadyShipped, "")
            }
            RowOutcome::Refused(why) => {
                r.refused += 1;
                (pb::ShipRowOutcome::Refused, why.as_str())
            }
        };
        r.results.push(pb::ShipRowResult {
            award_id: row.award_id.clone(),
            outcome: kind as i32,
            reason: reason.to_owned(),
        });
    }
    r
}

pub(super) async fn bulk_ship<D: Db>(
    s: &Shared<D>,
    request: Request<pb::BulkShipPrizesRequest>,
) -> Result<Response<pb::BulkShipReport>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let rows: Vec<ShipRow> = req
        .rows
        .iter()
        .map(|r| ShipRow {
            award_id: r.award_id.trim().to_owned(),
            tracking_number: r.tracking_number.trim().to_owned(),
        })
        .collect();
    check_rows(&rows).map_err(invalid)?;
    let idem = idempotency(&who, "BulkShipPrizes", req)?;
    let now = s.clock.now_ms();
    let out = s
        .store
        .ship_prizes(merchant, id, &rows, now, &idem, |o| {
            report(&rows, o).encode_to_vec()
        })
        .await?;
    respond(out, |o: &Vec<RowOutcome>| report(&rows, o))
}

pub(super) async fn erase<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ErasePersonalDataRequest>,
) -> Result<Response<pb::ErasePersonalDataResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let player = req.player_id.trim();
    if player.chars().count() > 128 {
        return Err(invalid(crate::domain::InvalidField::new(
            "player_id",
            "at most 128 characters",
        )));
    }
    let player = (!player.is_empty()).then_some(player);
    let idem = idempotency(&who, "ErasePersonalData", req)?;
    let convert = |n: &u64| pb::ErasePersonalDataResponse {
        erased: i64::try_from(*n).unwrap_or(i64::MAX),
    };
    let out = s
        .store
        .erase_personal_data(merchant, id, player, s.clock.now_ms(), &idem, |n| {
            convert(n).encode_to_vec()
        })
        .await?;
    respond(out, convert)
}

pub(super) type CsvStream = ItemStream<pb::CsvChunk>;

pub(super) async fn export_winners<D: Db>(
    s: &Shared<D>,
    request: Request<pb::ExportWinnersRequest>,
) -> Result<Response<CsvStream>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?.to_owned();
    let masked = who.admin().is_err();
    let req = request.into_inner();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let filter = WinnerFilter::new(
        award_statuses(&req.statuses).map_err(invalid)?,
        req.slot,
        req.day,
        winner_store(&req.store_id).map_err(invalid)?,
    )
    .map_err(invalid)?;
    let now = s.clock.now_ms();
    // The campaign's zone for the times, and a NOT_FOUND before any byte.
    let campaign = s.store.get_campaign(&merchant, id, now).await?;
    let zone =
        jiff::tz::TimeZone::get(&campaign.rules.time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let permit = s.exports.try_acquire(&merchant, Reads::Paged)?;
    let store = s.store.clone();
    let fetch = move |after: Option<WinnerCursor>| -> PageFuture<pb::CsvChunk, WinnerCursor> {
        let (store, merchant, filter, zone) = (
            store.clone(),
            merchant.clone(),
            filter.clone(),
            zone.clone(),
        );
        Box::pin(async move {
            let first = after.is_none();
            let (awards, more) = store
                .list_winners(&merchant, id, &filter, after.as_ref(), PAGE, now)
                .await?;
            let mut text = String::new();
            if first {
                text.push_str(BOM);
                text.push_str(&line(&HEADER));
            }
            for a in &awards {
                text.push_str(&row(a, now, &zone, masked));
            }
            let next = awards.last().filter(|_| more).map(|a| WinnerCursor {
                won_at: a.won_at,
                award_id: a.award_id.clone(),
            });
            Ok(Page {
                items: vec![pb::CsvChunk {
                    data: text.into_bytes(),
                }],
                next,
            })
        })
    };
    Ok(Response::new(paged(permit, s.stall, fetch).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wheel::{AwardSource, Shipping};

    fn award(shipping: Option<Shipping>) -> AwardRecord {
        AwardRecord {
            award_id: "a1".into(),
            campaign_id: "c".into(),
            source: AwardSource::Draw("d".into()),
            player_id: "=openid".into(),
            slot_index: 0,
            prize_name: "保温杯, 大号".into(),
            kind: PrizeKind::Physical,
            status: AwardStatus::Claimed,
            won_at: 1_796_572_800_000,
            claim_deadline: Some(i64::MAX),
            shipping,
            tracking_number: None,
            store_id: None,
        }
    }

    #[test]
    fn a_row_is_excel_safe_and_masked_for_auditors() {
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone");
        let shipping = Some(Shipping {
            recipient: "张三丰".into(),
            phone: "13812345678".into(),
            address: "浙江省杭州市西湖区文三路1号".into(),
        });
        let full = row(&award(shipping.clone()), 0, &zone, false);
        assert_eq!(
            full,
            "a1,2026-12-07 00:00:00,'=openid,\"保温杯, 大号\",实物,待发货,张三丰,13812345678,\
             浙江省杭州市西湖区文三路1号,\r\n"
        );
        let masked = row(&award(shipping), 0, &zone, true);
        assert!(
            masked.contains("张**,138****5678,浙江省杭州市***"),
            "{masked}"
        );
        assert!(!masked.contains("13812345678") && !masked.contains("文三路"));
        let none = row(&award(None), 0, &zone, true);
        assert!(none.ends_with("待发货,,,,\r\n"), "{none}");
    }
}
