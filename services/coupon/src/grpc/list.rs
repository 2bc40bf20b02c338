//! The coupon service's list RPCs (issue 24): templates, code pools, bulk
//! issue jobs, a template's coupons and redemptions, under the engine's one
//! paging convention (`platform::domain::paging`, docs/api.md "Paging").
//! `CouponAdminService` in `admin.rs` forwards to these.

use engine_proto::coupon::v1 as pb;
use platform::{
    access::auth::Principal,
    domain::{InvalidField, Millis},
    grpc::invalid,
    store::db::Db,
};
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{job_to_proto, kind_from_proto, pool_to_proto, template_to_proto, uuid_field},
};
use crate::{
    domain::list::{
        COUPON_PAGES, CouponFilter, CouponState, Cursor, JOB_PAGES, JobFilter, POOL_PAGES,
        REDEMPTION_PAGES, RedemptionFilter, TEMPLATE_PAGES, TemplateFilter, bound, pool_scope,
    },
    store::{JobState, list::CouponListing},
};

/// The list names page tokens are bound to (apart from the campaign
/// service's, which share the key).
const TEMPLATES: &str = "coupon_templates";
const POOLS: &str = "code_pools";
const JOBS: &str = "bulk_issue_jobs";
const COUPONS: &str = "coupons";
const REDEMPTIONS: &str = "coupon_redemptions";

/// The token of the page after `last`, when more follow; else empty.
fn next_token<T>(
    tokens: &platform::domain::paging::PageTokens,
    list: &str,
    scope: &str,
    last: Option<&T>,
    more: bool,
    cursor: impl Fn(&T) -> Cursor,
) -> String {
    match last {
        Some(last) if more => tokens.seal(list, scope, &cursor(last)),
        _ => String::new(),
    }
}

/// A `DiscountKind` filter: UNSPECIFIED is any.
fn kind_filter(v: i32) -> Result<Option<crate::domain::template::DiscountKind>, InvalidField> {
    match v {
        0 => Ok(None),
        v => kind_from_proto(v).map(Some).ok_or_else(|| {
            InvalidField::new(
                "kind",
                format!("{v} is not a discount kind (AMOUNT_OFF, PERCENT_OFF, SPEND_THRESHOLD, GIFT_ITEM)"),
            )
        }),
    }
}

/// A `JobState` filter as stored: UNSPECIFIED is any.
fn job_state_filter(v: i32) -> Result<Option<&'static str>, InvalidField> {
    match pb::JobState::try_from(v) {
        Ok(pb::JobState::Unspecified) => Ok(None),
        Ok(pb::JobState::Running) => Ok(Some(JobState::Running.as_str())),
        Ok(pb::JobState::Done) => Ok(Some(JobState::Done.as_str())),
        Ok(pb::JobState::Failed) => Ok(Some(JobState::Failed.as_str())),
        Err(_) => Err(InvalidField::new(
            "state",
            format!("{v} is not a job state (RUNNING, DONE, FAILED)"),
        )),
    }
}

/// A `CouponState` filter: UNSPECIFIED is any.
fn coupon_state_filter(v: i32) -> Result<Option<CouponState>, InvalidField> {
    match pb::CouponState::try_from(v) {
        Ok(pb::CouponState::Unspecified) => Ok(None),
        Ok(pb::CouponState::Issued) => Ok(Some(CouponState::Issued)),
        Ok(pb::CouponState::Redeemed) => Ok(Some(CouponState::Redeemed)),
        Ok(pb::CouponState::Expired) => Ok(Some(CouponState::Expired)),
        Err(_) => Err(InvalidField::new(
            "state",
            format!("{v} is not a coupon state (ISSUED, REDEEMED, EXPIRED)"),
        )),
    }
}

fn coupon_state_to_proto(s: CouponState) -> pb::CouponState {
    match s {
        CouponState::Issued => pb::CouponState::Issued,
        CouponState::Redeemed => pb::CouponState::Redeemed,
        CouponState::Expired => pb::CouponState::Expired,
    }
}

/// A listed coupon: its code's tail only; the owner to admins only.
fn coupon_summary(c: &CouponListing, now: Millis, show_owner: bool) -> pb::CouponSummary {
    pb::CouponSummary {
        coupon_id: c.coupon_id.clone(),
        template_id: c.template_id.clone(),
        code_tail: c.code_tail.clone(),
        state: coupon_state_to_proto(CouponState::of(
            c.redemption_id.is_some(),
            c.valid_until,
            now,
        ))
        .into(),
        valid_from_ms: c.valid_from,
        valid_until_ms: c.valid_until,
        issued_at_ms: c.issued_at,
        source: c.source.clone(),
        player_id: if show_owner {
            c.player_id.clone().unwrap_or_default()
        } else {
            String::new()
        },
        redemption_id: c.redemption_id.clone().unwrap_or_default(),
    }
}

/// An optional UUID filter: empty is any.
fn optional_uuid(field: &'static str, s: &str) -> Result<Option<String>, Status> {
    match s.trim() {
        "" => Ok(None),
        id => uuid_field(field, id).map(Some),
    }
}

pub(super) async fn list_templates<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListTemplatesRequest>,
) -> Result<Response<pb::ListTemplatesResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let size = TEMPLATE_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = TemplateFilter::new(
        req.name_prefix.clone(),
        kind_filter(req.kind).map_err(invalid)?,
    )
    .map_err(invalid)?;
    let tokens = s.coupons.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<Cursor> = tokens
        .open(TEMPLATES, &scope, &req.page_token)
        .map_err(invalid)?;
    let (templates, more) = s
        .coupons
        .list_templates(merchant, &filter, after.as_ref(), size)
        .await?;
    let next_page_token = next_token(&tokens, TEMPLATES, &scope, templates.last(), more, |t| {
        Cursor {
            at: t.created_at,
            id: t.template_id.clone(),
        }
    });
    Ok(Response::new(pb::ListTemplatesResponse {
        templates: templates.iter().map(template_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_code_pools<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListCodePoolsRequest>,
) -> Result<Response<pb::ListCodePoolsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let size = POOL_PAGES.size(req.page_size).map_err(invalid)?;
    let tokens = s.coupons.page_tokens();
    let scope = pool_scope(merchant);
    let after: Option<Cursor> = tokens
        .open(POOLS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (pools, more) = s.coupons.list_pools(merchant, after.as_ref(), size).await?;
    let next_page_token = next_token(&tokens, POOLS, &scope, pools.last(), more, |p| Cursor {
        at: p.created_at,
        id: p.pool_id.clone(),
    });
    Ok(Response::new(pb::ListCodePoolsResponse {
        pools: pools.iter().map(pool_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_bulk_issue_jobs<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListBulkIssueJobsRequest>,
) -> Result<Response<pb::ListBulkIssueJobsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    let size = JOB_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = JobFilter {
        template_id: optional_uuid("template_id", &req.template_id)?,
        state: job_state_filter(req.state).map_err(invalid)?,
    };
    let tokens = s.coupons.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<Cursor> = tokens
        .open(JOBS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (jobs, more) = s
        .coupons
        .list_jobs(merchant, &filter, after.as_ref(), size)
        .await?;
    let next_page_token = next_token(&tokens, JOBS, &scope, jobs.last(), more, |j| Cursor {
        at: j.created_at,
        id: j.job_id.clone(),
    });
    Ok(Response::new(pb::ListBulkIssueJobsResponse {
        jobs: jobs.iter().map(job_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_coupons<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListCouponsRequest>,
) -> Result<Response<pb::ListCouponsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    // Who holds a coupon is the admins' to see; auditors see counts.
    let show_owner = matches!(who, Principal::Admin { .. });
    let req = request.get_ref();
    let size = COUPON_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = CouponFilter::new(
        uuid_field("template_id", &req.template_id)?,
        coupon_state_filter(req.state).map_err(invalid)?,
        &req.source,
    )
    .map_err(invalid)?;
    let tokens = s.coupons.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<Cursor> = tokens
        .open(COUPONS, &scope, &req.page_token)
        .map_err(invalid)?;
    let now = s.clock.now_ms();
    let (coupons, more) = s
        .coupons
        .list_coupons(merchant, &filter, after.as_ref(), size, now)
        .await?;
    let next_page_token = next_token(&tokens, COUPONS, &scope, coupons.last(), more, |c| Cursor {
        at: c.issued_at,
        id: c.coupon_id.clone(),
    });
    Ok(Response::new(pb::ListCouponsResponse {
        coupons: coupons
            .iter()
            .map(|c| coupon_summary(c, now, show_owner))
            .collect(),
        next_page_token,
    }))
}

pub(super) async fn list_redemptions<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::ListRedemptionsRequest>,
) -> Result<Response<pb::ListRedemptionsResponse>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    if let Principal::Pos { key_id, .. } = &who {
        // A till's calls share its rate, whichever service they go to.
        s.till_limit.check(key_id)?;
    } else {
        who.admin_or_auditor()?;
    }
    let req = request.get_ref();
    let size = REDEMPTION_PAGES.size(req.page_size).map_err(invalid)?;
    let filter = RedemptionFilter::new(
        &req.store_id,
        optional_uuid("template_id", &req.template_id)?,
        req.include_reversed.unwrap_or(true),
        bound("from_ms", req.from_ms).map_err(invalid)?,
        bound("until_ms", req.until_ms).map_err(invalid)?,
    )
    .map_err(invalid)?;
    let (merchant, filter) = match &who {
        Principal::Pos {
            merchant_id,
            store_id,
            ..
        } => (
            merchant_id.as_str(),
            filter.for_till(store_id).ok_or_else(|| {
                Status::permission_denied("a POS key lists its own store's redemptions only")
            })?,
        ),
        _ => (who.admin_or_auditor()?, filter),
    };
    let tokens = s.coupons.page_tokens();
    let scope = filter.scope(merchant);
    let after: Option<Cursor> = tokens
        .open(REDEMPTIONS, &scope, &req.page_token)
        .map_err(invalid)?;
    let (redemptions, more) = s
        .coupons
        .list_redemptions(merchant, &filter, after.as_ref(), size)
        .await?;
    let next_page_token = next_token(
        &tokens,
        REDEMPTIONS,
        &scope,
        redemptions.last(),
        more,
        |r| Cursor {
            at: r.redeemed_at,
            id: r.redemption_id.clone(),
        },
    );
    Ok(Response::new(pb::ListRedemptionsResponse {
        redemptions: redemptions
            .iter()
            .map(super::convert::redemption_to_proto)
            .collect(),
        next_page_token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_name_their_field() {
        assert_eq!(kind_filter(0).expect("any"), None);
        assert!(kind_filter(2).expect("percent off").is_some());
        assert_eq!(kind_filter(99).expect_err("refused").field, "kind");
        assert_eq!(job_state_filter(0).expect("any"), None);
        assert_eq!(job_state_filter(2).expect("done"), Some("DONE"));
        assert_eq!(job_state_filter(9).expect_err("refused").field, "state");
        assert_eq!(
            coupon_state_filter(3).expect("expired"),
            Some(CouponState::Expired)
        );
        assert_eq!(coupon_state_filter(-1).expect_err("refused").field, "state");
    }

    #[test]
    fn a_listed_coupon_shows_its_owner_to_admins_only() {
        let c = CouponListing {
            coupon_id: "c".into(),
            template_id: "t".into(),
            code_tail: "7K2Q".into(),
            redemption_id: None,
            valid_from: 0,
            valid_until: 100,
            issued_at: 0,
            source: "claim".into(),
            player_id: Some("fan".into()),
        };
        let admin = coupon_summary(&c, 50, true);
        assert_eq!(admin.player_id, "fan");
        assert_eq!(admin.state, pb::CouponState::Issued as i32);
        let auditor = coupon_summary(&c, 100, false);
        assert_eq!(auditor.player_id, "");
        assert_eq!(auditor.state, pb::CouponState::Expired as i32);
        assert_eq!(auditor.code_tail, "7K2Q");
    }
}
