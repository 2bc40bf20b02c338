//! What `apply` must do to bring a campaign to its file: a pure comparison
//! of the validated file with what the engine answered (`GetCampaign`,
//! `GetShareRules`, the latest vote and chance rules), giving the changes
//! to show (field by field, old -> new) and the calls that make them.
//!
//! The engine has no call that changes a wheel's name, window, time zone or
//! draw limits after `CreateWheel`, nor one that removes a slot; a file
//! that asks for that is refused with the field named, never half applied.
//! A DRAFT's slots change one by one (`UpdatePrizeSlot`, `AddPrizeSlot`,
//! `SetFallbackSlot`); a PUBLISHED or PAUSED wheel's prize table changes
//! only as a whole new version (`ReviseWheel`: same slots in the same
//! order, same fallback), and only when the operator confirms.

use std::fmt;

use engine_proto::campaign::v1 as pb;

use crate::spec::{ChanceRules, ShareRules, VoteRules, WheelSpec};

/// What the engine holds for the campaign.
#[derive(Debug, Clone, Default)]
pub struct Current {
    pub campaign: pb::Campaign,
    /// `GetShareRules`; asked only when the file has a `[share]` section.
    pub share: Option<ShareRules>,
    /// The latest rules in the audit trail; `None` if never set.
    pub votes: Option<VoteRules>,
    pub chances: Option<ChanceRules>,
}

/// One field that changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub field: String,
    pub old: String,
    pub new: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.old, self.new)
    }
}

/// One engine call.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    AddSlot(pb::PrizeSlotSpec),
    UpdateSlot(u32, pb::PrizeSlotSpec),
    SetFallback(u32),
    Revise(Vec<pb::PrizeSlotSpec>),
    SetShare(ShareRules),
    SetVotes(VoteRules),
    SetChances(ChanceRules),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub steps: Vec<Step>,
    /// The campaign is live (PUBLISHED or PAUSED): the operator confirms.
    pub needs_confirmation: bool,
}

/// A file the engine cannot bring the campaign to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PlanError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError {
        field: field.into(),
        message: message.into(),
    }
}

pub fn status_name(status: i32) -> &'static str {
    match pb::CampaignStatus::try_from(status) {
        Ok(pb::CampaignStatus::Draft) => "DRAFT",
        Ok(pb::CampaignStatus::Published) => "PUBLISHED",
        Ok(pb::CampaignStatus::Paused) => "PAUSED",
        Ok(pb::CampaignStatus::Ended) => "ENDED",
        _ => "UNKNOWN",
    }
}

pub fn kind_name(kind: i32) -> &'static str {
    match pb::PrizeKind::try_from(kind) {
        Ok(pb::PrizeKind::Coupon) => "coupon",
        Ok(pb::PrizeKind::Physical) => "physical",
        Ok(pb::PrizeKind::TopupCode) => "topup_code",
        Ok(pb::PrizeKind::Points) => "points",
        Ok(pb::PrizeKind::Cash) => "cash",
        Ok(pb::PrizeKind::Thanks) => "thanks",
        _ => "unknown",
    }
}

fn metric_name(metric: i32) -> &'static str {
    match pb::ShareMetric::try_from(metric) {
        Ok(pb::ShareMetric::Shares) => "shares",
        Ok(pb::ShareMetric::Viewers) => "viewers",
        Ok(pb::ShareMetric::Forwards) => "forwards",
        _ => "unknown",
    }
}

/// An instant as RFC 3339 in UTC.
pub fn instant(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// An instant as RFC 3339 in the zone `tz` (UTC if it is unknown).
pub fn local_instant(ms: i64, tz: &str) -> String {
    match (
        jiff::Timestamp::from_millisecond(ms),
        jiff::tz::TimeZone::get(tz),
    ) {
        (Ok(t), Ok(zone)) => t
            .to_zoned(zone)
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        _ => instant(ms),
    }
}

/// The fields of a slot spec, as the file names them.
fn slot_fields(s: &pb::PrizeSlotSpec) -> Vec<(&'static str, String)> {
    let reference = match pb::PrizeKind::try_from(s.kind) {
        Ok(pb::PrizeKind::TopupCode) => "code_pool",
        _ => "coupon_template",
    };
    let amount = match pb::PrizeKind::try_from(s.kind) {
        Ok(pb::PrizeKind::Cash) => "cents",
        _ => "points",
    };
    vec![
        ("name", format!("{:?}", s.name)),
        ("kind", kind_name(s.kind).to_owned()),
        ("weight", s.weight.to_string()),
        ("stock", s.stock.to_string()),
        ("daily_cap", s.daily_cap.to_string()),
        ("per_user_cap", s.per_user_cap.to_string()),
        (reference, format!("{:?}", s.reference)),
        (amount, s.amount.to_string()),
        ("claim_days", s.claim_days.to_string()),
    ]
}

/// A whole slot on one line, for added slots.
pub fn slot_summary(s: &pb::PrizeSlotSpec) -> String {
    slot_fields(s)
        .into_iter()
        .filter(|(f, v)| *f == "name" || *f == "kind" || (v != "0" && v != "\"\""))
        .map(|(f, v)| format!("{f}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Field-by-field changes between two slot specs.
fn slot_changes(at: &str, old: &pb::PrizeSlotSpec, new: &pb::PrizeSlotSpec, out: &mut Vec<Change>) {
    for ((field, o), (_, n)) in slot_fields(old).into_iter().zip(slot_fields(new)) {
        if o != n {
            out.push(Change {
                field: format!("{at}.{field}"),
                old: o,
                new: n,
            });
        }
    }
}

fn tier_summary(t: &pb::ShareTier) -> String {
    format!(
        "{} >= {}: {}",
        metric_name(t.metric),
        t.threshold,
        t.prize.as_ref().map(slot_summary).unwrap_or_default()
    )
}

fn vote_fields(v: Option<&VoteRules>) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("votes_per_day", v.map(|v| v.votes_per_day.to_string())),
        (
            "votes_per_candidate_per_day",
            v.map(|v| v.votes_per_candidate_per_day.to_string()),
        ),
        ("votes_total", v.map(|v| v.votes_total.to_string())),
        (
            "player_registration",
            v.map(|v| v.player_registration.to_string()),
        ),
    ]
}

fn chance_fields(c: Option<&ChanceRules>) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("per_share", c.map(|c| c.per_share.to_string())),
        ("per_tier", c.map(|c| c.per_tier.to_string())),
        ("per_vote", c.map(|c| c.per_vote.to_string())),
        ("daily_cap", c.map(|c| c.daily_cap.to_string())),
    ]
}

/// Field-by-field changes of a rules section; unset before = `(unset)`.
fn rule_changes(
    section: &str,
    old: &[(&'static str, Option<String>)],
    new: &[(&'static str, Option<String>)],
    out: &mut Vec<Change>,
) {
    for ((field, o), (_, n)) in old.iter().zip(new) {
        if o != n {
            out.push(Change {
                field: format!("{section}.{field}"),
                old: o.clone().unwrap_or_else(|| "(unset)".into()),
                new: n.clone().unwrap_or_else(|| "(unset)".into()),
            });
        }
    }
}

/// The plan that brings `current` to `want`.
pub fn plan(want: &WheelSpec, current: &Current) -> Result<Plan, PlanError> {
    let c = &current.campaign;
    check_fixed(want, c)?;
    let status = pb::CampaignStatus::try_from(c.status).unwrap_or(pb::CampaignStatus::Unspecified);
    let live = matches!(
        status,
        pb::CampaignStatus::Published | pb::CampaignStatus::Paused
    );
    let mut plan = Plan {
        changes: Vec::new(),
        steps: Vec::new(),
        needs_confirmation: false,
    };

    // The prize table.
    let have: Vec<pb::PrizeSlotSpec> = c
        .slots
        .iter()
        .map(|s| s.spec.clone().unwrap_or_default())
        .collect();
    plan_prizes(want, c, &have, live, &mut plan)?;
    plan_fallback(want, c, &have, live, &mut plan)?;

    // Share tiers, voting and extra chances: managed when the file has them.
    if let Some(share) = &want.share {
        plan_share(share, current.share.as_ref(), &mut plan);
    }
    plan_rules(want, current, &mut plan);

    if status == pb::CampaignStatus::Ended && !plan.steps.is_empty() {
        return Err(refuse(
            "status",
            "the campaign has ENDED: it cannot change any more",
        ));
    }
    plan.needs_confirmation = live && !plan.steps.is_empty();
    Ok(plan)
}

/// Refuses a change to the fields fixed at creation: no RPC changes them.
fn check_fixed(want: &WheelSpec, c: &pb::Campaign) -> Result<(), PlanError> {
    let fixed = [
        ("name", format!("{:?}", c.name), format!("{:?}", want.name)),
        (
            "starts_at",
            instant(c.starts_at_ms),
            instant(want.starts_at_ms),
        ),
        ("ends_at", instant(c.ends_at_ms), instant(want.ends_at_ms)),
        ("time_zone", c.time_zone.clone(), want.time_zone.clone()),
        (
            "draws_per_day",
            c.draws_per_day.to_string(),
            want.draws_per_day.to_string(),
        ),
        (
            "draws_total",
            c.draws_total.to_string(),
            want.draws_total.to_string(),
        ),
    ];
    for (field, old, new) in fixed {
        if old != new {
            return Err(refuse(
                field,
                format!(
                    "{old} -> {new}: cannot change once the campaign exists (the engine has \
                     no call for it); give the file a new `key` to create a new campaign"
                ),
            ));
        }
    }
    Ok(())
}

/// The slots: added and changed one by one in a DRAFT, revised as a whole
/// (same count, stock not below what was won) in a live wheel.
fn plan_prizes(
    want: &WheelSpec,
    c: &pb::Campaign,
    have: &[pb::PrizeSlotSpec],
    live: bool,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    if want.slots.len() < have.len() {
        return Err(refuse(
            "prizes",
            format!(
                "the campaign has {} prizes, the file {}: prizes cannot be removed \
                 (the engine has no call for it)",
                have.len(),
                want.slots.len()
            ),
        ));
    }
    if live && want.slots.len() != have.len() {
        return Err(refuse(
            "prizes",
            format!(
                "a {} wheel keeps its {} prizes in the same order (ReviseWheel); the file has {}",
                status_name(c.status),
                have.len(),
                want.slots.len()
            ),
        ));
    }
    let mut table_changed = false;
    for (i, new) in want.slots.iter().enumerate() {
        let at = format!("prizes[{i}]");
        match have.get(i) {
            Some(old) if old == new => {}
            Some(old) => {
                let won = c.slots.get(i).map_or(0, |s| s.won);
                if live && new.stock < won && new.kind != i32::from(pb::PrizeKind::Thanks) {
                    return Err(refuse(
                        format!("{at}.stock"),
                        format!("{} is below the {won} already won", new.stock),
                    ));
                }
                slot_changes(&at, old, new, &mut plan.changes);
                table_changed = true;
                if !live {
                    plan.steps.push(Step::UpdateSlot(i as u32, new.clone()));
                }
            }
            None => {
                plan.changes.push(Change {
                    field: at,
                    old: "(none)".into(),
                    new: slot_summary(new),
                });
                plan.steps.push(Step::AddSlot(new.clone()));
            }
        }
    }
    if live && table_changed {
        plan.steps.push(Step::Revise(want.slots.clone()));
    }
    Ok(())
}

/// The fallback slot: set in a DRAFT, fixed in a live wheel.
fn plan_fallback(
    want: &WheelSpec,
    c: &pb::Campaign,
    have: &[pb::PrizeSlotSpec],
    live: bool,
    plan: &mut Plan,
) -> Result<(), PlanError> {
    if c.fallback_slot == Some(want.fallback) {
        return Ok(());
    }
    let name = |i: Option<u32>| {
        i.and_then(|i| want.slots.get(i as usize).map(|s| format!("{:?}", s.name)))
            .unwrap_or_else(|| "(none)".into())
    };
    if live {
        return Err(refuse(
            "fallback",
            format!(
                "{} -> {}: the fallback of a {} wheel cannot change",
                name(c.fallback_slot),
                name(Some(want.fallback)),
                status_name(c.status)
            ),
        ));
    }
    plan.changes.push(Change {
        field: "fallback".into(),
        old: c
            .fallback_slot
            .and_then(|i| have.get(i as usize).map(|s| format!("{:?}", s.name)))
            .unwrap_or_else(|| "(none)".into()),
        new: name(Some(want.fallback)),
    });
    plan.steps.push(Step::SetFallback(want.fallback));
    Ok(())
}

/// The share tiers of the file against the engine's (off and none when it
/// has none).
fn plan_share(share: &ShareRules, current: Option<&ShareRules>, plan: &mut Plan) {
    let old = current.cloned().unwrap_or(ShareRules {
        enabled: false,
        tiers: Vec::new(),
    });
    if old == *share {
        return;
    }
    if old.enabled != share.enabled {
        plan.changes.push(Change {
            field: "share.enabled".into(),
            old: old.enabled.to_string(),
            new: share.enabled.to_string(),
        });
    }
    for i in 0..old.tiers.len().max(share.tiers.len()) {
        let (o, n) = (old.tiers.get(i), share.tiers.get(i));
        if o != n {
            plan.changes.push(Change {
                field: format!("share.tiers[{i}]"),
                old: o.map_or_else(|| "(none)".into(), tier_summary),
                new: n.map_or_else(|| "(none)".into(), tier_summary),
            });
        }
    }
    plan.steps.push(Step::SetShare(share.clone()));
}

/// The voting and extra chance rules, when the file has them.
fn plan_rules(want: &WheelSpec, current: &Current, plan: &mut Plan) {
    if let Some(votes) = &want.votes
        && current.votes.as_ref() != Some(votes)
    {
        rule_changes(
            "votes",
            &vote_fields(current.votes.as_ref()),
            &vote_fields(Some(votes)),
            &mut plan.changes,
        );
        plan.steps.push(Step::SetVotes(votes.clone()));
    }
    if let Some(chances) = &want.chances
        && current.chances.as_ref() != Some(chances)
    {
        rule_changes(
            "chances",
            &chance_fields(current.chances.as_ref()),
            &chance_fields(Some(chances)),
            &mut plan.changes,
        );
        plan.steps.push(Step::SetChances(chances.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
key = "k"
name = "Wheel"
starts_at = "2026-11-25T12:00:00+08:00"
ends_at = "2026-12-26T12:00:00+08:00"
draws_per_day = 3
draws_total = 10
fallback = "Thanks"
[[prizes]]
name = "Tea set"
kind = "physical"
weight = 10
stock = 5
[[prizes]]
name = "Thanks"
kind = "thanks"
weight = 90
"#;

    fn spec(text: &str) -> WheelSpec {
        WheelSpec::parse(text).expect("valid")
    }

    /// The campaign the engine would hold after applying `s`.
    fn held(s: &WheelSpec, status: pb::CampaignStatus) -> Current {
        Current {
            campaign: pb::Campaign {
                campaign_id: "c".into(),
                name: s.name.clone(),
                status: status.into(),
                starts_at_ms: s.starts_at_ms,
                ends_at_ms: s.ends_at_ms,
                time_zone: s.time_zone.clone(),
                draws_per_day: s.draws_per_day,
                draws_total: s.draws_total,
                slots: s
                    .slots
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| pb::PrizeSlot {
                        index: i as u32,
                        spec: Some(spec.clone()),
                        remaining: spec.stock,
                        won: 0,
                    })
                    .collect(),
                fallback_slot: Some(s.fallback),
                ..Default::default()
            },
            share: s.share.clone(),
            votes: s.votes.clone(),
            chances: s.chances.clone(),
        }
    }

    #[test]
    fn instants_show_in_the_campaign_zone() {
        let s = spec(FILE);
        assert_eq!(
            local_instant(s.starts_at_ms, "Asia/Shanghai"),
            "2026-11-25T12:00:00+08:00"
        );
        assert_eq!(instant(s.starts_at_ms), "2026-11-25T04:00:00Z");
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let s = spec(FILE);
        let p = plan(&s, &held(&s, pb::CampaignStatus::Published)).expect("plan");
        assert!(p.changes.is_empty() && p.steps.is_empty() && !p.needs_confirmation);
    }

    #[test]
    fn a_new_campaign_gets_every_slot_and_its_fallback() {
        let s = spec(FILE);
        let mut empty = held(&s, pb::CampaignStatus::Draft);
        empty.campaign.slots.clear();
        empty.campaign.fallback_slot = None;
        let p = plan(&s, &empty).expect("plan");
        assert_eq!(
            p.steps,
            [
                Step::AddSlot(s.slots[0].clone()),
                Step::AddSlot(s.slots[1].clone()),
                Step::SetFallback(1)
            ]
        );
        assert!(!p.needs_confirmation);
        assert_eq!(p.changes[2].to_string(), "fallback: (none) -> \"Thanks\"");
    }

    #[test]
    fn a_draft_changes_slot_by_slot() {
        let before = spec(FILE);
        let after = spec(&FILE.replace("stock = 5", "stock = 8\ndaily_cap = 2"));
        let p = plan(&after, &held(&before, pb::CampaignStatus::Draft)).expect("plan");
        assert_eq!(p.steps, [Step::UpdateSlot(0, after.slots[0].clone())]);
        let shown: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["prizes[0].stock: 5 -> 8", "prizes[0].daily_cap: 0 -> 2"]
        );
        assert!(!p.needs_confirmation);
    }

    #[test]
    fn a_published_wheel_is_revised_as_a_whole_after_confirmation() {
        let before = spec(FILE);
        let after = spec(
            &FILE
                .replace("weight = 10", "weight = 20")
                .replace("weight = 90", "weight = 80"),
        );
        let p = plan(&after, &held(&before, pb::CampaignStatus::Published)).expect("plan");
        assert_eq!(p.steps, [Step::Revise(after.slots.clone())]);
        assert!(p.needs_confirmation);
        let shown: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["prizes[0].weight: 10 -> 20", "prizes[1].weight: 90 -> 80"]
        );
    }

    #[test]
    fn what_no_call_can_change_is_refused_with_its_field() {
        let before = spec(FILE);
        let renamed = spec(&FILE.replace("name = \"Wheel\"", "name = \"Other\""));
        let e = plan(&renamed, &held(&before, pb::CampaignStatus::Draft)).expect_err("refused");
        assert_eq!(e.field, "name");
        assert!(e.message.starts_with("\"Wheel\" -> \"Other\""), "{e}");

        let grown = spec(&format!(
            "{FILE}[[prizes]]\nname = \"Pen\"\nkind = \"physical\"\nweight = 1\nstock = 1\n"
        ));
        let e = plan(&grown, &held(&before, pb::CampaignStatus::Published)).expect_err("refused");
        assert_eq!(e.field, "prizes");
        // A draft takes the new slot.
        let p = plan(&grown, &held(&before, pb::CampaignStatus::Draft)).expect("plan");
        assert_eq!(p.steps, [Step::AddSlot(grown.slots[2].clone())]);
        // Removing one is refused everywhere.
        let e = plan(&before, &held(&grown, pb::CampaignStatus::Draft)).expect_err("refused");
        assert_eq!(e.field, "prizes");

        // A live slot's stock never goes below what was won.
        let mut sold = held(&before, pb::CampaignStatus::Published);
        sold.campaign.slots[0].won = 4;
        let short = spec(&FILE.replace("stock = 5", "stock = 3"));
        let e = plan(&short, &sold).expect_err("refused");
        assert_eq!(
            e.to_string(),
            "prizes[0].stock: 3 is below the 4 already won"
        );

        let ended = spec(&FILE.replace("stock = 5", "stock = 6"));
        let e = plan(&ended, &held(&before, pb::CampaignStatus::Ended)).expect_err("refused");
        assert_eq!(e.field, "status");
    }

    fn after_votes(per_day: i64) -> String {
        format!(
            "[votes]\nvotes_per_day = {per_day}\nvotes_per_candidate_per_day = 1\nvotes_total = 9\n"
        )
    }

    fn after_text(votes: &str) -> String {
        format!("{FILE}{votes}[chances]\nper_vote = 1\ndaily_cap = 2\n[share]\nenabled = true\n")
    }

    #[test]
    fn rules_sections_are_compared_and_set() {
        let before = spec(FILE);
        let after = spec(&after_text(&after_votes(2)));
        let p = plan(&after, &held(&before, pb::CampaignStatus::Draft)).expect("plan");
        assert_eq!(p.steps.len(), 3);
        assert!(matches!(p.steps[0], Step::SetShare(ref r) if r.enabled));
        assert!(matches!(p.steps[1], Step::SetVotes(ref v) if v.votes_total == 9));
        assert!(matches!(p.steps[2], Step::SetChances(ref c) if c.daily_cap == 2));
        let shown: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(&"votes.votes_total: (unset) -> 9".to_owned()),
            "{shown:?}"
        );
        assert!(
            shown.contains(&"chances.per_vote: (unset) -> 1".to_owned()),
            "{shown:?}"
        );
        let p = plan(&after, &held(&after, pb::CampaignStatus::Draft)).expect("plan");
        assert!(p.steps.is_empty());
        let more = spec(&after_text(&after_votes(3)));
        let p = plan(&more, &held(&after, pb::CampaignStatus::Draft)).expect("plan");
        let shown: Vec<String> = p.changes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["votes.votes_per_day: 2 -> 3"]);
    }
}
