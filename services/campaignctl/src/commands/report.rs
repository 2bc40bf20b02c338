//! What campaignctl prints: `show`, `stats`, `export` and `simulate`,
//! with the table and hex helpers they share.

use super::*;

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Columns padded to their widest cell; numbers right-aligned.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&width)
            .map(|(c, w)| {
                let pad = w.saturating_sub(c.chars().count());
                let numeric = !c.is_empty()
                    && c.chars()
                        .all(|ch| ch.is_ascii_digit() || ".-%".contains(ch));
                if numeric {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

pub(super) async fn show(ctx: &Ctx, arg: &str) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let c = get_campaign(&engine, &id).await?;
    println!("campaign   {}", c.campaign_id);
    println!("name       {}", c.name);
    println!("status     {}", status_name(c.status));
    println!(
        "window     {} -> {} ({})",
        local_instant(c.starts_at_ms, &c.time_zone),
        local_instant(c.ends_at_ms, &c.time_zone),
        c.time_zone
    );
    println!(
        "draws      {} per player per day, {} in total",
        c.draws_per_day, c.draws_total
    );
    let total: i64 = c
        .slots
        .iter()
        .filter_map(|s| s.spec.as_ref())
        .map(|s| s.weight)
        .sum();
    let rows: Vec<Vec<String>> = c
        .slots
        .iter()
        .map(|s| {
            let spec = s.spec.clone().unwrap_or_default();
            let odds = if total > 0 {
                format!("{:.2}%", spec.weight as f64 * 100.0 / total as f64)
            } else {
                "-".into()
            };
            let fallback = if c.fallback_slot == Some(s.index) {
                "fallback"
            } else {
                ""
            };
            vec![
                s.index.to_string(),
                spec.name.clone(),
                kind_name(spec.kind).to_owned(),
                spec.weight.to_string(),
                odds,
                spec.stock.to_string(),
                s.won.to_string(),
                s.remaining.to_string(),
                spec.daily_cap.to_string(),
                spec.per_user_cap.to_string(),
                fallback.to_owned(),
            ]
        })
        .collect();
    println!();
    println!(
        "{}",
        table(
            &[
                "#",
                "prize",
                "kind",
                "weight",
                "odds",
                "stock",
                "won",
                "left",
                "daily_cap",
                "user_cap",
                "",
            ],
            &rows
        )
    );
    if let Some(f) = &c.fairness {
        println!();
        println!("prize table version  {}", f.version);
        println!("seed commitment      {}", hex(&f.seed_commitment));
        println!("prize table hash     {}", hex(&f.prize_table_hash));
        println!(
            "revealed seed        {}",
            if f.revealed_seed.is_empty() {
                "(not yet: revealed when the campaign ends)".to_owned()
            } else {
                hex(&f.revealed_seed)
            }
        );
    }
    Ok(())
}

pub(super) async fn stats(ctx: &Ctx, arg: &str, csv: bool) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let req = pb::GetCampaignStatsRequest {
        campaign_id: id.clone(),
    };
    if csv {
        let mut stream = call("ExportCampaignStats", || {
            let mut s = engine.stats();
            let r = req.clone();
            async move { s.export_campaign_stats(r).await }
        })
        .await?;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = stream
            .message()
            .await
            .map_err(|s| client::rpc_error("ExportCampaignStats", &s))?
        {
            out.write_all(&chunk.data)
                .map_err(CtlError::io("write to stdout"))?;
        }
        return out.flush().map_err(CtlError::io("write to stdout"));
    }
    let s = call("GetCampaignStats", || {
        let mut c = engine.stats();
        let r = req.clone();
        async move { c.get_campaign_stats(r).await }
    })
    .await?;
    let row = |r: &pb::StatsRow, day: &str, channel: &str| {
        vec![
            day.to_owned(),
            channel.to_owned(),
            r.participants.to_string(),
            r.new_players.to_string(),
            r.draws.to_string(),
            r.wins.to_string(),
            r.shares.to_string(),
            r.views.to_string(),
            r.forwards.to_string(),
            r.votes.to_string(),
            r.coupon_prizes.to_string(),
            r.coupon_redemptions.to_string(),
            r.packet_grabs.to_string(),
            format!(
                "{}.{:02}",
                r.money_paid_cents / 100,
                r.money_paid_cents % 100
            ),
        ]
    };
    let mut rows: Vec<Vec<String>> = s
        .rows
        .iter()
        .map(|r| {
            let channel = if r.channel.is_empty() {
                "(none)"
            } else {
                &r.channel
            };
            row(r, &r.day, channel)
        })
        .collect();
    if let Some(t) = &s.totals {
        rows.push(row(t, "total", "*"));
    }
    println!(
        "{}",
        table(
            &[
                "day", "channel", "players", "new", "draws", "wins", "shares", "views", "forwards",
                "votes", "coupons", "redeemed", "grabs", "paid",
            ],
            &rows
        )
    );
    Ok(())
}

/// Every line of a campaign's export, or of the audit trail (`None`).
pub(super) async fn export_lines(
    engine: &Engine,
    campaign: Option<&str>,
) -> Result<Vec<String>, CtlError> {
    let (what, mut stream) = match campaign {
        Some(id) => {
            let req = pb::ExportCampaignRequest {
                campaign_id: id.to_owned(),
            };
            let s = call("ExportCampaign", || {
                let mut a = engine.audit();
                let r = req.clone();
                async move { a.export_campaign(r).await }
            })
            .await?;
            ("ExportCampaign", s)
        }
        None => {
            let s = call("ExportAuditLog", || {
                let mut a = engine.audit();
                async move { a.export_audit_log(pb::ExportAuditLogRequest {}).await }
            })
            .await?;
            ("ExportAuditLog", s)
        }
    };
    let mut lines = Vec::new();
    while let Some(line) = stream
        .message()
        .await
        .map_err(|s| client::rpc_error(what, &s))?
    {
        lines.push(line.json);
    }
    Ok(lines)
}

pub(super) async fn export(
    ctx: &Ctx,
    campaign: Option<&str>,
    out: Option<PathBuf>,
) -> Result<(), CtlError> {
    let id = campaign.map(|c| ctx.campaign_id(c)).transpose()?;
    let engine = ctx.engine().await?;
    // Read whole before writing: an export cut short is an error, never a
    // file that looks complete.
    let lines = export_lines(&engine, id.as_deref()).await?;
    let mut text = lines.join("\n");
    text.push('\n');
    match out {
        Some(path) => {
            let tmp = path.with_extension("part");
            std::fs::write(&tmp, text).map_err(CtlError::io(format!("write {}", tmp.display())))?;
            std::fs::rename(&tmp, &path)
                .map_err(CtlError::io(format!("write {}", path.display())))?;
            eprintln!("{} lines written to {}", lines.len(), path.display());
            Ok(())
        }
        None => {
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes())
                .and_then(|()| o.flush())
                .map_err(CtlError::io("write to stdout"))
        }
    }
}

pub(super) async fn simulate(ctx: &Ctx, arg: &str, opts: &SimulateOpts) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let c = get_campaign(&engine, &id).await?;
    let req = pb::SimulateWheelRequest {
        campaign_id: id.clone(),
        days: opts.days,
        players_per_day: opts.players_per_day,
        draws_per_player_per_day: opts.draws_per_player_per_day,
        runs: opts.runs,
        rng_seed: opts.rng_seed,
    };
    let r = call("SimulateWheel", || {
        let mut a = engine.admin();
        let q = req.clone();
        async move { a.simulate_wheel(q).await }
    })
    .await?;
    println!(
        "{} runs of {} days, {} players a day: {:.1} draws per run, {:.2}% fallbacks",
        r.runs,
        r.days,
        opts.players_per_day,
        r.mean_draws,
        r.fallback_share * 100.0
    );
    let rows: Vec<Vec<String>> = r
        .slots
        .iter()
        .map(|s| {
            let name = c
                .slots
                .get(s.index as usize)
                .and_then(|x| x.spec.as_ref())
                .map(|x| x.name.clone())
                .unwrap_or_default();
            vec![
                s.index.to_string(),
                name,
                format!("{:.1}", s.mean_given),
                format!("{:.1}", s.mean_payout),
                format!("{:.1}%", s.sold_out_share * 100.0),
                if s.mean_sold_out_day > 0.0 {
                    format!("{:.1}", s.mean_sold_out_day)
                } else {
                    "-".into()
                },
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["#", "prize", "given", "payout", "sold_out", "sold_out_day"],
            &rows
        )
    );
    Ok(())
}
