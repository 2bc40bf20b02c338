//! `CouponAdminService.GetStoreFigures`: redemptions, discount given and
//! order amounts per store (`store::figures`). The stores themselves are
//! `platform::stores`, served by the campaign service.

use engine_proto::coupon::v1 as pb;
use platform::{domain::InvalidField, grpc::invalid, store::db::Db};
use tonic::{Request, Response, Status};

use super::{CouponShared, convert::uuid_field};
use crate::store::figures::{FigureScope, StoreFigure, totals};

fn figure_to_proto(f: &StoreFigure) -> pb::StoreFigure {
    pb::StoreFigure {
        store_id: f.store_id.clone(),
        name: f.name.clone(),
        city: f.city.clone(),
        redemptions: f.redemptions,
        reversed: f.reversed,
        discount_cents: f.discount_cents,
        order_amount_cents: f.order_amount_cents,
    }
}

pub(super) async fn get_store_figures<D: Db>(
    s: &CouponShared<D>,
    request: Request<pb::GetStoreFiguresRequest>,
) -> Result<Response<pb::StoreFigures>, Status> {
    let who = s.auth.authenticate(request.metadata()).await?;
    let merchant = who.admin_or_auditor()?;
    let req = request.get_ref();
    use pb::get_store_figures_request::Scope;
    let scope = match &req.scope {
        Some(Scope::TemplateId(id)) => FigureScope::Template(uuid_field("template_id", id)?),
        Some(Scope::CampaignId(id)) => FigureScope::Campaign(uuid_field("campaign_id", id)?),
        None => {
            return Err(invalid(InvalidField::new(
                "scope",
                "set template_id or campaign_id",
            )));
        }
    };
    if req.from_ms < 0 {
        return Err(invalid(InvalidField::new("from_ms", "must be >= 0")));
    }
    let until = match req.until_ms {
        0 => i64::MAX,
        u if u <= req.from_ms => {
            return Err(invalid(InvalidField::new(
                "until_ms",
                "must be after from_ms (or 0: open)",
            )));
        }
        u => u,
    };
    let rows = s
        .coupons
        .store_figures(merchant, &scope, req.from_ms, until)
        .await?;
    let sum = totals(&rows).ok_or_else(|| {
        Status::out_of_range("the figures' sums are past what a 64-bit integer holds")
    })?;
    Ok(Response::new(pb::StoreFigures {
        stores: rows.iter().map(figure_to_proto).collect(),
        redemptions: sum.redemptions,
        reversed: sum.reversed,
        discount_cents: sum.discount_cents,
        order_amount_cents: sum.order_amount_cents,
    }))
}
