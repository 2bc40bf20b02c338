//! The neutral campaign calls (issue 23): `CreateCampaign` with any set of
//! activities and `AttachActivity`. `AdminService` in `admin.rs` forwards
//! to these.

use engine_proto::campaign::v1 as pb;
use prost::Message;
use tonic::{Request, Response, Status};

use super::{
    Shared,
    convert::{activity_from_proto, campaign_to_proto, idempotency, uuid_field},
    error::invalid,
    respond,
};
use crate::{
    domain::{
        InvalidField,
        activity::{Activity, NO_WHEEL_LIMITS, activity_set, check_draw_limits},
        wheel::WheelRules,
    },
    store::{clone::CloneAs, db::Db},
};

/// The wheel's limits from a request: checked with the wheel, required to
/// be 0 without it (a limit sent for no wheel is a caller's mistake, not
/// something to drop quietly).
fn wheel_limits(with_wheel: bool, per_day: i64, total: i64) -> Result<(i64, i64), InvalidField> {
    if with_wheel {
        check_draw_limits(per_day, total)?;
        return Ok((per_day, total));
    }
    for (field, v) in [("draws_per_day", per_day), ("draws_total", total)] {
        if v != 0 {
            return Err(InvalidField::new(field, "must be 0 without the wheel"));
        }
    }
    Ok(NO_WHEEL_LIMITS)
}

pub(super) async fn create_campaign<D: Db>(
    s: &Shared<D>,
    request: Request<pb::CreateCampaignRequest>,
) -> Result<Response<pb::Campaign>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let wanted = req
        .activities
        .iter()
        .map(|a| activity_from_proto("activities", *a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let activities = activity_set("activities", wanted).map_err(invalid)?;
    let (per_day, total) = wheel_limits(
        activities.contains(&Activity::Wheel),
        req.draws_per_day,
        req.draws_total,
    )
    .map_err(invalid)?;
    let rules = WheelRules::parse(
        &req.name,
        req.starts_at_ms,
        req.ends_at_ms,
        &req.time_zone,
        per_day,
        total,
    )
    .map_err(invalid)?;
    let idem = idempotency(&who, "CreateCampaign", req)?;
    let out = s
        .store
        .create_campaign(
            merchant,
            &rules,
            &activities,
            s.clock.now_ms(),
            &idem,
            |c| campaign_to_proto(c).encode_to_vec(),
        )
        .await?;
    let resp = respond(out, campaign_to_proto)?;
    tracing::Span::current().record("campaign.id", &resp.get_ref().campaign_id);
    Ok(resp)
}

pub(super) async fn attach_activity<D: Db>(
    s: &Shared<D>,
    request: Request<pb::AttachActivityRequest>,
) -> Result<Response<pb::Campaign>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    let activity = activity_from_proto("activity", req.activity).map_err(invalid)?;
    let limits = wheel_limits(
        activity == Activity::Wheel,
        req.draws_per_day,
        req.draws_total,
    )
    .map_err(invalid)?;
    let idem = idempotency(&who, "AttachActivity", req)?;
    let out = s
        .store
        .attach_activity(
            merchant,
            id,
            activity,
            limits,
            s.clock.now_ms(),
            &idem,
            |c| campaign_to_proto(c).encode_to_vec(),
        )
        .await?;
    respond(out, campaign_to_proto)
}

pub(super) async fn clone_campaign<D: Db>(
    s: &Shared<D>,
    request: Request<pb::CloneCampaignRequest>,
) -> Result<Response<pb::Campaign>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin()?;
    let req = request.get_ref();
    let id = uuid_field("campaign_id", &req.campaign_id)?;
    // The name and window checked as a new campaign's are.
    let name = (!req.name.trim().is_empty()).then(|| req.name.clone());
    let rules = WheelRules::parse(
        name.as_deref().unwrap_or("copy"),
        req.starts_at_ms,
        req.ends_at_ms,
        "",
        1,
        1,
    )
    .map_err(invalid)?;
    let new = CloneAs {
        name: name.map(|_| rules.name.clone()),
        starts_at: rules.starts_at,
        ends_at: rules.ends_at,
    };
    let idem = idempotency(&who, "CloneCampaign", req)?;
    let out = s
        .store
        .clone_campaign(merchant, id, &new, s.clock.now_ms(), &idem, |c| {
            campaign_to_proto(c).encode_to_vec()
        })
        .await?;
    respond(out, campaign_to_proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_with_the_wheel_and_zero_without() {
        assert_eq!(wheel_limits(true, 3, 10), Ok((3, 10)));
        assert_eq!(
            wheel_limits(true, 0, 0).map_err(|e| e.field),
            Err("draws_per_day")
        );
        assert_eq!(wheel_limits(false, 0, 0), Ok(NO_WHEEL_LIMITS));
        assert_eq!(
            wheel_limits(false, 3, 0).map_err(|e| e.field),
            Err("draws_per_day")
        );
        assert_eq!(
            wheel_limits(false, 0, 3).map_err(|e| e.field),
            Err("draws_total")
        );
    }
}
