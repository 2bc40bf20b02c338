//! The commands: each reads what it needs, calls the engine, prints.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use engine_proto::campaign::v1 as pb;
use tonic::Code;

use crate::{
    args::{Args, Command, SimulateOpts, Transition},
    client::{self, Engine, call},
    error::{CtlError, Outcome},
    plan::{self, Current, Step, kind_name, local_instant, status_name},
    spec::{ChanceRules, ShareRules, VoteRules, WheelSpec},
    state,
};

/// Runs one parsed command line.
pub async fn run(args: Args) -> Result<Outcome, CtlError> {
    let ctx = Ctx {
        endpoint: args.endpoint,
        key_file: args.key_file,
        ca_file: args.ca_file,
    };
    match args.command {
        Command::Apply { file, yes, dry_run } => return apply(&ctx, &file, yes, dry_run).await,
        Command::Check { file } => check(&file)?,
        Command::Show { campaign } => show(&ctx, &campaign).await?,
        Command::Transition { to, campaign } => transition(&ctx, to, &campaign).await?,
        Command::Stats { campaign, csv } => stats(&ctx, &campaign, csv).await?,
        Command::Export { campaign, out } => export(&ctx, Some(&campaign), out).await?,
        Command::AuditLog { out } => export(&ctx, None, out).await?,
        Command::Simulate { campaign, opts } => simulate(&ctx, &campaign, &opts).await?,
    }
    Ok(Outcome::Done)
}

struct Ctx {
    endpoint: String,
    key_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

impl Ctx {
    async fn engine(&self) -> Result<Engine, CtlError> {
        client::warn_if_in_the_clear(&self.endpoint);
        let key = client::api_key(self.key_file.as_deref())?;
        Engine::connect(&self.endpoint, self.ca_file.as_deref(), &key).await
    }

    /// A campaign id, or a campaign file applied to this endpoint before.
    fn campaign_id(&self, arg: &str) -> Result<String, CtlError> {
        let path = Path::new(arg);
        if !path.is_file() {
            return Ok(arg.to_owned());
        }
        let spec = WheelSpec::load(path)?;
        state::lookup(path, &self.endpoint, &spec.key)?.ok_or_else(|| {
            CtlError::State(format!(
                "{arg}: no campaign recorded for key {:?} on {} in {} (apply it first)",
                spec.key,
                self.endpoint,
                state::path_for(path).display()
            ))
        })
    }
}

/// A fresh idempotency key for one change made by this run. Retries of
/// that call (UNAVAILABLE) reuse it; a later run compares the campaign
/// again first, so it never needs the old ones.
fn change_key(run: &str, n: usize) -> String {
    format!("campaignctl-{run}-{n}")
}

/// FNV-1a (64 bit) of a message's encoding: a short, stable digest for
/// idempotency keys (not a security measure; a collision would need two
/// different specs for the same slot of the same campaign).
fn digest<M: prost::Message>(messages: &[M]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for m in messages {
        for b in m.encode_to_vec() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The idempotency key of one step. Adding a slot and revising a live
/// table are keyed by what they change, so two runs racing on the same
/// file (or a run retried after its answer was lost) make the change once:
/// a slot is added at its index once per campaign, and a revision moves
/// one table version to one content once. Other steps set values
/// (applying them twice is harmless) and take a fresh key per run.
fn step_key(run: &str, n: usize, current: &pb::Campaign, want: &WheelSpec, step: &Step) -> String {
    let id = &current.campaign_id;
    match step {
        Step::AddSlot(s) => {
            let index = want
                .slots
                .iter()
                .position(|x| x.name == s.name)
                .unwrap_or(n);
            format!(
                "campaignctl-add-{id}-{index}-{:016x}",
                digest(std::slice::from_ref(s))
            )
        }
        Step::Revise(slots) => format!(
            "campaignctl-revise-{id}-v{}-{:016x}",
            current.fairness.as_ref().map_or(0, |f| f.version),
            digest(slots)
        ),
        _ => change_key(run, n),
    }
}

/// The idempotency key of a file's `CreateWheel`: the same for every run,
/// so a creation whose answer (or state file) was lost is answered again
/// with the same campaign instead of making a second one.
fn create_key(key: &str) -> String {
    format!("campaignctl-create-{key}")
}

fn check(file: &Path) -> Result<(), CtlError> {
    let spec = WheelSpec::load(file)?;
    println!(
        "{}: valid ({} prizes, fallback {:?})",
        file.display(),
        spec.slots.len(),
        spec.slots
            .get(spec.fallback as usize)
            .map(|s| s.name.as_str())
            .unwrap_or_default()
    );
    Ok(())
}

/// `INVALID_ARGUMENT` names the engine's field (`slot.weight`); say which
/// field of the file that is (`prizes[2].weight`).
fn rename_field(e: CtlError, from: &str, to: &str) -> CtlError {
    match e {
        CtlError::Rpc {
            what,
            code: Code::InvalidArgument,
            message,
        } => {
            let message = match message.strip_prefix(from) {
                Some(rest) => format!("{to}{rest}"),
                None => message,
            };
            CtlError::Rpc {
                what,
                code: Code::InvalidArgument,
                message,
            }
        }
        other => other,
    }
}

async fn get_campaign(engine: &Engine, id: &str) -> Result<pb::Campaign, CtlError> {
    let req = pb::GetCampaignRequest {
        campaign_id: id.to_owned(),
    };
    call(&format!("GetCampaign {id}"), || {
        let mut c = engine.admin();
        let r = req.clone();
        async move { c.get_campaign(r).await }
    })
    .await
}

/// The latest vote and chance rules of a campaign, from the audit trail
/// (the engine has no call that reads them back).
async fn rules_from_audit(
    engine: &Engine,
    id: &str,
) -> Result<(Option<VoteRules>, Option<ChanceRules>), CtlError> {
    let lines = export_lines(engine, None).await?;
    let (mut votes, mut chances) = (None, None);
    for line in lines {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if v["type"] != "audit" || v["campaign_id"] != id {
            continue;
        }
        let int = |o: &serde_json::Value, k: &str| o[k].as_i64().unwrap_or(0);
        // `detail` is the canonical JSON text the entry's hash covers.
        let detail = match &v["detail"] {
            serde_json::Value::String(s) => serde_json::from_str(s).unwrap_or_default(),
            other => other.clone(),
        };
        match v["action"].as_str() {
            Some("vote.rules") => {
                let a = &detail["after"];
                votes = Some(VoteRules {
                    votes_per_day: int(a, "votes_per_day"),
                    votes_per_candidate_per_day: int(a, "votes_per_candidate_per_day"),
                    votes_total: int(a, "votes_total"),
                    player_registration: a["player_registration"].as_bool().unwrap_or(false),
                });
            }
            Some("chance.rules") => {
                let d = &detail;
                chances = Some(ChanceRules {
                    per_share: int(d, "per_share"),
                    per_tier: int(d, "per_tier"),
                    per_vote: int(d, "per_vote"),
                    daily_cap: int(d, "daily_cap"),
                });
            }
            _ => {}
        }
    }
    Ok((votes, chances))
}

/// What the engine holds, as far as the file manages it.
async fn current(engine: &Engine, spec: &WheelSpec, c: pb::Campaign) -> Result<Current, CtlError> {
    let id = c.campaign_id.clone();
    let share = if spec.share.is_some() {
        let req = pb::GetShareRulesRequest {
            campaign_id: id.clone(),
        };
        let r = call("GetShareRules", || {
            let mut s = engine.share();
            let r = req.clone();
            async move { s.get_share_rules(r).await }
        })
        .await?;
        Some(ShareRules {
            enabled: r.enabled,
            tiers: r
                .tiers
                .into_iter()
                .map(|t| pb::ShareTier { remaining: 0, ..t })
                .collect(),
        })
    } else {
        None
    };
    let (votes, chances) = if spec.votes.is_some() || spec.chances.is_some() {
        rules_from_audit(engine, &id).await?
    } else {
        (None, None)
    };
    Ok(Current {
        campaign: c,
        share,
        votes,
        chances,
    })
}

async fn apply(ctx: &Ctx, file: &Path, yes: bool, dry_run: bool) -> Result<Outcome, CtlError> {
    // The whole file is checked before anything is sent.
    let spec = WheelSpec::load(file)?;
    let shown = file.display().to_string();
    let engine = ctx.engine().await?;
    let recorded = state::lookup(file, &ctx.endpoint, &spec.key)?;
    let campaign = match recorded {
        Some(id) => get_campaign(&engine, &id).await.map_err(|e| match e {
            CtlError::Rpc {
                code: Code::NotFound,
                ..
            } => CtlError::State(format!(
                "{shown}: campaign {id}, recorded in {} for {}, is not on this engine; \
                     remove that entry to create the campaign anew",
                state::path_for(file).display(),
                ctx.endpoint
            )),
            other => other,
        })?,
        None if dry_run => {
            // What a new campaign would get.
            let c = pb::Campaign {
                name: spec.name.clone(),
                status: pb::CampaignStatus::Draft.into(),
                starts_at_ms: spec.starts_at_ms,
                ends_at_ms: spec.ends_at_ms,
                time_zone: spec.time_zone.clone(),
                draws_per_day: spec.draws_per_day,
                draws_total: spec.draws_total,
                ..Default::default()
            };
            let plan = plan::plan(
                &spec,
                &Current {
                    campaign: c,
                    ..Default::default()
                },
            )
            .map_err(|source| CtlError::Plan {
                file: shown.clone(),
                source,
            })?;
            println!("would create campaign {:?} with:", spec.name);
            for ch in &plan.changes {
                println!("  {ch}");
            }
            println!("dry run: nothing applied");
            return Ok(Outcome::ChangesPending);
        }
        None => {
            let req = spec.create_request(create_key(&spec.key));
            let c = call("CreateWheel", || {
                let mut a = engine.admin();
                let r = req.clone();
                async move { a.create_wheel(r).await }
            })
            .await
            .map_err(|e| match e {
                CtlError::Rpc {
                    code: Code::FailedPrecondition,
                    message,
                    ..
                } => CtlError::State(format!(
                    "{shown}: this API key created a campaign for key {:?} before, with another \
                     name, window or draw limits, and its id is not in {} ({message}); restore \
                     that entry, or give the file a new `key`",
                    spec.key,
                    state::path_for(file).display()
                )),
                other => other,
            })?;
            state::record(file, &ctx.endpoint, &spec.key, &c.campaign_id)?;
            // A replayed CreateWheel answers with the campaign as it was
            // created: read what it is now.
            let now = get_campaign(&engine, &c.campaign_id).await?;
            if now == c {
                println!("created campaign {} ({:?})", c.campaign_id, spec.name);
            } else {
                println!(
                    "recovered campaign {}: created earlier for key {:?}, missing from {}",
                    c.campaign_id,
                    spec.key,
                    state::path_for(file).display()
                );
            }
            now
        }
    };
    let id = campaign.campaign_id.clone();
    let status = status_name(campaign.status);
    let current = current(&engine, &spec, campaign).await?;
    let plan = plan::plan(&spec, &current).map_err(|source| CtlError::Plan {
        file: shown.clone(),
        source,
    })?;
    if plan.steps.is_empty() {
        println!("no changes (campaign {id}, {status})");
        return Ok(Outcome::Done);
    }
    println!(
        "campaign {id} ({status}): {} change{}",
        plan.changes.len(),
        if plan.changes.len() == 1 { "" } else { "s" }
    );
    for ch in &plan.changes {
        println!("  {ch}");
    }
    if dry_run {
        println!("dry run: nothing applied");
        return Ok(Outcome::ChangesPending);
    }
    if plan.needs_confirmation && !yes {
        return Err(CtlError::NotConfirmed { file: shown });
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut last = None;
    for (n, step) in plan.steps.iter().enumerate() {
        let key = step_key(&run, n, &current.campaign, &spec, step);
        last = run_step(&engine, &spec, &id, step, key).await?.or(last);
    }
    match last {
        Some(c) => println!(
            "applied to campaign {id} ({}{})",
            status_name(c.status),
            c.fairness
                .map(|f| format!(", prize table version {}", f.version))
                .unwrap_or_default()
        ),
        None => println!("applied to campaign {id}"),
    }
    Ok(Outcome::Done)
}

/// One change; the campaign as answered, for the wheel's own calls.
async fn run_step(
    engine: &Engine,
    spec: &WheelSpec,
    id: &str,
    step: &Step,
    key: String,
) -> Result<Option<pb::Campaign>, CtlError> {
    let campaign_id = id.to_owned();
    let at = |s: &pb::PrizeSlotSpec| {
        let i = spec
            .slots
            .iter()
            .position(|x| x.name == s.name)
            .unwrap_or(0);
        format!("prizes[{i}]")
    };
    Ok(match step {
        Step::AddSlot(s) => {
            let field = at(s);
            let req = pb::AddPrizeSlotRequest {
                idempotency_key: key,
                campaign_id,
                slot: Some(s.clone()),
            };
            let c = call(&format!("{field} {:?}: AddPrizeSlot", s.name), || {
                let mut a = engine.admin();
                let r = req.clone();
                async move { a.add_prize_slot(r).await }
            })
            .await
            .map_err(|e| rename_field(e, "slot", &field))?;
            Some(c)
        }
        Step::UpdateSlot(index, s) => {
            let field = format!("prizes[{index}]");
            let req = pb::UpdatePrizeSlotRequest {
                idempotency_key: key,
                campaign_id,
                index: *index,
                slot: Some(s.clone()),
            };
            let c = call(&format!("{field} {:?}: UpdatePrizeSlot", s.name), || {
                let mut a = engine.admin();
                let r = req.clone();
                async move { a.update_prize_slot(r).await }
            })
            .await
            .map_err(|e| rename_field(e, "slot", &field))?;
            Some(c)
        }
        Step::SetFallback(index) => {
            let req = pb::SetFallbackSlotRequest {
                idempotency_key: key,
                campaign_id,
                index: *index,
            };
            Some(
                call("fallback: SetFallbackSlot", || {
                    let mut a = engine.admin();
                    let r = req.clone();
                    async move { a.set_fallback_slot(r).await }
                })
                .await?,
            )
        }
        Step::Revise(slots) => {
            let req = pb::ReviseWheelRequest {
                idempotency_key: key,
                campaign_id,
                slots: slots.clone(),
            };
            Some(
                call("prizes: ReviseWheel", || {
                    let mut a = engine.admin();
                    let r = req.clone();
                    async move { a.revise_wheel(r).await }
                })
                .await
                .map_err(|e| rename_field(e, "slots", "prizes"))?,
            )
        }
        Step::SetShare(rules) => {
            let req = pb::SetShareRulesRequest {
                idempotency_key: key,
                campaign_id,
                enabled: rules.enabled,
                tiers: rules.tiers.clone(),
            };
            call("share: SetShareRules", || {
                let mut s = engine.share();
                let r = req.clone();
                async move { s.set_share_rules(r).await }
            })
            .await
            .map_err(|e| rename_field(e, "tiers", "share.tiers"))?;
            None
        }
        Step::SetVotes(v) => {
            let req = pb::SetVoteRulesRequest {
                idempotency_key: key,
                campaign_id,
                votes_per_day: v.votes_per_day,
                votes_per_candidate_per_day: v.votes_per_candidate_per_day,
                votes_total: v.votes_total,
                player_registration: v.player_registration,
            };
            call("votes: SetVoteRules", || {
                let mut s = engine.votes();
                let r = req.clone();
                async move { s.set_vote_rules(r).await }
            })
            .await
            .map_err(|e| rename_field(e, "votes", "votes.votes"))?;
            None
        }
        Step::SetChances(c) => {
            let req = pb::SetChanceRulesRequest {
                idempotency_key: key,
                campaign_id,
                per_share: c.per_share,
                per_tier: c.per_tier,
                per_vote: c.per_vote,
                daily_cap: c.daily_cap,
            };
            call("chances: SetChanceRules", || {
                let mut s = engine.share();
                let r = req.clone();
                async move { s.set_chance_rules(r).await }
            })
            .await
            .map_err(|e| rename_field(e, "", "chances."))?;
            None
        }
    })
}

async fn transition(ctx: &Ctx, to: Transition, arg: &str) -> Result<(), CtlError> {
    let id = ctx.campaign_id(arg)?;
    let engine = ctx.engine().await?;
    let before = get_campaign(&engine, &id).await?;
    let target = match to {
        Transition::Publish | Transition::Resume => pb::CampaignStatus::Published,
        Transition::Pause => pb::CampaignStatus::Paused,
        Transition::End => pb::CampaignStatus::Ended,
    };
    // Already there (a repeated command, or a retry of one whose answer was
    // lost): nothing to do.
    if before.status == i32::from(target) {
        println!("campaign {id} is already {}", status_name(before.status));
        return Ok(());
    }
    let req = pb::CampaignTransitionRequest {
        idempotency_key: change_key(&uuid::Uuid::new_v4().simple().to_string(), 0),
        campaign_id: id.clone(),
    };
    let what = format!("{} {id}", to.name());
    let after = call(&what, || {
        let mut a = engine.admin();
        let r = req.clone();
        async move {
            match to {
                Transition::Publish => a.publish_campaign(r).await,
                Transition::Pause => a.pause_campaign(r).await,
                Transition::Resume => a.resume_campaign(r).await,
                Transition::End => a.end_campaign(r).await,
            }
        }
    })
    .await?;
    println!(
        "campaign {id}: {} -> {}",
        status_name(before.status),
        status_name(after.status)
    );
    if let Some(f) = &after.fairness {
        if to == Transition::Publish {
            println!("seed commitment   {}", hex(&f.seed_commitment));
            println!("prize table hash  {}", hex(&f.prize_table_hash));
        }
        if !f.revealed_seed.is_empty() {
            println!("revealed seed     {}", hex(&f.revealed_seed));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Columns padded to their widest cell; numbers right-aligned.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
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

async fn show(ctx: &Ctx, arg: &str) -> Result<(), CtlError> {
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

async fn stats(ctx: &Ctx, arg: &str, csv: bool) -> Result<(), CtlError> {
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
async fn export_lines(engine: &Engine, campaign: Option<&str>) -> Result<Vec<String>, CtlError> {
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

async fn export(ctx: &Ctx, campaign: Option<&str>, out: Option<PathBuf>) -> Result<(), CtlError> {
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

async fn simulate(ctx: &Ctx, arg: &str, opts: &SimulateOpts) -> Result<(), CtlError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_fields_are_renamed_to_the_file_s() {
        let e = rename_field(
            client::rpc_error(
                "x",
                &tonic::Status::invalid_argument("slot.weight: must be between 0 and 1000000"),
            ),
            "slot",
            "prizes[2]",
        );
        assert!(
            e.to_string()
                .ends_with("prizes[2].weight: must be between 0 and 1000000"),
            "{e}"
        );
        let other = rename_field(
            client::rpc_error("x", &tonic::Status::not_found("slot.weight")),
            "slot",
            "prizes[2]",
        );
        assert!(other.to_string().ends_with("slot.weight"), "{other}");
    }

    #[test]
    fn keys_of_adds_and_revisions_name_what_they_change() {
        let spec = WheelSpec::parse(
            "key = \"k\"\nname = \"W\"\nstarts_at = \"2026-11-25T12:00:00Z\"\n\
             ends_at = \"2026-12-25T12:00:00Z\"\ndraws_per_day = 1\ndraws_total = 1\n\
             fallback = \"T\"\n[[prizes]]\nname = \"P\"\nkind = \"points\"\nweight = 1\n\
             stock = 1\npoints = 1\n[[prizes]]\nname = \"T\"\nkind = \"thanks\"\nweight = 1\n",
        )
        .expect("valid");
        let c = pb::Campaign {
            campaign_id: "c".into(),
            ..Default::default()
        };
        let add = Step::AddSlot(spec.slots[1].clone());
        let k = step_key("run1", 0, &c, &spec, &add);
        assert!(k.starts_with("campaignctl-add-c-1-"), "{k}");
        assert_eq!(
            k,
            step_key("run2", 5, &c, &spec, &add),
            "the same in every run"
        );
        let mut other = spec.slots[1].clone();
        other.weight = 2;
        assert_ne!(k, step_key("run1", 0, &c, &spec, &Step::AddSlot(other)));
        let revise = Step::Revise(spec.slots.clone());
        let mut v2 = c.clone();
        v2.fairness = Some(pb::Fairness {
            version: 2,
            ..Default::default()
        });
        let k1 = step_key("run1", 0, &c, &spec, &revise);
        assert_eq!(k1, step_key("run2", 0, &c, &spec, &revise));
        assert_ne!(
            k1,
            step_key("run1", 0, &v2, &spec, &revise),
            "one key per version"
        );
        assert!(k1.len() <= 128);
        let fallback = Step::SetFallback(1);
        assert_ne!(
            step_key("run1", 0, &c, &spec, &fallback),
            step_key("run2", 0, &c, &spec, &fallback)
        );
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["day", "draws"],
            &[
                vec!["2026-11-26".into(), "7".into()],
                vec!["total".into(), "12".into()],
            ],
        );
        assert_eq!(t, "day         draws\n2026-11-26      7\ntotal          12");
    }
}
