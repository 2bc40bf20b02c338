//! `apply`: a campaign file brought to the engine step by step, each step
//! under an idempotency key derived from the run and the step, so a
//! re-run after a failure resumes where it stopped.

use super::*;

/// A fresh idempotency key for one change made by this run. Retries of
/// that call (UNAVAILABLE) reuse it; a later run compares the campaign
/// again first, so it never needs the old ones.
pub(super) fn change_key(run: &str, n: usize) -> String {
    format!("campaignctl-{run}-{n}")
}

/// FNV-1a (64 bit) of a message's encoding: a short, stable digest for
/// idempotency keys (not a security measure; a collision would need two
/// different specs for the same slot of the same campaign).
pub(super) fn digest<M: prost::Message>(messages: &[M]) -> u64 {
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
pub(super) fn step_key(
    run: &str,
    n: usize,
    current: &pb::Campaign,
    want: &WheelSpec,
    step: &Step,
) -> String {
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
pub(super) fn create_key(key: &str) -> String {
    format!("campaignctl-create-{key}")
}

/// The latest vote and chance rules of a campaign, from the audit trail
/// (the engine has no call that reads them back).
pub(super) async fn rules_from_audit(
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
pub(super) async fn current(
    engine: &Engine,
    spec: &WheelSpec,
    c: pb::Campaign,
) -> Result<Current, CtlError> {
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

pub(super) async fn apply(
    ctx: &Ctx,
    file: &Path,
    yes: bool,
    dry_run: bool,
) -> Result<Outcome, CtlError> {
    // The whole file is checked before anything is sent.
    let spec = WheelSpec::load(file)?;
    let shown = file.display().to_string();
    let engine = ctx.engine().await?;
    let recorded = state::lookup(file, &ctx.endpoint, &spec.key)?;
    let campaign = match recorded {
        Some(id) => recorded_campaign(ctx, &engine, file, &id).await?,
        None if dry_run => return preview_creation(&spec, &shown),
        None => create_campaign(ctx, &engine, &spec, file).await?,
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

/// The campaign the state file records for `file` on this endpoint; gone
/// from the engine is an error that says how to start anew.
async fn recorded_campaign(
    ctx: &Ctx,
    engine: &Engine,
    file: &Path,
    id: &str,
) -> Result<pb::Campaign, CtlError> {
    get_campaign(engine, id).await.map_err(|e| match e {
        CtlError::Rpc {
            code: Code::NotFound,
            ..
        } => CtlError::State(format!(
            "{}: campaign {id}, recorded in {} for {}, is not on this engine; \
                 remove that entry to create the campaign anew",
            file.display(),
            state::path_for(file).display(),
            ctx.endpoint
        )),
        other => other,
    })
}

/// `--dry-run` of a file with no campaign yet: what a new campaign would
/// get.
fn preview_creation(spec: &WheelSpec, shown: &str) -> Result<Outcome, CtlError> {
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
        spec,
        &Current {
            campaign: c,
            ..Default::default()
        },
    )
    .map_err(|source| CtlError::Plan {
        file: shown.to_owned(),
        source,
    })?;
    println!("would create campaign {:?} with:", spec.name);
    for ch in &plan.changes {
        println!("  {ch}");
    }
    println!("dry run: nothing applied");
    Ok(Outcome::ChangesPending)
}

/// Creates the file's campaign (or is answered with the one created
/// before for its key), records it in the state file and reads it as it
/// is now.
async fn create_campaign(
    ctx: &Ctx,
    engine: &Engine,
    spec: &WheelSpec,
    file: &Path,
) -> Result<pb::Campaign, CtlError> {
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
            "{}: this API key created a campaign for key {:?} before, with another \
             name, window or draw limits, and its id is not in {} ({message}); restore \
             that entry, or give the file a new `key`",
            file.display(),
            spec.key,
            state::path_for(file).display()
        )),
        other => other,
    })?;
    state::record(file, &ctx.endpoint, &spec.key, &c.campaign_id)?;
    // A replayed CreateWheel answers with the campaign as it was
    // created: read what it is now.
    let now = get_campaign(engine, &c.campaign_id).await?;
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
    Ok(now)
}

/// One change; the campaign as answered, for the wheel's own calls.
pub(super) async fn run_step(
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
            set_share_rules(engine, campaign_id, rules, key).await?;
            None
        }
        Step::SetVotes(v) => {
            set_vote_rules(engine, campaign_id, v, key).await?;
            None
        }
        Step::SetChances(c) => {
            set_chance_rules(engine, campaign_id, c, key).await?;
            None
        }
    })
}

/// `SetShareRules`, its errors naming the file's fields.
async fn set_share_rules(
    engine: &Engine,
    campaign_id: String,
    rules: &ShareRules,
    key: String,
) -> Result<(), CtlError> {
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
    Ok(())
}

/// `SetVoteRules`, its errors naming the file's fields.
async fn set_vote_rules(
    engine: &Engine,
    campaign_id: String,
    v: &VoteRules,
    key: String,
) -> Result<(), CtlError> {
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
    Ok(())
}

/// `SetChanceRules`, its errors naming the file's fields.
async fn set_chance_rules(
    engine: &Engine,
    campaign_id: String,
    c: &ChanceRules,
    key: String,
) -> Result<(), CtlError> {
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
    Ok(())
}
