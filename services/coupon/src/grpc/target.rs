//! Targeted issue's RPCs (issue 24): create a job over a list of openids,
//! append parts, start it, read it and its report. `CouponAdminService` in
//! `admin.rs` forwards to these. Logs carry counts, never openids.

use engine_proto::coupon::v1 as pb;
use platform::{
    access::auth::Principal,
    domain::InvalidField,
    grpc::{invalid, respond},
    store::db::Db,
};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{idempotency, uuid_field},
};
use crate::{
    domain::target::{
        OpenidList, RESULT_PAGES, TargetCursor, TargetJobState, TargetOutcome, TargetRefusal,
        results_scope,
    },
    store::{TargetJobRecord, TargetRow},
};

/// The list name the report's page tokens are bound to.
const RESULTS: &str = "targeted_issue_results";

fn state_to_proto(s: TargetJobState) -> pb::TargetedIssueState {
    match s {
        TargetJobState::Open => pb::TargetedIssueState::Open,
        TargetJobState::Running => pb::TargetedIssueState::Running,
        TargetJobState::Done => pb::TargetedIssueState::Done,
        TargetJobState::Failed => pb::TargetedIssueState::Failed,
    }
}

pub fn job_to_proto(j: &TargetJobRecord) -> pb::TargetedIssueJob {
    let [per_user_limit, supply_exhausted, template_expired] = j.refused_by_reason;
    pb::TargetedIssueJob {
        job_id: j.job_id.clone(),
        template_id: j.template_id.clone(),
        state: state_to_proto(j.state).into(),
        received: j.received,
        targets: j.targets,
        issued: j.issued,
        refused: j.refused,
        pending: j.targets.saturating_sub(j.issued).saturating_sub(j.refused),
        refused_per_user_limit: per_user_limit,
        refused_supply_exhausted: supply_exhausted,
        refused_template_expired: template_expired,
        error: j.error.clone(),
        created_at_ms: j.created_at,
        started_at_ms: j.started_at.unwrap_or(0),
        finished_at_ms: j.finished_at.unwrap_or(0),
    }
}

fn outcome_to_proto(o: TargetOutcome) -> pb::TargetOutcome {
    match o {
        TargetOutcome::Pending => pb::TargetOutcome::Pending,
        TargetOutcome::Issued => pb::TargetOutcome::Issued,
        TargetOutcome::Refused => pb::TargetOutcome::Refused,
    }
}

fn refusal_to_proto(r: Option<TargetRefusal>) -> pb::TargetRefusal {
    match r {
        None => pb::TargetRefusal::Unspecified,
        Some(TargetRefusal::PerUserLimit) => pb::TargetRefusal::PerUserLimit,
        Some(TargetRefusal::SupplyExhausted) => pb::TargetRefusal::SupplyExhausted,
        Some(TargetRefusal::TemplateExpired) => pb::TargetRefusal::TemplateExpired,
    }
}

/// A report line; the openid to admins only.
fn result_to_proto(t: &TargetRow, show_openid: bool) -> pb::TargetResult {
    pb::TargetResult {
        openid: if show_openid {
            t.openid.clone()
        } else {
            String::new()
        },
        outcome: outcome_to_proto(t.outcome).into(),
        coupon_id: t.coupon_id.clone().unwrap_or_default(),
        refusal: refusal_to_proto(t.refusal).into(),
        decided_at_ms: t.decided_at.unwrap_or(0),
    }
}

/// An outcome filter: UNSPECIFIED is any.
fn outcome_filter(v: i32) -> Result<Option<TargetOutcome>, InvalidField> {
    match pb::TargetOutcome::try_from(v) {
        Ok(pb::TargetOutcome::Unspecified) => Ok(None),
        Ok(pb::TargetOutcome::Pending) => Ok(Some(TargetOutcome::Pending)),
        Ok(pb::TargetOutcome::Issued) => Ok(Some(TargetOutcome::Issued)),
        Ok(pb::TargetOutcome::Refused) => Ok(Some(TargetOutcome::Refused)),
        Err(_) => Err(InvalidField::new(
            "outcome",
            format!("{v} is not a target outcome (PENDING, ISSUED, REFUSED)"),
        )),
    }
}

pub(super) async fn create<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::CreateTargetedIssueRequest>,
) -> Result<Response<pb::TargetedIssueJob>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let idem = idempotency(&who, "CreateTargetedIssue", req, |r| &mut r.idempotency_key)?;
    let template = uuid_field("template_id", &req.template_id)?;
    let list = OpenidList::parse(&req.openids).map_err(invalid)?;
    let out = s
        .coupons
        .create_targeted_issue(
            merchant,
            &template,
            &list,
            req.start,
            &idem,
            s.clock.now_ms(),
            |j| job_to_proto(j).encode_to_vec(),
        )
        .await?;
    if req.start {
        s.bulk_wakeup.notify_one();
    }
    respond(out, job_to_proto)
}

pub(super) async fn append<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::AppendTargetedIssueRequest>,
) -> Result<Response<pb::TargetedIssueJob>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let idem = idempotency(&who, "AppendTargetedIssue", req, |r| &mut r.idempotency_key)?;
    let job = uuid_field("job_id", &req.job_id)?;
    let list = OpenidList::parse(&req.openids).map_err(invalid)?;
    let out = s
        .coupons
        .append_targeted_issue(merchant, &job, &list, &idem, s.clock.now_ms(), |j| {
            job_to_proto(j).encode_to_vec()
        })
        .await?;
    respond(out, job_to_proto)
}

pub(super) async fn start<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::StartTargetedIssueRequest>,
) -> Result<Response<pb::TargetedIssueJob>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let idem = idempotency(&who, "StartTargetedIssue", req, |r| &mut r.idempotency_key)?;
    let job = uuid_field("job_id", &req.job_id)?;
    let out = s
        .coupons
        .start_targeted_issue(merchant, &job, &idem, s.clock.now_ms(), |j| {
            job_to_proto(j).encode_to_vec()
        })
        .await?;
    s.bulk_wakeup.notify_one();
    respond(out, job_to_proto)
}

pub(super) async fn get<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::GetTargetedIssueRequest>,
) -> Result<Response<pb::TargetedIssueJob>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let job = uuid_field("job_id", &request.get_ref().job_id)?;
    let j = s.coupons.get_targeted_issue(merchant, &job).await?;
    Ok(Response::new(job_to_proto(&j)))
}

pub(super) async fn list_results<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListTargetedIssueResultsRequest>,
) -> Result<Response<pb::ListTargetedIssueResultsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    // Who was targeted is the admins' to see, as a coupon's owner is.
    let show_openid = matches!(who, Principal::Admin { .. });
    let req = request.get_ref();
    let size = RESULT_PAGES.size(req.page_size).map_err(invalid)?;
    let job = uuid_field("job_id", &req.job_id)?;
    let outcome = outcome_filter(req.outcome).map_err(invalid)?;
    let tokens = s.coupons.page_tokens();
    let scope = results_scope(merchant, &job, outcome);
    let after: Option<TargetCursor> = tokens
        .open(RESULTS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (rows, more) = s
        .coupons
        .list_target_results(merchant, &job, outcome, after.as_ref(), size)
        .await?;
    let next_page_token = match rows.last() {
        Some(last) if more => tokens.seal(
            RESULTS,
            &scope,
            &TargetCursor {
                target_id: last.target_id.clone(),
            },
        ),
        _ => String::new(),
    };
    Ok(Response::new(pb::ListTargetedIssueResultsResponse {
        results: rows
            .iter()
            .map(|t| result_to_proto(t, show_openid))
            .collect(),
        next_page_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outcome_outside_the_enum_names_its_field() {
        assert_eq!(outcome_filter(0).expect("any"), None);
        assert_eq!(
            outcome_filter(3).expect("refused"),
            Some(TargetOutcome::Refused)
        );
        assert_eq!(outcome_filter(9).expect_err("bad").field, "outcome");
    }

    #[test]
    fn a_report_line_shows_its_openid_to_admins_only() {
        let t = TargetRow {
            target_id: "t".into(),
            openid: "o-1".into(),
            outcome: TargetOutcome::Refused,
            refusal: Some(TargetRefusal::SupplyExhausted),
            coupon_id: None,
            decided_at: Some(5),
        };
        let admin = result_to_proto(&t, true);
        assert_eq!(admin.openid, "o-1");
        assert_eq!(admin.refusal, pb::TargetRefusal::SupplyExhausted as i32);
        assert_eq!(result_to_proto(&t, false).openid, "");
    }
}
