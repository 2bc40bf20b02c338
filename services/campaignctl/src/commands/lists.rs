//! `get campaigns`, `get stores` and `winners`: the engine's list RPCs, every page
//! followed (docs/api.md "Paging"), printed as a table; `winners --csv`,
//! the shipping list as the engine exports it; `ship`, a courier's file.

use super::*;

/// Rows asked for per page: the lists' maxima, so few round trips.
const CAMPAIGN_PAGE: i32 = 200;
const WINNER_PAGE: i32 = 1000;
const STORE_PAGE: i32 = 1000;

/// The filters of `get stores`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreQuery {
    pub status: Option<pb::StoreStatus>,
    pub city: String,
}

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
    /// Only prizes won in this store (its code); empty: any.
    pub store: String,
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

pub(super) async fn get_stores(ctx: &Ctx, q: &StoreQuery) -> Result<(), CtlError> {
    let engine = ctx.engine().await?;
    let mut req = pb::ListStoresRequest {
        page_size: STORE_PAGE,
        status: q.status.map_or(0, |s| s as i32),
        city: q.city.clone(),
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = call("ListStores", || {
            let mut a = engine.stores();
            let r = req.clone();
            async move { a.list_stores(r).await }
        })
        .await?;
        rows.extend(page.stores.iter().map(|s| {
            let status = match pb::StoreStatus::try_from(s.status) {
                Ok(pb::StoreStatus::Open) => "open",
                Ok(pb::StoreStatus::Closed) => "closed",
                _ => "unknown",
            };
            vec![
                s.store_id.clone(),
                s.name.clone(),
                s.city.clone(),
                status.to_owned(),
                s.address.clone(),
            ]
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        req.page_token = page.next_page_token;
    }
    if rows.is_empty() {
        println!("no stores");
        return Ok(());
    }
    println!(
        "{}",
        table(&["store", "name", "city", "status", "address"], &rows)
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
        store_id: q.store.clone(),
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

/// `winners --csv`: `ExportWinners` byte for byte (the UTF-8 byte order
/// mark Excel needs and the CRLF line ends kept), with the filters of
/// `winners`. To standard output as the chunks arrive; to `out` through
/// `out.part`, renamed once the export has ended well, so a file that is
/// there is complete (a cut export is an error and leaves no file).
pub(super) async fn winners_csv(
    ctx: &Ctx,
    arg: &str,
    q: &WinnerQuery,
    out: Option<&Path>,
) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let req = pb::ExportWinnersRequest {
        campaign_id: id.clone(),
        statuses: q.statuses.iter().map(|s| *s as i32).collect(),
        slot: q.slot,
        day: q.day.clone(),
        store_id: q.store.clone(),
    };
    let what = format!("ExportWinners {id}");
    let mut stream = call(&what, || {
        let mut a = engine.admin();
        let r = req.clone();
        async move { a.export_winners(r).await }
    })
    .await?;
    let Some(path) = out else {
        let mut o = std::io::stdout().lock();
        copy_chunks(&mut stream, &what, &mut o, "write to stdout").await?;
        return o.flush().map_err(CtlError::io("write to stdout"));
    };
    let tmp = path.with_extension("part");
    let written = async {
        let file = std::fs::File::create(&tmp)
            .map_err(CtlError::io(format!("write {}", tmp.display())))?;
        let mut w = std::io::BufWriter::new(file);
        let n = copy_chunks(
            &mut stream,
            &what,
            &mut w,
            &format!("write {}", tmp.display()),
        )
        .await?;
        w.into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .map_err(CtlError::io(format!("write {}", tmp.display())))?;
        std::fs::rename(&tmp, path).map_err(CtlError::io(format!("write {}", path.display())))?;
        Ok::<u64, CtlError>(n)
    }
    .await;
    match written {
        Ok(n) => {
            eprintln!("{n} bytes written to {}", path.display());
            Ok(())
        }
        Err(e) => {
            // Nothing half-written stays behind.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Writes every chunk of `stream` to `w` as it arrives; the bytes written.
async fn copy_chunks(
    stream: &mut tonic::Streaming<pb::CsvChunk>,
    what: &str,
    w: &mut impl Write,
    writing: &str,
) -> Result<u64, CtlError> {
    let mut n = 0u64;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| client::rpc_error(what, &s))?
    {
        w.write_all(&chunk.data).map_err(CtlError::io(writing))?;
        n = n.saturating_add(chunk.data.len() as u64);
    }
    Ok(n)
}

/// Rows sent per BulkShipPrizes call (the engine's maximum).
const SHIP_BATCH: usize = 1000;

/// The rows of a courier's file: `award_id,tracking_number` a line
/// (a header line, blank lines and a UTF-8 byte order mark are skipped;
/// fields may be quoted). Errors name the line.
pub(super) fn ship_rows(text: &str) -> Result<Vec<pb::ShipRow>, String> {
    let mut rows = Vec::new();
    for (n, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<String> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"').trim().to_owned())
            .collect();
        let [award, tracking] = fields.as_slice() else {
            return Err(format!("line {}: want award_id,tracking_number", n + 1));
        };
        if n == 0 && uuid::Uuid::parse_str(award).is_err() {
            continue; // a header
        }
        rows.push(pb::ShipRow {
            award_id: award.clone(),
            tracking_number: tracking.clone(),
        });
    }
    if rows.is_empty() {
        return Err("no rows".into());
    }
    Ok(rows)
}

pub(super) async fn ship(ctx: &Ctx, arg: &str, file: &Path) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let text = std::fs::read_to_string(file).map_err(CtlError::io("read the shipping file"))?;
    let rows = ship_rows(&text).map_err(|e| CtlError::Input(format!("{}: {e}", file.display())))?;
    let engine = ctx.engine().await?;
    let (mut shipped, mut already, mut refused) = (0, 0, 0);
    for (n, batch) in rows.chunks(SHIP_BATCH).enumerate() {
        // The key follows the rows: running the same file again (after a
        // lost answer) replays the first answer instead of acting twice.
        let req = pb::BulkShipPrizesRequest {
            idempotency_key: change_key(&format!("ship-{id}-{:016x}", digest(batch)), n),
            campaign_id: id.clone(),
            rows: batch.to_vec(),
        };
        let report = call(&format!("BulkShipPrizes {id}"), || {
            let mut a = engine.admin();
            let r = req.clone();
            async move { a.bulk_ship_prizes(r).await }
        })
        .await?;
        shipped += report.shipped;
        already += report.already_shipped;
        refused += report.refused;
        for r in report.results.iter().filter(|r| !r.reason.is_empty()) {
            println!("refused {} ({})", r.award_id, r.reason);
        }
    }
    println!("shipped {shipped}, already shipped {already}, refused {refused}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipping_file_reads_with_or_without_header() {
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let rows =
            ship_rows(&format!("\u{feff}award_id,tracking\r\n{id},\"SF 1\"\n\n")).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].award_id.as_str(), rows[0].tracking_number.as_str()),
            (id, "SF 1")
        );
        assert_eq!(ship_rows(&format!("{id},SF1")).expect("no header").len(), 1);
        assert!(ship_rows("award_id,tracking\n").is_err());
        assert!(
            ship_rows(&format!("{id},a,b"))
                .expect_err("three fields")
                .contains("line 1")
        );
    }
}
